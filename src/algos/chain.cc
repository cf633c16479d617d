// Pipelined chain broadcast and reduce.
//
// The chain is the ring rotated to start at the root: position k = (rank - root) mod p.
// Broadcast: the root sends chunk after chunk to position 1; every other rank receives each
// chunk into its output and forwards it to the next position as soon as it has arrived, so
// after the first chunk's p-1 hops every link carries data at once.
// Reduce: the same chain run backwards. The last position sends its input; each rank in the
// middle receives a chunk into a scratch slot, adds its input into that slot and forwards it;
// the root adds its input and writes the result (divided by p for avg) into its output.
#include "src/algos/algorithm.h"
#include "src/algos/plan_builder.h"

namespace torc::algos {

Plan chainBroadcast(const CollArgs& a) {
  const int p = a.nranks, r = a.rank;
  Plan plan;
  plan.name = "broadcast chain";
  plan.outputElems = a.count;
  plan.inputElems = r == a.root ? a.count : 0;
  if (a.count == 0) return plan;
  const int pos = mod(r - a.root, p);
  const int next = mod(r + 1, p), prev = mod(r - 1, p);
  if (pos == 0) {
    Step c = makeStep(OpKind::kCopy, -1, a.count);
    c.src = Ref{BufId::kInput, 0};
    c.dst = Ref{BufId::kOutput, 0};
    plan.add(c);
  }
  if (p > 1) {
    const size_t C = chunkElems(a);
    for (size_t j = 0; j < numChunks(a.count, C); ++j) {
      Range c = chunkOf(Range{0, a.count}, C, j);
      uint32_t got = Plan::kNone;
      if (pos > 0) {
        Step rv = makeStep(OpKind::kRecv, prev, c.len);
        rv.dst = Ref{BufId::kOutput, c.off};
        got = plan.add(rv);
      }
      if (pos + 1 < p) {
        Step st = makeStep(OpKind::kSend, next, c.len);
        st.src = Ref{pos == 0 ? BufId::kInput : BufId::kOutput, c.off};
        plan.add(st, {got});
      }
    }
  }
  plan.finalize();
  return plan;
}

Plan chainReduce(const CollArgs& a) {
  const int p = a.nranks, r = a.rank;
  Plan plan;
  plan.name = "reduce chain";
  plan.inputElems = a.count;
  plan.outputElems = r == a.root ? a.count : 0;
  if (a.count == 0) return plan;
  const int pos = mod(r - a.root, p);
  const int toward = mod(r - 1, p), from = mod(r + 1, p);
  if (p == 1) return localCopy("reduce chain", a.count, true);
  const size_t C = chunkElems(a);
  SlotPool slots(&plan, a.scratchSlots, C);
  for (size_t j = 0; j < numChunks(a.count, C); ++j) {
    Range c = chunkOf(Range{0, a.count}, C, j);
    if (pos == p - 1) {
      Step st = makeStep(OpKind::kSend, toward, c.len);
      st.src = Ref{BufId::kInput, c.off};
      plan.add(st);
      continue;
    }
    uint32_t wait;
    size_t slot = slots.acquire(&wait);
    Step rv = makeStep(OpKind::kRecvReduce, from, c.len);
    rv.src = slots.ref(slot);
    rv.a = Ref{BufId::kInput, c.off};
    rv.dst = pos == 0 ? Ref{BufId::kOutput, c.off} : rv.src;
    uint32_t got = plan.add(rv, {wait});
    if (pos == 0) {
      slots.release(slot, got);
      Step f = makeStep(OpKind::kFinalize, -1, c.len);
      f.dst = rv.dst;
      plan.add(f, {got});
    } else {
      Step st = makeStep(OpKind::kSend, toward, c.len);
      st.src = rv.src;
      slots.release(slot, plan.add(st, {got}));
    }
  }
  plan.finalize();
  return plan;
}

}  // namespace torc::algos
