// Sparse kernels (see sparse.h).
#include "kernels/sparse.h"

#include <cstring>

#include "kernels/functors.h"
#include "kernels/topk_functors.h"

namespace torc::kernels {
namespace {

inline float valueAt(const void* val, SparseValue vt, size_t j) {
  switch (vt) {
    case SparseValue::kFloat16:
      return halfToFloat(static_cast<const uint16_t*>(val)[j]);
    case SparseValue::kBfloat16:
      return bf16ToFloat(static_cast<const uint16_t*>(val)[j]);
    default:
      return static_cast<const float*>(val)[j];
  }
}

inline bool indexAt(const void* idx, SparseIndex it, size_t j, size_t n, size_t* out) {
  if (it == SparseIndex::kUint32) {
    *out = static_cast<const uint32_t*>(idx)[j];
    return *out < n;
  }
  const int64_t v = static_cast<const int64_t*>(idx)[j];
  *out = static_cast<size_t>(v);
  return v >= 0 && static_cast<uint64_t>(v) < n;
}

}  // namespace

bool scatterAdd(float* dense, size_t n, const void* idx, SparseIndex it, const void* val, SparseValue vt, size_t k) {
  size_t i = 0;
  for (size_t j = 0; j < k; ++j)  // validate first: an error leaves dense as it was
    if (!indexAt(idx, it, j, n, &i)) return false;
  for (size_t j = 0; j < k; ++j) {
    indexAt(idx, it, j, n, &i);
    dense[i] = dense[i] + valueAt(val, vt, j);
  }
  return true;
}

size_t mergeAdd(const uint32_t* aIdx, const float* aVal, size_t na, const uint32_t* bIdx, const float* bVal, size_t nb,
                uint32_t* outIdx, float* outVal) {
  size_t i = 0, j = 0, o = 0;
  while (i < na && j < nb) {
    if (aIdx[i] < bIdx[j]) {
      outIdx[o] = aIdx[i];
      outVal[o++] = aVal[i++];
    } else if (bIdx[j] < aIdx[i]) {
      outIdx[o] = bIdx[j];
      outVal[o++] = bVal[j++];
    } else {
      outIdx[o] = aIdx[i];
      outVal[o++] = aVal[i++] + bVal[j++];
    }
  }
  for (; i < na; ++i, ++o) outIdx[o] = aIdx[i], outVal[o] = aVal[i];
  for (; j < nb; ++j, ++o) outIdx[o] = bIdx[j], outVal[o] = bVal[j];
  return o;
}

void sumToDense(const uint32_t* const* idx, const float* const* val, size_t lists, size_t k, size_t n, float* out) {
  // One streaming clear, then each list in turn: its indices increase, so every list walks out
  // front to back (a k-way merge that writes out once measured 2.3x slower: 19 vs 8 ms for
  // 4 lists of 1% of 16M).
  std::memset(out, 0, n * sizeof(float));
  for (size_t r = 0; r < lists; ++r) topk::scatterAddBody(0, 1, out, idx[r], val[r], k);  // shared with CUDA
}

}  // namespace torc::kernels
