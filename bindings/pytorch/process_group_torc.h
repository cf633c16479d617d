// A c10d ProcessGroup on torc, for the PyTorch Debian 12 ships (1.13). Every operation is one
// blocking torc call on host tensors (serialised per group), so each Work is complete when returned and its future
// already holds the output tensors (DDP's communication hooks chain on getFuture()). Calls torc
// does not have (gather, scatter, all-to-all, receive from any source) are left to the base
// class, which raises "ProcessGroup torc does not support <operation>".
#pragma once

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "torc.h"

namespace torc::pytorch {

class ProcessGroupTorc : public c10d::ProcessGroup {
 public:
  // Collective over the group: rank 0 makes the torc unique id and puts it in `store` (the
  // prefixed store c10d hands each group), the others wait for it there.
  ProcessGroupTorc(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                   std::chrono::milliseconds timeout);
  ~ProcessGroupTorc() override;

  const std::string getBackendName() const override { return "torc"; }

  c10::intrusive_ptr<c10d::Work> broadcast(std::vector<at::Tensor>& tensors,
                                           const c10d::BroadcastOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allreduce(std::vector<at::Tensor>& tensors,
                                           const c10d::AllreduceOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allreduce_coalesced(std::vector<at::Tensor>& tensors,
                                                     const c10d::AllreduceCoalescedOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> reduce(std::vector<at::Tensor>& tensors, const c10d::ReduceOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allgather(std::vector<std::vector<at::Tensor>>& outputs,
                                           std::vector<at::Tensor>& inputs,
                                           const c10d::AllgatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> _allgather_base(at::Tensor& output, at::Tensor& input,
                                                 const c10d::AllgatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> reduce_scatter(std::vector<at::Tensor>& outputs,
                                                std::vector<std::vector<at::Tensor>>& inputs,
                                                const c10d::ReduceScatterOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> _reduce_scatter_base(at::Tensor& output, at::Tensor& input,
                                                      const c10d::ReduceScatterOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> barrier(const c10d::BarrierOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> send(std::vector<at::Tensor>& tensors, int dstRank, int tag) override;
  c10::intrusive_ptr<c10d::Work> recv(std::vector<at::Tensor>& tensors, int srcRank, int tag) override;

  torcComm_t comm() const { return comm_; }

 private:
  // torc takes a communicator from one thread at a time; c10d users may call from several (DDP's
  // autograd thread and the main one). Held around every torc call and its error message.
  std::mutex mu_;
  torcComm_t comm_ = nullptr;
};

// torc's type for a tensor's dtype; throws (a Python RuntimeError) naming the operation for a
// dtype torc has no type for (bool, complex, quantized).
torcDataType_t torcTypeOf(const at::Tensor& t, const char* op);

}  // namespace torc::pytorch
