// Pieces shared by the sparse top-k engines (sparse_topk.cc, sparse_split.cc): per-thread
// scratch, the list block format, agreement on failures, and exchanges of blocks whose sizes
// every rank knows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/topk.h"
#include "src/base/status.h"
#include "src/core/comm.h"

namespace torc::core::sparse {

// Buffers kept per thread between calls (grown, never shrunk), so that a training loop's calls
// do not map and fault fresh memory every step.
struct Scratch {
  std::vector<char> mine, all;  // this rank's list as a block; gathered blocks
  std::vector<char> treeCur, treeNext, treePeer, treeResult;  // the tree's lists
  std::vector<uint32_t> unionIdx, pos, top, hist;
  std::vector<float> unionVal, acc;
  std::vector<uint64_t> keys;
  std::vector<std::vector<char>> send, recv;  // per-peer blocks of the split route
  kernels::TopkScratch topk;
};
Scratch& scratch();

algos::CollArgs args(algos::Coll coll, size_t count, int peer = -1);

// A list travels as one block [k uint32 indices ascending | k float32 values].
inline const uint32_t* indicesOf(const char* block) { return reinterpret_cast<const uint32_t*>(block); }
inline const float* valuesOf(const char* block, size_t k) {
  return reinterpret_cast<const float*>(block + k * sizeof(uint32_t));
}

// The lowest rank for which bad is true, or -1; the same answer on every rank.
Result<int> lowestRankWith(Comm& c, bool bad);

// k strictly increasing indices in [lo, hi): anything else is a peer's bug or a k (or count)
// that differs between ranks, and must not reach the kernels.
Status checkList(const uint32_t* idx, size_t k, size_t lo, size_t hi, int from);

// m pairs (8 bytes each) outweigh a range of len floats: such a block travels dense.
bool denseForm(size_t m, size_t len);
size_t blockBytes(size_t m, size_t len);
// m entries (indices ascending, in [off, off + len)) as a block: dense (zero elsewhere) where
// denseForm, else [m uint32 indices | m float32 values].
void encode(const uint32_t* idx, const float* val, size_t m, size_t off, size_t len, std::vector<char>* block);
// Writes a block of m entries of [off, off + len) into out[off, off + len): a dense block as it
// is, pairs over zeros. Indices must have been checked.
void decode(const char* block, size_t m, bool dense, size_t off, size_t len, float* out);
// All-gather of `per` uint32 from every rank (p * per into *all).
Status gatherCounts(Comm& c, const uint32_t* mine, size_t per, std::vector<uint32_t>* all);
// gatherCounts of every rank's number of nonzero sums (sums.size()), and whether one of them
// overflowed (Inf): then every rank fails alike, before anything is written, naming the lowest
// rank that saw it ("<what> overflowed float32 (seen first by rank q)").
Status gatherSumCounts(Comm& c, const std::vector<float>& sums, const char* what, std::vector<uint32_t>* counts);
// The entries of acc[0..len) whose bits are not zero, as indices off + j and values, in order.
void compactNonzero(const float* acc, size_t off, size_t len, std::vector<uint32_t>* idx, std::vector<float>* val);

// p - 1 rounds; in round s this rank sends send[(r + s) % p] to rank r + s and receives
// recvBytes[(r - s) % p] bytes from rank r - s into (*recv)[(r - s) % p], both at once.
Status exchangeRounds(Comm& c, const std::vector<const char*>& send, const std::vector<size_t>& sendBytes,
                      const std::vector<size_t>& recvBytes, std::vector<std::vector<char>>* recv);
// The same among the ranks of `group` (this rank at position me): vectors indexed by position.
Status exchangeGroup(Comm& c, const std::vector<int>& group, size_t me, const std::vector<const char*>& send,
                     const std::vector<size_t>& sendBytes, const std::vector<size_t>& recvBytes,
                     std::vector<std::vector<char>>* recv);

}  // namespace torc::core::sparse

namespace torc::core::sparse {

// The split route (sparse_split.cc): rank q owns index range evenSplit(n, p, q) and sums, in
// rank order, every list's entries in it (a sparse reduce-scatter); blocks whose pairs would
// outweigh their range's dense slice travel dense. sc.mine holds this rank's list.
// splitSum: out = sum over ranks of S_r, gathered from the owners (dense where denser); the
// same bits as summing the gathered lists. *denseSlices: how many owners' results went dense.
Status splitSum(Comm& c, size_t n, size_t k, float* out, Scratch& sc, int* denseSlices);
// splitExact: out = TopK(sum over ranks of S_r, k) with complete sums, ties to the lower index;
// *result gets its indices, ascending. Owners pick their range's top k, a radix search over
// all-reduced histograms finds the k-th largest (magnitude, index) key, and only the k winners
// are gathered. A sum that overflows fails on every rank (kInvalidArgument).
Status splitExact(Comm& c, size_t n, size_t k, float* out, std::vector<uint32_t>* result, Scratch& sc);

}  // namespace torc::core::sparse

namespace torc::core::sparse {

// The hierarchical mode (sparse_hier.cc, HiTopKComm): a dense reduce-scatter inside each node
// (local rank l sums shard l of the node's inputs, in local-rank order), the top k_l of each
// shard (k_l = evenSplit(k, R, l): k per node), a sparse all-gather of those among the ranks
// with equal local rank (one per node), summed in node order, and an all-gather inside the
// node. out: the result; *delivered: the indices this rank's node selected (every entry of a at
// them reached the result). Needs the same number of ranks on every node.
Status hierarchical(Comm& c, const float* a, size_t n, size_t k, float* out, std::vector<uint32_t>* delivered,
                    Scratch& sc);

}  // namespace torc::core::sparse
