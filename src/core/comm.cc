#include "src/core/comm.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "src/base/log.h"
#include "src/base/param.h"
#include "src/core/transport_choice.h"
#include "src/topology/node_id.h"
#include "src/transport/cma/cma_access.h"
#include "src/transport/transport.h"

TORC_PARAM(Timeout, double, "TIMEOUT", 300.0,
           "seconds without progress (or to rendezvous) before an operation fails with torcTimeout");
TORC_PARAM(ChunkBytes, int64_t, "CHUNK_BYTES", 512 << 10, "bytes per pipelined chunk of ring/chain algorithms");
TORC_PARAM(SpinUs, int64_t, "SPIN_US", -1,
           "microseconds to poll before yielding the core; -1: 50 unless this node's ranks outnumber its cores, then 0");
TORC_PARAM(Cma, bool, "CMA", true, "let ranks of one node read and write each other's buffers (cross-memory attach)");
TORC_PARAM(DirectMinBytes, int64_t, "DIRECT_MIN_BYTES", 32 << 10,
           "smallest all-reduce (bytes) that uses the direct algorithm when TORC_ALGO=auto");
TORC_PARAM(SmallMaxBytes, int64_t, "SMALL_MAX_BYTES", 16 << 10,
           "largest all-reduce (bytes) that uses recursive doubling when TORC_ALGO=auto");
TORC_PARAM(DirectChunkBytes, int64_t, "DIRECT_CHUNK_BYTES", 256 << 10,
           "block the direct algorithm reduces at a time (keep it cache-sized)");
TORC_PARAM(Shm, bool, "SHM", true,
           "ranks of one node share a memory segment for small collectives (one-shot, no transport)");
TORC_PARAM(ShmSlotBytes, int64_t, "SHM_SLOT_BYTES", 512 << 10,
           "largest per-rank contribution (bytes) of a collective that runs through shared memory (one-shot or "
           "two-shot; rank 0's value holds)");
TORC_PARAM(OneshotMaxBytes, int64_t, "ONESHOT_MAX_BYTES", -1,
           "largest per-rank contribution (bytes) of a collective that runs one-shot; all-reduces above it that fit "
           "a slot run two-shot from p = 3 (-1: 32 KiB at p = 2, 8 KiB above, where one-shot reads p buffers)");
TORC_PARAM(YieldUs, int64_t, "YIELD_US", -1,
           "microseconds a waiting rank keeps yielding the core before it sleeps (after TORC_SPIN_US); -1: 2000, or "
           "200 once this machine's ranks outnumber its cores");
TORC_PARAM(StagedMinBytes, int64_t, "STAGED_MIN_BYTES", 16 << 20,
           "out-of-place all-reduces from this size (bytes) run staged when TORC_ALGO=auto, and write their results "
           "with non-temporal stores (results that big leave the cache anyway; smaller ones are better kept there)");
TORC_PARAM(Bind, bool, "BIND", false, "bind each rank to cores near its GPU or NIC (hwloc), local ranks spread");
TORC_PARAM(TorusDims, std::string, "TORUS_DIMS", "",
           "RxC grid of the 2D-torus all-reduce, row-major over ranks grouped by node (default: a row per node, "
           "when every node has as many ranks)");
TORC_DECLARE_PARAM(Algo, std::string);  // select.cc
TORC_PARAM(ScratchSlots, int64_t, "SCRATCH_SLOTS", 4, "chunk-sized receive buffers per communicator");

