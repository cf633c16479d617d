// Exact top-k by magnitude: sample -> threshold -> count -> collect -> select (see topk.h).
#include "kernels/topk.h"
#include "kernels/topk_functors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace torc::kernels {
namespace {

// The arithmetic shared with the CUDA kernels (topk_functors.h).
using topk::indexOf;
using topk::keyOf;
using topk::kInfBits;
using topk::magnitude;

struct Counts {
  size_t atLeast = 0;  // elements with magnitude >= t
  size_t above = 0;    // elements with magnitude > t
  bool nonFinite = false;
};

// One read of x; the loop has no branches, so the compiler vectorises it.
Counts count(const float* x, size_t n, uint32_t t) {
  uint32_t ge = 0, gt = 0, maxMag = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t m = magnitude(x[i]);
    ge += m >= t ? 1u : 0u;
    gt += m > t ? 1u : 0u;
    maxMag = std::max(maxMag, m);
  }
  return {ge, gt, maxMag >= kInfBits};
}

// Bit j of *ge / *gt: whether magnitude(x[j]) >= t / > t, for a block of 16; returns whether
// one of them is Inf or NaN. Magnitudes are below 2^31, so signed compares (which SSE2 has)
// order them, and ge is "> t - 1" (t - 1 >= -1).
constexpr size_t kMaskBlock = 16;
inline bool blockMasks(const float* x, int32_t ts, uint32_t* ge, uint32_t* gt) {
#if defined(__SSE2__)
  const __m128i abs = _mm_set1_epi32(0x7fffffff), below = _mm_set1_epi32(ts - 1), at = _mm_set1_epi32(ts);
  const __m128i finiteMax = _mm_set1_epi32(static_cast<int32_t>(kInfBits - 1));
  uint32_t a = 0, b = 0, bad = 0;
  for (int q = 0; q < 4; ++q) {
    const __m128i m = _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 4 * q)), abs);
    a |= static_cast<uint32_t>(_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpgt_epi32(m, below)))) << (4 * q);
    b |= static_cast<uint32_t>(_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpgt_epi32(m, at)))) << (4 * q);
    bad |= static_cast<uint32_t>(_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpgt_epi32(m, finiteMax))));
  }
  *ge = a, *gt = b;
  return bad != 0;
#else
  uint32_t a = 0, b = 0, maxMag = 0;
  for (size_t j = 0; j < kMaskBlock; ++j) {
    const uint32_t m = magnitude(x[j]);
    a |= m >= static_cast<uint32_t>(ts) ? (1u << j) : 0u;
    b |= m > static_cast<uint32_t>(ts) ? (1u << j) : 0u;
    maxMag = std::max(maxMag, m);
  }
  *ge = a, *gt = b;
  return maxMag >= kInfBits;
#endif
}

// count() and, in the same read, the keys of the elements reaching t in index order, as long as
// there are at most cap of them (keys must hold cap + 1; beyond cap the last slot is rewritten).
// Each block of 16 yields a bit mask of its candidates (blockMasks); only the set bits are
// visited. (The same masks built by a plain loop, left to the vectoriser, took 13 ms for 16M
// floats where a counting loop takes 4.)
Counts countAndCollect(const float* x, size_t n, uint32_t t, uint64_t* keys, size_t cap) {
  size_t ge = 0, gt = 0;
  bool nonFinite = false;
  const int32_t ts = static_cast<int32_t>(t);
  auto take = [&](size_t i) {
    const uint32_t m = magnitude(x[i]);
    keys[ge < cap ? ge : cap] = keyOf(m, i);
    ++ge;
    gt += m > t ? 1 : 0;
  };
  size_t i = 0;
  for (; i + kMaskBlock <= n; i += kMaskBlock) {
    uint32_t atLeast, above;
    nonFinite |= blockMasks(x + i, ts, &atLeast, &above);
    if (atLeast == 0) continue;
    if (ge > cap) {  // overflowed already (t too low, or ties): only count from here on
      ge += static_cast<size_t>(__builtin_popcount(atLeast));
      gt += static_cast<size_t>(__builtin_popcount(above));
      continue;
    }
    for (uint32_t mask = atLeast; mask != 0; mask &= mask - 1) take(i + static_cast<size_t>(__builtin_ctz(mask)));
  }
  for (; i < n; ++i) {
    nonFinite |= magnitude(x[i]) >= kInfBits;
    if (magnitude(x[i]) >= t) take(i);
  }
  return {ge, gt, nonFinite};
}

