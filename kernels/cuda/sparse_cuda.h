// CUDA versions of the sparse kernels: exact top-k selection (the method of kernels/topk.h) and
// the scatter-add of an index-sorted list. No CUDA types here, so host-only code can call them;
// the arithmetic and per-thread bodies are kernels/topk_functors.h, shared with the CPU kernels.
// Compiled wherever nvcc is; never run on the development machines (no GPU there).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/topk.h"

namespace torc::kernels {

/// TopK(x, k) of n < 2^32 device floats into indices[0..k) (device memory, ascending), on cudaStream (a
/// cudaStream_t; nullptr = the legacy default stream). Same result as topkExact: a strided
/// sample picks a threshold; per-thread counts, an exclusive scan and an ordered compaction
/// collect the candidates that reach it; a radix sort of their (magnitude, index) keys selects
/// exactly. A threshold that gives fewer than k or too many candidates is moved by bisection over
/// the sample; as a last resort every element is ranked. Synchronises the stream (it reads counts
/// back). Returns kNonFinite for Inf/NaN input; a CUDA failure comes back as *cudaError (0 on
/// success) with kOk and indices unspecified.
TopkStatus topkExactCuda(const float* x, size_t n, size_t k, uint32_t* indices, void* cudaStream, int* cudaError);

/// Enqueues dense[idx[j]] += val[j] for j < k (device memory; idx strictly increasing and < n,
/// as the sparse collectives' lists are), the same bits as the CPU's.
void launchScatterAdd(float* dense, const uint32_t* idx, const float* val, size_t k, void* cudaStream);

}  // namespace torc::kernels
