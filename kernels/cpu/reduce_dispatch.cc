// reduce.h entry points: dtype/op names and the run-time choice among the compiled variants.
// This file is built with baseline flags; only the variant files use wider instruction sets.

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <string>

#include "kernels/cpu/reduce_cpu.h"
#include "kernels/reduce.h"
#include "src/base/log.h"
#include "src/base/param.h"

TORC_PARAM(KernelIsa, std::string, "KERNEL_ISA", std::string(""),
           "host reduce kernels: generic|avx2|avx512 (may only lower the CPU's best; empty: best)");

#if defined(TORC_KERNELS_X86)
#include <cpuid.h>
#endif

namespace torc::kernels {

size_t dtypeSize(DType t) {
  switch (t) {
    case DType::kInt8:
    case DType::kUint8:
      return 1;
    case DType::kFloat16:
    case DType::kBfloat16:
      return 2;
    case DType::kInt32:
    case DType::kUint32:
    case DType::kFloat32:
      return 4;
    case DType::kInt64:
    case DType::kUint64:
    case DType::kFloat64:
      return 8;
  }
  return 0;
}

const char* dtypeName(DType t) {
  static const char* const kNames[kNumDTypes] = {"int8",   "uint8",   "int32",   "uint32",  "int64",
                                                 "uint64", "float16", "float32", "float64", "bfloat16"};
  int i = static_cast<int>(t);
  return (i >= 0 && i < kNumDTypes) ? kNames[i] : "?";
}

const char* redOpName(RedOp op) {
  static const char* const kNames[kNumRedOps] = {"sum", "prod", "max", "min", "avg"};
  int i = static_cast<int>(op);
  return (i >= 0 && i < kNumRedOps) ? kNames[i] : "?";
}

namespace cpu {

#if defined(TORC_KERNELS_X86)
namespace {
// Read directly: clang before 16 does not know "f16c" in __builtin_cpu_supports.
bool cpuHasF16c() {
  unsigned eax, ebx, ecx, edx;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
}
}  // namespace
#endif

Isa detectIsa() {
#if defined(TORC_KERNELS_X86)
  // libgcc/compiler-rt also check (XGETBV) that the OS saves the wider register state.
  __builtin_cpu_init();
  bool avx2 = __builtin_cpu_supports("avx2") && cpuHasF16c();
  if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
    return Isa::kAvx512;
  }
  if (avx2) return Isa::kAvx2;
#endif
  return Isa::kGeneric;
}

const KernelTable* kernelTable(Isa isa) {
  if (static_cast<int>(isa) > static_cast<int>(detectIsa())) return nullptr;
  switch (isa) {
    case Isa::kGeneric:
      return &generic::table();
#if defined(TORC_KERNELS_X86)
    case Isa::kAvx2:
      return &avx2::table();
    case Isa::kAvx512:
      return &avx512::table();
#else
    default:
      return nullptr;
#endif
  }
  return nullptr;
}

Isa chooseIsa(Isa best, const char* request) {
  if (request == nullptr || *request == '\0') return best;
  Isa wanted;
  if (std::strcmp(request, "generic") == 0) {
    wanted = Isa::kGeneric;
  } else if (std::strcmp(request, "avx2") == 0) {
    wanted = Isa::kAvx2;
  } else if (std::strcmp(request, "avx512") == 0) {
    wanted = Isa::kAvx512;
  } else {
    TORC_WARN("ignoring TORC_KERNEL_ISA=%s (expected generic, avx2 or avx512)", request);
    return best;
  }
  // The variable may only lower the choice; asking for more than the CPU has is ignored.
  return static_cast<int>(wanted) < static_cast<int>(best) ? wanted : best;
}

const KernelTable& activeKernelTable() {
  static const std::string request = torcParamKernelIsa();
  static const KernelTable& table = *kernelTable(chooseIsa(detectIsa(), request.c_str()));
  return table;
}

}  // namespace cpu

void reduce(DType t, RedOp op, void* dst, const void* a, const void* b, size_t n) {
  cpu::activeKernelTable().reduce(t, op, dst, a, b, n);
}

void finalizeAvg(DType t, void* x, size_t n, int divisor) { cpu::activeKernelTable().finalizeAvg(t, x, n, divisor); }

void widenToFloat(DType t, const void* src, float* dst, size_t n) {
  if (t == DType::kFloat32) {
    if (n > 0) std::memcpy(dst, src, n * sizeof(float));
    return;
  }
  cpu::activeKernelTable().widen(t, src, dst, n);
}

bool narrowFromFloat(DType t, const float* src, void* dst, size_t n) {
  if (t == DType::kFloat32) {
    if (n > 0) std::memcpy(dst, src, n * sizeof(float));
    return true;
  }
  if (t != DType::kFloat16 && t != DType::kBfloat16) return true;
  cpu::activeKernelTable().narrow(t, src, dst, n);
  // Finite values at or above the rounding threshold to Inf: 65520 (halfway from 65504 to 2^16)
  // for float16; for bfloat16 the float32 whose top half is the largest finite and whose low
  // half is one half (bits 0x7f7f8000). NaN compares false.
  const uint32_t limitBits = t == DType::kFloat16 ? 0x477ff000u : 0x7f7f8000u;
  float limit;
  std::memcpy(&limit, &limitBits, sizeof limit);
  int over = 0;
  for (size_t i = 0; i < n; ++i) {
    const float mag = std::fabs(src[i]);
    over |= static_cast<int>(mag >= limit) & static_cast<int>(mag <= FLT_MAX);
  }
  return over == 0;
}

namespace {
// Every element's exponent bits not all set; on the bits, so that the loop vectorises.
template <typename Bits>
bool exponentsBelow(const void* x, size_t n, Bits mask) {
  const auto* p = static_cast<const unsigned char*>(x);
  Bits bad = 0;
  for (size_t i = 0; i < n; ++i) {
    Bits b;
    std::memcpy(&b, p + i * sizeof(Bits), sizeof(Bits));
    bad |= static_cast<Bits>((b & mask) == mask);
  }
  return bad == 0;
}
}  // namespace

bool allFinite(DType t, const void* x, size_t n) {
  switch (t) {
    case DType::kFloat16:
      return exponentsBelow<uint16_t>(x, n, 0x7c00);
    case DType::kBfloat16:
      return exponentsBelow<uint16_t>(x, n, 0x7f80);
    case DType::kFloat32:
      return exponentsBelow<uint32_t>(x, n, 0x7f800000u);
    case DType::kFloat64:
      return exponentsBelow<uint64_t>(x, n, 0x7ff0000000000000ull);
    default:
      return true;
  }
}

const char* reduceIsa() { return cpu::activeKernelTable().name; }

}  // namespace torc::kernels
