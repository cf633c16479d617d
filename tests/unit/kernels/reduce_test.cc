// Host reduction kernels: every dtype x op against independent references, the 16-bit float
// conversions (exhaustive and on crafted halfway cases), and every compiled ISA variant
// against the generic one, bit for bit.

#include "kernels/reduce.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/cpu/reduce_cpu.h"
#include "kernels/functors.h"

namespace torc::kernels {
namespace {

constexpr DType kAllDTypes[] = {DType::kInt8,   DType::kUint8,   DType::kInt32,   DType::kUint32,  DType::kInt64,
                                DType::kUint64, DType::kFloat16, DType::kFloat32, DType::kFloat64, DType::kBfloat16};
constexpr RedOp kAllOps[] = {RedOp::kSum, RedOp::kProd, RedOp::kMax, RedOp::kMin, RedOp::kAvg};
constexpr size_t kSizes[] = {0, 1, 3, 7, 15, 16, 17, 63, 64, 65, 1000003};

// ---- Independent references for the 16-bit formats: decode with ldexp, round with nearbyint.
struct Format {
  int mantBits;
  int bias;
};
constexpr Format kHalfFmt{10, 15};
constexpr Format kBf16Fmt{7, 127};

int expBitsOf(Format f) { return 15 - f.mantBits; }
uint16_t infBitsOf(Format f) { return uint16_t(((1u << expBitsOf(f)) - 1) << f.mantBits); }

bool isNanBits(uint16_t h, Format f) {
  return (h & infBitsOf(f)) == infBitsOf(f) && (h & ((1u << f.mantBits) - 1)) != 0;
}

double refDecode(uint16_t h, Format f) {
  double sign = (h & 0x8000) ? -1.0 : 1.0;
  int e = (h & 0x7fff) >> f.mantBits;
  int m = h & ((1 << f.mantBits) - 1);
  if (e == (1 << expBitsOf(f)) - 1) return m ? std::nan("") : sign * INFINITY;
  if (e == 0) return sign * std::ldexp(m, 1 - f.bias - f.mantBits);
  return sign * std::ldexp((1 << f.mantBits) + m, e - f.bias - f.mantBits);
}

// Round a non-NaN value to the format, nearest even (single rounding from v).
uint16_t refNarrow(double v, Format f) {
  uint16_t sign = std::signbit(v) ? 0x8000 : 0;
  v = std::fabs(v);
  if (std::isinf(v)) return sign | infBitsOf(f);
  int emin = 1 - f.bias;
  if (v < std::ldexp(1.0, emin)) {  // subnormal: count units of the smallest spacing
    return uint16_t(sign | uint16_t(std::nearbyint(std::ldexp(v, f.mantBits - emin))));
  }
  int e;
  double m = std::frexp(v, &e) * 2;  // v = m * 2^(e-1), m in [1, 2)
  e -= 1;
  double q = std::nearbyint(std::ldexp(m, f.mantBits));
  if (q == std::ldexp(1.0, f.mantBits + 1)) {
    q /= 2;
    e += 1;
  }
  if (e + f.bias >= (1 << expBitsOf(f)) - 1) return sign | infBitsOf(f);
  return uint16_t(sign | ((e + f.bias) << f.mantBits) | (uint32_t(q) - (1u << f.mantBits)));
}

// ---- Per-type helpers for the typed sweeps.
template <typename T>
constexpr bool kNarrow = std::is_same_v<T, Half> || std::is_same_v<T, Bf16>;
template <typename T>
constexpr Format formatOf() {
  return std::is_same_v<T, Half> ? kHalfFmt : kBf16Fmt;
}

template <typename T>
bool isNan(T x) {
  if constexpr (kNarrow<T>) return isNanBits(x.bits, formatOf<T>());
  if constexpr (std::is_floating_point_v<T>) return std::isnan(x);
  return false;
}

template <typename T>
bool sameBits(T x, T y) {
  return std::memcmp(&x, &y, sizeof(T)) == 0;
}

template <typename T>
std::string show(T x) {
  if constexpr (kNarrow<T>) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%04x", unsigned(x.bits));
    return hex + (" (" + std::to_string(refDecode(x.bits, formatOf<T>())) + ")");
  }
  if constexpr (std::is_floating_point_v<T>) return std::to_string(x);
  if constexpr (std::is_integral_v<T>) return std::to_string(int64_t(x));
}

template <typename T>
T narrowRef(double r) {
  // The format's canonical NaN stands for "any NaN": results are compared with isNan.
  if (std::isnan(r)) return T{uint16_t(infBitsOf(formatOf<T>()) | (1u << (formatOf<T>().mantBits - 1)))};
  return T{refNarrow(double(float(r)), formatOf<T>())};  // fp32 result, then one rounding
}

// x op y with the kernels' Max/Min semantics; kAvg reduces as kSum.
template <typename V>
V applyOp(RedOp op, V x, V y) {
  if (op == RedOp::kProd) return x * y;
  if (op == RedOp::kMax) return (y > x) ? y : x;
  if (op == RedOp::kMin) return (y < x) ? y : x;
  return x + y;
}

template <typename T>
T refReduce(RedOp op, T a, T b) {
  bool pick = op == RedOp::kMax || op == RedOp::kMin;
  if constexpr (std::is_integral_v<T>) {
    // Sum/prod in uint64_t wrap modulo 2^64, hence modulo 2^bits after the cast.
    return pick ? applyOp(op, a, b) : T(std::make_unsigned_t<T>(applyOp(op, uint64_t(a), uint64_t(b))));
  } else if constexpr (kNarrow<T>) {
    // Sum/prod of two 16-bit values are exact in double.
    return narrowRef<T>(applyOp(op, refDecode(a.bits, formatOf<T>()), refDecode(b.bits, formatOf<T>())));
  } else if constexpr (std::is_same_v<T, float>) {
    // Rounding the double result once gives the correctly rounded float (53 >= 2*24+2).
    return pick ? applyOp(op, a, b) : float(applyOp(op, double(a), double(b)));
  } else {
    return applyOp(op, a, b);
  }
}

template <typename T>
T refDiv(T x, int d) {
  if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) return T(int64_t(x) / d);
  if constexpr (std::is_integral_v<T> && !std::is_signed_v<T>) return T(uint64_t(x) / uint64_t(d));
  if constexpr (kNarrow<T>) return narrowRef<T>(refDecode(x.bits, formatOf<T>()) / d);
  if constexpr (std::is_same_v<T, float>) return float(double(x) / d);
  if constexpr (std::is_same_v<T, double>) return x / double(d);
}

