// The device-memory path (src/core/device.h) with a pretend runtime standing in for CUDA, which
// has no device here: its "device" buffers are pages the process cannot touch (PROT_NONE) except
// inside the runtime's own copies, so a collective that reads or writes a device buffer directly
// crashes the test instead of passing. Ranks are threads (torcCommInitAll), results are exact.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "include/torc.h"
#include "src/core/device.h"

namespace torc::core {
namespace {

thread_local std::string tEvents;  // this thread's runtime calls: S sync, H to host, D to device
thread_local int tCurrentDevice = 0;  // this thread's current device
constexpr int kDevice = 3;  // where every pretend device buffer lives

class PretendRuntime final : public DeviceRuntime {
 public:
  ~PretendRuntime() override {
    for (auto& [base, len] : regions_) munmap(reinterpret_cast<void*>(base), len);
  }
  const char* name() const override { return "pretend runtime"; }

  void* allocDevice(size_t bytes) {
    const size_t len = (bytes + 4095) / 4096 * 4096 + 4096;
    void* p = mmap(nullptr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_NE(p, MAP_FAILED);
    std::lock_guard<std::mutex> g(mu_);
    regions_[reinterpret_cast<uintptr_t>(p)] = len;
    return p;
  }
  // Test access to device memory, as cudaMemcpy would be.
  void write(void* dev, const void* src, size_t bytes) { copy(dev, src, bytes, dev); }
  void read(void* dst, const void* dev, size_t bytes) { copy(dst, dev, bytes, dev); }

  Result<int> deviceOf(const void* p) override {
    if (p == failPointer) return errorf(Code::kCudaError, "pretend runtime cannot classify %p", p);
    return regionOf(p) != 0 ? kDevice : -1;
  }
  Result<int> selectDevice(int device) override {
    const int previous = tCurrentDevice;
    tCurrentDevice = device;
    return previous;
  }
  Status syncStream(void* stream) override {
    EXPECT_EQ(stream, expectedStream);
    tEvents += 'S';
    ++syncs;
    return Status::ok();
  }
  Status copyToHost(void* dst, const void* src, size_t bytes, void* stream) override {
    EXPECT_EQ(stream, expectedStream);
    EXPECT_NE(regionOf(src), 0u) << "copy to host from host memory";
    EXPECT_EQ(tCurrentDevice, kDevice) << "the buffers' device is not current";
    tEvents += 'H';
    copy(dst, src, bytes, src);
    return Status::ok();
  }
  Status copyToDevice(void* dst, const void* src, size_t bytes, void* stream) override {
    EXPECT_EQ(stream, expectedStream);
    EXPECT_NE(regionOf(dst), 0u) << "copy to device into host memory";
    EXPECT_EQ(tCurrentDevice, kDevice);
    tEvents += 'D';
    copy(dst, src, bytes, dst);
    return Status::ok();
  }
  Result<void*> allocPinned(size_t bytes) override {
    ++pinnedAllocs;
    return ::operator new(bytes);
  }
  void freePinned(void* p) override {
    ++pinnedFrees;
    ::operator delete(p);
  }

  const void* failPointer = nullptr;
  void* expectedStream = nullptr;
  std::atomic<int> syncs{0}, pinnedAllocs{0}, pinnedFrees{0};

 private:
  uintptr_t regionOf(const void* p, size_t* len = nullptr) {
    std::lock_guard<std::mutex> g(mu_);
    const auto x = reinterpret_cast<uintptr_t>(p);
    auto it = regions_.upper_bound(x);
    if (it == regions_.begin()) return 0;
    --it;
    if (x >= it->first + it->second) return 0;
    if (len != nullptr) *len = it->second;
    return it->first;
  }
  // Opens the device region holding `dev` for the copy only.
  void copy(void* dst, const void* src, size_t bytes, const void* dev) {
    size_t len = 0;
    const uintptr_t base = regionOf(dev, &len);
    ASSERT_NE(base, 0u);
    std::lock_guard<std::mutex> g(copyMu_);
    ASSERT_EQ(mprotect(reinterpret_cast<void*>(base), len, PROT_READ | PROT_WRITE), 0);
    if (bytes > 0) std::memmove(dst, src, bytes);
    ASSERT_EQ(mprotect(reinterpret_cast<void*>(base), len, PROT_NONE), 0);
  }

  std::mutex mu_, copyMu_;
  std::map<uintptr_t, size_t> regions_;
};

class DeviceStagingTest : public ::testing::Test {
 protected:
  static constexpr int kRanks = 3;
  void SetUp() override {
    setDeviceRuntimeForTesting(&rt_);
    comms_.resize(kRanks);
    ASSERT_EQ(torcCommInitAll(comms_.data(), kRanks, nullptr), torcSuccess) << torcGetLastError(nullptr);
  }
  void TearDown() override {
    for (auto c : comms_) EXPECT_EQ(torcCommDestroy(c), torcSuccess);
    setDeviceRuntimeForTesting(nullptr);
    EXPECT_EQ(rt_.pinnedAllocs.load(), rt_.pinnedFrees.load()) << "pinned buffers leaked";
  }
  void onEveryRank(const std::function<void(int, torcComm_t)>& fn) {
    std::vector<std::thread> ts;
    for (int r = 0; r < kRanks; ++r) ts.emplace_back([&, r] { fn(r, comms_[static_cast<size_t>(r)]); });
    for (auto& t : ts) t.join();
  }
  std::vector<int32_t> readBack(const void* dev, size_t n) {
    std::vector<int32_t> v(n);
    rt_.read(v.data(), dev, n * 4);
    return v;
  }
  // A device buffer holding v.
  void* onDevice(const std::vector<int32_t>& v) {
    void* d = rt_.allocDevice(v.size() * 4);
    rt_.write(d, v.data(), v.size() * 4);
    return d;
  }

