// What an algorithm is given (CollArgs) and the builders that turn it into a Plan.
// Builders are pure functions: the same arguments give the same Plan on every call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "src/algos/plan.h"
#include "src/base/status.h"

namespace torc::algos {

struct LinkModel;

// kSendRecv: count elements to `peer` and count from it at once (a pairwise exchange).
enum class Coll : uint8_t { kAllReduce, kAllGather, kReduceScatter, kBroadcast, kReduce, kSend, kRecv, kBarrier, kSendRecv };
const char* collName(Coll c);

struct CollArgs {
  Coll coll = Coll::kAllReduce;
  int rank = 0;
  int nranks = 1;
  size_t count = 0;       // elements: per rank for all-gather/reduce-scatter (NCCL's sendcount/recvcount)
  size_t elemSize = 4;    // bytes per element
  int root = 0;           // broadcast, reduce
  int peer = -1;          // send, recv
  // Send-receive: receives recvCount elements from recvPeer while sending count to peer (-1 and
  // SIZE_MAX: the same peer and count).
  int recvPeer = -1;
  size_t recvCount = SIZE_MAX;
  size_t chunkBytes = 512 << 10;  // pipelining granularity
  int scratchSlots = 4;           // chunk-sized receive buffers in flight
  // Direct algorithms (one node, peers' memory readable): usable, from what size, in what chunks.
  bool directOk = false;
  size_t directMinBytes = 32 << 10;
  size_t directChunkBytes = 256 << 10;
  // All-reduces up to this size use recursive doubling when TORC_ALGO=auto (and fit a slot).
  size_t smallMaxBytes = 16 << 10;
  // Shared-memory paths on one node: the segment's slot size (0: there is none); collectives whose
  // contribution per rank fits oneshotMaxBytes run one-shot, larger all-reduces that fit a slot
  // two-shot, and so do larger ones in rounds of a slot: all of them when ownCores (every rank of
  // this machine has a core of its own, so the rounds' flags are handed over by spinning), else
  // those below stagedMinBytes.
  size_t shmSlotBytes = 0;
  size_t oneshotMaxBytes = 32 << 10;
  bool ownCores = false;
  // The staged all-reduce (staged.h) is set up: one node, shared segment and peers' memory.
  bool stagedOk = false;
  size_t stagedMinBytes = 16 << 20;  // out-of-place all-reduces from this size run staged (auto)
  // 2D-torus grid: rows x cols == nranks (0 when none is defined); gridOrder[i] is the rank at
  // grid position i, row-major (nullptr: rank i). Not part of plan identity beyond the dims:
  // a communicator's order never changes.
  int torusRows = 0;
  int torusCols = 0;
  const int* gridOrder = nullptr;
  // Multi-node all-reduce with TORC_ALGO=auto picks the candidate `links` predicts fastest.
  int nodes = 1;
  const LinkModel* links = nullptr;
  // Forces an all-reduce algorithm ("ring", "direct", "rd"); empty: TORC_ALGO decides.
  const char* algo = nullptr;
};

// Chunk size in elements: a scratch slot's worth (at least one element). buildPlan rejects a
// plan that would need more messages per peer than tags number.
size_t chunkElems(const CollArgs& a);

// The builders. Every one handles count 0 (empty plan), nranks 1 (local copy), any count
// relative to nranks, and in-place buffers (the executor skips copies onto themselves; plans
// order every write after the reads of the same memory).
Plan ringAllReduce(const CollArgs& a);
Plan ringAllGather(const CollArgs& a);
Plan ringReduceScatter(const CollArgs& a);
Plan chainBroadcast(const CollArgs& a);
Plan chainReduce(const CollArgs& a);
Plan p2pSend(const CollArgs& a);
Plan p2pRecv(const CollArgs& a);
Plan p2pSendRecv(const CollArgs& a);
Plan disseminationBarrier(const CollArgs& a);
Plan directAllReduce(const CollArgs& a);
Plan recursiveDoublingAllReduce(const CollArgs& a);
Plan torus2dAllReduce(const CollArgs& a);
Plan torus2dAllGather(const CollArgs& a);

// Whether this collective runs through shared memory (see oneshot.h) instead of a plan.
enum class ShmPath { kNone, kOneShot, kTwoShot };
ShmPath shmPath(const CollArgs& a);
// Whether this all-reduce runs staged through shared memory (see staged.h).
bool useStaged(const CollArgs& a, bool inPlace);

// Picks the algorithm (TORC_ALGO, else the default for the collective) and builds its plan.
Result<Plan> buildPlan(const CollArgs& a);

// Plans are cached per communicator: building one costs O(steps), running it reuses it.
class PlanCache {
 public:
  Result<const Plan*> get(const CollArgs& a);

 private:
  using Key = std::tuple<int, size_t, size_t, int, int, size_t, int, bool, std::string, int, int, int, size_t>;
  std::map<Key, std::unique_ptr<Plan>> plans_;
};

}  // namespace torc::algos
