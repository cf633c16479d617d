// scatterAdd and mergeAdd against straightforward references: every index and value type,
// repeated indices in list order, out-of-range indices refused without a write, merges of
// disjoint, equal and interleaved lists.
#include "kernels/sparse.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <vector>

#include "kernels/functors.h"

namespace torc::kernels {
namespace {

TEST(ScatterAdd, EveryIndexAndValueTypeInListOrder) {
  const size_t n = 1000;
  std::mt19937 rng(3);
  for (SparseIndex it : {SparseIndex::kUint32, SparseIndex::kInt64})
    for (SparseValue vt : {SparseValue::kFloat32, SparseValue::kFloat16, SparseValue::kBfloat16}) {
      const size_t k = 3000;  // many repeats
      std::vector<uint32_t> i32(k);
      std::vector<int64_t> i64(k);
      std::vector<float> v32(k);
      std::vector<uint16_t> v16(k);
      std::vector<float> dense(n), want(n);
      for (size_t i = 0; i < n; ++i) dense[i] = want[i] = static_cast<float>(i % 7) * 0.25f;
      for (size_t j = 0; j < k; ++j) {
        i32[j] = static_cast<uint32_t>(rng() % n);
        i64[j] = i32[j];
        float v = static_cast<float>(static_cast<int>(rng() % 2001) - 1000) / 64.f;  // not always exact in 16 bits
        if (vt == SparseValue::kFloat16) {
          v16[j] = floatToHalf(v);
          v = halfToFloat(v16[j]);
        } else if (vt == SparseValue::kBfloat16) {
          v16[j] = floatToBf16(v);
          v = bf16ToFloat(v16[j]);
        }
        v32[j] = v;
        want[i32[j]] = want[i32[j]] + v;  // the same order, so the same bits
      }
      const void* idx = it == SparseIndex::kUint32 ? static_cast<const void*>(i32.data()) : i64.data();
      const void* val = vt == SparseValue::kFloat32 ? static_cast<const void*>(v32.data()) : v16.data();
      ASSERT_TRUE(scatterAdd(dense.data(), n, idx, it, val, vt, k));
      ASSERT_EQ(0, std::memcmp(dense.data(), want.data(), n * sizeof(float)));
    }
}

TEST(ScatterAdd, OutOfRangeIndexChangesNothing) {
  std::vector<float> dense(10, 1.f), before = dense;
  const float val[3] = {1, 2, 3};
  const uint32_t bad32[3] = {0, 10, 1};
  const int64_t neg[3] = {0, 1, -1};
  const int64_t big[3] = {int64_t{1} << 40, 0, 1};
  EXPECT_FALSE(scatterAdd(dense.data(), 10, bad32, SparseIndex::kUint32, val, SparseValue::kFloat32, 3));
  EXPECT_FALSE(scatterAdd(dense.data(), 10, neg, SparseIndex::kInt64, val, SparseValue::kFloat32, 3));
  EXPECT_FALSE(scatterAdd(dense.data(), 10, big, SparseIndex::kInt64, val, SparseValue::kFloat32, 3));
  EXPECT_EQ(dense, before);
  EXPECT_TRUE(scatterAdd(dense.data(), 10, bad32, SparseIndex::kUint32, val, SparseValue::kFloat32, 0));
}

std::vector<std::pair<uint32_t, float>> mergeRef(const std::map<uint32_t, float>& a,
                                                 const std::map<uint32_t, float>& b) {
  std::map<uint32_t, float> m = a;
  for (auto& [i, v] : b) m[i] = a.count(i) ? a.at(i) + v : v;
  return {m.begin(), m.end()};
}

TEST(MergeAdd, EqualsMapReference) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 50; ++trial) {
    const uint32_t range = trial % 3 == 0 ? 50 : 100000;  // dense overlap, or mostly disjoint
    std::map<uint32_t, float> a, b;
    const int na = static_cast<int>(rng() % 300), nb = trial == 7 ? 0 : static_cast<int>(rng() % 300);
    for (int j = 0; j < na; ++j) a[rng() % range] = static_cast<float>(rng() % 1000) / 7.f;
    for (int j = 0; j < nb; ++j) b[rng() % range] = static_cast<float>(rng() % 1000) / 3.f;
    std::vector<uint32_t> ai, bi;
    std::vector<float> av, bv;
    for (auto& [i, v] : a) ai.push_back(i), av.push_back(v);
    for (auto& [i, v] : b) bi.push_back(i), bv.push_back(v);
    std::vector<uint32_t> oi(ai.size() + bi.size() + 1, 0xffffffffu);
    std::vector<float> ov(oi.size(), -1.f);
    size_t got = mergeAdd(ai.data(), av.data(), ai.size(), bi.data(), bv.data(), bi.size(), oi.data(), ov.data());
    auto want = mergeRef(a, b);
    ASSERT_EQ(got, want.size());
    for (size_t j = 0; j < got; ++j) {
      ASSERT_EQ(oi[j], want[j].first);
      ASSERT_EQ(std::memcmp(&ov[j], &want[j].second, sizeof(float)), 0) << "index " << oi[j];
    }
    EXPECT_EQ(oi[got], 0xffffffffu);  // nothing written past the result
  }
}

TEST(SumToDense, EqualsZeroThenScatterAddInListOrder) {
  std::mt19937 rng(9);
  for (size_t lists : {1u, 2u, 3u, 8u}) {
    for (size_t k : {0u, 1u, 50u, 999u}) {
      const size_t n = 1000;
      std::vector<std::vector<uint32_t>> idx(lists);
      std::vector<std::vector<float>> val(lists);
      for (size_t r = 0; r < lists; ++r) {
        std::vector<uint32_t> all(n);
        for (size_t i = 0; i < n; ++i) all[i] = static_cast<uint32_t>(i);
        std::shuffle(all.begin(), all.end(), rng);
        idx[r].assign(all.begin(), all.begin() + static_cast<long>(k));
        std::sort(idx[r].begin(), idx[r].end());
        for (size_t j = 0; j < k; ++j) val[r].push_back(static_cast<float>(rng() % 10000) / 3.f - 1000.f);
      }
      std::vector<float> want(n, 0.0f), got(n, 123.0f);
      for (size_t r = 0; r < lists; ++r)
        ASSERT_TRUE(scatterAdd(want.data(), n, idx[r].data(), SparseIndex::kUint32, val[r].data(),
                               SparseValue::kFloat32, k));
      std::vector<const uint32_t*> ip;
      std::vector<const float*> vp;
      for (size_t r = 0; r < lists; ++r) ip.push_back(idx[r].data()), vp.push_back(val[r].data());
      sumToDense(ip.data(), vp.data(), lists, k, n, got.data());
      ASSERT_EQ(0, std::memcmp(got.data(), want.data(), n * sizeof(float))) << lists << " lists, k " << k;
    }
  }
}

}  // namespace
}  // namespace torc::kernels
