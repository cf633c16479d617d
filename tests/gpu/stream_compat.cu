// Compile-time checks that need the CUDA toolkit (nothing here runs on a GPU): the public
// stream type is the CUDA runtime's, so callers pass their cudaStream_t unchanged.
#include <cuda_runtime.h>

#include <type_traits>

#include "include/torc.h"

static_assert(std::is_same<torcStream_t, cudaStream_t>::value, "torcStream_t must be cudaStream_t");
static_assert(sizeof(torcStream_t) == sizeof(void*), "a stream is a pointer");
