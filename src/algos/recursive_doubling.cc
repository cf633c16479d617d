// Recursive-doubling all-reduce for small messages: log2(p) exchanges instead of the ring's
// 2(p-1) steps, which is what latency (and ranks sharing cores) pays for.
//
// With P the largest power of two <= p and rem = p - P: ranks 2i and 2i+1 for i < rem first
// fold (the even one sends its input to the odd one, which reduces it in and stands for both).
// The P remaining ranks then, in round k, exchange their whole partial result with the rank
// whose group index differs in bit k and reduce it in. Finally each odd folding rank sends the
// result back to its even partner.
// Same bits everywhere: in every round both partners combine the same two values, once as
// a op b and once as b op a, and the operations are commutative in IEEE arithmetic too.
#include "src/algos/algorithm.h"
#include "src/algos/plan_builder.h"

namespace torc::algos {

Plan recursiveDoublingAllReduce(const CollArgs& a) {
  const int p = a.nranks, r = a.rank;
  if (p == 1) return localCopy("allreduce recursive-doubling", a.count, true);
  Plan plan;
  plan.name = "allreduce recursive-doubling";
  plan.inputElems = plan.outputElems = a.count;
  if (a.count == 0) return plan;
  plan.reserveScratch(a.count);
  const Ref tmp{BufId::kScratch, 0}, in{BufId::kInput, 0}, out{BufId::kOutput, 0};
  int P = 1;
  while (P * 2 <= p) P *= 2;
  const int rem = p - P;

  if (r < 2 * rem && r % 2 == 0) {  // folds into r+1, then waits for the result
    Step s = makeStep(OpKind::kSend, r + 1, a.count);
    s.src = in;
    uint32_t sent = plan.add(s);
    Step rv = makeStep(OpKind::kRecv, r + 1, a.count);
    rv.dst = out;
    plan.add(rv, {sent});  // in place, the result must not land before our input has left
    plan.finalize();
    return plan;
  }
  Ref cur = in;  // where this rank's partial result is
  uint32_t last = Plan::kNone;
  if (r < 2 * rem) {  // odd: absorb the even partner
    Step rv = makeStep(OpKind::kRecvReduce, r - 1, a.count);
    rv.src = tmp;
    rv.a = in;
    rv.dst = out;
    last = plan.add(rv);
    cur = out;
  }
  const int g = r < 2 * rem ? r / 2 : r - rem;  // index among the P
  auto rankOf = [&](int gi) { return gi < rem ? 2 * gi + 1 : gi + rem; };
  for (int bit = 1; bit < P; bit *= 2) {
    const int peer = rankOf(g ^ bit);
    Step s = makeStep(OpKind::kSend, peer, a.count);
    s.src = cur;
    uint32_t sent = plan.add(s, {last});
    // Receive at once (a send may need the peer's receive posted to complete), but reduce only
    // after our send has finished reading what the reduce overwrites.
    Step rv = makeStep(OpKind::kRecv, peer, a.count);
    rv.dst = tmp;
    uint32_t got = plan.add(rv, {last});
    Step red = makeStep(OpKind::kReduce, -1, a.count);
    red.a = cur;
    red.src = tmp;
    red.dst = out;
    last = plan.add(red, {got, sent});
    cur = out;
  }
  Step f = makeStep(OpKind::kFinalize, -1, a.count);
  f.dst = out;
  last = plan.add(f, {last});
  if (r < 2 * rem) {
    Step s = makeStep(OpKind::kSend, r - 1, a.count);
    s.src = out;
    plan.add(s, {last});
  }
  plan.finalize();
  return plan;
}

}  // namespace torc::algos
