// Gloo (Debian's libgloo-dev, 0.5) as a perf backend: torc's other baseline, over Gloo's TCP
// transport on loopback. One program per collective (gloo_<coll>_bench); -A picks which of
// Gloo's algorithms runs the benchmarked collective (the driver exports it as TORC_ALGO):
//
//   allreduce      new (default: gloo::allreduce, segmented ring, what PyTorch calls),
//                  new_bcube (gloo::allreduce, bcube), ring (AllreduceRing: the whole buffer
//                  travels p-1 times), ring_chunked, halving_doubling, bcube (p even)
//   allgather      new (gloo::allgather), ring (AllgatherRing after a barrier: it writes into
//                  peers' outputs, possibly before they entered the call)
//   broadcast      new (gloo::broadcast, binomial tree), one_to_all (BroadcastOneToAll)
//   reduce         new (gloo::reduce: ring reduce-scatter, then gather to the root)
//   reducescatter  halving_doubling (ReduceScatterHalvingDoubling; Gloo has nothing else)
//
// The driver's own helper calls (combining times, counting errors, the rank list) use the
// default variant of their collective unless it is the one being benchmarked.
//
// Rendezvous: rank and size from TORC_RANK/TORC_NRANKS (torcrun) or OMPI_COMM_WORLD_RANK/SIZE
// (mpirun); the ranks meet in a gloo FileStore in $GLOO_STORE_DIR, by default a per-job
// directory /tmp/torc-gloo-<job> named after TORC_ROOT_ADDR or Open MPI's job id, removed once
// every rank is connected. The TCP device binds 127.0.0.1, or $GLOO_SOCKET_IFNAME when set.
// Every pair of ranks exchanges a few messages before the first measurement: a fresh Gloo TCP
// pair stalls for tens of milliseconds on its first large transfers.
//
// Semantics the driver expects and Gloo lacks are emulated inside the timed call, as for MPI:
// out-of-place all-reduce and broadcast with the in-place-only classic algorithms copy the
// input first; avg is sum then a division by nranks on the host; reduce-scatter's result is
// moved from the start of the buffer to this rank's block (in place) or copied out of a
// scratch copy of the input (out of place). Datatypes: every one but bfloat16, which Gloo
// cannot reduce (it is only moved, by all-gather and broadcast). Half is gloo::float16, but
// reduced by this backend's functions: Gloo 0.5's float16 assignment can skip stores and
// leave stale bits (see halfReduce in the .cc), which its own sum/min/max/product inherit.
// Errors: Gloo throws; every call catches and reports the exception text through error().
#pragma once

#include <functional>
#include <list>
#include <memory>
#include <string>

#include "perf/common/bench.h"

namespace gloo {
class Context;
}

namespace torc::perf {

class GlooBackend final : public Backend {
 public:
  // `benched` is the collective whose variant -A selects.
  explicit GlooBackend(Coll benched) : benched_(benched) {}
  ~GlooBackend() override;

  const char* name() const override { return name_.c_str(); }
  std::string version() const override;
  bool init() override;
  int rank() const override { return rank_; }
  int nranks() const override { return nranks_; }
  bool supports(Coll coll, DType t, RedOp op) const override;
  bool barrier() override;
  bool run(Coll coll, const void* send, void* recv, size_t count, DType t, RedOp op, int root) override;
  std::string error() const override { return error_; }
  void finalize() override;
  void abort() override;

 private:
  // What a cached operation is bound to. Pointers are part of the key because Gloo's
  // algorithm objects and unbound buffers are bound to memory.
  struct Key {
    Coll coll;
    DType type;
    RedOp op;
    int root;
    const void* send;
    void* recv;
    size_t count;
    bool operator==(const Key& o) const {
      return coll == o.coll && type == o.type && op == o.op && root == o.root && send == o.send && recv == o.recv &&
             count == o.count;
    }
  };
  struct Entry {
    Key key;
    std::function<void()> run;  // owns the bound Gloo objects and scratch
  };

  int algoFor(Coll coll) const;
  bool connect();
  void warmUpPairs();
  std::function<void()> build(const Key& key);

  Coll benched_;
  int variant_ = -1;  // index into the variant table, for benched_
  std::string name_ = "gloo";
  int rank_ = 0;
  int nranks_ = 1;
  std::shared_ptr<gloo::Context> context_;
  std::list<Entry> cache_;  // most recently used first
  std::string error_;
};

}  // namespace torc::perf
