// Device pack/unpack casts: a grid-stride kernel over the shared body (cast_functors.h).

#include <cuda_runtime.h>

#include "kernels/cast_functors.h"
#include "kernels/cuda/cast_cuda.h"

namespace torc::kernels {
namespace {

constexpr unsigned kThreads = 256;
constexpr size_t kMaxBlocks = 65535;

template <typename Src, typename Dst>
__global__ void castKernel(const Src* src, Dst* dst, size_t n, int divisor) {
  castBody(size_t(blockIdx.x) * blockDim.x + threadIdx.x, size_t(gridDim.x) * blockDim.x, src, dst, n, divisor);
}

// Calls f with a value of the storage type of t (float, Half or Bf16); false for other types.
template <typename F>
bool visitFloat(DType t, F&& f) {
  switch (t) {
    case DType::kFloat32: f(float{}); return true;
    case DType::kFloat16: f(Half{}); return true;
    case DType::kBfloat16: f(Bf16{}); return true;
    default: return false;
  }
}

}  // namespace

void launchCast(DType from, const void* src, DType to, void* dst, size_t n, int divisor, void* cudaStream) {
  if (n == 0) return;
  const size_t want = (n + kThreads - 1) / kThreads;
  const unsigned blocks = unsigned(want < kMaxBlocks ? want : kMaxBlocks);
  auto stream = static_cast<cudaStream_t>(cudaStream);
  visitFloat(from, [&](auto s) {
    visitFloat(to, [&](auto d) {
      using Src = decltype(s);
      using Dst = decltype(d);
      castKernel<Src, Dst><<<blocks, kThreads, 0, stream>>>(static_cast<const Src*>(src), static_cast<Dst*>(dst), n,
                                                          divisor);
    });
  });
}

}  // namespace torc::kernels
