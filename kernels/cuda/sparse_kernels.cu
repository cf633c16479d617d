// Device top-k selection and scatter-add (sparse_cuda.h). The per-thread bodies are
// kernels/topk_functors.h, which the tests also run on the CPU for every thread of small grids;
// the wrappers here only map (blockIdx, threadIdx) to a thread number. Scans, reductions and
// sorts are CUB's.

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cub/cub.cuh>
#include <functional>
#include <vector>

#include "kernels/cuda/sparse_cuda.h"
#include "kernels/topk_functors.h"

namespace torc::kernels {
namespace {

constexpr unsigned kThreads = 256;

__device__ size_t threadNumber() { return size_t(blockIdx.x) * blockDim.x + threadIdx.x; }

__global__ void sampleKernel(const float* x, size_t n, size_t s, uint32_t* sample, size_t nthreads) {
  if (threadNumber() < nthreads) topk::sampleBody(threadNumber(), nthreads, x, n, s, sample);
}
__global__ void countKernel(const float* x, size_t n, uint32_t t, uint32_t* ge, uint32_t* gt, uint32_t* maxMag,
                            size_t nthreads) {
  if (threadNumber() < nthreads) topk::countBody(threadNumber(), nthreads, x, n, t, ge, gt, maxMag);
}
__global__ void collectKernel(const float* x, size_t n, uint32_t t, const uint32_t* offset, uint64_t* keys,
                              size_t nthreads) {
  if (threadNumber() < nthreads) topk::collectBody(threadNumber(), nthreads, x, n, t, offset, keys);
}
__global__ void keysKernel(const float* x, size_t n, uint64_t* keys, size_t nthreads) {
  if (threadNumber() < nthreads) topk::keysBody(threadNumber(), nthreads, x, n, keys);
}
__global__ void takeKernel(const uint64_t* sorted, size_t k, uint32_t* indices, size_t nthreads) {
  if (threadNumber() < nthreads) topk::takeBody(threadNumber(), nthreads, sorted, k, indices);
}
__global__ void scatterAddKernel(float* dense, const uint32_t* idx, const float* val, size_t k, size_t nthreads) {
  if (threadNumber() < nthreads) topk::scatterAddBody(threadNumber(), nthreads, dense, idx, val, k);
}

// Threads for a pass over n elements: at least 256 elements each, at most 64K threads.
size_t threadsFor(size_t n) { return std::max<size_t>(1, std::min<size_t>(n / 256, size_t{1} << 16)); }
unsigned blocksFor(size_t nthreads) { return unsigned((nthreads + kThreads - 1) / kThreads); }

// Device memory for one call, freed on every path.
class Buffers {
 public:
  ~Buffers() {
    for (void* p : owned_) cudaFree(p);
  }
  template <typename T>
  T* get(size_t count, cudaError_t* err) {
    void* p = nullptr;
    if (*err == cudaSuccess) *err = cudaMalloc(&p, std::max<size_t>(count, 1) * sizeof(T));
    if (*err != cudaSuccess) return nullptr;
    owned_.push_back(p);
    return static_cast<T*>(p);
  }

 private:
  std::vector<void*> owned_;
};

class Selector {
 public:
  Selector(const float* x, size_t n, size_t k, uint32_t* indices, cudaStream_t stream)
      : x_(x), n_(n), k_(k), indices_(indices), stream_(stream) {}

  cudaError_t err = cudaSuccess;

