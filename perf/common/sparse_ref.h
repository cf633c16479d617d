// The host reference of the sparse (top-k) all-reduce for the driver's check: every rank's
// input regenerated from the data pattern, its top-k (largest magnitude, ties to the lower
// index) summed in rank order. Float32 only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "perf/common/data.h"

namespace torc::perf {

void sparseExpected(const DataPattern& pattern, int nranks, size_t count, size_t k, uint64_t seed, float* want);

}  // namespace torc::perf
