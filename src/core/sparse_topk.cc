// Sparse top-k all-reduce: selection, the all-gather route of torcTopkSum, the recursive-doubling
// tree of torcTopkGlobalTree (gTop-k), and the dispatch to the split route (sparse_split.cc) for
// torcTopkSum at scale and torcTopkGlobalExact. Lists travel as one block [k uint32 indices |
// k float32 values], indices ascending; the gather route and the tree append a trailer of
// failure flags (Flags), so that every rank learns of a non-finite input or an overflow from
// the blocks it receives anyway, without a collective of its own.
#include "src/core/sparse_topk.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/sparse.h"
#include "kernels/topk.h"
#include "kernels/topk_functors.h"
#include "src/base/log.h"
#include "src/base/param.h"
#include "src/core/sparse_util.h"

TORC_PARAM_CHOICE(TopkRoute, "TOPK_ROUTE", "auto", "auto|gather|split",
                  "torcTopkSum's route: gather (all-gather of every rank's pairs, then sum), split (sparse "
                  "reduce-scatter by index range, then all-gather of the sums, dense where denser), auto (split "
                  "once all ranks' pairs would outweigh the dense vector: 2 p k > count)");

namespace torc::core {
namespace {

using kernels::DType;
using kernels::RedOp;
using sparse::args;
using sparse::indicesOf;
using sparse::lowestRankWith;
using sparse::Scratch;
using sparse::valuesOf;

Status checkList(const char* block, size_t k, size_t n, int from) {
  return sparse::checkList(indicesOf(block), k, 0, n, from);
}

// The trailer of a block on the gather route and in the tree: the lowest rank whose input held
// Inf or NaN (kNone: none), and whether a merge of the tree overflowed (no rank named: every
// rank computes the last round's merge, so it cannot tell whether a lower one saw it first).
struct Flags {
  static constexpr uint32_t kNone = 0xffffffffu;
  uint32_t badRank = kNone, overflow = 0;
  void add(const Flags& o) {
    badRank = std::min(badRank, o.badRank);
    overflow |= o.overflow;
  }
};
constexpr size_t kFlagBytes = sizeof(Flags);
Flags flagsOf(const std::vector<char>& block) {
  Flags f;
  std::memcpy(&f, block.data() + block.size() - kFlagBytes, kFlagBytes);
  return f;
}
void setFlags(std::vector<char>* block, size_t k, const Flags& f) {
  block->resize(k * 8 + kFlagBytes);
  std::memcpy(block->data() + k * 8, &f, kFlagBytes);
}
Status failure(const Flags& f) {
  if (f.badRank != Flags::kNone)
    return errorf(Code::kInvalidArgument, "rank %u's input (plus its residual) holds Inf or NaN", f.badRank);
  if (f.overflow) return Status(Code::kInvalidArgument, "a sum of selected values overflowed float32");
  return Status::ok();
}

// S_r: this rank's top-k and their values, as a block with a trailer. Where a holds Inf or NaN,
// a well-formed stand-in (indices 0..k-1, values 0) flagged with this rank, and false.
bool selectOwn(const float* a, size_t n, size_t k, int rank, Scratch& sc) {
  sc.mine.resize(k * 8 + kFlagBytes);
  auto* idx = reinterpret_cast<uint32_t*>(sc.mine.data());
  auto* val = reinterpret_cast<float*>(sc.mine.data() + k * sizeof(uint32_t));
  Flags f;
  if (kernels::topkExact(a, n, k, idx, &sc.topk) != kernels::TopkStatus::kOk) {
    for (size_t j = 0; j < k; ++j) idx[j] = static_cast<uint32_t>(j), val[j] = 0.0f;
    f.badRank = static_cast<uint32_t>(rank);
  } else {
    for (size_t j = 0; j < k; ++j) val[j] = a[idx[j]];
  }
  setFlags(&sc.mine, k, f);
  return f.badRank == Flags::kNone;
}

Status topkSum(Comm& c, size_t n, size_t k, float* out, Scratch& sc) {
  const size_t p = static_cast<size_t>(c.nranks()), block = k * 8 + kFlagBytes;
  sc.all.resize(block * p);
  TORC_RETURN_IF_ERROR(
      c.run(args(algos::Coll::kAllGather, block), sc.mine.data(), sc.all.data(), DType::kUint8, RedOp::kSum));
  Flags flags;
  for (size_t r = 0; r < p; ++r) {
    Flags f;
    std::memcpy(&f, sc.all.data() + r * block + k * 8, kFlagBytes);
    flags.add(f);
  }
  TORC_RETURN_IF_ERROR(failure(flags));
  std::vector<const uint32_t*> lists(p);
  std::vector<const float*> values(p);
  for (size_t r = 0; r < p; ++r) {
    const char* b = sc.all.data() + r * block;
    TORC_RETURN_IF_ERROR(checkList(b, k, n, static_cast<int>(r)));
    lists[r] = indicesOf(b);
    values[r] = valuesOf(b, k);
  }
  // Every rank holds the same lists, so each decides alike whether a sum overflows, before
  // out is written: only when the largest magnitudes' sum could reach beyond float32 are the
  // sums formed first in a buffer of their own and looked at.
  double bound = 0;
  for (size_t r = 0; r < p; ++r) {
    float most = 0;
    for (size_t j = 0; j < k; ++j) most = std::max(most, std::fabs(values[r][j]));
    bound += most;
  }
  if (bound >= 0x1p127) {
    sc.acc.resize(n);
    kernels::sumToDense(lists.data(), values.data(), p, k, n, sc.acc.data());
    for (size_t r = 0; r < p; ++r)
      for (size_t j = 0; j < k; ++j)
        if (!std::isfinite(sc.acc[lists[r][j]]))
          return Status(Code::kInvalidArgument, "a sum of selected values overflowed float32");
    std::copy(sc.acc.begin(), sc.acc.begin() + static_cast<ptrdiff_t>(n), out);
    return Status::ok();
  }
  kernels::sumToDense(lists.data(), values.data(), p, k, n, out);
  return Status::ok();
}

// merge_k(lo, hi) = TopK(lo + hi, k): the union of two lists (lo's value first in a sum), then
// its k entries of largest magnitude, ties to the lower index. Written into `into` (a block).
// False when a sum overflowed. The merge counts the magnitudes' top 12 bits as it writes the
// union, which finds the bucket holding the k-th largest; the rest of its bits come from counts
// over that bucket's entries only, and a last pass takes the winners in index order (a general
// top-k of the 2k union cost the tree as much time as the link it saves). The two later passes
// have no branches on the data: 2.9 ms where the merge kernel, a counting pass and branching
// passes took 3.9, for two lists of 1% of 16M.
bool mergeTopk(const char* lo, const char* hi, size_t k, Scratch& sc, std::vector<char>* into) {
  constexpr int kShift = 19;  // 31-bit magnitudes: 4096 buckets
  sc.unionIdx.resize(2 * k);
  sc.unionVal.resize(2 * k);
  sc.hist.assign(1u << (31 - kShift), 0);
  uint32_t* hist = sc.hist.data();
  uint32_t* ui = sc.unionIdx.data();
  float* uv = sc.unionVal.data();
  const uint32_t *ai = indicesOf(lo), *bi = indicesOf(hi);
  const float *av = valuesOf(lo, k), *bv = valuesOf(hi, k);
  size_t i = 0, j = 0, m = 0;
  uint32_t worst = 0;  // largest magnitude: Inf or NaN at or above kInfBits
  auto put = [&](uint32_t ix, float v) {
    const uint32_t mag = kernels::topk::magnitude(v);
    worst = std::max(worst, mag);
    ++hist[mag >> kShift];
    ui[m] = ix;
    uv[m++] = v;
  };
  while (i < k && j < k) {  // branches: the branch-free form measured slower (a longer chain)
    if (ai[i] < bi[j]) {
      put(ai[i], av[i]), ++i;
    } else if (bi[j] < ai[i]) {
      put(bi[j], bv[j]), ++j;
    } else {
      put(ai[i], av[i] + bv[j]), ++i, ++j;
    }
  }
  for (; i < k; ++i) put(ai[i], av[i]);
  for (; j < k; ++j) put(bi[j], bv[j]);
  into->resize(k * 8);
  auto* idx = reinterpret_cast<uint32_t*>(into->data());
  auto* val = reinterpret_cast<float*>(into->data() + k * sizeof(uint32_t));
  if (worst >= kernels::topk::kInfBits) {
    // Still a well-formed list, so that the later rounds run alike everywhere and the failure
    // is reported once all ranks know of it.
    std::copy(ui, ui + k, idx);
    std::copy(uv, uv + k, val);
    return false;
  }
  // The k-th largest magnitude t by a radix descent: its top 12 bits from the merge's counts,
  // then 12 and 7 more from counts over the entries that share the bits found so far; `need`
  // ends as how many entries equal to t are taken (the lowest indices).
  size_t need = k;
  auto descend = [&need](const uint32_t* h, uint32_t buckets) {
    uint32_t b = buckets;
    size_t above = 0;
    while (above + h[b - 1] < need) above += h[--b];
    need -= above;
    return b - 1;
  };
  uint32_t t = descend(hist, static_cast<uint32_t>(sc.hist.size()));
  sc.pos.resize(size_t{hist[t]} + 1);  // the magnitudes sharing t's bits so far
  size_t found = 0;
  for (size_t q = 0; q < m; ++q) {
    const uint32_t mag = kernels::topk::magnitude(uv[q]);
    sc.pos[found] = mag;
    found += (mag >> kShift) == t ? 1 : 0;
  }
  sc.pos.resize(found);
  for (const auto& [shift, bits] : {std::pair{7, 12}, std::pair{0, 7}}) {
    const uint32_t mask = (1u << bits) - 1;
    sc.hist.assign(mask + 1, 0);
    hist = sc.hist.data();
    for (uint32_t mag : sc.pos) ++hist[(mag >> shift) & mask];
    const uint32_t b = descend(hist, mask + 1);
    t = (t << bits) | b;
    size_t kept = 0;
    for (uint32_t mag : sc.pos)
      if (((mag >> shift) & mask) == b) sc.pos[kept++] = mag;
    sc.pos.resize(kept);
  }
  // Locals, not the lambda's captures, so that the loop keeps them in registers.
  const uint32_t kth = t;
  size_t ties = need, out = 0;
  for (size_t q = 0; q < m && out < k; ++q) {
    const uint32_t mag = kernels::topk::magnitude(uv[q]);
    const bool tie = (mag == kth) & (ties > 0);
    idx[out] = ui[q];
    val[out] = uv[q];
    out += (mag > kth) | tie;
    ties -= tie;
  }
  return true;  // out == k: everything above t, and need of those equal to it
}

// Keeps the entries of `alive` (ascending) that are also indices of the block, in place.
void keepSurvivors(std::vector<uint32_t>* alive, const char* block, size_t k) {
  const uint32_t* idx = indicesOf(block);
  size_t kept = 0, j = 0;
  for (uint32_t i : *alive) {
    while (j < k && idx[j] < i) ++j;
    if (j < k && idx[j] == i) (*alive)[kept++] = i;
  }
  alive->resize(kept);
}

// Both directions at once.
Status exchange(Comm& c, int peer, const std::vector<char>& out, std::vector<char>* in) {
  in->resize(out.size());
  return c.run(args(algos::Coll::kSendRecv, out.size(), peer), out.data(), in->data(), DType::kUint8, RedOp::kSum);
}

// gTop-k: recursive doubling over the largest power of two P <= p of ranks, each round
// replacing both partners' lists by merge_k(lower rank's, higher rank's); ranks P..p-1 first
// hand their lists to rank r - P and get the final list back with which of their entries
// survived. A rank's entry survives while its index stays in every list it is merged into.
// The blocks carry Flags, combined at every merge: recursive doubling hands every rank's to
// every other, so the final block's trailer is the same everywhere.
Status topkTree(Comm& c, size_t n, size_t k, std::vector<char>* result, std::vector<uint32_t>* alive, Scratch& sc) {
  const int p = c.nranks(), r = c.rank();
  int P = 1;
  while (P * 2 <= p) P *= 2;
  const size_t block = k * 8 + kFlagBytes;
  std::vector<char>&cur = sc.treeCur, &merged = sc.treeNext, &peerList = sc.treePeer;
  cur.assign(sc.mine.begin(), sc.mine.begin() + static_cast<ptrdiff_t>(block));
  if (r >= P) {  // hand over, then receive the result and the survivors
    const auto send = args(algos::Coll::kSend, cur.size(), r - P);
    TORC_RETURN_IF_ERROR(c.run(send, cur.data(), nullptr, DType::kUint8, RedOp::kSum));
    result->resize(block + k);
    TORC_RETURN_IF_ERROR(
        c.run(args(algos::Coll::kRecv, result->size(), r - P), nullptr, result->data(), DType::kUint8, RedOp::kSum));
    const char* survived = result->data() + block;
    size_t kept = 0;
    for (size_t j = 0; j < k; ++j)
      if (survived[j]) (*alive)[kept++] = (*alive)[j];
    alive->resize(kept);
    result->resize(block);
    return checkList(result->data(), k, n, r - P);
  }
  // merge_k of the lists (lo's values first) into cur, with their flags and this merge's.
  auto mergeInto = [&](const std::vector<char>& lo, const std::vector<char>& hi) {
    Flags f = flagsOf(lo);
    f.add(flagsOf(hi));
    if (!mergeTopk(lo.data(), hi.data(), k, sc, &merged)) f.overflow = 1;
    setFlags(&merged, k, f);
    cur.swap(merged);
  };
  std::vector<uint32_t> extraOriginal, extraAlive;
  const bool hasExtra = r + P < p;
  if (hasExtra) {
    peerList.resize(block);
    TORC_RETURN_IF_ERROR(
        c.run(args(algos::Coll::kRecv, peerList.size(), r + P), nullptr, peerList.data(), DType::kUint8, RedOp::kSum));
    TORC_RETURN_IF_ERROR(checkList(peerList.data(), k, n, r + P));
    extraOriginal.assign(indicesOf(peerList.data()), indicesOf(peerList.data()) + k);
    extraAlive = extraOriginal;
    mergeInto(cur, peerList);
    keepSurvivors(alive, cur.data(), k);
    keepSurvivors(&extraAlive, cur.data(), k);
  }
  for (int d = 1; d < P; d *= 2) {
    const int partner = r ^ d;
    TORC_RETURN_IF_ERROR(exchange(c, partner, cur, &peerList));
    TORC_RETURN_IF_ERROR(checkList(peerList.data(), k, n, partner));
    if (r < partner) {
      mergeInto(cur, peerList);
    } else {
      mergeInto(peerList, cur);
    }
    keepSurvivors(alive, cur.data(), k);
    if (hasExtra) keepSurvivors(&extraAlive, cur.data(), k);
  }
  if (hasExtra) {  // the result, then a flag per entry of the extra rank's list: did it survive?
    std::vector<char> reply(cur);
    reply.resize(block + k, 0);
    for (size_t j = 0; j < k; ++j)
      reply[block + j] = std::binary_search(extraAlive.begin(), extraAlive.end(), extraOriginal[j]) ? 1 : 0;
    TORC_RETURN_IF_ERROR(
        c.run(args(algos::Coll::kSend, reply.size(), r + P), reply.data(), nullptr, DType::kUint8, RedOp::kSum));
  }
  result->swap(cur);
  return Status::ok();
}

}  // namespace

Status sparseTopkAllReduce(Comm& c, TopkMode mode, const float* a, size_t n, size_t k, float* out,
                           std::vector<uint32_t>* delivered, std::vector<uint32_t>* selected) {
  if (selected != nullptr) selected->clear();
  Scratch& sc = sparse::scratch();
  if (mode == TopkMode::kHierarchical) {  // selects from node sums, not from a
    bool finite = true;
    for (size_t i = 0; i < n; ++i) finite &= std::isfinite(a[i]);
    TORC_ASSIGN_OR_RETURN(int badRank, lowestRankWith(c, !finite));
    if (badRank >= 0)
      return errorf(Code::kInvalidArgument, "rank %d's input (plus its residual) holds Inf or NaN", badRank);
    return sparse::hierarchical(c, a, n, k, out, delivered, sc);
  }
  const size_t p = static_cast<size_t>(c.nranks());
  const std::string route = torcParamTopkRoute();
  const bool gatherRoute = route == "gather" || (route == "auto" && 2 * p * k <= n);
  // The gather route and the tree learn of a non-finite input from the blocks they exchange.
  const bool carried = k > 0 && p > 1 && (mode == TopkMode::kGlobalTree || (mode == TopkMode::kSum && gatherRoute));
  const bool finite = selectOwn(a, n, k, c.rank(), sc);
  if (!carried) {
    TORC_ASSIGN_OR_RETURN(int badRank, lowestRankWith(c, !finite));
    if (badRank >= 0)
      return errorf(Code::kInvalidArgument, "rank %d's input (plus its residual) holds Inf or NaN", badRank);
  }
  const auto* own = indicesOf(sc.mine.data());
  delivered->assign(own, own + k);  // the tree narrows this to the entries that survive
  if (k == 0 || p == 1) {  // this rank's list is the result
    const float* val = valuesOf(sc.mine.data(), k);
    kernels::sumToDense(&own, &val, 1, k, n, out);
    if (selected != nullptr) selected->assign(own, own + k);
    return Status::ok();
  }
  if (mode == TopkMode::kSum) {
    if (gatherRoute) return topkSum(c, n, k, out, sc);
    int dense = 0;
    TORC_RETURN_IF_ERROR(sparse::splitSum(c, n, k, out, sc, &dense));
    static thread_local std::pair<size_t, size_t> logged;  // once per shape
    if (c.rank() == 0 && logged != std::make_pair(n, k)) {
      logged = {n, k};
      TORC_INFO(kLogColl, "sparse all-reduce of %zu elements, k %zu on %zu ranks: split route (sparse reduce-scatter "
                "by index range, then all-gather), %d of %zu ranges' sums sent dense, where their pairs would "
                "outweigh them (same bits)", n, k, p, dense, p);
    }
    return Status::ok();
  }
  if (mode == TopkMode::kGlobalExact) {
    std::vector<uint32_t> result;
    TORC_RETURN_IF_ERROR(sparse::splitExact(c, n, k, out, &result, sc));
    std::vector<uint32_t> kept;  // this rank's entries whose index made the global top k
    std::set_intersection(delivered->begin(), delivered->end(), result.begin(), result.end(),
                          std::back_inserter(kept));
    delivered->swap(kept);
    if (selected != nullptr) selected->swap(result);
    return Status::ok();
  }
  std::vector<char>& result = sc.treeResult;
  TORC_RETURN_IF_ERROR(topkTree(c, n, k, &result, delivered, sc));
  TORC_RETURN_IF_ERROR(failure(flagsOf(result)));
  const uint32_t* idx = indicesOf(result.data());
  const float* val = valuesOf(result.data(), k);
  kernels::sumToDense(&idx, &val, 1, k, n, out);
  if (selected != nullptr) selected->assign(idx, idx + k);
  return Status::ok();
}

}  // namespace torc::core
