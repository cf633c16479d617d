// The verbs transport's data path: posting sends and receives, polling completions, credits,
// cancelling, and failing a peer. Runs on the thread that owns the transport (peerFailure() may
// be called from any).
#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "src/base/log.h"
#include "src/transport/verbs/verbs_transport_impl.h"

namespace torc::transport::verbs {

namespace {

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

bool VerbsTransport::progress() {
  bool moved = false;
  ibv_wc wc[kPollBatch];
  for (;;) {
    const int n = ibv_poll_cq(cq_, kPollBatch, wc);
    if (n < 0) {
      for (int q : connected_) failPeer(q, "ibv_poll_cq failed");
      return true;
    }
    for (int i = 0; i < n; ++i) onCompletion(wc[i]);
    moved |= n > 0;
    if (n < kPollBatch) break;
  }
  const int64_t now = nowNs();
  for (int q : connected_) moved |= service(q, now);
  return moved;
}

// No completion channel: a short sleep, so that ranks sharing a core give it up.
void VerbsTransport::waitForEvent(int timeoutMs) {
  if (timeoutMs <= 0) {
    std::this_thread::yield();
    return;
  }
  std::this_thread::sleep_for(std::chrono::microseconds(std::min<int64_t>(int64_t{timeoutMs} * 1000, 100)));
}

void VerbsTransport::cancel(Request* req) {
  const int q = req->peer_;
  if (!req->pending() || q < 0 || q >= opts_.nranks || q == opts_.rank) return;
  Peer& p = peers_[static_cast<size_t>(q)];
  if (req->impl_ == nullptr) {
    if (p.rx) p.rx->cancel(req);
    return;
  }
  // A send can be withdrawn before its first fragment; after that the peer expects the rest.
  for (auto it = p.sends.begin(); it != p.sends.end(); ++it) {
    if (it->get() != req->impl_ || (*it)->next > 0) continue;
    req->impl_ = nullptr;
    req->fail(errorf(Code::kRemoteError, "send to rank %d cancelled", q));
    p.sends.erase(it);
    return;
  }
}

std::string VerbsTransport::peerFailure(int peer) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = failures_.find(peer);
  return it == failures_.end() ? std::string() : it->second;
}

Status VerbsTransport::postSend(int q, const void* buf, size_t len, Tag tag, Request* req) {
  req->begin();
  req->peer_ = q;
  Peer& p = peers_[static_cast<size_t>(q)];
  if (p.failed) return failNow(req, errorf(Code::kRemoteError, "send to rank %d: %s", q, peerFailure(q).c_str()));
  const uint64_t count = fragmentCount(len, payload());
  if (count - 1 > UINT32_MAX) return failNow(req, errorf(Code::kInvalidArgument, "message of %zu bytes", len));
  p.sends.push_back(std::make_unique<SendOp>(SendOp{static_cast<const uint8_t*>(buf), len, tag, req, count}));
  req->impl_ = p.sends.back().get();
  pumpSends(q);
  return Status::ok();
}

Status VerbsTransport::postRecv(int q, void* buf, size_t len, Tag tag, Request* req) {
  req->begin();
  req->peer_ = q;
  Peer& p = peers_[static_cast<size_t>(q)];
  if (p.failed) return failNow(req, errorf(Code::kRemoteError, "receive from rank %d: %s", q, peerFailure(q).c_str()));
  p.rx->post(buf, len, tag, req);
  return Status::ok();
}

// Takes in the peer's credit count, posts what the credits allow, announces freed slots, and
// probes the peer if it has been silent while something is awaited from it.
bool VerbsTransport::service(int q, int64_t now) {
  Peer& p = peers_[static_cast<size_t>(q)];
  if (p.failed) return false;
  bool moved = false;
  const uint64_t freed = __atomic_load_n(creditIn(q), __ATOMIC_ACQUIRE);
  if (freed != p.window.freed()) {
    const uint64_t before = p.window.freed();
    if (p.window.update(freed)) {
      p.badCreditReads = 0;
      if (p.window.freed() > before) {
        p.watch.heard(now);
        moved = true;
      }
    } else if (++p.badCreditReads >= kBadCreditReads) {  // not torn: it stays beyond what was sent
      failPeer(q, "it returned credits for fragments never sent (" + std::to_string(freed) + " freed, " +
                      std::to_string(p.window.sent()) + " sent)");
      return true;
    }
  } else {
    p.badCreditReads = 0;
  }
  moved |= pumpSends(q);
  if (p.failed) return true;
  const bool awaiting = p.rx->postedReceives() > 0 || !p.sends.empty();
  const bool probe = p.watch.due(awaiting, now);
  if (!p.creditInFlight && (probe || p.rx->slots().shouldAnnounce())) {
    // A probe is the same cumulative count again (or a newer one): harmless to a live peer, and
    // to a dead one a write that fails after its retries (failPeer, peerFailure()). A credit
    // write already in flight probes as well.
    postCredit(q);
    moved = true;
  }
  return moved;
}

// Posts fragments of the queued sends, in order, while credits and staging slots last.
bool VerbsTransport::pumpSends(int q) {
  Peer& p = peers_[static_cast<size_t>(q)];
  if (!p.connected || p.failed) return false;
  bool moved = false;
  for (auto& owned : p.sends) {
    SendOp* op = owned.get();
    while (op->next < op->count) {
      const uint32_t slot = static_cast<uint32_t>(p.window.nextSeq() % kSlots);
      if (p.window.blocked() || p.staged[slot] != nullptr) return moved;
      uint8_t* stage = staging(q) + size_t{slot} * kSlotBytes;
      const FragmentHeader h = fragmentHeader(op->tag, op->len, static_cast<uint32_t>(op->next), payload());
      memcpy(stage, &h, sizeof(h));
      if (h.length > 0) memcpy(stage + sizeof(h), op->buf + op->next * payload(), h.length);
      ibv_sge sge{reinterpret_cast<uint64_t>(stage), static_cast<uint32_t>(sizeof(h) + h.length), mr_->lkey};
      ibv_send_wr wr{};
      ibv_send_wr* bad = nullptr;
      wr.wr_id = wrId(kWrData, q, slot);
      wr.sg_list = &sge;
      wr.num_sge = 1;
      wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
      wr.send_flags = IBV_SEND_SIGNALED;
      wr.imm_data = htonl(slot);
      wr.wr.rdma.remote_addr = p.remoteRing + size_t{slot} * kSlotBytes;
      wr.wr.rdma.rkey = p.rkey;
      const int rc = ibv_post_send(p.qp, &wr, &bad);
      if (rc != 0) {
        failPeer(q, std::string("ibv_post_send: ") + strerror(rc));
        return true;
      }
      p.window.consume();
      p.staged[slot] = op;
      ++op->next;
      moved = true;
    }
  }
  return moved;
}

// Writes our cumulative freed-slot count into the peer's credit word. One write at a time: the
// source word may change under a write in flight, which is harmless (the count only grows).
void VerbsTransport::postCredit(int q) {
  Peer& p = peers_[static_cast<size_t>(q)];
  uint64_t* word = creditOut(q);
  __atomic_store_n(word, p.rx->slots().announce(), __ATOMIC_RELEASE);
  ibv_sge sge{reinterpret_cast<uint64_t>(word), sizeof(uint64_t), mr_->lkey};
  ibv_send_wr wr{};
  ibv_send_wr* bad = nullptr;
  wr.wr_id = wrId(kWrCredit, q, 0);
  wr.sg_list = &sge;
  wr.num_sge = 1;
  wr.opcode = IBV_WR_RDMA_WRITE;
  wr.send_flags = IBV_SEND_SIGNALED;
  wr.wr.rdma.remote_addr = p.remoteCredit;
  wr.wr.rdma.rkey = p.rkey;
  const int rc = ibv_post_send(p.qp, &wr, &bad);
  if (rc != 0) {
    failPeer(q, std::string("ibv_post_send (credits): ") + strerror(rc));
    return;
  }
  p.creditInFlight = true;
}

void VerbsTransport::onCompletion(const ibv_wc& wc) {
  const int q = wrPeer(wc.wr_id);
  if (q >= opts_.nranks || q == opts_.rank) return;
  Peer& p = peers_[static_cast<size_t>(q)];
  if (p.failed) return;  // flushed work of a failed queue pair
  if (wc.status != IBV_WC_SUCCESS) {
    failPeer(q, std::string(ibv_->statusText(wc.status)) + " (vendor error " + std::to_string(wc.vendor_err) + ")");
    return;
  }
  // A fragment arrived, or the peer acknowledged our write: it is alive. (One clock read per
  // completion, on a path that copies up to a slot of data anyway.)
  p.watch.heard(nowNs());
  switch (wrKind(wc.wr_id)) {
    case kWrData: {
      const uint32_t slot = wrSlot(wc.wr_id);
      SendOp* op = slot < kSlots ? p.staged[slot] : nullptr;
      if (op == nullptr) return;
      p.staged[slot] = nullptr;
      if (++op->done < op->count) return;
      // Fragments complete in order, so this is the oldest send.
      op->req->impl_ = nullptr;
      op->req->complete(0);
      auto it = std::find_if(p.sends.begin(), p.sends.end(), [op](const auto& s) { return s.get() == op; });
      if (it != p.sends.end()) p.sends.erase(it);
      return;
    }
    case kWrCredit: p.creditInFlight = false; return;
    case kWrRecv: {
      if (wc.opcode != IBV_WC_RECV_RDMA_WITH_IMM) {
        failPeer(q, "unexpected receive opcode " + std::to_string(wc.opcode));
        return;
      }
      Status st = p.rx->onFragment(ntohl(wc.imm_data));
      if (st.isOk()) st = postReceiveSlot(q);
      if (!st.isOk()) failPeer(q, st.message());
      return;
    }
  }
}

// Marks the peer failed, fails everything pending with it, and moves its queue pair to ERROR
// (its outstanding work then completes as flushed, and is ignored).
void VerbsTransport::failPeer(int q, const std::string& why) {
  Peer& p = peers_[static_cast<size_t>(q)];
  if (p.failed) return;
  p.failed = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    failures_.emplace(q, why);
  }
  TORC_INFO(kLogNet, "verbs: connection to rank %d failed: %s", q, why.c_str());
  const Status s = errorf(Code::kRemoteError, "rank %d: %s", q, why.c_str());
  for (auto& op : p.sends) {
    op->req->impl_ = nullptr;
    op->req->fail(s);
  }
  p.sends.clear();
  std::fill(p.staged.begin(), p.staged.end(), nullptr);
  if (p.rx) p.rx->failAll(s);
  ibv_qp_attr at{};
  at.qp_state = IBV_QPS_ERR;
  if (p.qp != nullptr) ibv_->modifyQp(p.qp, &at, IBV_QP_STATE);
}

}  // namespace torc::transport::verbs
