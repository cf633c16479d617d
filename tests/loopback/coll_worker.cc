// One rank of a loopback test job (started by tests/harness/multiproc through the launcher
// variables). Uses only the public C API. Runs a suite of collectives and checks every
// result: exact expected values for every dtype x op (inputs chosen so any summation order is
// exact), the same bits on every rank, and nothing written outside the output. Exit 0 = pass.
//
//   coll_worker <suite> [big]    suite: allreduce allgather reducescatter broadcast reduce p2p
//                                       floats sparse topk barrier die survive validate
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "include/torc.h"
#include "tests/loopback/worker_check.h"
#include "kernels/functors.h"

namespace {

int gRank = 0, gP = 1, gFailures = 0;
torcComm_t gComm = nullptr;

const torcDataType_t kTypes[] = {torcInt8,  torcUint8,   torcInt32,   torcUint32,  torcInt64,
                                 torcUint64, torcFloat16, torcFloat32, torcFloat64, torcBfloat16};
const torcRedOp_t kOps[] = {torcSum, torcProd, torcMax, torcMin, torcAvg};
const char* kTypeNames[] = {"int8", "uint8", "int32", "uint32", "int64", "uint64", "half", "float", "double", "bf16"};
const char* kOpNames[] = {"sum", "prod", "max", "min", "avg"};

size_t typeSize(torcDataType_t t) {
  switch (t) {
    case torcInt8: case torcUint8: return 1;
    case torcFloat16: case torcBfloat16: return 2;
    case torcInt32: case torcUint32: case torcFloat32: return 4;
    default: return 8;
  }
}
bool isSigned(torcDataType_t t) { return t != torcUint8 && t != torcUint32 && t != torcUint64; }

void store(torcDataType_t t, void* buf, size_t i, double v) {
  using namespace torc::kernels;
  switch (t) {
    case torcInt8: static_cast<int8_t*>(buf)[i] = static_cast<int8_t>(v); break;
    case torcUint8: static_cast<uint8_t*>(buf)[i] = static_cast<uint8_t>(v); break;
    case torcInt32: static_cast<int32_t*>(buf)[i] = static_cast<int32_t>(v); break;
    case torcUint32: static_cast<uint32_t*>(buf)[i] = static_cast<uint32_t>(v); break;
    case torcInt64: static_cast<int64_t*>(buf)[i] = static_cast<int64_t>(v); break;
    case torcUint64: static_cast<uint64_t*>(buf)[i] = static_cast<uint64_t>(v); break;
    case torcFloat16: static_cast<uint16_t*>(buf)[i] = floatToHalf(static_cast<float>(v)); break;
    case torcBfloat16: static_cast<uint16_t*>(buf)[i] = floatToBf16(static_cast<float>(v)); break;
    case torcFloat32: static_cast<float*>(buf)[i] = static_cast<float>(v); break;
    default: static_cast<double*>(buf)[i] = v; break;
  }
}

double load(torcDataType_t t, const void* buf, size_t i) {
  using namespace torc::kernels;
  switch (t) {
    case torcInt8: return static_cast<const int8_t*>(buf)[i];
    case torcUint8: return static_cast<const uint8_t*>(buf)[i];
    case torcInt32: return static_cast<const int32_t*>(buf)[i];
    case torcUint32: return static_cast<const uint32_t*>(buf)[i];
    case torcInt64: return static_cast<double>(static_cast<const int64_t*>(buf)[i]);
    case torcUint64: return static_cast<double>(static_cast<const uint64_t*>(buf)[i]);
    case torcFloat16: return halfToFloat(static_cast<const uint16_t*>(buf)[i]);
    case torcBfloat16: return bf16ToFloat(static_cast<const uint16_t*>(buf)[i]);
    case torcFloat32: return static_cast<const float*>(buf)[i];
    default: return static_cast<const double*>(buf)[i];
  }
}

// Rank r's element i for an op: small integers whose reduction is exact in every type and
// every order (sums stay within int8, products are +-powers of two up to 64, averages divide).
double inputValue(torcRedOp_t op, torcDataType_t t, int r, size_t i) {
  const long li = static_cast<long>(i % 1000003);
  switch (op) {
    case torcSum: return isSigned(t) ? static_cast<double>((r * 3 + li * 7) % 11 - 5) : static_cast<double>((r + li) % 11);
    case torcProd: {
      double v = ((li + r) % 4 == 0 && r < 6) ? 2 : 1;
      return (isSigned(t) && (li + r) % 5 == 0) ? -v : v;
    }
    case torcMax:
    case torcMin: return isSigned(t) ? static_cast<double>((r * 37 + li * 11) % 23 - 11) : static_cast<double>((r * 37 + li * 11) % 23);
    default: {
      // avg: k(i) plus +-1 pairs across ranks that cancel, so the mean is exactly k(i).
      double d = (gP % 2 == 1 && r == gP - 1) ? 0 : (r % 2 == 0 ? 1 : -1);
      return static_cast<double>(6 + li % 5) + d;
    }
  }
}

double expected(torcRedOp_t op, torcDataType_t t, size_t i) {
  double acc = inputValue(op, t, 0, i);
  for (int r = 1; r < gP; ++r) {
    double v = inputValue(op, t, r, i);
    switch (op) {
      case torcSum: case torcAvg: acc += v; break;
      case torcProd: acc *= v; break;
      case torcMax: acc = v > acc ? v : acc; break;
      default: acc = v < acc ? v : acc; break;
    }
  }
  return op == torcAvg ? acc / gP : acc;
}

uint64_t hashBytes(const void* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<const uint8_t*>(p)[i]) * 1099511628211ull;
  return h;
}

