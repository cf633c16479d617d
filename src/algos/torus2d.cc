// 2D-torus all-reduce (hierarchical): the p ranks form an R x C grid, row-major over
// CollArgs::gridOrder (by default a row is the ranks of one node and there is a row per node).
//   1. ring reduce-scatter along the row: row member m ends with row segment m + 1 (mod C) of
//      the buffer, reduced over its row;
//   2. ring all-reduce of that segment along the column (the R ranks at the same row position,
//      which all hold the same segment), divided for avg;
//   3. ring all-gather along the row.
// Per rank the links between rows (nodes) carry 2 (R-1)/R of n/C bytes instead of the flat
// ring's 2 (p-1)/p of n. Phases are joined (a phase starts when this rank finished the last),
// and every element is reduced once along its row chain and once along its column chain, so
// every rank ends with the same bits. Any count: segments are evenSplit, empty ones skip.
#include <algorithm>

#include "src/algos/algorithm.h"
#include "src/algos/plan_builder.h"

namespace torc::algos {

Plan torus2dAllReduce(const CollArgs& a) {
  const int p = a.nranks, R = a.torusRows, C = a.torusCols;
  if (p == 1) return localCopy("allreduce torus2d", a.count, true);
  Plan plan;
  plan.name = "allreduce torus2d " + std::to_string(R) + "x" + std::to_string(C);
  plan.inputElems = plan.outputElems = a.count;
  if (a.count == 0) return plan;
  auto at = [&](int pos) { return a.gridOrder ? a.gridOrder[pos] : pos; };
  int pos = 0;
  while (pos < p && at(pos) != a.rank) ++pos;
  const int row = pos / C, col = pos % C;
  RingSpec rowRing, colRing;
  for (int c = 0; c < C; ++c) rowRing.members.push_back(at(row * C + c));
  for (int r = 0; r < R; ++r) colRing.members.push_back(at(r * C + col));
  rowRing.me = col;
  colRing.me = row;
  const size_t chunk = chunkElems(a);
  SlotPool slots(&plan, a.scratchSlots, chunk);

  // 1. Reduce-scatter along the row, no division yet.
  rowRing.range = Range{0, a.count};
  rowRing.allGather = false;
  rowRing.finalize = false;
  uint32_t done = appendRing(&plan, rowRing, &slots, chunk);
  // 2. All-reduce of this rank's row segment along the column, in the output.
  colRing.range = evenSplit(a.count, C, (col + 1) % C);
  colRing.in = BufId::kOutput;
  colRing.after = done;
  done = appendRing(&plan, colRing, &slots, chunk);
  // 3. All-gather along the row.
  rowRing.reduceScatter = false;
  rowRing.allGather = true;
  rowRing.in = BufId::kOutput;
  rowRing.after = done;
  rowRing.join = false;
  appendRing(&plan, rowRing, &slots, chunk);
  plan.finalize();
  return plan;
}

}  // namespace torc::algos
