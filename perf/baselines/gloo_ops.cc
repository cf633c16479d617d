// Each builder returns a closure that owns what Gloo binds to the buffers (an algorithm
// object or an options object with its unbound buffers, plus any scratch) and adds what Gloo
// lacks for NCCL's semantics: out-of-place copies, avg as sum then divide, reduce-scatter's
// block moved to its place.
#include "perf/baselines/gloo_ops.h"

#include <gloo/allgather.h>
#include <gloo/allgather_ring.h>
#include <gloo/allreduce.h>
#include <gloo/allreduce_bcube.h>
#include <gloo/allreduce_halving_doubling.h>
#include <gloo/allreduce_ring.h>
#include <gloo/allreduce_ring_chunked.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/broadcast_one_to_all.h>
#include <gloo/math.h>
#include <gloo/reduce.h>
#include <gloo/reduce_scatter.h>
#include <gloo/types.h>

#include <cstring>
#include <type_traits>
#include <vector>

namespace torc::perf::gloo_ops {
namespace {

using Ctx = std::shared_ptr<gloo::Context>;
using ReduceFn = void (*)(void*, const void*, const void*, size_t);

template <typename T>
struct Tag {
  using Type = T;
};

// Calls f(Tag<T>) for the C++ type Gloo reduces `t` as; false for bfloat16 reductions, which
// Gloo has no type for. Types that are only moved go as same-sized integers.
template <typename F>
bool withType(DType t, bool reduces, F&& f) {
  switch (t) {
    case DType::kInt8:
      f(Tag<int8_t>{});
      return true;
    case DType::kUint8:
      f(Tag<uint8_t>{});
      return true;
    case DType::kInt32:
      f(Tag<int32_t>{});
      return true;
    case DType::kUint32:
      f(Tag<uint32_t>{});
      return true;
    case DType::kInt64:
      f(Tag<int64_t>{});
      return true;
    case DType::kUint64:
      f(Tag<uint64_t>{});
      return true;
    case DType::kFloat16:
      f(Tag<gloo::float16>{});
      return true;
    case DType::kFloat32:
      f(Tag<float>{});
      return true;
    case DType::kFloat64:
      f(Tag<double>{});
      return true;
    case DType::kBfloat16:
      if (reduces) return false;
      f(Tag<uint16_t>{});
      return true;
  }
  return false;
}

// gloo::float16 is a uint16_t with a hand-written assignment: copy it as bytes.
inline void copyBytes(void* dst, const void* src, size_t n) { std::memcpy(dst, src, n); }

// gloo::float16's copy assignment skips the store when the new value equals the old bits
// read as an integer (its operator!= hands rhs.x to operator==(int)), so Gloo's own
// reductions on half can leave stale bits in their output: a partial sum of 1.0 written over
// the denormal 0x0001 that an earlier int32 call left in a scratch buffer stays 0x0001. Half
// reductions use these instead: Gloo's own conversions, stored through the raw bits.
struct Plus {
  float operator()(float a, float b) const { return a + b; }
};
struct Times {
  float operator()(float a, float b) const { return a * b; }
};
struct Larger {
  float operator()(float a, float b) const { return a < b ? b : a; }
};
struct Smaller {
  float operator()(float a, float b) const { return b < a ? b : a; }
};

template <typename F>
void halfReduce(void* c, const void* a, const void* b, size_t n) {
  auto* out = static_cast<gloo::float16*>(c);
  const auto* x = static_cast<const gloo::float16*>(a);
  const auto* y = static_cast<const gloo::float16*>(b);
  for (size_t i = 0; i < n; ++i) {
    out[i].x = gloo::cpu_float2half_rn(F()(gloo::cpu_half2float(x[i]), gloo::cpu_half2float(y[i]))).x;
  }
}

template <typename F>
void halfReduceInPlace(gloo::float16* x, const gloo::float16* y, size_t n) {
  halfReduce<F>(x, x, y, n);
}

template <typename T>
ReduceFn reduceFn(RedOp op) {
  if constexpr (std::is_same_v<T, gloo::float16>) {
    switch (op) {
      case RedOp::kProd:
        return &halfReduce<Times>;
      case RedOp::kMax:
        return &halfReduce<Larger>;
      case RedOp::kMin:
        return &halfReduce<Smaller>;
      case RedOp::kSum:
      case RedOp::kAvg:
        break;
    }
    return &halfReduce<Plus>;
  }
  switch (op) {
    case RedOp::kProd:
      return &gloo::product<T>;
    case RedOp::kMax:
      return &gloo::max<T>;
    case RedOp::kMin:
      return &gloo::min<T>;
    case RedOp::kSum:
    case RedOp::kAvg:
      break;
  }
  return &gloo::sum<T>;
}

template <typename T>
const gloo::ReductionFunction<T>* classicFn(RedOp op) {
  if constexpr (std::is_same_v<T, gloo::float16>) {
    using Fn = gloo::ReductionFunction<gloo::float16>;
    static const Fn kSum(gloo::SUM, &halfReduceInPlace<Plus>);
    static const Fn kProduct(gloo::PRODUCT, &halfReduceInPlace<Times>);
    static const Fn kMax(gloo::MAX, &halfReduceInPlace<Larger>);
    static const Fn kMin(gloo::MIN, &halfReduceInPlace<Smaller>);
    return op == RedOp::kProd ? &kProduct : op == RedOp::kMax ? &kMax : op == RedOp::kMin ? &kMin : &kSum;
  }
  switch (op) {
    case RedOp::kProd:
      return gloo::ReductionFunction<T>::product;
    case RedOp::kMax:
      return gloo::ReductionFunction<T>::max;
    case RedOp::kMin:
      return gloo::ReductionFunction<T>::min;
    case RedOp::kSum:
    case RedOp::kAvg:
      break;
  }
  return gloo::ReductionFunction<T>::sum;
}

// avg = sum / nranks, once, at the end (integers truncate, as torcAvg).
template <typename T>
void divideBy(T* x, size_t n, int nranks) {
  if constexpr (std::is_same_v<T, gloo::float16>) {
    for (size_t i = 0; i < n; ++i) x[i].x = gloo::cpu_float2half_rn(gloo::cpu_half2float(x[i]) / nranks).x;
  } else {
    const T d = static_cast<T>(nranks);
    for (size_t i = 0; i < n; ++i) x[i] = static_cast<T>(x[i] / d);
  }
}

template <typename T>
std::function<void()> buildAllReduce(const Ctx& ctx, Algo algo, const T* send, T* recv, size_t count, RedOp op) {
  const int p = ctx->size;
  const bool avg = op == RedOp::kAvg;
  if (algo == Algo::kNew || algo == Algo::kNewBcube) {
    auto opts = std::make_shared<gloo::AllreduceOptions>(ctx);
    opts->setAlgorithm(algo == Algo::kNew ? gloo::AllreduceOptions::Algorithm::RING
                                          : gloo::AllreduceOptions::Algorithm::BCUBE);
    if (send != recv) opts->setInput(const_cast<T*>(send), count);
    opts->setOutput(recv, count);
    opts->setReduceFunction(reduceFn<T>(op));
    return [opts, recv, count, p, avg] {
      gloo::allreduce(*opts);
      if (avg) divideBy(recv, count, p);
    };
  }
  // The classic algorithms reduce in place over the buffers they were built with.
  const std::vector<T*> ptrs{recv};
  const int n = static_cast<int>(count);
  const auto* fn = classicFn<T>(op);
  std::shared_ptr<gloo::Algorithm> a;
  switch (algo) {
    case Algo::kRing:
      a = std::make_shared<gloo::AllreduceRing<T>>(ctx, ptrs, n, fn);
      break;
    case Algo::kRingChunked:
      a = std::make_shared<gloo::AllreduceRingChunked<T>>(ctx, ptrs, n, fn);
      break;
    case Algo::kHalvingDoubling:
      a = std::make_shared<gloo::AllreduceHalvingDoubling<T>>(ctx, ptrs, n, fn);
      break;
    case Algo::kBcube:
      a = std::make_shared<gloo::AllreduceBcube<T>>(ctx, ptrs, n, fn);
      break;
    default:
      return nullptr;
  }
  return [a, send, recv, count, p, avg] {
    if (send != recv) copyBytes(recv, send, count * sizeof(T));
    a->run();
    if (avg) divideBy(recv, count, p);
  };
}

template <typename T>
std::function<void()> buildAllGather(const Ctx& ctx, Algo algo, const T* send, T* recv, size_t count) {
  const bool inPlace = send == recv + static_cast<size_t>(ctx->rank) * count;
  if (algo == Algo::kNew) {
    auto opts = std::make_shared<gloo::AllgatherOptions>(ctx);
    if (!inPlace) opts->setInput(const_cast<T*>(send), count);
    opts->setOutput(recv, count * static_cast<size_t>(ctx->size));
    return [opts] { gloo::allgather(*opts); };
  }
  // AllgatherRing writes straight into the peers' output buffers, and a rank that has
  // finished a call may start the next one and write into a peer that is still between
  // calls (where the caller may rewrite its buffer). A barrier first keeps NCCL's contract:
  // nothing lands in the output before its owner has entered the call. In place, the first
  // step copies this rank's block onto itself.
  auto a = std::make_shared<gloo::AllgatherRing<T>>(ctx, std::vector<const T*>{send}, recv, static_cast<int>(count));
  auto barrier = std::make_shared<gloo::BarrierOptions>(ctx);
  return [a, barrier] {
    gloo::barrier(*barrier);
    a->run();
  };
}

template <typename T>
std::function<void()> buildBroadcast(const Ctx& ctx, Algo algo, const T* send, T* recv, size_t count, int root) {
  const bool copyFirst = ctx->rank == root && send != recv;
  if (algo == Algo::kNew) {
    auto opts = std::make_shared<gloo::BroadcastOptions>(ctx);
    opts->setRoot(root);
    if (copyFirst) opts->setInput(const_cast<T*>(send), count);
    opts->setOutput(recv, count);
    return [opts] { gloo::broadcast(*opts); };
  }
  auto a = std::make_shared<gloo::BroadcastOneToAll<T>>(ctx, std::vector<T*>{recv}, count, root);
  return [a, copyFirst, send, recv, count] {
    if (copyFirst) copyBytes(recv, send, count * sizeof(T));
    a->run();
  };
}

// gloo::reduce uses every rank's output buffer as scratch, not only the root's.
template <typename T>
std::function<void()> buildReduce(const Ctx& ctx, const T* send, T* recv, size_t count, RedOp op, int root) {
  auto opts = std::make_shared<gloo::ReduceOptions>(ctx);
  opts->setRoot(root);
  if (send != recv) opts->setInput(const_cast<T*>(send), count);
  opts->setOutput(recv, count);
  opts->setReduceFunction(reduceFn<T>(op));
  const bool divide = op == RedOp::kAvg && ctx->rank == root;
  const int p = ctx->size;
  return [opts, divide, recv, count, p] {
    gloo::reduce(*opts);
    if (divide) divideBy(recv, count, p);
  };
}

// ReduceScatterHalvingDoubling reduces in place over count*p elements and leaves this rank's
// block at the start of the buffer. In place that is the caller's buffer and the block moves
// to its NCCL position; out of place a scratch copy of the input is reduced.
template <typename T>
std::function<void()> buildReduceScatter(const Ctx& ctx, const T* send, T* recv, size_t count, RedOp op) {
  const size_t p = static_cast<size_t>(ctx->size);
  const bool inPlace = recv == send + static_cast<size_t>(ctx->rank) * count;
  std::shared_ptr<std::vector<T>> scratch;
  T* work = const_cast<T*>(send);
  if (!inPlace) {
    scratch = std::make_shared<std::vector<T>>(count * p);
    work = scratch->data();
  }
  const std::vector<int> recvElems(p, static_cast<int>(count));
  auto a = std::make_shared<gloo::ReduceScatterHalvingDoubling<T>>(
      ctx, std::vector<T*>{work}, static_cast<int>(count * p), recvElems, classicFn<T>(op));
  const bool avg = op == RedOp::kAvg;
  return [a, scratch, inPlace, work, send, recv, count, p, avg] {
    if (!inPlace) copyBytes(work, send, count * p * sizeof(T));
    a->run();
    if (work != recv) std::memmove(static_cast<void*>(recv), work, count * sizeof(T));
    if (avg) divideBy(recv, count, static_cast<int>(p));
  };
}
}  // namespace

bool isClassic(Algo algo) { return algo != Algo::kNew && algo != Algo::kNewBcube; }

std::function<void()> build(const std::shared_ptr<gloo::Context>& ctx, Algo algo, Coll coll, DType type, RedOp op,
                            int root, const void* sendBuf, void* recvBuf, size_t count) {
  std::function<void()> r;
  withType(type, collReduces(coll), [&](auto tag) {
    using T = typename decltype(tag)::Type;
    const T* send = static_cast<const T*>(sendBuf);
    T* recv = static_cast<T*>(recvBuf);
    switch (coll) {
      case Coll::kAllReduce:
        r = buildAllReduce<T>(ctx, algo, send, recv, count, op);
        break;
      case Coll::kAllGather:
        r = buildAllGather<T>(ctx, algo, send, recv, count);
        break;
      case Coll::kBroadcast:
        r = buildBroadcast<T>(ctx, algo, send, recv, count, root);
        break;
      case Coll::kReduce:
        r = buildReduce<T>(ctx, send, recv, count, op, root);
        break;
      case Coll::kReduceScatter:
        r = buildReduceScatter<T>(ctx, send, recv, count, op);
        break;
    }
  });
  return r;
}

}  // namespace torc::perf::gloo_ops
