// The verbs transport where there is no RDMA device (as on the development machine): the probe
// finds no active port and says why, creating the transport fails with a Status, and the
// communicator's choice falls back to UCX under auto and fails clearly under verbs. Also what
// decides around it without a device: auto's choice against UCX's own RDMA transports, which
// devices and ports are usable, and the bootstrap barrier ranks pass after connecting.
#include "src/transport/verbs/verbs_transport.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "src/base/param.h"
#include "src/core/bootstrap.h"
#include "src/core/comm.h"
#include "src/core/transport_choice.h"
#include "src/transport/ucx/ucx_rdma_probe.h"
#include "torc_config.h"
#if TORC_HAVE_IBVERBS
#include "src/transport/verbs/ibv_symbols.h"
#include "src/transport/verbs/verbs_device.h"
#endif

namespace torc {
namespace {

bool activeVerbsPort(std::string* why) {
  for (const auto& p : transport::probeVerbsDevices(why))
    if (p.usable) return true;
  return false;
}

TEST(VerbsTransport, ProbeWithoutDeviceSaysWhyAndCreateFailsCleanly) {
  std::string why;
  if (activeVerbsPort(&why)) GTEST_SKIP() << "this machine has an ACTIVE RDMA port";
  EXPECT_FALSE(why.empty());
  auto t = transport::createVerbsTransport(transport::TransportOptions{0, 2});
  ASSERT_FALSE(t.isOk());
  EXPECT_EQ(t.status().code(), Code::kSystemError);
  EXPECT_FALSE(t.status().message().empty());
  // Twice: the library is loaded once, and failing leaves nothing behind that breaks a retry.
  auto again = transport::createVerbsTransport(transport::TransportOptions{1, 2});
  ASSERT_FALSE(again.isOk());
  EXPECT_EQ(again.status().message(), t.status().message());
}

#if TORC_HAVE_IBVERBS
TEST(VerbsTransport, MissingLibraryIsNamed) {
  transport::verbs::IbvSymbols s{};
  Status st = transport::verbs::loadIbvSymbolsFrom("libtorc-no-such-library.so.1", &s);
  ASSERT_FALSE(st.isOk());
  EXPECT_EQ(st.code(), Code::kSystemError);
  EXPECT_NE(st.message().find("cannot load libtorc-no-such-library.so.1"), std::string::npos) << st.message();
  EXPECT_EQ(s.getDeviceList, nullptr);
}

TEST(VerbsTransport, EverySymbolResolvesWhereLibibverbsIsInstalled) {
  auto loaded = transport::verbs::loadIbvSymbols();
  if (!loaded.isOk()) GTEST_SKIP() << loaded.status().message();
  const transport::verbs::IbvSymbols* s = loaded.value();
  EXPECT_NE(s->getDeviceList, nullptr);
  EXPECT_NE(s->queryPortCompat, nullptr);
  EXPECT_NE(s->regMr, nullptr);
  EXPECT_NE(s->deregMr, nullptr);
  EXPECT_NE(s->modifyQp, nullptr);
  EXPECT_STREQ(s->statusText(IBV_WC_SUCCESS), "success");
}

// iWARP, usNIC and EFA devices have ACTIVE ports too, but not the RC queue pairs with RDMA
// writes with immediate this transport brings up; RoCE reports InfiniBand's transport.
TEST(VerbsTransport, OnlyInfiniBandTransportDevicesAndKnownLinkLayersAreUsable) {
  using namespace transport::verbs;
  EXPECT_EQ(transportTypeProblem(IBV_TRANSPORT_IB), nullptr);
  for (int t : {int{IBV_TRANSPORT_IWARP}, int{IBV_TRANSPORT_USNIC}, int{IBV_TRANSPORT_USNIC_UDP},
                int{IBV_TRANSPORT_UNSPECIFIED}, int{IBV_TRANSPORT_UNKNOWN}, 42})
    EXPECT_NE(transportTypeProblem(t), nullptr) << t;
  EXPECT_NE(std::string(transportTypeProblem(IBV_TRANSPORT_IWARP)).find("iWARP"), std::string::npos);
  EXPECT_EQ(linkLayerProblem(IBV_LINK_LAYER_INFINIBAND), nullptr);
  EXPECT_EQ(linkLayerProblem(IBV_LINK_LAYER_ETHERNET), nullptr);
  EXPECT_NE(linkLayerProblem(IBV_LINK_LAYER_UNSPECIFIED), nullptr);
  EXPECT_STREQ(linkLayerName(IBV_LINK_LAYER_UNSPECIFIED), "unspecified");
}
#endif

transport::VerbsDeviceInfo port(const char* device, bool active, bool usable) {
  transport::VerbsDeviceInfo d;
  d.device = device;
  d.port = 1;
  d.active = active;
  d.usable = usable;
  return d;
}

TEST(VerbsTransport, AutoPicksVerbsOnlyWhereUcxHasNoRdmaOfItsOwn) {
  // No device: UCX, saying why.
  auto c = core::decideAutoTransport({}, "no RDMA device found", false, "");
  EXPECT_FALSE(c.verbs);
  EXPECT_NE(c.why.find("no RDMA device found"), std::string::npos) << c.why;
  // Only a port that is ACTIVE but not usable (an iWARP device): UCX.
  c = core::decideAutoTransport({port("irdma0", true, false)}, "no usable ACTIVE RDMA port (irdma0 ...)", false,
                                "no rc/dc transport");
  EXPECT_FALSE(c.verbs);
  // A usable port that UCX drives itself: UCX, naming its transports.
  c = core::decideAutoTransport({port("mlx5_0", true, true)}, "", true, "rc_mlx5/mlx5_0:1");
  EXPECT_FALSE(c.verbs);
  EXPECT_NE(c.why.find("rc_mlx5/mlx5_0:1"), std::string::npos) << c.why;
  EXPECT_NE(c.why.find("TORC_TRANSPORT=verbs"), std::string::npos) << c.why;
  // A usable port, and a UCX without RDMA: verbs.
  c = core::decideAutoTransport({port("mlx5_0", false, false), port("mlx5_1", true, true)}, "", false,
                                "this UCX has no InfiniBand component");
  EXPECT_TRUE(c.verbs);
  EXPECT_NE(c.why.find("mlx5_1 port 1"), std::string::npos) << c.why;
  EXPECT_EQ(c.why.find("mlx5_0"), std::string::npos) << c.why;
  EXPECT_NE(c.why.find("no InfiniBand component"), std::string::npos) << c.why;
}

TEST(VerbsTransport, UcxRdmaProbeAnswersWithoutADevice) {
  const transport::UcxRdmaInfo u = transport::probeUcxRdma();
  EXPECT_FALSE(u.detail.empty());
  std::string why;
  if (activeVerbsPort(&why)) GTEST_SKIP() << "this machine has an ACTIVE RDMA port; UCX: " << u.detail;
  EXPECT_FALSE(u.rdma) << u.detail;
  // Twice: nothing left behind breaks a second probe.
  EXPECT_EQ(transport::probeUcxRdma().detail, u.detail);
}

// ---------------------------------------------------------------- the bootstrap barrier

core::RootInfo startLocalRoot(double timeoutSec) {
  core::RootInfo root;
  root.secret = core::randomSecret();
  auto addr = parseHostPort("127.0.0.1:1");
  EXPECT_TRUE(addr.isOk()) << addr.status().toString();
  addr.value().setPort(0);  // any free port
  auto started = core::startRoot(addr.value(), addr.value(), root.secret, timeoutSec, false);
  EXPECT_TRUE(started.isOk()) << started.status().toString();
  root.addr = started.value();
  return root;
}

// Ranks that connect eagerly pass the barrier only once every rank has come to it.
TEST(BootstrapBarrier, ReleasesNobodyBeforeEveryRankHasCome) {
  constexpr int kRanks = 3;
  const core::RootInfo root = startLocalRoot(20);
  std::vector<Status> st(kRanks);
  std::vector<std::chrono::steady_clock::time_point> passed(kRanks);
  std::chrono::steady_clock::time_point lastCame;
  std::vector<std::thread> ranks;
  for (int r = 0; r < kRanks; ++r)
    ranks.emplace_back([&, r] {
      Socket link;
      auto table = core::rendezvous(root, r, kRanks, core::Blob{static_cast<uint8_t>(r)}, 20, &link);
      if (!table.isOk()) {
        st[static_cast<size_t>(r)] = table.status();
        return;
      }
      if (r == kRanks - 1) {  // the last rank is slow to connect its peers
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        lastCame = std::chrono::steady_clock::now();
      }
      st[static_cast<size_t>(r)] = core::bootstrapBarrier(link, r, 20);
      passed[static_cast<size_t>(r)] = std::chrono::steady_clock::now();
    });
  for (auto& t : ranks) t.join();
  for (int r = 0; r < kRanks; ++r) {
    ASSERT_TRUE(st[static_cast<size_t>(r)].isOk()) << r << ": " << st[static_cast<size_t>(r)].toString();
    EXPECT_GE(passed[static_cast<size_t>(r)], lastCame) << r;
  }
}

// A rank whose init fails after the table closes its connection: the others are told at once
// which rank, instead of waiting for the timeout. Ranks that want no barrier just close.
TEST(BootstrapBarrier, ARankThatLeavesFailsTheOthersQuickly) {
  constexpr int kRanks = 3;
  const core::RootInfo root = startLocalRoot(20);
  std::vector<Status> st(kRanks);
  std::vector<std::thread> ranks;
  const auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < kRanks; ++r)
    ranks.emplace_back([&, r] {
      Socket link;
      auto table = core::rendezvous(root, r, kRanks, core::Blob{}, 20, r == 1 ? nullptr : &link);
      if (!table.isOk()) {
        st[static_cast<size_t>(r)] = table.status();
        return;
      }
      if (r != 1) st[static_cast<size_t>(r)] = core::bootstrapBarrier(link, r, 20);
    });
  for (auto& t : ranks) t.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_TRUE(st[1].isOk());
  for (int r : {0, 2}) {
    const Status& s = st[static_cast<size_t>(r)];
    ASSERT_FALSE(s.isOk()) << r;
    EXPECT_NE(s.message().find("rank 1 left before the barrier"), std::string::npos) << s.message();
  }
  // And a rendezvous where nobody wants the barrier leaves no one waiting.
  const core::RootInfo plain = startLocalRoot(20);
  std::vector<std::thread> more;
  std::vector<bool> ok(kRanks, false);
  for (int r = 0; r < kRanks; ++r)
    more.emplace_back([&, r] { ok[static_cast<size_t>(r)] = core::rendezvous(plain, r, kRanks, {}, 20).isOk(); });
  for (auto& t : more) t.join();
  EXPECT_EQ(ok, std::vector<bool>(kRanks, true));
}

TEST(VerbsTransport, ChoiceFallsBackToUcxUnderAutoAndFailsUnderVerbs) {
  std::string why;
  if (activeVerbsPort(&why)) GTEST_SKIP() << "this machine has an ACTIVE RDMA port";
  {
    ScopedParamOverride o("TORC_TRANSPORT", "auto");
    auto t = core::createTransport(transport::TransportOptions{0, 1});
    ASSERT_TRUE(t.isOk()) << t.status().toString();
    EXPECT_STREQ(t.value()->name(), "ucx");
    EXPECT_FALSE(t.value()->wantsEagerConnect());
  }
  {
    ScopedParamOverride o("TORC_TRANSPORT", "verbs");
    auto t = core::createTransport(transport::TransportOptions{0, 1});
    ASSERT_FALSE(t.isOk());
    EXPECT_EQ(t.status().code(), Code::kSystemError);
    EXPECT_EQ(t.status().message().rfind("TORC_TRANSPORT=verbs: ", 0), 0u) << t.status().message();
  }
  {
    ScopedParamOverride o("TORC_TRANSPORT", "ucx");
    auto t = core::createTransport(transport::TransportOptions{0, 1});
    ASSERT_TRUE(t.isOk());
    EXPECT_STREQ(t.value()->name(), "ucx");
  }
  ParamBase* p = findParam("TORC_TRANSPORT");
  ASSERT_NE(p, nullptr);
  EXPECT_STREQ(p->choices(), "auto|ucx|verbs");
  EXPECT_FALSE(p->overrideText("rdma"));
}

TEST(VerbsTransport, RanksMustAgreeOnTheTransport) {
  std::vector<core::PeerInfo> peers(3);
  for (auto& p : peers) p.transport = "ucx";
  EXPECT_TRUE(core::checkSameTransport(peers).isOk());
  peers[2].transport = "verbs";
  Status st = core::checkSameTransport(peers);
  EXPECT_EQ(st.code(), Code::kInvalidUsage);
  EXPECT_NE(st.message().find("rank 0 uses ucx, rank 2 uses verbs"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace torc
