// The split route of the sparse all-reduce (sparse_util.h): a sparse reduce-scatter by index
// range, then either the owners' sums gathered (torcTopkSum) or an exact global top-k of them
// (torcTopkGlobalExact).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "src/algos/plan.h"
#include "src/core/sparse_util.h"

namespace torc::core::sparse {
namespace {

using kernels::DType;
using kernels::RedOp;

// acc[0..len) += a block of m entries from rank `from`. Adding a dense block's zeros changes no
// bit: acc starts at +0 and a sum that starts at +0 is never -0, so the result has the bits of
// adding the pairs alone.
Status accumulate(const char* block, size_t m, size_t off, size_t len, float* acc, int from) {
  if (denseForm(m, len)) {
    kernels::reduce(DType::kFloat32, RedOp::kSum, acc, acc, block, len);
    return Status::ok();
  }
  const uint32_t* idx = indicesOf(block);
  TORC_RETURN_IF_ERROR(checkList(idx, m, off, off + len, from));
  const float* val = valuesOf(block, m);
  for (size_t j = 0; j < m; ++j) acc[idx[j] - off] += val[j];
  return Status::ok();
}

// The sparse reduce-scatter: sc.acc = this rank's range of sum over ranks of S_r.
Status reduceScatter(Comm& c, size_t n, size_t k, Scratch& sc) {
  const int p = c.nranks(), r = c.rank();
  const auto P = static_cast<size_t>(p);
  const uint32_t* idx = indicesOf(sc.mine.data());
  const float* val = valuesOf(sc.mine.data(), k);
  std::vector<size_t> first(P + 1);
  std::vector<uint32_t> mine(P), counts;
  for (size_t q = 0; q <= P; ++q) {
    const size_t lo = q < P ? algos::evenSplit(n, p, static_cast<int>(q)).off : n;
    first[q] = static_cast<size_t>(std::lower_bound(idx, idx + k, lo) - idx);
  }
  for (size_t q = 0; q < P; ++q) mine[q] = static_cast<uint32_t>(first[q + 1] - first[q]);
  TORC_RETURN_IF_ERROR(gatherCounts(c, mine.data(), P, &counts));  // counts[q * p + x]: q's entries in x's range
  for (size_t q = 0; q < P; ++q) {
    size_t total = 0;
    for (size_t x = 0; x < P; ++x) total += counts[q * P + x];
    if (total != k)
      return errorf(Code::kInvalidUsage, "rank %zu selected %zu entries where this rank selected %zu (do all ranks "
                    "pass the same count and k?)", q, total, k);
  }
  const algos::Range own = algos::evenSplit(n, p, r);
  sc.send.resize(P);
  std::vector<const char*> send(P, nullptr);
  std::vector<size_t> sendBytes(P, 0), recvBytes(P, 0);
  for (size_t q = 0; q < P; ++q) {
    if (static_cast<int>(q) == r) continue;
    const algos::Range range = algos::evenSplit(n, p, static_cast<int>(q));
    encode(idx + first[q], val + first[q], mine[q], range.off, range.len, &sc.send[q]);
    send[q] = sc.send[q].data();
    sendBytes[q] = sc.send[q].size();
    recvBytes[q] = blockBytes(counts[q * P + static_cast<size_t>(r)], own.len);
  }
  TORC_RETURN_IF_ERROR(exchangeRounds(c, send, sendBytes, recvBytes, &sc.recv));
  sc.acc.assign(own.len, 0.0f);
  for (size_t q = 0; q < P; ++q) {  // rank order, as summing the gathered lists would
    if (static_cast<int>(q) == r) {
      for (size_t j = first[q]; j < first[q + 1]; ++j) sc.acc[idx[j] - own.off] += val[j];
      continue;
    }
    TORC_RETURN_IF_ERROR(accumulate(sc.recv[q].data(), counts[q * P + static_cast<size_t>(r)], own.off, own.len,
                                    sc.acc.data(), static_cast<int>(q)));
  }
  return Status::ok();
}

// Gathers every owner's m[q] entries of its range (this rank's: idx/val, m[r] of them) into
// out, dense (zero elsewhere); `asPairs` keeps every block in pair form (its indices are
// wanted), else a block goes dense where that is smaller. Indices, ascending, into *result
// when given (pair form only).
Status gatherOwners(Comm& c, size_t n, const uint32_t* idx, const float* val, const std::vector<uint32_t>& m,
                    bool asPairs, float* out, std::vector<uint32_t>* result, Scratch& sc) {
  const int p = c.nranks(), r = c.rank();
  const auto P = static_cast<size_t>(p);
  auto bytesOf = [&](size_t q, size_t len) { return asPairs ? m[q] * size_t{8} : blockBytes(m[q], len); };
  const algos::Range own = algos::evenSplit(n, p, r);
  std::vector<char>& block = sc.send.empty() ? sc.send.emplace_back() : sc.send[0];
  const size_t mr = m[static_cast<size_t>(r)];
  if (asPairs) {
    block.resize(mr * 8);
    std::memcpy(block.data(), idx, mr * sizeof(uint32_t));
    std::memcpy(block.data() + mr * sizeof(uint32_t), val, mr * sizeof(float));
  } else {
    encode(idx, val, mr, own.off, own.len, &block);
  }
  std::vector<const char*> send(P, block.data());
  std::vector<size_t> sendBytes(P, block.size()), recvBytes(P, 0);
  for (size_t q = 0; q < P; ++q) recvBytes[q] = bytesOf(q, algos::evenSplit(n, p, static_cast<int>(q)).len);
  TORC_RETURN_IF_ERROR(exchangeRounds(c, send, sendBytes, recvBytes, &sc.recv));
  // Everything is received and checked: only now is out written (it may be this rank's input).
  auto blockOf = [&](size_t q) { return static_cast<int>(q) == r ? block.data() : sc.recv[q].data(); };
  for (size_t q = 0; q < P; ++q) {
    const algos::Range range = algos::evenSplit(n, p, static_cast<int>(q));
    if (asPairs || !denseForm(m[q], range.len))
      TORC_RETURN_IF_ERROR(checkList(indicesOf(blockOf(q)), m[q], range.off, range.off + range.len, static_cast<int>(q)));
  }
  for (size_t q = 0; q < P; ++q) {
    const algos::Range range = algos::evenSplit(n, p, static_cast<int>(q));
    const char* b = blockOf(q);
    const bool dense = !asPairs && denseForm(m[q], range.len);
    decode(b, m[q], dense, range.off, range.len, out);
    if (result != nullptr && !dense) result->insert(result->end(), indicesOf(b), indicesOf(b) + m[q]);
  }
  return Status::ok();
}

// (magnitude, index) as one key, larger = preferred: magnitude bits above, the complement of the
// index below (the lower index wins a tie). Every key is distinct.
uint64_t keyOf(float v, uint32_t i) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  return (static_cast<uint64_t>(bits & 0x7fffffffu) << 32) | (0xffffffffu - i);
}

}  // namespace

