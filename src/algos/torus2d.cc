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

namespace torc::algos {
namespace {

// Ring all-gather over `members` (this rank is members[me]) of whole blocks: member m starts
// with the blocks blocks[m] (element offsets in the output, `n` elements each, already in
// place) and everyone ends with all of them. Each block travels as its own messages, in chunks.
void appendBlockRing(Plan* plan, const std::vector<int>& members, int me,
                     const std::vector<std::vector<size_t>>& blocks, size_t n, size_t chunk, uint32_t after,
                     std::vector<uint32_t>* last) {
  const int g = static_cast<int>(members.size());
  if (g == 1) return;
  const int next = members[static_cast<size_t>(mod(me + 1, g))], prev = members[static_cast<size_t>(mod(me - 1, g))];
  // received[m]: the step after which member m's blocks are here (kNone: ours, from `after`).
  std::vector<uint32_t> received(static_cast<size_t>(g), after);
  for (int s = 0; s + 1 < g; ++s) {
    const int sendSet = mod(me - s, g), recvSet = mod(me - s - 1, g);
    std::vector<uint32_t> got;
    for (size_t off : blocks[static_cast<size_t>(sendSet)])
      for (size_t j = 0; j < numChunks(n, chunk); ++j) {
        Range c = chunkOf(Range{off, n}, chunk, j);
        Step st = makeStep(OpKind::kSend, next, c.len);
        st.src = Ref{BufId::kOutput, c.off};
        last->push_back(plan->add(st, {received[static_cast<size_t>(sendSet)]}));
      }
    for (size_t off : blocks[static_cast<size_t>(recvSet)])
      for (size_t j = 0; j < numChunks(n, chunk); ++j) {
        Range c = chunkOf(Range{off, n}, chunk, j);
        Step rv = makeStep(OpKind::kRecv, prev, c.len);
        rv.dst = Ref{BufId::kOutput, c.off};
        got.push_back(plan->add(rv, {after}));
      }
    received[static_cast<size_t>(recvSet)] = plan->add(makeStep(OpKind::kNop, -1, 0), got);
    last->push_back(received[static_cast<size_t>(recvSet)]);
  }
}

}  // namespace

// 2D all-gather on the torus grid: all-gather along the column first (between nodes each rank
// sends its own block R-1 times, instead of a flat ring's p-1 blocks through every node's
// link), then along the row, where each rank passes on its column's R blocks.
Plan torus2dAllGather(const CollArgs& a) {
  const int p = a.nranks, R = a.torusRows, C = a.torusCols;
  Plan plan;
  plan.name = "allgather torus2d " + std::to_string(R) + "x" + std::to_string(C);
  plan.inputElems = a.count;
  plan.outputElems = a.count * static_cast<size_t>(p);
  if (a.count == 0) return plan;
  auto at = [&](int pos) { return a.gridOrder ? a.gridOrder[pos] : pos; };
  int pos = 0;
  while (pos < p && at(pos) != a.rank) ++pos;
  const int row = pos / C, col = pos % C;
  const size_t n = a.count, chunk = chunkElems(a);
  Step copy = makeStep(OpKind::kCopy, -1, n);
  copy.src = Ref{BufId::kInput, 0};
  copy.dst = Ref{BufId::kOutput, static_cast<size_t>(a.rank) * n};
  const uint32_t start = plan.add(copy);
  std::vector<uint32_t> last{start};
  // Column: member r holds the block of the rank at (r, col).
  std::vector<int> colMembers;
  std::vector<std::vector<size_t>> colBlocks;
  for (int r = 0; r < R; ++r) {
    colMembers.push_back(at(r * C + col));
    colBlocks.push_back({static_cast<size_t>(at(r * C + col)) * n});
  }
  appendBlockRing(&plan, colMembers, row, colBlocks, n, chunk, start, &last);
  const uint32_t colDone = plan.add(makeStep(OpKind::kNop, -1, 0), last);
  // Row: member c holds column c's blocks.
  std::vector<int> rowMembers;
  std::vector<std::vector<size_t>> rowBlocks(static_cast<size_t>(C));
  for (int c = 0; c < C; ++c) {
    rowMembers.push_back(at(row * C + c));
    for (int r = 0; r < R; ++r) rowBlocks[static_cast<size_t>(c)].push_back(static_cast<size_t>(at(r * C + c)) * n);
  }
  std::vector<uint32_t> rowLast;
  appendBlockRing(&plan, rowMembers, col, rowBlocks, n, chunk, colDone, &rowLast);
  plan.finalize();
  return plan;
}

}  // namespace torc::algos
