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

}  // namespace TORC_KERNELS_ABI_TAG
}  // namespace torc::kernels
