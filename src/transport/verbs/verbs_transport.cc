// The verbs transport's setup: device, protection domain, completion queue, the registered
// rings, one queue pair per peer, the address, connecting, and memory registration (the protocol,
// step by step, is in verbs_transport.h; the data path is in verbs_progress.cc).
#include "src/transport/verbs/verbs_transport.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "src/base/log.h"
#include "src/base/param.h"
#include "src/transport/verbs/verbs_address.h"
#include "src/transport/verbs/verbs_transport_impl.h"

TORC_PARAM(IbTimeout, int64_t, "IB_TIMEOUT", 18,
           "verbs transport: local ACK timeout exponent of its queue pairs, 4.096 us * 2^value per try (1..31; "
           "18: 1.07 s); a dead peer is noticed after (TORC_IB_RETRY_COUNT + 1) tries");
TORC_PARAM(IbRetryCount, int64_t, "IB_RETRY_COUNT", 7,
           "verbs transport: retransmissions of an unacknowledged packet before the peer is failed (0..7)");

namespace torc::transport {
namespace verbs {
namespace {

class VerbsMemoryRegion : public MemoryRegion {
 public:
  VerbsMemoryRegion(std::shared_ptr<RegCache> cache, const RegCache::Entry* e, void* base, size_t size)
      : MemoryRegion(base, size), cache_(std::move(cache)), entry_(e) {}
  ~VerbsMemoryRegion() override { cache_->release(entry_); }
  // {address, rkey}: the registration is keyed by virtual address. Empty once the transport,
  // and with it the registration, is gone.
  std::vector<uint8_t> serialize() const override {
    if (entry_->handle == nullptr) return {};
    const uint64_t addr = reinterpret_cast<uint64_t>(base());
    const uint32_t rkey = static_cast<ibv_mr*>(entry_->handle)->rkey;
    std::vector<uint8_t> out(12);
    memcpy(out.data(), &addr, 8);
    memcpy(out.data() + 8, &rkey, 4);
    return out;
  }

