// Plan shape, without running anything: the ring talks only to its neighbours, moves the
// bytes the ring all-reduce should (2(p-1)/p of the buffer each way), and a small plan prints
// exactly as reviewed.
#include <gtest/gtest.h>

#include <map>

#include "src/algos/algorithm.h"

namespace torc::algos {
namespace {

CollArgs args(Coll c, int rank, int p, size_t count, size_t chunkBytes = 1 << 20) {
  CollArgs a;
  a.coll = c;
  a.rank = rank;
  a.nranks = p;
  a.count = count;
  a.elemSize = 4;
  a.chunkBytes = chunkBytes;
  return a;
}

TEST(PlanGolden, RingTalksOnlyToNeighboursAndMovesTheRingVolume) {
  for (int p : {2, 3, 4, 8}) {
    for (int r = 0; r < p; ++r) {
      const size_t n = 1000 * static_cast<size_t>(p);
      Plan plan = ringAllReduce(args(Coll::kAllReduce, r, p, n, 1024));
      size_t sent = 0, received = 0;
      for (const Step& s : plan.steps()) {
        if (s.kind == OpKind::kSend) {
          EXPECT_EQ(s.peer, (r + 1) % p);
          sent += s.count;
        }
        if (s.kind == OpKind::kRecv || s.kind == OpKind::kRecvReduce) {
          EXPECT_EQ(s.peer, (r + p - 1) % p);
          received += s.count;
        }
      }
      EXPECT_EQ(sent, 2 * (static_cast<size_t>(p) - 1) * n / static_cast<size_t>(p)) << "p " << p;
      EXPECT_EQ(received, sent);
    }
  }
}

TEST(PlanGolden, EveryDependencyPointsBackwards) {
  for (Coll c : {Coll::kAllReduce, Coll::kAllGather, Coll::kReduceScatter, Coll::kBroadcast, Coll::kReduce,
                 Coll::kBarrier}) {
    for (int p : {2, 3, 8}) {
      Result<Plan> plan = buildPlan(args(c, 1, p, 777, 64));
      ASSERT_TRUE(plan.isOk());
      for (size_t i = 0; i < plan.value().size(); ++i)
        for (const uint32_t* d = plan.value().depsBegin(i); d != plan.value().depsEnd(i); ++d) EXPECT_LT(*d, i);
    }
  }
}

TEST(PlanGolden, RingAllReduceThreeRanks) {
  Plan plan = ringAllReduce(args(Coll::kAllReduce, 0, 3, 7));
  const char* expected =
      "allreduce ring\n"
      "   0 send       peer 1   n 3        msg 0    in[0]\n"
      "   1 recvreduce peer 2   n 2        msg 0    -> tmp[0], out[5] = in[5] op it\n"
      "   2 send       peer 1   n 2        msg 1    out[5]  after 1\n"
      "   3 recvreduce peer 2   n 2        msg 1    -> tmp[262144], out[3] = in[3] op it\n"
      "   4 finalize   peer -1  n 2        msg 0    out[3]  after 3\n"
      "   5 send       peer 1   n 2        msg 2    out[3]  after 4\n"
      "   6 recv       peer 2   n 3        msg 2    -> out[0]  after 0\n"
      "   7 send       peer 1   n 3        msg 3    out[0]  after 6\n"
      "   8 recv       peer 2   n 2        msg 3    -> out[5]  after 2\n";
  EXPECT_EQ(plan.toString(), expected);
}

// Happens-before across ranks: local dependencies plus message edges (the k-th send from r to q
// precedes q's k-th receive from r). reaches[r][i] = the set of ranks some of whose steps
// satisfying `from` happen before step i of rank r.
class HappensBefore {
 public:
  explicit HappensBefore(const std::vector<Plan>& plans) : plans_(plans) {}

