// The shared-memory segment and its futex helpers, and the one-shot mailbox layout on top.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "src/algos/oneshot.h"
#include "src/transport/shm/shm_segment.h"

namespace torc::transport {
namespace {

std::string uniqueName() { return "/torc-test-" + std::to_string(getpid()) + "-" + std::to_string(rand()); }

TEST(ShmSegment, CreateOpenShareAndUnlink) {
  const std::string name = uniqueName();
  auto a = ShmSegment::create(name, 10000);
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  EXPECT_EQ(a.value()->size(), 10000u);
  EXPECT_FALSE(ShmSegment::create(name, 10000).isOk()) << "a second creator must fail";
  auto b = ShmSegment::open(name, 4096);
  ASSERT_TRUE(b.isOk()) << b.status().toString();
  EXPECT_EQ(b.value()->size(), 10000u) << "open maps the whole segment";
  EXPECT_FALSE(ShmSegment::open(name, 20000).isOk()) << "smaller than asked";
  strcpy(a.value()->data() + 5000, "shared");
  EXPECT_STREQ(b.value()->data() + 5000, "shared");
  a.value()->unlink();
  EXPECT_FALSE(ShmSegment::open(name, 1).isOk()) << "the name is gone";
  EXPECT_STREQ(b.value()->data() + 5000, "shared") << "mappings outlive the name";
}

TEST(ShmSegment, OpenMissingIsAnError) {
  auto s = ShmSegment::open(uniqueName(), 1);
  ASSERT_FALSE(s.isOk());
  EXPECT_NE(s.status().message().find("shm_open"), std::string::npos) << s.status().toString();
}

TEST(ShmSegment, FutexWakesASleeperInAnotherProcess) {
  const std::string name = uniqueName();
  auto seg = ShmSegment::create(name, 4096);
  ASSERT_TRUE(seg.isOk());
  auto* word = reinterpret_cast<std::atomic<uint32_t>*>(seg.value()->data());
  pid_t child = fork();
  if (child == 0) {
    // Sleeps in slices until the parent changes the word; exits 0 if it saw the change.
    for (int i = 0; i < 5000 && word->load() == 0; ++i) futexWait(word, 0, 1000000);
    _exit(word->load() == 7 ? 0 : 1);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto start = std::chrono::steady_clock::now();
  word->store(7);
  futexWakeAll(word);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  // Woken, not timed out after its one-second slice.
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 0.9);
}

TEST(OneShotLayout, AttachChecksTheHeader) {
  const size_t bytes = algos::OneShot::segmentBytes(3, 5000);
  EXPECT_GE(bytes, 3u * 2 * 5000);
  std::vector<char> mem(bytes + 4096);
  char* base = mem.data() + (4096 - reinterpret_cast<uintptr_t>(mem.data()) % 4096) % 4096;
  EXPECT_FALSE(algos::OneShot::attach(base, bytes, 0, 3).isOk()) << "unformatted";
  algos::OneShot::format(base, 3, 5000);
  auto os = algos::OneShot::attach(base, bytes, 2, 3);
  ASSERT_TRUE(os.isOk()) << os.status().toString();
  EXPECT_EQ(os.value()->maxBytes(), 5000u);
  EXPECT_FALSE(algos::OneShot::attach(base, bytes, 0, 4).isOk()) << "rank count differs";
  EXPECT_FALSE(algos::OneShot::attach(base, bytes - 1, 0, 3).isOk()) << "segment too small";
}

}  // namespace
}  // namespace torc::transport
