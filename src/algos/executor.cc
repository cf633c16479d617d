#include "src/algos/executor.h"

#include <sched.h>

#include <chrono>
#include <cstring>
#include <set>
#include <thread>

#include "src/base/log.h"
#include "src/base/param.h"

namespace torc::algos {

using transport::Request;

uint64_t makeTagBase(bool p2p, uint32_t commId, uint64_t seq) {
  return (uint64_t{p2p} << 63) | (uint64_t{commId & 0x7f} << 56) | ((seq & 0xffff) << 40);
}

static uint64_t tagFor(uint64_t base, int sender, uint32_t msg) {
  return base | (uint64_t{static_cast<uint32_t>(sender) & 0xffff} << 24) | (msg & kMaxMessagesPerPeer);
}

char* Executor::addr(const Ref& r) const {
  size_t off = r.off * elemSize_;
  switch (r.buf) {
    case BufId::kInput: return const_cast<char*>(static_cast<const char*>(args_.input)) + off;
    case BufId::kOutput: return static_cast<char*>(args_.output) + off;
    case BufId::kScratch: return static_cast<char*>(args_.scratch) + off;
    case BufId::kAddrSelf: return reinterpret_cast<char*>(addrSelf_) + off;
    case BufId::kAddrTable: return reinterpret_cast<char*>(addrTable_.data()) + off;
    case BufId::kPeerInput:
    case BufId::kPeerOutput: break;  // remote: see remoteAddr()
  }
  return nullptr;
}

uint64_t Executor::remoteAddr(const Ref& r, int peer) const {
  uint64_t base = addrTable_[2 * static_cast<size_t>(peer) + (r.buf == BufId::kPeerOutput ? 1 : 0)];
  return base + r.off * elemSize_;
}

Status Executor::start(const Plan& plan, const ExecArgs& args, const ExecContext& ctx) {
  plan_ = &plan;
  args_ = args;
  ctx_ = &ctx;
  elemSize_ = kernels::dtypeSize(args.dtype);
  if (plan.scratchElems() * elemSize_ > args.scratchBytes)
    return errorf(Code::kInternalError, "%s needs %zu scratch bytes, the communicator has %zu", plan.name.c_str(),
                  plan.scratchElems() * elemSize_, args.scratchBytes);
  if (poisoned_)
    return Status(Code::kInternalError, "an earlier operation left transfers the transport could not cancel");
  const size_t n = plan.size();
  if (reqCapacity_ < n) {
    reqs_.reset(new Request[n]);
    reqCapacity_ = n;
  }
  pendingDeps_.resize(n);
  addrSelf_[0] = reinterpret_cast<uint64_t>(args.input);
  addrSelf_[1] = reinterpret_cast<uint64_t>(args.output);
  addrTable_.assign(2 * static_cast<size_t>(ctx.nranks), 0);
  ready_.clear();
  readyHead_ = 0;
  inflight_.clear();
  done_ = 0;
  for (size_t i = 0; i < n; ++i) {
    pendingDeps_[i] = plan.numDeps(i);
    if (pendingDeps_[i] == 0) ready_.push_back(static_cast<uint32_t>(i));
  }
  return Status::ok();
}

void Executor::markDone(uint32_t i) {
  ++done_;
  for (const uint32_t* d = plan_->dependentsBegin(i); d != plan_->dependentsEnd(i); ++d)
    if (--pendingDeps_[*d] == 0) ready_.push_back(*d);
}

Status Executor::startStep(uint32_t i) {
  const Step& s = plan_->step(i);
  const size_t bytes = s.count * elemSize_;
  switch (s.kind) {
    case OpKind::kSend:
    case OpKind::kRecv:
    case OpKind::kRecvReduce: {
      transport::Endpoint* ep = ctx_->endpoints[static_cast<size_t>(s.peer)];
      if (ep == nullptr) return errorf(Code::kInternalError, "no endpoint to rank %d", s.peer);
      Request* req = &reqs_[i];
      Status st;
      if (s.kind == OpKind::kSend) {
        st = ep->postSend(addr(s.src), bytes, tagFor(args_.tagBase, ctx_->rank, s.msgIndex), req);
      } else {
        char* into = s.kind == OpKind::kRecv ? addr(s.dst) : addr(s.src);
        const uint64_t base = args_.separateRecvTag ? args_.recvTagBase : args_.tagBase;
        st = ep->postRecv(into, bytes, tagFor(base, s.peer, s.msgIndex), req);
      }
      TORC_RETURN_IF_ERROR(st);
      inflight_.push_back(i);
      return Status::ok();
    }
    case OpKind::kReduce:
      kernels::reduce(args_.dtype, args_.op, addr(s.dst), addr(s.a), addr(s.src), s.count);
      break;
    case OpKind::kCopy:
      if (addr(s.dst) != addr(s.src)) memcpy(addr(s.dst), addr(s.src), bytes);
      break;
    case OpKind::kFinalize:
      if (args_.op == kernels::RedOp::kAvg) kernels::finalizeAvg(args_.dtype, addr(s.dst), s.count, ctx_->nranks);
      break;
    case OpKind::kReadReduce:
      if (ctx_->direct == nullptr) return Status(Code::kInternalError, "a direct plan without direct access");
      TORC_RETURN_IF_ERROR(ctx_->direct->read(s.peer, addr(s.src), remoteAddr(s.a, s.peer), bytes));
      kernels::reduce(args_.dtype, args_.op, addr(s.dst), addr(s.b), addr(s.src), s.count);
      break;
    case OpKind::kWrite:
      if (ctx_->direct == nullptr) return Status(Code::kInternalError, "a direct plan without direct access");
      TORC_RETURN_IF_ERROR(ctx_->direct->write(s.peer, addr(s.src), remoteAddr(s.dst, s.peer), bytes));
      break;
    case OpKind::kNop:
      break;
  }
  markDone(i);
  return Status::ok();
}

Status Executor::finishStep(uint32_t i) {
  const Step& s = plan_->step(i);
  const Request& req = reqs_[i];
  if (req.state() == Request::kFailed) return req.error();
  if (s.kind != OpKind::kSend && req.bytes() != s.count * elemSize_)
    return errorf(Code::kInvalidUsage,
                  "rank %d sent %zu bytes where %zu were expected (do all ranks pass the same count and type?)",
                  s.peer, req.bytes(), s.count * elemSize_);
  if (s.kind == OpKind::kRecvReduce)
    kernels::reduce(args_.dtype, args_.op, addr(s.dst), addr(s.a), addr(s.src), s.count);
  markDone(i);
  return Status::ok();
}

Result<bool> Executor::poll() {
  for (size_t k = 0; k < inflight_.size();) {
    uint32_t i = inflight_[k];
    if (reqs_[i].pending()) {
      ++k;
      continue;
    }
    inflight_[k] = inflight_.back();
    inflight_.pop_back();
    TORC_RETURN_IF_ERROR(finishStep(i));
  }
  // Every ready step starts at once. A cap on transfers in flight would add a wait that
  // points forward in plan order (a send waiting for a later send to finish), and with
  // rendezvous-sized chunks that closes a cycle around the ring; without it, every wait points
  // to an earlier step (a receive waits for its slot's previous user), so plans cannot deadlock.
  while (readyHead_ < ready_.size()) TORC_RETURN_IF_ERROR(startStep(ready_[readyHead_++]));
  return done_ == plan_->size();
}

bool Executor::cancelAll() {
  for (uint32_t i : inflight_) ctx_->transport->cancel(&reqs_[i]);
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  for (;;) {
    bool pending = false;
    for (uint32_t i : inflight_) pending |= reqs_[i].pending();
    if (!pending) break;
    if (std::chrono::steady_clock::now() > until) {
      poisoned_ = true;  // UCX cannot cancel a send in progress: its Request must stay untouched
      return false;
    }
    ctx_->transport->progress();
  }
  inflight_.clear();
  return true;
}

bool Executor::hasInflightWith(int peer) const {
  for (uint32_t i : inflight_)
    if (plan_->step(i).peer == peer) return true;
  return false;
}

Status Executor::drainPeer(int peer) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
  while (hasInflightWith(peer) && std::chrono::steady_clock::now() < until) {
    ctx_->transport->progress();
    Result<bool> r = poll();
    if (!r.isOk()) return r.status();
  }
  return Status::ok();
}

