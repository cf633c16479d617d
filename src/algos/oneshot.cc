#include "src/algos/oneshot.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <string>

#include "kernels/copy.h"
#include "src/algos/plan.h"
#include "src/transport/shm/shm_segment.h"

namespace torc::algos {
namespace {

constexpr uint64_t kMagic = 0x746f72632d317368ull;  // "torc-1sh"
constexpr size_t kLine = 64;
constexpr size_t kPage = 4096;

struct Header {
  uint64_t magic;
  uint64_t nranks;
  uint64_t maxBytes;
};

// One cache line per rank: its flag, and room for tiny contributions, so that a reader that
// sees the flag has the data in the same line.
constexpr size_t kInlineBytes = 24;
struct alignas(kLine) Flag {
  std::atomic<uint32_t> seq;       // phases this rank has posted (one per one-shot call, two per two-shot)
  std::atomic<uint32_t> sleepers;  // ranks asleep on seq's futex
  char inlined[2][kInlineBytes];   // contributions of up to kInlineBytes, by seq & 1
};
static_assert(sizeof(Flag) == kLine, "one flag per cache line");

size_t roundUp(size_t v, size_t to) { return (v + to - 1) / to * to; }
size_t dataOffset(int nranks) { return roundUp(kLine + static_cast<size_t>(nranks) * kLine, kPage); }
Flag* flags(char* base) { return reinterpret_cast<Flag*>(base + kLine); }
// seq has reached target, with wrap-around (calls are never 2^31 apart).
bool reached(uint32_t seq, uint32_t target) { return static_cast<int32_t>(seq - target) >= 0; }

}  // namespace

size_t OneShot::segmentBytes(int nranks, size_t maxBytes) {
  return dataOffset(nranks) + static_cast<size_t>(nranks) * 2 * roundUp(maxBytes, kPage);
}

void OneShot::format(char* base, int nranks, size_t maxBytes) {
  auto* h = reinterpret_cast<Header*>(base);
  h->nranks = static_cast<uint64_t>(nranks);
  h->maxBytes = maxBytes;
  std::atomic_thread_fence(std::memory_order_release);
  h->magic = kMagic;
}

Result<std::unique_ptr<OneShot>> OneShot::attach(char* base, size_t bytes, int rank, int nranks) {
  const auto* h = reinterpret_cast<const Header*>(base);
  if (bytes < dataOffset(nranks) || h->magic != kMagic || h->nranks != static_cast<uint64_t>(nranks) ||
      segmentBytes(nranks, h->maxBytes) > bytes)
    return errorf(Code::kInternalError, "shared-memory segment header does not match (%d ranks, %zu bytes)", nranks,
                  bytes);
  return std::unique_ptr<OneShot>(new OneShot(base, rank, nranks, h->maxBytes, roundUp(h->maxBytes, kPage)));
}

const char* OneShot::slot(int r, uint32_t seq, size_t bytes) const {
  if (bytes <= kInlineBytes) return flags(base_)[r].inlined[seq & 1];
  return base_ + dataOffset(nranks_) + (static_cast<size_t>(r) * 2 + (seq & 1)) * slotBytes_;
}

size_t OneShot::postedBytes(const CollArgs& a) {
  switch (a.coll) {
    case Coll::kAllReduce:
    case Coll::kAllGather:
    case Coll::kBroadcast:
    case Coll::kReduce: return a.count * a.elemSize;
    case Coll::kReduceScatter: return a.count * static_cast<size_t>(a.nranks) * a.elemSize;
    case Coll::kBarrier: return 0;
    case Coll::kSend:
    case Coll::kRecv:
    case Coll::kSendRecv: break;
  }
  return SIZE_MAX;
}

Status OneShot::waitForAll(uint32_t target, const ExecContext& ctx, double timeoutSec, const char* what) {
  Flag* f = flags(base_);
  using Clock = std::chrono::steady_clock;
  const auto spin = std::chrono::microseconds(ctx.spinUs);
  const auto yieldPhase = std::chrono::microseconds(ctx.yieldUs);
  const auto timeout = std::chrono::duration<double>(timeoutSec);
  Clock::time_point lastPeerCheck{};
  // Ranks are waited for in turn: once one has arrived it stays arrived. Any rank arriving is
  // progress: the clocks restart for the next one.
  for (int q = 0; q < nranks_; ++q) {
    std::atomic<uint32_t>& seq = f[q].seq;
    Clock::time_point start{};
    for (unsigned polls = 0; !reached(seq.load(std::memory_order_acquire), target); ++polls) {
      if (polls % 64 != 63) continue;
      const auto now = Clock::now();
      if (polls == 63) start = lastPeerCheck = now;
      const auto waited = now - start;
      if (waited < spin) continue;
      if (ctx.abortFlag != nullptr && ctx.abortFlag->load(std::memory_order_relaxed))
        return Status(Code::kInvalidUsage, std::string("the communicator was aborted during ") + what);
      if (now - lastPeerCheck >= std::chrono::milliseconds(1)) {
        lastPeerCheck = now;
        std::string why = ctx.peerFailure ? ctx.peerFailure(q) : std::string();
        // It may have posted just before exiting.
        if (!why.empty() && !reached(seq.load(std::memory_order_acquire), target))
          return Status(Code::kRemoteError, "rank " + std::to_string(q) + " failed (" + why + ") during " + what);
      }
      if (waited > timeout)
        return Status(Code::kTimeout, std::string("no progress in ") + what + " for " +
                                          std::to_string(static_cast<int>(timeoutSec)) +
                                          " s (TORC_TIMEOUT), waiting for rank " + std::to_string(q));
      if (waited < yieldPhase) {
        sched_yield();
        continue;
      }
      // Announce the sleep before the last look (the poster stores its flag, then reads
      // sleepers: one of the two sees the other), and sleep at most a millisecond at a time.
      f[q].sleepers.fetch_add(1, std::memory_order_seq_cst);
      uint32_t now32 = seq.load(std::memory_order_seq_cst);
      if (!reached(now32, target)) transport::futexWait(&seq, now32, 1000);
      f[q].sleepers.fetch_sub(1, std::memory_order_seq_cst);
    }
  }
  return Status::ok();
}

Status OneShot::postAndWait(const ExecContext& ctx, double timeoutSec, const char* what) {
  const uint32_t phase = ++phases_;
  Flag& f = flags(base_)[rank_];
  f.seq.store(phase, std::memory_order_seq_cst);
  if (f.sleepers.load(std::memory_order_seq_cst) != 0) transport::futexWakeAll(&f.seq);
  return waitForAll(phase, ctx, timeoutSec, what);
}

Status OneShot::run(const CollArgs& a, const void* input, void* output, kernels::DType dtype, kernels::RedOp op,
                    bool twoShot, const ExecContext& ctx, double timeoutSec) {
  if (!twoShot || a.coll != Coll::kAllReduce) return runRound(a, input, output, dtype, op, false, false, ctx, timeoutSec);
  // Two-shot in rounds of a slot: a round's slots are still in cache when the peers read them,
  // so memory sees each input read once and each output written once. Every element is reduced
  // in rank order whatever the rounds, so the bits are those of a single round. Large
  // out-of-place results leave the cache anyway: they are written with non-temporal stores.
  const size_t per = std::max<size_t>(1, maxBytes_ / a.elemSize);
  const bool streaming = input != output && a.count * a.elemSize >= a.stagedMinBytes;
  for (size_t off = 0; off < a.count || off == 0; off += per) {
    CollArgs round = a;
    round.count = std::min(per, a.count - off);
    const size_t b = off * a.elemSize;
    TORC_RETURN_IF_ERROR(runRound(round, static_cast<const char*>(input) + b, static_cast<char*>(output) + b, dtype,
                                  op, true, streaming, ctx, timeoutSec));
  }
  return Status::ok();
}

Status OneShot::runRound(const CollArgs& a, const void* input, void* output, kernels::DType dtype, kernels::RedOp op,
                         bool twoShot, bool streaming, const ExecContext& ctx, double timeoutSec) {
  const size_t es = a.elemSize, n = a.count, bytes = n * es;
  auto copyOut = [streaming](char* dst, const char* src, size_t len) {
    if (streaming)
      kernels::copyStreaming(dst, src, len);
    else
      memcpy(dst, src, len);
  };
  const int p = nranks_, r = rank_;
  if (postedBytes(a) > maxBytes_)
    return errorf(Code::kInternalError, "one-shot %s of %zu bytes does not fit a %zu-byte slot", collName(a.coll),
                  postedBytes(a), maxBytes_);
  const uint32_t seq = calls_++;
  const size_t posted = postedBytes(a);
  char* mine = const_cast<char*>(slot(r, seq, posted));
  const bool posts = a.coll != Coll::kBarrier && (a.coll != Coll::kBroadcast || r == a.root);
  // Two-shot: no rank reads slice r of r's slot before r has reduced it there, so r posts only
  // the other slices and reduces its own from its input.
  const Range mineR = twoShot ? evenSplit(n, p, r) : Range{0, 0};
  if (posts && mineR.len == 0) {
    memcpy(mine, input, posted);
  } else if (posts) {
    memcpy(mine, input, mineR.off * es);
    const size_t end = (mineR.off + mineR.len) * es;
    memcpy(mine + end, static_cast<const char*>(input) + end, bytes - end);
  }
  TORC_RETURN_IF_ERROR(postAndWait(ctx, timeoutSec, collName(a.coll)));

  char* out = static_cast<char*>(output);
  if (twoShot) {
    // Rank r reduces its slice (in rank order) into its own slot and its output, and everyone
    // gathers the slices once all are there.
    if (mineR.len > 0) {
      const size_t off = mineR.off * es;
      auto src = [&](int q) { return q == r ? static_cast<const char*>(input) + off : slot(q, seq, posted) + off; };
      // Accumulated in the slot: in place, out is the input that src(r) still has to read.
      char* acc = mine + off;
      kernels::reduce(dtype, op, acc, src(0), src(1), mineR.len);
      for (int q = 2; q < p; ++q) kernels::reduce(dtype, op, acc, acc, src(q), mineR.len);
      if (op == kernels::RedOp::kAvg) kernels::finalizeAvg(dtype, acc, mineR.len, p);
      copyOut(out + off, acc, mineR.len * es);
    }
    TORC_RETURN_IF_ERROR(postAndWait(ctx, timeoutSec, collName(a.coll)));
    for (int q = 0; q < p; ++q) {
      if (q == r) continue;
      const Range s = evenSplit(n, p, q);
      copyOut(out + s.off * es, slot(q, seq, posted) + s.off * es, s.len * es);
    }
    return Status::ok();
  }
  // Reduces element range [off, off + len) of every rank's slot into dst, in rank order.
  auto reduceAll = [&](char* dst, size_t off, size_t len) {
    if (len == 0) return;
    kernels::reduce(dtype, op, dst, slot(0, seq, posted) + off * es, slot(1, seq, posted) + off * es, len);
    for (int q = 2; q < p; ++q) kernels::reduce(dtype, op, dst, dst, slot(q, seq, posted) + off * es, len);
    if (op == kernels::RedOp::kAvg) kernels::finalizeAvg(dtype, dst, len, p);
  };
  switch (a.coll) {
    case Coll::kAllReduce: reduceAll(out, 0, n); break;
    case Coll::kReduce:
      if (r == a.root) reduceAll(out, 0, n);
      break;
    case Coll::kReduceScatter: reduceAll(out, static_cast<size_t>(r) * n, n); break;
    case Coll::kAllGather:
      for (int q = 0; q < p; ++q) memcpy(out + static_cast<size_t>(q) * bytes, slot(q, seq, posted), bytes);
      break;
    case Coll::kBroadcast:
      if (out != input || r != a.root) memcpy(out, slot(a.root, seq, posted), bytes);
      break;
    default: break;
  }
  return Status::ok();
}

}  // namespace torc::algos