// The tie rule at t: every element above t, and the first `need` (lowest indices) equal to t,
// in index order. Masks per block of 16 as in countAndCollect.
void takeWithTies(const float* x, size_t n, uint32_t t, size_t need, uint32_t* indices) {
  const int32_t ts = static_cast<int32_t>(t);
  size_t out = 0;
  auto take = [&](size_t i) {
    const uint32_t m = magnitude(x[i]);
    if (m > t || need > 0) {
      need -= m == t ? 1 : 0;
      indices[out++] = static_cast<uint32_t>(i);
    }
  };
  size_t i = 0;
  for (; i + kMaskBlock <= n; i += kMaskBlock) {
    uint32_t atLeast, above;
    blockMasks(x + i, ts, &atLeast, &above);
    for (uint32_t mask = need > 0 ? atLeast : above; mask != 0; mask &= mask - 1)
      take(i + static_cast<size_t>(__builtin_ctz(mask)));
  }
  for (; i < n; ++i)
    if (magnitude(x[i]) >= t) take(i);
}

// Every element ranked: small inputs, and the last resort.
void selectAll(const float* x, size_t n, size_t k, uint32_t* indices, std::vector<uint64_t>* keys) {
  keys->resize(n);
  for (size_t i = 0; i < n; ++i) (*keys)[i] = keyOf(magnitude(x[i]), i);
  if (k < n) std::nth_element(keys->begin(), keys->begin() + static_cast<ptrdiff_t>(k), keys->end(), std::greater<>());
  for (size_t j = 0; j < k; ++j) indices[j] = indexOf((*keys)[j]);
  std::sort(indices, indices + k);
}

// The magnitudes of a strided sample of s elements (strided reads miss the cache: done once).
void takeSample(const float* x, size_t n, size_t s, std::vector<uint32_t>* sample) {
  sample->resize(s);
  const size_t step = n / s;
  for (size_t j = 0; j < s; ++j) (*sample)[j] = magnitude(x[j * step]);
}

// The magnitude with the given rank (0 = largest) in the sample (which it reorders).
uint32_t sampleThreshold(std::vector<uint32_t>* sample, size_t rank) {
  std::nth_element(sample->begin(), sample->begin() + static_cast<ptrdiff_t>(rank), sample->end(), std::greater<>());
  return (*sample)[rank];
}

}  // namespace

TopkStatus topkExact(const float* x, size_t n, size_t k, uint32_t* indices, TopkScratch* scratch) {
  TopkScratch local;
  TopkScratch& sc = scratch != nullptr ? *scratch : local;
  sc.path = TopkScratch::Path::kAll;
  sc.thresholds = 0;
  if (k == 0 || k == n || n <= 65536) {
    if (count(x, n, kInfBits).nonFinite) return TopkStatus::kNonFinite;
    if (k == n) {
      for (size_t i = 0; i < n; ++i) indices[i] = static_cast<uint32_t>(i);
    } else if (k > 0) {
      selectAll(x, n, k, indices, &sc.keys);
    }
    return TopkStatus::kOk;
  }
  // Enough samples that about 64 of them lie above the k-th largest (fewer for large k).
  const size_t s = std::clamp<size_t>(64 * (n / k), 16384, n / 2);
  const double expect = static_cast<double>(s) * static_cast<double>(k) / static_cast<double>(n);
  // Aim a few standard deviations low, so that usually at least k elements reach t.
  size_t rank = std::min<size_t>(s - 1, static_cast<size_t>(expect + 3 * std::sqrt(expect) + 2));
  const size_t cap = 2 * k + 4096;  // candidates we are willing to select among
  // Sample ranks known to give too few candidates (threshold too high) or too many; the next
  // try goes between them, so a misleading sample costs a bisection, not a full ranking.
  size_t tooHigh = 0, tooLow = 0;
  bool haveHigh = false, haveLow = false;
  takeSample(x, n, s, &sc.sample);
  sc.keys.resize(2 * cap + 2);
  uint64_t* keys = sc.keys.data();  // candidates in index order, then a working copy
  for (int attempt = 0; attempt < 24; ++attempt) {
    const uint32_t t = sampleThreshold(&sc.sample, rank);
    ++sc.thresholds;
    // One read: count, and collect the candidates while they fit.
    const Counts c = countAndCollect(x, n, t, keys, cap);
    if (c.nonFinite) return TopkStatus::kNonFinite;
    if (c.atLeast < k) {  // t too high: fewer than k candidates
      tooHigh = rank, haveHigh = true;
      const size_t next = haveLow ? (rank + tooLow) / 2 : std::min(s - 1, 2 * rank + 16);
      if (next <= rank) break;
      rank = next;
      continue;
    }
    if (c.above <= k && c.atLeast > cap) {
      // Many magnitudes equal t: everything above t, then the lowest indices equal to t.
      sc.path = TopkScratch::Path::kTies;
      takeWithTies(x, n, t, k - c.above, indices);
      return TopkStatus::kOk;
    }
    if (c.atLeast > cap) {  // t too low: more than k above it, too many candidates
      tooLow = rank, haveLow = true;
      const size_t next = haveHigh ? (tooHigh + rank) / 2 : rank / 4;
      if (next >= rank || (haveHigh && next <= tooHigh)) break;
      rank = next;
      continue;
    }
    // k <= candidates <= cap, all collected: select exactly among them.
    sc.path = TopkScratch::Path::kThreshold;
    const size_t got = c.atLeast;
    // The k-th largest key, found in a copy; then the candidates at or above it, still in
    // index order (keys are unique, so exactly k), with no sort of the k indices.
    uint64_t* work = keys + cap + 1;
    std::copy(keys, keys + got, work);
    std::nth_element(work, work + (k - 1), work + got, std::greater<>());
    const uint64_t kth = work[k - 1];
    size_t out = 0;
    for (size_t j = 0; j < got; ++j)
      if (keys[j] >= kth) indices[out++] = indexOf(keys[j]);
    return TopkStatus::kOk;
  }
  selectAll(x, n, k, indices, &sc.keys);
  return TopkStatus::kOk;
}