// Every rank must hold the same bytes: all-gather the hashes and compare.
void checkSameBits(const void* buf, size_t bytes, const char* what) {
  std::vector<uint64_t> all(static_cast<size_t>(gP));
  uint64_t mine = hashBytes(buf, bytes);
  CHECK_TORC(torcAllGather(&mine, all.data(), 1, torcUint64, gComm, nullptr));
  for (int r = 0; r < gP; ++r)
    if (all[static_cast<size_t>(r)] != mine) {
      fprintf(stderr, "rank %d: %s: rank %d holds different bits\n", gRank, what, r);
      ++gFailures;
      return;
    }
}

// The result must equal `want(i)` exactly for i < n; the guard bytes after it must be untouched.
template <typename Want>
void checkExact(torcDataType_t t, const std::vector<char>& buf, size_t n, Want want, const char* what) {
  std::vector<char> ref(typeSize(t));
  size_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    store(t, ref.data(), 0, want(i));
    if (memcmp(buf.data() + i * typeSize(t), ref.data(), typeSize(t)) != 0) {
      if (bad++ < 3)
        fprintf(stderr, "rank %d: %s: element %zu is %g, expected %g\n", gRank, what, i, load(t, buf.data(), i), want(i));
    }
  }
  for (size_t b = n * typeSize(t); b < buf.size(); ++b)
    if (buf[b] != 0x5a) {
      fprintf(stderr, "rank %d: %s: wrote past the end of the output (byte %zu)\n", gRank, what, b);
      ++bad;
      break;
    }
  if (bad) ++gFailures;
}

std::vector<size_t> sizes(size_t big) {
  std::vector<size_t> s = {0, 1, static_cast<size_t>(gP - 1), static_cast<size_t>(gP + 1), 17};
  if (big) s.push_back(big);
  std::vector<size_t> out;
  for (size_t x : s)
    if (std::find(out.begin(), out.end(), x) == out.end()) out.push_back(x);
  return out;
}

std::vector<char> guarded(size_t bytes) { return std::vector<char>(bytes + 64, 0x5a); }

void suiteAllReduce(size_t big) {
  for (size_t n : sizes(big))
    for (torcDataType_t t : kTypes)
      for (torcRedOp_t op : kOps)
        for (bool inplace : {false, true}) {
          const size_t es = typeSize(t);
          std::vector<char> in(n * es + 1), out = guarded(n * es);
          std::vector<char>& src = inplace ? out : in;
          for (size_t i = 0; i < n; ++i) store(t, src.data(), i, inputValue(op, t, gRank, i));
          CHECK_TORC(torcAllReduce(src.data(), out.data(), n, t, op, gComm, nullptr));
          char what[128];
          snprintf(what, sizeof(what), "allreduce n=%zu %s %s %s", n, kTypeNames[t], kOpNames[op], inplace ? "in-place" : "");
          checkExact(t, out, n, [&](size_t i) { return expected(op, t, i); }, what);
          checkSameBits(out.data(), n * es, what);
        }
}

void suiteAllGather(size_t big) {
  for (size_t n : sizes(big))
    for (torcDataType_t t : kTypes)
      for (bool inplace : {false, true}) {
        const size_t es = typeSize(t), p = static_cast<size_t>(gP);
        std::vector<char> in(n * es + 1), out = guarded(p * n * es);
        char* src = inplace ? out.data() + static_cast<size_t>(gRank) * n * es : in.data();
        for (size_t i = 0; i < n; ++i) store(t, src, i, inputValue(torcMax, t, gRank, i));
        CHECK_TORC(torcAllGather(src, out.data(), n, t, gComm, nullptr));
        char what[128];
        snprintf(what, sizeof(what), "allgather n=%zu %s %s", n, kTypeNames[t], inplace ? "in-place" : "");
        checkExact(t, out, p * n, [&](size_t i) { return inputValue(torcMax, t, static_cast<int>(i / n), i % n); }, what);
      }
}

// Sparse all-gather: every index type x value type; indices that need all 64 bits; values
// exact in every value type; rank r's pairs at [r*k, (r+1)*k) of both outputs, nothing past them.
void suiteSparse(size_t big) {
  const size_t p = static_cast<size_t>(gP);
  auto indexOf = [](torcDataType_t t, int r, size_t i) -> double {
    // int64: beyond 2^32 (exact in a double up to 2^53); uint32: distinct per rank
    return t == torcInt64 ? static_cast<double>((uint64_t{1} << 33) * static_cast<uint64_t>(r + 1) + i * 3)
                          : static_cast<double>(static_cast<uint32_t>(r) * 1000003u + static_cast<uint32_t>(i));
  };
  auto valueOf = [](int r, size_t i) { return static_cast<double>(static_cast<int>((r * 37 + i * 11) % 255) - 127); };
  for (size_t k : sizes(big / 8))
    for (torcDataType_t it : {torcUint32, torcInt64})
      for (torcDataType_t vt : {torcFloat32, torcFloat16, torcBfloat16}) {
        std::vector<char> idx(k * typeSize(it) + 1), val(k * typeSize(vt) + 1);
        for (size_t i = 0; i < k; ++i) {
          store(it, idx.data(), i, indexOf(it, gRank, i));
          store(vt, val.data(), i, valueOf(gRank, i));
        }
        std::vector<char> outIdx = guarded(p * k * typeSize(it)), outVal = guarded(p * k * typeSize(vt));
        CHECK_TORC(torcSparseAllGather(idx.data(), val.data(), k, it, vt, outIdx.data(), outVal.data(), gComm, nullptr));
        char what[128];
        snprintf(what, sizeof(what), "sparse allgather k=%zu %s/%s", k, kTypeNames[it], kTypeNames[vt]);
        checkExact(it, outIdx, p * k, [&](size_t i) { return indexOf(it, static_cast<int>(i / k), i % k); }, what);
        checkExact(vt, outVal, p * k, [&](size_t i) { return valueOf(static_cast<int>(i / k), i % k); }, what);
      }
}