  // Whether every rank, when its plan completes (all its steps), is after every other rank's
  // steps of the given kind.
  bool lastStepsAfterAll(OpKind kind) {
    const size_t p = plans_.size();
    // seen[r][i]: bitmask of ranks with a `kind` step before or at step i of rank r (p <= 64).
    std::vector<std::vector<uint64_t>> seen(p);
    for (size_t r = 0; r < p; ++r) seen[r].assign(plans_[r].size(), 0);
    // Iterate to a fixed point: message edges cross ranks in both directions.
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t r = 0; r < p; ++r) {
        std::map<int, uint32_t> recvIdx;
        for (size_t i = 0; i < plans_[r].size(); ++i) {
          const Step& s = plans_[r].step(i);
          uint64_t m = seen[r][i] | (s.kind == kind ? uint64_t{1} << r : 0);
          for (const uint32_t* d = plans_[r].depsBegin(i); d != plans_[r].depsEnd(i); ++d) m |= seen[r][*d];
          if (s.kind == OpKind::kRecv || s.kind == OpKind::kRecvReduce) m |= sendMask(seen, s.peer, r, s.msgIndex);
          if (m != seen[r][i]) seen[r][i] = m, changed = true;
        }
      }
    }
    const uint64_t all = p == 64 ? ~uint64_t{0} : (uint64_t{1} << p) - 1;
    for (size_t r = 0; r < p; ++r) {
      uint64_t m = uint64_t{1} << r;
      for (uint64_t x : seen[r]) m |= x;
      if (plans_[r].size() > 0 && m != all) return false;
    }
    return true;
  }

 private:
  uint64_t sendMask(const std::vector<std::vector<uint64_t>>& seen, int from, size_t to, uint32_t msg) {
    const Plan& plan = plans_[static_cast<size_t>(from)];
    for (size_t i = 0; i < plan.size(); ++i) {
      const Step& s = plan.step(i);
      if (s.kind == OpKind::kSend && s.peer == static_cast<int>(to) && s.msgIndex == msg)
        return seen[static_cast<size_t>(from)][i];
    }
    return 0;
  }
  const std::vector<Plan>& plans_;
};

TEST(PlanGolden, BarrierAndDirectCompleteOnlyAfterEveryRank) {
  for (int p : {2, 3, 5, 8, 13}) {
    std::vector<Plan> barrier, direct;
    for (int r = 0; r < p; ++r) {
      barrier.push_back(disseminationBarrier(args(Coll::kBarrier, r, p, 0)));
      CollArgs a = args(Coll::kAllReduce, r, p, 1000, 64);
      a.directChunkBytes = 256;
      direct.push_back(directAllReduce(a));
    }
    // A barrier: every rank's last step after every rank's first send.
    EXPECT_TRUE(HappensBefore(barrier).lastStepsAfterAll(OpKind::kSend)) << "p " << p;
    // Direct all-reduce: nobody returns before every rank's writes into it are done.
    EXPECT_TRUE(HappensBefore(direct).lastStepsAfterAll(OpKind::kWrite)) << "p " << p;
    // Recursive doubling: every rank's result depends on every rank's input.
    std::vector<Plan> rd;
    for (int r = 0; r < p; ++r) rd.push_back(recursiveDoublingAllReduce(args(Coll::kAllReduce, r, p, 10)));
    EXPECT_TRUE(HappensBefore(rd).lastStepsAfterAll(OpKind::kSend)) << "p " << p;
  }
}

TEST(PlanGolden, EvenSplitCoversEverythingOnce) {
  for (size_t n : {0, 1, 5, 6, 7, 1000003}) {
    for (int p : {1, 2, 3, 7, 64}) {
      size_t next = 0, minLen = SIZE_MAX, maxLen = 0;
      for (int i = 0; i < p; ++i) {
        Range r = evenSplit(n, p, i);
        EXPECT_EQ(r.off, next);
        next = r.off + r.len;
        minLen = std::min(minLen, r.len);
        maxLen = std::max(maxLen, r.len);
      }
      EXPECT_EQ(next, n);
      EXPECT_LE(maxLen - minLen, 1u);
    }
  }
}

}  // namespace
}  // namespace torc::algos
