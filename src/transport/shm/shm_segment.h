// POSIX shared memory between the ranks of one node, and futex waits on words inside it.
//
// One rank creates the segment under a name only the communicator knows (it carries the unique
// id's secret), the others open it once the creator is known to be done, and the creator unlinks
// the name as soon as everyone has mapped it, so nothing is left in /dev/shm even if a rank is
// killed later.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "src/base/status.h"

namespace torc::transport {

class ShmSegment {
 public:
  // Creates the named segment (it must not exist) of `bytes` bytes, zero-filled and pre-faulted.
  static Result<std::unique_ptr<ShmSegment>> create(const std::string& name, size_t bytes);
  // Maps all of an existing segment; fails if it is missing or smaller than `bytes`.
  static Result<std::unique_ptr<ShmSegment>> open(const std::string& name, size_t bytes);
  ~ShmSegment();
  ShmSegment(const ShmSegment&) = delete;
  ShmSegment& operator=(const ShmSegment&) = delete;

  // Removes the name (the mapping stays valid). Idempotent.
  void unlink();
  char* data() const { return static_cast<char*>(base_); }
  size_t size() const { return bytes_; }
  const std::string& name() const { return name_; }

 private:
  ShmSegment(std::string name, void* base, size_t bytes, bool linked)
      : name_(std::move(name)), base_(base), bytes_(bytes), linked_(linked) {}
  std::string name_;
  void* base_;
  size_t bytes_;
  bool linked_;
};

// Process-shared futex on a 32-bit word: sleep while *word == expected, for at most timeoutUs
// (spurious returns are allowed), and wake every sleeper.
void futexWait(std::atomic<uint32_t>* word, uint32_t expected, int timeoutUs);
void futexWakeAll(std::atomic<uint32_t>* word);

}  // namespace torc::transport