// Sparse all-reduce, every mode, against a reference every rank computes for every rank:
// integer-valued inputs with many equal magnitudes (the tie rule decides), exact sums, the
// residual, conservation over 20 steps, in place, k = 0 .. count, and Inf/NaN refused alike
// on every rank with the buffers untouched.
double topkInput(int r, size_t i, int step) {
  return static_cast<double>(static_cast<int>((static_cast<size_t>(r) * 7919 + i * 104729 + static_cast<size_t>(step) * 31) % 2001) - 1000);
}

std::vector<uint32_t> topkRef(const std::vector<float>& a, size_t k) {
  std::vector<uint32_t> idx(a.size());
  for (size_t i = 0; i < a.size(); ++i) idx[i] = static_cast<uint32_t>(i);
  std::stable_sort(idx.begin(), idx.end(), [&](uint32_t x, uint32_t y) { return std::fabs(a[x]) > std::fabs(a[y]); });
  idx.resize(k);
  return idx;
}

// A sparse list: ascending indices and their values.
struct RefList {
  std::vector<uint32_t> idx;
  std::vector<float> val;
};

// merge_k(lo, hi) as torc.h defines it: union (lo's value first), k largest magnitudes, ties to
// the lower index, back in index order.
RefList refMerge(const RefList& lo, const RefList& hi, size_t k) {
  std::vector<std::pair<uint32_t, float>> u;
  size_t i = 0, j = 0;
  while (i < lo.idx.size() || j < hi.idx.size()) {
    if (j == hi.idx.size() || (i < lo.idx.size() && lo.idx[i] < hi.idx[j])) {
      u.push_back({lo.idx[i], lo.val[i]}), ++i;
    } else if (i == lo.idx.size() || hi.idx[j] < lo.idx[i]) {
      u.push_back({hi.idx[j], hi.val[j]}), ++j;
    } else {
      u.push_back({lo.idx[i], lo.val[i] + hi.val[j]}), ++i, ++j;
    }
  }
  std::stable_sort(u.begin(), u.end(), [](auto& x, auto& y) { return std::fabs(x.second) > std::fabs(y.second); });
  u.resize(k);
  std::sort(u.begin(), u.end());
  RefList out;
  for (auto& [ix, v] : u) out.idx.push_back(ix), out.val.push_back(v);
  return out;
}

// Ranks per node: TORC_TEST_PRETEND_NODES, else torcrun's TORC_LOCAL_NRANKS (on the emulated
// cluster, the ranks of each node), else every rank on one node.
size_t pretendNodeRanks() {
  for (const char* name : {"TORC_TEST_PRETEND_NODES", "TORC_LOCAL_NRANKS"})
    if (const char* k = getenv(name); k != nullptr && atoi(k) > 0) return static_cast<size_t>(atoi(k));
  return static_cast<size_t>(gP);
}

