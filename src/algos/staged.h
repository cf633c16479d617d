// Staged all-reduce for ranks of one node that share a memory segment and can read each other's
// memory (cross-memory attach): the bandwidth path, built so that memory carries the minimum.
//
// Rank r owns slice r (evenSplit). For each chunk of it, r reads the peers' input chunks
// through the kernel into a small cache-resident bounce buffer, reduces them (in the order r,
// r+1, ..., r-1) into a staging slot in the shared segment and announces it. Every rank copies
// every announced chunk from the staging slots into its own output with non-temporal stores
// and announces that too; a producer reuses a slot once everyone has copied it out.
// Each input is thus read from memory once and each output written once, without the read
// for ownership that a copy into another process's buffer (process_vm_writev) costs; the
// staging slots stay in cache. Same bits everywhere: each element is reduced once, by its owner.
//
// A call returns once this rank has copied out every chunk: by then every producer has read
// everything it needed from this rank's input (it reads before it announces), so no other rank
// touches this rank's buffers after the call. In place is safe for the same reason.
// Counters are global across calls (every rank knows how many chunks every rank produced in
// every call), so slots need no reset between calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/reduce.h"
#include "src/algos/executor.h"
#include "src/base/status.h"
#include "src/transport/transport.h"

namespace torc::algos {

class StagedAllReduce {
 public:
  static size_t regionBytes(int nranks, size_t chunkBytes, int slots);
  // Writes the header into a zero-filled region (by the rank that created the segment).
  static void format(char* base, int nranks, size_t chunkBytes, int slots);
  // Uses a formatted region; `access` reads peers' memory.
  static Result<std::unique_ptr<StagedAllReduce>> attach(char* base, size_t bytes, int rank, int nranks,
                                                         transport::DirectAccess* access);

  size_t chunkBytes() const { return chunkBytes_; }
  // bounce: at least chunkBytes() of this rank's own memory. Out-of-place results of at least
  // streamingMinBytes are written with non-temporal stores.
  Status run(const void* input, void* output, size_t count, kernels::DType dtype, kernels::RedOp op, void* bounce,
             size_t streamingMinBytes, const ExecContext& ctx, double timeoutSec);

 private:
  StagedAllReduce(char* base, int rank, int nranks, size_t chunkBytes, int slots, transport::DirectAccess* access);
  struct Call;
  bool step(Call* c, Status* st);
  void notify(int rank);
  void notifyAll();

  char* base_;
  int rank_;
  int nranks_;
  size_t chunkBytes_;
  int slots_;
  transport::DirectAccess* access_;
  uint32_t calls_ = 0;
  std::vector<uint32_t> produced_;  // chunks each rank produced in earlier calls (same on every rank)
};

}  // namespace torc::algos
