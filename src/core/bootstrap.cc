#include "src/core/bootstrap.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>

#include "src/base/log.h"

namespace torc::core {
namespace {

constexpr uint32_t kIdMagic = 0x544f5243;     // "TORC"
constexpr uint32_t kHelloMagic = 0x746f7263;  // "torc"
constexpr uint32_t kBarrierMagic = 0x62617272;  // "barr"
constexpr uint32_t kMaxBlob = 1 << 20;
constexpr int kMaxRanks = 1 << 16;

struct IdLayout {
  uint32_t magic;
  uint16_t family;
  uint16_t port;
  uint8_t addr[16];
  uint8_t secret[16];
};
static_assert(sizeof(IdLayout) <= TORC_UNIQUE_ID_BYTES, "unique id too small");

struct Hello {
  uint32_t magic;
  uint8_t secret[16];
  int32_t rank;
  int32_t nranks;
  uint32_t blobLen;
};

bool secretsEqual(const uint8_t* a, const uint8_t* b) {
  uint8_t diff = 0;  // constant time: do not leak how much of a guess was right
  for (int i = 0; i < 16; ++i) diff |= static_cast<uint8_t>(a[i] ^ b[i]);
  return diff == 0;
}

Status sendReply(const Socket& s, uint32_t status, const std::string& payload, const Deadline& d) {
  uint32_t hdr[2] = {status, static_cast<uint32_t>(payload.size())};
  TORC_RETURN_IF_ERROR(s.sendAll(hdr, sizeof(hdr), d));
  return s.sendAll(payload.data(), payload.size(), d);
}

struct Arrival {
  Socket sock;
  Blob blob;
  bool present = false;
};

class Root {
 public:
  // fromFirstArrival: the clock starts when the first rank arrives (an id may be made well
  // before init is called); an id nobody uses is given up after an hour.
  Root(Socket listener, Secret secret, double timeoutSec, bool fromFirstArrival)
      : listener_(std::move(listener)), secret_(secret),
        deadline_(Deadline::after(fromFirstArrival ? std::max(3600.0, timeoutSec) : timeoutSec)),
        timeoutSec_(timeoutSec), fromFirstArrival_(fromFirstArrival) {}

  void run() {
    int arrived = 0;
    while (nranks_ < 0 || arrived < nranks_) {
      SockAddr peer;
      Result<Socket> conn = listener_.accept(deadline_, &peer);
      if (!conn.isOk()) {
        if (conn.status().code() == Code::kTimeout) return fail(arrived);
        TORC_WARN("bootstrap root: %s", conn.status().toString().c_str());
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // e.g. out of descriptors
        continue;
      }
      if (admit(std::move(conn).value(), peer)) ++arrived;
    }
    std::string table;
    for (auto& a : arrivals_) {
      uint32_t len = static_cast<uint32_t>(a.blob.size());
      table.append(reinterpret_cast<const char*>(&len), sizeof(len));
      table.append(reinterpret_cast<const char*>(a.blob.data()), a.blob.size());
    }
    Deadline d = Deadline::after(timeoutSec_);
    for (size_t r = 0; r < arrivals_.size(); ++r) {
      Status st = sendReply(arrivals_[r].sock, 0, table, d);
      if (!st.isOk()) TORC_WARN("bootstrap root: sending the table to rank %zu: %s", r, st.toString().c_str());
    }
    TORC_INFO(kLogBootstrap, "bootstrap root: %d ranks met", nranks_);
    barrier();
  }