// The whole job's result for a mode, and which of each rank's entries were delivered.
// sel: the indices the mode selects, ascending (k of them; for torcTopkSum the nonzero sums).
void refTopk(torcTopkMode_t mode, const std::vector<std::vector<float>>& a, size_t k, std::vector<float>* want,
             std::vector<std::vector<uint32_t>>* delivered, std::vector<uint32_t>* sel) {
  const size_t p = a.size(), n = a[0].size();
  std::vector<RefList> own(p);
  for (size_t r = 0; r < p; ++r) {
    own[r].idx = topkRef(a[r], k);
    std::sort(own[r].idx.begin(), own[r].idx.end());
    for (uint32_t i : own[r].idx) own[r].val.push_back(a[r][i]);
  }
  want->assign(n, 0.0f);
  delivered->assign(p, {});
  if (mode == torcTopkHierarchical) {  // nodes of R consecutive ranks (TORC_TEST_PRETEND_NODES)
    const size_t R = pretendNodeRanks(), N = p / R;
    auto split = [](size_t len, size_t parts, size_t i) {  // torc's even split: the first len % parts get one more
      const size_t base = len / parts, extra = len % parts;
      return std::make_pair(i * base + std::min(i, extra), base + (i < extra ? 1 : 0));
    };
    for (size_t v = 0; v < N; ++v) {
      std::vector<float> nodeSum(n, 0.0f);
      for (size_t l = 0; l < R; ++l)
        for (size_t i = 0; i < n; ++i) nodeSum[i] += a[v * R + l][i];
      std::vector<uint32_t> chosen;
      for (size_t q = 0; q < R; ++q) {
        const auto [off, len] = split(n, R, q);
        std::vector<float> shard(nodeSum.begin() + static_cast<long>(off), nodeSum.begin() + static_cast<long>(off + len));
        for (uint32_t j : topkRef(shard, split(k, R, q).second)) chosen.push_back(static_cast<uint32_t>(off + j));
      }
      std::sort(chosen.begin(), chosen.end());
      for (uint32_t i : chosen) (*want)[i] += nodeSum[i];
      for (size_t l = 0; l < R; ++l) (*delivered)[v * R + l] = chosen;
    }
    sel->clear();
    for (size_t i = 0; i < n; ++i)
      if ((*want)[i] != 0.0f) sel->push_back(static_cast<uint32_t>(i));
    return;
  }
  if (mode == torcTopkSum || mode == torcTopkGlobalExact || p == 1 || k == 0) {
    for (size_t r = 0; r < p; ++r) {
      for (size_t j = 0; j < k; ++j) (*want)[own[r].idx[j]] += own[r].val[j];
      (*delivered)[r] = own[r].idx;
    }
    sel->clear();
    if (mode == torcTopkSum) {
      for (size_t i = 0; i < n; ++i)
        if ((*want)[i] != 0.0f) sel->push_back(static_cast<uint32_t>(i));
      return;
    }
    if (mode != torcTopkGlobalExact) {  // p = 1 or k = 0: the own list
      *sel = own[0].idx;
      return;
    }
    // The exact top k of the sums, ties to the lower index; every rank keeps what survived.
    std::vector<uint32_t> top = topkRef(*want, k);
    std::sort(top.begin(), top.end());
    std::vector<float> kept(n, 0.0f);
    for (uint32_t i : top) kept[i] = (*want)[i];
    *want = kept;
    *sel = top;
    for (auto& d : *delivered) {
      std::vector<uint32_t> in;
      std::set_intersection(d.begin(), d.end(), top.begin(), top.end(), std::back_inserter(in));
      d = in;
    }
    return;
  }
  size_t P = 1;
  while (P * 2 <= p) P *= 2;
  std::vector<RefList> cur(own.begin(), own.begin() + static_cast<long>(P));
  std::vector<std::vector<uint32_t>> alive(p);
  for (size_t r = 0; r < p; ++r) alive[r] = own[r].idx;
  std::vector<size_t> holder(p);  // whose list a rank's entries currently ride in
  for (size_t r = 0; r < p; ++r) holder[r] = r < P ? r : r - P;
  auto survive = [&](size_t list) {
    for (size_t q = 0; q < p; ++q)
      if (holder[q] == list) {
        std::vector<uint32_t> kept;
        for (uint32_t i : alive[q])
          if (std::binary_search(cur[list].idx.begin(), cur[list].idx.end(), i)) kept.push_back(i);
        alive[q] = kept;
      }
  };
  for (size_t r = P; r < p; ++r) {
    cur[r - P] = refMerge(cur[r - P], own[r], k);
    survive(r - P);
  }
  for (size_t d = 1; d < P; d *= 2) {
    std::vector<RefList> next(cur);
    for (size_t r = 0; r < P; ++r) next[r] = refMerge(cur[std::min(r, r ^ d)], cur[std::max(r, r ^ d)], k);
    cur = next;
    for (size_t r = 0; r < P; ++r) survive(r);
  }
  for (size_t j = 0; j < k; ++j) (*want)[cur[0].idx[j]] = cur[0].val[j];
  *delivered = alive;
  *sel = cur[0].idx;
}

