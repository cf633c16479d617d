// torc as a perf backend, through the public C API only (include/torc.h): what a user of the
// library would write. The communicator comes from the launcher's environment (torcrun).
#pragma once

#include <string>

#include "perf/common/bench.h"
#include "torc.h"

namespace torc::perf {

class TorcBackend final : public Backend {
 public:
  const char* name() const override { return "torc"; }
  std::string version() const override;
  bool init() override;
  int rank() const override { return rank_; }
  int nranks() const override { return nranks_; }
  bool supports(Coll, DType, RedOp) const override { return true; }
  bool barrier() override;
  bool run(Coll coll, const void* send, void* recv, size_t count, DType t, RedOp op, int root) override;
  bool supportsSparse() const override { return true; }
  bool runSparse(const void* send, void* recv, size_t count, size_t k, SparseMode mode) override;
  std::string error() const override { return error_; }
  void finalize() override;
  void abort() override;

 private:
  bool check(torcResult_t rc, const char* call);

  torcComm_t comm_ = nullptr;
  int rank_ = 0;
  int nranks_ = 1;
  std::string error_;
};

}  // namespace torc::perf
