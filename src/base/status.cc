#include "src/base/status.h"

#include <cstdio>
#include <cstring>

namespace torc {

const char* codeName(Code c) {
  switch (c) {
    case Code::kOk: return "no error";
    case Code::kCudaError: return "unhandled cuda error";
    case Code::kSystemError: return "system error";
    case Code::kInternalError: return "internal error";
    case Code::kInvalidArgument: return "invalid argument";
    case Code::kInvalidUsage: return "invalid usage";
    case Code::kRemoteError: return "remote process exited or there was a network error";
    case Code::kInProgress: return "operation in progress";
    case Code::kTimeout: return "timeout";
    case Code::kOverflow: return "numeric overflow";
  }
  return "unknown result code";
}

std::string Status::toString() const {
  if (isOk()) return "ok";
  return std::string(codeName(code_)) + ": " + message_;
}

Status Status::withContext(const std::string& context) const {
  if (isOk()) return *this;
  return Status(code_, context + ": " + message_);
}

Status errorv(Code code, const char* fmt, va_list ap) {
  char buf[1024];
  vsnprintf(buf, sizeof(buf), fmt, ap);
  return Status(code, buf);
}

Status errorf(Code code, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  Status s = errorv(code, fmt, ap);
  va_end(ap);
  return s;
}

Status sysError(int err, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  Status s = errorv(Code::kSystemError, fmt, ap);
  va_end(ap);
  return Status(Code::kSystemError, s.message() + ": " + strerror(err));
}

}  // namespace torc
