// topkExact equals the sort-based reference on every input shape the sampling
// could get wrong: random magnitudes, heavy ties at the threshold, all-equal
// input, signs, zeros of both signs, tiny and huge k, and refuses non-finite
// input.
#include "kernels/topk.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace torc::kernels {
namespace {

std::vector<uint32_t> exact(const std::vector<float>& x, size_t k, TopkScratch* sc) {
  std::vector<uint32_t> idx(k, 0xdeadbeef);
  EXPECT_EQ(topkExact(x.data(), x.size(), k, idx.data(), sc), TopkStatus::kOk);
  return idx;
}

std::vector<uint32_t> reference(const std::vector<float>& x, size_t k) {
  std::vector<uint32_t> idx(k);
  EXPECT_EQ(topkReference(x.data(), x.size(), k, idx.data()), TopkStatus::kOk);
  return idx;
}

using Path = TopkScratch::Path;

// Checks every k against the reference; returns the paths the calls took.
std::vector<Path> expectSame(const std::vector<float>& x, const std::vector<size_t>& ks, const char* what,
                             int* maxThresholds = nullptr) {
  TopkScratch sc;
  std::vector<Path> paths;
  for (size_t k : ks) {
    if (k > x.size()) continue;
    EXPECT_EQ(exact(x, k, &sc), reference(x, k)) << what << ", n " << x.size() << ", k " << k;
    paths.push_back(sc.path);
    if (maxThresholds != nullptr) *maxThresholds = std::max(*maxThresholds, sc.thresholds);
  }
  return paths;
}

bool took(const std::vector<Path>& paths, Path p) { return std::find(paths.begin(), paths.end(), p) != paths.end(); }

TEST(TopkExact, RandomNormalEveryK) {
  std::mt19937 rng(7);
  std::normal_distribution<float> d(0.f, 1.f);
  for (size_t n : {1u, 2u, 17u, 1000u, 65536u, 65537u, 300001u, 1u << 21}) {
    std::vector<float> x(n);
    for (auto& v : x) v = d(rng);
    auto paths = expectSame(x, {0, 1, 2, n / 1000, n / 100, n / 10, n / 2, n - 1, n}, "normal");
    if (n == 1u << 21) {
      EXPECT_TRUE(took(paths, Path::kThreshold));  // the fast path is the one tested
    }
  }
}

TEST(TopkExact, NegativesWinByMagnitude) {
  std::vector<float> x(200000);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 1000) * (i % 2 ? -1.f : 1.f);
  x[123457] = -1e6f;
  auto idx = exact(x, 1, nullptr);
  ASSERT_EQ(idx, std::vector<uint32_t>{123457});
  expectSame(x, {1, 10, 200, 2000, 20000}, "signed");
}

TEST(TopkExact, TiesGoToLowerIndices) {
  // Few distinct magnitudes: the k-th largest is shared by many elements.
  std::mt19937 rng(11);
  for (int distinct : {1, 2, 3, 16}) {
    std::vector<float> x(150000);
    for (auto& v : x) v = static_cast<float>(rng() % distinct) * ((rng() & 1) ? 1.f : -1.f);
    auto paths = expectSame(x, {1, 7, 150, 1500, 15000, 75000, 149999}, "ties");
    EXPECT_TRUE(took(paths, Path::kTies)) << distinct << " distinct magnitudes";
  }
  std::vector<float> ones(100000, 1.f);
  auto idx = exact(ones, 5, nullptr);
  EXPECT_EQ(idx, (std::vector<uint32_t>{0, 1, 2, 3, 4}));
}

TEST(TopkExact, SignedZerosAreEqual) {
  std::vector<float> x(70000, 0.f);
  for (size_t i = 0; i < x.size(); i += 2) x[i] = -0.f;
  x[69999] = 1e-30f;
  auto idx = exact(x, 3, nullptr);
  EXPECT_EQ(idx, (std::vector<uint32_t>{0, 1, 69999}));
}

TEST(TopkExact, SampleMisleadsButResultStaysExact) {
  // The strided sample sees only small values; the large ones hide between
  // sample points.
  const size_t n = 1 << 20;
  std::vector<float> x(n, 1.f);
  for (size_t i = 1; i < n; i += 64) x[i] = 1000.f + static_cast<float>(i % 977);
  int tries = 0;
  expectSame(x, {1, 100, 1000, 16000, 16384, 16385, 20000}, "adversarial", &tries);
  EXPECT_GT(tries, 1) << "the misleading sample should have forced a second threshold";
  // And the opposite: the sample sees only the large values.
  std::vector<float> y(n, 1.f);
  for (size_t i = 0; i < n; ++i)
    if (i % 32 == 0) y[i] = 5.f + static_cast<float>(i % 7);
  expectSame(y, {1, 10, 1000, 32768, 40000}, "dense-sample");
}

