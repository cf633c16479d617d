// The hierarchical sparse all-reduce (torcTopkHierarchical, HiTopKComm): dense inside a node,
// where links are fast; sparse between nodes, among ranks with equal local rank.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/reduce.h"
#include "src/algos/plan.h"
#include "src/core/sparse_util.h"

namespace torc::core::sparse {

using kernels::DType;
using kernels::RedOp;

Status hierarchical(Comm& c, const float* a, size_t n, size_t k, float* out, std::vector<uint32_t>* delivered,
                    Scratch& sc) {
  const Grouping& g = c.grouping();
  const int p = c.nranks();
  // This rank's node (by local rank) and its column (one rank per node, by node).
  std::vector<int> node, column(static_cast<size_t>(g.nodes), -1), seen(static_cast<size_t>(g.nodes), 0);
  for (int r = 0; r < p; ++r) {
    const auto v = static_cast<size_t>(g.nodeOf[static_cast<size_t>(r)]);
    if (static_cast<int>(v) == g.node) node.push_back(r);
    if (seen[v]++ == g.localRank) column[v] = r;
  }
  for (int s : seen)
    if (s != g.localRanks)
      return errorf(Code::kInvalidUsage, "torcTopkHierarchical needs the same number of ranks on every node (%s)",
                    g.describe().c_str());
  const int R = g.localRanks;
  const auto l = static_cast<size_t>(g.localRank);
  auto shard = [&](size_t q) { return algos::evenSplit(n, R, static_cast<int>(q)); };
  auto budget = [&](size_t q) { return algos::evenSplit(k, R, static_cast<int>(q)).len; };

  // 1. Dense reduce-scatter inside the node, summed in local-rank order from +0.
  std::vector<const char*> send(node.size());
  std::vector<size_t> sendBytes(node.size()), recvBytes(node.size(), shard(l).len * sizeof(float));
  for (size_t q = 0; q < node.size(); ++q) {
    send[q] = reinterpret_cast<const char*>(a + shard(q).off);
    sendBytes[q] = shard(q).len * sizeof(float);
  }
  TORC_RETURN_IF_ERROR(exchangeGroup(c, node, l, send, sendBytes, recvBytes, &sc.recv));
  const algos::Range mine = shard(l);
  sc.acc.assign(mine.len, 0.0f);
  for (size_t q = 0; q < node.size(); ++q) {
    const void* part = q == l ? static_cast<const void*>(a + mine.off) : sc.recv[q].data();
    kernels::reduce(DType::kFloat32, RedOp::kSum, sc.acc.data(), sc.acc.data(), part, mine.len);
  }

  // 2. The shard's top k_l (its node sums overflowing fails everywhere alike).
  const size_t kl = budget(l);
  sc.pos.resize(kl);
  const bool finite =
      kernels::topkExact(sc.acc.data(), mine.len, kl, sc.pos.data(), &sc.topk) == kernels::TopkStatus::kOk;
  TORC_ASSIGN_OR_RETURN(int overflowRank, lowestRankWith(c, !finite));
  if (overflowRank >= 0)
    return errorf(Code::kInvalidArgument, "a node's sum overflowed float32 (seen first by rank %d)", overflowRank);
  std::vector<char>& list = sc.mine;
  list.resize(kl * 8);
  auto* li = reinterpret_cast<uint32_t*>(list.data());
  auto* lv = reinterpret_cast<float*>(list.data() + kl * sizeof(uint32_t));
  for (size_t j = 0; j < kl; ++j) {
    li[j] = static_cast<uint32_t>(mine.off + sc.pos[j]);
    lv[j] = sc.acc[sc.pos[j]];
  }

  // 3. Sparse all-gather among the ranks with this local rank, summed in node order.
  const auto me = static_cast<size_t>(g.node);
  std::vector<const char*> lists(column.size(), list.data());
  std::vector<size_t> listBytes(column.size(), list.size());
  TORC_RETURN_IF_ERROR(exchangeGroup(c, column, me, lists, listBytes, listBytes, &sc.recv));
  for (size_t v = 0; v < column.size(); ++v)
    if (v != me) TORC_RETURN_IF_ERROR(checkList(indicesOf(sc.recv[v].data()), kl, mine.off, mine.off + mine.len, column[v]));
  std::vector<float>& res = sc.unionVal;
  res.assign(mine.len, 0.0f);
  for (size_t v = 0; v < column.size(); ++v) {
    const char* b = v == me ? list.data() : sc.recv[v].data();
    const uint32_t* bi = indicesOf(b);
    const float* bv = valuesOf(b, kl);
    for (size_t j = 0; j < kl; ++j) res[bi[j] - mine.off] += bv[j];
  }

  // 4. All-gather inside the node: each shard's result (pairs or dense, whichever is smaller)
  // and the indices the node selected in it.
  std::vector<uint32_t> nzIdx;
  std::vector<float> nzVal;
  compactNonzero(res.data(), mine.off, mine.len, &nzIdx, &nzVal);
  const auto m = static_cast<uint32_t>(nzIdx.size());
  std::vector<uint32_t> counts;  // with them, every rank learns whether a sum between nodes overflowed
  TORC_RETURN_IF_ERROR(gatherSumCounts(c, nzVal, "a sum of selected node sums", &counts));
  std::vector<char> block;
  encode(nzIdx.data(), nzVal.data(), m, mine.off, mine.len, &block);
  block.insert(block.end(), list.begin(), list.begin() + static_cast<ptrdiff_t>(kl * sizeof(uint32_t)));
  std::vector<const char*> blocks(node.size(), block.data());
  std::vector<size_t> blockBytesOut(node.size(), block.size()), blockBytesIn(node.size());
  for (size_t q = 0; q < node.size(); ++q)
    blockBytesIn[q] = blockBytes(counts[static_cast<size_t>(node[q])], shard(q).len) + budget(q) * sizeof(uint32_t);
  TORC_RETURN_IF_ERROR(exchangeGroup(c, node, l, blocks, blockBytesOut, blockBytesIn, &sc.recv));
  for (size_t q = 0; q < node.size(); ++q) {  // check everything before out is written
    if (q == l) continue;
    const size_t mq = counts[static_cast<size_t>(node[q])], head = blockBytes(mq, shard(q).len);
    const char* b = sc.recv[q].data();
    if (!denseForm(mq, shard(q).len))
      TORC_RETURN_IF_ERROR(checkList(indicesOf(b), mq, shard(q).off, shard(q).off + shard(q).len, node[q]));
    TORC_RETURN_IF_ERROR(
        checkList(indicesOf(b + head), budget(q), shard(q).off, shard(q).off + shard(q).len, node[q]));
  }
  delivered->clear();
  for (size_t q = 0; q < node.size(); ++q) {
    const algos::Range s = shard(q);
    const size_t mq = q == l ? m : counts[static_cast<size_t>(node[q])], head = blockBytes(mq, s.len);
    const char* b = q == l ? block.data() : sc.recv[q].data();
    decode(b, mq, denseForm(mq, s.len), s.off, s.len, out);
    const uint32_t* selected = indicesOf(b + head);
    delivered->insert(delivered->end(), selected, selected + budget(q));
  }
  return Status::ok();
}

}  // namespace torc::core::sparse
