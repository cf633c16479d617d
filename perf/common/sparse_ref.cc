#include "perf/common/sparse_ref.h"

#include <algorithm>
#include <cmath>
#include <cstring>
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

void sparseExpected(int nranks, size_t count, size_t k, uint64_t seed, float* want) {
  std::fill(want, want + count, 0.0f);
  std::vector<float> x(count);
  std::vector<uint64_t> keys(count);
  for (int q = 0; q < nranks; ++q) {
    fillSparseInput(x.data(), count, q, seed);
    for (size_t i = 0; i < count; ++i) {
      uint32_t bits;
      std::memcpy(&bits, &x[i], sizeof(bits));
      // larger magnitude first, then the lower index
      keys[i] = (static_cast<uint64_t>(bits & 0x7fffffffu) << 32) | (0xffffffffu - static_cast<uint32_t>(i));
    }
    if (k < count)
      std::nth_element(keys.begin(), keys.begin() + static_cast<ptrdiff_t>(k), keys.end(), std::greater<>());
    std::vector<uint32_t> idx(k);
    for (size_t j = 0; j < k; ++j) idx[j] = 0xffffffffu - static_cast<uint32_t>(keys[j]);
    std::sort(idx.begin(), idx.end());
    for (uint32_t i : idx) want[i] += x[i];
  }
}

}  // namespace torc::perf
