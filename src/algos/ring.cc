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

uint32_t appendRing(Plan* plan, const RingSpec& sp, SlotPool* slots, size_t C) {
  const int g = static_cast<int>(sp.members.size()), r = sp.me;
  std::vector<uint32_t> added;
  auto add = [&](const Step& st, std::vector<uint32_t> deps) {
    deps.push_back(sp.after);
    uint32_t i = plan->add(st, deps);
    added.push_back(i);
    return i;
  };
  if (g == 1) {  // alone: the contribution is the result
    if (sp.reduceScatter && sp.range.len > 0) {
      uint32_t copy = kNone;
      if (sp.in != BufId::kOutput) {
        Step c = makeStep(OpKind::kCopy, -1, sp.range.len);
        c.src = Ref{sp.in, sp.range.off};
        c.dst = Ref{BufId::kOutput, sp.range.off};
        copy = add(c, {});
      }
      if (sp.finalize) {
        Step f = makeStep(OpKind::kFinalize, -1, sp.range.len);
        f.dst = Ref{BufId::kOutput, sp.range.off};
        add(f, {copy});
      }
    }
    return plan->add(makeStep(OpKind::kNop, -1, 0), added.empty() ? std::vector<uint32_t>{sp.after} : added);
  }
  const int next = sp.members[static_cast<size_t>(mod(r + 1, g))];
  const int prev = sp.members[static_cast<size_t>(mod(r - 1, g))];
  auto seg = [&](int i) {
    Range x = evenSplit(sp.range.len, g, mod(i, g));
    x.off += sp.range.off;
    return x;
  };
  const size_t maxChunks = numChunks(seg(0).len, C);  // segment 0 is never shorter than the others
  std::vector<uint32_t> ready(static_cast<size_t>(g));  // per segment: last step that wrote output chunk j
  std::vector<uint32_t> sent(static_cast<size_t>(g));   // per segment: the reduce-scatter send of chunk j
  const int own = mod(r + 1, g);

  for (size_t j = 0; j < maxChunks; ++j) {
    std::fill(ready.begin(), ready.end(), kNone);
    std::fill(sent.begin(), sent.end(), kNone);
    for (int s = 0; sp.reduceScatter && s + 1 < g; ++s) {
      int sendSeg = mod(r - s, g), recvSeg = mod(r - s - 1, g);
      Range rs = seg(sendSeg), rr = seg(recvSeg);
      if (j < numChunks(rs.len, C)) {
        Range c = chunkOf(rs, C, j);
        Step st = makeStep(OpKind::kSend, next, c.len);
        st.src = Ref{s == 0 ? sp.in : BufId::kOutput, c.off};
        sent[static_cast<size_t>(sendSeg)] = add(st, {ready[static_cast<size_t>(sendSeg)]});
      }
      if (j < numChunks(rr.len, C)) {
        Range c = chunkOf(rr, C, j);
        uint32_t wait;
        size_t slot = slots->acquire(&wait);
        Step st = makeStep(OpKind::kRecvReduce, prev, c.len);
        st.src = slots->ref(slot);
        st.a = Ref{sp.in, c.off};
        st.dst = Ref{BufId::kOutput, c.off};
        uint32_t idx = add(st, {wait});
        slots->release(slot, idx);
        ready[static_cast<size_t>(recvSeg)] = idx;
      }
    }
    Range ro = seg(own);
    if (sp.reduceScatter && sp.finalize && j < numChunks(ro.len, C)) {
      Range c = chunkOf(ro, C, j);
      Step f = makeStep(OpKind::kFinalize, -1, c.len);
      f.dst = Ref{BufId::kOutput, c.off};
      ready[static_cast<size_t>(own)] = add(f, {ready[static_cast<size_t>(own)]});
    }
    for (int s = 0; sp.allGather && s + 1 < g; ++s) {
      int sendSeg = mod(r + 1 - s, g), recvSeg = mod(r - s, g);
      Range rs = seg(sendSeg), rr = seg(recvSeg);
      if (j < numChunks(rs.len, C)) {
        Range c = chunkOf(rs, C, j);
        Step st = makeStep(OpKind::kSend, next, c.len);
        st.src = Ref{BufId::kOutput, c.off};
        add(st, {ready[static_cast<size_t>(sendSeg)]});
      }
      if (j < numChunks(rr.len, C)) {
        Range c = chunkOf(rr, C, j);
        Step st = makeStep(OpKind::kRecv, prev, c.len);
        st.dst = Ref{BufId::kOutput, c.off};
        ready[static_cast<size_t>(recvSeg)] = add(st, {sent[static_cast<size_t>(recvSeg)]});
      }
    }
  }
  if (!sp.join) return kNone;
  return plan->add(makeStep(OpKind::kNop, -1, 0), added.empty() ? std::vector<uint32_t>{sp.after} : added);
}

Plan ringAllReduce(const CollArgs& a) {
  const int p = a.nranks;
  if (p == 1) return localCopy("allreduce ring", a.count, true);
  Plan plan;
  plan.name = "allreduce ring";
  plan.inputElems = plan.outputElems = a.count;
  if (a.count == 0) return plan;
  RingSpec sp;
  for (int q = 0; q < p; ++q) sp.members.push_back(q);
  sp.me = a.rank;
  sp.range = Range{0, a.count};
  sp.join = false;
  SlotPool slots(&plan, a.scratchSlots, chunkElems(a));
  appendRing(&plan, sp, &slots, chunkElems(a));
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
