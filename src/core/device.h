// Device (GPU) memory at the API boundary. The transports move host memory, so a collective on
// device buffers is staged: the caller's stream is synchronised (the inputs are ready), device
// inputs are copied into pinned host buffers, the host collective runs on those, and device
// outputs are copied back on the caller's stream, which is synchronised again before the call
// returns (a torc call completes before it returns, on any memory).
//
// The CUDA runtime is reached through DeviceRuntime, so that the staging logic is the same code
// whatever answers it: the CUDA runtime (CUDA builds, with a driver and a device) or a test's.
// Without a usable device every pointer is host memory and no CUDA call is made.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "src/base/status.h"

namespace torc::core {

class DeviceRuntime {
 public:
  virtual ~DeviceRuntime() = default;
  virtual const char* name() const = 0;
  // The device holding p when the host cannot read p directly (device memory), else -1 (host,
  // pinned and managed memory are host-readable). An error for a pointer it cannot classify.
  virtual Result<int> deviceOf(const void* p) = 0;
  // Makes `device` the calling thread's current one; returns the one it replaces.
  virtual Result<int> selectDevice(int device) = 0;
  virtual Status syncStream(void* stream) = 0;
  // Copies on `stream` (nullptr: the default stream) of the current device; the caller
  // synchronises.
  virtual Status copyToHost(void* dst, const void* src, size_t bytes, void* stream) = 0;
  virtual Status copyToDevice(void* dst, const void* src, size_t bytes, void* stream) = 0;
  virtual Result<void*> allocPinned(size_t bytes) = 0;
  virtual void freePinned(void* p) = 0;
};

// The process's runtime: the CUDA runtime when this build has CUDA and a device is usable,
// otherwise nullptr (the reason is logged at INFO once and kept in *why).
DeviceRuntime* deviceRuntime(std::string* why = nullptr);
// For tests: makes `rt` the process's runtime (nullptr: back to the default). Not thread-safe
// against running collectives.
void setDeviceRuntimeForTesting(DeviceRuntime* rt);

// Fails with kInvalidArgument when p is device memory, for the calls that take host memory only
// (the sparse and fusion APIs); name is the argument's name.
Status requireHostMemory(const void* p, const char* name);

// Whether [a, a + an) and [b, b + bn) share a byte (empty or NULL ranges share none).
inline bool overlaps(const void* a, size_t an, const void* b, size_t bn) {
  if (a == nullptr || b == nullptr || an == 0 || bn == 0) return false;
  const auto a0 = reinterpret_cast<uintptr_t>(a), b0 = reinterpret_cast<uintptr_t>(b);
  return a0 < b0 + bn && b0 < a0 + an;
}

// The pinned buffers one communicator stages through, grown on demand and kept (one operation
// at a time uses them: a communicator's operations are serialised).
class DeviceStaging {
 public:
  DeviceStaging() = default;
  DeviceStaging(const DeviceStaging&) = delete;
  DeviceStaging& operator=(const DeviceStaging&) = delete;
  ~DeviceStaging();

  // Runs op(input, output) with device buffers replaced by staged host copies (the same
  // pointers when neither is device memory, or without a runtime). inBytes / outBytes: the
  // bytes the operation reads at input and writes at output (0 for an absent side). A buffer
  // that is both input and output (in place, or input inside output as for an in-place
  // all-gather) is staged once, so the operation sees the same layout.
  Status run(const void* input, size_t inBytes, void* output, size_t outBytes, void* stream,
             const std::function<Status(const void*, void*)>& op);

 private:
  struct Buffer {
    void* ptr = nullptr;
    size_t bytes = 0;
    DeviceRuntime* owner = nullptr;
  };
  Status runStaged(DeviceRuntime* rt, const void* input, bool inDev, size_t inBytes, void* output, bool outDev,
                   size_t outBytes, void* stream, const std::function<Status(const void*, void*)>& op);
  Result<void*> ensure(Buffer* b, DeviceRuntime* rt, size_t bytes);
  void release(Buffer* b);

  Buffer in_, out_;
};

}  // namespace torc::core
