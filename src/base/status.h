// Status and Result<T>: how every internal function reports failure. The codes map one to one
// onto torcResult_t at the C boundary (src/core/api.cc); no exception is used for control flow.
#pragma once

#include <cstdarg>
#include <string>
#include <utility>
#include <variant>

namespace torc {

// Same numbers as torcResult_t.
enum class Code : int {
  kOk = 0,
  kCudaError = 1,
  kSystemError = 2,
  kInternalError = 3,
  kInvalidArgument = 4,
  kInvalidUsage = 5,
  kRemoteError = 6,
  kInProgress = 7,
  kTimeout = 8,
  kOverflow = 9,
};

const char* codeName(Code c);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return Status(); }

  bool isOk() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string toString() const;  // "invalid argument: count overflows size_t"
  // Prefixes context to the message: "bootstrap: " + message.
  Status withContext(const std::string& context) const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// printf-style constructors: errorf(Code::kInvalidArgument, "root %d out of range", root).
Status errorf(Code code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
Status errorv(Code code, const char* fmt, va_list ap);
// A system error with strerror(err) appended.
Status sysError(int err, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT
  bool isOk() const { return v_.index() == 0; }
  const Status& status() const {
    static const Status kOk;
    return isOk() ? kOk : std::get<1>(v_);
  }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace torc

#define TORC_STATUS_CONCAT_(a, b) a##b
#define TORC_STATUS_CONCAT(a, b) TORC_STATUS_CONCAT_(a, b)

#define TORC_RETURN_IF_ERROR(expr)                                        \
  do {                                                                    \
    ::torc::Status torc_status_ = (expr);                                 \
    if (!torc_status_.isOk()) return torc_status_;                        \
  } while (0)

// TORC_ASSIGN_OR_RETURN(auto x, makeX()): unwraps a Result<T> or returns its Status.
#define TORC_ASSIGN_OR_RETURN(lhs, expr)                                                \
  auto TORC_STATUS_CONCAT(torc_result_, __LINE__) = (expr);                             \
  if (!TORC_STATUS_CONCAT(torc_result_, __LINE__).isOk())                               \
    return TORC_STATUS_CONCAT(torc_result_, __LINE__).status();                         \
  lhs = std::move(TORC_STATUS_CONCAT(torc_result_, __LINE__)).value()
