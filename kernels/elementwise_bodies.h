// Per-thread bodies of the element-wise CUDA kernels (cuda/reduce_kernels.cu), written so that a
// host harness can run them for every thread of a small grid and compare with the CPU kernels.
// A body gets its thread's number tid among nthreads; it uses no shared memory, barriers or
// atomics, and every element's result depends only on that element, so the results do not
// depend on nthreads or on the order the threads run in.
//
// Vector layout: when all arrays share one misalignment (address mod 16, a multiple of the
// element size), the elements before dst's first 16-byte boundary (the head) and after its last
// whole 16-byte vector (the tail) are done one by one, and the rest as 16-byte vectors, which the
// device loads and stores with single 128-bit instructions. Arrays misaligned differently are
// done one by one throughout. Vector v goes to thread v mod nthreads, scalar j likewise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/functors.h"

namespace torc::kernels {
inline namespace TORC_KERNELS_ABI_TAG {

template <typename T>
struct alignas(16) Vec16 {
  static constexpr size_t kLanes = 16 / sizeof(T);
  T lane[kLanes];
};

struct VecSplit {
  size_t head = 0;  // scalar elements before the vectors
  size_t nvec = 0;  // 16-byte vectors
  size_t tail = 0;  // scalar elements after them
  // Index of the j-th scalar element (j < head + tail).
  TORC_HD size_t scalarIndex(size_t j, size_t lanes) const { return j < head ? j : j + nvec * lanes; }
};

// The split of n elements of T for arrays at these addresses (nptrs <= 3).
template <typename T>
TORC_HD inline VecSplit vecSplit(size_t n, const void* p0, const void* p1 = nullptr, const void* p2 = nullptr) {
  constexpr size_t kLanes = Vec16<T>::kLanes;
  VecSplit s;
  const uintptr_t mis = reinterpret_cast<uintptr_t>(p0) % 16;
  const bool same = mis % sizeof(T) == 0 && (p1 == nullptr || reinterpret_cast<uintptr_t>(p1) % 16 == mis) &&
                    (p2 == nullptr || reinterpret_cast<uintptr_t>(p2) % 16 == mis);
  if (!same) {
    s.head = n;
    return s;
  }
  const size_t toBoundary = ((16 - mis) % 16) / sizeof(T);
  s.head = toBoundary < n ? toBoundary : n;
  s.nvec = (n - s.head) / kLanes;
  s.tail = n - s.head - s.nvec * kLanes;
  return s;
}

template <typename T>
TORC_HD inline Vec16<T> loadVec(const T* p) {
#ifdef __CUDA_ARCH__
  return *reinterpret_cast<const Vec16<T>*>(p);
#else
  Vec16<T> v;
  std::memcpy(v.lane, p, sizeof(v.lane));
  return v;
#endif
}

template <typename T>
TORC_HD inline void storeVec(T* p, const Vec16<T>& v) {
#ifdef __CUDA_ARCH__
  *reinterpret_cast<Vec16<T>*>(p) = v;
#else
  std::memcpy(p, v.lane, sizeof(v.lane));
#endif
}

// The split's work for thread tid: vec(i) for each of its whole vectors (elements i .. i +
// kLanes - 1), then one(i) for each of its scalar elements.
template <typename T, typename VecFn, typename OneFn>
TORC_HD inline void forEachOfSplit(size_t tid, size_t nthreads, const VecSplit& s, VecFn vec, OneFn one) {
  constexpr size_t kLanes = Vec16<T>::kLanes;
  for (size_t v = tid; v < s.nvec; v += nthreads) vec(s.head + v * kLanes);
  const size_t scalars = s.head + s.tail;
  for (size_t j = tid; j < scalars; j += nthreads) one(s.scalarIndex(j, kLanes));
}

// dst[i] = op(a[i], b[i]) for i < n; dst may alias a or b exactly. The semantics of reduce().
template <typename T, typename Op>
TORC_HD inline void reduceBody(size_t tid, size_t nthreads, T* dst, const T* a, const T* b, size_t n) {
  const Op op{};
  forEachOfSplit<T>(
      tid, nthreads, vecSplit<T>(n, dst, a, b),
      [&](size_t i) {
        const Vec16<T> x = loadVec(a + i), y = loadVec(b + i);
        Vec16<T> r;
        for (size_t k = 0; k < Vec16<T>::kLanes; ++k) r.lane[k] = op(x.lane[k], y.lane[k]);
        storeVec(dst + i, r);
      },
      [&](size_t i) { dst[i] = op(a[i], b[i]); });
}

// x[i] = x[i] / divisor: the semantics of finalizeAvg() (divisor >= 1).
template <typename T>
TORC_HD inline void divBody(size_t tid, size_t nthreads, T* x, size_t n, int divisor) {
  const DivBy<T> div{divisor};
  forEachOfSplit<T>(
      tid, nthreads, vecSplit<T>(n, x),
      [&](size_t i) {
        Vec16<T> r = loadVec(x + i);
        for (size_t k = 0; k < Vec16<T>::kLanes; ++k) r.lane[k] = div(r.lane[k]);
        storeVec(x + i, r);
      },
      [&](size_t i) { x[i] = div(x[i]); });
}

}  // namespace TORC_KERNELS_ABI_TAG
}  // namespace torc::kernels
