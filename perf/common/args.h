// Command-line flags of the perf benchmarks: nccl-tests' set plus -A (algorithm), -J (JSON),
// -p (wire datatype, a placeholder) and -q (no progress line).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "perf/common/bench.h"

namespace torc::perf {

// How the per-rank times of one measurement are combined (nccl-tests' -a).
enum class TimeAverage : int { kRank0 = 0, kMean = 1, kMin = 2, kMax = 3 };

struct BenchArgs {
  size_t minBytes = 32u << 20;
  size_t maxBytes = 32u << 20;
  size_t stepBytes = 1u << 20;
  size_t stepFactor = 1;  // > 1: geometric sweep, else arithmetic by stepBytes
  int iters = 20;
  int warmupIters = 5;
  int aggIters = 1;
  int check = 1;  // number of checked runs per measurement; 0 disables checking
  std::vector<DType> dtypes{DType::kFloat32};
  std::vector<RedOp> ops{RedOp::kSum};
  int root = 0;  // -1: every rank in turn (broadcast, reduce)
  TimeAverage average = TimeAverage::kMean;
  std::string algo;      // -A: exported as TORC_ALGO before the backend starts
  std::string jsonPath;  // -J: rank 0 writes the rows there
  // -p: exported as TORC_WIRE_DTYPE before the backend starts. A placeholder for mixed
  // precision (reduce in the buffer's type, move another on the wire): nothing reads it yet.
  std::string wireDtype;
  bool quiet = false;  // -q: no progress line on stderr
  // --density d (0 < d <= 1): all-reduce becomes the sparse top-k all-reduce with
  // k = d * count per rank; --mode names what it delivers (sum: every rank's top-k summed).
  double density = 0;
  SparseMode sparseMode = SparseMode::kSum;
};

enum class ParseOutcome { kRun, kHelp, kError };

// Parses argv into *args. On kError, *message says why; on kHelp, it holds the usage text.
ParseOutcome parseArgs(int argc, char** argv, BenchArgs* args, std::string* message);

// "8", "64K", "1M", "1.5G", "32KiB", "2MB": binary multiples. False on junk or overflow.
bool parseSize(const char* text, size_t* bytes);

}  // namespace torc::perf
