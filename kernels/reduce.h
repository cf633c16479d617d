// Host reduction kernels: the launchers the executor calls. No CUDA types here; the
// element-wise arithmetic lives in functors.h and is shared with the CUDA kernels.
#pragma once

#include <cstddef>
#include <cstdint>

namespace torc::kernels {

// Same numbers as torcDataType_t / torcRedOp_t, so the C boundary can cast.
enum class DType : int {
  kInt8 = 0, kUint8 = 1, kInt32 = 2, kUint32 = 3, kInt64 = 4, kUint64 = 5,
  kFloat16 = 6, kFloat32 = 7, kFloat64 = 8, kBfloat16 = 9,
};
constexpr int kNumDTypes = 10;
enum class RedOp : int { kSum = 0, kProd = 1, kMax = 2, kMin = 3, kAvg = 4 };
constexpr int kNumRedOps = 5;

// Bytes per element; 0 for an unknown dtype.
size_t dtypeSize(DType t);
const char* dtypeName(DType t);  // "int8", ..., "bfloat16"; "?" if unknown
const char* redOpName(RedOp op);  // "sum", "prod", "max", "min", "avg"

// dst[i] = a[i] op b[i] for i < n. dst may alias a or b exactly (same pointer), not partially.
// kAvg reduces as kSum (the division happens once, in finalizeAvg). float16 and bfloat16 are
// widened to float32, combined, and rounded to nearest even. An unknown t or op does nothing.
void reduce(DType t, RedOp op, void* dst, const void* a, const void* b, size_t n);

// x[i] = x[i] / divisor: the last step of an average. Integers truncate toward zero;
// float16/bfloat16 divide in float32 and round once. divisor < 1 leaves x unchanged.
void finalizeAvg(DType t, void* x, size_t n, int divisor);

// dst[i] = src[i] as float32, exactly, for src of type float16, bfloat16 or float32 (a copy).
// Another t does nothing.
void widenToFloat(DType t, const void* src, float* dst, size_t n);

// dst[i] = src[i] rounded to nearest even into t (float16, bfloat16; float32: a copy), the same
// bits as functors.h's conversions; NaN stays NaN. Returns false when a finite src[i] became Inf
// (the narrow type's overflow: |x| >= 65520 for float16); dst is written either way. Another t
// does nothing and returns true. src and dst must not overlap.
bool narrowFromFloat(DType t, const float* src, void* dst, size_t n);

// Whether every one of the n values of floating-point type t is finite (other types: true).
bool allFinite(DType t, const void* x, size_t n);

// The instruction set the dispatcher picked (once, on first use; TORC_KERNEL_ISA may lower
// it): "avx512", "avx2" or "generic".
const char* reduceIsa();

}  // namespace torc::kernels
