// The verbs transport where there is no RDMA device (as on the development machine): the probe
// finds no active port and says why, creating the transport fails with a Status, and the
// communicator's choice falls back to UCX under auto and fails clearly under verbs.
#include "src/transport/verbs/verbs_transport.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "src/base/param.h"
#include "src/core/comm.h"
#include "src/core/transport_choice.h"
#include "torc_config.h"
#if TORC_HAVE_IBVERBS
#include "src/transport/verbs/ibv_symbols.h"
#endif

namespace torc {
namespace {

bool activeVerbsPort(std::string* why) {
  for (const auto& p : transport::probeVerbsDevices(why))
    if (p.active) return true;
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
#endif

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
