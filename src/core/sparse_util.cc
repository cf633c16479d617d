#include "src/core/sparse_util.h"

namespace torc::core::sparse {

using kernels::DType;
using kernels::RedOp;

Scratch& scratch() {
  static thread_local Scratch s;
  return s;
}

algos::CollArgs args(algos::Coll coll, size_t count, int peer) {
  algos::CollArgs a;
  a.coll = coll;
  a.count = count;
  a.peer = peer;
  return a;
}

Result<int> lowestRankWith(Comm& c, bool bad) {
  int32_t mine = bad ? c.rank() : c.nranks(), lowest = 0;
  TORC_RETURN_IF_ERROR(c.run(args(algos::Coll::kAllReduce, 1), &mine, &lowest, DType::kInt32, RedOp::kMin));
  return lowest < c.nranks() ? lowest : -1;
}

Status checkList(const uint32_t* idx, size_t k, size_t lo, size_t hi, int from) {
  for (size_t j = 0; j < k; ++j)
    if (idx[j] < lo || idx[j] >= hi || (j > 0 && idx[j] <= idx[j - 1]))
      return errorf(Code::kInvalidUsage,
                    "rank %d sent a malformed index list (do all ranks pass the same count and k?)", from);
  return Status::ok();
}

Status exchangeRounds(Comm& c, const std::vector<const char*>& send, const std::vector<size_t>& sendBytes,
                      const std::vector<size_t>& recvBytes, std::vector<std::vector<char>>* recv) {
  const int p = c.nranks(), r = c.rank();
  static const char kNothing = 0;
  recv->resize(static_cast<size_t>(p));
  for (int s = 1; s < p; ++s) {
    const auto to = static_cast<size_t>((r + s) % p), from = static_cast<size_t>((r - s + p) % p);
    std::vector<char>& in = (*recv)[from];
    in.resize(recvBytes[from]);
    algos::CollArgs a = args(algos::Coll::kSendRecv, sendBytes[to], static_cast<int>(to));
    a.recvPeer = static_cast<int>(from);
    a.recvCount = recvBytes[from];
    char* into = in.empty() ? const_cast<char*>(&kNothing) : in.data();
    TORC_RETURN_IF_ERROR(c.run(a, sendBytes[to] ? send[to] : &kNothing, into, DType::kUint8, RedOp::kSum));
  }
  return Status::ok();
}

}  // namespace torc::core::sparse
