// Bulk copies for results that will not be read again soon.
#pragma once

#include <cstddef>

namespace torc::kernels {

// memcpy(dst, src, n) that writes dst with non-temporal stores where the CPU has them: the
// destination's cache lines are neither read first (no read-for-ownership) nor kept in cache.
// For a destination in DRAM this moves 2n bytes through memory instead of 3n. Ends with a store
// fence, so other threads/processes that synchronise with this one afterwards see the data.
// Buffers must not overlap.
void copyStreaming(void* dst, const void* src, size_t n);

}  // namespace torc::kernels