std::string Executor::waitingOn() const {
  std::set<int> peers;
  for (uint32_t i : inflight_) peers.insert(plan_->step(i).peer);
  std::string out;
  for (int p : peers) out += (out.empty() ? "" : ", ") + std::to_string(p);
  return out.empty() ? "nothing" : "rank " + out;
}

Status Executor::run(const Plan& plan, const ExecArgs& args, const ExecContext& ctx, double timeoutSec) {
  TORC_RETURN_IF_ERROR(start(plan, args, ctx));
  using Clock = std::chrono::steady_clock;
  const auto spin = std::chrono::microseconds(ctx.spinUs);
  const auto yieldPhase = std::chrono::microseconds(ctx.yieldUs);
  const auto timeout = std::chrono::duration<double>(timeoutSec);
  auto lastProgress = Clock::now();
  auto lastPeerCheck = lastProgress;
  size_t lastDone = 0;
  for (;;) {
    bool moved = ctx.transport->progress();
    Result<bool> r = poll();
    if (!r.isOk()) {
      cancelAll();
      return r.status();
    }
    if (r.value()) return Status::ok();
    // Only completed steps count as progress: a peer that keeps sending must not hide one
    // that never will.
    if (done_ != lastDone) {
      lastDone = done_;
      lastProgress = Clock::now();
      continue;
    }
    if (moved) continue;
    auto idle = Clock::now() - lastProgress;
    if (idle < spin) continue;
    if (ctx.abortFlag != nullptr && ctx.abortFlag->load(std::memory_order_relaxed)) {
      cancelAll();
      return Status(Code::kInvalidUsage, "the communicator was aborted during " + plan.name);
    }
    // Slow path: nothing moved for a while. Check for dead peers (a syscall per peer: at most
    // once a millisecond, not on every yield), then give the core away.
    const auto now = Clock::now();
    const bool checkPeers = now - lastPeerCheck >= std::chrono::milliseconds(1);
    if (checkPeers) lastPeerCheck = now;
    int lastPeer = -1;
    for (uint32_t i : inflight_) {
      if (!checkPeers) break;
      int peer = plan.step(i).peer;
      if (peer == lastPeer) continue;  // consecutive steps usually share a peer
      lastPeer = peer;
      std::string why = ctx.peerFailure ? ctx.peerFailure(peer) : ctx.transport->peerFailure(peer);
      if (why.empty()) continue;
      // A peer that took our last message and finished may exit before our send request
      // completes locally: drain briefly, and fail only if something with it is still pending.
      Status drained = drainPeer(peer);
      if (!drained.isOk()) {
        cancelAll();
        return drained;
      }
      if (hasInflightWith(peer)) {
        std::string msg = "rank " + std::to_string(peer) + " failed (" + why + ") during " + plan.name;
        cancelAll();
        return Status(Code::kRemoteError, msg);
      }
      break;  // inflight_ changed: look again on the next pass
    }
    if (idle > timeout) {
      std::string msg = "no progress in " + plan.name + " for " + std::to_string(static_cast<int>(timeoutSec)) +
                        " s (TORC_TIMEOUT), waiting for " + waitingOn();
      cancelAll();
      return Status(Code::kTimeout, msg);
    }
    // Yield first (a peer sharing this core may be the one we wait for), then sleep on the
    // transport's event fd once the wait is long enough that it is not a message in flight.
    if (idle < yieldPhase) {
      sched_yield();
    } else {
      ctx.transport->waitForEvent(idle < std::chrono::milliseconds(10) ? 1 : 10);
    }
  }
}

}  // namespace torc::algos
