// Input patterns whose reductions are exact: every value is a small integer (or a power of two
// for products) chosen from the dtype, op and nranks, so every partial result in any order of
// reduction is representable, and the result can be checked bit for bit against the host.
#pragma once

#include <cstddef>
#include <cstdint>

#include "perf/common/bench.h"

namespace torc::perf {

class DataPattern {
 public:
  // For collectives that do not reduce, pass RedOp::kMax: its values only need to differ.
  DataPattern(DType type, RedOp op, int nranks);

  // buf[i] = what `rank` contributes at global element index first + i, for i < n. `seed`
  // shifts the pattern so that a stale buffer from an earlier run does not pass the check.
  void fillInput(void* buf, size_t n, int rank, size_t first, uint64_t seed) const;
  // buf[i] = the op over all ranks of their inputs at first + i (avg included).
  void fillResult(void* buf, size_t n, size_t first, uint64_t seed) const;

 private:
  int64_t input(int rank, uint64_t idx) const;
  int64_t result(uint64_t idx) const;
  size_t period() const;  // input(r, idx) == input(r, idx + period()) for every r

  DType type_;
  RedOp op_;
  int nranks_;
  bool signed_;   // the dtype holds negative values
  int64_t mag_;   // sum/avg: largest |value| or base
  int64_t twos_;  // prod: most factors of two in one product
};

// Fills `bytes` with a byte pattern that no pattern above produces for floating types and
// is unlikely for integers: stands for "not written".
void poisonBuffer(void* buf, size_t bytes);

// Number of elements of `got` whose bits differ from `want`. When any differ, the index of
// the first is written to *firstBad.
size_t countWrong(DType type, const void* got, const void* want, size_t n, size_t* firstBad);

// Round-to-nearest-even conversions for the 16-bit float types.
uint16_t floatToHalf(float f);
uint16_t floatToBfloat16(float f);

}  // namespace torc::perf
