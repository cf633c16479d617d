// hwloc discovery on this machine, the descriptor's round trip, and grouping ranks into nodes.
#include <gtest/gtest.h>

#include <set>

#include "src/core/comm.h"
#include "src/topology/local_topology.h"

namespace torc {
namespace {

TEST(LocalTopology, DiscoversThisMachine) {
  auto t = topology::discoverLocal();
  ASSERT_TRUE(t.isOk()) << t.status().toString();
  const auto& lt = t.value();
  EXPECT_GE(lt.packages, 1);
  EXPECT_GE(lt.numaNodes, 1);
  EXPECT_GE(lt.cores, 1);
  EXPECT_GE(lt.pus, lt.cores);
  EXPECT_FALSE(lt.boundCpus.empty());
  EXPECT_EQ(lt.hops.size(), lt.devices.size());
  for (size_t i = 0; i < lt.devices.size(); ++i) {
    EXPECT_NE(lt.devices[i].name, "lo") << "loopback is not a NIC";
    if (!lt.devices[i].pciBus.empty()) {
      EXPECT_EQ(lt.hops[i][i], 0) << lt.devices[i].name;
    }
  }
  EXPECT_NE(lt.toText().find("core(s)"), std::string::npos);
  EXPECT_EQ(lt.toJson().front(), '{');
}

TEST(LocalTopology, SerializesLosslessly) {
  topology::LocalTopology t;
  t.host = "h\"1";
  t.packages = 2;
  t.numaNodes = 4;
  t.cores = 64;
  t.pus = 128;
  t.boundCpus = "0-3,8";
  t.devices = {{"mlx5_0", "rdma", "0000:17:00.0", -1, "0-31"}, {"eth0", "net", "", 25000, ""}};
  t.hops = {{0, 3}, {3, 0}};
  auto back = topology::LocalTopology::deserialize(t.serialize());
  ASSERT_TRUE(back.isOk());
  EXPECT_EQ(back.value().toJson(), t.toJson());
  EXPECT_NE(t.toJson().find("\"h\\\"1\""), std::string::npos) << "quotes are escaped";
  auto bytes = t.serialize();
  bytes.resize(bytes.size() - 3);
  EXPECT_FALSE(topology::LocalTopology::deserialize(bytes).isOk()) << "truncated";
}

// The machine's CPUs are the union of its ranks' bindings (the spin/yield decision counts them).
TEST(LocalTopology, CpuListsAddUp) {
  std::set<int> cpus;
  EXPECT_TRUE(topology::addCpuList("0-3,8,10-11", &cpus));
  EXPECT_EQ(cpus, (std::set<int>{0, 1, 2, 3, 8, 10, 11}));
  EXPECT_TRUE(topology::addCpuList("2-4", &cpus));  // overlapping lists count a CPU once
  EXPECT_EQ(cpus.size(), 8u);
  for (const char* bad : {"", "3-1", "a", "1,", "1-", "-1", "0-3,x"}) {
    std::set<int> none{42};
    EXPECT_FALSE(topology::addCpuList(bad, &none)) << bad;
    EXPECT_EQ(none, std::set<int>{42}) << bad;
  }
}

TEST(Grouping, NodesNumberedByLowestRankAndRingCrossesEachOnce) {
  // Ranks 0, 2, 4 on node a; 1, 3 on node b; 5 on node c.
  std::vector<std::string> ids = {"a", "b", "a", "b", "a", "c"};
  auto g = core::groupRanks(ids, 3);
  EXPECT_EQ(g.nodes, 3);
  EXPECT_EQ(g.node, 1);
  EXPECT_EQ(g.localRank, 1);
  EXPECT_EQ(g.localRanks, 2);
  EXPECT_EQ(g.nodeOf, (std::vector<int>{0, 1, 0, 1, 0, 2}));
  EXPECT_EQ(g.ringOrder, (std::vector<int>{0, 2, 4, 1, 3, 5}));
  EXPECT_EQ(g.describe(), "3 nodes: node 0 = ranks 0,2,4; node 1 = ranks 1,3; node 2 = ranks 5");
  auto one = core::groupRanks({"x"}, 0);
  EXPECT_EQ(one.nodes, 1);
  EXPECT_EQ(one.localRanks, 1);
  EXPECT_EQ(one.ringOrder, std::vector<int>{0});
}

}  // namespace
}  // namespace torc