void suiteTopk(size_t big) {
  const int steps = 20;
  // TORC_TEST_TOPK_MODES (e.g. "sum,hier") narrows the modes, for tests of one mode's variants.
  const char* only = getenv("TORC_TEST_TOPK_MODES");
  const char* names[] = {"sum", "exact", "tree", "hier"};
  for (torcTopkMode_t mode : {torcTopkSum, torcTopkGlobalExact, torcTopkGlobalTree, torcTopkHierarchical})
  if (only == nullptr || std::string(only).find(names[mode]) != std::string::npos)
  for (size_t n : {size_t{1}, size_t{17}, static_cast<size_t>(gP + 1), size_t{10007}, big / 10})
    for (size_t k : {size_t{0}, size_t{1}, n / 100, n / 3, n})
      for (bool withResidual : {false, true})
        for (bool inplace : {false, true}) {
          if (n == 0 || (n > 10007 && (inplace || !withResidual))) continue;
          if (mode == torcTopkHierarchical && static_cast<size_t>(gP) % pretendNodeRanks() != 0) continue;
          const int nsteps = n == 10007 && withResidual ? steps : 1;
          const size_t p = static_cast<size_t>(gP);
          std::vector<std::vector<float>> e(p, std::vector<float>(n, 0.0f));  // every rank's residual
          std::vector<double> delivered(n, 0.0), inputs(n, 0.0);             // this rank's, for conservation
          std::vector<float> in(n), out(n), res(n, 0.0f);
          for (int step = 0; step < nsteps; ++step) {
            std::vector<std::vector<float>> a(p, std::vector<float>(n));
            for (size_t r = 0; r < p; ++r)
              for (size_t i = 0; i < n; ++i)
                a[r][i] = static_cast<float>(topkInput(static_cast<int>(r), i, step)) + e[r][i];
            std::vector<float> want;
            std::vector<std::vector<uint32_t>> got;
            std::vector<uint32_t> sel;
            refTopk(mode, a, k, &want, &got, &sel);
            for (size_t r = 0; r < p; ++r)
              if (withResidual) {
                e[r] = a[r];
                for (uint32_t i : got[r]) e[r][i] = 0.0f;
              }
            for (uint32_t i : got[static_cast<size_t>(gRank)]) delivered[i] += a[static_cast<size_t>(gRank)][i];
            for (size_t i = 0; i < n; ++i) {
              in[i] = static_cast<float>(topkInput(gRank, i, step));
              inputs[i] += in[i];
            }
            // The pairs form first, with its own copy of the residual: the same result and residual.
            std::vector<float> pairRes(res), pairVal(n + 1, -1.0f);
            std::vector<int64_t> pairIdx(n + 1, -1);
            size_t pairs = SIZE_MAX;
            const torcDataType_t it = n % 2 ? torcInt64 : torcUint32;
            CHECK_TORC(torcSparseAllReducePairs(in.data(), withResidual ? pairRes.data() : nullptr, n, k, torcFloat32,
                                                mode, pairIdx.data(), it, pairVal.data(), &pairs, gComm, nullptr));
            float* dst = inplace ? in.data() : out.data();
            CHECK_TORC(torcSparseAllReduce(in.data(), withResidual ? res.data() : nullptr, dst, n, k, torcFloat32,
                                           mode, gComm, nullptr));
            size_t bad = pairs != sel.size() || pairRes != res;
            for (size_t j = 0; j < std::min(pairs, sel.size()); ++j) {
              const uint64_t ix = it == torcInt64 ? static_cast<uint64_t>(pairIdx[j])
                                                  : reinterpret_cast<const uint32_t*>(pairIdx.data())[j];
              bad += ix != sel[j] || memcmp(&pairVal[j], &want[sel[j]], sizeof(float)) != 0;
            }
            for (size_t i = 0; i < n; ++i) {
              bad += memcmp(&dst[i], &want[i], sizeof(float)) != 0;
              if (withResidual) bad += res[i] != e[static_cast<size_t>(gRank)][i];
            }
            if (bad) {
              fprintf(stderr, "rank %d: topk mode %d n=%zu k=%zu residual=%d inplace=%d step %d: %zu wrong\n", gRank,
                      static_cast<int>(mode), n, k, withResidual, inplace, step, bad);
              ++gFailures;
            }
          }
          if (withResidual && nsteps > 1)
            for (size_t i = 0; i < n; ++i)
              if (delivered[i] + res[i] != inputs[i]) {
                fprintf(stderr, "rank %d: topk mode %d conservation fails at %zu\n", gRank, static_cast<int>(mode), i);
                ++gFailures;
                break;
              }
        }
  // Nodes with different rank counts: the hierarchical mode refuses alike on every rank.
  if (static_cast<size_t>(gP) % pretendNodeRanks() != 0) {
    std::vector<float> in(100, 1.0f), out(100, 7.0f);
    torcResult_t r = torcSparseAllReduce(in.data(), nullptr, out.data(), 100, 5, torcFloat32, torcTopkHierarchical,
                                         gComm, nullptr);
    if (r != torcInvalidUsage || std::string(torcGetLastError(gComm)).find("same number of ranks") == std::string::npos) {
      fprintf(stderr, "rank %d: hierarchical on unequal nodes: got %s (%s)\n", gRank, torcGetErrorString(r),
              torcGetLastError(gComm));
      ++gFailures;
    }
  }
  // Inf/NaN on the last rank (and rank 1, which must not be the one named): every rank fails
  // the same way in every mode and route (the gather route and the tree learn of it from the
  // blocks they exchange), buffers untouched, comm usable.
  const size_t n = 1000;
  std::vector<float> in(n, 1.0f), out(n, 7.0f), res(n, 2.0f);
  if (gRank == gP - 1) in[n / 2] = gRank % 2 ? NAN : INFINITY;
  if (gRank == 1) in[n / 3] = -INFINITY;
  torcResult_t r;
  for (auto [mode, kk] : {std::pair{torcTopkSum, 10}, {torcTopkSum, 400}, {torcTopkGlobalTree, 10},
                          {torcTopkGlobalExact, 10}}) {
    r = torcSparseAllReduce(in.data(), res.data(), out.data(), n, kk, torcFloat32, mode, gComm, nullptr);
    char want[64];
    snprintf(want, sizeof(want), "rank %d's input", std::min(gP - 1, 1));
    if (r != torcInvalidArgument || std::string(torcGetLastError(gComm)).find(want) == std::string::npos ||
        std::count(out.begin(), out.end(), 7.0f) != static_cast<long>(n) ||
        std::count(res.begin(), res.end(), 2.0f) != static_cast<long>(n)) {
      fprintf(stderr, "rank %d: non-finite input (mode %d, k %d): got %s (%s)\n", gRank, static_cast<int>(mode), kk,
              torcGetErrorString(r), torcGetLastError(gComm));
      ++gFailures;
    }
  }
  in[n / 2] = 1.0f;
  in[n / 3] = 1.0f;
  CHECK_TORC(torcSparseAllReduce(in.data(), res.data(), out.data(), n, 10, torcFloat32, torcTopkSum, gComm, nullptr));
  // Finite inputs whose selected sum overflows: in the tree every round after the first sees it
  // again; every rank fails alike, and the communicator stays usable.
  // TopkSum by both routes (k = 400 of 1000: split), with the output untouched.
  if (gP > 1) {
    std::vector<float> big(n, 1.0f);
    big[n / 3] = 3e38f;
    for (auto [mode, kk] : {std::pair{torcTopkGlobalTree, 10}, {torcTopkGlobalExact, 10}, {torcTopkSum, 10},
                            {torcTopkSum, 400}, {torcTopkHierarchical, 10}}) {
      // Hierarchical: inside a node (loopback) or, with nodes of one rank, between nodes.
      if (mode == torcTopkHierarchical && static_cast<size_t>(gP) % pretendNodeRanks() != 0) continue;
      std::fill(out.begin(), out.end(), 7.0f);
      r = torcSparseAllReduce(big.data(), nullptr, out.data(), n, kk, torcFloat32, mode, gComm, nullptr);
      if (r != torcInvalidArgument || std::string(torcGetLastError(gComm)).find("overflowed") == std::string::npos ||
          std::count(out.begin(), out.end(), 7.0f) != static_cast<long>(n)) {
        fprintf(stderr, "rank %d: overflowing sum (mode %d, k %d): got %s (%s)\n", gRank, static_cast<int>(mode), kk,
                torcGetErrorString(r), torcGetLastError(gComm));
        ++gFailures;
      }
    }
    CHECK_TORC(torcSparseAllReduce(in.data(), res.data(), out.data(), n, 10, torcFloat32, torcTopkGlobalTree, gComm,
                                   nullptr));
  }
}

