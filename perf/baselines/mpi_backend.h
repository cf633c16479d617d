// Open MPI (any MPI) as a perf backend: the baseline torc's tables are compared against.
// Datatypes: MPI has no half or bfloat16, so reductions of those are reported unsupported;
// all-gather and broadcast move them as 16-bit integers. Ops: avg is MPI_SUM followed by a
// division by nranks on the host (integers truncate toward zero, as torcAvg), and that pass
// is inside the timed call.
#pragma once

#include <mpi.h>

#include <string>

#include "perf/common/bench.h"

namespace torc::perf {

class MpiBackend final : public Backend {
 public:
  const char* name() const override { return "mpi"; }
  std::string version() const override;
  bool init() override;
  int rank() const override { return rank_; }
  int nranks() const override { return nranks_; }
  bool supports(Coll coll, DType t, RedOp op) const override;
  bool barrier() override;
  bool run(Coll coll, const void* send, void* recv, size_t count, DType t, RedOp op, int root) override;
  std::string error() const override { return error_; }
  void finalize() override;
  void abort() override;

 private:
  bool check(int rc, const char* call);

  int rank_ = 0;
  int nranks_ = 1;
  bool initialized_ = false;
  std::string error_;
};

}  // namespace torc::perf
