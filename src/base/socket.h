// Blocking TCP sockets with deadlines, for the bootstrap. Every call that waits takes a
// Deadline and fails with Code::kTimeout when it passes; nothing here waits forever.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <string>

#include "src/base/status.h"

namespace torc {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;
  static Deadline after(double seconds);
  static Deadline never();
  bool expired() const { return Clock::now() >= at_; }
  int remainingMs() const;  // clamped to [0, INT_MAX]; -1 for never
  Clock::time_point at() const { return at_; }

 private:
  Clock::time_point at_;
  bool never_ = false;
};

struct SockAddr {
  sockaddr_storage ss{};
  socklen_t len = 0;
  int port() const;
  void setPort(int port);
  std::string toString() const;  // "1.2.3.4:5678" or "[::1]:5678"
};

// "host:port" (host may be a name, an IPv4 address or [IPv6]).
Result<SockAddr> parseHostPort(const std::string& text);
// The address to advertise: the interface named by `ifname` if non-empty (a prefix matches,
// "^name" excludes), else the first UP non-loopback IPv4 interface, else 127.0.0.1.
Result<SockAddr> pickInterfaceAddress(const std::string& ifname);

class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() { close(); }
  Socket(Socket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Socket& operator=(Socket&& o) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void close();

  // Listens on `addr` (port 0 picks one); the bound address is written back into *addr.
  static Result<Socket> listen(SockAddr* addr);
  // Accepts one connection; kTimeout if none before the deadline.
  Result<Socket> accept(const Deadline& d, SockAddr* peer) const;
  // Connects, retrying refused connections (the listener may not be up yet) until the deadline.
  static Result<Socket> connect(const SockAddr& addr, const Deadline& d);

  Status sendAll(const void* buf, size_t len, const Deadline& d) const;
  Status recvAll(void* buf, size_t len, const Deadline& d) const;  // kRemoteError on EOF

 private:
  int fd_ = -1;
};

}  // namespace torc
