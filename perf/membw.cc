// The machine's memory-copy bandwidth, for reading all-reduce figures against a physical
// limit: memcpy of a buffer much larger than the caches, STREAM's byte counting (each copied
// byte is read once and written once, so 2 bytes per byte copied), best of several runs.
//
//   membw [-s MiB (default 256)] [-r repetitions (default 5)] [-t threads (default 1)]
//
// With -t N the buffer is cut into N slices copied by N threads at once. Prints one line:
//   copy_gbps=41.3 size_mib=256 threads=2 reps=5
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

namespace {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

bool parsePositive(const char* text, long hi, long* out) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || v < 1 || v > hi) return false;
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  long mib = 256, reps = 5, threads = 1;
  int c;
  while ((c = getopt(argc, argv, "s:r:t:h")) != -1) {
    bool ok = true;
    switch (c) {
      case 's':
        ok = parsePositive(optarg, 1 << 20, &mib);
        break;
      case 'r':
        ok = parsePositive(optarg, 1000, &reps);
        break;
      case 't':
        ok = parsePositive(optarg, 1024, &threads);
        break;
      default:
        ok = false;
        break;
    }
    if (!ok || c == 'h') {
      std::fprintf(stderr, "usage: %s [-s MiB] [-r repetitions] [-t threads]\n", argv[0]);
      return c == 'h' ? 0 : 2;
    }
  }
  const size_t bytes = static_cast<size_t>(mib) << 20;
  std::unique_ptr<char, FreeDeleter> src(static_cast<char*>(std::aligned_alloc(4096, bytes)));
  std::unique_ptr<char, FreeDeleter> dst(static_cast<char*>(std::aligned_alloc(4096, bytes)));
  if (!src || !dst) {
    std::fprintf(stderr, "%s: cannot allocate 2 x %ld MiB\n", argv[0], mib);
    return 2;
  }
  // Fault every page in before timing.
  std::memset(src.get(), 1, bytes);
  std::memset(dst.get(), 0, bytes);

  const size_t n = static_cast<size_t>(threads);
  const size_t slice = (bytes / n + 4095) / 4096 * 4096;
  auto copySlice = [&](size_t i) {
    const size_t off = std::min(bytes, i * slice);
    std::memcpy(dst.get() + off, src.get() + off, std::min(slice, bytes - off));
  };
  double best = 0;
  for (long r = 0; r < reps; ++r) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (size_t i = 1; i < n; ++i) pool.emplace_back(copySlice, i);
    copySlice(0);
    for (std::thread& t : pool) t.join();
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, 2.0 * static_cast<double>(bytes) / sec / 1e9);
  }
  std::printf("copy_gbps=%.2f size_mib=%ld threads=%ld reps=%ld\n", best, mib, threads, reps);
  return 0;
}
