// Staging device buffers through pinned host memory (see device.h), and the choice of runtime.
#include "src/core/device.h"

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "src/base/log.h"
#include "torc_config.h"

namespace torc::core {

#if TORC_HAVE_CUDA
// device_cuda.cc: the CUDA runtime, or nullptr with the reason.
DeviceRuntime* cudaRuntime(std::string* why);
#endif

namespace {

std::atomic<DeviceRuntime*> gTestRuntime{nullptr};

struct DefaultRuntime {
  DeviceRuntime* rt = nullptr;
  std::string why;
};

const DefaultRuntime& defaultRuntime() {
  static const DefaultRuntime d = [] {
    DefaultRuntime r;
#if TORC_HAVE_CUDA
    r.rt = cudaRuntime(&r.why);
#else
    r.why = "this build of torc has no CUDA support";
#endif
    if (r.rt == nullptr) {
      TORC_INFO(kLogInit, "device memory: not supported (%s); every buffer is host memory", r.why.c_str());
    } else {
      TORC_INFO(kLogInit, "device memory: %s; device buffers are staged through pinned host memory", r.rt->name());
    }
    return r;
  }();
  return d;
}

}  // namespace

DeviceRuntime* deviceRuntime(std::string* why) {
  if (DeviceRuntime* t = gTestRuntime.load(std::memory_order_acquire)) return t;
  const DefaultRuntime& d = defaultRuntime();
  if (why != nullptr) *why = d.why;
  return d.rt;
}

void setDeviceRuntimeForTesting(DeviceRuntime* rt) { gTestRuntime.store(rt, std::memory_order_release); }

Status requireHostMemory(const void* p, const char* name) {
  DeviceRuntime* rt = deviceRuntime();
  if (rt == nullptr || p == nullptr) return Status::ok();
  TORC_ASSIGN_OR_RETURN(int dev, rt->deviceOf(p));
  if (dev >= 0) return errorf(Code::kInvalidArgument, "%s is device memory; this call takes host memory only", name);
  return Status::ok();
}

DeviceStaging::~DeviceStaging() {
  release(&in_);
  release(&out_);
}

void DeviceStaging::release(Buffer* b) {
  if (b->ptr != nullptr && b->owner != nullptr) b->owner->freePinned(b->ptr);
  *b = Buffer{};
}

Result<void*> DeviceStaging::ensure(Buffer* b, DeviceRuntime* rt, size_t bytes) {
  if (b->ptr != nullptr && b->owner == rt && b->bytes >= bytes) return b->ptr;
  // Grow geometrically, so that a sweep of rising sizes does not pin anew each time.
  const size_t want = std::max({bytes, b->owner == rt ? 2 * b->bytes : 0, size_t{1} << 20});
  release(b);
  TORC_ASSIGN_OR_RETURN(void* p, rt->allocPinned(want));
  *b = Buffer{p, want, rt};
  return p;
}

Status DeviceStaging::run(const void* input, size_t inBytes, void* output, size_t outBytes, void* stream,
                          const std::function<Status(const void*, void*)>& op) {
  DeviceRuntime* rt = deviceRuntime();
  if (rt == nullptr) return op(input, output);
  int inDevice = -1, outDevice = -1;
  if (input != nullptr && inBytes > 0) {
    TORC_ASSIGN_OR_RETURN(inDevice, rt->deviceOf(input));
  }
  if (output != nullptr && outBytes > 0) {
    TORC_ASSIGN_OR_RETURN(outDevice, rt->deviceOf(output));
  }
  const bool inDev = inDevice >= 0, outDev = outDevice >= 0;
  if (!inDev && !outDev) {
    // Host-readable memory (pinned or managed memory may still be written by the stream's work).
    if (stream != nullptr) TORC_RETURN_IF_ERROR(rt->syncStream(stream));
    return op(input, output);
  }
  if (inDev && outDev && inDevice != outDevice)
    return errorf(Code::kInvalidArgument, "the input is on device %d and the output on device %d", inDevice,
                  outDevice);
  // The buffers' device is current for the copies and the stream (a progress thread, or a
  // thread that never chose one, would otherwise work on device 0); the caller's is restored.
  TORC_ASSIGN_OR_RETURN(const int previous, rt->selectDevice(inDev ? inDevice : outDevice));
  Status st = runStaged(rt, input, inDev, inBytes, output, outDev, outBytes, stream, op);
  Status restored = rt->selectDevice(previous).status();
  return st.isOk() ? restored : st;
}

Status DeviceStaging::runStaged(DeviceRuntime* rt, const void* input, bool inDev, size_t inBytes, void* output,
                                bool outDev, size_t outBytes, void* stream,
                                const std::function<Status(const void*, void*)>& op) {
  TORC_RETURN_IF_ERROR(rt->syncStream(stream));

  const void* hostIn = input;
  void* hostOut = output;
  if (inDev && outDev && overlaps(input, inBytes, output, outBytes)) {
    // One staged copy of the union, keeping the two buffers' relative layout.
    const auto in = reinterpret_cast<uintptr_t>(input), out = reinterpret_cast<uintptr_t>(output);
    const uintptr_t base = std::min(in, out), end = std::max(in + inBytes, out + outBytes);
    TORC_ASSIGN_OR_RETURN(void* stage, ensure(&out_, rt, end - base));
    char* s = static_cast<char*>(stage);
    TORC_RETURN_IF_ERROR(rt->copyToHost(s + (in - base), input, inBytes, stream));
    hostIn = s + (in - base);
    hostOut = s + (out - base);
  } else {
    if (inDev) {
      TORC_ASSIGN_OR_RETURN(void* stage, ensure(&in_, rt, inBytes));
      TORC_RETURN_IF_ERROR(rt->copyToHost(stage, input, inBytes, stream));
      hostIn = stage;
    }
    if (outDev) {
      TORC_ASSIGN_OR_RETURN(hostOut, ensure(&out_, rt, outBytes));
    }
  }
  if (inDev) TORC_RETURN_IF_ERROR(rt->syncStream(stream));  // the staged input is complete

  // A failed operation leaves device outputs untouched.
  TORC_RETURN_IF_ERROR(op(hostIn, hostOut));
  if (outDev) {
    TORC_RETURN_IF_ERROR(rt->copyToDevice(output, hostOut, outBytes, stream));
    TORC_RETURN_IF_ERROR(rt->syncStream(stream));
  }
  return Status::ok();
}

}  // namespace torc::core
