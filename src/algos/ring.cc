// Ring reduce-scatter, all-gather and all-reduce, pipelined in chunks.
//
// Ranks form the ring r -> r+1. Segment i of the buffer is evenSplit(count, p, i).
// All-reduce on rank r:
//   1. reduce-scatter, p-1 steps: at step s send segment r-s (the input at s = 0, then the
//      partial sum received at step s-1) to r+1; receive segment r-s-1 from r-1 into scratch
//      and reduce it with the input into the output. Rank r ends owning segment r+1, fully
//      reduced (and divided by p for avg).
//   2. all-gather, p-1 steps: at step s send segment r+1-s, receive segment r-s into the output.
// Each segment is cut into chunks; the plan lists chunk 0 through every step, then chunk 1,
// ..., so that the reduce of one chunk overlaps the transfer of the next. A receive into scratch
// waits for its slot to be free; a receive into the output waits for the send that read the same
// memory (this is what makes in-place correct).
// Every rank ends with the same bits: each segment is reduced once, by one chain of ranks, and
// then copied.
#include <algorithm>

#include "src/algos/algorithm.h"
#include "src/algos/plan_builder.h"

namespace torc::algos {
namespace {
constexpr uint32_t kNone = Plan::kNone;
}  // namespace

size_t chunkElems(const CollArgs& a) { return std::max<size_t>(1, a.chunkBytes / a.elemSize); }

Plan ringAllReduce(const CollArgs& a) {
  const int p = a.nranks, r = a.rank;
  if (p == 1) return localCopy("allreduce ring", a.count, true);
  Plan plan;
  plan.name = "allreduce ring";
  plan.inputElems = plan.outputElems = a.count;
  if (a.count == 0) return plan;
  const size_t C = chunkElems(a);
  const int next = mod(r + 1, p), prev = mod(r - 1, p);
  auto seg = [&](int i) { return evenSplit(a.count, p, mod(i, p)); };
  SlotPool slots(&plan, a.scratchSlots, C);
  const size_t maxChunks = numChunks(seg(0).len, C);  // segment 0 is never shorter than the others
  std::vector<uint32_t> ready(static_cast<size_t>(p));  // per segment: last step that wrote output chunk j
  std::vector<uint32_t> sent(static_cast<size_t>(p));   // per segment: the reduce-scatter send of chunk j
  const int own = mod(r + 1, p);

  for (size_t j = 0; j < maxChunks; ++j) {
    std::fill(ready.begin(), ready.end(), kNone);
    std::fill(sent.begin(), sent.end(), kNone);
    for (int s = 0; s + 1 < p; ++s) {
      int sendSeg = mod(r - s, p), recvSeg = mod(r - s - 1, p);
      Range rs = seg(sendSeg), rr = seg(recvSeg);
      if (j < numChunks(rs.len, C)) {
        Range c = chunkOf(rs, C, j);
        Step st = makeStep(OpKind::kSend, next, c.len);
        st.src = Ref{s == 0 ? BufId::kInput : BufId::kOutput, c.off};
        sent[static_cast<size_t>(sendSeg)] = plan.add(st, {ready[static_cast<size_t>(sendSeg)]});
      }
      if (j < numChunks(rr.len, C)) {
        Range c = chunkOf(rr, C, j);
        uint32_t wait;
        size_t slot = slots.acquire(&wait);
        Step st = makeStep(OpKind::kRecvReduce, prev, c.len);
        st.src = slots.ref(slot);
        st.a = Ref{BufId::kInput, c.off};
        st.dst = Ref{BufId::kOutput, c.off};
        uint32_t idx = plan.add(st, {wait});
        slots.release(slot, idx);
        ready[static_cast<size_t>(recvSeg)] = idx;
      }
    }
    Range ro = seg(own);
    if (j < numChunks(ro.len, C)) {
      Range c = chunkOf(ro, C, j);
      Step f = makeStep(OpKind::kFinalize, -1, c.len);
      f.dst = Ref{BufId::kOutput, c.off};
      ready[static_cast<size_t>(own)] = plan.add(f, {ready[static_cast<size_t>(own)]});
    }
    for (int s = 0; s + 1 < p; ++s) {
      int sendSeg = mod(r + 1 - s, p), recvSeg = mod(r - s, p);
      Range rs = seg(sendSeg), rr = seg(recvSeg);
      if (j < numChunks(rs.len, C)) {
        Range c = chunkOf(rs, C, j);
        Step st = makeStep(OpKind::kSend, next, c.len);
        st.src = Ref{BufId::kOutput, c.off};
        plan.add(st, {ready[static_cast<size_t>(sendSeg)]});
      }
      if (j < numChunks(rr.len, C)) {
        Range c = chunkOf(rr, C, j);
        Step st = makeStep(OpKind::kRecv, prev, c.len);
        st.dst = Ref{BufId::kOutput, c.off};
        ready[static_cast<size_t>(recvSeg)] = plan.add(st, {sent[static_cast<size_t>(recvSeg)]});
      }
    }
  }
  plan.finalize();
  return plan;
}

Plan ringAllGather(const CollArgs& a) {
  const int p = a.nranks, r = a.rank;
  Plan plan;
  plan.name = "allgather ring";
  plan.inputElems = a.count;
  plan.outputElems = a.count * static_cast<size_t>(p);
  if (a.count == 0) return plan;
  Step copy = makeStep(OpKind::kCopy, -1, a.count);
  copy.src = Ref{BufId::kInput, 0};
  copy.dst = Ref{BufId::kOutput, static_cast<size_t>(r) * a.count};
  plan.add(copy);
  const size_t C = chunkElems(a);
  const int next = mod(r + 1, p), prev = mod(r - 1, p);
  for (size_t j = 0; j < numChunks(a.count, C); ++j) {
    Range c = chunkOf(Range{0, a.count}, C, j);
    uint32_t lastRecv = kNone;
    for (int s = 0; s + 1 < p; ++s) {
      Step st = makeStep(OpKind::kSend, next, c.len);
      st.src = s == 0 ? Ref{BufId::kInput, c.off}
                      : Ref{BufId::kOutput, static_cast<size_t>(mod(r - s, p)) * a.count + c.off};
      plan.add(st, {lastRecv});
      Step rv = makeStep(OpKind::kRecv, prev, c.len);
      rv.dst = Ref{BufId::kOutput, static_cast<size_t>(mod(r - s - 1, p)) * a.count + c.off};
      lastRecv = plan.add(rv);
    }
  }
  plan.finalize();
  return plan;
}

Plan ringReduceScatter(const CollArgs& a) {
  const int p = a.nranks, r = a.rank;
  if (p == 1) return localCopy("reducescatter ring", a.count, true);
  Plan plan;
  plan.name = "reducescatter ring";
  plan.inputElems = a.count * static_cast<size_t>(p);
  plan.outputElems = a.count;
  if (a.count == 0) return plan;
  const size_t C = chunkElems(a);
  const int next = mod(r + 1, p), prev = mod(r - 1, p);
  SlotPool slots(&plan, a.scratchSlots, C);
  for (size_t j = 0; j < numChunks(a.count, C); ++j) {
    Range c = chunkOf(Range{0, a.count}, C, j);
    size_t heldSlot = 0;
    uint32_t held = kNone;  // the receive whose slot holds the partial sum to send next
    for (int s = 0; s + 1 < p; ++s) {
      Step st = makeStep(OpKind::kSend, next, c.len);
      if (s == 0) {
        st.src = Ref{BufId::kInput, static_cast<size_t>(mod(r - 1, p)) * a.count + c.off};
        plan.add(st);
      } else {
        st.src = slots.ref(heldSlot);
        slots.release(heldSlot, plan.add(st, {held}));
      }
      int recvSeg = mod(r - s - 2, p);
      uint32_t wait;
      size_t slot = slots.acquire(&wait);
      Step rv = makeStep(OpKind::kRecvReduce, prev, c.len);
      rv.src = slots.ref(slot);
      rv.a = Ref{BufId::kInput, static_cast<size_t>(recvSeg) * a.count + c.off};
      bool last = s + 2 == p;
      rv.dst = last ? Ref{BufId::kOutput, c.off} : rv.src;
      held = plan.add(rv, {wait});
      heldSlot = slot;
      if (last) {
        slots.release(slot, held);
        Step f = makeStep(OpKind::kFinalize, -1, c.len);
        f.dst = rv.dst;
        plan.add(f, {held});
      }
    }
  }
  plan.finalize();
  return plan;
}

}  // namespace torc::algos
