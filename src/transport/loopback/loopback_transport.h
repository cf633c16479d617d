// An in-process transport: every rank's Transport lives in one process and messages are
// matched in memory. It carries the plan simulator (all ranks' Plans run by one thread, for p
// up to hundreds) and never replaces UCX between processes.
#pragma once

#include <map>
#include <memory>
#include <mutex>

#include "src/transport/transport.h"

namespace torc::transport {

class Fabric {
 public:
  explicit Fabric(int nranks) : nranks_(nranks), queues_(static_cast<size_t>(nranks)) {}
  int nranks() const { return nranks_; }
  std::unique_ptr<Transport> makeTransport(int rank);
  // Direct access between ranks of this process: remote addresses are plain pointers.
  static std::unique_ptr<DirectAccess> makeDirectAccess();

  // Messages sent and not yet received, and receives not yet matched: both 0 after a
  // well-formed set of plans has run.
  size_t unmatched() const;
  uint64_t bytesMoved() const {
    std::lock_guard<std::mutex> lock(mu_);
    return bytesMoved_;
  }

 private:
  friend class LoopbackEndpoint;
  friend class LoopbackTransport;
  struct Pending {
    void* buf;
    size_t len;
    Request* req;
  };
  struct Queue {
    std::multimap<Tag, Pending> sends;  // arrived at this rank, not yet received
    std::multimap<Tag, Pending> recvs;  // posted at this rank, not yet matched
  };
  Status send(int dst, const void* buf, size_t len, Tag tag, Request* req);
  Status recv(int self, void* buf, size_t len, Tag tag, Request* req);
  void cancel(int self, Request* req);
  static void deliver(const Pending& s, const Pending& r);

  int nranks_;
  mutable std::mutex mu_;
  std::vector<Queue> queues_;
  uint64_t bytesMoved_ = 0;
};

}  // namespace torc::transport
