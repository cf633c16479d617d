// Device casts: grid-stride kernels over the shared bodies (cast_functors.h).

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

template <typename Wire, typename Out, typename Op>
__global__ void castReduceKernel(const float* acc, const Wire* in, Out* out, size_t n) {
  castReduceBody<Wire, Out, Op>(size_t(blockIdx.x) * blockDim.x + threadIdx.x, size_t(gridDim.x) * blockDim.x, acc, in,
                                out, n);
}

template <typename Src, typename Wire>
__global__ void packKernel(const FusedSpan* spans, int nspans, Wire* bucket, size_t total, int divisor) {
  packBody<Src, Wire>(size_t(blockIdx.x) * blockDim.x + threadIdx.x, size_t(gridDim.x) * blockDim.x, spans, nspans,
                      bucket, total, divisor);
}

template <typename Wire, typename Dst>
__global__ void unpackKernel(const FusedSpan* spans, int nspans, const Wire* bucket, size_t total) {
  unpackBody<Wire, Dst>(size_t(blockIdx.x) * blockDim.x + threadIdx.x, size_t(gridDim.x) * blockDim.x, spans, nspans,
                        bucket, total);
}

unsigned blocksFor(size_t n) {
  const size_t want = (n + kThreads - 1) / kThreads;
  return unsigned(want < kMaxBlocks ? want : kMaxBlocks);
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
  const unsigned blocks = blocksFor(n);
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

bool launchCastReduce(DType wire, DType out, RedOp op, const float* acc, const void* in, void* outBuf, size_t n,
                      void* cudaStream) {
  if (out != DType::kFloat32 && out != wire) return false;
  auto stream = static_cast<cudaStream_t>(cudaStream);
  return visitFloat(wire, [&](auto w) {
    using Wire = decltype(w);
    auto go = [&](auto o) {
      using Out = decltype(o);
      if (n == 0) return;
      auto run = [&](auto opTag) {
        using Op = decltype(opTag);
        castReduceKernel<Wire, Out, Op><<<blocksFor(n), kThreads, 0, stream>>>(acc, static_cast<const Wire*>(in),
                                                                                static_cast<Out*>(outBuf), n);
      };
      switch (op) {
        case RedOp::kSum:
        case RedOp::kAvg: run(Sum<float>{}); break;
        case RedOp::kProd: run(Prod<float>{}); break;
        case RedOp::kMax: run(Max<float>{}); break;
        case RedOp::kMin: run(Min<float>{}); break;
      }
    };
    if (out == DType::kFloat32) {
      go(float{});
    } else {
      go(Wire{});
    }
  });
}

bool launchPack(DType tensorType, DType wire, const FusedSpan* spans, int nspans, size_t total, void* bucket,
                int divisor, void* cudaStream) {
  auto stream = static_cast<cudaStream_t>(cudaStream);
  bool ok = false;
  visitFloat(tensorType, [&](auto s) {
    ok = visitFloat(wire, [&](auto w) {
      using Src = decltype(s);
      using Wire = decltype(w);
      if (total == 0 || nspans <= 0) return;
      packKernel<Src, Wire><<<blocksFor(total), kThreads, 0, stream>>>(spans, nspans, static_cast<Wire*>(bucket), total,
                                                                      divisor);
    });
  });
  return ok;
}

bool launchUnpack(DType wire, DType tensorType, const FusedSpan* spans, int nspans, size_t total, const void* bucket,
                  void* cudaStream) {
  auto stream = static_cast<cudaStream_t>(cudaStream);
  bool ok = false;
  visitFloat(wire, [&](auto w) {
    ok = visitFloat(tensorType, [&](auto d) {
      using Wire = decltype(w);
      using Dst = decltype(d);
      if (total == 0 || nspans <= 0) return;
      unpackKernel<Wire, Dst><<<blocksFor(total), kThreads, 0, stream>>>(spans, nspans,
                                                                        static_cast<const Wire*>(bucket), total);
    });
  });
  return ok;
}

}  // namespace torc::kernels
