// The communicator: what a torcComm_t points to. It owns the transport and its endpoints,
// the per-communicator scratch memory, the plan cache and the executor, and turns one
// collective call into one executed Plan.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "include/torc.h"
#include "kernels/reduce.h"
#include "src/algos/algorithm.h"
#include "src/algos/executor.h"
#include "src/algos/oneshot.h"
#include "src/algos/staged.h"
#include "src/algos/timing.h"
#include "src/base/status.h"
#include "src/core/bootstrap.h"
#include "src/core/progress.h"
#include "src/topology/local_topology.h"
#include "src/transport/shm/shm_segment.h"
#include "src/transport/transport.h"

namespace torc::core {

struct PeerInfo {
  std::string nodeId;
  std::string host;
  int pid = 0;
  uint64_t pidNs = 0;  // inode of the pid namespace the pid belongs to
  uint64_t probeAddr = 0;  // a known word in its memory (direct-access check)
  std::string transport;   // its transport's name(): every rank must use the same
  std::vector<uint8_t> address;
  topology::LocalTopology topo;  // what it discovered (hwloc)
};

// How the communicator's ranks sit on nodes (ranks with equal node identity share one).
struct Grouping {
  int nodes = 1;                  // distinct nodes
  int node = 0;                   // this rank's node, numbered by lowest rank
  int localRank = 0;              // position among the ranks of its node, by rank
  int localRanks = 1;             // ranks on this rank's node
  std::vector<int> nodeOf;        // node of every rank
  std::vector<int> ringOrder;     // ranks node by node: the ring crosses between nodes `nodes` times
  std::string describe() const;   // "2 nodes: node 0 = ranks 0,1; node 1 = ranks 2,3"
};
Grouping groupRanks(const std::vector<std::string>& nodeIds, int rank);

// TORC_TIMEOUT, made usable: positive and bounded.
double effectiveTimeout();

class Comm {
 public:
  // Collective over nranks processes (or threads) holding the same root info.
  static Result<std::unique_ptr<Comm>> create(const RootInfo& root, int nranks, int rank);
  ~Comm();

  int rank() const { return rank_; }
  int nranks() const { return nranks_; }
  const PeerInfo& peer(int r) const { return peers_[static_cast<size_t>(r)]; }
  const Grouping& grouping() const { return grouping_; }

  // Runs one collective to completion on this rank, after every operation submitted before it.
  Status run(const algos::CollArgs& args, const void* input, void* output, kernels::DType dtype,
             kernels::RedOp op);

  // Hands work (which calls run()) to the communicator's progress thread, started on first use;
  // operations run one at a time, in submission order.
  std::shared_ptr<AsyncOp> submit(std::function<Status()> work);
  // Waits until every operation submitted before has finished (no-op on the progress thread).
  void drainAsync();

  // The error that broke the communicator (kOk while healthy).
  Status asyncError() const;
  // Marks the communicator failed: later operations fail fast with this error.
  void setFailed(const Status& s);
  // Releases the transport without waiting for anyone (torcCommAbort).
  void abort();

  std::string lastError;  // for torcGetLastError(comm)

 private:
  Comm(int rank, int nranks) : rank_(rank), nranks_(nranks) {}
  Status init(const RootInfo& root);
  Status connectPeers(const algos::Plan& plan);
  Status connectPeer(int peer);
  std::string peerFailure(int peer) const;
  Status setUpLocalPaths(const RootInfo& root);
  std::string shmName(const RootInfo& root) const;
  void chooseTorusGrid();
  Status measureLinks();
  Status exchange(bool send, void* buf, size_t bytes, int peer);

  int rank_;
  int nranks_;
  double timeoutSec_ = 300;
  size_t chunkBytes_ = 0;
  int scratchSlots_ = 0;
  size_t directMinBytes_ = 0;
  size_t smallMaxBytes_ = 0;
  size_t stagedMinBytes_ = 0;
  std::string algo_;  // TORC_ALGO, read once
  size_t directChunkBytes_ = 0;
  size_t shmSlotBytes_ = 0;     // the shared segment's slot size (0: no segment)
  size_t oneshotMaxBytes_ = 0;
  bool ownCores_ = false;  // every rank of this machine has a core of its own
  std::unique_ptr<transport::DirectAccess> direct_;
  std::unique_ptr<transport::ShmSegment> shm_;  // this node's segment (all ranks on one node)
  std::unique_ptr<algos::OneShot> oneshot_;
  std::unique_ptr<algos::StagedAllReduce> staged_;
  std::string nodeId_;
  uint64_t pidNs_ = 0;
  std::atomic<bool> aborting_{false};
  std::mutex runMu_;  // held while an operation runs, so abort can wait for it
  std::vector<PeerInfo> peers_;
  Grouping grouping_;
  int torusRows_ = 0, torusCols_ = 0;  // 2D-torus grid (0: none)
  algos::LinkModel links_;              // for choosing algorithms (the same on every rank)
  std::unique_ptr<transport::Transport> transport_;
  std::vector<std::unique_ptr<transport::Endpoint>> endpoints_;
  algos::ExecContext ctx_;
  algos::PlanCache plans_;
  std::unique_ptr<algos::Executor> executor_;
  std::unique_ptr<Progress> progress_;  // torc.h's ...Async calls (null until the first)
  void* scratch_ = nullptr;
  size_t scratchBytes_ = 0;
  uint64_t collSeq_ = 0;
  std::vector<uint64_t> sendSeq_, recvSeq_;
  mutable std::mutex errMu_;
  Status failed_;
  std::atomic<bool> hasFailed_{false};  // failed_ is set: the hot path reads only this
};

}  // namespace torc::core

struct torcComm;
namespace torc::core {
class DeviceStaging;
}

namespace torc::core {
// What a communicator's asynchronous requests share with it; it outlives an aborted handle.
struct AsyncLink {
  std::atomic<torcComm*> comm{nullptr};  // null once the handle is aborted or destroyed
  std::atomic<int> open{0};              // requests not yet completed by torcWait / torcTest
  std::atomic<int> completing{0};        // completions that may be using `comm` right now
  // Nulls `comm`, then waits for completions that may have read it before.
  void detach();
};
}  // namespace torc::core

// The C handle is the communicator itself.
struct torcComm {
  std::unique_ptr<torc::core::Comm> comm;
  std::atomic<int> activeCalls{0};  // API calls inside this handle (torcCommAbort waits for them)
  std::shared_ptr<torc::core::AsyncLink> async;  // made with the handle, never replaced
  std::shared_ptr<torc::core::DeviceStaging> staging;  // pinned buffers for device memory (device.h)
};
