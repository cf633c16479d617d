// Algorithm choice. Today each collective has one host algorithm; TORC_ALGO is validated here
// so that forcing an algorithm that does not exist is an error, not a silent fallback.
#include <algorithm>
#include <cstring>

#include "src/algos/algorithm.h"
#include "src/algos/executor.h"
#include "src/algos/oneshot.h"
#include "src/algos/timing.h"
#include "src/base/log.h"
#include "src/base/param.h"

TORC_PARAM_CHOICE(Algo, "ALGO", "auto", "auto|ring|direct|rd|oneshot|twoshot|staged|torus2d",
                  "all-reduce algorithm: ring, direct (one node, reads and writes peers' memory), staged (one "
                  "node, reads peers' memory, results staged in shared memory), rd (recursive doubling), oneshot "
                  "(one node, through shared memory, up to TORC_SHM_SLOT_BYTES), twoshot (the same, larger sizes in "
                  "rounds of a slot), auto (oneshot up to TORC_ONESHOT_MAX_BYTES, twoshot up to TORC_SHM_SLOT_BYTES "
                  "and above it in rounds (every size when each rank of the machine has a core of its own, else up to "
                  "TORC_STAGED_MIN_BYTES), else rd up to "
                  "TORC_SMALL_MAX_BYTES, staged from TORC_STAGED_MIN_BYTES out of place and direct from "
                  "TORC_DIRECT_MIN_BYTES when possible, else ring), torus2d (hierarchical: rows within nodes, columns "
                  "across them; TORC_TORUS_DIMS)");