namespace torc::core {
namespace {

// Staging slots per rank for the staged all-reduce: enough to keep producers a few chunks ahead.
constexpr int kStagedSlots = 4;
// The segment holds the one-shot mailboxes, then the staged all-reduce's region.
size_t stagedOffset(int nranks, size_t slotBytes) {
  return (torc::algos::OneShot::segmentBytes(nranks, slotBytes) + 4095) / 4096 * 4096;
}

// A known word at a known address: peers read it to prove they can reach this process's memory.
const uint64_t kProbeWord = 0x746f72632d636d61ull;

void putU32(std::vector<uint8_t>* b, uint32_t v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  b->insert(b->end(), p, p + 4);
}
void putBytes(std::vector<uint8_t>* b, const void* data, size_t n) {
  putU32(b, static_cast<uint32_t>(n));
  const auto* p = static_cast<const uint8_t*>(data);
  b->insert(b->end(), p, p + n);
}

class Reader {
 public:
  explicit Reader(const Blob& b) : b_(b) {}
  bool u32(uint32_t* v) {
    if (pos_ + 4 > b_.size()) return false;
    memcpy(v, b_.data() + pos_, 4);
    pos_ += 4;
    return true;
  }
  bool bytes(std::vector<uint8_t>* out) {
    uint32_t n;
    if (!u32(&n) || pos_ + n > b_.size()) return false;
    out->assign(b_.begin() + static_cast<long>(pos_), b_.begin() + static_cast<long>(pos_ + n));
    pos_ += n;
    return true;
  }
  bool str(std::string* s) {
    std::vector<uint8_t> v;
    if (!bytes(&v)) return false;
    s->assign(v.begin(), v.end());
    return true;
  }