 private:
  // Reads and checks one hello; returns whether it added a rank.
  bool admit(Socket conn, const SockAddr& peer) {
    // A rank sends its hello at once; a silent stranger must not hold up the others for long.
    Deadline d = Deadline::after(std::min({1.0, timeoutSec_, deadline_.remainingMs() / 1000.0}));
    Hello h{};
    Status st = conn.recvAll(&h, sizeof(h), d);
    const std::string who = peer.toString();
    if (!st.isOk()) {
      TORC_WARN("bootstrap root: dropped connection from %s: %s", who.c_str(), st.toString().c_str());
      return false;
    }
    if (h.magic != kHelloMagic || !secretsEqual(h.secret, secret_.data())) {
      TORC_WARN("bootstrap root: dropped connection from %s: it did not present the secret of this unique id",
                who.c_str());
      return false;
    }
    if (h.nranks < 1 || h.nranks > kMaxRanks || h.rank < 0 || h.rank >= h.nranks || h.blobLen > kMaxBlob ||
        (nranks_ >= 0 && h.nranks != nranks_)) {
      TORC_WARN("bootstrap root: dropped %s: rank %d of %d does not fit a communicator of %d ranks", who.c_str(),
                h.rank, h.nranks, nranks_);
      (void)sendReply(conn, 1, "rank/size mismatch: rank " + std::to_string(h.rank) + " of " +
                                   std::to_string(h.nranks) + " joined a rendezvous of " + std::to_string(nranks_) +
                                   " ranks", d);
      return false;
    }
    if (nranks_ < 0) {
      nranks_ = h.nranks;
      arrivals_.resize(static_cast<size_t>(nranks_));
      if (fromFirstArrival_) deadline_ = Deadline::after(timeoutSec_);
    }
    Arrival& a = arrivals_[static_cast<size_t>(h.rank)];
    if (a.present) {
      TORC_WARN("bootstrap root: dropped %s: rank %d has already arrived", who.c_str(), h.rank);
      (void)sendReply(conn, 1, "rank " + std::to_string(h.rank) + " was claimed twice", d);
      return false;
    }
    a.blob.resize(h.blobLen);
    st = conn.recvAll(a.blob.data(), a.blob.size(), d);
    if (!st.isOk()) {
      TORC_WARN("bootstrap root: dropped rank %d from %s: %s", h.rank, who.c_str(), st.toString().c_str());
      return false;
    }
    a.sock = std::move(conn);
    a.present = true;
    TORC_TRACE(kLogBootstrap, "bootstrap root: rank %d arrived from %s", h.rank, who.c_str());
    return true;
  }

  // After the table, each rank either asks for the barrier or closes its connection (it wants
  // none). When every rank has asked, all are released; once one has closed instead (its init
  // failed) or not asked in time, those that ask are told which at once.
  void barrier() {
    Deadline d = Deadline::after(timeoutSec_);
    Deadline reply = Deadline::after(timeoutSec_ + 10.0);
    std::vector<size_t> asked;
    std::string missing;
    for (size_t r = 0; r < arrivals_.size(); ++r) {
      uint32_t magic = 0;
      Status st = arrivals_[r].sock.recvAll(&magic, sizeof(magic), d);
      if (st.isOk() && magic == kBarrierMagic) {
        asked.push_back(r);
        if (!missing.empty()) (void)sendReply(arrivals_[r].sock, 1, missing, reply);
      } else if (missing.empty()) {
        missing = "rank " + std::to_string(r) +
                  (st.code() == Code::kTimeout ? " did not reach the barrier after connecting within " +
                                                     std::to_string(static_cast<int>(timeoutSec_)) + " s (TORC_TIMEOUT)"
                                               : " left before the barrier after connecting (its init failed?)");
        for (size_t a : asked) (void)sendReply(arrivals_[a].sock, 1, missing, reply);
      }
    }
    if (asked.empty()) return;  // nobody wanted one
    if (!missing.empty()) {
      TORC_WARN("bootstrap root: %s", missing.c_str());
      return;
    }
    for (size_t r : asked) (void)sendReply(arrivals_[r].sock, 0, std::string(), reply);
    TORC_TRACE(kLogBootstrap, "bootstrap root: barrier of %zu ranks passed", asked.size());
  }

  void fail(int arrived) {
    std::string missing;
    int shown = 0;
    for (size_t r = 0; r < arrivals_.size(); ++r) {
      if (arrivals_[r].present) continue;
      if (shown++ < 16) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
    }
    if (shown > 16) missing += ", ... (" + std::to_string(shown) + " in all)";
    std::string msg = nranks_ < 0 ? "no rank arrived" : "ranks " + missing + " did not arrive within " +
                                                             std::to_string(static_cast<int>(timeoutSec_)) +
                                                             " s (TORC_TIMEOUT); " + std::to_string(arrived) +
                                                             " of " + std::to_string(nranks_) + " did";
    TORC_WARN("bootstrap root: %s", msg.c_str());
    Deadline d = Deadline::after(2.0);
    for (auto& a : arrivals_)
      if (a.present) (void)sendReply(a.sock, 1, msg, d);
  }

