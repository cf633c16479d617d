// Kernels on sparse vectors of (index, value) pairs: scatter-add into a dense float32 vector
// and the sum-merge of two index-sorted lists. Values are float32, float16 or bfloat16 (as
// raw bits); arithmetic is in float32 (functors.h), so the CUDA versions agree bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>

namespace torc::kernels {

enum class SparseValue { kFloat32, kFloat16, kBfloat16 };
enum class SparseIndex { kUint32, kInt64 };

// dense[idx[j]] += widen(val[j]) for j = 0..k-1, in order (so repeated indices add in list
// order). Returns false, touching nothing, if an index is negative or >= n.
bool scatterAdd(float* dense, size_t n, const void* idx, SparseIndex it, const void* val, SparseValue vt, size_t k);

// Sum-merge of two lists sorted by strictly increasing uint32 index: the union of indices in
// increasing order, an index present in both getting a + b (a first). float32 values.
// out must hold na + nb pairs; returns the number written.
size_t mergeAdd(const uint32_t* aIdx, const float* aVal, size_t na, const uint32_t* bIdx, const float* bVal, size_t nb,
                uint32_t* outIdx, float* outVal);

// out[0..n) = the sum of `lists` sparse vectors of k pairs each (list r: idx[r], val[r], indices
// strictly increasing, all < n), zero where no list has an entry. An index in several lists
// gets 0 + val[first list] + val[next list] + ... in list order. Indices are trusted (the
// caller checks lists from elsewhere).
void sumToDense(const uint32_t* const* idx, const float* const* val, size_t lists, size_t k, size_t n, float* out);

}  // namespace torc::kernels