// float16 and bfloat16: a_r = input + residual rounded to the type, selected and summed in
// float32 as the float32 reference does on the widened a_r, the result rounded once; the
// residual keeps a_r's bits where nothing was delivered. Three steps, every mode, in place
// and not, both pair and dense forms; then a float16 sum beyond 65504 fails alike everywhere.
void suiteTopk16(size_t big) {
  using namespace torc::kernels;
  const char* only = getenv("TORC_TEST_TOPK_MODES");
  const char* names[] = {"sum", "exact", "tree", "hier"};
  const size_t p = static_cast<size_t>(gP);
  for (torcDataType_t dt : {torcFloat16, torcBfloat16})
    for (torcTopkMode_t mode : {torcTopkSum, torcTopkGlobalExact, torcTopkGlobalTree, torcTopkHierarchical}) {
      if (only != nullptr && std::string(only).find(names[mode]) == std::string::npos) continue;
      if (mode == torcTopkHierarchical && p % pretendNodeRanks() != 0) continue;
      for (size_t n : {size_t{17}, size_t{1009}, big / 40})
        for (size_t k : {size_t{1}, n / 100, n / 3}) {
          const bool inplace = k % 2 == 1;
          auto widen = [dt](uint16_t h) { return dt == torcFloat16 ? halfToFloat(h) : bf16ToFloat(h); };
          auto narrow = [dt](float f) { return dt == torcFloat16 ? floatToHalf(f) : floatToBf16(f); };
          std::vector<std::vector<uint16_t>> e(p, std::vector<uint16_t>(n, 0));
          std::vector<uint16_t> in(n), out(n), res(n, 0), pairRes, pairVal(n);
          std::vector<uint32_t> pairIdx(n);
          for (int step = 0; step < 3; ++step) {
            std::vector<std::vector<uint16_t>> a16(p, std::vector<uint16_t>(n));
            std::vector<std::vector<float>> a(p, std::vector<float>(n));
            for (size_t r = 0; r < p; ++r)
              for (size_t i = 0; i < n; ++i) {
                const float x = widen(narrow(static_cast<float>(topkInput(static_cast<int>(r), i, step) * 0.37)));
                a16[r][i] = narrow(x + widen(e[r][i]));
                a[r][i] = widen(a16[r][i]);
              }
            std::vector<float> want;
            std::vector<std::vector<uint32_t>> got;
            std::vector<uint32_t> sel;
            refTopk(mode, a, k, &want, &got, &sel);
            for (size_t r = 0; r < p; ++r) {
              e[r] = a16[r];
              for (uint32_t i : got[r]) e[r][i] = 0;
            }
            for (size_t i = 0; i < n; ++i) in[i] = narrow(static_cast<float>(topkInput(gRank, i, step) * 0.37));
            pairRes = res;
            size_t pairs = SIZE_MAX;
            CHECK_TORC(torcSparseAllReducePairs(in.data(), pairRes.data(), n, k, dt, mode, pairIdx.data(), torcUint32,
                                                pairVal.data(), &pairs, gComm, nullptr));
            uint16_t* dst = inplace ? in.data() : out.data();
            CHECK_TORC(torcSparseAllReduce(in.data(), res.data(), dst, n, k, dt, mode, gComm, nullptr));
            size_t bad = pairs != sel.size() || pairRes != res || res != e[static_cast<size_t>(gRank)];
            for (size_t j = 0; j < std::min(pairs, sel.size()); ++j)
              bad += pairIdx[j] != sel[j] || pairVal[j] != narrow(want[sel[j]]);
            for (size_t i = 0; i < n; ++i) bad += dst[i] != narrow(want[i]);
            checkSameBits(dst, n * sizeof(uint16_t), "topk16 result");
            if (bad) {
              fprintf(stderr, "rank %d: topk %s mode %d n=%zu k=%zu step %d: %zu wrong\n", gRank,
                      dt == torcFloat16 ? "float16" : "bfloat16", static_cast<int>(mode), n, k, step, bad);
              ++gFailures;
            }
          }
        }
    }
  if (gP < 2) return;
  // 40000 + 40000 > 65504: float16 overflow on every rank alike; output and residual untouched.
  const size_t n = 100;
  std::vector<uint16_t> in(n, floatToHalf(1.0f)), out(n, 0x1234), res(n, 0x0001);
  in[42] = floatToHalf(40000.0f);
  for (torcTopkMode_t mode : {torcTopkSum, torcTopkGlobalExact, torcTopkGlobalTree}) {
    torcResult_t r = torcSparseAllReduce(in.data(), res.data(), out.data(), n, 5, torcFloat16, mode, gComm, nullptr);
    if (r != torcInvalidArgument || std::string(torcGetLastError(gComm)).find("overflows float16") == std::string::npos ||
        std::count(out.begin(), out.end(), 0x1234) != static_cast<long>(n) ||
        std::count(res.begin(), res.end(), 0x0001) != static_cast<long>(n)) {
      fprintf(stderr, "rank %d: float16 overflow (mode %d): got %s (%s)\n", gRank, static_cast<int>(mode),
              torcGetErrorString(r), torcGetLastError(gComm));
      ++gFailures;
    }
  }
}

