// The nccl-tests-style sweep driver shared by every benchmark in perf/: torc's own benches
// and the baselines (Open MPI, later Gloo) implement Backend and call benchMain(), so all of
// them accept the same flags and print the same table. Nothing here depends on torc itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace torc::perf {

enum class Coll : int { kAllReduce, kAllGather, kReduceScatter, kBroadcast, kReduce };

// Same numbers as torcDataType_t / ncclDataType_t, so a backend may cast.
enum class DType : int {
  kInt8 = 0,
  kUint8 = 1,
  kInt32 = 2,
  kUint32 = 3,
  kInt64 = 4,
  kUint64 = 5,
  kFloat16 = 6,
  kFloat32 = 7,
  kFloat64 = 8,
  kBfloat16 = 9,
};
constexpr int kNumDTypes = 10;

// Same numbers as torcRedOp_t. kAvg is the sum divided once by nranks (integers truncate).
enum class RedOp : int { kSum = 0, kProd = 1, kMax = 2, kMin = 3, kAvg = 4 };
constexpr int kNumRedOps = 5;

const char* collName(Coll c);     // "allreduce", ...
const char* dtypeName(DType t);   // nccl-tests' names: "int8", ..., "half", "float", "bfloat16"
const char* redOpName(RedOp op);  // "sum", "prod", "max", "min", "avg"
size_t dtypeSize(DType t);
bool collReduces(Coll c);  // takes an op
bool collHasRoot(Coll c);  // broadcast, reduce

// Sparse (top-k) all-reduce modes; numbers as torcTopkMode_t.
enum class SparseMode : int { kSum = 0, kGlobalExact = 1, kGlobalTree = 2, kHierarchical = 3 };
// k for a density: at least 1 element when count > 0.
size_t sparseK(size_t count, double density);

// One communication library as the driver sees it. Calls are blocking and made by one thread.
// Argument conventions are NCCL's: `count` is the per-rank send count for all-gather and the
// per-rank receive count for reduce-scatter; in-place is send == recv (all-reduce, broadcast,
// reduce), send == recv + rank*count (all-gather), recv == send + rank*count (reduce-scatter).
// Methods return false on failure and leave the reason in error().
class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  virtual std::string version() const = 0;
  // Joins the job described by the environment (torcrun, mpirun). Called once, after the
  // driver has exported TORC_ALGO from -A.
  virtual bool init() = 0;
  virtual int rank() const = 0;
  virtual int nranks() const = 0;
  // Whether `coll` on `t` (with `op`, when coll reduces) can run. All-reduce of float64
  // (sum, min, max) and int64 (sum) must work: the driver combines times and error counts
  // with them.
  virtual bool supports(Coll coll, DType t, RedOp op) const = 0;
  virtual bool barrier() = 0;
  virtual bool run(Coll coll, const void* send, void* recv, size_t count, DType t, RedOp op, int root) = 0;
  // Sparse top-k all-reduce of float32 (no residual): recv = the mode's result. Backends
  // without one say so.
  virtual bool supportsSparse() const { return false; }
  virtual bool runSparse(const void* send, void* recv, size_t count, size_t k, SparseMode mode) {
    (void)send, (void)recv, (void)count, (void)k, (void)mode;
    return false;
  }
  virtual std::string error() const = 0;
  virtual void finalize() = 0;
  // Best effort after a fatal error: tear down without waiting for peers.
  virtual void abort() = 0;
};

// Parses nccl-tests' flags, runs the sweep for `coll` and prints the table on rank 0.
// Returns the process exit code: 0, 1 when a result was wrong or the bandwidth was under
// TORC_TESTS_MIN_BW, 2 on bad arguments or a backend failure.
int benchMain(int argc, char** argv, Coll coll, Backend& backend);

}  // namespace torc::perf