 private:
  const Blob& b_;
  size_t pos_ = 0;
};

}  // namespace

Result<std::unique_ptr<Comm>> Comm::create(const RootInfo& root, int nranks, int rank) {
  std::unique_ptr<Comm> c(new Comm(rank, nranks));
  TORC_RETURN_IF_ERROR(c->init(root));
  return c;
}

Status Comm::init(const RootInfo& root) {
  timeoutSec_ = effectiveTimeout();
  chunkBytes_ = static_cast<size_t>(std::clamp<int64_t>(torcParamChunkBytes(), 64, int64_t{1} << 30));
  scratchSlots_ = static_cast<int>(std::clamp<int64_t>(torcParamScratchSlots(), 1, 64));
  directMinBytes_ = static_cast<size_t>(std::max<int64_t>(torcParamDirectMinBytes(), 0));
  smallMaxBytes_ = static_cast<size_t>(std::max<int64_t>(torcParamSmallMaxBytes(), 0));
  stagedMinBytes_ = static_cast<size_t>(std::max<int64_t>(torcParamStagedMinBytes(), 0));
  const int64_t oneshotMax = torcParamOneshotMaxBytes();
  oneshotMaxBytes_ = oneshotMax >= 0 ? static_cast<size_t>(oneshotMax) : nranks_ == 2 ? 32 << 10 : 8 << 10;
  algo_ = torcParamAlgo();
  // Two blocks (accumulator, incoming) must fit the scratch.
  directChunkBytes_ = static_cast<size_t>(std::clamp<int64_t>(torcParamDirectChunkBytes(), 64,
                                                              static_cast<int64_t>(chunkBytes_ * scratchSlots_ / 2)));

  transport::TransportOptions opts;
  opts.rank = rank_;
  opts.nranks = nranks_;
  TORC_ASSIGN_OR_RETURN(transport_, createTransport(opts));  // TORC_TRANSPORT

  PeerInfo me;
  me.nodeId = nodeId_ = topology::localNodeId();
  me.host = topology::localHostName();
  me.pid = static_cast<int>(getpid());
  // A pid means something only inside its pid namespace (containers may share a network).
  struct stat ns {};
  me.pidNs = pidNs_ = stat("/proc/self/ns/pid", &ns) == 0 ? static_cast<uint64_t>(ns.st_ino) : 0;
  me.address = transport_->address();
  me.transport = transport_->name();
  Blob blob;
  putBytes(&blob, me.nodeId.data(), me.nodeId.size());
  putBytes(&blob, me.host.data(), me.host.size());
  putU32(&blob, static_cast<uint32_t>(me.pid));
  putU32(&blob, static_cast<uint32_t>(me.pidNs));
  putU32(&blob, static_cast<uint32_t>(me.pidNs >> 32));
  const uint64_t probe = reinterpret_cast<uint64_t>(&kProbeWord);
  putU32(&blob, static_cast<uint32_t>(probe));
  putU32(&blob, static_cast<uint32_t>(probe >> 32));
  putBytes(&blob, me.transport.data(), me.transport.size());
  putBytes(&blob, me.address.data(), me.address.size());
  auto found = topology::discoverLocal();
  if (found.isOk()) {
    me.topo = std::move(found).value();
  } else {
    TORC_INFO(kLogInit, "topology discovery failed: %s", found.status().message().c_str());
    me.topo.host = me.host;
  }
  const std::vector<uint8_t> topoBytes = me.topo.serialize();
  putBytes(&blob, topoBytes.data(), topoBytes.size());

  const bool eager = transport_->wantsEagerConnect();
  Socket link;  // to the root, kept for the barrier after connecting eagerly
  TORC_ASSIGN_OR_RETURN(std::vector<Blob> table,
                        rendezvous(root, rank_, nranks_, blob, timeoutSec_, eager ? &link : nullptr));
  peers_.resize(static_cast<size_t>(nranks_));
  for (size_t r = 0; r < table.size(); ++r) {
    Reader rd(table[r]);
    uint32_t pid = 0, nsLo = 0, nsHi = 0, prLo = 0, prHi = 0;
    PeerInfo& p = peers_[r];
    if (!rd.str(&p.nodeId) || !rd.str(&p.host) || !rd.u32(&pid) || !rd.u32(&nsLo) || !rd.u32(&nsHi) ||
        !rd.u32(&prLo) || !rd.u32(&prHi) || !rd.str(&p.transport) || !rd.bytes(&p.address))
      return errorf(Code::kInternalError, "bootstrap: malformed entry for rank %zu", r);
    std::vector<uint8_t> topo;
    if (!rd.bytes(&topo)) return errorf(Code::kInternalError, "bootstrap: malformed entry for rank %zu", r);
    TORC_ASSIGN_OR_RETURN(p.topo, topology::LocalTopology::deserialize(topo));
    p.pid = static_cast<int>(pid);
    p.pidNs = uint64_t{nsHi} << 32 | nsLo;
    p.probeAddr = uint64_t{prHi} << 32 | prLo;
  }
  TORC_RETURN_IF_ERROR(checkSameTransport(peers_));

  endpoints_.resize(static_cast<size_t>(nranks_));
  ctx_.rank = rank_;
  ctx_.nranks = nranks_;
  ctx_.transport = transport_.get();
  ctx_.endpoints.assign(static_cast<size_t>(nranks_), nullptr);
  ctx_.peerFailure = [this](int peer) { return peerFailure(peer); };
  ctx_.abortFlag = &aborting_;
  sendSeq_.assign(static_cast<size_t>(nranks_), 0);
  recvSeq_.assign(static_cast<size_t>(nranks_), 0);
  executor_ = std::make_unique<algos::Executor>();
  if (eager) {
    for (int q = 0; q < nranks_; ++q)
      if (q != rank_) TORC_RETURN_IF_ERROR(connectPeer(q));
    // Nothing is posted before every rank has connected all its peers: a write reaching a queue
    // pair that is not yet ready is dropped, and costs the writer a retransmission timeout.
    TORC_RETURN_IF_ERROR(bootstrapBarrier(link, rank_, timeoutSec_));
  }

  // Persistent, pre-faulted scratch: nothing is mapped or faulted on the hot path.
  scratchBytes_ = chunkBytes_ * static_cast<size_t>(scratchSlots_);
  scratch_ = mmap(nullptr, scratchBytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (scratch_ == MAP_FAILED) {
    scratch_ = nullptr;
    return sysError(errno, "mmap of %zu scratch bytes", scratchBytes_);
  }

  std::vector<std::string> nodeIds;
  for (auto& p : peers_) nodeIds.push_back(p.nodeId);
  grouping_ = groupRanks(nodeIds, rank_);
  const int localRanks = grouping_.localRanks;
  if (rank_ == 0) TORC_INFO(kLogInit, "%d ranks on %s", nranks_, grouping_.describe().c_str());
  chooseTorusGrid();
  if (torcParamBind()) {
    auto bound = topology::bindNearDevices(me.topo, grouping_.localRank, localRanks);
    if (bound.isOk())
      TORC_INFO(kLogInit, "TORC_BIND: %s", bound.value().c_str());
    else
      TORC_WARN("TORC_BIND: %s", bound.status().message().c_str());
  }
  // Ranks sharing cores must not spin: the rank being waited for may need this very core.
  // Count every rank of this machine (also those in other network namespaces: emulated nodes),
  // and the CPUs they may run on together, as they were before TORC_BIND (a launcher that binds
  // each rank to a core of its own leaves as many cores as ranks).
  const std::string machine = topology::machineOf(peers_[static_cast<size_t>(rank_)].nodeId);
  int machineRanks = 0;
  std::set<int> machineCpus;
  bool cpusKnown = true;
  for (size_t q = 0; q < peers_.size(); ++q) {
    if (topology::machineOf(nodeIds[q]) != machine) continue;
    ++machineRanks;
    cpusKnown = topology::addCpuList(peers_[q].topo.boundCpus, &machineCpus) && cpusKnown;
  }
  cpu_set_t cpus;
  const int cores = cpusKnown ? static_cast<int>(machineCpus.size())
                              : sched_getaffinity(0, sizeof(cpus), &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
  ownCores_ = machineRanks <= cores;
  int64_t spin = torcParamSpinUs();
  ctx_.spinUs = static_cast<int>(spin >= 0 ? spin : (ownCores_ ? 50 : 0));
  // Yield, but not for long: among ranks that share cores sched_yield sometimes keeps handing the
  // core back to the waiter (while the rank it waits for waits for the scheduler), and then only
  // sleeping ends it; but a sleeping rank's core may halt, and waking it costs tens of
  // microseconds on a VM. Measured on 2 cores, 8-byte all-reduce, median of runs: p = 4 in shared
  // memory 4-7 us yielding up to 200 us vs 37-100 us sleeping at once, p = 8 10-19 us vs 55-190 us,
  // p = 4 over the transport 7-12 us vs 64-240 us; unbounded yielding (2 ms) cost up to 2.5 ms.
  const int64_t yield = torcParamYieldUs();
  ctx_.yieldUs = static_cast<int>(std::clamp<int64_t>(yield >= 0 ? yield : (ownCores_ ? 2000 : 200), 0,
                                                      10000000));
  TORC_INFO(kLogInit,
            "comm rank %d of %d ready: %d node(s), %d rank(s) on this node, %d on this machine's %d core(s), spin %d "
            "us, yield %d us, transport %s, chunk %zu B x %d slots, timeout %.0f s",
            rank_, nranks_, grouping_.nodes, localRanks, machineRanks, cores, ctx_.spinUs, ctx_.yieldUs,
            transport_->name(), chunkBytes_,
            scratchSlots_, timeoutSec_);

  // The shared-memory segment exists before the barrier below, so that every rank can open it
  // once the barrier is through.
  if (torcParamShm() && nranks_ > 1 && localRanks == nranks_ && rank_ == 0 && torcParamShmSlotBytes() > 0) {
    shmSlotBytes_ = static_cast<size_t>(std::min<int64_t>(torcParamShmSlotBytes(), 64 << 20));
    size_t bytes = stagedOffset(nranks_, shmSlotBytes_) +
                   algos::StagedAllReduce::regionBytes(nranks_, directChunkBytes_, kStagedSlots);
    auto seg = transport::ShmSegment::create(shmName(root), bytes);
    if (seg.isOk()) {
      shm_ = std::move(seg).value();
      algos::OneShot::format(shm_->data(), nranks_, shmSlotBytes_);
      algos::StagedAllReduce::format(shm_->data() + stagedOffset(nranks_, shmSlotBytes_), nranks_,
                                     directChunkBytes_, kStagedSlots);
    } else {
      TORC_INFO(kLogInit, "no shared memory for small collectives: %s", seg.status().message().c_str());
    }
  }

  // Wire up the dissemination peers now, so the first collective does not pay for it and a
  // rank that cannot reach its peers fails here.
  algos::CollArgs b;
  b.coll = algos::Coll::kBarrier;
  b.rank = rank_;
  b.nranks = nranks_;
  TORC_RETURN_IF_ERROR(run(b, nullptr, nullptr, kernels::DType::kUint8, kernels::RedOp::kSum));
  TORC_RETURN_IF_ERROR(setUpLocalPaths(root));
  return measureLinks();
}

// The 2D-torus grid: TORC_TORUS_DIMS, else a row per node when the nodes hold equal numbers of
// ranks; none otherwise (torus2d then falls back to ring, and says so).
void Comm::chooseTorusGrid() {
  const std::string dims = torcParamTorusDims();
  int r = 0, c = 0;
  if (!dims.empty()) {
    char x = 0;
    if (sscanf(dims.c_str(), "%d%c%d", &r, &x, &c) != 3 || (x != 'x' && x != 'X') || r < 1 || c < 1 ||
        r * c != nranks_) {
      if (rank_ == 0) TORC_WARN("TORC_TORUS_DIMS=%s is not RxC with R*C = %d ranks; ignored", dims.c_str(), nranks_);
      r = c = 0;
    }
  }
  if (r == 0) {
    std::vector<int> perNode(static_cast<size_t>(grouping_.nodes), 0);
    for (int n : grouping_.nodeOf) ++perNode[static_cast<size_t>(n)];
    if (std::all_of(perNode.begin(), perNode.end(), [&](int k) { return k == perNode[0]; })) {
      r = grouping_.nodes;
      c = perNode[0];
    } else if (rank_ == 0) {
      TORC_INFO(kLogInit, "nodes hold different numbers of ranks: no 2D-torus grid (torus2d falls back to ring)");
    }
  }
  torusRows_ = r;
  torusCols_ = c;
}

// The segment's name: only holders of the unique id's secret can know it.
std::string Comm::shmName(const RootInfo& root) const {
  return "/torc-" + secretToHex(root.secret).substr(0, 24) + "-" + std::to_string(peers_[0].pid);
}

// Paths that need every rank on this node: direct algorithms (each rank can read every other's
// memory) and one-shot collectives (every rank mapped rank 0's segment). Each rank checks what
// it can; an all-reduce (min) makes each verdict unanimous, because ranks that chose different
// algorithms would never meet.
Status Comm::setUpLocalPaths(const RootInfo& root) {
  if (nranks_ == 1) return Status::ok();
  std::vector<int> pids(static_cast<size_t>(nranks_), 0);
  uint8_t ok[3] = {static_cast<uint8_t>(torcParamCma()), 0, 0};  // {cma, shm, staged}
  bool local = true;
  for (int r = 0; r < nranks_; ++r) {
    const PeerInfo& p = peers_[static_cast<size_t>(r)];
    if (p.nodeId != nodeId_ || p.pidNs != pidNs_) {
      local = false;
      continue;
    }
    pids[static_cast<size_t>(r)] = p.pid;
    if (ok[0] && r != rank_ && !transport::cmaProbe(p.pid, p.probeAddr, &kProbeWord, sizeof(kProbeWord))) ok[0] = 0;
  }
  if (!local) ok[0] = 0;
  if (local && torcParamShm() && torcParamShmSlotBytes() > 0) {
    if (rank_ != 0) {
      auto seg = transport::ShmSegment::open(shmName(root), algos::OneShot::segmentBytes(nranks_, 0));
      if (seg.isOk())
        shm_ = std::move(seg).value();
      else
        TORC_INFO(kLogInit, "no shared memory for small collectives: %s", seg.status().message().c_str());
    }
    if (shm_) {
      auto os = algos::OneShot::attach(shm_->data(), shm_->size(), rank_, nranks_);
      if (os.isOk()) {
        oneshot_ = std::move(os).value();
        shmSlotBytes_ = oneshot_->maxBytes();  // rank 0's TORC_SHM_SLOT_BYTES holds for all
      }
      else
        TORC_INFO(kLogInit, "no shared memory for small collectives: %s", os.status().message().c_str());
    }
    ok[1] = oneshot_ != nullptr;
  }
  std::unique_ptr<transport::DirectAccess> access;
  if (ok[0]) access = transport::createCmaAccess(pids);
  if (ok[0] && ok[1]) {
    char* region = shm_->data() + stagedOffset(nranks_, shmSlotBytes_);
    auto st = algos::StagedAllReduce::attach(region, shm_->size() - stagedOffset(nranks_, shmSlotBytes_), rank_,
                                             nranks_, access.get());
    // Its bounce buffer is this rank's scratch.
    if (st.isOk() && st.value()->chunkBytes() <= scratchBytes_) staged_ = std::move(st).value();
    ok[2] = staged_ != nullptr;
  }
  uint8_t all[3] = {0, 0, 0};
  algos::CollArgs a;
  a.coll = algos::Coll::kAllReduce;
  a.count = 3;
  TORC_RETURN_IF_ERROR(run(a, ok, all, kernels::DType::kUint8, kernels::RedOp::kMin));
  // Everyone has opened the segment (or given up): its name can go.
  if (shm_) shm_->unlink();
  if (all[0]) {
    direct_ = std::move(access);
    ctx_.direct = direct_.get();
  }
  if (!all[0] || !all[2]) staged_.reset();
  if (!all[1]) {
    oneshot_.reset();
    shm_.reset();
    shmSlotBytes_ = 0;
  }
  TORC_INFO(kLogInit, "direct access to peers' memory (cross-memory attach): %s; shared memory for collectives up "
            "to %zu bytes: %s; staged all-reduce: %s",
            all[0] ? "yes" : ok[0] ? "no (another rank cannot)" : "no (peers on other nodes, or no permission)",
            shmSlotBytes_, all[1] ? "yes" : ok[1] ? "no (another rank cannot)" : "no", staged_ ? "yes" : "no");
  return Status::ok();
}

double effectiveTimeout() {
  double t = torcParamTimeout();
  if (!(t > 0)) return 300;
  return std::min(t, 1e7);  // deadlines are steady_clock durations: keep them far from overflow
}

Comm::~Comm() {
  // Runs what is queued (failing fast once aborted) while everything, progress_ too, is alive.
  if (progress_) progress_->shutdown();
  progress_.reset();
  // Transport first: it may still own requests that point into the executor.
  for (auto& ep : endpoints_)
    if (ep) ep->close(aborting_.load());
  endpoints_.clear();
  transport_.reset();
  executor_.reset();  // no callback can reach its requests once the worker is gone
  if (scratch_) munmap(scratch_, scratchBytes_);
}

Status Comm::connectPeers(const algos::Plan& plan) {
  for (size_t i = 0; i < plan.size(); ++i) {
    int peer = plan.step(i).peer;
    if (peer < 0 || ctx_.endpoints[static_cast<size_t>(peer)] != nullptr) continue;
    if (peer >= nranks_ || peer == rank_)
      return errorf(Code::kInternalError, "plan %s names rank %d", plan.name.c_str(), peer);
    TORC_RETURN_IF_ERROR(connectPeer(peer));
  }
  return Status::ok();
}

Status Comm::connectPeer(int peer) {
  auto& ep = endpoints_[static_cast<size_t>(peer)];
  const PeerInfo& info = peers_[static_cast<size_t>(peer)];
  TORC_RETURN_IF_ERROR(transport_->connect(peer, info.address, info.nodeId == nodeId_, &ep));
  ctx_.endpoints[static_cast<size_t>(peer)] = ep.get();
  return Status::ok();
}

std::shared_ptr<AsyncOp> Comm::submit(std::function<Status()> work) {
  if (!progress_) progress_ = std::make_unique<Progress>(rank_);
  return progress_->submit(std::move(work));
}

void Comm::drainAsync() {
  if (progress_ && !progress_->onThread()) progress_->drain();
}

Status Comm::run(const algos::CollArgs& in, const void* input, void* output, kernels::DType dtype,
                 kernels::RedOp op) {
  drainAsync();  // the order of the calls
  if (hasFailed_.load(std::memory_order_acquire)) {
    Status broken = asyncError();
    return Status(broken.code(), "the communicator failed earlier and cannot be used: " + broken.message());
  }
  algos::CollArgs a = in;
  a.rank = rank_;
  a.nranks = nranks_;
  a.elemSize = kernels::dtypeSize(dtype);
  a.chunkBytes = chunkBytes_;
  a.scratchSlots = scratchSlots_;
  a.directOk = direct_ != nullptr;
  a.directMinBytes = directMinBytes_;
  a.directChunkBytes = directChunkBytes_;
  a.smallMaxBytes = smallMaxBytes_;
  a.shmSlotBytes = oneshot_ ? shmSlotBytes_ : 0;
  a.oneshotMaxBytes = oneshotMaxBytes_;
  a.ownCores = ownCores_;
  a.stagedOk = staged_ != nullptr;
  a.stagedMinBytes = stagedMinBytes_;
  a.torusRows = torusRows_;
  a.torusCols = torusCols_;
  a.gridOrder = grouping_.ringOrder.data();
  a.nodes = grouping_.nodes;
  a.links = &links_;
  if (a.algo == nullptr) a.algo = algo_.c_str();
  if (algos::ShmPath path = algos::shmPath(a); path != algos::ShmPath::kNone) {
    std::lock_guard<std::mutex> running(runMu_);
    Status st = oneshot_->run(a, input, output, dtype, op, path == algos::ShmPath::kTwoShot, ctx_, timeoutSec_);
    if (!st.isOk()) setFailed(st);
    return st;
  }
  if (algos::useStaged(a, input == output)) {
    std::lock_guard<std::mutex> running(runMu_);
    Status st = staged_->run(input, output, a.count, dtype, op, scratch_, stagedMinBytes_, ctx_, timeoutSec_);
    if (!st.isOk()) setFailed(st);
    return st;
  }
  TORC_ASSIGN_OR_RETURN(const algos::Plan* plan, plans_.get(a));
  TORC_RETURN_IF_ERROR(connectPeers(*plan));

  algos::ExecArgs ea;
  ea.input = input;
  ea.output = output;
  ea.scratch = scratch_;
  ea.scratchBytes = scratchBytes_;
  ea.dtype = dtype;
  ea.op = op;
  if (a.coll == algos::Coll::kSend) {
    ea.tagBase = algos::makeTagBase(true, 0, sendSeq_[static_cast<size_t>(a.peer)]++);
  } else if (a.coll == algos::Coll::kRecv) {
    ea.tagBase = algos::makeTagBase(true, 0, recvSeq_[static_cast<size_t>(a.peer)]++);
  } else if (a.coll == algos::Coll::kSendRecv) {
    ea.tagBase = algos::makeTagBase(true, 0, sendSeq_[static_cast<size_t>(a.peer)]++);
    ea.separateRecvTag = true;
    const int from = a.recvPeer >= 0 ? a.recvPeer : a.peer;
    ea.recvTagBase = algos::makeTagBase(true, 0, recvSeq_[static_cast<size_t>(from)]++);
  } else {
    ea.tagBase = algos::makeTagBase(false, 0, collSeq_++);
  }
  if (plan->size() == 0) return Status::ok();
  std::lock_guard<std::mutex> running(runMu_);
  Status st = executor_->run(*plan, ea, ctx_, timeoutSec_);
  // Any failure once transfers were posted leaves the ranks out of step (and possibly a
  // transfer still using the buffers): the communicator cannot be trusted again.
  if (!st.isOk()) setFailed(st);
  return st;
}

std::string Comm::peerFailure(int peer) const {
  std::string why = transport_->peerFailure(peer);
  if (!why.empty()) return why;
  // Peers on this node use shared memory, which reports no failures: check the process.
  const PeerInfo& p = peers_[static_cast<size_t>(peer)];
  if (p.nodeId == nodeId_ && p.pidNs == pidNs_ && p.pid > 0 && kill(p.pid, 0) != 0 && errno == ESRCH)
    return "process " + std::to_string(p.pid) + " on " + p.host + " has exited";
  return {};
}

Status Comm::asyncError() const {
  std::lock_guard<std::mutex> lock(errMu_);
  return failed_;
}

void Comm::setFailed(const Status& s) {
  std::lock_guard<std::mutex> lock(errMu_);
  if (failed_.isOk()) failed_ = s;
  hasFailed_.store(true, std::memory_order_release);
}

void Comm::abort() {
  setFailed(Status(Code::kInvalidUsage, "the communicator was aborted"));
  aborting_.store(true);
  // An operation running on another thread sees the flag within milliseconds and returns;
  // only then may the caller free the communicator.
  std::lock_guard<std::mutex> wait(runMu_);
}

}  // namespace torc::core
