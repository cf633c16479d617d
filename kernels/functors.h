// Element-wise arithmetic shared by the CPU loops and the CUDA kernels: the 16-bit float
// storage types, their bit-exact conversions, and the Sum/Prod/Max/Min/avg functors.
//
// Semantics every backend must reproduce bit for bit:
//  - Integers: sum and prod wrap modulo 2^bits (computed in the unsigned type, no UB).
//  - float16/bfloat16: widened to float32 (exact), combined in float32, rounded once to
//    nearest even. Since float32 has at least 2p+2 bits for both formats (p = 11 and 8),
//    this double rounding is innocuous: +, *, / results equal the correctly rounded ones.
//  - Max is `(b > a) ? b : a`, Min is `(b < a) ? b : a`: if a is NaN the result is a; if only
//    b is NaN the result is a. So NaN propagates from a only; max(-0, +0) keeps a. This is
//    exactly x86 maxps/minps with the operands (b, a).
//  - Narrowing a NaN keeps its sign and top payload bits and sets the quiet bit (what F16C
//    does); widening a float16 NaN also quiets it. bfloat16 widening is a plain shift.
//    When both operands of a sum/prod are NaN, which payload survives is unspecified (IEEE
//    leaves it open; x86 keeps the first source operand and compilers may commute).
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/reduce.h"

#ifdef __CUDACC__
#define TORC_HD __host__ __device__
#else
#define TORC_HD
#endif

// The CPU loops are compiled several times with different -m flags. The inline functions
// below get a per-variant mangled name (an inline namespace), so the linker cannot pick an
// AVX-512 copy for a caller in the generic variant.
#ifndef TORC_KERNELS_ABI_TAG
#define TORC_KERNELS_ABI_TAG portable
#endif

