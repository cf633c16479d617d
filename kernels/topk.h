// Top-k selection by magnitude, the first step of sparse (top-k) collectives.
//
// TopK(x, k) is the set of the k indices with the largest |x[i]|; among equal
// magnitudes the lower index wins (so every rank, and every method, selects the
// same set). -0 and +0 have the same magnitude. Non-finite input (Inf or NaN)
// is refused, never silently selected.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace torc::kernels {

enum class TopkStatus { kOk, kNonFinite };

// Buffers reused between calls (grown as needed, never shrunk).
struct TopkScratch {
  std::vector<uint32_t> sample;
  std::vector<uint64_t> keys;
  // How the last call finished (for tests and benchmarks): every element ranked
  // (small input, or the last resort), candidates at or above a sampled
  // threshold, or the tie rule at it.
  enum class Path { kAll, kThreshold, kTies, kBracket } path = Path::kAll;
  int thresholds = 0;  // thresholds tried by the last call
};

// Exact: writes TopK(x, k) to indices[0..k) in ascending index order. Requires
// k <= n and n < 2^32. Method: a deterministic sample of the magnitudes picks a
// threshold t just below the k-th largest; one counting pass checks that
// between k and a few k elements reach t (and finds non-finite values); a
// second pass collects those, and an exact selection among them (ties by index)
// finishes. A bad threshold is retried with a wider one, and as a last resort
// every element is ranked, so the result never depends on the sample: only the
// time does.
TopkStatus topkExact(const float* x, size_t n, size_t k, uint32_t* indices, TopkScratch* scratch);

// What topkThreshold's selection guarantees, as magnitudes lo <= hi: every
// selected element has |x| >= lo and every element left out has |x| <= hi, so
// everything above hi is selected and nothing below lo; between them the
// lowest indices are taken. lo == hi: the selection is exactly TopK.
struct TopkBracket {
  float lo = 0.0f;
  float hi = 0.0f;
};

// Threshold (MSTopK-style) selection, for when speed matters more than the
// exact set: exactly k indices, ascending. Two thresholds from the same sample
// as topkExact bracket the k-th largest magnitude; one read of x collects the
// candidates at or above the lower one; the result is every candidate above
// the upper one plus the lowest-index candidates between, with no selection
// among the candidates (what topkExact spends its remaining time on). When the
// sample's bracket misses (too few candidates, too many, or more than k above
// the upper threshold), or for small inputs, it returns topkExact's result with
// lo == hi. *bracket (may be null) receives the guarantee. Same limits as
// topkExact; non-finite input is refused.
TopkStatus topkThreshold(const float* x, size_t n, size_t k, uint32_t* indices, TopkBracket* bracket,
                         TopkScratch* scratch);

// The reference the tests compare against: a full sort by (magnitude desc,
// index asc).
TopkStatus topkReference(const float* x, size_t n, size_t k, uint32_t* indices);

}  // namespace torc::kernels
