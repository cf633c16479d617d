// The per-thread body of the pack/unpack casts (fused buckets, mixed precision), shared by the
// CUDA kernel (cuda/cast_kernels.cu) and the host harness that runs it for every thread of a
// small grid in the tests. Like the top-k bodies: a thread's number tid among nthreads, no
// shared memory, barriers or atomics, results independent of nthreads.
#pragma once

#include <cstddef>

#include "kernels/functors.h"

namespace torc::kernels {
inline namespace TORC_KERNELS_ABI_TAG {

// dst[j] = src[j] (optionally divided by divisor, in float32) converted to Dst, for the j this
// thread covers (grid-stride). Src/Dst among float, Half, Bf16: widened exactly to float32,
// divided when divisor > 1, rounded once to nearest even into Dst: the bits of the host path
// (widenToFloat, finalizeAvg on float32, narrowFromFloat).
template <typename Src, typename Dst>
TORC_HD inline void castBody(size_t tid, size_t nthreads, const Src* src, Dst* dst, size_t n, int divisor) {
  for (size_t j = tid; j < n; j += nthreads) {
    float x = Compute<Src>::widen(src[j]);
    if (divisor > 1) x = x / float(divisor);
    dst[j] = Compute<Dst>::narrow(x);
  }
}

// The fused cast + reduce of a mixed-precision hop: a float32 accumulator combined with a
// received narrow-wire chunk, out[j] = op(acc[j], widen(in[j])) computed in float32 and rounded
// once into Out (float: keep accumulating; Wire: the chunk to send on). out may alias acc.
// Op is one of Sum<float>, Prod<float>, Max<float>, Min<float>: the bits of widenToFloat then
// reduce() on float32, then narrowFromFloat.
template <typename Wire, typename Out, typename Op>
TORC_HD inline void castReduceBody(size_t tid, size_t nthreads, const float* acc, const Wire* in, Out* out,
                                   size_t n) {
  const Op op{};
  for (size_t j = tid; j < n; j += nthreads) out[j] = Compute<Out>::narrow(op(acc[j], Compute<Wire>::widen(in[j])));
}

/// One tensor of a fused bucket: `count` elements at `tensor`, stored in the bucket from element
/// bucketOff on. `first` is the tensor's position in the concatenation of a launch's spans (the
/// sum of the earlier spans' counts); spans are sorted by it.
struct FusedSpan {
  void* tensor;
  size_t bucketOff;
  size_t count;
  size_t first;
};

// The span holding concatenated element j (< the spans' total), by binary search on `first`.
TORC_HD inline int spanOf(const FusedSpan* spans, int nspans, size_t j) {
  int lo = 0, hi = nspans - 1;
  while (lo < hi) {
    const int mid = lo + (hi - lo + 1) / 2;
    if (spans[mid].first <= j) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

// Packs the spans' tensors (of type Src) into the bucket (of type Wire), each element divided by
// divisor when > 1: the bits of castBody per tensor. total = the spans' counts summed. Empty
// spans are allowed; bucket elements outside every span are not touched.
template <typename Src, typename Wire>
TORC_HD inline void packBody(size_t tid, size_t nthreads, const FusedSpan* spans, int nspans, Wire* bucket,
                             size_t total, int divisor) {
  for (size_t j = tid; j < total; j += nthreads) {
    const FusedSpan& s = spans[spanOf(spans, nspans, j)];
    const size_t k = j - s.first;
    float x = Compute<Src>::widen(static_cast<const Src*>(s.tensor)[k]);
    if (divisor > 1) x = x / float(divisor);
    bucket[s.bucketOff + k] = Compute<Wire>::narrow(x);
  }
}

// The reverse: each span's tensor (of type Dst) gets its bucket elements converted.
template <typename Wire, typename Dst>
TORC_HD inline void unpackBody(size_t tid, size_t nthreads, const FusedSpan* spans, int nspans, const Wire* bucket,
                               size_t total) {
  for (size_t j = tid; j < total; j += nthreads) {
    const FusedSpan& s = spans[spanOf(spans, nspans, j)];
    const size_t k = j - s.first;
    static_cast<Dst*>(s.tensor)[k] = Compute<Dst>::narrow(Compute<Wire>::widen(bucket[s.bucketOff + k]));
  }
}

}  // namespace TORC_KERNELS_ABI_TAG
}  // namespace torc::kernels