Status splitSum(Comm& c, size_t n, size_t k, float* out, Scratch& sc, int* denseSlices) {
  TORC_RETURN_IF_ERROR(reduceScatter(c, n, k, sc));
  // This range's nonzero sums: an entry whose sum is +0 reads the same as one nobody selected.
  const algos::Range own = algos::evenSplit(n, c.nranks(), c.rank());
  compactNonzero(sc.acc.data(), own.off, own.len, &sc.unionIdx, &sc.unionVal);
  std::vector<uint32_t> all;
  TORC_RETURN_IF_ERROR(gatherSumCounts(c, sc.unionVal, "a sum of selected values", &all));
  *denseSlices = 0;
  for (int q = 0; q < c.nranks(); ++q)
    *denseSlices += denseForm(all[static_cast<size_t>(q)], algos::evenSplit(n, c.nranks(), q).len);
  return gatherOwners(c, n, sc.unionIdx.data(), sc.unionVal.data(), all, false, out, nullptr, sc);
}

Status splitExact(Comm& c, size_t n, size_t k, float* out, std::vector<uint32_t>* result, Scratch& sc) {
  TORC_RETURN_IF_ERROR(reduceScatter(c, n, k, sc));
  const algos::Range own = algos::evenSplit(n, c.nranks(), c.rank());
  // This range's candidates: its own top k (the global top k is among the ranges' top k's): the
  // top k of its nonzero sums, or all of them and the lowest-index zeros when there are fewer.
  compactNonzero(sc.acc.data(), own.off, own.len, &sc.unionIdx, &sc.unionVal);
  const size_t nz = sc.unionIdx.size();
  bool finite = true;
  for (float v : sc.unionVal) finite &= std::isfinite(v);
  TORC_ASSIGN_OR_RETURN(int overflowRank, lowestRankWith(c, !finite));
  if (overflowRank >= 0)
    return errorf(Code::kInvalidArgument, "a sum of selected values overflowed float32 (seen first by rank %d)",
                  overflowRank);
  std::vector<uint32_t>& candIdx = sc.pos;
  std::vector<uint64_t>& keys = sc.keys;
  candIdx.clear();
  keys.clear();
  if (nz > k) {
    sc.top.resize(k);
    kernels::topkExact(sc.unionVal.data(), nz, k, sc.top.data(), &sc.topk);
    for (uint32_t j : sc.top) candIdx.push_back(sc.unionIdx[j]);
  } else {
    candIdx = sc.unionIdx;
    for (size_t j = 0, want = std::min(k, own.len) - nz; j < own.len && want > 0; ++j)
      if (sc.acc[j] == 0.0f) candIdx.push_back(static_cast<uint32_t>(own.off + j)), --want;
  }
  for (uint32_t i : candIdx) keys.push_back(keyOf(sc.acc[i - own.off], i));
  // Radix search for the k-th largest key over every rank's candidates, a byte at a time from
  // the top: all-reduced histograms of the candidates that match the prefix found so far. It
  // stops early once a whole bucket is exactly what is still needed.
  uint64_t prefix = 0;
  uint64_t need = k;
  std::vector<uint64_t> hist(256), sum(256);
  for (int shift = 56; shift >= 0; shift -= 8) {
    std::fill(hist.begin(), hist.end(), 0);
    const uint64_t high = shift == 56 ? 0 : ~uint64_t{0} << (shift + 8);
    for (uint64_t key : keys)
      if ((key & high) == prefix) ++hist[(key >> shift) & 0xff];
    TORC_RETURN_IF_ERROR(
        c.run(args(algos::Coll::kAllReduce, 256), hist.data(), sum.data(), DType::kUint64, RedOp::kSum));
    int b = 255;
    while (b > 0 && sum[static_cast<size_t>(b)] < need) need -= sum[static_cast<size_t>(b--)];
    prefix |= static_cast<uint64_t>(b) << shift;
    if (sum[static_cast<size_t>(b)] == need) break;  // every key >= prefix is in, exactly k
  }
  sc.unionIdx.clear();
  for (size_t j = 0; j < keys.size(); ++j)
    if (keys[j] >= prefix) sc.unionIdx.push_back(candIdx[j]);
  std::sort(sc.unionIdx.begin(), sc.unionIdx.end());
  sc.unionVal.clear();
  for (uint32_t i : sc.unionIdx) sc.unionVal.push_back(sc.acc[i - own.off]);
  const auto m = static_cast<uint32_t>(sc.unionIdx.size());
  std::vector<uint32_t> all;
  TORC_RETURN_IF_ERROR(gatherCounts(c, &m, 1, &all));
  size_t total = 0;
  for (uint32_t x : all) total += x;
  if (total != k) return errorf(Code::kInternalError, "the global top-k search found %zu entries, not %zu", total, k);
  result->clear();
  return gatherOwners(c, n, sc.unionIdx.data(), sc.unionVal.data(), all, true, out, result, sc);
}

}  // namespace torc::core::sparse
