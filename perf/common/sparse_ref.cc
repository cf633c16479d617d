#include "perf/common/sparse_ref.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <functional>

#include "perf/common/bench.h"

namespace torc::perf {

size_t sparseK(size_t count, double density) {
  if (count == 0) return 0;
  return std::clamp<size_t>(static_cast<size_t>(density * static_cast<double>(count)), 1, count);
}

void fillSparseInput(float* buf, size_t n, int rank, uint64_t seed) {
  for (size_t i = 0; i < n; ++i) {
    uint64_t h = (seed + 0x9e3779b97f4a7c15ull * (i + 1)) ^ (static_cast<uint64_t>(rank) * 0xbf58476d1ce4e5b9ull);
    h ^= h >> 31;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 29;
    buf[i] = static_cast<float>(static_cast<int64_t>(h & ((1u << 18) - 1)) - (1 << 17));
  }
}

namespace {

struct List {
  std::vector<uint32_t> idx;
  std::vector<float> val;
};

uint64_t keyOf(float v, uint32_t i) {  // larger magnitude first, then the lower index
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  return (static_cast<uint64_t>(bits & 0x7fffffffu) << 32) | (0xffffffffu - i);
}

// The k largest (by key) of (idx, val) pairs, back in index order.
List topOf(const std::vector<uint32_t>& idx, const std::vector<float>& val, size_t k) {
  std::vector<std::pair<uint64_t, size_t>> keys(idx.size());
  for (size_t j = 0; j < idx.size(); ++j) keys[j] = {keyOf(val[j], idx[j]), j};
  if (k < keys.size())
    std::nth_element(keys.begin(), keys.begin() + static_cast<ptrdiff_t>(k), keys.end(), std::greater<>());
  keys.resize(std::min(k, keys.size()));
  std::sort(keys.begin(), keys.end(), [&](auto& x, auto& y) { return idx[x.second] < idx[y.second]; });
  List out;
  for (auto& kv : keys) out.idx.push_back(idx[kv.second]), out.val.push_back(val[kv.second]);
  return out;
}

List merge(const List& lo, const List& hi, size_t k) {  // TopK(lo + hi), lo's value added first
  std::vector<uint32_t> idx;
  std::vector<float> val;
  size_t i = 0, j = 0;
  while (i < lo.idx.size() || j < hi.idx.size()) {
    if (j == hi.idx.size() || (i < lo.idx.size() && lo.idx[i] < hi.idx[j])) {
      idx.push_back(lo.idx[i]), val.push_back(lo.val[i++]);
    } else if (i == lo.idx.size() || hi.idx[j] < lo.idx[i]) {
      idx.push_back(hi.idx[j]), val.push_back(hi.val[j++]);
    } else {
      idx.push_back(lo.idx[i]), val.push_back(lo.val[i++] + hi.val[j++]);
    }
  }
  return topOf(idx, val, k);
}

}  // namespace

void sparseExpected(SparseMode mode, int nranks, size_t count, size_t k, uint64_t seed, float* want) {
  std::fill(want, want + count, 0.0f);
  std::vector<float> x(count);
  std::vector<uint32_t> all(count);
  for (size_t i = 0; i < count; ++i) all[i] = static_cast<uint32_t>(i);
  std::vector<List> own(static_cast<size_t>(nranks));
  for (int q = 0; q < nranks; ++q) {
    fillSparseInput(x.data(), count, q, seed);
    own[static_cast<size_t>(q)] = topOf(all, x, k);
  }
  if (mode == SparseMode::kHierarchical) {  // nodes of R consecutive ranks (torcrun's TORC_LOCAL_NRANKS)
    const char* env = std::getenv("TORC_LOCAL_NRANKS");
    const int R = env != nullptr && std::atoi(env) > 0 ? std::atoi(env) : nranks;
    auto split = [](size_t len, size_t parts, size_t i) {  // torc's even split
      const size_t base = len / parts, extra = len % parts;
      return std::make_pair(i * base + std::min(i, extra), base + (i < extra ? 1 : 0));
    };
    std::vector<float> nodeSum(count);
    std::vector<uint32_t> rangeIdx;
    for (int v = 0; v < nranks / R; ++v) {
      std::fill(nodeSum.begin(), nodeSum.end(), 0.0f);
      for (int l = 0; l < R; ++l) {
        fillSparseInput(x.data(), count, v * R + l, seed);
        for (size_t i = 0; i < count; ++i) nodeSum[i] += x[i];
      }
      for (size_t q = 0; q < static_cast<size_t>(R); ++q) {
        const auto [off, len] = split(count, static_cast<size_t>(R), q);
        rangeIdx.assign(all.begin() + static_cast<ptrdiff_t>(off), all.begin() + static_cast<ptrdiff_t>(off + len));
        const List top = topOf(rangeIdx, std::vector<float>(nodeSum.begin() + static_cast<ptrdiff_t>(off),
                                                            nodeSum.begin() + static_cast<ptrdiff_t>(off + len)),
                               split(k, static_cast<size_t>(R), q).second);
        for (size_t j = 0; j < top.idx.size(); ++j) want[top.idx[j]] += top.val[j];
      }
    }
    return;
  }
  if (mode == SparseMode::kSum || mode == SparseMode::kGlobalExact || nranks == 1) {
    for (auto& l : own)
      for (size_t j = 0; j < l.idx.size(); ++j) want[l.idx[j]] += l.val[j];
    if (mode != SparseMode::kGlobalExact) return;
    const List top = topOf(all, std::vector<float>(want, want + count), k);  // of the sums
    std::fill(want, want + count, 0.0f);
    for (size_t j = 0; j < top.idx.size(); ++j) want[top.idx[j]] = top.val[j];
    return;
  }
  size_t P = 1;
  while (P * 2 <= own.size()) P *= 2;
  std::vector<List> cur(own.begin(), own.begin() + static_cast<ptrdiff_t>(P));
  for (size_t r = P; r < own.size(); ++r) cur[r - P] = merge(cur[r - P], own[r], k);
  for (size_t d = 1; d < P; d *= 2) {
    std::vector<List> next(P);
    for (size_t r = 0; r < P; ++r) next[r] = merge(cur[std::min(r, r ^ d)], cur[std::max(r, r ^ d)], k);
    cur.swap(next);
  }
  for (size_t j = 0; j < cur[0].idx.size(); ++j) want[cur[0].idx[j]] = cur[0].val[j];
}

}  // namespace torc::perf