TopkStatus topkThreshold(const float* x, size_t n, size_t k, uint32_t* indices, TopkBracket* bracket,
                         TopkScratch* scratch) {
  TopkScratch local;
  TopkScratch& sc = scratch != nullptr ? *scratch : local;
  auto asFloat = [](uint32_t mag) {
    float f;
    std::memcpy(&f, &mag, sizeof(f));
    return f;
  };
  auto exact = [&]() {  // topkExact's set: lo = hi = the k-th largest magnitude
    const TopkStatus st = topkExact(x, n, k, indices, &sc);
    if (st != TopkStatus::kOk || bracket == nullptr) return st;
    uint32_t m = 0;
    if (k > 0) {
      m = kInfBits;
      for (size_t j = 0; j < k; ++j) m = std::min(m, magnitude(x[indices[j]]));
    } else {
      for (size_t i = 0; i < n; ++i) m = std::max(m, magnitude(x[i]));
    }
    bracket->lo = bracket->hi = asFloat(m);
    return st;
  };
  if (k == 0 || k == n || n <= 65536) return exact();
  // The sample of topkExact, and ranks a few standard deviations either side of where the k-th
  // largest should fall: fewer than k lie above the upper threshold, more than k at the lower.
  const size_t s = std::clamp<size_t>(64 * (n / k), 16384, n / 2);
  const double expect = static_cast<double>(s) * static_cast<double>(k) / static_cast<double>(n);
  const double margin = 3 * std::sqrt(expect) + 2;
  const size_t rankLo = std::min<size_t>(s - 1, static_cast<size_t>(expect + margin));
  const size_t rankHi = expect > margin ? static_cast<size_t>(expect - margin) : 0;
  takeSample(x, n, s, &sc.sample);
  const uint32_t tLo = sampleThreshold(&sc.sample, rankLo);
  // After that partition the first rankLo entries are the larger ones: tHi is among them.
  std::nth_element(sc.sample.begin(), sc.sample.begin() + static_cast<ptrdiff_t>(rankHi),
                   sc.sample.begin() + static_cast<ptrdiff_t>(rankLo), std::greater<>());
  const uint32_t tHi = std::max(tLo, sc.sample[rankHi]);
  sc.thresholds = 2;
  const size_t cap = 2 * k + 4096;
  sc.keys.resize(cap + 1);
  const Counts c = countAndCollect(x, n, tLo, sc.keys.data(), cap);
  if (c.nonFinite) return TopkStatus::kNonFinite;
  if (c.atLeast < k || c.atLeast > cap) return exact();
  size_t above = 0;
  for (size_t j = 0; j < c.atLeast; ++j) above += (sc.keys[j] >> 32) > tHi ? 1 : 0;
  if (above > k) return exact();
  // Everything above tHi and the lowest-index candidates at or below it: candidates are in
  // index order, so one walk writes the indices ascending.
  size_t fill = k - above, out = 0;
  for (size_t j = 0; j < c.atLeast && out < k; ++j) {
    const bool high = (sc.keys[j] >> 32) > tHi;
    if (high || fill > 0) {
      fill -= high ? 0 : 1;
      indices[out++] = indexOf(sc.keys[j]);
    }
  }
  sc.path = TopkScratch::Path::kBracket;
  if (bracket != nullptr) {
    bracket->lo = asFloat(tLo);
    bracket->hi = asFloat(tHi);
  }
  return TopkStatus::kOk;
}

TopkStatus topkReference(const float* x, size_t n, size_t k, uint32_t* indices) {
  std::vector<uint64_t> keys(n);
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) return TopkStatus::kNonFinite;
    keys[i] = keyOf(magnitude(x[i]), i);
  }
  std::sort(keys.begin(), keys.end(), std::greater<>());
  for (size_t j = 0; j < k; ++j) indices[j] = indexOf(keys[j]);
  std::sort(indices, indices + k);
  return TopkStatus::kOk;
}

}  // namespace torc::kernels
