// The plan simulator: all p ranks' Plans, run by one thread over the in-process loopback
// fabric with the real executor and kernels. Tests use it to check algorithms for p up to
// hundreds without processes or a network; a deadlock (a plan waiting for a message nobody
// sends) is reported, not hung on.
#pragma once

#include <memory>
#include <vector>

#include "src/algos/algorithm.h"
#include "src/algos/executor.h"
#include "src/transport/loopback/loopback_transport.h"

namespace torc::algos {

class Simulator {
 public:
  explicit Simulator(int nranks);
  ~Simulator();
  int nranks() const { return nranks_; }

  // Builds every rank's plan from `proto` (rank filled in) and runs them together.
  // inputs[r] / outputs[r] are rank r's buffers.
  Status run(const CollArgs& proto, kernels::DType dtype, kernels::RedOp op, const std::vector<const void*>& inputs,
             const std::vector<void*>& outputs);
  uint64_t bytesMoved() const { return fabric_.bytesMoved(); }
  size_t unmatchedMessages() const { return fabric_.unmatched(); }

 private:
  int nranks_;
  transport::Fabric fabric_;
  std::vector<std::unique_ptr<transport::Transport>> transports_;
  std::vector<std::vector<std::unique_ptr<transport::Endpoint>>> endpoints_;
  std::vector<ExecContext> contexts_;
  std::vector<std::vector<char>> scratch_;
  std::unique_ptr<transport::DirectAccess> direct_;
  uint64_t seq_ = 0;
};

}  // namespace torc::algos
