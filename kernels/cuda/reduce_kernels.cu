// Device versions of reduce()/finalizeAvg(): the per-thread bodies of elementwise_bodies.h (16-byte
// vector loads and stores, scalar head and tail) over the shared functors, so the device results
// match the host ones bit for bit (built with --fmad=false).

#include <cuda_runtime.h>

#include "kernels/cuda/reduce_cuda.h"
#include "kernels/elementwise_bodies.h"

namespace torc::kernels {
namespace {

constexpr unsigned kThreads = 256;
constexpr size_t kMaxBlocks = 65535;

__device__ inline size_t threadId() { return size_t(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ inline size_t threadCount() { return size_t(gridDim.x) * blockDim.x; }

template <typename T, typename Op>
__global__ void reduceKernel(T* dst, const T* a, const T* b, size_t n) {
  reduceBody<T, Op>(threadId(), threadCount(), dst, a, b, n);
}

template <typename T>
__global__ void divKernel(T* x, size_t n, int divisor) {
  divBody<T>(threadId(), threadCount(), x, n, divisor);
}

// Enough threads for one 16-byte vector of T each (the bodies' scalar parts are fewer).
template <typename T>
unsigned blocksFor(size_t n) {
  const size_t vectors = (n + Vec16<T>::kLanes - 1) / Vec16<T>::kLanes;
  size_t blocks = (vectors + kThreads - 1) / kThreads;
  return unsigned(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

template <typename T, template <class> class Op>
void launch(void* dst, const void* a, const void* b, size_t n, cudaStream_t stream) {
  reduceKernel<T, Op<T>><<<blocksFor<T>(n), kThreads, 0, stream>>>(static_cast<T*>(dst), static_cast<const T*>(a),
                                                                static_cast<const T*>(b), n);
}

}  // namespace

void launchReduce(DType t, RedOp op, void* dst, const void* a, const void* b, size_t n, void* cudaStream) {
  if (n == 0) return;
  auto stream = static_cast<cudaStream_t>(cudaStream);
  visitDType(t, [&](auto tag) {
    using T = decltype(tag);
    switch (op) {
      case RedOp::kSum:
      case RedOp::kAvg:
        launch<T, Sum>(dst, a, b, n, stream);
        break;
      case RedOp::kProd:
        launch<T, Prod>(dst, a, b, n, stream);
        break;
      case RedOp::kMax:
        launch<T, Max>(dst, a, b, n, stream);
        break;
      case RedOp::kMin:
        launch<T, Min>(dst, a, b, n, stream);
        break;
    }
  });
}

void launchFinalizeAvg(DType t, void* x, size_t n, int divisor, void* cudaStream) {
  if (n == 0 || divisor < 1) return;
  auto stream = static_cast<cudaStream_t>(cudaStream);
  visitDType(t, [&](auto tag) {
    using T = decltype(tag);
    divKernel<T><<<blocksFor<T>(n), kThreads, 0, stream>>>(static_cast<T*>(x), n, divisor);
  });
}

}  // namespace torc::kernels
