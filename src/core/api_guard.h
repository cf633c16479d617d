// Helpers of the C boundary shared by the files that implement torc.h: argument checks, the
// guard that turns every Status (and every exception) into a torcResult_t and records the
// message for torcGetLastError.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <new>
#include <string>

#include "include/torc.h"
#include "src/base/log.h"
#include "src/core/comm.h"
#include "src/core/device.h"

namespace torc::api {

using kernels::DType;
using kernels::RedOp;

inline thread_local std::string tLastError;
inline torcResult_t finish(torcComm_t comm, const char* fn, const Status& s) {
  if (s.isOk()) return torcSuccess;
  std::string msg = std::string(fn) + ": " + s.toString();
  tLastError = msg;
  if (comm != nullptr && comm->comm) comm->comm->lastError = msg;
  if (s.code() == Code::kInvalidArgument || s.code() == Code::kInvalidUsage || s.code() == Code::kOverflow)
    TORC_INFO(kLogAll, "%s", msg.c_str());
  else
    TORC_WARN("%s", msg.c_str());
  return static_cast<torcResult_t>(s.code());
}

// Counts the calls running inside a handle, so that torcCommAbort from another thread frees
// it only after they have left.
class ActiveCall {
 public:
  explicit ActiveCall(torcComm_t c) : c_(c) {
    if (c_) c_->activeCalls.fetch_add(1);
  }
  ~ActiveCall() {
    if (c_) c_->activeCalls.fetch_sub(1);
  }

 private:
  torcComm_t c_;
};

template <typename F>
torcResult_t guard(torcComm_t comm, const char* fn, F&& body) {
  ActiveCall active(comm);
  try {
    if (comm != nullptr && comm->comm) setLogRank(comm->comm->rank());
    return finish(comm, fn, body());
  } catch (const std::bad_alloc&) {
    return finish(comm, fn, Status(Code::kSystemError, "out of memory"));
  } catch (const std::exception& e) {
    return finish(comm, fn, Status(Code::kInternalError, std::string("unexpected exception: ") + e.what()));
  } catch (...) {
    return finish(comm, fn, Status(Code::kInternalError, "unexpected exception"));
  }
}

inline Status checkComm(torcComm_t comm) {
  if (comm == nullptr || !comm->comm) return Status(Code::kInvalidArgument, "comm is NULL");
  return Status::ok();
}

inline Status checkType(torcDataType_t t) {
  if (static_cast<int>(t) < 0 || static_cast<int>(t) >= torcNumTypes)
    return errorf(Code::kInvalidArgument, "unknown datatype %d", static_cast<int>(t));
  return Status::ok();
}

inline Status checkOp(torcRedOp_t op) {
  if (static_cast<int>(op) < 0 || static_cast<int>(op) >= torcNumOps)
    return errorf(Code::kInvalidArgument, "unknown reduction op %d", static_cast<int>(op));
  return Status::ok();
}

// count * elemSize * factor must fit in size_t (and in the address space).
inline Status checkBytes(size_t count, torcDataType_t t, size_t factor, size_t* bytes) {
  size_t es = kernels::dtypeSize(static_cast<DType>(t));
  if (count > SIZE_MAX / es / factor)
    return errorf(Code::kInvalidArgument, "count %zu of %s x %zu overflows size_t", count,
                  kernels::dtypeName(static_cast<DType>(t)), factor);
  *bytes = count * es * factor;
  if (*bytes > (size_t{1} << 62)) return errorf(Code::kInvalidArgument, "count %zu is too large", count);
  return Status::ok();
}

inline Status checkBuf(const void* p, size_t count, const char* name) {
  if (p == nullptr && count > 0) return errorf(Code::kInvalidArgument, "%s is NULL with count %zu", name, count);
  return Status::ok();
}

// checkBuf, and the buffer must be host memory (the calls without a device path).
inline Status checkHostBuf(const void* p, size_t count, const char* name) {
  TORC_RETURN_IF_ERROR(checkBuf(p, count, name));
  return count > 0 ? core::requireHostMemory(p, name) : Status::ok();
}

using core::overlaps;  // device.h

// Input and output either coincide exactly at `inplaceOffset` bytes into the larger buffer, or
// do not overlap: a partial overlap would corrupt the result.
inline Status checkOverlap(const void* in, size_t inBytes, const void* out, size_t outBytes, size_t inplaceOffset,
                           bool inIsLarger) {
  if (in == nullptr || out == nullptr || inBytes == 0 || outBytes == 0) return Status::ok();
  auto i0 = reinterpret_cast<uintptr_t>(in), o0 = reinterpret_cast<uintptr_t>(out);
  bool inplace = inIsLarger ? o0 == i0 + inplaceOffset : i0 == o0 + inplaceOffset;
  if (inplace) return Status::ok();
  if (overlaps(in, inBytes, out, outBytes))
    return Status(Code::kInvalidArgument, "sendbuff and recvbuff overlap without being in place");
  return Status::ok();
}

inline Status checkRank(int r, int nranks, const char* what) {
  if (r < 0 || r >= nranks) return errorf(Code::kInvalidArgument, "%s %d is out of range [0, %d)", what, r, nranks);
  return Status::ok();
}

// Runs op now (request == nullptr: a blocking call), or hands it to the communicator's progress
// thread and makes *request (api_async.cc). op must hold no reference to the caller's stack.
Status launch(torcComm_t comm, torcRequest_t* request, std::function<Status()> op);


inline algos::CollArgs collArgs(algos::Coll c, size_t count) {
  algos::CollArgs a;
  a.coll = c;
  a.count = count;
  return a;
}

}  // namespace torc::api
