#include "src/algos/staged.h"

#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>

#include "kernels/copy.h"
#include "src/algos/plan.h"
#include "src/transport/shm/shm_segment.h"

namespace torc::algos {
namespace {

constexpr uint64_t kMagic = 0x746f72632d737467ull;  // "torc-stg"
constexpr size_t kLine = 64;
constexpr size_t kPage = 4096;

struct Header {
  uint64_t magic;
  uint64_t nranks;
  uint64_t chunkBytes;
  uint64_t slots;
};

// Per rank, each on its own cache line: the buffers of its current call, the chunks it has
// produced (all calls), and the futex it sleeps on.
struct alignas(kLine) Post {
  std::atomic<uint32_t> seq;  // calls posted
  std::atomic<uint64_t> input;
  std::atomic<uint64_t> output;
};
struct alignas(kLine) Counter {
  std::atomic<uint32_t> value;
};
struct alignas(kLine) Bell {
  std::atomic<uint32_t> ring;
  std::atomic<uint32_t> sleeping;
};
struct RankCtl {
  Post post;
  Counter produced;
  Bell bell;
};

size_t roundUp(size_t v, size_t to) { return (v + to - 1) / to * to; }
bool reached(uint32_t v, uint32_t target) { return static_cast<int32_t>(v - target) >= 0; }

struct Layout {
  size_t ctl, consumed, row, staging;
  Layout(int p) {
    ctl = kLine;
    consumed = ctl + static_cast<size_t>(p) * sizeof(RankCtl);
    row = roundUp(static_cast<size_t>(p) * 4, kLine);
    staging = roundUp(consumed + static_cast<size_t>(p) * row, kPage);
  }
};

}  // namespace

struct StagedAllReduce::Call {
  const char* in;
  char* out;
  size_t es;
  size_t celems;
  kernels::DType dtype;
  kernels::RedOp op;
  char* bounce;
  uint32_t seq;
  bool streaming;  // copy out with non-temporal stores
  std::vector<Range> slice;
  std::vector<uint32_t> need, got;
  uint32_t made = 0;  // chunks of slice[rank] produced in this call
  std::vector<uint64_t> peerInput;
  int known = 0;  // peers whose input address is in peerInput
};

namespace {
// Rank q's control lines, and how many of rank s's chunks rank q has copied out.
RankCtl& ctlOf(char* base, const Layout& lay, int q) { return reinterpret_cast<RankCtl*>(base + lay.ctl)[q]; }
std::atomic<uint32_t>& consumedOf(char* base, const Layout& lay, int q, int s) {
  return reinterpret_cast<std::atomic<uint32_t>*>(base + lay.consumed + static_cast<size_t>(q) * lay.row)[s];
}
}  // namespace

#define CTL(q) ctlOf(base_, Layout(nranks_), q)
#define CONSUMED(q, s) consumedOf(base_, Layout(nranks_), q, s)

size_t StagedAllReduce::regionBytes(int nranks, size_t chunkBytes, int slots) {
  return Layout(nranks).staging + static_cast<size_t>(nranks) * static_cast<size_t>(slots) * roundUp(chunkBytes, kPage);
}

void StagedAllReduce::format(char* base, int nranks, size_t chunkBytes, int slots) {
  auto* h = reinterpret_cast<Header*>(base);
  h->nranks = static_cast<uint64_t>(nranks);
  h->chunkBytes = roundUp(chunkBytes, kPage);
  h->slots = static_cast<uint64_t>(slots);
  std::atomic_thread_fence(std::memory_order_release);
  h->magic = kMagic;
}

Result<std::unique_ptr<StagedAllReduce>> StagedAllReduce::attach(char* base, size_t bytes, int rank, int nranks,
                                                                 transport::DirectAccess* access) {
  const auto* h = reinterpret_cast<const Header*>(base);
  if (bytes < Layout(nranks).staging || h->magic != kMagic || h->nranks != static_cast<uint64_t>(nranks) ||
      h->slots < 1 || h->chunkBytes < kPage ||
      regionBytes(nranks, h->chunkBytes, static_cast<int>(h->slots)) > bytes || access == nullptr)
    return errorf(Code::kInternalError, "staged all-reduce region does not match (%d ranks, %zu bytes)", nranks, bytes);
  return std::unique_ptr<StagedAllReduce>(
      new StagedAllReduce(base, rank, nranks, h->chunkBytes, static_cast<int>(h->slots), access));
}

StagedAllReduce::StagedAllReduce(char* base, int rank, int nranks, size_t chunkBytes, int slots,
                                 transport::DirectAccess* access)
    : base_(base), rank_(rank), nranks_(nranks), chunkBytes_(chunkBytes), slots_(slots), access_(access),
      produced_(static_cast<size_t>(nranks), 0) {}

void StagedAllReduce::notify(int q) {
  Bell& b = CTL(q).bell;
  if (b.sleeping.load(std::memory_order_seq_cst) != 0) {
    b.ring.fetch_add(1, std::memory_order_seq_cst);
    transport::futexWakeAll(&b.ring);
  }
}

void StagedAllReduce::notifyAll() {
  for (int q = 0; q < nranks_; ++q)
    if (q != rank_) notify(q);
}

// One pass: produce the next chunk if its slot is free, then copy out whatever is ready.
// Returns whether anything moved.
bool StagedAllReduce::step(Call* c, Status* st) {
  const Layout lay(nranks_);  // a few additions; kept out of the header
  const int p = nranks_, r = rank_;
  bool moved = false;
  const size_t slotBytes = chunkBytes_;
  auto staging = [&](int q, uint32_t g) {
    return base_ + lay.staging + (static_cast<size_t>(q) * slots_ + g % static_cast<uint32_t>(slots_)) * slotBytes;
  };
  if (c->made < c->need[static_cast<size_t>(r)]) {
    const uint32_t g = produced_[static_cast<size_t>(r)] + c->made;
    bool ready = true;
    for (int q = 0; q < p && ready; ++q)
      ready = reached(CONSUMED(q, r).load(std::memory_order_acquire), g + 1 - static_cast<uint32_t>(slots_));
    for (int q = 0; q < p && ready && c->known < p - 1; ++q) {
      if (q == r || c->peerInput[static_cast<size_t>(q)] != 0) continue;
      Post& post = CTL(q).post;
      if (!reached(post.seq.load(std::memory_order_acquire), c->seq)) {
        ready = false;
        break;
      }
      c->peerInput[static_cast<size_t>(q)] = post.input.load(std::memory_order_relaxed);
      ++c->known;
    }
    if (ready) {
      const Range ch = chunkOf(c->slice[static_cast<size_t>(r)], c->celems, c->made);
      char* dst = staging(r, g);
      const size_t bytes = ch.len * c->es;
      for (int d = 1; d < p; ++d) {
        const int q = (r + d) % p;
        *st = access_->read(q, c->bounce, c->peerInput[static_cast<size_t>(q)] + ch.off * c->es, bytes);
        if (!st->isOk()) return false;
        kernels::reduce(c->dtype, c->op, dst, d == 1 ? c->in + ch.off * c->es : dst, c->bounce, ch.len);
      }
      if (c->op == kernels::RedOp::kAvg) kernels::finalizeAvg(c->dtype, dst, ch.len, p);
      CTL(r).produced.value.store(g + 1, std::memory_order_seq_cst);
      notifyAll();
      ++c->made;
      moved = true;
    }
  }
  for (int i = 0; i < p; ++i) {
    const int s = (r + i) % p;
    const size_t si = static_cast<size_t>(s);
    while (c->got[si] < c->need[si]) {
      const uint32_t g = produced_[si] + c->got[si];
      if (!reached(CTL(s).produced.value.load(std::memory_order_acquire), g + 1)) break;
      const Range ch = chunkOf(c->slice[si], c->celems, c->got[si]);
      if (c->streaming)
        kernels::copyStreaming(c->out + ch.off * c->es, staging(s, g), ch.len * c->es);
      else
        memcpy(c->out + ch.off * c->es, staging(s, g), ch.len * c->es);
      CONSUMED(r, s).store(g + 1, std::memory_order_seq_cst);
      if (s != r) notify(s);
      ++c->got[si];
      moved = true;
    }
  }
  return moved;
}

Status StagedAllReduce::run(const void* input, void* output, size_t count, kernels::DType dtype, kernels::RedOp op,
                            void* bounce, size_t streamingMinBytes, const ExecContext& ctx, double timeoutSec) {
  const int p = nranks_, r = rank_;
  Call c;
  c.in = static_cast<const char*>(input);
  c.out = static_cast<char*>(output);
  c.es = kernels::dtypeSize(dtype);
  c.celems = std::max<size_t>(1, chunkBytes_ / c.es);
  c.dtype = dtype;
  c.op = op;
  c.bounce = static_cast<char*>(bounce);
  c.seq = ++calls_;
  // In place, the output lines are the input lines, which the owners just read: already cached.
  c.streaming = input != output && count * c.es >= streamingMinBytes;
  c.peerInput.assign(static_cast<size_t>(p), 0);
  for (int s = 0; s < p; ++s) {
    c.slice.push_back(evenSplit(count, p, s));
    c.need.push_back(static_cast<uint32_t>(numChunks(c.slice.back().len, c.celems)));
  }
  c.got.assign(static_cast<size_t>(p), 0);

  Post& mine = CTL(r).post;
  mine.input.store(reinterpret_cast<uint64_t>(input), std::memory_order_relaxed);
  mine.output.store(reinterpret_cast<uint64_t>(output), std::memory_order_relaxed);
  mine.seq.store(c.seq, std::memory_order_seq_cst);
  notifyAll();

  using Clock = std::chrono::steady_clock;
  const auto spin = std::chrono::microseconds(ctx.spinUs);
  const auto yieldPhase = std::chrono::microseconds(ctx.yieldUs);
  const auto timeout = std::chrono::duration<double>(timeoutSec);
  auto lastMove = Clock::now();
  auto lastPeerCheck = lastMove;
  Bell& bell = CTL(r).bell;
  Status st;
  auto done = [&] {
    if (c.made < c.need[static_cast<size_t>(r)]) return false;
    for (int s = 0; s < p; ++s)
      if (c.got[static_cast<size_t>(s)] < c.need[static_cast<size_t>(s)]) return false;
    return true;
  };
  for (unsigned polls = 0; !done(); ++polls) {
    if (step(&c, &st)) {
      lastMove = Clock::now();
      continue;
    }
    if (!st.isOk()) return st;
    if (polls % 16 != 15) continue;
    const auto now = Clock::now();
    const auto idle = now - lastMove;
    if (idle < spin) continue;
    if (ctx.abortFlag != nullptr && ctx.abortFlag->load(std::memory_order_relaxed))
      return Status(Code::kInvalidUsage, "the communicator was aborted during allreduce");
    // The ranks this one waits for: producers of chunks it has not copied, consumers of its
    // staging slots, peers that have not posted their buffers.
    if (now - lastPeerCheck >= std::chrono::milliseconds(1) || idle > timeout) {
      lastPeerCheck = now;
      for (int q = 0; q < p; ++q) {
        if (q == r) continue;
        const size_t qi = static_cast<size_t>(q);
        bool waitingOn = c.got[qi] < c.need[qi] || !reached(CTL(q).post.seq.load(), c.seq) ||
                         (c.made < c.need[static_cast<size_t>(r)] &&
                          !reached(CONSUMED(q, r).load(), produced_[static_cast<size_t>(r)] + c.made + 1 -
                                                              static_cast<uint32_t>(slots_)));
        if (!waitingOn) continue;
        if (idle > timeout)
          return Status(Code::kTimeout, "no progress in allreduce for " + std::to_string(static_cast<int>(timeoutSec)) +
                                            " s (TORC_TIMEOUT), waiting for rank " + std::to_string(q));
        std::string why = ctx.peerFailure ? ctx.peerFailure(q) : std::string();
        if (!why.empty()) return Status(Code::kRemoteError, "rank " + std::to_string(q) + " failed (" + why + ") during allreduce");
      }
    }
    if (idle < yieldPhase) {
      sched_yield();
      continue;
    }
    // Sleep until a peer rings (it reads `sleeping` after publishing what it did), at most 1 ms.
    bell.sleeping.store(1, std::memory_order_seq_cst);
    uint32_t rung = bell.ring.load(std::memory_order_seq_cst);
    bool moved = step(&c, &st);
    if (!moved && st.isOk()) transport::futexWait(&bell.ring, rung, 1000);
    bell.sleeping.store(0, std::memory_order_relaxed);
    if (!st.isOk()) return st;
    if (moved) lastMove = Clock::now();
  }
  for (int s = 0; s < p; ++s) produced_[static_cast<size_t>(s)] += c.need[static_cast<size_t>(s)];
  return Status::ok();
}

}  // namespace torc::algos
