#include "src/core/sparse_util.h"

#include <algorithm>
#include <cmath>
#include <cstring>

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

Status exchangeGroup(Comm& c, const std::vector<int>& group, size_t me, const std::vector<const char*>& send,
                     const std::vector<size_t>& sendBytes, const std::vector<size_t>& recvBytes,
                     std::vector<std::vector<char>>* recv) {
  const size_t g = group.size();
  static const char kNothing = 0;
  recv->resize(g);
  for (size_t s = 1; s < g; ++s) {
    const size_t to = (me + s) % g, from = (me + g - s) % g;
    std::vector<char>& in = (*recv)[from];
    in.resize(recvBytes[from]);
    algos::CollArgs a = args(algos::Coll::kSendRecv, sendBytes[to], group[to]);
    a.recvPeer = group[from];
    a.recvCount = recvBytes[from];
    char* into = in.empty() ? const_cast<char*>(&kNothing) : in.data();
    TORC_RETURN_IF_ERROR(c.run(a, sendBytes[to] ? send[to] : &kNothing, into, DType::kUint8, RedOp::kSum));
  }
  return Status::ok();
}

Status exchangeRounds(Comm& c, const std::vector<const char*>& send, const std::vector<size_t>& sendBytes,
                      const std::vector<size_t>& recvBytes, std::vector<std::vector<char>>* recv) {
  std::vector<int> all(static_cast<size_t>(c.nranks()));
  for (size_t r = 0; r < all.size(); ++r) all[r] = static_cast<int>(r);
  return exchangeGroup(c, all, static_cast<size_t>(c.rank()), send, sendBytes, recvBytes, recv);
}

bool denseForm(size_t m, size_t len) { return 2 * m > len; }
size_t blockBytes(size_t m, size_t len) { return denseForm(m, len) ? len * sizeof(float) : m * 8; }

void encode(const uint32_t* idx, const float* val, size_t m, size_t off, size_t len, std::vector<char>* block) {
  block->resize(blockBytes(m, len));
  if (denseForm(m, len)) {
    auto* d = reinterpret_cast<float*>(block->data());
    std::fill(d, d + len, 0.0f);
    for (size_t j = 0; j < m; ++j) d[idx[j] - off] = val[j];
  } else {
    std::memcpy(block->data(), idx, m * sizeof(uint32_t));
    std::memcpy(block->data() + m * sizeof(uint32_t), val, m * sizeof(float));
  }
}

void decode(const char* block, size_t m, bool dense, size_t off, size_t len, float* out) {
  if (dense) {
    std::memcpy(out + off, block, len * sizeof(float));
    return;
  }
  std::fill(out + off, out + off + len, 0.0f);
  const uint32_t* idx = indicesOf(block);
  const float* val = valuesOf(block, m);
  for (size_t j = 0; j < m; ++j) out[idx[j]] = val[j];
}

Status gatherCounts(Comm& c, const uint32_t* mine, size_t per, std::vector<uint32_t>* all) {
  all->resize(per * static_cast<size_t>(c.nranks()));
  return c.run(args(algos::Coll::kAllGather, per), mine, all->data(), DType::kUint32, RedOp::kSum);
}

Status gatherSumCounts(Comm& c, const std::vector<float>& sums, const char* what, std::vector<uint32_t>* counts) {
  bool finite = true;
  for (float v : sums) finite &= std::isfinite(v);
  const uint32_t mine[2] = {static_cast<uint32_t>(sums.size()), finite ? 0u : 1u};
  std::vector<uint32_t> both;
  TORC_RETURN_IF_ERROR(gatherCounts(c, mine, 2, &both));
  counts->resize(static_cast<size_t>(c.nranks()));
  for (size_t q = 0; q < counts->size(); ++q) {
    if (both[2 * q + 1] != 0)
      return errorf(Code::kInvalidArgument, "%s overflowed float32 (seen first by rank %zu)", what, q);
    (*counts)[q] = both[2 * q];
  }
  return Status::ok();
}

void compactNonzero(const float* acc, size_t off, size_t len, std::vector<uint32_t>* idx, std::vector<float>* val) {
  idx->clear();
  val->clear();
  for (size_t j = 0; j < len; ++j) {
    uint32_t bits;
    std::memcpy(&bits, &acc[j], sizeof(bits));
    if (bits == 0) continue;
    idx->push_back(static_cast<uint32_t>(off + j));
    val->push_back(acc[j]);
  }
}

}  // namespace torc::core::sparse