// Expected equal bit for bit; an expected NaN accepts any NaN, quiet for the 16-bit types.
template <typename T>
bool matches(T got, T want) {
  if (!isNan(want)) return sameBits(got, want);
  if constexpr (kNarrow<T>) return isNan(got) && (got.bits & (1u << (formatOf<T>().mantBits - 1))) != 0;
  return isNan(got);
}

// ---- Test data.
template <typename T>
using BitsOf = std::conditional_t<
    sizeof(T) == 1, uint8_t,
    std::conditional_t<sizeof(T) == 2, uint16_t, std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>>>;

template <typename T>
T fromBits(uint64_t bits) {
  BitsOf<T> b = BitsOf<T>(bits);
  T x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

template <typename T>
uint64_t toBits(T x) {
  BitsOf<T> b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

// Bit layout of a float format: mantissa bits, exponent bits.
template <typename T>
constexpr int kMantBits = kNarrow<T> ? formatOf<T>().mantBits : std::numeric_limits<T>::digits - 1;
template <typename T>
constexpr int kExpBits = int(sizeof(T) * 8) - 1 - kMantBits<T>;

// Edge values: signed zeros, infinities, NaNs (quiet, signalling, with payload), subnormals,
// min normal, max finite, +-1. Integers: 0, +-1, min, max.
template <typename T>
std::vector<T> specials() {
  if constexpr (std::is_integral_v<T>) {
    return {T(0), T(1), T(-1), std::numeric_limits<T>::min(), std::numeric_limits<T>::max()};
  } else {
    const uint64_t mant = (uint64_t(1) << kMantBits<T>)-1, inf = ((uint64_t(1) << kExpBits<T>)-1) << kMantBits<T>;
    const uint64_t sign = uint64_t(1) << (kExpBits<T> + kMantBits<T>);
    const uint64_t one = ((uint64_t(1) << (kExpBits<T> - 1)) - 1) << kMantBits<T>;
    std::vector<T> v;
    for (uint64_t bits : {uint64_t(0), sign, inf, inf | sign, inf | ((mant >> 1) + 1), inf | 1, inf | 5 | sign,
                          uint64_t(1), mant | sign, mant + 1, inf - 1, one, one | sign}) {
      v.push_back(fromBits<T>(bits));
    }
    return v;
  }
}

template <typename T>
T randomValue(std::mt19937_64& rng, const T* partner) {
  uint64_t raw = rng();
  int mode = int(rng() % 10);
  if (mode == 0) {
    static const std::vector<T> sp = specials<T>();
    return sp[raw % sp.size()];
  }
  if constexpr (std::is_integral_v<T>) {
    return fromBits<T>(raw);
  } else {
    const uint64_t mant = (uint64_t(1) << kMantBits<T>)-1;
    const uint64_t sign = uint64_t(1) << (kExpBits<T> + kMantBits<T>), bias = (uint64_t(1) << (kExpBits<T> - 1)) - 1;
    if (mode <= 2) return fromBits<T>(raw);
    if (mode <= 5 && partner != nullptr) return fromBits<T>((toBits(*partner) & ~mant) | (raw & mant));
    uint64_t e = bias - 8 + (raw >> 56) % 16;  // moderate magnitudes around 1
    return fromBits<T>((raw & sign) | (e << kMantBits<T>) | (raw & mant));
  }
}

// Random data: raw bit patterns, specials, moderate values, and values sharing the partner's
// exponent (so sums land on rounding ties). The first elements are every pair of specials.
template <typename T>
void fillPairs(std::mt19937_64& rng, std::vector<T>& a, std::vector<T>& b) {
  const std::vector<T> sp = specials<T>();
  for (size_t i = 0; i < a.size(); ++i) {
    if (i < sp.size() * sp.size()) {
      a[i] = sp[i / sp.size()];
      b[i] = sp[i % sp.size()];
      continue;
    }
    a[i] = randomValue<T>(rng, nullptr);
    b[i] = randomValue<T>(rng, &a[i]);
  }
}

struct Buffer {
  explicit Buffer(size_t bytes)
      : p(static_cast<uint8_t*>(std::aligned_alloc(64, (bytes + 64) / 64 * 64)), &std::free) {}
  std::unique_ptr<uint8_t, decltype(&std::free)> p;
};

// The variants to check: each compiled table the CPU can run, plus the public entry point.
struct Variant {
  std::string name;
  void (*reduce)(DType, RedOp, void*, const void*, const void*, size_t);
  void (*finalizeAvg)(DType, void*, size_t, int);
};

std::vector<Variant> variants() {
  std::vector<Variant> v;
  for (cpu::Isa isa : {cpu::Isa::kGeneric, cpu::Isa::kAvx2, cpu::Isa::kAvx512}) {
    if (const cpu::KernelTable* t = cpu::kernelTable(isa)) v.push_back({t->name, t->reduce, t->finalizeAvg});
  }
  v.push_back({"dispatch", &reduce, &finalizeAvg});
  return v;
}

enum class Layout { kOutOfPlace, kDstIsA, kDstIsB };

// Runs one variant on a, b (n elements at element offset off) in the given layout and checks
// every element against want. Returns false after the first mismatch.
template <typename T>
bool checkOne(const Variant& var, DType dt, RedOp op, const std::vector<T>& a, const std::vector<T>& b,
              const std::vector<T>& want, size_t off, Layout layout) {
  size_t n = a.size();
  Buffer bufA((n + off) * sizeof(T)), bufB((n + off) * sizeof(T)), bufD((n + off) * sizeof(T));
  T* pa = reinterpret_cast<T*>(bufA.p.get()) + off;
  T* pb = reinterpret_cast<T*>(bufB.p.get()) + off;
  T* pd = reinterpret_cast<T*>(bufD.p.get()) + off;
  if (n > 0) {
    std::memcpy(pa, a.data(), n * sizeof(T));
    std::memcpy(pb, b.data(), n * sizeof(T));
  }
  T* dst = layout == Layout::kDstIsA ? pa : layout == Layout::kDstIsB ? pb : pd;
  var.reduce(dt, op, dst, pa, pb, n);
  for (size_t i = 0; i < n; ++i) {
    if (!matches(dst[i], want[i])) {
      ADD_FAILURE() << var.name << " " << dtypeName(dt) << " " << redOpName(op) << " n=" << n << " off=" << off
                    << " layout=" << int(layout) << " i=" << i << ": " << show(a[i]) << " op " << show(b[i]) << " gave "
                    << show(dst[i]) << ", want " << show(want[i]);
      return false;
    }
  }
  return true;
}

template <typename T>
void checkReduceAgainstReference(DType dt) {
  std::mt19937_64 rng(1234 + int(dt));
  std::vector<Variant> vars = variants();
  for (RedOp op : kAllOps) {
    for (size_t n : kSizes) {
      std::vector<T> a(n), b(n), want(n);
      fillPairs(rng, a, b);
      for (size_t i = 0; i < n; ++i) want[i] = refReduce(op, a[i], b[i]);
      bool big = n > 100000;  // one layout for the big size keeps the test fast
      for (const Variant& var : vars) {
        for (size_t off : {size_t(0), size_t(1)}) {
          for (Layout layout : {Layout::kOutOfPlace, Layout::kDstIsA, Layout::kDstIsB}) {
            if (big && (off == 0 || layout != Layout::kOutOfPlace)) continue;
            if (!checkOne(var, dt, op, a, b, want, off, layout)) return;
          }
        }
      }
    }
  }
}

template <typename T>
void checkFinalizeAgainstReference(DType dt) {
  std::mt19937_64 rng(99 + int(dt));
  for (const Variant& var : variants()) {
    for (int divisor : {1, 2, 3, 7, 8, 1000}) {
      for (size_t n : {size_t(0), size_t(1), size_t(17), size_t(1000)}) {
        std::vector<T> x(n + 1), unused(n + 1);
        fillPairs(rng, x, unused);
        std::vector<T> y = x;
        var.finalizeAvg(dt, y.data() + 1, n, divisor);  // unaligned
        ASSERT_TRUE(sameBits(y[0], x[0])) << "wrote outside the range";
        for (size_t i = 0; i < n; ++i) {
          T want = refDiv(x[i + 1], divisor);
          ASSERT_TRUE(matches(y[i + 1], want)) << var.name << " " << dtypeName(dt) << " " << show(x[i + 1]) << " / "
                                               << divisor << " gave " << show(y[i + 1]) << ", want " << show(want);
        }
      }
    }
    std::vector<T> x(5, fromBits<T>(0x41)), y = x;
    var.finalizeAvg(dt, y.data(), y.size(), 0);  // divisor < 1: documented no-op
    EXPECT_EQ(std::memcmp(x.data(), y.data(), x.size() * sizeof(T)), 0);
  }
}

// Bitwise against the generic variant. NaN payloads may differ only where both inputs are
// NaN (IEEE leaves the choice open and the compiler may commute the operands).
template <typename T>
void checkVariantsMatchGeneric(DType dt) {
  const cpu::KernelTable* generic = cpu::kernelTable(cpu::Isa::kGeneric);
  std::mt19937_64 rng(7 + int(dt));
  const size_t n = 4099;
  std::vector<T> a(n), b(n);
  fillPairs(rng, a, b);
  for (cpu::Isa isa : {cpu::Isa::kAvx2, cpu::Isa::kAvx512}) {
    const cpu::KernelTable* t = cpu::kernelTable(isa);
    if (t == nullptr) continue;
    for (RedOp op : kAllOps) {
      std::vector<T> want(n), got(n);
      generic->reduce(dt, op, want.data(), a.data(), b.data(), n);
      t->reduce(dt, op, got.data() + 0, a.data(), b.data(), n);
      for (size_t i = 0; i < n; ++i) {
        bool bothNanInputs = isNan(a[i]) && isNan(b[i]);
        bool ok = sameBits(got[i], want[i]) || (bothNanInputs && isNan(got[i]) && isNan(want[i]));
        ASSERT_TRUE(ok) << t->name << " " << dtypeName(dt) << " " << redOpName(op) << " i=" << i << ": " << show(a[i])
                        << " op " << show(b[i]) << " gave " << show(got[i]) << ", generic " << show(want[i]);
      }
    }
    std::vector<T> want = a, got = a;
    generic->finalizeAvg(dt, want.data(), n, 3);
    t->finalizeAvg(dt, got.data(), n, 3);
    ASSERT_EQ(std::memcmp(want.data(), got.data(), n * sizeof(T)), 0) << t->name << " finalizeAvg " << dtypeName(dt);
  }
}

class ReduceTest : public testing::TestWithParam<DType> {};

TEST_P(ReduceTest, MatchesReferenceAllOpsSizesLayouts) {
  visitDType(GetParam(), [&](auto tag) { checkReduceAgainstReference<decltype(tag)>(GetParam()); });
}

TEST_P(ReduceTest, FinalizeAvgMatchesReference) {
  visitDType(GetParam(), [&](auto tag) { checkFinalizeAgainstReference<decltype(tag)>(GetParam()); });
}

TEST_P(ReduceTest, IsaVariantsMatchGenericBitForBit) {
  if (cpu::detectIsa() == cpu::Isa::kGeneric) GTEST_SKIP() << "only the generic variant runs on this CPU";
  visitDType(GetParam(), [&](auto tag) { checkVariantsMatchGeneric<decltype(tag)>(GetParam()); });
}

INSTANTIATE_TEST_SUITE_P(AllDTypes, ReduceTest, testing::ValuesIn(kAllDTypes),
                         [](const testing::TestParamInfo<DType>& info) { return std::string(dtypeName(info.param)); });

// ---- Conversions.

TEST(HalfConversion, ExhaustiveRoundTrip) {
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = halfToFloat(uint16_t(h));
    uint16_t back = floatToHalf(f);
    if (isNanBits(uint16_t(h), kHalfFmt)) {
      uint32_t fb = floatToBits(f);
      ASSERT_TRUE(std::isnan(f)) << h;
      ASSERT_TRUE(fb & 0x400000u) << "widened NaN not quiet: " << h;
      ASSERT_EQ(back, h | 0x200u) << "NaN keeps sign and payload, gains the quiet bit: " << h;
    } else {
      ASSERT_EQ(double(f), refDecode(uint16_t(h), kHalfFmt)) << h;
      ASSERT_EQ(std::signbit(f), bool(h & 0x8000)) << h;
      ASSERT_EQ(back, h) << h;
    }
  }
}

TEST(Bf16Conversion, ExhaustiveRoundTrip) {
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = bf16ToFloat(uint16_t(h));
    uint16_t back = floatToBf16(f);
    if (isNanBits(uint16_t(h), kBf16Fmt)) {
      ASSERT_TRUE(std::isnan(f)) << h;
      ASSERT_EQ(back, h | 0x40u) << h;
    } else {
      ASSERT_EQ(double(f), refDecode(uint16_t(h), kBf16Fmt)) << h;
      ASSERT_EQ(back, h) << h;
    }
  }
}

