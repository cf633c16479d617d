#include "perf/common/data.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

namespace torc::perf {
namespace {

struct Half {
  uint16_t bits;
};
struct Bfloat16 {
  uint16_t bits;
};

template <typename T>
T encode(int64_t v) {
  return static_cast<T>(v);
}
template <>
Half encode<Half>(int64_t v) {
  return Half{floatToHalf(static_cast<float>(v))};
}
template <>
Bfloat16 encode<Bfloat16>(int64_t v) {
  return Bfloat16{floatToBfloat16(static_cast<float>(v))};
}

template <typename T>
struct Tag {
  using Type = T;
};

template <typename F>
void dispatch(DType t, F&& f) {
  switch (t) {
    case DType::kInt8:
      f(Tag<int8_t>{});
      break;
    case DType::kUint8:
      f(Tag<uint8_t>{});
      break;
    case DType::kInt32:
      f(Tag<int32_t>{});
      break;
    case DType::kUint32:
      f(Tag<uint32_t>{});
      break;
    case DType::kInt64:
      f(Tag<int64_t>{});
      break;
    case DType::kUint64:
      f(Tag<uint64_t>{});
      break;
    case DType::kFloat16:
      f(Tag<Half>{});
      break;
    case DType::kFloat32:
      f(Tag<float>{});
      break;
    case DType::kFloat64:
      f(Tag<double>{});
      break;
    case DType::kBfloat16:
      f(Tag<Bfloat16>{});
      break;
  }
}

// Largest integer magnitude every partial result must stay within: the type's range, or for
// 16-bit floats the last integer they hold exactly.
int64_t exactLimit(DType t) {
  switch (t) {
    case DType::kInt8:
      return 127;
    case DType::kUint8:
      return 255;
    case DType::kFloat16:
      return 2048;
    case DType::kBfloat16:
      return 256;
    default:
      return int64_t{1} << 24;
  }
}

bool isSigned(DType t) { return t != DType::kUint8 && t != DType::kUint32 && t != DType::kUint64; }

}  // namespace

uint16_t floatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof(x));
  const uint32_t sign = (x >> 16) & 0x8000u;
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u) return static_cast<uint16_t>(sign | (x > 0x7f800000u ? 0x7e00u : 0x7c00u));
  if (x >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds past 65504
  if (x < 0x38800000u) {
    // Below 2^-14 the half is subnormal: let the FPU round by adding a magic float whose
    // unit in the last place is the half's smallest subnormal (2^-24).
    const uint32_t kMagicBits = 0x3f000000u;  // 0.5f
    float magic, v;
    std::memcpy(&magic, &kMagicBits, sizeof(magic));
    std::memcpy(&v, &x, sizeof(v));
    v += magic;
    uint32_t r;
    std::memcpy(&r, &v, sizeof(r));
    return static_cast<uint16_t>(sign | (r - kMagicBits));
  }
  const uint32_t odd = (x >> 13) & 1u;
  x += 0xc8000fffu + odd;  // rebias exponent (-112 << 23) and round to nearest even
  return static_cast<uint16_t>(sign | (x >> 13));
}

uint16_t floatToBfloat16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof(x));
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet NaN
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

DataPattern::DataPattern(DType type, RedOp op, int nranks)
    : type_(type), op_(op), nranks_(std::max(nranks, 1)), signed_(isSigned(type)) {
  const int64_t perRank = exactLimit(type) / nranks_;
  // Sum: |value| <= mag_, so |partial| <= nranks*mag_. Avg adds nranks once per element.
  mag_ = std::clamp<int64_t>(op == RedOp::kAvg ? perRank - 1 : perRank, 0, 8);
  twos_ = std::min<int64_t>(nranks_, type == DType::kInt8 ? 6 : type == DType::kUint8 ? 7 : 8);
}

