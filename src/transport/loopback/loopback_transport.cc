#include "src/transport/loopback/loopback_transport.h"

#include <cstring>
#include <thread>

namespace torc::transport {

class LoopbackEndpoint : public Endpoint {
 public:
  LoopbackEndpoint(Fabric* f, int self, int peer) : Endpoint(peer), fabric_(f), self_(self) {}
  Status postSend(const void* buf, size_t len, Tag tag, Request* req) override {
    req->begin();
    req->peer_ = peer();
    return fabric_->send(peer(), buf, len, tag, req);
  }
  Status postRecv(void* buf, size_t len, Tag tag, Request* req) override {
    req->begin();
    req->peer_ = peer();
    return fabric_->recv(self_, buf, len, tag, req);
  }

 private:
  Fabric* fabric_;
  int self_;
};

class LoopbackTransport : public Transport {
 public:
  LoopbackTransport(Fabric* f, int rank) : fabric_(f), rank_(rank) {}
  const char* name() const override { return "loopback"; }
  std::vector<uint8_t> address() const override {
    std::vector<uint8_t> a(sizeof(int));
    memcpy(a.data(), &rank_, sizeof(int));
    return a;
  }
  Status connect(int peer, const std::vector<uint8_t>&, bool, std::unique_ptr<Endpoint>* ep) override {
    if (peer < 0 || peer >= fabric_->nranks()) return errorf(Code::kInvalidArgument, "no rank %d on the fabric", peer);
    *ep = std::make_unique<LoopbackEndpoint>(fabric_, rank_, peer);
    return Status::ok();
  }
  Status registerMemory(void* base, size_t size, std::unique_ptr<MemoryRegion>* mr) override {
    struct Region : MemoryRegion {
      Region(void* b, size_t s) : MemoryRegion(b, s) {}
    };
    *mr = std::make_unique<Region>(base, size);
    return Status::ok();
  }
  bool progress() override { return false; }  // matching happens at post time
  void waitForEvent(int) override { std::this_thread::yield(); }
  void cancel(Request* req) override { fabric_->cancel(rank_, req); }
  std::string peerFailure(int) const override { return {}; }

 private:
  Fabric* fabric_;
  int rank_;
};

std::unique_ptr<Transport> Fabric::makeTransport(int rank) { return std::make_unique<LoopbackTransport>(this, rank); }

std::unique_ptr<DirectAccess> Fabric::makeDirectAccess() {
  struct InProcess : DirectAccess {
    Status read(int, void* local, uint64_t remote, size_t len) override {
      memcpy(local, reinterpret_cast<const void*>(remote), len);
      return Status::ok();
    }
    Status write(int, const void* local, uint64_t remote, size_t len) override {
      memcpy(reinterpret_cast<void*>(remote), local, len);
      return Status::ok();
    }
  };
  return std::make_unique<InProcess>();
}

void Fabric::deliver(const Pending& s, const Pending& r) {
  if (s.len > r.len) {
    Status err = errorf(Code::kInvalidUsage, "message of %zu bytes into a %zu-byte receive", s.len, r.len);
    s.req->fail(err);
    r.req->fail(err);
    return;
  }
  if (s.len > 0) memcpy(r.buf, s.buf, s.len);
  s.req->complete(0);
  r.req->complete(s.len);
}

Status Fabric::send(int dst, const void* buf, size_t len, Tag tag, Request* req) {
  std::lock_guard<std::mutex> lock(mu_);
  Queue& q = queues_[static_cast<size_t>(dst)];
  Pending s{const_cast<void*>(buf), len, req};
  auto it = q.recvs.lower_bound(tag);  // the earliest posted of equal tags
  if (it != q.recvs.end() && it->first != tag) it = q.recvs.end();
  if (it == q.recvs.end()) {
    q.sends.emplace(tag, s);
    return Status::ok();
  }
  deliver(s, it->second);
  bytesMoved_ += len;
  q.recvs.erase(it);
  return Status::ok();
}

Status Fabric::recv(int self, void* buf, size_t len, Tag tag, Request* req) {
  std::lock_guard<std::mutex> lock(mu_);
  Queue& q = queues_[static_cast<size_t>(self)];
  Pending r{buf, len, req};
  auto it = q.sends.lower_bound(tag);
  if (it != q.sends.end() && it->first != tag) it = q.sends.end();
  if (it == q.sends.end()) {
    q.recvs.emplace(tag, r);
    return Status::ok();
  }
  deliver(it->second, r);
  bytesMoved_ += it->second.len;
  q.sends.erase(it);
  return Status::ok();
}

void Fabric::cancel(int self, Request* req) {
  std::lock_guard<std::mutex> lock(mu_);
  // Like UCX, only a receive that has not matched can be cancelled; a send stays pending.
  auto& recvs = queues_[static_cast<size_t>(self)].recvs;
  for (auto it = recvs.begin(); it != recvs.end(); ++it) {
    if (it->second.req == req) {
      req->fail(Status(Code::kRemoteError, "cancelled"));
      recvs.erase(it);
      return;
    }
  }
}

size_t Fabric::unmatched() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (auto& q : queues_) n += q.sends.size() + q.recvs.size();
  return n;
}

}  // namespace torc::transport