// For every pair of adjacent finite values (subnormals included), the exact midpoint must go
// to the even one, and one float32 ulp either side to the nearer one.
void checkHalfwayCases(Format fmt, uint16_t (*narrow)(float)) {
  for (uint32_t lo = 0; lo + 1 < infBitsOf(fmt); ++lo) {
    for (uint16_t sign : {uint16_t(0), uint16_t(0x8000)}) {
      uint16_t l = uint16_t(lo | sign), h = uint16_t((lo + 1) | sign);
      float mid = float((refDecode(l, fmt) + refDecode(h, fmt)) / 2);  // exact in float32
      ASSERT_EQ(double(mid) * 2, refDecode(l, fmt) + refDecode(h, fmt));
      uint16_t even = (lo & 1) ? h : l;
      ASSERT_EQ(narrow(mid), even) << "midpoint above " << l;
      ASSERT_EQ(narrow(std::nextafter(mid, 0.0f)), l) << "just below the midpoint above " << l;
      ASSERT_EQ(narrow(std::nextafter(mid, sign ? -INFINITY : INFINITY)), h) << "just above the midpoint above " << l;
    }
  }
}

TEST(HalfConversion, HalfwayCasesRoundToEven) {
  checkHalfwayCases(kHalfFmt, &floatToHalf);
  EXPECT_EQ(floatToHalf(65504.0f), 0x7bffu);
  EXPECT_EQ(floatToHalf(65519.996f), 0x7bffu);
  EXPECT_EQ(floatToHalf(65520.0f), 0x7c00u);  // tie with an odd max rounds up to Inf
  EXPECT_EQ(floatToHalf(-1e30f), 0xfc00u);
  EXPECT_EQ(floatToHalf(std::ldexp(1.0f, -25)), 0x0000u);  // tie between 0 and the min subnormal
  EXPECT_EQ(floatToHalf(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001u);
  EXPECT_EQ(floatToHalf(std::ldexp(3.0f, -25)), 0x0002u);  // 1.5 units: tie goes to even 2
  EXPECT_EQ(floatToHalf(1e-30f), 0x0000u);
  EXPECT_EQ(floatToHalf(-1e-45f), 0x8000u);                   // float32 subnormal keeps its sign
  EXPECT_EQ(floatToHalf(bitsToFloat(0x7f800001u)), 0x7e00u);  // signalling NaN: quieted, not Inf
  EXPECT_EQ(floatToHalf(bitsToFloat(0xffffe000u)), 0xffffu);
}

TEST(Bf16Conversion, HalfwayCasesRoundToEven) {
  checkHalfwayCases(kBf16Fmt, &floatToBf16);
  EXPECT_EQ(floatToBf16(bitsToFloat(0x7f7f8000u)), 0x7f80u);  // tie above the odd max: Inf
  EXPECT_EQ(floatToBf16(bitsToFloat(0x7f7f7fffu)), 0x7f7fu);
  EXPECT_EQ(floatToBf16(bitsToFloat(0x00008000u)), 0x0000u);  // subnormal tie to even 0
  EXPECT_EQ(floatToBf16(bitsToFloat(0x00018000u)), 0x0002u);  // subnormal tie to even 2
  EXPECT_EQ(floatToBf16(bitsToFloat(0x7f800001u)), 0x7fc0u);  // signalling NaN: quieted, not Inf
  EXPECT_EQ(floatToBf16(bitsToFloat(0xff810000u)), 0xffc1u);
}

TEST(Conversions, RandomFloat32MatchesReference) {
  std::mt19937 rng(5);
  for (int i = 0; i < 2000000; ++i) {
    float f = bitsToFloat(uint32_t(rng()));
    if (std::isnan(f)) continue;
    ASSERT_EQ(floatToHalf(f), refNarrow(f, kHalfFmt)) << floatToBits(f);
    ASSERT_EQ(floatToBf16(f), refNarrow(f, kBf16Fmt)) << floatToBits(f);
  }
}

// Every variant's cast launchers against the functors, at every length up to two blocks past
// the widest vector (so each tail length runs) and at an odd offset: all 2^16 patterns widen,
// and narrowing covers random float32 bits, NaNs, the rounding thresholds and overflow.
TEST(CastKernels, EveryVariantMatchesTheFunctors) {
  std::vector<float> wide;
  std::mt19937 rng(11);
  for (int i = 0; i < 100000; ++i) wide.push_back(bitsToFloat(uint32_t(rng())));
  for (uint32_t b : {0x477fefffu, 0x477ff000u, 0xc77ff000u, 0x7f7f7fffu, 0x7f7f8000u, 0xff7f8000u, 0x7f800000u,
                     0x7fc00001u, 0x00008000u, 0x80000001u})
    wide.push_back(bitsToFloat(b));
  std::vector<uint16_t> all(65536);
  for (uint32_t h = 0; h < 65536; ++h) all[h] = uint16_t(h);
  std::vector<const cpu::KernelTable*> tables;
  for (cpu::Isa isa : {cpu::Isa::kGeneric, cpu::Isa::kAvx2, cpu::Isa::kAvx512})
    if (const cpu::KernelTable* t = cpu::kernelTable(isa)) tables.push_back(t);
  for (DType dt : {DType::kFloat16, DType::kBfloat16}) {
    auto widen1 = [dt](uint16_t h) { return dt == DType::kFloat16 ? halfToFloat(h) : bf16ToFloat(h); };
    auto narrow1 = [dt](float f) { return dt == DType::kFloat16 ? floatToHalf(f) : floatToBf16(f); };
    for (const cpu::KernelTable* t : tables) {
      std::vector<float> got(all.size() + 1);
      t->widen(dt, all.data() + 1, got.data() + 1, all.size() - 1);
      for (size_t i = 1; i < all.size(); ++i)
        ASSERT_EQ(floatToBits(got[i]), floatToBits(widen1(all[i]))) << t->name << " widen " << i;
      std::vector<uint16_t> bits(wide.size() + 1, 0x1234);
      t->narrow(dt, wide.data() + 1, bits.data() + 1, wide.size() - 1);
      ASSERT_EQ(bits[0], 0x1234) << t->name;
      for (size_t i = 1; i < wide.size(); ++i)
        ASSERT_EQ(bits[i], narrow1(wide[i])) << t->name << " narrow " << floatToBits(wide[i]);
      for (size_t n = 0; n <= 80; ++n) {  // every tail: nothing written past n
        std::vector<uint16_t> d(n + 1, 0xbeef);
        t->narrow(dt, wide.data(), d.data(), n);
        ASSERT_EQ(d[n], 0xbeef) << t->name << " n=" << n;
        for (size_t i = 0; i < n; ++i) ASSERT_EQ(d[i], narrow1(wide[i])) << t->name << " n=" << n;
        std::vector<float> w(n + 1, 7.0f);
        t->widen(dt, all.data() + 300, w.data(), n);
        ASSERT_EQ(w[n], 7.0f) << t->name << " n=" << n;
        for (size_t i = 0; i < n; ++i) ASSERT_EQ(floatToBits(w[i]), floatToBits(widen1(all[300 + i])));
      }
    }
  }
}

TEST(CastKernels, NarrowReportsOverflowOfFiniteValuesOnly) {
  std::vector<uint16_t> out(40);
  std::vector<float> x(40, 1.0f);
  EXPECT_TRUE(narrowFromFloat(DType::kFloat16, x.data(), out.data(), x.size()));
  for (float v : {INFINITY, -INFINITY, NAN, 65519.996f, -65504.0f}) {
    x[33] = v;
    EXPECT_TRUE(narrowFromFloat(DType::kFloat16, x.data(), out.data(), x.size())) << v;
  }
  for (float v : {65520.0f, -65520.0f, 1e30f, FLT_MAX}) {
    x[33] = v;
    EXPECT_FALSE(narrowFromFloat(DType::kFloat16, x.data(), out.data(), x.size())) << v;
    EXPECT_EQ(out[33] & 0x7fffu, 0x7c00u);
  }
  x[33] = FLT_MAX;  // bfloat16 shares float32's range: only the last half-ulp overflows
  EXPECT_FALSE(narrowFromFloat(DType::kBfloat16, x.data(), out.data(), x.size()));
  x[33] = bitsToFloat(0x7f7f7fffu);
  EXPECT_TRUE(narrowFromFloat(DType::kBfloat16, x.data(), out.data(), x.size()));
  EXPECT_EQ(out[33], 0x7f7fu);
  x[33] = 2.5f;  // float32: a copy
  std::vector<float> same(40);
  EXPECT_TRUE(narrowFromFloat(DType::kFloat32, x.data(), same.data(), x.size()));
  EXPECT_EQ(same, x);
  widenToFloat(DType::kFloat32, x.data(), same.data(), x.size());
  EXPECT_EQ(same, x);
  EXPECT_TRUE(narrowFromFloat(DType::kInt32, x.data(), same.data(), x.size()));  // other types: nothing
}

// ---- Names, dispatch, bad arguments.

TEST(ReduceNames, SizesAndNames) {
  const size_t sizes[] = {1, 1, 4, 4, 8, 8, 2, 4, 8, 2};
  const char* names[] = {"int8",   "uint8",   "int32",   "uint32",  "int64",
                         "uint64", "float16", "float32", "float64", "bfloat16"};
  for (int i = 0; i < kNumDTypes; ++i) {
    EXPECT_EQ(dtypeSize(DType(i)), sizes[i]);
    EXPECT_STREQ(dtypeName(DType(i)), names[i]);
  }
  EXPECT_EQ(dtypeSize(DType(kNumDTypes)), 0u);
  EXPECT_STREQ(dtypeName(DType(-1)), "?");
  EXPECT_STREQ(redOpName(RedOp::kAvg), "avg");
  EXPECT_STREQ(redOpName(RedOp(kNumRedOps)), "?");
}

TEST(ReduceDispatch, EnvMayOnlyLowerTheIsa) {
  using cpu::Isa;
  EXPECT_EQ(cpu::chooseIsa(Isa::kAvx512, nullptr), Isa::kAvx512);
  EXPECT_EQ(cpu::chooseIsa(Isa::kAvx512, ""), Isa::kAvx512);
  EXPECT_EQ(cpu::chooseIsa(Isa::kAvx512, "avx2"), Isa::kAvx2);
  EXPECT_EQ(cpu::chooseIsa(Isa::kAvx512, "generic"), Isa::kGeneric);
  EXPECT_EQ(cpu::chooseIsa(Isa::kAvx2, "avx512"), Isa::kAvx2);
  EXPECT_EQ(cpu::chooseIsa(Isa::kGeneric, "avx2"), Isa::kGeneric);
  EXPECT_EQ(cpu::chooseIsa(Isa::kAvx2, "sse9"), Isa::kAvx2);
}

TEST(ReduceDispatch, ReportsTheActiveVariant) {
  const cpu::KernelTable* want = cpu::kernelTable(cpu::chooseIsa(cpu::detectIsa(), std::getenv("TORC_KERNEL_ISA")));
  ASSERT_NE(want, nullptr);
  EXPECT_STREQ(reduceIsa(), want->name);
  EXPECT_EQ(cpu::kernelTable(cpu::detectIsa())->name, std::string(cpu::detectIsa() == cpu::Isa::kAvx512 ? "avx512"
                                                                  : cpu::detectIsa() == cpu::Isa::kAvx2 ? "avx2"
                                                                                                        : "generic"));
}

TEST(ReduceDispatch, UnknownDTypeOrOpLeavesDstAlone) {
  std::vector<float> a(8, 1.0f), b(8, 2.0f), d(8, 7.0f);
  reduce(DType(42), RedOp::kSum, d.data(), a.data(), b.data(), d.size());
  reduce(DType::kFloat32, RedOp(42), d.data(), a.data(), b.data(), d.size());
  finalizeAvg(DType(42), d.data(), d.size(), 2);
  for (float x : d) EXPECT_EQ(x, 7.0f);
}

}  // namespace
}  // namespace torc::kernels
