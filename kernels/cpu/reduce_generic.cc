// Baseline variant: whatever the target's default ISA is (SSE2 on x86-64), so it runs anywhere.
#define TORC_KERNELS_ABI_TAG generic
#define TORC_KERNEL_ISA_LEVEL 0
#include "kernels/cpu/reduce_impl.inc"
