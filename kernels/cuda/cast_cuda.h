// CUDA launchers of the casts (kernels/cast_functors.h): plain, fused with a reduction, and the
// fused-bucket pack/unpack. No CUDA types here.
#pragma once

#include <cstddef>

#include "kernels/cast_functors.h"
#include "kernels/reduce.h"

namespace torc::kernels {

/// Enqueues dst[j] = src[j] (divided by divisor in float32 when divisor > 1) converted from type
/// `from` to type `to` (each float32, float16 or bfloat16), for j < n, on cudaStream. Device
/// pointers, not overlapping; the bits of the host path. Other types: nothing is enqueued.
void launchCast(DType from, const void* src, DType to, void* dst, size_t n, int divisor, void* cudaStream);

/// Enqueues out[j] = op(acc[j], widen(in[j])) in float32 for j < n, rounded once into type `out`
/// (float32: keep accumulating; the wire type: the chunk to send on). wire is float16 or bfloat16
/// (float32 is accepted too); kAvg reduces as kSum. out may alias acc exactly. Returns false (nothing
/// enqueued) for other types.
bool launchCastReduce(DType wire, DType out, RedOp op, const float* acc, const void* in, void* outBuf, size_t n,
                      void* cudaStream);

/// Enqueues the packing of a bucket: for each span, bucket[bucketOff + k] = tensor[k] (divided by
/// divisor when > 1) converted from `tensorType` to `wire`. spans (nspans entries, sorted by
/// `first`, total = their counts summed) must be readable by the device (device or mapped pinned
/// memory) until the work completes. Returns false (nothing enqueued) for types other than
/// float32/float16/bfloat16.
bool launchPack(DType tensorType, DType wire, const FusedSpan* spans, int nspans, size_t total, void* bucket,
                int divisor, void* cudaStream);

/// The reverse: tensor[k] = bucket[bucketOff + k] converted from `wire` to `tensorType`.
bool launchUnpack(DType wire, DType tensorType, const FusedSpan* spans, int nspans, size_t total, const void* bucket,
                  void* cudaStream);

}  // namespace torc::kernels