TEST(TopkExact, MostlyZerosNeedNoFullRanking) {
  // What a sparse all-reduce returns fed back in: exactly k (or a few times k) non-zeros. The
  // sample is mostly zeros, so thresholds alternate between too high and too low; bracketing
  // must find one without falling back to ranking every element.
  const size_t n = 1 << 21;
  std::mt19937 rng(13);
  for (size_t nonzeros : {size_t{20000}, size_t{41943}, size_t{80000}}) {
    std::vector<float> x(n, 0.0f);
    for (size_t j = 0; j < nonzeros; ++j) x[rng() % n] = static_cast<float>(rng() % 1000 + 1);
    TopkScratch sc;
    for (size_t k : {size_t{20000}, size_t{n / 100}}) {
      std::vector<uint32_t> idx(k);
      ASSERT_EQ(topkExact(x.data(), n, k, idx.data(), &sc), TopkStatus::kOk);
      EXPECT_EQ(idx, reference(x, k)) << nonzeros << " non-zeros, k " << k;
      EXPECT_NE(sc.path, Path::kAll) << nonzeros << " non-zeros, k " << k << ", " << sc.thresholds << " thresholds";
    }
  }
}

TEST(TopkExact, RefusesNonFinite) {
  for (float bad : {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                    std::numeric_limits<float>::quiet_NaN()}) {
    for (size_t n : {10u, 100000u}) {
      std::vector<float> x(n, 1.f);
      x[n / 3] = bad;
      std::vector<uint32_t> idx(5);
      for (size_t k : {size_t{0}, size_t{5}}) {
        EXPECT_EQ(topkExact(x.data(), n, k, idx.data(), nullptr), TopkStatus::kNonFinite) << bad << " n " << n;
        EXPECT_EQ(topkReference(x.data(), n, k, idx.data()), TopkStatus::kNonFinite);
      }
    }
  }
}

}  // namespace
}  // namespace torc::kernels

namespace torc::kernels {
namespace {

// topkThreshold's promise (topk.h) on x: exactly k indices, ascending, distinct; every selected
// |x| >= lo, every other |x| <= hi, lo <= hi; and it differs from the exact TopK only by
// elements whose magnitudes lie in [lo, hi]. Returns the path taken.
Path expectBracketed(const std::vector<float>& x, size_t k, const char* what) {
  TopkScratch sc;
  TopkBracket b{-1.0f, -1.0f};
  std::vector<uint32_t> idx(k, 0xdeadbeef);
  EXPECT_EQ(topkThreshold(x.data(), x.size(), k, idx.data(), &b, &sc), TopkStatus::kOk) << what;
  EXPECT_TRUE(std::is_sorted(idx.begin(), idx.end()) && std::adjacent_find(idx.begin(), idx.end()) == idx.end())
      << what << ": indices not ascending and distinct";
  EXPECT_LE(b.lo, b.hi) << what;
  std::vector<char> chosen(x.size(), 0);
  for (uint32_t i : idx) {
    if (i >= x.size()) {
      ADD_FAILURE() << what << ": index " << i << " out of range";
      return sc.path;
    }
    chosen[i] = 1;
  }
  size_t bad = 0;
  for (size_t i = 0; i < x.size(); ++i) bad += chosen[i] ? std::fabs(x[i]) < b.lo : std::fabs(x[i]) > b.hi;
  EXPECT_EQ(bad, 0u) << what << ", k " << k << ": elements on the wrong side of [" << b.lo << ", " << b.hi << "]";
  for (uint32_t i : reference(x, k))
    if (!chosen[i]) {
      EXPECT_GE(std::fabs(x[i]), b.lo) << what << ": a top-k element below the bracket";
    }
  if (sc.path != Path::kBracket) {
    EXPECT_EQ(idx, reference(x, k)) << what << ": the fallback is the exact set";
  }
  return sc.path;
}

TEST(TopkThreshold, BracketHoldsAndTheFastPathRuns) {
  std::mt19937 rng(21);
  std::normal_distribution<float> d(0.f, 1.f);
  for (size_t n : {1u, 1000u, 65537u, 300001u, 1u << 21}) {
    std::vector<float> x(n);
    for (auto& v : x) v = d(rng);
    for (size_t k : {size_t{0}, size_t{1}, n / 1000, n / 100, n / 10, n - 1, n}) {
      if (k > n) continue;
      const Path path = expectBracketed(x, k, "normal");
      if (n == 1u << 21 && (k == n / 1000 || k == n / 100)) {
        EXPECT_EQ(path, Path::kBracket) << "k " << k;
      }
    }
  }
}

TEST(TopkThreshold, TiesZerosAndMisleadingSamplesKeepThePromise) {
  std::mt19937 rng(5);
  std::vector<float> ties(300000);
  for (auto& v : ties) v = static_cast<float>(rng() % 3) * ((rng() & 1) ? 1.f : -1.f);
  for (size_t k : {size_t{7}, size_t{3000}, size_t{150000}}) expectBracketed(ties, k, "ties");
  std::vector<float> hidden(1 << 20, 1.f);  // the strided sample sees none of the large values
  for (size_t i = 1; i < hidden.size(); i += 64) hidden[i] = 1000.f + static_cast<float>(i % 977);
  for (size_t k : {size_t{100}, size_t{16384}, size_t{20000}}) expectBracketed(hidden, k, "hidden");
  std::vector<float> sparse(1 << 21, 0.0f);
  for (size_t j = 0; j < 41943; ++j) sparse[rng() % sparse.size()] = static_cast<float>(rng() % 1000 + 1);
  expectBracketed(sparse, 20000, "mostly zeros");
  std::vector<float> x(100000, 1.f);
  x[777] = std::numeric_limits<float>::quiet_NaN();
  std::vector<uint32_t> idx(10);
  EXPECT_EQ(topkThreshold(x.data(), x.size(), 10, idx.data(), nullptr, nullptr), TopkStatus::kNonFinite);
}

}  // namespace
}  // namespace torc::kernels
