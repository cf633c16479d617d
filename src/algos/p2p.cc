// Point-to-point send and receive (one message each; the transport pipelines large ones), and
// the dissemination barrier: in round k every rank sends an empty message to rank + 2^k and
// waits for the one from rank - 2^k, so after ceil(log2 p) rounds every rank has heard,
// directly or not, from every other.
#include "src/algos/algorithm.h"
#include "src/algos/plan_builder.h"

namespace torc::algos {

Plan p2pSend(const CollArgs& a) {
  Plan plan;
  plan.name = "send";
  plan.inputElems = a.count;
  Step s = makeStep(OpKind::kSend, a.peer, a.count);
  s.src = Ref{BufId::kInput, 0};
  plan.add(s);
  plan.finalize();
  return plan;
}

Plan p2pRecv(const CollArgs& a) {
  Plan plan;
  plan.name = "recv";
  plan.outputElems = a.count;
  Step s = makeStep(OpKind::kRecv, a.peer, a.count);
  s.dst = Ref{BufId::kOutput, 0};
  plan.add(s);
  plan.finalize();
  return plan;
}

// Both steps at once, so the exchange uses the links in both directions. The executor tags the
// send with its send sequence to peer and the receive with its receive sequence from recvPeer.
Plan p2pSendRecv(const CollArgs& a) {
  const int from = a.recvPeer >= 0 ? a.recvPeer : a.peer;
  const size_t recvCount = a.recvCount != SIZE_MAX ? a.recvCount : a.count;
  Plan plan;
  plan.name = "sendrecv";
  plan.inputElems = a.count;
  plan.outputElems = recvCount;
  Step s = makeStep(OpKind::kSend, a.peer, a.count);
  s.src = Ref{BufId::kInput, 0};
  plan.add(s);
  Step r = makeStep(OpKind::kRecv, from, recvCount);
  r.dst = Ref{BufId::kOutput, 0};
  plan.add(r);
  plan.finalize();
  return plan;
}

Plan disseminationBarrier(const CollArgs& a) {
  Plan plan;
  plan.name = "barrier dissemination";
  addBarrier(&plan, a.rank, a.nranks, Plan::kNone);
  plan.finalize();
  return plan;
}

}  // namespace torc::algos
