// Direct all-reduce for ranks that share a node and can access each other's memory (CMA).
//
// Memory traffic is the limit on one node: the ring moves every byte through scratch and the
// transport several times. Here every input is read once and every output written once:
//   1. exchange buffer addresses (a tiny message to every peer; this also proves they arrived);
//   2. rank r owns slice r (evenSplit). For each chunk of it, start from its own input, read
//      each peer's input chunk into a cache-resident scratch block (peers r+1, r+2, ... in that
//      order) and reduce it in; divide for avg;
//   3. write the finished chunk straight into every peer's output, and copy it into its own;
//   4. a barrier, after which every output is complete and no input is read any more.
// Same bits everywhere: each element is reduced once, by its owner, in a fixed order, then copied.
// In place is safe: slice r of any buffer is read and written only by rank r, reads first.
#include "src/algos/algorithm.h"
#include "src/algos/plan_builder.h"

namespace torc::algos {

Plan directAllReduce(const CollArgs& a) {
  const int p = a.nranks, r = a.rank;
  if (p == 1) return localCopy("allreduce direct", a.count, true);
  Plan plan;
  plan.name = "allreduce direct";
  plan.inputElems = plan.outputElems = a.count;
  if (a.count == 0) return plan;
  const size_t kAddrElems = 16 / a.elemSize;  // {input, output} as elements of the dtype
  std::vector<uint32_t> addrOf(static_cast<size_t>(p), Plan::kNone);
  for (int d = 1; d < p; ++d) {
    int q = mod(r + d, p);
    Step s = makeStep(OpKind::kSend, q, kAddrElems);
    s.src = Ref{BufId::kAddrSelf, 0};
    plan.add(s);
    Step rv = makeStep(OpKind::kRecv, mod(r - d, p), kAddrElems);
    rv.dst = Ref{BufId::kAddrTable, static_cast<size_t>(mod(r - d, p)) * kAddrElems};
    addrOf[static_cast<size_t>(mod(r - d, p))] = plan.add(rv);
  }

  // Two scratch blocks: the accumulator and the block being read.
  const size_t C = std::max<size_t>(1, a.directChunkBytes / a.elemSize);
  plan.reserveScratch(2 * C);
  const Ref acc{BufId::kScratch, 0}, tmp{BufId::kScratch, C};
  const Range mine = evenSplit(a.count, p, r);
  uint32_t chunkDone = Plan::kNone;
  std::vector<uint32_t> joins;
  for (size_t j = 0; j < numChunks(mine.len, C); ++j) {
    Range c = chunkOf(mine, C, j);
    uint32_t last = chunkDone;  // the accumulator is free once the previous chunk went out
    for (int d = 1; d < p; ++d) {
      int q = mod(r + d, p);
      Step rr = makeStep(OpKind::kReadReduce, q, c.len);
      rr.a = Ref{BufId::kPeerInput, c.off};
      rr.src = tmp;
      rr.b = d == 1 ? Ref{BufId::kInput, c.off} : acc;
      rr.dst = acc;
      last = plan.add(rr, {last, addrOf[static_cast<size_t>(q)]});
    }
    Step f = makeStep(OpKind::kFinalize, -1, c.len);
    f.dst = acc;
    uint32_t fin = plan.add(f, {last});
    std::vector<uint32_t> out;
    for (int d = 1; d < p; ++d) {
      int q = mod(r + d, p);
      Step w = makeStep(OpKind::kWrite, q, c.len);
      w.src = acc;
      w.dst = Ref{BufId::kPeerOutput, c.off};
      out.push_back(plan.add(w, {fin, addrOf[static_cast<size_t>(q)]}));
    }
    Step cp = makeStep(OpKind::kCopy, -1, c.len);
    cp.src = acc;
    cp.dst = Ref{BufId::kOutput, c.off};
    out.push_back(plan.add(cp, {fin}));
    chunkDone = plan.add(makeStep(OpKind::kNop, -1, 0), out);
  }
  // Every address received (a rank with an empty slice reads nothing) and every chunk written.
  std::vector<uint32_t> all(addrOf.begin(), addrOf.end());
  all.push_back(chunkDone);
  uint32_t done = plan.add(makeStep(OpKind::kNop, -1, 0), all);
  // After the barrier, all outputs are complete and all inputs are free.
  addBarrier(&plan, r, p, done);
  plan.finalize();
  return plan;
}

}  // namespace torc::algos
