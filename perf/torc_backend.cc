#include "perf/torc_backend.h"

namespace torc::perf {

std::string TorcBackend::version() const {
  int code = 0;
  if (torcGetVersion(&code) != torcSuccess) return "?";
  return std::to_string(code / 10000) + "." + std::to_string(code / 100 % 100) + "." + std::to_string(code % 100);
}

bool TorcBackend::check(torcResult_t rc, const char* call) {
  if (rc == torcSuccess) return true;
  error_ = std::string(call) + ": " + torcGetErrorString(rc);
  const char* detail = torcGetLastError(comm_);
  if (detail != nullptr && *detail != '\0') error_ += std::string(" (") + detail + ")";
  return false;
}

bool TorcBackend::init() {
  return check(torcCommInitFromEnv(&comm_), "torcCommInitFromEnv") &&
         check(torcCommUserRank(comm_, &rank_), "torcCommUserRank") &&
         check(torcCommCount(comm_, &nranks_), "torcCommCount");
}

bool TorcBackend::barrier() { return check(torcBarrier(comm_, nullptr), "torcBarrier"); }

bool TorcBackend::run(Coll coll, const void* send, void* recv, size_t count, DType t, RedOp op, int root) {
  const auto dt = static_cast<torcDataType_t>(t);
  const auto rop = static_cast<torcRedOp_t>(op);
  switch (coll) {
    case Coll::kAllReduce:
      return check(torcAllReduce(send, recv, count, dt, rop, comm_, nullptr), "torcAllReduce");
    case Coll::kAllGather:
      return check(torcAllGather(send, recv, count, dt, comm_, nullptr), "torcAllGather");
    case Coll::kReduceScatter:
      return check(torcReduceScatter(send, recv, count, dt, rop, comm_, nullptr), "torcReduceScatter");
    case Coll::kBroadcast:
      return check(torcBroadcast(send, recv, count, dt, root, comm_, nullptr), "torcBroadcast");
    case Coll::kReduce:
      return check(torcReduce(send, recv, count, dt, rop, root, comm_, nullptr), "torcReduce");
  }
  error_ = "unknown collective";
  return false;
}

bool TorcBackend::runSparse(const void* send, void* recv, size_t count, size_t k, SparseMode mode) {
  return check(torcSparseAllReduce(send, nullptr, recv, count, k, torcFloat32, static_cast<torcTopkMode_t>(mode),
                                   comm_, nullptr),
               "torcSparseAllReduce");
}

void TorcBackend::finalize() {
  if (comm_ != nullptr) (void)check(torcCommDestroy(comm_), "torcCommDestroy");
  comm_ = nullptr;
}

void TorcBackend::abort() {
  if (comm_ != nullptr) (void)torcCommAbort(comm_);
  comm_ = nullptr;
}

}  // namespace torc::perf
