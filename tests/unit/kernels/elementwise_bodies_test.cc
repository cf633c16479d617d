// The element-wise CUDA kernels' per-thread bodies (kernels/elementwise_bodies.h and the fused
// ones in kernels/cast_functors.h), run on the CPU for every thread of small grids and compared
// bit for bit with the CPU kernels: every dtype x op, lengths that leave every head and tail
// length, arrays aligned alike (vector path) and differently (scalar path), in place, and no
// byte written outside the output.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cast_functors.h"
#include "kernels/elementwise_bodies.h"
#include "kernels/reduce.h"

namespace torc::kernels {
namespace {

constexpr unsigned char kCanary = 0xa5;
constexpr size_t kPad = 32;  // canary bytes before and after each output

const DType kAllTypes[] = {DType::kInt8,    DType::kUint8,   DType::kInt32,   DType::kUint32,  DType::kInt64,
                           DType::kUint64,  DType::kFloat16, DType::kFloat32, DType::kFloat64, DType::kBfloat16};
const RedOp kOps[] = {RedOp::kSum, RedOp::kProd, RedOp::kMax, RedOp::kMin};
const size_t kThreadCounts[] = {1, 3, 32, 257};

// Lengths around every multiple of a vector for every element size (1..8 bytes), and a long one.
std::vector<size_t> lengths() {
  std::vector<size_t> out;
  for (size_t n = 0; n <= 37; ++n) out.push_back(n);
  for (size_t n : {63, 64, 65, 127, 128, 129, 1021}) out.push_back(n);
  return out;
}

template <typename F>
void visitFloat(DType t, F&& f) {
  if (t == DType::kFloat32) f(float{});
  if (t == DType::kFloat16) f(Half{});
  if (t == DType::kBfloat16) f(Bf16{});
}

template <typename T, typename F>
void visitOp(RedOp op, F&& f) {
  switch (op) {
    case RedOp::kSum: f(Sum<T>{}); break;
    case RedOp::kProd: f(Prod<T>{}); break;
    case RedOp::kMax: f(Max<T>{}); break;
    case RedOp::kMin: f(Min<T>{}); break;
    case RedOp::kAvg: break;
  }
}

// Random bytes, with the float types' values kept finite and small so that products stay
// meaningful (NaN payload order is left unspecified by functors.h).
void fill(DType t, unsigned char* p, size_t n, std::mt19937* rng) {
  std::uniform_real_distribution<double> val(-4.0, 4.0);
  for (size_t i = 0; i < n; ++i) {
    switch (t) {
      case DType::kFloat16: {
        const uint16_t h = floatToHalf(float(val(*rng)));
        std::memcpy(p + 2 * i, &h, 2);
        break;
      }
      case DType::kBfloat16: {
        const uint16_t h = floatToBf16(float(val(*rng)));
        std::memcpy(p + 2 * i, &h, 2);
        break;
      }
      case DType::kFloat32: {
        const float f = float(val(*rng));
        std::memcpy(p + 4 * i, &f, 4);
        break;
      }
      case DType::kFloat64: {
        const double d = val(*rng);
        std::memcpy(p + 8 * i, &d, 8);
        break;
      }
      default:
        for (size_t b = 0; b < dtypeSize(t); ++b) p[i * dtypeSize(t) + b] = static_cast<unsigned char>((*rng)());
    }
  }
}

// A buffer with room for n elements at byte offset `mis` from a 16-byte boundary, canaries around.
struct Buf {
  std::vector<unsigned char> bytes;
  size_t start;
  Buf(size_t n, size_t elem, size_t mis) : bytes(n * elem + 2 * kPad + 16 + 16, kCanary) {
    const uintptr_t base = reinterpret_cast<uintptr_t>(bytes.data()) + kPad;
    start = kPad + (16 - base % 16) % 16 + mis;
  }
  unsigned char* data() { return bytes.data() + start; }
  bool canariesIntact(size_t used) const {
    for (size_t i = 0; i < start; ++i)
      if (bytes[i] != kCanary) return false;
    for (size_t i = start + used; i < bytes.size(); ++i)
      if (bytes[i] != kCanary) return false;
    return true;
  }
};

TEST(ElementwiseBodies, VectorSplitCoversEveryElementOnce) {
  alignas(16) static unsigned char mem[64 + 16];
  for (size_t n : lengths())
    for (size_t mis : {0, 4, 8, 12}) {
      const VecSplit s = vecSplit<float>(n, mem + mis, mem + 16 + mis, mem + 32 + mis);
      EXPECT_EQ(s.head + s.nvec * 4 + s.tail, n);
      EXPECT_LT(s.tail, 4u);
      EXPECT_EQ(s.head, std::min<size_t>(n, (16 - mis) % 16 / 4));
      if (n >= 8) {
        EXPECT_GT(s.nvec, 0u) << n << " " << mis;
      }
    }
  // Different misalignments, or one that is not a multiple of the element: all scalar.
  EXPECT_EQ(vecSplit<float>(100, mem, mem + 4).head, 100u);
  EXPECT_EQ(vecSplit<float>(100, mem + 2, mem + 2).head, 100u);
  EXPECT_EQ(vecSplit<double>(100, mem + 8, mem + 8, mem + 8).head, 1u);
}

TEST(ElementwiseBodies, ReduceEveryDtypeOpLengthAlignmentAndGrid) {
  std::mt19937 rng(7);
  size_t vectorRuns = 0;
  for (DType t : kAllTypes)
    for (RedOp op : kOps)
      for (size_t n : lengths())
        for (int layout = 0; layout < 4; ++layout) {
          // 0: aligned; 1: same misalignment; 2: different misalignments; 3: in place (dst == a).
          const size_t e = dtypeSize(t);
          const size_t misA = layout == 1 ? e : 0, misB = layout == 1 || layout == 2 ? e : 0;
          const size_t misD = layout == 1 ? e : 0;
          Buf a(n, e, misA), b(n, e, misB);
          fill(t, a.data(), n, &rng);
          fill(t, b.data(), n, &rng);
          std::vector<unsigned char> want(n * e + 1);
          reduce(t, op, want.data(), a.data(), b.data(), n);
          for (size_t nthreads : kThreadCounts) {
            Buf d(n, e, misD);
            Buf inPlace = a;
            unsigned char* dst = layout == 3 ? inPlace.data() : d.data();
            const unsigned char* lhs = layout == 3 ? inPlace.data() : a.data();
            visitDType(t, [&](auto tag) {
              using T = decltype(tag);
              if (vecSplit<T>(n, dst, lhs, b.data()).nvec > 0) ++vectorRuns;
              visitOp<T>(op, [&](auto opTag) {
                using Op = decltype(opTag);
                for (size_t tid = 0; tid < nthreads; ++tid)
                  reduceBody<T, Op>(tid, nthreads, reinterpret_cast<T*>(dst), reinterpret_cast<const T*>(lhs),
                                    reinterpret_cast<const T*>(b.data()), n);
              });
            });
            ASSERT_EQ(std::memcmp(dst, want.data(), n * e), 0)
                << dtypeName(t) << " " << redOpName(op) << " n " << n << " layout " << layout << " threads " << nthreads;
            ASSERT_TRUE((layout == 3 ? inPlace : d).canariesIntact(n * e))
                << "written outside: " << dtypeName(t) << " n " << n << " layout " << layout;
          }
        }
  EXPECT_GT(vectorRuns, 1000u);  // the vector path was exercised, not only the scalar one
}

TEST(ElementwiseBodies, DivideEveryDtypeLengthAndAlignment) {
  std::mt19937 rng(11);
  for (DType t : kAllTypes)
    for (int divisor : {1, 3, 7})
      for (size_t n : lengths())
        for (size_t mis : {size_t{0}, dtypeSize(t)}) {
          const size_t e = dtypeSize(t);
          Buf x(n, e, mis);
          fill(t, x.data(), n, &rng);
          std::vector<unsigned char> want(x.data(), x.data() + n * e);
          finalizeAvg(t, want.data(), n, divisor);
          for (size_t nthreads : kThreadCounts) {
            Buf y = x;
            visitDType(t, [&](auto tag) {
              using T = decltype(tag);
              for (size_t tid = 0; tid < nthreads; ++tid) divBody<T>(tid, nthreads, reinterpret_cast<T*>(y.data()), n, divisor);
            });
            ASSERT_EQ(std::memcmp(y.data(), want.data(), n * e), 0)
                << dtypeName(t) << " n " << n << " mis " << mis << " threads " << nthreads << " divisor " << divisor;
            ASSERT_TRUE(y.canariesIntact(n * e));
          }
        }
}

// The host path of a mixed-precision hop: widen the wire chunk, reduce in float32, narrow.
std::vector<unsigned char> hostCastReduce(DType wire, DType out, RedOp op, const float* acc, const void* in, size_t n) {
  std::vector<float> wide(n + 1), sum(n + 1);
  widenToFloat(wire, in, wide.data(), n);
  reduce(DType::kFloat32, op, sum.data(), acc, wide.data(), n);
  std::vector<unsigned char> res(n * dtypeSize(out) + 1);
  narrowFromFloat(out, sum.data(), res.data(), n);
  return res;
}

TEST(ElementwiseBodies, CastReduceMatchesWidenReduceNarrow) {
  std::mt19937 rng(5);
  for (DType wire : {DType::kFloat16, DType::kBfloat16, DType::kFloat32})
    for (DType out : {DType::kFloat32, wire})
      for (RedOp op : kOps)
        for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{33}, size_t{1021}})
          for (size_t nthreads : kThreadCounts) {
            std::vector<float> acc(n + 1);
            fill(DType::kFloat32, reinterpret_cast<unsigned char*>(acc.data()), n, &rng);
            std::vector<unsigned char> in(n * dtypeSize(wire) + 1);
            fill(wire, in.data(), n, &rng);
            const auto want = hostCastReduce(wire, out, op, acc.data(), in.data(), n);
            std::vector<unsigned char> got(n * dtypeSize(out) + 1, kCanary);
            visitFloat(wire, [&](auto w) {
              visitFloat(out, [&](auto o) {
                using Wire = decltype(w);
                using Out = decltype(o);
                visitOp<float>(op, [&](auto opTag) {
                  for (size_t tid = 0; tid < nthreads; ++tid)
                    castReduceBody<Wire, Out, decltype(opTag)>(tid, nthreads, acc.data(),
                                                               reinterpret_cast<const Wire*>(in.data()),
                                                               reinterpret_cast<Out*>(got.data()), n);
                });
              });
            });
            const size_t bytes = n * dtypeSize(out);
            ASSERT_EQ(std::memcmp(got.data(), want.data(), bytes), 0)
                << dtypeName(wire) << " -> " << dtypeName(out) << " " << redOpName(op) << " n " << n;
            ASSERT_EQ(got[bytes], kCanary);
          }
}

