// Multi-process loopback tests: real processes, real UCX, p = 1..8, every dtype x op, sizes
// 0, 1, p-1, p+1, 17 and a prime near one million, in-place and out-of-place.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>

#include <chrono>
#include <cstring>
#include <map>
#include <thread>

#include "tests/harness/multiproc.h"

namespace torc::test {
namespace {

constexpr const char* kBig = "1000003";

std::string worker() { return binPath("tests/loopback/coll_worker"); }

struct SuiteCase {
  int p;
  const char* suite;
};

class Collectives : public ::testing::TestWithParam<SuiteCase> {};

TEST_P(Collectives, EveryRankCorrectAndIdentical) {
  const SuiteCase c = GetParam();
  JobOptions o;
  o.deadlineSec = 600;
  auto res = runJob(worker(), {c.suite, kBig}, c.p, o);
  for (auto& r : res) ASSERT_EQ(r.exitCode, 0) << describe(res);
}

std::vector<SuiteCase> suiteCases() {
  std::vector<SuiteCase> out;
  for (int p : {1, 2, 3, 4, 5, 8})
    for (const char* s : {"allreduce", "allgather", "reducescatter", "rooted", "p2p", "floats", "sparse", "topk"})
      out.push_back({p, s});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Loopback, Collectives, ::testing::ValuesIn(suiteCases()), [](const auto& info) {
  return std::string(info.param.suite) + "_p" + std::to_string(info.param.p);
});

// auto picks recursive doubling for small all-reduces and direct for large ones on one node,
// so force each of the others over every size, dtype, op and layout too.
void allReduceForced(const char* algo, std::map<std::string, std::string> env, std::vector<int> ranks) {
  for (int p : ranks) {
    JobOptions o;
    o.env = env;
    o.env["TORC_ALGO"] = algo;
    o.deadlineSec = 600;
    auto res = runJob(worker(), {"allreduce", kBig}, p, o);
    for (auto& r : res) ASSERT_EQ(r.exitCode, 0) << algo << " p " << p << describe(res);
  }
}

TEST(Forced, DirectAllReduceEverySize) {
  allReduceForced("direct", {{"TORC_DIRECT_CHUNK_BYTES", "4096"}}, {2, 3, 4});  // many, uneven chunks
}

TEST(Forced, RingAllReduceEverySize) { allReduceForced("ring", {}, {3, 4}); }

TEST(Forced, Torus2dAllReduceEverySize) {
  // Rows of pretend nodes (the default grid), a grid given on one node, and nodes of unequal
  // size (no grid: ring, correct all the same).
  allReduceForced("torus2d", {{"TORC_TEST_PRETEND_NODES", "2"}}, {4});
  allReduceForced("torus2d", {{"TORC_TORUS_DIMS", "3x2"}}, {6});
  allReduceForced("torus2d", {{"TORC_TEST_PRETEND_NODES", "3"}}, {5});
}

TEST(Forced, StagedAllReduceEverySize) {
  // Page-sized chunks: many per call, every staging slot reused many times; non-temporal stores
  // from the smallest size.
  allReduceForced("staged", {{"TORC_DIRECT_CHUNK_BYTES", "4096"}, {"TORC_STAGED_MIN_BYTES", "0"}}, {2, 3, 4});
}

// Small collectives go through the shared-memory segment by default: run the transport's
// algorithms over the small sizes too, and the one-shot path over large ones.
TEST(Forced, EveryCollectiveWithoutSharedMemory) {
  for (const char* suite : {"allreduce", "allgather", "reducescatter", "rooted"}) {
    JobOptions o;
    o.env["TORC_SHM"] = "0";
    o.deadlineSec = 600;
    auto res = runJob(worker(), {suite, "1003"}, 3, o);
    for (auto& r : res) ASSERT_EQ(r.exitCode, 0) << suite << describe(res);
  }
}

// torcTopkSum's routes give the same bits: force each over the whole top-k suite (auto mixes
// them by size).
TEST(Forced, TopkSumRoutes) {
  for (const char* route : {"gather", "split"})
    for (int p : {2, 3, 5}) {
      JobOptions o;
      o.env["TORC_TOPK_ROUTE"] = route;
      o.env["TORC_TEST_TOPK_MODES"] = "sum";
      o.deadlineSec = 600;
      auto res = runJob(worker(), {"topk", kBig}, p, o);
      for (auto& r : res) ASSERT_EQ(r.exitCode, 0) << route << " p " << p << describe(res);
    }
}

// The hierarchical mode on ranks that pretend to sit on nodes of 2 or 3 (and on 5 ranks in
// nodes of 2, which it must refuse alike everywhere).
TEST(Forced, TopkHierarchicalOnPretendNodes) {
  for (auto [p, perNode] : {std::pair{4, 2}, {6, 3}, {5, 2}}) {
    JobOptions o;
    o.env["TORC_TEST_PRETEND_NODES"] = std::to_string(perNode);
    o.env["TORC_TEST_TOPK_MODES"] = "hier";
    o.deadlineSec = 600;
    auto res = runJob(worker(), {"topk", kBig}, p, o);
    for (auto& r : res) ASSERT_EQ(r.exitCode, 0) << "p " << p << " nodes of " << perNode << describe(res);
  }
}

// Whole calls in one slot, and slots of 4000 bytes: every size above that runs in rounds, with
// a short last one, and non-temporal stores out of place.
TEST(Forced, TwoShotAllReduceEverySize) {
  for (const char* slot : {"8000000", "4000"}) {
    for (int p : {2, 3, 5}) {
      for (const char* suite : {"allreduce", "floats"}) {
        JobOptions o;
        o.env["TORC_SHM_SLOT_BYTES"] = slot;
        o.env["TORC_STAGED_MIN_BYTES"] = slot[0] == '4' ? "0" : "1000000000";
        o.env["TORC_ALGO"] = "twoshot";
        o.deadlineSec = 600;
        auto res = runJob(worker(), {suite, "100003"}, p, o);
        for (auto& r : res) ASSERT_EQ(r.exitCode, 0) << suite << " p " << p << " slot " << slot << describe(res);
      }
    }
  }
}

TEST(Forced, EveryCollectiveOneShotWithLargeSlots) {
  for (const char* suite : {"allreduce", "allgather", "reducescatter", "rooted", "floats"}) {
    JobOptions o;
    o.env["TORC_SHM_SLOT_BYTES"] = "8000000";
    o.env["TORC_ONESHOT_MAX_BYTES"] = "8000000";
    o.env["TORC_ALGO"] = "oneshot";
    o.deadlineSec = 600;
    auto res = runJob(worker(), {suite, "100003"}, 4, o);
    for (auto& r : res) ASSERT_EQ(r.exitCode, 0) << suite << describe(res);
  }
}

TEST(Split, ParityHalvesNestedSingletonsAndNoColor) {
  for (int p : {1, 2, 5}) {
    JobOptions o;
    o.deadlineSec = 120;
    auto res = runJob(binPath("tests/loopback/split_worker"), {}, p, o);
    for (auto& r : res) ASSERT_EQ(r.exitCode, 0) << "p " << p << describe(res);
  }
}

TEST(Async, RequestsInFlightOrderedWithBlockingCalls) {
  for (int p : {1, 2, 3, 4}) {
    JobOptions o;
    o.deadlineSec = 180;
    auto res = runJob(binPath("tests/loopback/async_worker"), {}, p, o);
    for (auto& r : res) ASSERT_EQ(r.exitCode, 0) << "p " << p << describe(res);
  }
}

TEST(Fusion, BucketsMixedPrecisionOverflowAndMisuse) {
  for (int p : {1, 2, 3, 5, 8}) {
    JobOptions o;
    o.deadlineSec = 300;
    auto res = runJob(binPath("tests/loopback/fusion_worker"), {}, p, o);
    for (auto& r : res) ASSERT_EQ(r.exitCode, 0) << "p " << p << describe(res);
  }
}

TEST(Fusion, OverTheTransportPacked) {
  JobOptions o;
  o.env["TORC_SHM"] = "0";
  o.env["TORC_FUSION_PACK"] = "always";  // as between nodes
  o.deadlineSec = 300;
  auto res = runJob(binPath("tests/loopback/fusion_worker"), {}, 3, o);
  for (auto& r : res) ASSERT_EQ(r.exitCode, 0) << describe(res);
}

TEST(Split, ByNode) {
  JobOptions o;
  o.deadlineSec = 120;
  auto res = runJob(binPath("tests/loopback/split_worker"), {"bynode"}, 4, o);
  for (auto& r : res) ASSERT_EQ(r.exitCode, 0) << describe(res);
}

TEST(Launchers, TorchrunAndOpenMpiVariables) {
  for (Launcher l : {Launcher::kTorchrun, Launcher::kOpenMpi}) {
    JobOptions o;
    o.launcher = l;
    o.deadlineSec = 120;
    auto res = runJob(worker(), {"p2p"}, 3, o);
    for (auto& r : res) ASSERT_EQ(r.exitCode, 0) << describe(res);
  }
}

// Without an RDMA port, TORC_TRANSPORT=auto says why not verbs and runs over UCX, and
// TORC_TRANSPORT=verbs fails init on every rank, naming the reason.
TEST(Transport, AutoFallsBackToUcxAndForcedVerbsFailsWithoutRdma) {
  JobOptions o;
  o.deadlineSec = 120;
  o.env["TORC_DEBUG"] = "INFO";
  o.env["TORC_DEBUG_SUBSYS"] = "INIT";
  auto res = runJob(worker(), {"p2p", "100"}, 2, o);
  for (auto& r : res) ASSERT_EQ(r.exitCode, 0) << describe(res);
  if (res[0].err.find("transport verbs") != std::string::npos) GTEST_SKIP() << "this machine has an RDMA port";
  for (auto& r : res) {
    EXPECT_NE(r.err.find("INFO TORC_TRANSPORT=auto: UCX (verbs: "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("transport ucx"), std::string::npos) << r.err;
  }

  o.env["TORC_TRANSPORT"] = "verbs";
  o.env["TORC_TIMEOUT"] = "10";
  o.deadlineSec = 60;
  res = runJob(worker(), {"p2p", "100"}, 2, o);
  for (auto& r : res) {
    EXPECT_EQ(r.exitCode, 3) << describe(res);
    EXPECT_NE(r.err.find("TORC_TRANSPORT=verbs: "), std::string::npos) << r.err;
    EXPECT_FALSE(r.timedOut);
  }
}

// Large all-reduces run over peers' memory (direct, or staged through shared memory), small
// ones through shared memory (one-shot).
struct DeadPeerCase {
  const char* count;
  const char* algo;
  bool async = false;  // the all-reduces as asynchronous requests, three in flight
};
class DeadPeer : public ::testing::TestWithParam<DeadPeerCase> {};

TEST_P(DeadPeer, GivesAnErrorWithinTheTimeout) {
  JobOptions o;
  o.env["TORC_TIMEOUT"] = "8";
  o.env["TORC_ALGO"] = GetParam().algo;
  if (GetParam().async) o.env["TORC_TEST_ASYNC"] = "1";
  o.deadlineSec = 60;
  auto start = std::chrono::steady_clock::now();
  auto res = runJob(worker(), {"die", GetParam().count}, 3, o);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(res[1].exitCode, 128 + SIGALRM) << describe(res);
  for (int r : {0, 2}) {
    EXPECT_EQ(res[static_cast<size_t>(r)].exitCode, 0) << describe(res);
    EXPECT_NE(res[static_cast<size_t>(r)].out.find("result "), std::string::npos) << describe(res);
    EXPECT_EQ(res[static_cast<size_t>(r)].out.find("result 0 "), std::string::npos) << describe(res);
    EXPECT_EQ(res[static_cast<size_t>(r)].out.find("async 0"), std::string::npos) << describe(res);
  }
  EXPECT_LT(secs, 8 + 10) << "survivors took longer than TORC_TIMEOUT to fail";
}

INSTANTIATE_TEST_SUITE_P(Failures, DeadPeer,
                         ::testing::Values(DeadPeerCase{"4194304", "auto"}, DeadPeerCase{"4194304", "staged"},
                                           DeadPeerCase{"4194304", "twoshot"}, DeadPeerCase{"16", "auto"},
                                           DeadPeerCase{"4194304", "auto", true}, DeadPeerCase{"16", "auto", true}),
                         [](const auto& info) {
                           return std::string(info.param.count[0] == '4' ? "Large_" : "Small_") + info.param.algo +
                                  (info.param.async ? "_async" : "");
                         });

// A receive from a rank that never sends, and a small all-reduce it never joins.
class SilentPeer : public ::testing::TestWithParam<const char*> {};

TEST_P(SilentPeer, TimesOutAndAbortUnblocksAnotherThread) {
  JobOptions o;
  o.env["TORC_TIMEOUT"] = "2";
  o.deadlineSec = 25;
  auto start = std::chrono::steady_clock::now();
  auto res = runJob(worker(), {"hang", GetParam()}, 3, o);
  EXPECT_EQ(res[0].exitCode, 0) << describe(res);
  EXPECT_NE(res[0].out.find("result 8 timeout"), std::string::npos) << describe(res);
  EXPECT_NE(res[0].out.find("waiting for rank 1"), std::string::npos) << describe(res);
  EXPECT_EQ(res[2].exitCode, 0) << describe(res);
  EXPECT_NE(res[2].out.find("result 5 invalid usage"), std::string::npos) << describe(res);
  for (auto& r : res) EXPECT_FALSE(r.timedOut) << describe(res);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 15);
}

INSTANTIATE_TEST_SUITE_P(Failures, SilentPeer, ::testing::Values("0", "3"),
                         [](const auto& info) { return std::string(info.param[0] == '0' ? "Recv" : "AllReduce"); });

TEST(Failures, WrongSecretIsDroppedAndTheRendezvousGoesOn) {
  JobOptions o;
  o.env["TORC_DEBUG"] = "WARN";
  o.lateRanks = {1};
  o.beforeLateRanks = [](const std::string& rootAddr) {
    // Rank 0 is up; connect to its rendezvous as a stranger with the wrong secret.
    int port = std::stoi(rootAddr.substr(rootAddr.rfind(':') + 1));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int attempt = 0; attempt < 500; ++attempt) {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0) {
        char hello[64];
        memset(hello, 0x42, sizeof(hello));  // right size, wrong magic and secret
        ASSERT_EQ(write(fd, hello, sizeof(hello)), static_cast<ssize_t>(sizeof(hello)));
        char buf[16];
        (void)!read(fd, buf, sizeof(buf));  // the root closes on us
        close(fd);
        return;
      }
      close(fd);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL() << "could not reach rank 0's rendezvous";
  };
  auto res = runJob(worker(), {"allreduce"}, 2, o);
  for (auto& r : res) EXPECT_EQ(r.exitCode, 0) << describe(res);
  EXPECT_NE(res[0].err.find("did not present the secret"), std::string::npos) << describe(res);
}

TEST(Failures, MissingRankIsNamedAtTheTimeout) {
  JobOptions o;
  o.env["TORC_TIMEOUT"] = "3";
  o.skipRanks = {2};
  o.deadlineSec = 30;
  auto res = runJob(worker(), {"allreduce"}, 3, o);
  for (int r : {0, 1}) {
    EXPECT_NE(res[static_cast<size_t>(r)].exitCode, 0) << describe(res);
    EXPECT_FALSE(res[static_cast<size_t>(r)].timedOut) << describe(res);
    EXPECT_NE(res[static_cast<size_t>(r)].err.find("ranks 2 did not arrive"), std::string::npos) << describe(res);
    EXPECT_NE(res[static_cast<size_t>(r)].err.find("timeout"), std::string::npos) << describe(res);
  }
}

}  // namespace
}  // namespace torc::test
