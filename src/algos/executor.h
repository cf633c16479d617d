// The one executor: runs a Plan's steps over a Transport and the reduction kernels.
//
// A step starts when the steps it waits for have completed. Sends and receives are posted to
// the transport and complete asynchronously; a RecvReduce then reduces out of its scratch slot;
// local steps (reduce, copy, finalize) run at once. poll() never blocks, so one thread can drive
// many executors (the simulator); run() drives one to completion, spinning briefly and then
// waiting on the transport, and fails when nothing has moved for `timeout` seconds.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "kernels/reduce.h"
#include "src/algos/plan.h"
#include "src/base/status.h"
#include "src/transport/transport.h"

namespace torc::algos {

struct ExecContext {
  int rank = 0;
  int nranks = 1;
  transport::Transport* transport = nullptr;
  std::vector<transport::Endpoint*> endpoints;  // by rank; nullptr for self
  // Why a peer is known to have failed ("" while it is not); defaults to the transport's view.
  std::function<std::string(int)> peerFailure;
  // One-sided access to same-node peers' memory (nullptr where unavailable).
  transport::DirectAccess* direct = nullptr;
  // Set by torcCommAbort from another thread: the running operation gives up.
  const std::atomic<bool>* abortFlag = nullptr;
  // Microseconds to poll without yielding when nothing moves (0 when ranks outnumber cores).
  int spinUs = 0;
  // Then microseconds to keep yielding the core before sleeping.
  int yieldUs = 2000;
};

struct ExecArgs {
  const void* input = nullptr;
  void* output = nullptr;
  void* scratch = nullptr;
  size_t scratchBytes = 0;
  kernels::DType dtype = kernels::DType::kFloat32;
  kernels::RedOp op = kernels::RedOp::kSum;
  // High bits of every tag of this operation (which communicator, which operation); the
  // executor adds the sender's rank and the message number.
  uint64_t tagBase = 0;
  // Receives use this base instead when set (a send-receive pair: each direction has its own
  // point-to-point sequence).
  bool separateRecvTag = false;
  uint64_t recvTagBase = 0;
};

// Tag layout: [63] point-to-point, [62:56] communicator, [55:40] operation sequence,
// [39:24] sender rank, [23:0] message number (plans number at most kMaxMessagesPerPeer
// messages per peer; operations on one communicator are ordered, so 16 sequence bits suffice).
constexpr uint32_t kMaxMessagesPerPeer = (1u << 24) - 1;
uint64_t makeTagBase(bool p2p, uint32_t commId, uint64_t seq);

class Executor {
 public:
  Executor() = default;
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  Status start(const Plan& plan, const ExecArgs& args, const ExecContext& ctx);
  // Advances without blocking; true once every step is complete.
  Result<bool> poll();
  // Cancels whatever is in flight (after an error). Returns false if some request could not be
  // retired within a second: the executor must then outlive the transport.
  bool cancelAll();
  // start + poll/progress/wait until done, an error, or `timeoutSec` without progress.
  Status run(const Plan& plan, const ExecArgs& args, const ExecContext& ctx, double timeoutSec);
  // Completed steps so far (progress detection).
  size_t completed() const { return done_; }
  // The peers of the transfers in flight, for error messages.
  std::string waitingOn() const;
  bool hasInflightWith(int peer) const;
  // Progresses for a short while so that transfers with `peer` can complete.
  Status drainPeer(int peer);

 private:
  Status startStep(uint32_t i);
  Status finishStep(uint32_t i);
  void markDone(uint32_t i);
  char* addr(const Ref& r) const;
  uint64_t remoteAddr(const Ref& r, int peer) const;

  const Plan* plan_ = nullptr;
  ExecArgs args_;
  const ExecContext* ctx_ = nullptr;
  size_t elemSize_ = 0;
  std::unique_ptr<transport::Request[]> reqs_;
  size_t reqCapacity_ = 0;
  std::vector<uint32_t> pendingDeps_;
  std::vector<uint32_t> ready_;
  size_t readyHead_ = 0;
  std::vector<uint32_t> inflight_;
  size_t done_ = 0;
  bool poisoned_ = false;
  mutable uint64_t addrSelf_[2] = {0, 0};  // this rank's input and output, for direct algorithms
  mutable std::vector<uint64_t> addrTable_;  // every rank's {input, output}
};

}  // namespace torc::algos
