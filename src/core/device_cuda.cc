// The CUDA runtime behind DeviceRuntime (CUDA builds only). libtorc links the static CUDA
// runtime, which loads the driver (libcuda.so.1) itself on first use: on a machine without the
// driver libtorc still loads, cudaGetDeviceCount reports why, and torc keeps to host memory.
#include <cuda_runtime.h>

#include "src/base/status.h"
#include "src/core/device.h"

namespace torc::core {
namespace {

Status cudaFailed(const char* what, cudaError_t e) {
  return errorf(Code::kCudaError, "%s failed: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

class CudaRuntime final : public DeviceRuntime {
 public:
  const char* name() const override { return "CUDA runtime"; }

  Result<bool> isDevice(const void* p) override {
    cudaPointerAttributes attr{};
    const cudaError_t e = cudaPointerGetAttributes(&attr, p);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();  // not sticky: clear it for the caller's next call
      return cudaFailed("cudaPointerGetAttributes", e);
    }
    return attr.type == cudaMemoryTypeDevice;
  }

  Status syncStream(void* stream) override {
    const cudaError_t e = cudaStreamSynchronize(static_cast<cudaStream_t>(stream));
    return e == cudaSuccess ? Status::ok() : cudaFailed("cudaStreamSynchronize", e);
  }

  Status copyToHost(void* dst, const void* src, size_t bytes, void* stream) override {
    const cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, static_cast<cudaStream_t>(stream));
    return e == cudaSuccess ? Status::ok() : cudaFailed("cudaMemcpyAsync (device to host)", e);
  }

  Status copyToDevice(void* dst, const void* src, size_t bytes, void* stream) override {
    const cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, static_cast<cudaStream_t>(stream));
    return e == cudaSuccess ? Status::ok() : cudaFailed("cudaMemcpyAsync (host to device)", e);
  }

  Result<void*> allocPinned(size_t bytes) override {
    void* p = nullptr;
    const cudaError_t e = cudaHostAlloc(&p, bytes, cudaHostAllocPortable);
    if (e != cudaSuccess) return cudaFailed("cudaHostAlloc", e);
    return p;
  }

  void freePinned(void* p) override { (void)cudaFreeHost(p); }
};

}  // namespace

DeviceRuntime* cudaRuntime(std::string* why) {
  int devices = 0;
  const cudaError_t e = cudaGetDeviceCount(&devices);
  if (e != cudaSuccess) {
    *why = std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e);
    return nullptr;
  }
  if (devices == 0) {
    *why = "no CUDA device";
    return nullptr;
  }
  static CudaRuntime rt;
  return &rt;
}

}  // namespace torc::core