namespace torc::kernels {
inline namespace TORC_KERNELS_ABI_TAG {

/// IEEE binary16 storage; arithmetic goes through float32.
struct Half {
  uint16_t bits;
};
/// bfloat16 storage (top half of a float32); arithmetic goes through float32.
struct Bf16 {
  uint16_t bits;
};

TORC_HD inline uint32_t floatToBits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

TORC_HD inline float bitsToFloat(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

// The conversions are branch-free selects so that the auto-vectoriser handles them in the
// generic variant (and on non-x86 targets).
TORC_HD inline float halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t em = h & 0x7fffu;
  uint32_t normal = (em << 13) + 0x38000000u;   // rebias the exponent: 15 -> 127
  uint32_t special = (em << 13) + 0x70000000u;  // Inf/NaN: exponent 0x1f -> 0xff
  special |= (em & 0x3ffu) ? 0x400000u : 0u;    // quiet a NaN (what F16C does)
  // Zero or subnormal: em * 2^-24 is exact and never a float32 denormal, so FTZ/DAZ modes
  // cannot change it.
  uint32_t sub = floatToBits(float(int32_t(em)) * 5.9604644775390625e-8f);
  uint32_t bits = em >= 0x7c00u ? special : em >= 0x400u ? normal : sub;
  return bitsToFloat(sign | bits);
}

TORC_HD inline uint16_t floatToHalf(float f) {
  uint32_t u = floatToBits(f);
  uint32_t sign = (u >> 16) & 0x8000u;
  uint32_t x = u & 0x7fffffffu;
  uint32_t nan = 0x7e00u | ((x >> 13) & 0x3ffu);  // quiet, top payload bits kept
  // Normal half range: rebias and round to nearest even on bit 13; >= 65520 reaches Inf.
  uint32_t normal = (x - 0x38000000u + 0xfffu + ((x >> 13) & 1u)) >> 13;
  normal = normal < 0x7c00u ? normal : 0x7c00u;
  // Below 2^-14 (half subnormals and zero): adding 0.5 rounds |f| to a multiple of 2^-24, the
  // half subnormal spacing, in the FPU's nearest-even mode. The sum is a normal float32,
  // so FTZ cannot touch it, and DAZ only zeroes inputs that round to zero anyway.
  uint32_t sub = floatToBits(bitsToFloat(x) + 0.5f) - 0x3f000000u;
  uint32_t r = x > 0x7f800000u ? nan : x >= 0x38800000u ? normal : sub;
  return uint16_t(sign | r);
}

TORC_HD inline float bf16ToFloat(uint16_t h) { return bitsToFloat(uint32_t(h) << 16); }

TORC_HD inline uint16_t floatToBf16(float f) {
  uint32_t u = floatToBits(f);
  uint32_t nan = (u >> 16) | 0x40u;                           // quiet, sign and top payload bits kept
  uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;  // carries into Inf on overflow
  return uint16_t((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

// How a storage type is computed on: 16-bit floats widen to float, the rest are themselves.
template <typename T>
struct Compute {
  using Type = T;
  TORC_HD static T widen(T x) { return x; }
  TORC_HD static T narrow(T x) { return x; }
};
template <>
struct Compute<Half> {
  using Type = float;
  TORC_HD static float widen(Half x) { return halfToFloat(x.bits); }
  TORC_HD static Half narrow(float x) { return Half{floatToHalf(x)}; }
};
template <>
struct Compute<Bf16> {
  using Type = float;
  TORC_HD static float widen(Bf16 x) { return bf16ToFloat(x.bits); }
  TORC_HD static Bf16 narrow(float x) { return Bf16{floatToBf16(x)}; }
};

template <typename T>
struct Sum {
  TORC_HD T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) {
      using U = std::make_unsigned_t<T>;
      return T(U(U(a) + U(b)));
    } else {
      using C = Compute<T>;
      return C::narrow(C::widen(a) + C::widen(b));
    }
  }
};

template <typename T>
struct Prod {
  TORC_HD T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) {
      // uint8 promotes to int (max 255*255 fits); wider types stay unsigned.
      using U = std::make_unsigned_t<T>;
      return T(U(U(a) * U(b)));
    } else {
      using C = Compute<T>;
      return C::narrow(C::widen(a) * C::widen(b));
    }
  }
};

template <typename T>
struct Max {
  TORC_HD T operator()(T a, T b) const {
    using C = Compute<T>;
    auto x = C::widen(a), y = C::widen(b);
    return C::narrow((y > x) ? y : x);
  }
};

template <typename T>
struct Min {
  TORC_HD T operator()(T a, T b) const {
    using C = Compute<T>;
    auto x = C::widen(a), y = C::widen(b);
    return C::narrow((y < x) ? y : x);
  }
};

/// x / divisor, the last step of an average. divisor must be >= 1 (callers check).
/// Integers truncate toward zero; float16/bfloat16 divide in float32 and round once.
template <typename T>
struct DivBy {
  int divisor;
  TORC_HD T operator()(T x) const {
    if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
      return T(int64_t(x) / int64_t(divisor));
    } else if constexpr (std::is_integral_v<T>) {
      return T(uint64_t(x) / uint64_t(divisor));
    } else {
      using C = Compute<T>;
      using F = typename C::Type;
      return C::narrow(C::widen(x) / F(divisor));
    }
  }
};

/// Calls f(T{}) with the storage type of t; returns false (f not called) for an unknown dtype.
template <typename F>
inline bool visitDType(DType t, F&& f) {
  switch (t) {
    case DType::kInt8:
      f(int8_t{});
      return true;
    case DType::kUint8:
      f(uint8_t{});
      return true;
    case DType::kInt32:
      f(int32_t{});
      return true;
    case DType::kUint32:
      f(uint32_t{});
      return true;
    case DType::kInt64:
      f(int64_t{});
      return true;
    case DType::kUint64:
      f(uint64_t{});
      return true;
    case DType::kFloat16:
      f(Half{});
      return true;
    case DType::kFloat32:
      f(float{});
      return true;
    case DType::kFloat64:
      f(double{});
      return true;
    case DType::kBfloat16:
      f(Bf16{});
      return true;
  }
  return false;
}

}  // namespace TORC_KERNELS_ABI_TAG
}  // namespace torc::kernels