namespace torc::algos {

const char* collName(Coll c) {
  switch (c) {
    case Coll::kAllReduce: return "allreduce";
    case Coll::kAllGather: return "allgather";
    case Coll::kReduceScatter: return "reducescatter";
    case Coll::kBroadcast: return "broadcast";
    case Coll::kReduce: return "reduce";
    case Coll::kSend: return "send";
    case Coll::kRecv: return "recv";
    case Coll::kSendRecv: return "sendrecv";
    case Coll::kBarrier: return "barrier";
  }
  return "?";
}

ShmPath shmPath(const CollArgs& a) {
  const size_t bytes = OneShot::postedBytes(a);
  if (a.shmSlotBytes == 0 || a.nranks < 2) return ShmPath::kNone;
  const std::string algo = a.algo ? a.algo : torcParamAlgo();
  // Two-shot runs any size, in rounds of a slot.
  if (a.coll == Coll::kAllReduce && algo == "twoshot") return ShmPath::kTwoShot;
  // Above a slot, rounds of it: every size when each rank has a core of its own (a flag costs a
  // microsecond); where ranks share cores each flag costs a wake-up, and measured still faster
  // than direct below TORC_STAGED_MIN_BYTES, not above.
  if (a.coll == Coll::kAllReduce && algo == "auto" && bytes > a.shmSlotBytes &&
      (a.ownCores || bytes < a.stagedMinBytes))
    return ShmPath::kTwoShot;
  if (bytes > a.shmSlotBytes) return ShmPath::kNone;
  if (a.coll != Coll::kAllReduce) return bytes <= a.oneshotMaxBytes ? ShmPath::kOneShot : ShmPath::kNone;
  if (algo == "oneshot") return ShmPath::kOneShot;
  if (algo != "auto") return ShmPath::kNone;
  if (bytes <= a.oneshotMaxBytes) return ShmPath::kOneShot;
  return ShmPath::kTwoShot;
}

// Staged pays where its non-temporal stores do: large out-of-place results. In place, and below
// that size (results that stay in cache), direct's pushing into peers' buffers measured faster.
bool useStaged(const CollArgs& a, bool inPlace) {
  if (!a.stagedOk || a.coll != Coll::kAllReduce || a.nranks < 2 || a.count == 0) return false;
  const std::string algo = a.algo ? a.algo : torcParamAlgo();
  return algo == "staged" ||
         (algo == "auto" && !inPlace && a.count * a.elemSize >= a.stagedMinBytes);
}

static Result<Plan> build(const CollArgs& a) {
  if (a.nranks < 1 || a.rank < 0 || a.rank >= a.nranks || a.elemSize == 0 || a.scratchSlots < 1)
    return errorf(Code::kInternalError, "bad plan arguments (rank %d of %d, element %zu bytes)", a.rank, a.nranks,
                  a.elemSize);
  switch (a.coll) {
    case Coll::kAllReduce: {
      const std::string algo = a.algo ? a.algo : torcParamAlgo();
      const size_t bytes = a.count * a.elemSize;
      const bool fitsSlot = bytes <= a.chunkBytes;  // recursive doubling keeps one copy in scratch
      // At p = 2 the ring is one exchange too and measured faster (recursive doubling's reduce
      // waits for the send to complete, which cost about 50 us here); from p = 3 on, log2(p)
      // rounds beat 2(p-1) steps (p = 4: 7.7 vs 14 us, p = 8: 30 vs 55 us for 8 bytes).
      if (algo == "torus2d") {
        if (a.torusRows > 0 && a.torusCols > 0 && a.torusRows * a.torusCols == a.nranks) return torus2dAllReduce(a);
        if (a.rank == 0 && a.count > 0)
          TORC_INFO(kLogTuning, "TORC_ALGO=torus2d needs a grid (equal ranks per node, or TORC_TORUS_DIMS); using ring");
        return ringAllReduce(a);
      }
      if (algo == "auto" && a.nodes > 1 && a.links != nullptr) {
        // Between nodes: whichever candidate the model predicts fastest.
        const int perNode = a.nranks / a.nodes;
        std::vector<std::pair<double, std::string>> cands;
        auto consider = [&](const char* name) {
          cands.push_back({predictAnalytic(name, a.nodes, perNode, static_cast<double>(bytes), *a.links,
                                           static_cast<double>(a.chunkBytes)),
                           name});
        };
        consider("ring");
        if (a.torusRows == a.nodes && a.torusCols == perNode) consider("torus2d");
        if (fitsSlot && a.nranks > 2) consider("rd");
        auto best = *std::min_element(cands.begin(), cands.end());
        if (a.rank == 0) {
          std::string why;
          for (auto& [t, name] : cands) why += " " + name + " " + std::to_string(static_cast<long long>(t * 1e6)) + " us";
          TORC_INFO(kLogTuning, "allreduce of %zu bytes: %s (predicted:%s)", bytes, best.second.c_str(), why.c_str());
        }
        if (best.second == "torus2d") return torus2dAllReduce(a);
        if (best.second == "rd") return recursiveDoublingAllReduce(a);
        return ringAllReduce(a);
      }
      if (fitsSlot && (algo == "rd" || (algo == "auto" && a.nranks > 2 && bytes <= a.smallMaxBytes)))
        return recursiveDoublingAllReduce(a);
      if (a.directOk && (algo == "direct" || (algo == "auto" && bytes >= a.directMinBytes))) return directAllReduce(a);
      if ((algo == "direct" || algo == "staged") && a.rank == 0 && a.count > 0)
        TORC_INFO(kLogTuning, "TORC_ALGO=%s needs every rank on one node with cross-memory attach%s; using ring",
                  algo.c_str(), algo == "staged" ? " and shared memory" : "");
      return ringAllReduce(a);
    }
    case Coll::kAllGather: {
      // The 2D all-gather when asked for (TORC_ALGO=torus2d), or between nodes of a grid with
      // more than one rank per node (auto): it sends each block between nodes R-1 times.
      const std::string algo = a.algo ? a.algo : torcParamAlgo();
      const bool grid = a.torusRows > 0 && a.torusCols > 0 && a.torusRows * a.torusCols == a.nranks;
      if (grid && (algo == "torus2d" || (algo == "auto" && a.nodes > 1 && a.torusRows == a.nodes && a.torusCols > 1)))
        return torus2dAllGather(a);
      return ringAllGather(a);
    }
    case Coll::kReduceScatter: return ringReduceScatter(a);
    case Coll::kBroadcast: return chainBroadcast(a);
    case Coll::kReduce: return chainReduce(a);
    case Coll::kSend: return p2pSend(a);
    case Coll::kRecv: return p2pRecv(a);
    case Coll::kSendRecv: return p2pSendRecv(a);
    case Coll::kBarrier: return disseminationBarrier(a);
  }
  return errorf(Code::kInternalError, "unknown collective %d", static_cast<int>(a.coll));
}

Result<Plan> buildPlan(const CollArgs& a) {
  // Steps are built per chunk: refuse, before allocating them, what tags could not number.
  const size_t perPeer = 2 * (a.count / std::max<size_t>(1, a.chunkBytes / a.elemSize) + 1);
  if (a.coll != Coll::kSend && a.coll != Coll::kRecv && a.coll != Coll::kSendRecv && a.coll != Coll::kBarrier &&
      perPeer > kMaxMessagesPerPeer)
    return errorf(Code::kInvalidArgument, "%zu elements in chunks of %zu bytes need more messages than tags can number; "
                  "raise TORC_CHUNK_BYTES", a.count, a.chunkBytes);
  TORC_ASSIGN_OR_RETURN(Plan plan, build(a));
  if (plan.maxMessagesPerPeer() > kMaxMessagesPerPeer)
    return errorf(Code::kInvalidArgument, "%s of %zu elements needs %u messages per peer (at most %u); raise TORC_CHUNK_BYTES",
                  plan.name.c_str(), a.count, plan.maxMessagesPerPeer(), kMaxMessagesPerPeer);
  return plan;
}

Result<const Plan*> PlanCache::get(const CollArgs& a) {
  Key key{static_cast<int>(a.coll), a.count, a.elemSize, a.root, a.peer, a.chunkBytes, a.scratchSlots, a.directOk,
          a.algo ? a.algo : "", a.torusRows, a.torusCols, a.recvPeer, a.recvCount};
  auto it = plans_.find(key);
  if (it != plans_.end()) return static_cast<const Plan*>(it->second.get());
  TORC_ASSIGN_OR_RETURN(Plan plan, buildPlan(a));
  if (plans_.size() >= 256) plans_.clear();  // applications use few shapes; bound the memory anyway
  TORC_TRACE(kLogColl, "%s", plan.toString().c_str());
  auto owned = std::make_unique<Plan>(std::move(plan));
  const Plan* ptr = owned.get();
  plans_.emplace(key, std::move(owned));
  return ptr;
}

}  // namespace torc::algos
