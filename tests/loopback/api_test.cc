// The C API in one process: torcCommInitAll (ranks as threads over UCX), argument validation
// on every entry point, and that a rejected call leaves the communicator usable.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include "include/torc.h"

namespace {

// Runs fn(rank, comm) on one thread per rank.
void onEveryRank(std::vector<torcComm_t>& comms, const std::function<void(int, torcComm_t)>& fn) {
  std::vector<std::thread> ts;
  for (size_t r = 0; r < comms.size(); ++r) ts.emplace_back([&, r] { fn(static_cast<int>(r), comms[r]); });
  for (auto& t : ts) t.join();
}

TEST(Api, InitAllRanksAsThreads) {
  std::vector<torcComm_t> comms(4);
  ASSERT_EQ(torcCommInitAll(comms.data(), 4, nullptr), torcSuccess) << torcGetLastError(nullptr);
  std::vector<int> ok(4, 0);
  onEveryRank(comms, [&](int r, torcComm_t c) {
    int rank = -1, n = 0;
    ASSERT_EQ(torcCommUserRank(c, &rank), torcSuccess);
    ASSERT_EQ(torcCommCount(c, &n), torcSuccess);
    EXPECT_EQ(rank, r);
    EXPECT_EQ(n, 4);
    std::vector<int32_t> x(1000, r + 1), y(1000, 0);
    ASSERT_EQ(torcAllReduce(x.data(), y.data(), x.size(), torcInt32, torcSum, c, nullptr), torcSuccess);
    for (int32_t v : y) EXPECT_EQ(v, 1 + 2 + 3 + 4);
    ok[static_cast<size_t>(r)] = 1;
  });
  for (int v : ok) EXPECT_EQ(v, 1);
  for (auto c : comms) EXPECT_EQ(torcCommDestroy(c), torcSuccess);
}

class Validation : public ::testing::Test {
 protected:
  void SetUp() override {
    torcUniqueId id;
    ASSERT_EQ(torcGetUniqueId(&id), torcSuccess);
    ASSERT_EQ(torcCommInitRank(&comm_, 1, id, 0), torcSuccess) << torcGetLastError(nullptr);
  }
  void TearDown() override { EXPECT_EQ(torcCommDestroy(comm_), torcSuccess); }