  // ge, gt and the largest magnitude over all elements for threshold t.
  bool count(uint32_t t, size_t* ge, size_t* gt, uint32_t* maxMag, uint32_t** geByThread) {
    const size_t T = threadsFor(n_);
    uint32_t* a = buf_.get<uint32_t>(T, &err);
    uint32_t* b = buf_.get<uint32_t>(T, &err);
    uint32_t* m = buf_.get<uint32_t>(T, &err);
    uint32_t* sums = buf_.get<uint32_t>(2, &err);
    uint32_t* mx = buf_.get<uint32_t>(1, &err);
    if (err != cudaSuccess) return false;
    countKernel<<<blocksFor(T), kThreads, 0, stream_>>>(x_, n_, t, a, b, m, T);
    // n < 2^32 (topkExact's limit), so the totals fit 32 bits.
    if (!reduceSum(a, sums, T) || !reduceSum(b, sums + 1, T) || !reduceMax(m, mx, T)) return false;
    uint32_t host[2];
    err = cudaMemcpyAsync(host, sums, sizeof(host), cudaMemcpyDeviceToHost, stream_);
    if (err == cudaSuccess) err = cudaMemcpyAsync(maxMag, mx, sizeof(uint32_t), cudaMemcpyDeviceToHost, stream_);
    if (err == cudaSuccess) err = cudaStreamSynchronize(stream_);
    *ge = host[0];
    *gt = host[1];
    *geByThread = a;
    return err == cudaSuccess;
  }

  // The candidates reaching t (got of them, counted per thread in geByThread), ranked exactly.
  bool selectAmong(uint32_t t, const uint32_t* geByThread, size_t got) {
    const size_t T = threadsFor(n_);
    uint32_t* offset = buf_.get<uint32_t>(T, &err);
    uint64_t* keys = buf_.get<uint64_t>(got, &err);
    if (err != cudaSuccess || !scan(geByThread, offset, T)) return false;
    collectKernel<<<blocksFor(T), kThreads, 0, stream_>>>(x_, n_, t, offset, keys, T);
    return rankKeys(keys, got);
  }

  // Every element ranked.
  bool selectAll() {
    uint64_t* keys = buf_.get<uint64_t>(n_, &err);
    if (err != cudaSuccess) return false;
    const size_t T = threadsFor(n_);
    keysKernel<<<blocksFor(T), kThreads, 0, stream_>>>(x_, n_, keys, T);
    return rankKeys(keys, n_);
  }

  bool sample(size_t s, std::vector<uint32_t>* host) {
    uint32_t* d = buf_.get<uint32_t>(s, &err);
    if (err != cudaSuccess) return false;
    const size_t T = std::min<size_t>(s, size_t{1} << 16);
    sampleKernel<<<blocksFor(T), kThreads, 0, stream_>>>(x_, n_, s, d, T);
    host->resize(s);
    err = cudaMemcpyAsync(host->data(), d, s * sizeof(uint32_t), cudaMemcpyDeviceToHost, stream_);
    if (err == cudaSuccess) err = cudaStreamSynchronize(stream_);
    return err == cudaSuccess;
  }

 private:
  // keys (count of them) sorted descending; the first k are TopK; their indices sorted ascending.
  bool rankKeys(uint64_t* keys, size_t count) {
    uint64_t* sorted = buf_.get<uint64_t>(count, &err);
    uint32_t* picked = buf_.get<uint32_t>(k_, &err);
    if (err != cudaSuccess || !cub2([&](void* t, size_t& b) {
          return cub::DeviceRadixSort::SortKeysDescending(t, b, keys, sorted, count, 0, 64, stream_);
        }))
      return false;
    const size_t T = threadsFor(k_);
    takeKernel<<<blocksFor(T), kThreads, 0, stream_>>>(sorted, k_, picked, T);
    if (!cub2([&](void* t, size_t& b) { return cub::DeviceRadixSort::SortKeys(t, b, picked, indices_, k_, 0, 32, stream_); }))
      return false;
    err = cudaStreamSynchronize(stream_);
    return err == cudaSuccess;
  }
  bool reduceSum(const uint32_t* in, uint32_t* out, size_t count) {
    return cub2([&](void* t, size_t& b) { return cub::DeviceReduce::Sum(t, b, in, out, count, stream_); });
  }
  bool reduceMax(const uint32_t* in, uint32_t* out, size_t count) {
    return cub2([&](void* t, size_t& b) { return cub::DeviceReduce::Max(t, b, in, out, count, stream_); });
  }
  bool scan(const uint32_t* in, uint32_t* out, size_t count) {
    return cub2([&](void* t, size_t& b) { return cub::DeviceScan::ExclusiveSum(t, b, in, out, count, stream_); });
  }
  // CUB's two calls: the size of the temporary storage, then the work with it.
  template <typename Call>
  bool cub2(Call call) {
    size_t bytes = 0;
    err = call(nullptr, bytes);
    void* temp = buf_.get<char>(bytes, &err);
    if (err == cudaSuccess) err = call(temp, bytes);
    return err == cudaSuccess;
  }

