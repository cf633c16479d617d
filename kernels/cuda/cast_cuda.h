// CUDA launcher of the pack/unpack cast (kernels/cast_functors.h). No CUDA types here.
#pragma once

#include <cstddef>

#include "kernels/reduce.h"

namespace torc::kernels {

/// Enqueues dst[j] = src[j] (divided by divisor in float32 when divisor > 1) converted from type
/// `from` to type `to` (each float32, float16 or bfloat16), for j < n, on cudaStream. Device
/// pointers, not overlapping; the bits of the host path. Other types: nothing is enqueued.
void launchCast(DType from, const void* src, DType to, void* dst, size_t n, int divisor, void* cudaStream);

}  // namespace torc::kernels