int64_t DataPattern::input(int rank, uint64_t idx) const {
  const uint64_t r = static_cast<uint64_t>(rank);
  const uint64_t p = static_cast<uint64_t>(nranks_);
  switch (op_) {
    case RedOp::kSum: {
      int64_t k = static_cast<int64_t>((r * 7 + idx * 3) % static_cast<uint64_t>(mag_ + 1));
      return signed_ ? k - mag_ / 2 : k;
    }
    case RedOp::kAvg: {
      // Every rank holds base(idx), and exactly one rank holds nranks more, so the sum is
      // nranks*(base+1): divisible, and the same in any order.
      int64_t base = static_cast<int64_t>((idx * 5) % static_cast<uint64_t>(mag_ + 1));
      if (signed_) base -= mag_ / 2;
      return base + ((r + idx) % p == 0 ? nranks_ : 0);
    }
    case RedOp::kProd: {
      // Between 0 and twos_ ranks hold 2 at this index, the rest 1; some hold the negative.
      const uint64_t twos = (idx * 7 / 3) % static_cast<uint64_t>(twos_ + 1);
      int64_t v = (r + idx) % p < twos ? 2 : 1;
      if (signed_ && (r * 5 + idx) % 3 == 0) v = -v;
      return v;
    }
    case RedOp::kMax:
    case RedOp::kMin:
      return static_cast<int64_t>((r * 37 + idx * 11) % 61) - (signed_ ? 30 : 0);
  }
  return 0;
}

int64_t DataPattern::result(uint64_t idx) const {
  int64_t acc = input(0, idx);
  for (int r = 1; r < nranks_; ++r) {
    const int64_t v = input(r, idx);
    switch (op_) {
      case RedOp::kSum:
      case RedOp::kAvg:
        acc += v;
        break;
      case RedOp::kProd:
        acc *= v;
        break;
      case RedOp::kMax:
        acc = std::max(acc, v);
        break;
      case RedOp::kMin:
        acc = std::min(acc, v);
        break;
    }
  }
  return op_ == RedOp::kAvg ? acc / nranks_ : acc;
}

size_t DataPattern::period() const {
  const size_t p = static_cast<size_t>(nranks_);
  switch (op_) {
    case RedOp::kSum:
      return static_cast<size_t>(mag_ + 1);
    case RedOp::kAvg:
      return std::lcm(static_cast<size_t>(mag_ + 1), p);
    case RedOp::kProd:
      return std::lcm(static_cast<size_t>(3 * (twos_ + 1)), p);
    case RedOp::kMax:
    case RedOp::kMin:
      break;
  }
  return 61;
}

namespace {

// Every pattern repeats with period(), so a block of whole periods is built once and copied:
// filling 64 MiB then costs about a memcpy instead of p modulo-heavy evaluations per element.
template <typename T, typename ValueOf>
void fillPeriodic(void* buf, size_t n, uint64_t start, size_t period, ValueOf valueOf) {
  const size_t run = period * std::max<size_t>(1, 4096 / period);
  std::vector<T> block(run + period);  // one spare period so a run may begin at any phase
  for (size_t i = 0; i < block.size(); ++i) block[i] = encode<T>(valueOf(i));
  const size_t phase = static_cast<size_t>(start % period);
  T* out = static_cast<T*>(buf);
  for (size_t i = 0; i < n; i += run) std::memcpy(out + i, block.data() + phase, std::min(run, n - i) * sizeof(T));
}

}  // namespace

void DataPattern::fillInput(void* buf, size_t n, int rank, size_t first, uint64_t seed) const {
  dispatch(type_, [&](auto tag) {
    using T = typename decltype(tag)::Type;
    fillPeriodic<T>(buf, n, first + seed, period(), [&](uint64_t idx) { return input(rank, idx); });
  });
}

void DataPattern::fillResult(void* buf, size_t n, size_t first, uint64_t seed) const {
  dispatch(type_, [&](auto tag) {
    using T = typename decltype(tag)::Type;
    fillPeriodic<T>(buf, n, first + seed, period(), [&](uint64_t idx) { return result(idx); });
  });
}

void poisonBuffer(void* buf, size_t bytes) { std::memset(buf, 0xa5, bytes); }

size_t countWrong(DType type, const void* got, const void* want, size_t n, size_t* firstBad) {
  const size_t es = dtypeSize(type);
  const auto* g = static_cast<const unsigned char*>(got);
  const auto* w = static_cast<const unsigned char*>(want);
  constexpr size_t kBlock = 4096;  // elements compared with one memcmp on the fast path
  size_t wrong = 0;
  for (size_t start = 0; start < n; start += kBlock) {
    const size_t len = std::min(kBlock, n - start);
    if (std::memcmp(g + start * es, w + start * es, len * es) == 0) continue;
    for (size_t i = start; i < start + len; ++i) {
      if (std::memcmp(g + i * es, w + i * es, es) != 0) {
        if (wrong == 0) *firstBad = i;
        ++wrong;
      }
    }
  }
  return wrong;
}

}  // namespace torc::perf
