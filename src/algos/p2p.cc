// Point-to-point send and receive (one message each; the transport pipelines large ones), and
// the dissemination barrier: in round k every rank sends an empty message to rank + 2^k and
// waits for the one from rank - 2^k, so after ceil(log2 p) rounds every rank has heard,
// directly or not, from every other.
#include "src/algos/algorithm.h"

namespace torc::algos {

Plan p2pSend(const CollArgs& a) {
  Plan plan;
  plan.name = "send";
  plan.inputElems = a.count;
  Step s;
  s.kind = OpKind::kSend;
  s.peer = a.peer;
  s.count = a.count;
  s.src = Ref{BufId::kInput, 0};
  plan.add(s);
  plan.finalize();
  return plan;
}

Plan p2pRecv(const CollArgs& a) {
  Plan plan;
  plan.name = "recv";
  plan.outputElems = a.count;
  Step s;
  s.kind = OpKind::kRecv;
  s.peer = a.peer;
  s.count = a.count;
  s.dst = Ref{BufId::kOutput, 0};
  plan.add(s);
  plan.finalize();
  return plan;
}

Plan disseminationBarrier(const CollArgs& a) {
  Plan plan;
  plan.name = "barrier dissemination";
  const int p = a.nranks;
  uint32_t last = Plan::kNone;
  for (int dist = 1; dist < p; dist *= 2) {
    Step s;
    s.kind = OpKind::kSend;
    s.peer = (a.rank + dist) % p;
    plan.add(s, {last});
    Step r;
    r.kind = OpKind::kRecv;
    r.peer = ((a.rank - dist) % p + p) % p;
    last = plan.add(r);
  }
  plan.finalize();
  return plan;
}

}  // namespace torc::algos
