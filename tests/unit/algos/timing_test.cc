// The timing model: the closed forms agree with simulating the actual plans, and the model
// ranks algorithms the way the traffic says it should.
#include <gtest/gtest.h>

#include "src/algos/timing.h"

namespace torc::algos {
namespace {

CollArgs allReduce(int nodes, int perNode, size_t bytes, const char* algo) {
  CollArgs a;
  a.coll = Coll::kAllReduce;
  a.nranks = nodes * perNode;
  a.count = bytes / 4;
  a.elemSize = 4;
  a.algo = algo;
  a.chunkBytes = std::string(algo) == "rd" ? bytes + 64 : 512 << 10;
  a.torusRows = nodes;
  a.torusCols = perNode;
  return a;
}

std::vector<int> nodesOf(int nodes, int perNode) {
  std::vector<int> v;
  for (int r = 0; r < nodes * perNode; ++r) v.push_back(r / perNode);
  return v;
}

TEST(Timing, ClosedFormsAgreeWithThePlans) {
  LinkModel m;
  m.interGBps = 0.12;
  m.interAlphaUs = 50;
  for (auto [nodes, perNode] : std::vector<std::pair<int, int>>{{2, 2}, {4, 1}, {4, 4}, {8, 2}, {1, 8}})
    for (size_t bytes : {size_t{4} << 20, size_t{64} << 20})
      for (const char* algo : {"ring", "torus2d"}) {
        if (std::string(algo) == "torus2d" && nodes == 1) continue;
        auto sim = predictByPlans(allReduce(nodes, perNode, bytes, algo), nodesOf(nodes, perNode), m);
        ASSERT_TRUE(sim.isOk()) << sim.status().toString();
        double closed = predictAnalytic(algo, nodes, perNode, static_cast<double>(bytes), m);
        EXPECT_NEAR(closed / sim.value(), 1.0, 0.1) << algo << " " << nodes << "x" << perNode << " " << bytes;
      }
}

TEST(Timing, TorusBeatsRingBetweenSlowNodesByWhatTheBytesSay) {
  LinkModel m;
  m.interGBps = 0.12;
  const double bytes = 64 << 20;
  // 2 nodes x 2 ranks: per node link the ring moves 2(p-1)/p n = 1.5 n, the torus 2(N-1)/N n = n.
  double ring = predictAnalytic("ring", 2, 2, bytes, m), torus = predictAnalytic("torus2d", 2, 2, bytes, m);
  EXPECT_NEAR(ring / torus, 1.5, 0.1);
  // One rank per node: the same algorithm.
  EXPECT_NEAR(predictAnalytic("ring", 4, 1, bytes, m) / predictAnalytic("torus2d", 4, 1, bytes, m), 1.0, 0.02);
  // Tiny messages: latency rules, recursive doubling's log2(p) rounds win.
  EXPECT_LT(predictAnalytic("rd", 8, 8, 8, m), predictAnalytic("ring", 8, 8, 8, m));
}

TEST(Timing, MismatchedPlansAreReported) {
  CollArgs a = allReduce(2, 2, 1 << 20, "ring");
  auto r = predictByPlans(a, {0, 0, 1}, LinkModel{});
  EXPECT_FALSE(r.isOk());
}

}  // namespace
}  // namespace torc::algos