  PretendRuntime rt_;
  std::vector<torcComm_t> comms_;
};

std::vector<int32_t> pattern(int rank, size_t n, int salt = 0) {
  std::vector<int32_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = int32_t((rank + 1) * 1000003 + int(i) * 7 + salt);
  return v;
}

TEST_F(DeviceStagingTest, AllReduceEveryPlacementAndSize) {
  auto* stream = reinterpret_cast<torcStream_t>(uintptr_t{0x5000});
  rt_.expectedStream = stream;
  for (size_t n : {size_t{0}, size_t{1}, size_t{kRanks + 1}, size_t{1009}, size_t{300007}}) {
    std::vector<int32_t> want(n, 0);
    for (int r = 0; r < kRanks; ++r) {
      auto v = pattern(r, n);
      for (size_t i = 0; i < n; ++i) want[i] = int32_t(uint32_t(want[i]) + uint32_t(v[i]));
    }
    onEveryRank([&](int r, torcComm_t c) {
      const auto in = pattern(r, n);
      // Device to device, out of place.
      void* dIn = onDevice(in);
      void* dOut = onDevice(std::vector<int32_t>(n, -1));
      tEvents.clear();
      ASSERT_EQ(torcAllReduce(dIn, dOut, n, torcInt32, torcSum, c, stream), torcSuccess) << torcGetLastError(c);
      EXPECT_EQ(readBack(dOut, n), want) << "n " << n;
      EXPECT_EQ(readBack(dIn, n), in) << "input changed";
      // Inputs ready, staged, complete; result back, complete.
      if (n > 0) {
        EXPECT_EQ(tEvents, "SHSDS");
      }
      EXPECT_EQ(tCurrentDevice, 0) << "the caller's device was not restored";
      // In place on the device.
      void* dBoth = onDevice(in);
      ASSERT_EQ(torcAllReduce(dBoth, dBoth, n, torcInt32, torcSum, c, stream), torcSuccess) << torcGetLastError(c);
      EXPECT_EQ(readBack(dBoth, n), want);
      // Host input, device output; device input, host output.
      void* dOut2 = onDevice(std::vector<int32_t>(n, -1));
      ASSERT_EQ(torcAllReduce(in.data(), dOut2, n, torcInt32, torcSum, c, stream), torcSuccess);
      EXPECT_EQ(readBack(dOut2, n), want);
      std::vector<int32_t> hOut(n, -1);
      ASSERT_EQ(torcAllReduce(dIn, hOut.data(), n, torcInt32, torcSum, c, stream), torcSuccess);
      EXPECT_EQ(hOut, want);
    });
  }
}

TEST_F(DeviceStagingTest, RootedAndGatheringCollectives) {
  const size_t n = 4099;
  onEveryRank([&](int r, torcComm_t c) {
    // Broadcast from rank 1, in place on the device.
    void* b = onDevice(r == 1 ? pattern(1, n) : std::vector<int32_t>(n, 0));
    ASSERT_EQ(torcBroadcast(b, b, n, torcInt32, 1, c, nullptr), torcSuccess) << torcGetLastError(c);
    EXPECT_EQ(readBack(b, n), pattern(1, n));

    // Reduce (max) to rank 2.
    void* in = onDevice(pattern(r, n));
    void* out = onDevice(std::vector<int32_t>(n, -1));
    ASSERT_EQ(torcReduce(in, out, n, torcInt32, torcMax, 2, c, nullptr), torcSuccess) << torcGetLastError(c);
    EXPECT_EQ(readBack(out, n), r == 2 ? pattern(kRanks - 1, n) : std::vector<int32_t>(n, -1));

    // All-gather, in place: the input is this rank's block of the output.
    std::vector<int32_t> full(n * kRanks, -1), want;
    for (int q = 0; q < kRanks; ++q) {
      auto v = pattern(q, n, 5);
      want.insert(want.end(), v.begin(), v.end());
    }
    std::copy_n(want.begin() + long(n) * r, n, full.begin() + long(n) * r);
    void* g = onDevice(full);
    ASSERT_EQ(torcAllGather(static_cast<int32_t*>(g) + n * size_t(r), g, n, torcInt32, c, nullptr), torcSuccess)
        << torcGetLastError(c);
    EXPECT_EQ(readBack(g, n * kRanks), want);

    // Reduce-scatter, in place: the output is this rank's block of the input.
    std::vector<int32_t> rsIn = pattern(r, n * kRanks, 9), rsWant(n, 0);
    for (int q = 0; q < kRanks; ++q) {
      auto v = pattern(q, n * kRanks, 9);
      for (size_t i = 0; i < n; ++i) rsWant[i] += v[n * size_t(r) + i];
    }
    void* rs = onDevice(rsIn);
    int32_t* rsOut = static_cast<int32_t*>(rs) + n * size_t(r);
    ASSERT_EQ(torcReduceScatter(rs, rsOut, n, torcInt32, torcSum, c, nullptr), torcSuccess) << torcGetLastError(c);
    std::vector<int32_t> got(n);
    rt_.read(got.data(), rsOut, n * 4);
    EXPECT_EQ(got, rsWant);

    // Send and receive between ranks 0 and 1, device to device.
    if (r < 2) {
      void* p2p = onDevice(r == 0 ? pattern(0, n, 3) : std::vector<int32_t>(n, 0));
      if (r == 0) {
        ASSERT_EQ(torcSend(p2p, n, torcInt32, 1, c, nullptr), torcSuccess) << torcGetLastError(c);
      } else {
        ASSERT_EQ(torcRecv(p2p, n, torcInt32, 0, c, nullptr), torcSuccess) << torcGetLastError(c);
        EXPECT_EQ(readBack(p2p, n), pattern(0, n, 3));
      }
    }

    // Asynchronous, on device buffers.
    void* aIn = onDevice(pattern(r, n));
    void* aOut = onDevice(std::vector<int32_t>(n, 0));
    torcRequest_t req = nullptr;
    ASSERT_EQ(torcAllReduceAsync(aIn, aOut, n, torcInt32, torcMin, c, &req), torcSuccess);
    ASSERT_EQ(torcWait(req), torcSuccess) << torcGetLastError(c);
    EXPECT_EQ(readBack(aOut, n), pattern(0, n));
  });
}

// Asynchronous and blocking calls on device memory, interleaved without waiting: the blocking
// call reads what the queued one wrote (call order), and the two never share staging buffers
// at the same time.
TEST_F(DeviceStagingTest, AsyncThenBlockingOnDeviceMemoryKeepsCallOrder) {
  const size_t n = 300007;  // several MiB of staging per call
  onEveryRank([&](int r, torcComm_t c) {
    void* a = onDevice(pattern(r, n));
    void* b = onDevice(std::vector<int32_t>(n, 0));
    void* c2 = onDevice(std::vector<int32_t>(n, 0));
    std::vector<torcRequest_t> reqs(3, nullptr);
    ASSERT_EQ(torcAllReduceAsync(a, b, n, torcInt32, torcSum, c, &reqs[0]), torcSuccess);
    ASSERT_EQ(torcAllReduceAsync(b, b, n, torcInt32, torcMax, c, &reqs[1]), torcSuccess);
    ASSERT_EQ(torcAllReduceAsync(a, c2, n, torcInt32, torcMin, c, &reqs[2]), torcSuccess);
    // Blocking, reading b: after both queued operations on it.
    void* d = onDevice(std::vector<int32_t>(n, 0));
    ASSERT_EQ(torcAllReduce(b, d, n, torcInt32, torcSum, c, nullptr), torcSuccess) << torcGetLastError(c);
    for (auto& q : reqs) ASSERT_EQ(torcWait(q), torcSuccess);
    std::vector<int32_t> sum(n, 0);
    for (int q = 0; q < kRanks; ++q) {
      auto v = pattern(q, n);
      for (size_t i = 0; i < n; ++i) sum[i] += v[i];
    }
    std::vector<int32_t> times(n);
    for (size_t i = 0; i < n; ++i) times[i] = sum[i] * kRanks;
    EXPECT_EQ(readBack(b, n), sum);
    EXPECT_EQ(readBack(d, n), times);
    EXPECT_EQ(readBack(c2, n), pattern(0, n));
  });
}

// A pointer the runtime cannot classify fails the call on that rank with the runtime's message,
// before anything is sent, and leaves its device output untouched; the communicators stay usable.
TEST_F(DeviceStagingTest, RuntimeErrorIsReportedAndOutputUntouched) {
  const size_t n = 64;
  void* bad = rt_.allocDevice(n * 4);
  void* out = onDevice(std::vector<int32_t>(n, 7));
  rt_.failPointer = bad;
  ASSERT_EQ(torcAllReduce(bad, out, n, torcInt32, torcSum, comms_[0], nullptr), torcUnhandledCudaError);
  EXPECT_NE(std::string(torcGetLastError(comms_[0])).find("pretend runtime cannot classify"), std::string::npos)
      << torcGetLastError(comms_[0]);
  EXPECT_EQ(readBack(out, n), std::vector<int32_t>(n, 7));
  // Rank 0 made no call into the collective, so the communicators stay usable.
  rt_.failPointer = nullptr;
  onEveryRank([&](int r, torcComm_t c) {
    std::vector<int32_t> x(n, r), y(n, 0);
    ASSERT_EQ(torcAllReduce(x.data(), y.data(), n, torcInt32, torcSum, c, nullptr), torcSuccess);
    EXPECT_EQ(y, std::vector<int32_t>(n, 0 + 1 + 2));
  });
}

// The calls without a device path refuse device memory with a message, touching nothing.
TEST_F(DeviceStagingTest, HostOnlyCallsRefuseDeviceMemory) {
  const size_t n = 100;
  void* dev = onDevice(std::vector<int32_t>(n, 3));
  std::vector<float> host(n, 1.0f), out(n, 0.0f);
  EXPECT_EQ(torcSparseAllReduce(dev, nullptr, out.data(), n, 5, torcFloat32, torcTopkSum, comms_[0], nullptr),
            torcInvalidArgument);
  EXPECT_NE(std::string(torcGetLastError(comms_[0])).find("sendbuff is device memory"), std::string::npos)
      << torcGetLastError(comms_[0]);
  EXPECT_EQ(torcSparseAllReduce(host.data(), dev, out.data(), n, 5, torcFloat32, torcTopkSum, comms_[0], nullptr),
            torcInvalidArgument);
  EXPECT_NE(std::string(torcGetLastError(comms_[0])).find("residual is device memory"), std::string::npos);
  torcFusion_t f = nullptr;
  ASSERT_EQ(torcFusionCreate(comms_[0], 1 << 20, torcFloat32, torcSum, 0, &f), torcSuccess);
  EXPECT_EQ(torcFusionAdd(f, dev, n, torcFloat32), torcInvalidArgument);
  EXPECT_NE(std::string(torcGetLastError(comms_[0])).find("tensor is device memory"), std::string::npos);
  EXPECT_EQ(torcFusionDestroy(f), torcSuccess);
  EXPECT_EQ(readBack(dev, n), std::vector<int32_t>(n, 3));
}

// Without a test runtime: this machine's answer. A build without CUDA, or a machine without a
// driver or device, has no runtime and says why; host collectives then ignore the stream (a
// bogus one here would crash a CUDA call).
TEST(DeviceRuntimeDefault, NoDeviceHereMeansHostMemoryAndAReason) {
  std::string why;
  DeviceRuntime* rt = deviceRuntime(&why);
  if (rt != nullptr) GTEST_SKIP() << "this machine has a usable CUDA device: " << rt->name();
  EXPECT_FALSE(why.empty());
  torcComm_t comm = nullptr;
  ASSERT_EQ(torcCommInitAll(&comm, 1, nullptr), torcSuccess);
  std::vector<float> x(100, 1.5f), y(100, 0.0f);
  EXPECT_EQ(torcAllReduce(x.data(), y.data(), x.size(), torcFloat32, torcSum, comm,
                          reinterpret_cast<torcStream_t>(uintptr_t{0xdead})),
            torcSuccess);
  EXPECT_EQ(y, x);
  EXPECT_EQ(torcCommDestroy(comm), torcSuccess);
}

}  // namespace
}  // namespace torc::core
