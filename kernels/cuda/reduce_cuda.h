// CUDA launchers for the reduction kernels. No CUDA types here, so host-only code can call
// them; the element-wise arithmetic is kernels/functors.h, shared with the CPU loops.
#pragma once

#include <cstddef>

#include "kernels/reduce.h"

namespace torc::kernels {

/// Enqueues dst[i] = a[i] op b[i] for i < n on cudaStream (a cudaStream_t; nullptr = the
/// legacy default stream). Device pointers; dst may alias a or b exactly. Same semantics as
/// reduce(), kAvg reducing as kSum. Does not block; launch errors surface through
/// cudaGetLastError() and the stream.
void launchReduce(DType t, RedOp op, void* dst, const void* a, const void* b, size_t n, void* cudaStream);

/// Enqueues x[i] = x[i] / divisor on cudaStream; same semantics as finalizeAvg().
void launchFinalizeAvg(DType t, void* x, size_t n, int divisor, void* cudaStream);

}  // namespace torc::kernels
