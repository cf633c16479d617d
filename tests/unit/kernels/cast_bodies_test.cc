// The CUDA pack/unpack cast's per-thread body (kernels/cast_functors.h), run on the CPU for
// every thread of small grids: every (source, destination) pair of float32, float16 and
// bfloat16, with and without a divisor, every element compared with the host path
// (widenToFloat, finalizeAvg, narrowFromFloat) bit for bit, and nothing written past n.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cast_functors.h"
#include "kernels/reduce.h"

namespace torc::kernels {
namespace {

template <typename F>
void visitFloat(DType t, F&& f) {
  if (t == DType::kFloat32) f(float{});
  if (t == DType::kFloat16) f(Half{});
  if (t == DType::kBfloat16) f(Bf16{});
}

// The host path of api_fusion.cc's convert().
std::vector<unsigned char> hostCast(DType from, const void* src, DType to, size_t n, int divisor) {
  std::vector<float> wide(n);
  widenToFloat(from, src, wide.data(), n);
  if (divisor > 1) finalizeAvg(DType::kFloat32, wide.data(), n, divisor);
  std::vector<unsigned char> out(n * dtypeSize(to) + 1);
  narrowFromFloat(to, wide.data(), out.data(), n);
  return out;
}

TEST(CastBodies, EveryThreadOfSmallGridsMatchesTheHostPath) {
  std::mt19937 rng(17);
  const DType types[] = {DType::kFloat32, DType::kFloat16, DType::kBfloat16};
  for (DType from : types)
    for (DType to : types)
      for (int divisor : {1, 3})
        for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{256}, size_t{1001}})
          for (size_t nthreads : {size_t{1}, size_t{7}, size_t{64}}) {
            std::vector<unsigned char> src(n * dtypeSize(from) + 4);
            for (auto& b : src) b = static_cast<unsigned char>(rng());
            const std::vector<unsigned char> want = hostCast(from, src.data(), to, n, divisor);
            std::vector<unsigned char> got(n * dtypeSize(to) + 1, 0xa5);
            visitFloat(from, [&](auto s) {
              visitFloat(to, [&](auto d) {
                using Src = decltype(s);
                using Dst = decltype(d);
                for (size_t tid = 0; tid < nthreads; ++tid)
                  castBody(tid, nthreads, reinterpret_cast<const Src*>(src.data()), reinterpret_cast<Dst*>(got.data()),
                           n, divisor);
              });
            });
            const size_t bytes = n * dtypeSize(to);
            ASSERT_EQ(std::memcmp(got.data(), want.data(), bytes), 0)
                << dtypeName(from) << " -> " << dtypeName(to) << " n " << n << " threads " << nthreads << " divisor "
                << divisor;
            ASSERT_EQ(got[bytes], 0xa5) << "written past n";
          }
}

}  // namespace
}  // namespace torc::kernels
