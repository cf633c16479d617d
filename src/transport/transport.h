// The transport interface: what algorithms' executor needs of a network, and nothing about
// collectives or datatypes.
//
// A Transport is one backend instance with its own progress engine (for UCX: a context and a
// worker). It publishes an address (opaque bytes, exchanged through the bootstrap) and connects
// Endpoints to peers' addresses. Data moves as non-blocking tagged messages: a receive matches
// the send with the same 64-bit tag, whoever posts first; the caller makes tags unique (they
// carry the sender's rank). Completion is reported through a caller-owned Request, which must
// stay alive (and its buffer untouched) until it is no longer pending.
//
// Threading: a Transport and its Endpoints are used by one thread at a time.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "src/base/status.h"

namespace torc::transport {

using Tag = uint64_t;

class Request {
 public:
  enum State : int { kIdle = 0, kPending = 1, kDone = 2, kFailed = 3 };
  State state() const { return static_cast<State>(state_.load(std::memory_order_acquire)); }
  bool pending() const { return state() == kPending; }
  const Status& error() const { return error_; }
  size_t bytes() const { return bytes_; }  // bytes received (receives)

  // For transports only.
  void begin() {
    error_ = Status::ok();
    bytes_ = 0;
    impl_ = nullptr;
    state_.store(kPending, std::memory_order_release);
  }
  void complete(size_t bytes) {
    bytes_ = bytes;
    state_.store(kDone, std::memory_order_release);
  }
  void fail(Status s) {
    error_ = std::move(s);
    state_.store(kFailed, std::memory_order_release);
  }
  void* impl_ = nullptr;  // backend handle while pending
  int peer_ = -1;

 private:
  std::atomic<int> state_{kIdle};
  Status error_;
  size_t bytes_ = 0;
};

// A registration of caller-owned memory (RAII). Backends that need no registration for
// tagged messages still return one, so callers need not care.
class MemoryRegion {
 public:
  virtual ~MemoryRegion() = default;
  void* base() const { return base_; }
  size_t size() const { return size_; }
  // Bytes a peer needs to address this region remotely (empty where unsupported).
  virtual std::vector<uint8_t> serialize() const { return {}; }

 protected:
  MemoryRegion(void* base, size_t size) : base_(base), size_(size) {}

 private:
  void* base_;
  size_t size_;
};

class Endpoint {
 public:
  virtual ~Endpoint() = default;
  int peer() const { return peer_; }
  // Starts sending len bytes; the buffer must stay unchanged until req is no longer pending.
  virtual Status postSend(const void* buf, size_t len, Tag tag, Request* req) = 0;
  // Starts receiving up to len bytes of the message with this tag from this peer.
  virtual Status postRecv(void* buf, size_t len, Tag tag, Request* req) = 0;
  // Disconnects (bounded in time). abortive: do not wait for the peer to take buffered data.
  virtual void close(bool abortive) { (void)abortive; }

 protected:
  explicit Endpoint(int peer) : peer_(peer) {}

 private:
  int peer_;
};

struct TransportOptions {
  int rank = 0;
  int nranks = 1;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual const char* name() const = 0;
  // This instance's address, to hand to peers.
  virtual std::vector<uint8_t> address() const = 0;
  // Connects to the peer with the given rank and address. Does not wait for the peer.
  // sameNode: the peer shares this machine (shared memory may be used; failures of such
  // peers may go unreported by peerFailure(), so callers watch them another way).
  virtual Status connect(int peer, const std::vector<uint8_t>& address, bool sameNode,
                         std::unique_ptr<Endpoint>* ep) = 0;
  virtual Status registerMemory(void* base, size_t size, std::unique_ptr<MemoryRegion>* mr) = 0;
  // Advances communication; never blocks. Returns whether anything happened (best effort).
  virtual bool progress() = 0;
  // Blocks until the transport may have something to do, or timeoutMs passes. Used after a
  // spin, so that ranks sharing a core yield it.
  virtual void waitForEvent(int timeoutMs) = 0;
  // Cancels a pending request; it then completes (possibly as failed) through progress().
  virtual void cancel(Request* req) = 0;
  // Non-empty once the transport has seen the peer fail (disconnect, reset).
  virtual std::string peerFailure(int peer) const = 0;
  // True if every peer must be connected at init, while all ranks are there, and nothing posted
  // until every rank has (the communicator passes a barrier through the bootstrap after
  // connecting; verbs: a write to a queue pair its owner has not connected yet is lost, and costs
  // the writer a retransmission timeout); otherwise peers are connected when first needed.
  virtual bool wantsEagerConnect() const { return false; }
};

// One-sided access to the memory of peers on this node (cross-memory attach). Reads and writes
// are synchronous copies between this process and a peer's address space; they need no action
// from the peer, which is what lets an algorithm reduce straight out of peers' buffers and write
// results straight into them.
class DirectAccess {
 public:
  virtual ~DirectAccess() = default;
  virtual Status read(int peer, void* local, uint64_t remote, size_t len) = 0;
  virtual Status write(int peer, const void* local, uint64_t remote, size_t len) = 0;
};

// The UCX transport (the in-process one for the simulator is made by a loopback Fabric; the
// verbs one is declared in verbs/verbs_transport.h).
Result<std::unique_ptr<Transport>> createUcxTransport(const TransportOptions& opts);

}  // namespace torc::transport