  Socket listener_;
  Secret secret_;
  Deadline deadline_;
  double timeoutSec_;
  bool fromFirstArrival_;
  int nranks_ = -1;
  std::vector<Arrival> arrivals_;
};

}  // namespace

Secret randomSecret() {
  Secret s{};
  size_t got = 0;
  while (got < s.size()) {
    ssize_t n = getrandom(s.data() + got, s.size() - got, 0);
    if (n > 0) {
      got += static_cast<size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      break;  // no getrandom (old kernel, seccomp): fall back to /dev/urandom
    }
  }
  if (got < s.size()) {
    FILE* f = fopen("/dev/urandom", "rb");
    if (f != nullptr) {
      got += fread(s.data() + got, 1, s.size() - got, f);
      fclose(f);
    }
  }
  if (got < s.size()) TORC_WARN("bootstrap: no source of randomness; the rendezvous secret is weak");
  return s;
}

std::string secretToHex(const Secret& s) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (uint8_t b : s) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

bool secretFromHex(const std::string& hex, Secret* out) {
  if (hex.size() != 32) return false;
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < 16; ++i) {
    int hi = nib(hex[2 * i]), lo = nib(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

void packUniqueId(const RootInfo& info, torcUniqueId* id) {
  memset(id, 0, sizeof(*id));
  IdLayout l{};
  l.magic = kIdMagic;
  l.family = info.addr.ss.ss_family;
  l.port = static_cast<uint16_t>(info.addr.port());
  if (l.family == AF_INET)
    memcpy(l.addr, &reinterpret_cast<const sockaddr_in*>(&info.addr.ss)->sin_addr, 4);
  else
    memcpy(l.addr, &reinterpret_cast<const sockaddr_in6*>(&info.addr.ss)->sin6_addr, 16);
  memcpy(l.secret, info.secret.data(), 16);
  memcpy(id->internal, &l, sizeof(l));
}

Result<RootInfo> unpackUniqueId(const torcUniqueId& id) {
  IdLayout l;
  memcpy(&l, id.internal, sizeof(l));
  if (l.magic != kIdMagic || (l.family != AF_INET && l.family != AF_INET6) || l.port == 0)
    return Status(Code::kInvalidArgument, "the unique id is not one made by torcGetUniqueId");
  RootInfo info;
  info.addr.ss.ss_family = l.family;
  if (l.family == AF_INET) {
    memcpy(&reinterpret_cast<sockaddr_in*>(&info.addr.ss)->sin_addr, l.addr, 4);
    info.addr.len = sizeof(sockaddr_in);
  } else {
    memcpy(&reinterpret_cast<sockaddr_in6*>(&info.addr.ss)->sin6_addr, l.addr, 16);
    info.addr.len = sizeof(sockaddr_in6);
  }
  info.addr.setPort(l.port);
  memcpy(info.secret.data(), l.secret, 16);
  return info;
}

Result<SockAddr> startRoot(const SockAddr& bind, SockAddr advertise, const Secret& secret, double timeoutSec,
                           bool fromFirstArrival) {
  SockAddr bound = bind;
  TORC_ASSIGN_OR_RETURN(Socket listener, Socket::listen(&bound));
  advertise.setPort(bound.port());
  auto root = std::make_shared<Root>(std::move(listener), secret, timeoutSec, fromFirstArrival);
  // Detached: the root ends on its own when everyone has met or the deadline passes, so a
  // process that made an id and exited early leaves nothing behind but the closed socket.
  std::thread([root] { root->run(); }).detach();
  TORC_INFO(kLogBootstrap, "bootstrap root listening on %s (advertised %s)", bound.toString().c_str(),
            advertise.toString().c_str());
  return advertise;
}

Result<std::vector<Blob>> rendezvous(const RootInfo& root, int rank, int nranks, const Blob& mine,
                                     double timeoutSec, Socket* link) {
  // A little longer than the root's own deadline, so that its "ranks X did not arrive" reply
  // normally reaches us before we give up ourselves.
  Deadline d = Deadline::after(timeoutSec + 3.0);
  const std::string where = root.addr.toString();
  Result<Socket> conn = Socket::connect(root.addr, d);
  if (!conn.isOk()) return conn.status().withContext("bootstrap: rank " + std::to_string(rank) + " reaching the root at " + where);
  Socket& s = conn.value();
  Hello h{};
  h.magic = kHelloMagic;
  memcpy(h.secret, root.secret.data(), 16);
  h.rank = rank;
  h.nranks = nranks;
  h.blobLen = static_cast<uint32_t>(mine.size());
  TORC_RETURN_IF_ERROR(s.sendAll(&h, sizeof(h), d).withContext("bootstrap: sending to the root"));
  TORC_RETURN_IF_ERROR(s.sendAll(mine.data(), mine.size(), d).withContext("bootstrap: sending to the root"));
  uint32_t hdr[2];
  Status st = s.recvAll(hdr, sizeof(hdr), d);
  if (!st.isOk()) {
    if (st.code() == Code::kTimeout)
      return errorf(Code::kTimeout, "bootstrap: rank %d of %d: the rendezvous at %s did not complete within %.0f s (TORC_TIMEOUT)",
                    rank, nranks, where.c_str(), timeoutSec);
    return st.withContext("bootstrap: waiting for the root at " + where);
  }
  if (hdr[1] > (64u << 20)) return errorf(Code::kRemoteError, "bootstrap: the root sent a %u-byte reply", hdr[1]);
  std::string payload(hdr[1], '\0');
  TORC_RETURN_IF_ERROR(s.recvAll(payload.data(), payload.size(), d).withContext("bootstrap: reading the table"));
  if (hdr[0] != 0) {
    Code c = payload.find("did not arrive") != std::string::npos ? Code::kTimeout : Code::kInvalidUsage;
    return Status(c, "bootstrap: " + payload);
  }
  std::vector<Blob> out;
  size_t pos = 0;
  while (pos + 4 <= payload.size()) {
    uint32_t len;
    memcpy(&len, payload.data() + pos, 4);
    pos += 4;
    if (pos + len > payload.size()) break;
    out.emplace_back(payload.begin() + static_cast<long>(pos), payload.begin() + static_cast<long>(pos + len));
    pos += len;
  }
  if (out.size() != static_cast<size_t>(nranks))
    return errorf(Code::kInternalError, "bootstrap: table has %zu entries, expected %d", out.size(), nranks);
  if (link != nullptr) *link = std::move(s);
  return out;
}

Status bootstrapBarrier(const Socket& link, int rank, double timeoutSec) {
  Deadline d = Deadline::after(timeoutSec + 3.0);  // the root's own deadline, and its reply
  TORC_RETURN_IF_ERROR(link.sendAll(&kBarrierMagic, sizeof(kBarrierMagic), d).withContext("bootstrap barrier"));
  uint32_t hdr[2];
  Status st = link.recvAll(hdr, sizeof(hdr), d);
  if (!st.isOk()) {
    if (st.code() == Code::kTimeout)
      return errorf(Code::kTimeout, "bootstrap barrier: rank %d: not every rank came within %.0f s (TORC_TIMEOUT)",
                    rank, timeoutSec);
    return st.withContext("bootstrap barrier: waiting for the root");
  }
  if (hdr[1] > 4096) return errorf(Code::kRemoteError, "bootstrap barrier: the root sent a %u-byte reply", hdr[1]);
  std::string why(hdr[1], '\0');
  TORC_RETURN_IF_ERROR(link.recvAll(why.data(), why.size(), d).withContext("bootstrap barrier"));
  if (hdr[0] != 0) return Status(why.find("did not reach") != std::string::npos ? Code::kTimeout : Code::kRemoteError,
                                 "bootstrap barrier: " + why);
  return Status::ok();
}

}  // namespace torc::core
