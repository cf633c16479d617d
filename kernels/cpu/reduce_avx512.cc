// AVX-512 (F, BW, VL, DQ) + F16C variant; kernels/CMakeLists.txt sets the matching -m flags.
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512VL__) || !defined(__AVX512DQ__) || \
    !defined(__F16C__)
#error "reduce_avx512.cc needs -mavx512f -mavx512bw -mavx512vl -mavx512dq -mf16c"
#endif
#define TORC_KERNELS_ABI_TAG avx512
#define TORC_KERNEL_ISA_LEVEL 2
#include "kernels/cpu/reduce_impl.inc"
