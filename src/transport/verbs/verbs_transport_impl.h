// The verbs transport's internals, shared by its setup (verbs_transport.cc: device, queue pairs,
// connection) and its data path (verbs_progress.cc: posting, completions, credits, failures).
// Only src/transport/verbs includes this; the rest of torc sees verbs_transport.h.
#pragma once

#include <infiniband/verbs.h>

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "src/transport/transport.h"
#include "src/transport/verbs/credits.h"
#include "src/transport/verbs/eager.h"
#include "src/transport/verbs/ibv_symbols.h"
#include "src/transport/verbs/reg_cache.h"
#include "src/transport/verbs/verbs_address.h"
#include "src/transport/verbs/verbs_device.h"

namespace torc::transport::verbs {

constexpr uint32_t kSlots = 32;          // ring slots per peer and direction
constexpr uint32_t kSlotBytes = 8192;    // header + data of one fragment
constexpr uint32_t kBatch = kSlots / 2;  // freed slots announced together
constexpr uint32_t kSpillAt = kSlots / 2;
constexpr size_t kRingBytes = size_t{kSlots} * kSlotBytes;
constexpr int kPollBatch = 32;
// What peers may do to registered memory, and the same on the queue pairs that carry it: the
// rkeys registerMemory hands out allow remote reads, so the queue pairs serve them too.
constexpr int kRegAccess = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
constexpr int kQpAccess = kRegAccess;
// A peer something is awaited from, silent this long, is probed (see SilenceWatch).
constexpr int64_t kProbeQuietNs = 1000000000;
// The credit word is written by the NIC while the CPU may read it: a read of more slots freed
// than fragments sent is taken as torn and read again. One write is in flight at a time; if it
// raises the count from `old` by d, a read mixing the bytes of both is either at most the new
// count (harmless: the window keeps the largest, and the receiver did free that many) or, where
// a carry crossed a byte, above it by at least 256 - d, while the sender has at most kSlots - d
// fragments beyond it (at most kSlots beyond `old`, the most it can have seen): with fewer than
// 256 slots such a read is always beyond what was sent. Only a count that stays too large this
// many reads in a row is the peer's fault.
static_assert(kSlots < 256, "torn credit reads must be told apart from valid counts");
constexpr uint32_t kBadCreditReads = 1000;

enum WrKind : uint64_t { kWrData = 1, kWrCredit = 2, kWrRecv = 3 };
inline uint64_t wrId(WrKind k, int peer, uint32_t slot) {
  return uint64_t{k} << 60 | uint64_t{static_cast<uint32_t>(peer)} << 24 | slot;
}
inline WrKind wrKind(uint64_t id) { return static_cast<WrKind>(id >> 60); }
inline int wrPeer(uint64_t id) { return static_cast<int>((id >> 24) & 0x7fffffff); }
inline uint32_t wrSlot(uint64_t id) { return static_cast<uint32_t>(id & 0xffffff); }

struct SendOp {
  const uint8_t* buf;
  uint64_t len;
  Tag tag;
  Request* req;
  uint64_t count;     // fragments
  uint64_t next = 0;  // fragments posted
  uint64_t done = 0;  // fragments completed
};

struct Peer {
  ibv_qp* qp = nullptr;
  bool connected = false;
  bool failed = false;
  uint32_t rkey = 0;
  uint64_t remoteRing = 0;    // the peer's ring for our fragments
  uint64_t remoteCredit = 0;  // the peer's word for our freed-slot count
  CreditWindow window{kSlots};
  uint32_t badCreditReads = 0;  // reads in a row of a count beyond what was sent
  SilenceWatch watch{kProbeQuietNs};
  std::unique_ptr<MessageReceiver> rx;
  std::deque<std::unique_ptr<SendOp>> sends;
  std::vector<SendOp*> staged = std::vector<SendOp*>(kSlots, nullptr);  // by slot, while in flight
  bool creditInFlight = false;
};

class VerbsTransport : public Transport {
 public:
  static Result<std::unique_ptr<Transport>> create(const TransportOptions& opts);
  ~VerbsTransport() override;

  const char* name() const override { return "verbs"; }
  std::vector<uint8_t> address() const override { return address_; }
  bool wantsEagerConnect() const override { return true; }
  Status connect(int peer, const std::vector<uint8_t>& address, bool sameNode, std::unique_ptr<Endpoint>* ep) override;
  Status registerMemory(void* base, size_t size, std::unique_ptr<MemoryRegion>* mr) override;
  bool progress() override;
  void waitForEvent(int timeoutMs) override;
  void cancel(Request* req) override;
  std::string peerFailure(int peer) const override;

  // What the endpoints call.
  Status postSend(int q, const void* buf, size_t len, Tag tag, Request* req);
  Status postRecv(int q, void* buf, size_t len, Tag tag, Request* req);

 private:
  VerbsTransport(const TransportOptions& opts, const IbvSymbols* ibv)
      : opts_(opts), ibv_(ibv), layout_(static_cast<uint32_t>(opts.nranks), kSlots, kSlotBytes),
        peers_(static_cast<size_t>(opts.nranks)) {}

  static size_t payload() { return kSlotBytes - sizeof(FragmentHeader); }
  // The registered region (RegionLayout): receive rings, staging rings, credit words in and out.
  uint8_t* ring(int q) const { return region_ + layout_.ring(static_cast<uint32_t>(q)); }
  uint8_t* staging(int q) const { return region_ + layout_.staging(static_cast<uint32_t>(q)); }
  uint64_t* creditIn(int q) const {
    return reinterpret_cast<uint64_t*>(region_ + layout_.creditIn(static_cast<uint32_t>(q)));
  }
  uint64_t* creditOut(int q) const {
    return reinterpret_cast<uint64_t*>(region_ + layout_.creditOut(static_cast<uint32_t>(q)));
  }

  static Status failNow(Request* req, Status s) {
    req->fail(s);
    return s;
  }

  Status init();
  Status makeQueuePair(int q);
  Status postReceiveSlot(int q);
  bool service(int q, int64_t now);
  bool pumpSends(int q);
  void postCredit(int q);
  void onCompletion(const ibv_wc& wc);
  void failPeer(int q, const std::string& why);

  TransportOptions opts_;
  const IbvSymbols* ibv_;
  RegionLayout layout_;
  OpenPort port_;
  ibv_pd* pd_ = nullptr;
  ibv_cq* cq_ = nullptr;
  ibv_mr* mr_ = nullptr;
  uint8_t* region_ = nullptr;
  size_t regionBytes_ = 0;
  // Shared with the memory regions handed out, which may outlive the transport: the destructor
  // deregisters everything (shutdown) while the protection domain is alive, and later releases
  // only drop bookkeeping.
  std::shared_ptr<RegCache> cache_;
  std::vector<Peer> peers_;
  std::vector<int> connected_;
  std::vector<uint8_t> address_;
  mutable std::mutex mu_;
  std::map<int, std::string> failures_;
};

class VerbsEndpoint : public Endpoint {
 public:
  VerbsEndpoint(VerbsTransport* t, int peer) : Endpoint(peer), t_(t) {}
  Status postSend(const void* buf, size_t len, Tag tag, Request* req) override {
    return t_->postSend(peer(), buf, len, tag, req);
  }
  Status postRecv(void* buf, size_t len, Tag tag, Request* req) override {
    return t_->postRecv(peer(), buf, len, tag, req);
  }
  // The queue pair belongs to the transport and goes with it; completed sends have reached
  // the peer's memory already, so there is nothing to flush.
  void close(bool) override {}

 private:
  VerbsTransport* t_;
};

}  // namespace torc::transport::verbs
