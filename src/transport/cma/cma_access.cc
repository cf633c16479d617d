#include "src/transport/cma/cma_access.h"

#include <sys/uio.h>

#include <cerrno>
#include <cstring>

namespace torc::transport {
namespace {

class CmaAccess : public DirectAccess {
 public:
  explicit CmaAccess(std::vector<int> pids) : pids_(std::move(pids)) {}

  Status read(int peer, void* local, uint64_t remote, size_t len) override {
    return copy(peer, local, remote, len, false);
  }
  Status write(int peer, const void* local, uint64_t remote, size_t len) override {
    return copy(peer, const_cast<void*>(local), remote, len, true);
  }

 private:
  Status copy(int peer, void* local, uint64_t remote, size_t len, bool toPeer) {
    const int pid = pids_[static_cast<size_t>(peer)];
    while (len > 0) {
      iovec l{local, len};
      iovec r{reinterpret_cast<void*>(remote), len};
      ssize_t n = toPeer ? process_vm_writev(pid, &l, 1, &r, 1, 0) : process_vm_readv(pid, &l, 1, &r, 1, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errorf(errno == ESRCH ? Code::kRemoteError : Code::kSystemError, "%s rank %d (pid %d): %s",
                      toPeer ? "writing to" : "reading from", peer, pid, strerror(errno));
      }
      if (n == 0) return errorf(Code::kRemoteError, "rank %d (pid %d): no progress copying", peer, pid);
      local = static_cast<char*>(local) + n;
      remote += static_cast<uint64_t>(n);
      len -= static_cast<size_t>(n);
    }
    return Status::ok();
  }

  std::vector<int> pids_;
};

}  // namespace

std::unique_ptr<DirectAccess> createCmaAccess(std::vector<int> pids) {
  return std::make_unique<CmaAccess>(std::move(pids));
}

bool cmaProbe(int pid, uint64_t remote, const void* expect, size_t len) {
  std::vector<char> buf(len);
  iovec l{buf.data(), len};
  iovec r{reinterpret_cast<void*>(remote), len};
  return process_vm_readv(pid, &l, 1, &r, 1, 0) == static_cast<ssize_t>(len) && memcmp(buf.data(), expect, len) == 0;
}

}  // namespace torc::transport