void suiteReduceScatter(size_t big) {
  for (size_t n : sizes(big / 4))
    for (torcDataType_t t : kTypes)
      for (torcRedOp_t op : kOps)
        for (bool inplace : {false, true}) {
          const size_t es = typeSize(t), p = static_cast<size_t>(gP);
          std::vector<char> in = guarded(p * n * es), out = guarded(n * es);
          for (size_t i = 0; i < p * n; ++i) store(t, in.data(), i, inputValue(op, t, gRank, i));
          char* dst = inplace ? in.data() + static_cast<size_t>(gRank) * n * es : out.data();
          CHECK_TORC(torcReduceScatter(in.data(), dst, n, t, op, gComm, nullptr));
          char what[128];
          snprintf(what, sizeof(what), "reducescatter n=%zu %s %s %s", n, kTypeNames[t], kOpNames[op], inplace ? "in-place" : "");
          std::vector<char> got;
          if (inplace) {
            got.assign(dst, dst + n * es);
            got.resize(n * es + 64, 0x5a);
          } else {
            got = out;
          }
          checkExact(t, got, n, [&](size_t i) { return expected(op, t, static_cast<size_t>(gRank) * n + i); }, what);
        }
}

void suiteRooted(size_t big) {
  for (int root : {0, gP - 1})
    for (size_t n : sizes(big / 4))
      for (torcDataType_t t : kTypes) {
        const size_t es = typeSize(t);
        for (bool inplace : {false, true}) {
          std::vector<char> in(n * es + 1), out = guarded(n * es);
          std::vector<char>& src = inplace ? out : in;
          for (size_t i = 0; i < n; ++i) store(t, src.data(), i, inputValue(torcMax, t, gRank, i));
          CHECK_TORC(torcBroadcast(src.data(), out.data(), n, t, root, gComm, nullptr));
          char what[128];
          snprintf(what, sizeof(what), "broadcast root=%d n=%zu %s %s", root, n, kTypeNames[t], inplace ? "in-place" : "");
          checkExact(t, out, n, [&](size_t i) { return inputValue(torcMax, t, root, i); }, what);
        }
        for (torcRedOp_t op : kOps) {
          std::vector<char> in(n * es + 1), out = guarded(n * es);
          for (size_t i = 0; i < n; ++i) store(t, in.data(), i, inputValue(op, t, gRank, i));
          CHECK_TORC(torcReduce(in.data(), out.data(), n, t, op, root, gComm, nullptr));
          char what[128];
          snprintf(what, sizeof(what), "reduce root=%d n=%zu %s %s", root, n, kTypeNames[t], kOpNames[op]);
          if (gRank == root) {
            checkExact(t, out, n, [&](size_t i) { return expected(op, t, i); }, what);
          } else {
            for (char c : out)
              if (c != 0x5a) {
                fprintf(stderr, "rank %d: %s: a non-root output was written\n", gRank, what);
                ++gFailures;
                break;
              }
          }
        }
      }
}

void suiteP2p(size_t big) {
  if (gP < 2) return;
  const int next = (gRank + 1) % gP, prev = (gRank + gP - 1) % gP;
  for (size_t n : sizes(big)) {
    std::vector<int32_t> out(n), in(n + 1, -1);
    for (size_t i = 0; i < n; ++i) out[i] = gRank * 1000 + static_cast<int32_t>(i % 1000);
    for (int rep = 0; rep < 2; ++rep) {  // twice: ordering between the same pair
      if (gRank % 2 == 0) {
        CHECK_TORC(torcSend(out.data(), n, torcInt32, next, gComm, nullptr));
        CHECK_TORC(torcRecv(in.data(), n, torcInt32, prev, gComm, nullptr));
      } else {
        CHECK_TORC(torcRecv(in.data(), n, torcInt32, prev, gComm, nullptr));
        CHECK_TORC(torcSend(out.data(), n, torcInt32, next, gComm, nullptr));
      }
      for (size_t i = 0; i < n; ++i)
        if (in[i] != prev * 1000 + static_cast<int32_t>(i % 1000)) {
          fprintf(stderr, "rank %d: recv n=%zu element %zu is %d\n", gRank, n, i, in[i]);
          ++gFailures;
          break;
        }
      if (in[n] != -1) ++gFailures;
    }
  }
}

