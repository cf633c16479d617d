#include "src/transport/shm/shm_segment.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>

namespace torc::transport {
namespace {

Result<void*> mapFd(int fd, const std::string& name, size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  int err = errno;
  close(fd);
  if (p == MAP_FAILED) return sysError(err, "mmap of shared memory %s (%zu bytes)", name.c_str(), bytes);
  return p;
}

}  // namespace

Result<std::unique_ptr<ShmSegment>> ShmSegment::create(const std::string& name, size_t bytes) {
  int fd = shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return sysError(errno, "shm_open(%s, O_CREAT)", name.c_str());
  // Allocate every page now: a full /dev/shm is then an error code here, not a SIGBUS on the
  // first touch of a sparse page in the middle of a collective.
  int err = posix_fallocate(fd, 0, static_cast<off_t>(bytes));
  if (err != 0) {
    close(fd);
    shm_unlink(name.c_str());
    return sysError(err, "allocating %zu bytes of shared memory %s (is /dev/shm full?)", bytes, name.c_str());
  }
  Result<void*> p = mapFd(fd, name, bytes);
  if (!p.isOk()) {
    shm_unlink(name.c_str());
    return p.status();
  }
  return std::unique_ptr<ShmSegment>(new ShmSegment(name, p.value(), bytes, true));
}

Result<std::unique_ptr<ShmSegment>> ShmSegment::open(const std::string& name, size_t bytes) {
  int fd = shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return sysError(errno, "shm_open(%s)", name.c_str());
  struct stat st {};
  if (fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) < bytes) {
    close(fd);
    return errorf(Code::kSystemError, "shared memory %s is smaller than %zu bytes", name.c_str(), bytes);
  }
  bytes = static_cast<size_t>(st.st_size);
  TORC_ASSIGN_OR_RETURN(void* p, mapFd(fd, name, bytes));
  return std::unique_ptr<ShmSegment>(new ShmSegment(name, p, bytes, false));
}

ShmSegment::~ShmSegment() {
  unlink();
  munmap(base_, bytes_);
}

void ShmSegment::unlink() {
  if (linked_) shm_unlink(name_.c_str());
  linked_ = false;
}

void futexWait(std::atomic<uint32_t>* word, uint32_t expected, int timeoutUs) {
  static_assert(sizeof(std::atomic<uint32_t>) == 4 && std::atomic<uint32_t>::is_always_lock_free);
  timespec ts{timeoutUs / 1000000, static_cast<long>(timeoutUs % 1000000) * 1000};
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, expected, &ts, nullptr, 0);
}

void futexWakeAll(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace torc::transport
