// The arithmetic and per-thread bodies of top-k selection and scatter-add, shared by the CPU
// kernels (cpu/topk.cc, cpu/sparse.cc), the CUDA kernels (cuda/sparse_kernels.cu) and the host
// harness that runs the CUDA bodies for every thread of a small grid in the tests.
//
// A body takes its thread's number tid among nthreads instead of reading blockIdx/threadIdx,
// uses no shared memory, barriers or atomics, and its results do not depend on nthreads: the
// device wrappers pass tid = blockIdx.x * blockDim.x + threadIdx.x, the harness loops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/functors.h"  // TORC_HD

namespace torc::kernels {
inline namespace TORC_KERNELS_ABI_TAG {
namespace topk {

constexpr uint32_t kInfBits = 0x7f800000u;  // magnitudes at or above this are Inf or NaN

// |v| as bits: for finite floats, ordered like |v|; -0 and +0 are both 0.
TORC_HD inline uint32_t magnitude(float v) {
  uint32_t b;
  std::memcpy(&b, &v, sizeof(b));
  return b & 0x7fffffffu;
}

// Larger key = larger magnitude, then lower index: the k largest keys are TopK. Unique per index.
TORC_HD inline uint64_t keyOf(uint32_t mag, size_t i) {
  return (static_cast<uint64_t>(mag) << 32) | (0xffffffffu - static_cast<uint32_t>(i));
}
TORC_HD inline uint32_t indexOf(uint64_t key) { return 0xffffffffu - static_cast<uint32_t>(key); }

// The contiguous share [*lo, *hi) of n elements that thread tid of nthreads walks: contiguous,
// so that the threads' candidates, laid out by an exclusive scan of their counts, are in index
// order without sorting.
TORC_HD inline void chunkOf(size_t tid, size_t nthreads, size_t n, size_t* lo, size_t* hi) {
  const size_t per = n / nthreads, extra = n % nthreads;
  *lo = tid * per + (tid < extra ? tid : extra);
  *hi = *lo + per + (tid < extra ? 1 : 0);
}

// Sample: sample[j] = magnitude(x[j * (n / s)]) for the j this thread covers (grid-stride).
TORC_HD inline void sampleBody(size_t tid, size_t nthreads, const float* x, size_t n, size_t s, uint32_t* sample) {
  const size_t step = n / s;
  for (size_t j = tid; j < s; j += nthreads) sample[j] = magnitude(x[j * step]);
}

// Count: how many of this thread's elements reach t (ge), exceed it (gt), and its largest
// magnitude (Inf/NaN show as >= kInfBits).
TORC_HD inline void countBody(size_t tid, size_t nthreads, const float* x, size_t n, uint32_t t, uint32_t* ge,
                              uint32_t* gt, uint32_t* maxMag) {
  size_t lo, hi;
  chunkOf(tid, nthreads, n, &lo, &hi);
  uint32_t a = 0, b = 0, m = 0;
  for (size_t i = lo; i < hi; ++i) {
    const uint32_t mag = magnitude(x[i]);
    a += mag >= t ? 1u : 0u;
    b += mag > t ? 1u : 0u;
    m = mag > m ? mag : m;
  }
  ge[tid] = a;
  gt[tid] = b;
  maxMag[tid] = m;
}

// Collect: the keys of this thread's elements that reach t, in index order, from keys[offset[tid]]
// (offset = exclusive scan of countBody's ge).
TORC_HD inline void collectBody(size_t tid, size_t nthreads, const float* x, size_t n, uint32_t t,
                                const uint32_t* offset, uint64_t* keys) {
  size_t lo, hi;
  chunkOf(tid, nthreads, n, &lo, &hi);
  uint64_t* out = keys + offset[tid];
  for (size_t i = lo; i < hi; ++i) {
    const uint32_t mag = magnitude(x[i]);
    if (mag >= t) *out++ = keyOf(mag, i);
  }
}

// Keys: keys[i] = keyOf(magnitude(x[i]), i) (the last resort ranks every element).
TORC_HD inline void keysBody(size_t tid, size_t nthreads, const float* x, size_t n, uint64_t* keys) {
  for (size_t i = tid; i < n; i += nthreads) keys[i] = keyOf(magnitude(x[i]), i);
}

// Take: indices[j] = the index of sortedKeys[j] (keys sorted descending) for j < k.
TORC_HD inline void takeBody(size_t tid, size_t nthreads, const uint64_t* sortedKeys, size_t k, uint32_t* indices) {
  for (size_t j = tid; j < k; j += nthreads) indices[j] = indexOf(sortedKeys[j]);
}

// Scatter-add of a list with strictly increasing (so distinct) indices < n: dense[idx[j]] +=
// val[j]. Distinct indices need no atomics, and each element gets one add, so every backend
// gives the same bits.
TORC_HD inline void scatterAddBody(size_t tid, size_t nthreads, float* dense, const uint32_t* idx, const float* val,
                                   size_t k) {
  for (size_t j = tid; j < k; j += nthreads) dense[idx[j]] = dense[idx[j]] + val[j];
}

}  // namespace topk
}  // namespace TORC_KERNELS_ABI_TAG
}  // namespace torc::kernels
