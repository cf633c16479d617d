#include "src/base/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <thread>

namespace torc {

Deadline Deadline::after(double seconds) {
  Deadline d;
  d.at_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  return d;
}

Deadline Deadline::never() {
  Deadline d;
  d.never_ = true;
  d.at_ = Clock::time_point::max();
  return d;
}

int Deadline::remainingMs() const {
  if (never_) return -1;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(at_ - Clock::now()).count();
  if (ms < 0) return 0;
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

int SockAddr::port() const {
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
  return -1;
}

void SockAddr::setPort(int port) {
  if (ss.ss_family == AF_INET) reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(static_cast<uint16_t>(port));
  if (ss.ss_family == AF_INET6) reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = htons(static_cast<uint16_t>(port));
}

std::string SockAddr::toString() const {
  char host[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, host, sizeof(host));
    return std::string(host) + ":" + std::to_string(port());
  }
  if (ss.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, host, sizeof(host));
    return "[" + std::string(host) + "]:" + std::to_string(port());
  }
  return "?";
}

Result<SockAddr> parseHostPort(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return errorf(Code::kInvalidArgument, "address '%s' is not host:port", text.c_str());
  std::string host = text.substr(0, colon);
  std::string port = text.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  char* end = nullptr;
  long p = strtol(port.c_str(), &end, 10);
  if (*end != '\0' || p <= 0 || p > 65535)
    return errorf(Code::kInvalidArgument, "port '%s' in '%s' is not a number in 1..65535", port.c_str(), text.c_str());
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) return errorf(Code::kInvalidArgument, "cannot resolve '%s': %s", host.c_str(), gai_strerror(rc));
  SockAddr a;
  memcpy(&a.ss, res->ai_addr, res->ai_addrlen);
  a.len = res->ai_addrlen;
  freeaddrinfo(res);
  a.setPort(static_cast<int>(p));
  return a;
}

Result<SockAddr> pickInterfaceAddress(const std::string& ifname) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return sysError(errno, "getifaddrs");
  bool exclude = !ifname.empty() && ifname[0] == '^';
  std::string want = exclude ? ifname.substr(1) : ifname;
  SockAddr found;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP)) continue;
    bool prefix = !want.empty() && strncmp(i->ifa_name, want.c_str(), want.size()) == 0;
    if (want.empty() ? (i->ifa_flags & IFF_LOOPBACK) != 0 : prefix == exclude) continue;
    memcpy(&found.ss, i->ifa_addr, sizeof(sockaddr_in));
    found.len = sizeof(sockaddr_in);
    break;
  }
  freeifaddrs(list);
  if (found.len == 0) {
    if (!ifname.empty()) return errorf(Code::kInvalidArgument, "no UP IPv4 interface matches TORC_SOCKET_IFNAME=%s",
                                       ifname.c_str());
    auto* in = reinterpret_cast<sockaddr_in*>(&found.ss);
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    found.len = sizeof(sockaddr_in);
  }
  return found;
}

Socket& Socket::operator=(Socket&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

void Socket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

static void tuneSocket(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  fcntl(fd, F_SETFD, FD_CLOEXEC);
}

Result<Socket> Socket::listen(SockAddr* addr) {
  Socket s(::socket(addr->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) return sysError(errno, "socket");
  int one = 1;
  setsockopt(s.fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(s.fd(), reinterpret_cast<const sockaddr*>(&addr->ss), addr->len) != 0)
    return sysError(errno, "bind %s", addr->toString().c_str());
  if (::listen(s.fd(), 1024) != 0) return sysError(errno, "listen %s", addr->toString().c_str());
  socklen_t len = sizeof(addr->ss);
  getsockname(s.fd(), reinterpret_cast<sockaddr*>(&addr->ss), &len);
  addr->len = len;
  return s;
}

static Status waitFd(int fd, short events, const Deadline& d, const char* what) {
  for (;;) {
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, d.remainingMs());
    if (rc > 0) return Status::ok();
    if (rc == 0) return errorf(Code::kTimeout, "timed out waiting to %s", what);
    if (errno != EINTR) return sysError(errno, "poll");
  }
}

Result<Socket> Socket::accept(const Deadline& d, SockAddr* peer) const {
  TORC_RETURN_IF_ERROR(waitFd(fd_, POLLIN, d, "accept"));
  SockAddr a;
  a.len = sizeof(a.ss);
  int fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&a.ss), &a.len, SOCK_CLOEXEC);
  if (fd < 0) return sysError(errno, "accept");
  tuneSocket(fd);
  if (peer) *peer = a;
  return Socket(fd);
}

// One non-blocking connect attempt bounded by the deadline; returns 0 or an errno.
static int connectOnce(int fd, const SockAddr& addr, const Deadline& d) {
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  int err = 0;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr.ss), addr.len) != 0) {
    err = errno;
    if (err == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int rc;
      do {
        rc = ::poll(&p, 1, d.remainingMs());
      } while (rc < 0 && errno == EINTR);
      if (rc == 0) return ETIMEDOUT;
      socklen_t len = sizeof(err);
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    }
  }
  fcntl(fd, F_SETFL, flags);
  return err;
}

Result<Socket> Socket::connect(const SockAddr& addr, const Deadline& d) {
  int backoffMs = 10;
  for (;;) {
    Socket s(::socket(addr.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!s.valid()) return sysError(errno, "socket");
    int err = connectOnce(s.fd(), addr, d);
    if (err == 0) {
      tuneSocket(s.fd());
      return s;
    }
    // The listener may not be up yet, or its host not yet reachable: retry until the deadline.
    if (err != ECONNREFUSED && err != ETIMEDOUT && err != EINTR && err != ECONNRESET && err != EAGAIN &&
        err != EHOSTUNREACH && err != ENETUNREACH)
      return sysError(err, "connect to %s", addr.toString().c_str());
    if (d.expired()) return errorf(Code::kTimeout, "could not connect to %s: %s", addr.toString().c_str(), strerror(err));
    std::this_thread::sleep_for(std::chrono::milliseconds(backoffMs));
    backoffMs = backoffMs < 200 ? backoffMs * 2 : 200;
  }
}

Status Socket::sendAll(const void* buf, size_t len, const Deadline& d) const {
  const char* p = static_cast<const char*>(buf);
  while (len > 0) {
    TORC_RETURN_IF_ERROR(waitFd(fd_, POLLOUT, d, "send"));
    ssize_t n = ::send(fd_, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Status(Code::kRemoteError, std::string("send: ") + strerror(errno));
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return Status::ok();
}

Status Socket::recvAll(void* buf, size_t len, const Deadline& d) const {
  char* p = static_cast<char*>(buf);
  while (len > 0) {
    TORC_RETURN_IF_ERROR(waitFd(fd_, POLLIN, d, "receive"));
    ssize_t n = ::recv(fd_, p, len, MSG_DONTWAIT);
    if (n == 0) return Status(Code::kRemoteError, "connection closed by peer");
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Status(Code::kRemoteError, std::string("recv: ") + strerror(errno));
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return Status::ok();
}

}  // namespace torc