  // The call must fail with `want`, say why, and leave the communicator working.
  void expectRejected(torcResult_t got, torcResult_t want, const char* mentions) {
    EXPECT_EQ(got, want) << torcGetErrorString(got);
    std::string msg = torcGetLastError(comm_);
    EXPECT_NE(msg.find(mentions), std::string::npos) << "message: " << msg;
    float a = 2, b = 0;
    ASSERT_EQ(torcAllReduce(&a, &b, 1, torcFloat32, torcSum, comm_, nullptr), torcSuccess);
    EXPECT_EQ(b, 2);
  }
  torcComm_t comm_ = nullptr;
};

TEST_F(Validation, EveryEntryPointChecksItsArguments) {
  float buf[16] = {0}, out[16] = {0};
  const torcResult_t inval = torcInvalidArgument;
  expectRejected(torcAllReduce(nullptr, out, 4, torcFloat32, torcSum, comm_, nullptr), inval, "sendbuff is NULL");
  expectRejected(torcAllReduce(buf, nullptr, 4, torcFloat32, torcSum, comm_, nullptr), inval, "recvbuff is NULL");
  expectRejected(torcAllReduce(buf, out, 4, static_cast<torcDataType_t>(42), torcSum, comm_, nullptr), inval,
                 "unknown datatype");
  expectRejected(torcAllReduce(buf, out, 4, static_cast<torcDataType_t>(-1), torcSum, comm_, nullptr), inval,
                 "unknown datatype");
  expectRejected(torcAllReduce(buf, out, 4, torcFloat32, static_cast<torcRedOp_t>(9), comm_, nullptr), inval,
                 "unknown reduction op");
  expectRejected(torcAllReduce(buf, out, SIZE_MAX / 2, torcFloat32, torcSum, comm_, nullptr), inval, "overflows");
  expectRejected(torcAllReduce(buf, buf + 1, 4, torcFloat32, torcSum, comm_, nullptr), inval, "overlap");
  expectRejected(torcBroadcast(buf, out, 4, torcFloat32, 1, comm_, nullptr), inval, "root 1 is out of range");
  expectRejected(torcBroadcast(buf, out, 4, torcFloat32, -1, comm_, nullptr), inval, "root -1");
  expectRejected(torcReduce(buf, out, 4, torcFloat32, torcSum, 3, comm_, nullptr), inval, "root 3");
  expectRejected(torcAllGather(buf, nullptr, 4, torcFloat32, comm_, nullptr), inval, "recvbuff is NULL");
  expectRejected(torcAllGather(buf, out, SIZE_MAX / 2, torcInt32, comm_, nullptr), inval, "overflows");
  expectRejected(torcReduceScatter(nullptr, out, 4, torcFloat32, torcSum, comm_, nullptr), inval, "sendbuff");
  expectRejected(torcSend(buf, 4, torcFloat32, 5, comm_, nullptr), inval, "peer 5");
  expectRejected(torcRecv(buf, 4, torcFloat32, -2, comm_, nullptr), inval, "peer -2");
  expectRejected(torcSend(buf, 4, torcFloat32, 0, comm_, nullptr), torcInvalidUsage, "oneself");
  int x;
  expectRejected(torcCommCount(comm_, nullptr), inval, "count is NULL");
  expectRejected(torcCommUserRank(comm_, nullptr), inval, "rank is NULL");
  (void)x;
}

TEST_F(Validation, SparseAllGatherChecksItsArguments) {
  uint32_t idx[4] = {1, 2, 3, 4}, outIdx[8] = {0};
  float val[4] = {1, 2, 3, 4}, outVal[8] = {0};
  const torcResult_t inval = torcInvalidArgument;
  expectRejected(torcSparseAllGather(idx, val, 4, torcInt32, torcFloat32, outIdx, outVal, comm_, nullptr), inval,
                 "index type");
  expectRejected(torcSparseAllGather(idx, val, 4, torcUint32, torcFloat64, outIdx, outVal, comm_, nullptr), inval,
                 "value type");
  expectRejected(torcSparseAllGather(idx, val, 4, torcUint32, static_cast<torcDataType_t>(77), outIdx, outVal, comm_,
                                     nullptr),
                 inval, "value type");
  expectRejected(torcSparseAllGather(nullptr, val, 4, torcUint32, torcFloat32, outIdx, outVal, comm_, nullptr), inval,
                 "sendIndices is NULL");
  expectRejected(torcSparseAllGather(idx, val, 4, torcUint32, torcFloat32, outIdx, nullptr, comm_, nullptr), inval,
                 "recvValues is NULL");
  expectRejected(torcSparseAllGather(idx, val, 4, torcUint32, torcFloat32, outIdx, outIdx + 2, comm_, nullptr), inval,
                 "overlap");
  expectRejected(torcSparseAllGather(idx, val, 4, torcUint32, torcFloat32, idx, outVal, comm_, nullptr), inval,
                 "overlaps a receive buffer");
  expectRejected(torcSparseAllGather(idx, val, SIZE_MAX / 4, torcInt64, torcFloat32, outIdx, outVal, comm_, nullptr),
                 inval, "overflows");
  EXPECT_EQ(torcSparseAllGather(nullptr, nullptr, 0, torcUint32, torcFloat32, nullptr, nullptr, comm_, nullptr),
            torcSuccess);
  ASSERT_EQ(torcSparseAllGather(idx, val, 4, torcUint32, torcFloat32, outIdx, outVal, comm_, nullptr), torcSuccess);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(outIdx[i], idx[i]);
    EXPECT_EQ(outVal[i], val[i]);
  }
}

TEST_F(Validation, SparseAllReduceChecksItsArguments) {
  float in[8] = {1, -5, 3, 0, 0, 2, -2, 9}, out[8] = {0}, res[8] = {0};
  const torcResult_t inval = torcInvalidArgument;
  expectRejected(torcSparseAllReduce(in, res, out, 8, 2, torcFloat64, torcTopkSum, comm_, nullptr), inval,
                 "takes torcFloat32, torcFloat16 or torcBfloat16");
  expectRejected(torcSparseAllReduce(in, res, out, 8, 9, torcFloat32, torcTopkSum, comm_, nullptr), inval,
                 "larger than count");
  expectRejected(torcSparseAllReduce(in, res, out, 8, 2, torcFloat32, static_cast<torcTopkMode_t>(5), comm_, nullptr),
                 inval, "unknown top-k mode");
  expectRejected(torcSparseAllReduce(in, in + 2, out, 8, 2, torcFloat32, torcTopkSum, comm_, nullptr), inval,
                 "residual overlaps");
  expectRejected(torcSparseAllReduce(in, res, in + 1, 8, 2, torcFloat32, torcTopkSum, comm_, nullptr), inval,
                 "overlap");
  expectRejected(torcSparseAllReduce(nullptr, res, out, 8, 2, torcFloat32, torcTopkSum, comm_, nullptr), inval,
                 "sendbuff is NULL");
  ASSERT_EQ(torcSparseAllReduce(in, res, out, 8, 2, torcFloat32, torcTopkSum, comm_, nullptr), torcSuccess);
  const float want[8] = {0, -5, 0, 0, 0, 0, 0, 9}, left[8] = {1, 0, 3, 0, 0, 2, -2, 0};
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(out[i], want[i]) << i;
    EXPECT_EQ(res[i], left[i]) << i;
  }
}

