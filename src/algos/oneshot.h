// One-shot collectives through a shared-memory segment, for small messages between the ranks of
// one node: latency there is the cost of handing over a cache line, not of a transport.
//
// Every rank owns a mailbox: a flag word and two data slots (tiny contributions ride in the
// flag's cache line). A call copies this rank's contribution into slot (call & 1), raises its
// flag, waits until every rank's flag is as high, and computes its result straight from the
// mailboxes (reductions in rank order 0, 1, ..., p - 1, so every rank gets the same bits). Two
// slots suffice: a rank writes slot (c & 1) in call c only after seeing every flag raised in
// call c - 1, and each rank raised it after it had finished reading call c - 2 from the slots.
// Medium all-reduces go two-shot: the same, plus a second flag after each rank has reduced its
// own slice back into its slot.
//
// Waiting spins for ExecContext::spinUs, then yields the core, then sleeps on the flag's futex
// (the poster wakes sleepers), checking the abort flag, dead peers and TORC_TIMEOUT.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "kernels/reduce.h"
#include "src/algos/algorithm.h"
#include "src/algos/executor.h"
#include "src/base/status.h"

namespace torc::algos {

class OneShot {
 public:
  // Size of a segment for nranks mailboxes whose slots hold maxBytes.
  static size_t segmentBytes(int nranks, size_t maxBytes);
  // Writes the header into a zero-filled segment of segmentBytes(nranks, maxBytes) (by the one
  // rank that created it).
  static void format(char* base, int nranks, size_t maxBytes);
  // Uses a formatted segment; fails if its header disagrees with nranks or its size.
  static Result<std::unique_ptr<OneShot>> attach(char* base, size_t bytes, int rank, int nranks);

  // Largest contribution per rank (what the creator asked for; slots are page-rounded).
  size_t maxBytes() const { return maxBytes_; }
  // Bytes each rank puts in its slot for this collective.
  static size_t postedBytes(const CollArgs& a);
  // Runs all-reduce, all-gather, reduce-scatter, broadcast, reduce or barrier (a.coll) on this
  // rank; postedBytes(a) must fit a slot. twoShot (all-reduce only): each rank reduces only its
  // slice and the slices are gathered after a second flag, which reads 3 buffers' worth per
  // rank instead of p (the same bits as one-shot: every element is reduced in rank order); an
  // all-reduce of any size, in rounds of a slot.
  Status run(const CollArgs& a, const void* input, void* output, kernels::DType dtype, kernels::RedOp op,
             bool twoShot, const ExecContext& ctx, double timeoutSec);

 private:
  OneShot(char* base, int rank, int nranks, size_t maxBytes, size_t slotBytes)
      : base_(base), rank_(rank), nranks_(nranks), maxBytes_(maxBytes), slotBytes_(slotBytes) {}
  // Raises this rank's flag one phase and waits for every rank to reach that phase.
  Status postAndWait(const ExecContext& ctx, double timeoutSec, const char* what);
  // One round: the whole of a (which fits a slot); streaming writes the output with
  // non-temporal stores (two-shot only).
  Status runRound(const CollArgs& a, const void* input, void* output, kernels::DType dtype, kernels::RedOp op,
                  bool twoShot, bool streaming, const ExecContext& ctx, double timeoutSec);
  Status waitForAll(uint32_t target, const ExecContext& ctx, double timeoutSec, const char* what);
  // Where rank r's contribution of `bytes` to call seq lives.
  const char* slot(int r, uint32_t seq, size_t bytes) const;

  char* base_;
  int rank_;
  int nranks_;
  size_t maxBytes_;
  size_t slotBytes_;
  uint32_t calls_ = 0;   // calls so far (slot parity); the same on every rank
  uint32_t phases_ = 0;  // flag raises so far; the same on every rank
};

}  // namespace torc::algos