// Non-integer floats: bounded error against a float64 reference, and the same bits everywhere.
void suiteFloats(size_t big) {
  const size_t n = big ? big : 4099;
  for (torcDataType_t t : {torcFloat16, torcBfloat16, torcFloat32, torcFloat64}) {
    const double u = t == torcFloat16 ? std::ldexp(1.0, -11) : t == torcBfloat16 ? std::ldexp(1.0, -8)
                     : t == torcFloat32 ? std::ldexp(1.0, -24) : std::ldexp(1.0, -53);
    const size_t es = typeSize(t);
    std::vector<char> in(n * es), out(n * es);
    auto val = [&](int r, size_t i) {
      double x = std::sin(static_cast<double>(r) * 12.9898 + static_cast<double>(i) * 78.233) * 43758.5453;
      return (x - std::floor(x)) * 2 - 1;  // in (-1, 1)
    };
    for (size_t i = 0; i < n; ++i) store(t, in.data(), i, val(gRank, i));
    CHECK_TORC(torcAllReduce(in.data(), out.data(), n, t, torcSum, gComm, nullptr));
    size_t bad = 0;
    for (size_t i = 0; i < n; ++i) {
      double exact = 0, mag = 0;
      std::vector<char> one(es);
      for (int r = 0; r < gP; ++r) {
        store(t, one.data(), 0, val(r, i));  // the value as the type holds it
        double x = load(t, one.data(), 0);
        exact += x;
        mag += std::fabs(x);
      }
      if (std::fabs(load(t, out.data(), i) - exact) > gP * u * mag + 1e-300 && bad++ < 3)
        fprintf(stderr, "rank %d: float sum %s element %zu: %.9g vs exact %.9g\n", gRank, kTypeNames[t], i,
                load(t, out.data(), i), exact);
    }
    if (bad) ++gFailures;
    checkSameBits(out.data(), out.size(), kTypeNames[t]);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: coll_worker <suite> [big]\n");
    return 2;
  }
  const std::string suite = argv[1];
  const size_t big = argc > 2 ? strtoull(argv[2], nullptr, 10) : 0;
  // TORC_TEST_PRETEND_NODES=k: ranks pretend to sit on nodes of k ranks each (their own node
  // identities, so no shared memory between "nodes").
  if (const char* k = getenv("TORC_TEST_PRETEND_NODES"); k != nullptr && getenv("TORC_RANK") != nullptr) {
    const int node = atoi(getenv("TORC_RANK")) / std::max(1, atoi(k));
    setenv("TORC_NODE_ID", ("pretend-node-" + std::to_string(node)).c_str(), 1);
  }
  CHECK_TORC(torcCommInitFromEnv(&gComm));
  CHECK_TORC(torcCommUserRank(gComm, &gRank));
  CHECK_TORC(torcCommCount(gComm, &gP));

  if (suite == "die") {
    // Rank 1 is killed (SIGALRM) while every rank is inside a stream of all-reduces (large
    // unless a count is given); the others must get an error, not hang.
    CHECK_TORC(torcBarrier(gComm, nullptr));
    std::vector<float> x(big ? big : 4 << 20, 1.0f);
    if (gRank == 1) alarm(1);
    torcResult_t r = torcSuccess;
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    // TORC_TEST_ASYNC=1: the same stream as asynchronous requests, three in flight at a time.
    const bool asyncCalls = getenv("TORC_TEST_ASYNC") != nullptr && atoi(getenv("TORC_TEST_ASYNC")) == 1;
    std::vector<float> y(x), z(x);
    while (r == torcSuccess && std::chrono::steady_clock::now() < until) {
      if (!asyncCalls) {
        r = torcAllReduce(x.data(), x.data(), x.size(), torcFloat32, torcAvg, gComm, nullptr);
        continue;
      }
      torcRequest_t q[3] = {nullptr, nullptr, nullptr};
      float* bufs[3] = {x.data(), y.data(), z.data()};
      for (int i = 0; i < 3; ++i)
        CHECK_TORC(torcAllReduceAsync(bufs[i], bufs[i], x.size(), torcFloat32, torcAvg, gComm, &q[i]));
      for (int i = 0; i < 3; ++i) {
        const torcResult_t w = torcWait(q[i]);
        if (r == torcSuccess) r = w;
      }
    }
    fprintf(stdout, "result %d %s\nmessage %s\n", r, torcGetErrorString(r), torcGetLastError(gComm));
    torcResult_t async = torcSuccess;
    torcCommGetAsyncError(gComm, &async);
    fprintf(stdout, "async %d\n", async);
    torcCommAbort(gComm);
    return r == torcSuccess ? 1 : 0;
  }

  if (suite == "hang") {
    // Rank 1 never sends (or, given a count, never joins an all-reduce of that many ints):
    // rank 0 must time out (TORC_TIMEOUT) and name rank 1. Rank 2, if present, aborts its
    // communicator from another thread while blocked.
    std::vector<int> xs(big ? big : 1, 0);
    int* xp = xs.data();
    auto blockingCall = [&] {
      return big ? torcAllReduce(xp, xp, big, torcInt32, torcSum, gComm, nullptr)
                 : torcRecv(xp, 1, torcInt32, 1, gComm, nullptr);
    };
    torcResult_t r = torcSuccess;
    if (gRank == 0) {
      r = blockingCall();
      printf("result %d %s\nmessage %s\n", r, torcGetErrorString(r), torcGetLastError(gComm));
    } else if (gRank == 2) {
      std::thread killer([] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        torcCommAbort(gComm);
      });
      r = blockingCall();
      killer.join();
      printf("result %d %s\n", r, torcGetErrorString(r));
      return r == torcSuccess ? 1 : 0;
    } else {
      sleep(5);  // longer than the others' TORC_TIMEOUT
      return 0;
    }
    torcCommAbort(gComm);
    return r == torcTimeout ? 0 : 1;
  }

  if (suite == "allreduce" || suite == "all") suiteAllReduce(big);
  if (suite == "allgather" || suite == "all") suiteAllGather(big);
  if (suite == "reducescatter" || suite == "all") suiteReduceScatter(big);
  if (suite == "rooted" || suite == "all") suiteRooted(big);
  if (suite == "p2p" || suite == "all") suiteP2p(big);
  if (suite == "floats" || suite == "all") suiteFloats(big);
  if (suite == "sparse" || suite == "all") suiteSparse(big);
  if (suite == "topk" || suite == "all") suiteTopk(big), suiteTopk16(big);
  CHECK_TORC(torcBarrier(gComm, nullptr));
  CHECK_TORC(torcCommDestroy(gComm));
  if (gFailures) fprintf(stderr, "rank %d: %d checks failed\n", gRank, gFailures);
  else printf("rank %d: suite %s passed\n", gRank, suite.c_str());
  return gFailures ? 1 : 0;
}