TEST_F(Validation, SparseAllReducePairsChecksItsArguments) {
  float in[8] = {1, -5, 3, 0, 0, 2, -2, 9}, val[8] = {0}, res[8] = {0};
  uint32_t idx[8] = {0};
  size_t n = 99;
  const torcResult_t inval = torcInvalidArgument;
  auto pairs = [&](const void* send, void* r, size_t k, torcTopkMode_t mode, void* ix, torcDataType_t it, void* v,
                   size_t* cnt) {
    return torcSparseAllReducePairs(send, r, 8, k, torcFloat32, mode, ix, it, v, cnt, comm_, nullptr);
  };
  expectRejected(pairs(in, res, 2, torcTopkSum, idx, torcUint32, val, nullptr), inval, "recvCount is NULL");
  expectRejected(pairs(in, res, 2, torcTopkSum, idx, torcFloat32, val, &n), inval, "index type");
  expectRejected(pairs(in, res, 2, torcTopkSum, idx, torcUint32, idx + 1, &n), inval, "overlap");
  expectRejected(pairs(in, res, 2, torcTopkSum, in + 4, torcUint32, val, &n), inval, "overlaps recvIndices");
  expectRejected(pairs(in, res, 2, torcTopkSum, nullptr, torcUint32, val, &n), inval, "recvIndices is NULL");
  expectRejected(pairs(in, res, 2, static_cast<torcTopkMode_t>(7), idx, torcUint32, val, &n), inval, "unknown");
  EXPECT_EQ(n, 99u);
  ASSERT_EQ(pairs(in, res, 3, torcTopkGlobalExact, idx, torcUint32, val, &n), torcSuccess);
  ASSERT_EQ(n, 3u);
  const uint32_t wantIdx[3] = {1, 2, 7};
  const float wantVal[3] = {-5, 3, 9}, left[8] = {1, 0, 0, 0, 0, 2, -2, 0};
  for (int j = 0; j < 3; ++j) {
    EXPECT_EQ(idx[j], wantIdx[j]) << j;
    EXPECT_EQ(val[j], wantVal[j]) << j;
  }
  for (int i = 0; i < 8; ++i) EXPECT_EQ(res[i], left[i]) << i;
}

TEST_F(Validation, NullCommunicatorAndZeroCounts) {
  float buf[4] = {1, 2, 3, 4};
  EXPECT_EQ(torcAllReduce(buf, buf, 4, torcFloat32, torcSum, nullptr, nullptr), torcInvalidArgument);
  EXPECT_NE(std::string(torcGetLastError(nullptr)).find("comm is NULL"), std::string::npos);
  EXPECT_EQ(torcBarrier(nullptr, nullptr), torcInvalidArgument);
  int n;
  EXPECT_EQ(torcCommCount(nullptr, &n), torcInvalidArgument);
  torcResult_t e;
  EXPECT_EQ(torcCommGetAsyncError(nullptr, &e), torcInvalidArgument);
  // count 0 with NULL buffers is valid.
  EXPECT_EQ(torcAllReduce(nullptr, nullptr, 0, torcFloat32, torcSum, comm_, nullptr), torcSuccess);
  EXPECT_EQ(torcAllGather(nullptr, nullptr, 0, torcFloat32, comm_, nullptr), torcSuccess);
  EXPECT_EQ(torcCommGetAsyncError(comm_, &e), torcSuccess);
  EXPECT_EQ(e, torcSuccess);
}

TEST(Api, InitRejectsBadArguments) {
  torcComm_t c = nullptr;
  torcUniqueId id;
  memset(&id, 0, sizeof(id));
  EXPECT_EQ(torcCommInitRank(&c, 2, id, 0), torcInvalidArgument);
  EXPECT_NE(std::string(torcGetLastError(nullptr)).find("unique id"), std::string::npos);
  ASSERT_EQ(torcGetUniqueId(&id), torcSuccess);
  EXPECT_EQ(torcCommInitRank(nullptr, 2, id, 0), torcInvalidArgument);
  EXPECT_EQ(torcCommInitRank(&c, 0, id, 0), torcInvalidArgument);
  EXPECT_EQ(torcCommInitRank(&c, 2, id, 2), torcInvalidArgument);
  EXPECT_EQ(torcCommInitRank(&c, 2, id, -1), torcInvalidArgument);
  EXPECT_EQ(torcCommInitAll(&c, 0, nullptr), torcInvalidArgument);
  EXPECT_EQ(torcGetUniqueId(nullptr), torcInvalidArgument);
  EXPECT_EQ(torcGetVersion(nullptr), torcInvalidArgument);
  EXPECT_STREQ(torcGetErrorString(torcInvalidArgument), "invalid argument");
  EXPECT_STREQ(torcGetErrorString(static_cast<torcResult_t>(99)), "unknown result code");
  EXPECT_EQ(torcCommDestroy(nullptr), torcSuccess);
}

}  // namespace