 private:
  std::shared_ptr<RegCache> cache_;
  const RegCache::Entry* entry_;
};

}  // namespace

Result<std::unique_ptr<Transport>> VerbsTransport::create(const TransportOptions& opts) {
  TORC_ASSIGN_OR_RETURN(const IbvSymbols* ibv, loadIbvSymbols());
  std::unique_ptr<VerbsTransport> t(new VerbsTransport(opts, ibv));
  TORC_RETURN_IF_ERROR(t->init());
  return std::unique_ptr<Transport>(std::move(t));
}

VerbsTransport::~VerbsTransport() {
  for (Peer& p : peers_)
    if (p.qp != nullptr) ibv_->destroyQp(p.qp);
  if (cq_ != nullptr) ibv_->destroyCq(cq_);
  if (mr_ != nullptr) ibv_->deregMr(mr_);
  // Its registrations go before the protection domain, also those of memory regions that
  // outlive the transport (they keep the cache, and release nothing more).
  if (cache_) cache_->shutdown();
  cache_.reset();
  if (pd_ != nullptr) ibv_->deallocPd(pd_);
  if (port_.ctx != nullptr) ibv_->closeDevice(port_.ctx);
  if (region_ != nullptr) munmap(region_, regionBytes_);
}

Status VerbsTransport::registerMemory(void* base, size_t size, std::unique_ptr<MemoryRegion>* mr) {
  TORC_ASSIGN_OR_RETURN(const RegCache::Entry* e, cache_->acquire(base, size));
  *mr = std::make_unique<VerbsMemoryRegion>(cache_, e, base, size);
  return Status::ok();
}

Status VerbsTransport::init() {
  TORC_ASSIGN_OR_RETURN(port_, openActivePort(*ibv_));
  pd_ = ibv_->allocPd(port_.ctx);
  if (pd_ == nullptr) return sysError(errno, "verbs: ibv_alloc_pd on %s", port_.device.c_str());

  const size_t n = static_cast<size_t>(opts_.nranks);
  const int cqe = static_cast<int>(std::min<size_t>(n * (2 * kSlots + 2) + 1, INT32_MAX));
  if (cqe > port_.maxCqe)
    return errorf(Code::kSystemError, "verbs: %d ranks need %d completion-queue entries, %s has %d", opts_.nranks, cqe,
                  port_.device.c_str(), port_.maxCqe);
  cq_ = ibv_->createCq(port_.ctx, cqe, nullptr, nullptr, 0);
  if (cq_ == nullptr) return sysError(errno, "verbs: ibv_create_cq(%d) on %s", cqe, port_.device.c_str());

  // One registration for every peer's receive ring, staging ring and two credit words.
  static_assert(kRingBytes == size_t{kSlots} * kSlotBytes);
  regionBytes_ = layout_.bytes();
  void* mem = mmap(nullptr, regionBytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (mem == MAP_FAILED) return sysError(errno, "verbs: mmap of %zu bytes for the rings", regionBytes_);
  region_ = static_cast<uint8_t*>(mem);
  // A child forked later must not share these pages copy-on-write: the NIC writes the originals.
  if (madvise(region_, regionBytes_, MADV_DONTFORK) != 0)
    TORC_INFO(kLogNet, "verbs: madvise(MADV_DONTFORK) of the rings: %s", strerror(errno));
  mr_ = ibv_->regMr(pd_, region_, regionBytes_, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
  if (mr_ == nullptr)
    return sysError(errno,
                    "verbs: ibv_reg_mr of %zu bytes (the rings; is the locked-memory limit, ulimit -l, too low?)",
                    regionBytes_);
  cache_ = std::make_shared<RegCache>(
      [this](void* base, size_t len, void** handle) {
        ibv_mr* m = ibv_->regMr(pd_, base, len, kRegAccess);
        if (m == nullptr) return sysError(errno, "verbs: ibv_reg_mr of %zu bytes at %p", len, base);
        *handle = m;
        return Status::ok();
      },
      [this](void* handle) { ibv_->deregMr(static_cast<ibv_mr*>(handle)); }, RegCache::Limits{});

  VerbsAddress a;
  a.lid = port_.attr.lid;
  a.port = port_.port;
  a.mtu = static_cast<uint8_t>(port_.attr.active_mtu);
  a.ethernet = port_.attr.link_layer == IBV_LINK_LAYER_ETHERNET;
  memcpy(a.gid, port_.gid.raw, 16);
  a.slots = kSlots;
  a.slotBytes = kSlotBytes;
  a.rkey = mr_->rkey;
  a.regionBase = reinterpret_cast<uint64_t>(region_);
  a.qpns.resize(n);
  for (int q = 0; q < opts_.nranks; ++q) {
    if (q == opts_.rank) continue;
    TORC_RETURN_IF_ERROR(makeQueuePair(q));
    a.qpns[static_cast<size_t>(q)] = peers_[static_cast<size_t>(q)].qp->qp_num;
  }
  address_ = encodeAddress(a);
  TORC_INFO(kLogNet,
            "verbs: %s port %u (%s), LID %u, GID index %d, %d queue pairs, rings of %u x %u B (%zu B registered)",
            port_.device.c_str(), port_.port, a.ethernet ? "RoCE" : "InfiniBand", a.lid, port_.gidIndex,
            opts_.nranks - 1, kSlots, kSlotBytes, regionBytes_);
  return Status::ok();
}

// A queue pair for peer q, in INIT with its receives posted (a receive is consumed by every
// write with immediate that arrives, so there is one per slot).
Status VerbsTransport::makeQueuePair(int q) {
  Peer& p = peers_[static_cast<size_t>(q)];
  ibv_qp_init_attr ia{};
  ia.send_cq = cq_;
  ia.recv_cq = cq_;
  ia.qp_type = IBV_QPT_RC;
  ia.cap.max_send_wr = kSlots + 2;  // fragments, and one credit write
  ia.cap.max_recv_wr = kSlots;
  ia.cap.max_send_sge = 1;
  ia.cap.max_recv_sge = 1;
  p.qp = ibv_->createQp(pd_, &ia);
  if (p.qp == nullptr) return sysError(errno, "verbs: ibv_create_qp for rank %d", q);
  ibv_qp_attr at{};
  at.qp_state = IBV_QPS_INIT;
  at.pkey_index = 0;
  at.port_num = port_.port;
  at.qp_access_flags = kQpAccess;
  int rc = ibv_->modifyQp(p.qp, &at, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
  if (rc != 0) return sysError(rc, "verbs: queue pair for rank %d to INIT", q);
  p.rx = std::make_unique<MessageReceiver>(q, ring(q), kSlots, kSlotBytes, kBatch, kSpillAt);
  for (uint32_t i = 0; i < kSlots; ++i) TORC_RETURN_IF_ERROR(postReceiveSlot(q));
  return Status::ok();
}

Status VerbsTransport::postReceiveSlot(int q) {
  ibv_recv_wr wr{};
  ibv_recv_wr* bad = nullptr;
  wr.wr_id = wrId(kWrRecv, q, 0);
  wr.sg_list = nullptr;  // the data lands where the writer says; only the immediate comes here
  wr.num_sge = 0;
  const int rc = ibv_post_recv(peers_[static_cast<size_t>(q)].qp, &wr, &bad);
  return rc == 0 ? Status::ok() : sysError(rc, "verbs: ibv_post_recv for rank %d", q);
}

Status VerbsTransport::connect(int q, const std::vector<uint8_t>& address, bool, std::unique_ptr<Endpoint>* ep) {
  if (q < 0 || q >= opts_.nranks || q == opts_.rank) return errorf(Code::kInvalidArgument, "verbs: no peer rank %d", q);
  TORC_ASSIGN_OR_RETURN(VerbsAddress a, decodeAddress(address));
  if (a.qpns.size() != static_cast<size_t>(opts_.nranks))
    return errorf(Code::kInvalidUsage, "verbs: rank %d's address is for %zu ranks, not %d", q, a.qpns.size(),
                  opts_.nranks);
  if (a.slots != kSlots || a.slotBytes != kSlotBytes)
    return errorf(Code::kInvalidUsage,
                  "verbs: rank %d uses rings of %u x %u B, this rank %u x %u B (mixed torc builds?)", q, a.slots,
                  a.slotBytes, kSlots, kSlotBytes);
  // An InfiniBand port and an Ethernet (RoCE) one are on different fabrics: no path joins them.
  const bool ethernet = port_.attr.link_layer == IBV_LINK_LAYER_ETHERNET;
  if ((a.ethernet != 0) != ethernet)
    return errorf(Code::kInvalidUsage,
                  "verbs: rank %d's port is %s, this rank's (%s port %u) is %s: they cannot be connected (pick ports "
                  "on one fabric with TORC_IB_HCA, or use TORC_TRANSPORT=ucx)",
                  q, a.ethernet ? "Ethernet (RoCE)" : "InfiniBand", port_.device.c_str(), port_.port,
                  ethernet ? "Ethernet (RoCE)" : "InfiniBand");
  const bool grh = port_.gidIndex >= 0;
  if (grh && std::all_of(a.gid, a.gid + 16, [](uint8_t b) { return b == 0; }))
    return errorf(Code::kInvalidUsage,
                  "verbs: this rank routes by GID (GID index %d), but rank %d published none (set TORC_IB_GID_INDEX "
                  "alike on every rank)",
                  port_.gidIndex, q);
  Peer& p = peers_[static_cast<size_t>(q)];
  if (!p.connected) {
    const uint32_t remoteQpn = a.qpns[static_cast<size_t>(opts_.rank)];
    ibv_qp_attr at{};
    at.qp_state = IBV_QPS_RTR;
    at.path_mtu = static_cast<ibv_mtu>(std::min<int>(port_.attr.active_mtu, a.mtu));
    at.dest_qp_num = remoteQpn;
    at.rq_psn = 0;
    at.max_dest_rd_atomic = 1;
    at.min_rnr_timer = 12;
    at.ah_attr.dlid = a.lid;
    at.ah_attr.sl = 0;
    at.ah_attr.src_path_bits = 0;
    at.ah_attr.port_num = port_.port;
    if (grh) {
      at.ah_attr.is_global = 1;
      memcpy(at.ah_attr.grh.dgid.raw, a.gid, 16);
      at.ah_attr.grh.sgid_index = static_cast<uint8_t>(port_.gidIndex);
      at.ah_attr.grh.hop_limit = 255;
    }
    int rc = ibv_->modifyQp(p.qp, &at,
                            IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
                                IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER);
    if (rc != 0) return sysError(rc, "verbs: queue pair for rank %d to RTR (remote QP %u, LID %u)", q, remoteQpn, a.lid);
    at = ibv_qp_attr{};
    at.qp_state = IBV_QPS_RTS;
    // Every rank is at RTR before anything is posted (the communicator's barrier after connecting),
    // so the timeout only decides how soon a dead peer is noticed.
    at.timeout = static_cast<uint8_t>(std::clamp<int64_t>(torcParamIbTimeout(), 1, 31));
    at.retry_cnt = static_cast<uint8_t>(std::clamp<int64_t>(torcParamIbRetryCount(), 0, 7));
    at.rnr_retry = 7;  // never expected (one receive per slot), and then: retry forever
    at.sq_psn = 0;
    at.max_rd_atomic = 1;
    rc = ibv_->modifyQp(
        p.qp, &at,
        IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC);
    if (rc != 0) return sysError(rc, "verbs: queue pair for rank %d to RTS", q);
    // The peer's region has our layout (same ring geometry and rank count, checked above).
    p.rkey = a.rkey;
    p.remoteRing = a.regionBase + layout_.ring(static_cast<uint32_t>(opts_.rank));
    p.remoteCredit = a.regionBase + layout_.creditIn(static_cast<uint32_t>(opts_.rank));
    p.connected = true;
    connected_.push_back(q);
  }
  *ep = std::make_unique<VerbsEndpoint>(this, q);
  return Status::ok();
}

}  // namespace verbs

Result<std::unique_ptr<Transport>> createVerbsTransport(const TransportOptions& opts) {
  return verbs::VerbsTransport::create(opts);
}

}  // namespace torc::transport
