// The sparse (top-k) all-reduce engines behind torcSparseAllReduce, on a communicator's dense
// collectives and point-to-point messages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "src/base/status.h"
#include "src/core/comm.h"

namespace torc::core {

// Numbers as torcTopkMode_t.
enum class TopkMode : int { kSum = 0, kGlobalExact = 1, kGlobalTree = 2, kHierarchical = 3 };

// a: this rank's a_r (n float32). out: the mode's dense result (n float32; may be the same
// memory as a, which is read before out is written). delivered: the indices, ascending, of
// a's entries whose values reached the result. selected (may be null): the result's k indices,
// ascending, for the modes that select k (kGlobalExact, kGlobalTree, and every mode when
// p = 1 or k = 0); left empty for kSum. Inf/NaN in any rank's a, or a sum that overflows,
// fails on every rank alike (kInvalidArgument), before out is written.
Status sparseTopkAllReduce(Comm& c, TopkMode mode, const float* a, size_t n, size_t k, float* out,
                           std::vector<uint32_t>* delivered, std::vector<uint32_t>* selected = nullptr);

}  // namespace torc::core