// Accumulating in place (out aliases acc): the same bits.
TEST(ElementwiseBodies, CastReduceInPlaceAccumulates) {
  std::mt19937 rng(6);
  const size_t n = 515;
  std::vector<float> acc(n);
  fill(DType::kFloat32, reinterpret_cast<unsigned char*>(acc.data()), n, &rng);
  std::vector<unsigned char> in(2 * n);
  fill(DType::kFloat16, in.data(), n, &rng);
  const auto want = hostCastReduce(DType::kFloat16, DType::kFloat32, RedOp::kSum, acc.data(), in.data(), n);
  for (size_t tid = 0; tid < 5; ++tid)
    castReduceBody<Half, float, Sum<float>>(tid, 5, acc.data(), reinterpret_cast<const Half*>(in.data()), acc.data(), n);
  EXPECT_EQ(std::memcmp(acc.data(), want.data(), 4 * n), 0);
}

// Tensors of a bucket: some empty, with gaps between them in the bucket; pack and unpack each
// equal castBody's host path per tensor, and the gaps are not touched.
TEST(ElementwiseBodies, PackAndUnpackFusedSpans) {
  std::mt19937 rng(9);
  const DType types[] = {DType::kFloat32, DType::kFloat16, DType::kBfloat16};
  const std::vector<size_t> counts = {5, 0, 1, 17, 0, 64, 3, 1000, 2};
  for (DType tensorType : types)
    for (DType wire : types)
      for (int divisor : {1, 4})
        for (size_t nthreads : kThreadCounts) {
          const size_t te = dtypeSize(tensorType), we = dtypeSize(wire);
          std::vector<std::vector<unsigned char>> tensors;
          std::vector<FusedSpan> spans;
          size_t first = 0, off = 3;  // a gap before the first tensor too
          for (size_t c : counts) {
            tensors.emplace_back(c * te + 1);
            fill(tensorType, tensors.back().data(), c, &rng);
            spans.push_back(FusedSpan{tensors.back().data(), off, c, first});
            first += c;
            off += c + (c % 3);  // gaps of 0..2 elements
          }
          std::vector<unsigned char> bucket(off * we + 1, kCanary);
          visitFloat(tensorType, [&](auto s) {
            visitFloat(wire, [&](auto w) {
              using Src = decltype(s);
              using Wire = decltype(w);
              for (size_t tid = 0; tid < nthreads; ++tid)
                packBody<Src, Wire>(tid, nthreads, spans.data(), int(spans.size()),
                                    reinterpret_cast<Wire*>(bucket.data()), first, divisor);
            });
          });
          std::vector<unsigned char> expectBucket(off * we + 1, kCanary);
          for (const FusedSpan& s : spans) {
            std::vector<float> wide(s.count + 1);
            widenToFloat(tensorType, s.tensor, wide.data(), s.count);
            if (divisor > 1) finalizeAvg(DType::kFloat32, wide.data(), s.count, divisor);
            narrowFromFloat(wire, wide.data(), expectBucket.data() + s.bucketOff * we, s.count);
          }
          ASSERT_EQ(bucket, expectBucket) << dtypeName(tensorType) << " -> " << dtypeName(wire) << " threads "
                                          << nthreads << " divisor " << divisor;

          // Unpack into fresh tensors.
          std::vector<std::vector<unsigned char>> outs;
          std::vector<FusedSpan> outSpans = spans;
          for (size_t i = 0; i < spans.size(); ++i) {
            outs.emplace_back(spans[i].count * te + 1, kCanary);
            outSpans[i].tensor = outs.back().data();
          }
          visitFloat(wire, [&](auto w) {
            visitFloat(tensorType, [&](auto d) {
              using Wire = decltype(w);
              using Dst = decltype(d);
              for (size_t tid = 0; tid < nthreads; ++tid)
                unpackBody<Wire, Dst>(tid, nthreads, outSpans.data(), int(outSpans.size()),
                                      reinterpret_cast<const Wire*>(bucket.data()), first);
            });
          });
          for (size_t i = 0; i < spans.size(); ++i) {
            std::vector<float> wide(spans[i].count + 1);
            widenToFloat(wire, bucket.data() + spans[i].bucketOff * we, wide.data(), spans[i].count);
            std::vector<unsigned char> want(spans[i].count * te + 1, kCanary);
            narrowFromFloat(tensorType, wide.data(), want.data(), spans[i].count);
            ASSERT_EQ(outs[i], want) << "tensor " << i << " " << dtypeName(wire) << " -> " << dtypeName(tensorType);
          }
        }
}

}  // namespace
}  // namespace torc::kernels
