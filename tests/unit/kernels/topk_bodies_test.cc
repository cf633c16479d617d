// The per-thread bodies the CUDA top-k and scatter-add kernels run (kernels/topk_functors.h),
// run here on the CPU for every thread of grids of several sizes, composed the way
// cuda/sparse_kernels.cu composes them (count, exclusive scan, ordered collect, sort, take),
// against the sort-based reference. No GPU needed: this checks the indexing, not the device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/sparse.h"
#include "kernels/topk.h"
#include "kernels/topk_functors.h"

namespace torc::kernels {
namespace {

// Every thread of the grid, in a scrambled order (bodies must not depend on the order).
void forEachThread(size_t nthreads, const std::function<void(size_t)>& body) {
  std::vector<size_t> order(nthreads);
  for (size_t t = 0; t < nthreads; ++t) order[t] = t;
  std::shuffle(order.begin(), order.end(), std::mt19937(static_cast<unsigned>(nthreads)));
  for (size_t t : order) body(t);
}

// The device method for threshold t, on the CPU: candidates reaching t (their keys, in index
// order), then the k largest keys' indices, ascending. Empty if fewer than k reach t.
std::vector<uint32_t> selectWithBodies(const std::vector<float>& x, size_t k, uint32_t t, size_t nthreads) {
  const size_t n = x.size();
  std::vector<uint32_t> ge(nthreads, 7), gt(nthreads, 7), mx(nthreads, 7), offset(nthreads);
  forEachThread(nthreads, [&](size_t tid) { topk::countBody(tid, nthreads, x.data(), n, t, ge.data(), gt.data(), mx.data()); });
  uint32_t total = 0;
  for (size_t i = 0; i < nthreads; ++i) offset[i] = total, total += ge[i];
  if (total < k) return {};
  std::vector<uint64_t> keys(total + 1, 0xdeadbeefull);
  forEachThread(nthreads, [&](size_t tid) { topk::collectBody(tid, nthreads, x.data(), n, t, offset.data(), keys.data()); });
  EXPECT_EQ(keys[total], 0xdeadbeefull) << "collect wrote past its candidates";
  keys.resize(total);
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end(), [](uint64_t a, uint64_t b) {
    return topk::indexOf(a) < topk::indexOf(b);
  })) << "candidates out of index order";
  std::sort(keys.begin(), keys.end(), std::greater<>());
  std::vector<uint32_t> out(k);
  forEachThread(std::min<size_t>(nthreads, 5), [&](size_t tid) { topk::takeBody(tid, std::min<size_t>(nthreads, 5), keys.data(), k, out.data()); });
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<float> input(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(-300, 300);  // many equal magnitudes: the tie rule matters
  std::vector<float> x(n);
  for (auto& v : x) v = static_cast<float>(d(rng)) * 0.5f;
  return x;
}

TEST(TopkBodies, ChunksCoverEveryElementOnce) {
  for (size_t n : {0, 1, 2, 7, 255, 256, 1000, 4099})
    for (size_t T : {1, 2, 3, 64, 255, 256, 1000, 5000}) {
      std::vector<int> seen(n, 0);
      size_t prevHi = 0;
      for (size_t tid = 0; tid < T; ++tid) {
        size_t lo, hi;
        topk::chunkOf(tid, T, n, &lo, &hi);
        ASSERT_EQ(lo, prevHi) << "n " << n << " T " << T << " tid " << tid;
        ASSERT_LE(hi, n);
        for (size_t i = lo; i < hi; ++i) ++seen[i];
        prevHi = hi;
      }
      EXPECT_EQ(prevHi, n);
      EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), static_cast<long>(n));
    }
}

TEST(TopkBodies, ThresholdMethodEqualsTheReference) {
  for (size_t n : {1, 5, 257, 1000, 10007})
    for (size_t k : {size_t{1}, n / 100 + 1, n / 3 + 1, n})
      for (size_t T : {1, 3, 32, 1000, 20000}) {
        const auto x = input(n, static_cast<unsigned>(n * 31 + k));
        std::vector<uint32_t> want(k);
        ASSERT_EQ(topkReference(x.data(), n, k, want.data()), TopkStatus::kOk);
        // Thresholds at and below the k-th largest magnitude all give the reference; one above
        // it leaves fewer than k candidates (the device method's retry signal).
        std::vector<uint32_t> mags(n);
        for (size_t i = 0; i < n; ++i) mags[i] = topk::magnitude(x[i]);
        std::nth_element(mags.begin(), mags.begin() + static_cast<long>(k - 1), mags.end(), std::greater<>());
        for (uint32_t t : {mags[k - 1], mags[k - 1] / 2, uint32_t{0}})
          EXPECT_EQ(selectWithBodies(x, k, t, T), want) << "n " << n << " k " << k << " T " << T << " t " << t;
        EXPECT_TRUE(selectWithBodies(x, k, mags[k - 1] + 1, T).empty()) << "n " << n << " k " << k;
      }
}

TEST(TopkBodies, CountFlagsNonFinite) {
  std::vector<float> x(1000, 1.0f);
  x[617] = NAN;
  for (size_t T : {1, 7, 1000}) {
    std::vector<uint32_t> ge(T), gt(T), mx(T);
    forEachThread(T, [&](size_t tid) { topk::countBody(tid, T, x.data(), x.size(), topk::kInfBits, ge.data(), gt.data(), mx.data()); });
    EXPECT_GE(*std::max_element(mx.begin(), mx.end()), topk::kInfBits);
    EXPECT_EQ(std::accumulate(ge.begin(), ge.end(), 0u), 1u);
  }
}

TEST(TopkBodies, SampleAndKeysAndScatterAddMatchTheCpuKernels) {
  const size_t n = 5003;
  const auto x = input(n, 5);
  for (size_t T : {1, 4, 700, 6000}) {
    std::vector<uint32_t> sample(97, 0);
    forEachThread(T, [&](size_t tid) { topk::sampleBody(tid, T, x.data(), n, sample.size(), sample.data()); });
    for (size_t j = 0; j < sample.size(); ++j) ASSERT_EQ(sample[j], topk::magnitude(x[j * (n / 97)])) << j;
    std::vector<uint64_t> keys(n);
    forEachThread(T, [&](size_t tid) { topk::keysBody(tid, T, x.data(), n, keys.data()); });
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(topk::indexOf(keys[i]), i);
    // Scatter-add of a sorted list: the same bits as the CPU's scatterAdd.
    std::vector<uint32_t> idx;
    std::vector<float> val;
    for (uint32_t i = 3; i < n; i += 7) idx.push_back(i), val.push_back(x[i] * 0.37f);
    std::vector<float> dev(x), cpu(x);
    forEachThread(T, [&](size_t tid) { topk::scatterAddBody(tid, T, dev.data(), idx.data(), val.data(), idx.size()); });
    ASSERT_TRUE(scatterAdd(cpu.data(), n, idx.data(), SparseIndex::kUint32, val.data(), SparseValue::kFloat32, idx.size()));
    EXPECT_EQ(0, std::memcmp(dev.data(), cpu.data(), n * sizeof(float)));
  }
}

}  // namespace
}  // namespace torc::kernels
