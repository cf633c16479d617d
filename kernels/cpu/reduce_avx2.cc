// AVX2 + F16C variant; kernels/CMakeLists.txt compiles this file with -mavx2 -mf16c.
#if !defined(__AVX2__) || !defined(__F16C__)
#error "reduce_avx2.cc needs -mavx2 -mf16c"
#endif
#define TORC_KERNELS_ABI_TAG avx2
#define TORC_KERNEL_ISA_LEVEL 1
#include "kernels/cpu/reduce_impl.inc"
