// The host reference of the sparse (top-k) all-reduce for the driver's check: every rank's
// input regenerated from the data pattern, its top-k (largest magnitude, ties to the lower
// index) summed in rank order. Float32 only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "perf/common/bench.h"

namespace torc::perf {

// What `rank` sends in sparse mode: pseudo-random integers in [-2^17, 2^17) (about 64 elements
// of 16M share a magnitude, like gradients that take many values), exact in float32 and in any
// sum of up to 64 ranks.
void fillSparseInput(float* buf, size_t n, int rank, uint64_t seed);

// The result of the sparse all-reduce in `mode` (see torc.h's torcTopkMode_t).
void sparseExpected(SparseMode mode, int nranks, size_t count, size_t k, uint64_t seed, float* want);

}  // namespace torc::perf