  const float* x_;
  size_t n_, k_;
  uint32_t* indices_;
  cudaStream_t stream_;
  Buffers buf_;
};

}  // namespace

TopkStatus topkExactCuda(const float* x, size_t n, size_t k, uint32_t* indices, void* cudaStream, int* cudaError) {
  Selector sel(x, n, k, indices, static_cast<cudaStream_t>(cudaStream));
  auto done = [&](TopkStatus st) {
    *cudaError = static_cast<int>(sel.err);
    return st;
  };
  size_t ge = 0, gt = 0;
  uint32_t maxMag = 0;
  uint32_t* geByThread = nullptr;
  // Non-finite input is refused whatever k is (the CPU kernel's rule).
  if (n == 0) return done(TopkStatus::kOk);
  if (!sel.count(topk::kInfBits, &ge, &gt, &maxMag, &geByThread)) return done(TopkStatus::kOk);
  if (maxMag >= topk::kInfBits) return done(TopkStatus::kNonFinite);
  if (k == 0) return done(TopkStatus::kOk);
  if (k == n || n <= 65536) {
    sel.selectAll();
    return done(TopkStatus::kOk);
  }
  // The CPU kernel's sample size, first rank and bracketing (kernels/cpu/topk.cc).
  const size_t s = std::clamp<size_t>(64 * (n / k), 16384, n / 2);
  const double expect = double(s) * double(k) / double(n);
  size_t rank = std::min<size_t>(s - 1, size_t(expect + 3 * std::sqrt(expect) + 2));
  const size_t cap = 2 * k + 4096;
  size_t tooHigh = 0, tooLow = 0;
  bool haveHigh = false, haveLow = false;
  std::vector<uint32_t> sample;
  if (!sel.sample(s, &sample)) return done(TopkStatus::kOk);
  for (int attempt = 0; attempt < 24; ++attempt) {
    std::nth_element(sample.begin(), sample.begin() + std::ptrdiff_t(rank), sample.end(), std::greater<>());
    const uint32_t t = sample[rank];
    if (!sel.count(t, &ge, &gt, &maxMag, &geByThread)) return done(TopkStatus::kOk);
    if (ge < k) {
      tooHigh = rank, haveHigh = true;
      const size_t next = haveLow ? (rank + tooLow) / 2 : std::min(s - 1, 2 * rank + 16);
      if (next <= rank) break;
      rank = next;
      continue;
    }
    if (ge > cap) {  // too many candidates (or many ties at t: the last resort ranks them)
      if (gt <= k) break;
      tooLow = rank, haveLow = true;
      const size_t next = haveHigh ? (tooHigh + rank) / 2 : rank / 4;
      if (next >= rank || (haveHigh && next <= tooHigh)) break;
      rank = next;
      continue;
    }
    sel.selectAmong(t, geByThread, ge);
    return done(TopkStatus::kOk);
  }
  sel.selectAll();
  return done(TopkStatus::kOk);
}

void launchScatterAdd(float* dense, const uint32_t* idx, const float* val, size_t k, void* cudaStream) {
  if (k == 0) return;
  const size_t T = std::min<size_t>((k + 3) / 4, size_t{1} << 20);
  scatterAddKernel<<<blocksFor(T), kThreads, 0, static_cast<cudaStream_t>(cudaStream)>>>(dense, idx, val, k, T);
}

}  // namespace torc::kernels
