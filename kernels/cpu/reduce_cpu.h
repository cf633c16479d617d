// Internal to kernels/: the per-ISA variants of the host reduction loops and the run-time
// dispatcher that picks one. reduce.h is the public face; tests use this header to run
// every variant the machine supports.
#pragma once

#include <cstddef>

#include "kernels/reduce.h"

namespace torc::kernels::cpu {

enum class Isa : int { kGeneric = 0, kAvx2 = 1, kAvx512 = 2 };

/// One compiled variant of the loops. Same contracts as reduce() / finalizeAvg().
struct KernelTable {
  const char* name;  // "generic", "avx2", "avx512"
  void (*reduce)(DType t, RedOp op, void* dst, const void* a, const void* b, size_t n);
  void (*finalizeAvg)(DType t, void* x, size_t n, int divisor);
  // widenToFloat / narrowFromFloat for float16 and bfloat16 only (the dispatcher does float32).
  void (*widen)(DType t, const void* src, float* dst, size_t n);
  void (*narrow)(DType t, const float* src, void* dst, size_t n);
};

/// The best variant this CPU (and OS, for AVX-512 state) can run; ignores TORC_KERNEL_ISA.
Isa detectIsa();

/// The table for isa, or nullptr if this build lacks it or the CPU cannot run it.
const KernelTable* kernelTable(Isa isa);

/// Applies a TORC_KERNEL_ISA value (nullptr or "" = unset) to the detected best: it may only
/// lower the choice. An unknown value is reported on stderr and ignored.
Isa chooseIsa(Isa best, const char* request);

/// The table reduce() uses: detectIsa(), lowered by TORC_KERNEL_ISA=generic|avx2|avx512 if
/// set. Chosen once, on first use; thread-safe.
const KernelTable& activeKernelTable();

// Defined once per variant by reduce_impl.inc (namespaces generic, avx2, avx512).
namespace generic {
const KernelTable& table();
}
namespace avx2 {
const KernelTable& table();
}
namespace avx512 {
const KernelTable& table();
}

}  // namespace torc::kernels::cpu
