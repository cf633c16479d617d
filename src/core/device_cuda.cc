// The CUDA runtime behind DeviceRuntime (CUDA builds only). libtorc links the static CUDA
// runtime, which loads the driver (libcuda.so.1) itself on first use: on a machine without the
// driver libtorc still loads, cudaGetDeviceCount reports why, and torc keeps to host memory.
//
// Pointers are classified with the driver's cuPointerGetAttribute (libcuda.so.1, opened with
// dlopen), which needs no context: the runtime's cudaPointerGetAttributes would create device
// 0's primary context in every process that calls torc with host memory, hundreds of MB each.
#include <cuda.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

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

  using PointerGetAttribute = CUresult (*)(void*, CUpointer_attribute, CUdeviceptr);
  explicit CudaRuntime(PointerGetAttribute get) : get_(get) {}

  Result<int> deviceOf(const void* p) override {
    const auto ptr = reinterpret_cast<CUdeviceptr>(p);
    unsigned int type = 0;
    CUresult e = get_(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, ptr);
    if (e == CUDA_ERROR_INVALID_VALUE) return -1;  // memory CUDA does not know: plain host memory
    if (e != CUDA_SUCCESS) return errorf(Code::kCudaError, "cuPointerGetAttribute(%p) failed: CUresult %d", p, int(e));
    if (type != CU_MEMORYTYPE_DEVICE) return -1;  // pinned host memory
    int managed = 0;
    if (get_(&managed, CU_POINTER_ATTRIBUTE_IS_MANAGED, ptr) == CUDA_SUCCESS && managed != 0) return -1;
    int device = 0;
    e = get_(&device, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, ptr);
    if (e != CUDA_SUCCESS) return errorf(Code::kCudaError, "cuPointerGetAttribute(%p, device) failed: CUresult %d", p, int(e));
    return device;
  }

  Result<int> selectDevice(int device) override {
    int previous = 0;
    cudaError_t e = cudaGetDevice(&previous);
    if (e != cudaSuccess) return cudaFailed("cudaGetDevice", e);
    if (device != previous && (e = cudaSetDevice(device)) != cudaSuccess) return cudaFailed("cudaSetDevice", e);
    return previous;
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

 private:
  PointerGetAttribute get_;
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
  // The driver is there (the runtime just talked to it); take its classification call.
  void* driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  if (driver == nullptr) driver = dlopen("libcuda.so.1", RTLD_NOW);
  void* get = driver != nullptr ? dlsym(driver, "cuPointerGetAttribute") : nullptr;
  if (get == nullptr) {
    *why = "the CUDA driver has no cuPointerGetAttribute";
    return nullptr;
  }
  static CudaRuntime rt(reinterpret_cast<CudaRuntime::PointerGetAttribute>(get));
  return &rt;
}

}  // namespace torc::core
