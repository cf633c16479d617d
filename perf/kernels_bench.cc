// Host kernel microbenchmarks: reduce, finalizeAvg, the 16-bit float casts and top-k, next to the
// machine's copy bandwidth measured in the same run, so each kernel's throughput can be read
// as a fraction of what the memory system delivers (a reduce touches three buffers, so the
// fraction of copy bandwidth is the figure that matters, not the absolute GB/s).
//
//   kernels_bench [--dram_mib=64] [--benchmark_min_time=0.05] [--benchmark_filter=reduce/float32]
//
// Bytes counted (SetBytesProcessed): every buffer touched, each pass once. memcpy = read src +
// write dst (2N, as STREAM counts copy); read-sum = N; reduce = read a + read b + write dst
// (3N, in place too); finalizeAvg = read + write x (2N); casts = read src + write dst.
// Write-allocate reads are not counted here; the final summary adds a column that does.
// TORC_KERNEL_ISA=generic|avx2 lowers the variant reduce() and the casts use; the one chosen is in the context.

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "kernels/functors.h"
#include "kernels/reduce.h"
#include "kernels/topk.h"

namespace torc::kernels {
namespace {

constexpr size_t kKiB = 1024, kMiB = 1024 * kKiB;
constexpr size_t kCacheBytes = 256 * kKiB;
constexpr size_t kMidBytes = 4 * kMiB;
constexpr size_t kCastElems = 16 * 1024 * 1024;
constexpr int kAvgDivisor = 4;
constexpr int kAvgRefillEvery = 8;  // refill before repeated division reaches denormals/zero

std::string sizeName(size_t bytes) {
  return bytes % kMiB == 0 ? std::to_string(bytes / kMiB) + "MiB" : std::to_string(bytes / kKiB) + "KiB";
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<std::byte, FreeDeleter>;

Buffer allocBuffer(size_t bytes) {
  size_t rounded = (bytes + 4095) / 4096 * 4096;  // aligned_alloc wants a multiple of the alignment
  auto* p = static_cast<std::byte*>(std::aligned_alloc(4096, rounded));
  if (p == nullptr) {
    std::fprintf(stderr, "kernels_bench: cannot allocate %zu bytes\n", bytes);
    std::exit(1);
  }
  std::memset(p, 0, rounded);  // fault the pages in now, not inside a timed loop
  return Buffer(p);
}

// Three page-aligned buffers of the largest size, shared by all benchmarks (allocated once:
// page faults and zeroing stay out of the measurements).
struct Arena {
  Buffer a, b, c;
};
Arena& arena() {
  static Arena g;
  return g;
}

// x[i] = scale * (1 + i % period) in t. With b all ones (period 1), repeated in-place ops stay
// finite and normal (no denormal slow paths): sum grows until it saturates, prod/max/min are
// stationary.
void fill(DType t, void* p, size_t n, int scale, size_t period) {
  visitDType(t, [&](auto tag) {
    using T = decltype(tag);
    using C = Compute<T>;
    using F = typename C::Type;
    T* x = static_cast<T*>(p);
    for (size_t i = 0; i < n; ++i) x[i] = C::narrow(F(scale * int(1 + i % period)));
  });
}

void setRate(benchmark::State& state, size_t bytesPerIter, size_t elemsPerIter) {
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(bytesPerIter));
  if (elemsPerIter != 0) state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(elemsPerIter));
}

// --- 1. copy bandwidth ----------------------------------------------------------------------

void benchMemcpy(benchmark::State& state, size_t bytes) {
  Arena& m = arena();
  for (auto _ : state) {
    std::memcpy(m.c.get(), m.a.get(), bytes);
    benchmark::ClobberMemory();
  }
  setRate(state, 2 * bytes, 0);
}

void benchReadSum(benchmark::State& state, size_t bytes) {
  const auto* p = reinterpret_cast<const uint64_t*>(arena().a.get());
  size_t n = bytes / sizeof(uint64_t);
  for (auto _ : state) {
    uint64_t sum = 0;
    for (size_t i = 0; i < n; ++i) sum += p[i];
    benchmark::DoNotOptimize(sum);
  }
  setRate(state, bytes, 0);
}

// --- 2. reduce ------------------------------------------------------------------------------

void benchReduce(benchmark::State& state, DType t, RedOp op, bool inPlace, size_t bytes) {
  Arena& m = arena();
  size_t n = bytes / dtypeSize(t);
  fill(t, m.a.get(), n, 1, 7);
  fill(t, m.b.get(), n, 1, 1);
  void* dst = inPlace ? m.a.get() : m.c.get();
  for (auto _ : state) {
    reduce(t, op, dst, m.a.get(), m.b.get(), n);
    benchmark::ClobberMemory();
  }
  setRate(state, 3 * n * dtypeSize(t), n);
}

// --- 3. casts -------------------------------------------------------------------------------
// widenToFloat / narrowFromFloat: the dispatched variant (F16C for float16 on x86; the vectorised
// functors for bfloat16), narrowing including its overflow scan.

void benchCast(benchmark::State& state, DType t, bool toNarrow) {
  std::vector<float> wide(kCastElems);
  std::vector<uint16_t> bits(kCastElems);
  for (size_t i = 0; i < kCastElems; ++i) wide[i] = float(int(i % 4099) - 2049) * 0.37f;  // both signs, rounding
  narrowFromFloat(t, wide.data(), bits.data(), kCastElems);
  for (auto _ : state) {
    if (toNarrow) {
      benchmark::DoNotOptimize(narrowFromFloat(t, wide.data(), bits.data(), kCastElems));
    } else {
      widenToFloat(t, bits.data(), wide.data(), kCastElems);
    }
    benchmark::ClobberMemory();
  }
  setRate(state, kCastElems * (sizeof(float) + sizeof(uint16_t)), kCastElems);
}

// --- 4. finalizeAvg -------------------------------------------------------------------------

void benchFinalizeAvg(benchmark::State& state, DType t, size_t bytes) {
  Arena& m = arena();
  size_t n = bytes / dtypeSize(t);
  fill(t, m.a.get(), n, 1000000, 7);
  int64_t sinceFill = 0;
  for (auto _ : state) {
    if (++sinceFill > kAvgRefillEvery) {
      state.PauseTiming();
      fill(t, m.a.get(), n, 1000000, 7);
      sinceFill = 1;
      state.ResumeTiming();
    }
    finalizeAvg(t, m.a.get(), n, kAvgDivisor);
    benchmark::ClobberMemory();
  }
  setRate(state, 2 * n * dtypeSize(t), n);
}

// Top-k of kTopkElems normal float32 values by magnitude: torc's exact selection against
// std::nth_element on (magnitude, index) keys (what a straightforward exact top-k costs).
constexpr size_t kTopkElems = size_t{16} << 20;

const std::vector<float>& topkInput() {
  static const std::vector<float> x = [] {
    std::vector<float> v(kTopkElems);
    uint64_t s = 88172645463325252ull;
    for (auto& e : v) {  // sum of uniforms: roughly normal, deterministic, cheap
      float acc = 0;
      for (int j = 0; j < 4; ++j) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        acc += static_cast<float>(s >> 40) / static_cast<float>(1 << 24) - 0.5f;
      }
      e = acc;
    }
    return v;
  }();
  return x;
}

void benchTopkExact(benchmark::State& state, double density) {
  const auto& x = topkInput();
  const size_t k = static_cast<size_t>(density * static_cast<double>(x.size()));
  std::vector<uint32_t> idx(k);
  TopkScratch scratch;
  for (auto _ : state) {
    if (topkExact(x.data(), x.size(), k, idx.data(), &scratch) != TopkStatus::kOk) state.SkipWithError("non-finite");
    benchmark::DoNotOptimize(idx.data());
  }
  setRate(state, x.size() * sizeof(float), x.size());
}

void benchTopkThreshold(benchmark::State& state, double density) {
  const auto& x = topkInput();
  const size_t k = static_cast<size_t>(density * static_cast<double>(x.size()));
  std::vector<uint32_t> idx(k);
  TopkScratch scratch;
  TopkBracket bracket;
  for (auto _ : state) {
    if (topkThreshold(x.data(), x.size(), k, idx.data(), &bracket, &scratch) != TopkStatus::kOk)
      state.SkipWithError("non-finite");
    benchmark::DoNotOptimize(idx.data());
  }
  setRate(state, x.size() * sizeof(float), x.size());
  state.counters["bracket_hi/lo"] = bracket.lo > 0 ? bracket.hi / bracket.lo : 1.0;
}

void benchTopkNthElement(benchmark::State& state, double density) {
  const auto& x = topkInput();
  const size_t k = static_cast<size_t>(density * static_cast<double>(x.size()));
  std::vector<uint64_t> keys(x.size());
  for (auto _ : state) {
    for (size_t i = 0; i < x.size(); ++i) {
      uint32_t b;
      std::memcpy(&b, &x[i], sizeof(b));
      keys[i] = (static_cast<uint64_t>(b & 0x7fffffffu) << 32) | (0xffffffffu - static_cast<uint32_t>(i));
    }
    std::nth_element(keys.begin(), keys.begin() + static_cast<ptrdiff_t>(k), keys.end(), std::greater<>());
    benchmark::DoNotOptimize(keys.data());
  }
  setRate(state, x.size() * sizeof(float), x.size());
}

// --- registration ---------------------------------------------------------------------------

benchmark::internal::Benchmark* configure(benchmark::internal::Benchmark* b, size_t bytes) {
  // Rates use CPU time (the library's default): on a shared machine, time spent descheduled
  // would otherwise count as slow memory. Memory stalls still count, the core is busy in them.
  return b->Unit(bytes >= kMidBytes ? benchmark::kMillisecond : benchmark::kMicrosecond);
}

void registerAll(size_t dramBytes) {
  Arena& m = arena();
  size_t arenaBytes = std::max({dramBytes, kMidBytes, kCacheBytes});
  m.a = allocBuffer(arenaBytes);
  m.b = allocBuffer(arenaBytes);
  m.c = allocBuffer(arenaBytes);

  for (size_t bytes : {kCacheBytes, kMidBytes, dramBytes}) {
    configure(benchmark::RegisterBenchmark(("copy/memcpy/" + sizeName(bytes)).c_str(), benchMemcpy, bytes), bytes);
  }
  for (size_t bytes : {kCacheBytes, kMidBytes, dramBytes}) {
    configure(benchmark::RegisterBenchmark(("copy/readsum/" + sizeName(bytes)).c_str(), benchReadSum, bytes), bytes);
  }

  auto addReduce = [](DType t, RedOp op, bool inPlace, size_t bytes) {
    std::string name = std::string("reduce/") + dtypeName(t) + "/" + redOpName(op) +
                       (inPlace ? "/inplace/" : "/outofplace/") + sizeName(bytes);
    configure(benchmark::RegisterBenchmark(name.c_str(), benchReduce, t, op, inPlace, bytes), bytes);
  };
  // Cache-resident sizes: only the dtypes the trainers use, sum only.
  for (size_t bytes : {kCacheBytes, kMidBytes}) {
    for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBfloat16}) {
      for (bool inPlace : {true, false}) addReduce(t, RedOp::kSum, inPlace, bytes);
    }
  }
  for (int ti = 0; ti < kNumDTypes; ++ti) {
    for (int oi = 0; oi < kNumRedOps; ++oi) {
      for (bool inPlace : {true, false}) addReduce(DType(ti), RedOp(oi), inPlace, dramBytes);
    }
  }

  std::string elems = "/" + std::to_string(kCastElems / (1024 * 1024)) + "Mi";
  auto addCast = [&](const char* what, DType t, bool toNarrow) {
    configure(benchmark::RegisterBenchmark(("cast/" + std::string(what) + elems).c_str(), benchCast, t, toNarrow),
              dramBytes);
  };
  addCast("fp32_to_fp16", DType::kFloat16, true);
  addCast("fp16_to_fp32", DType::kFloat16, false);
  addCast("fp32_to_bf16", DType::kBfloat16, true);
  addCast("bf16_to_fp32", DType::kBfloat16, false);

  for (double density : {0.001, 0.01}) {
    std::string tail = "/16Mi/k=" + std::string(density == 0.001 ? "0.1%" : "1%");
    configure(benchmark::RegisterBenchmark(("topk/exact" + tail).c_str(), benchTopkExact, density), dramBytes);
    configure(benchmark::RegisterBenchmark(("topk/threshold" + tail).c_str(), benchTopkThreshold, density), dramBytes);
    configure(benchmark::RegisterBenchmark(("topk/nth_element" + tail).c_str(), benchTopkNthElement, density),
              dramBytes);
  }
  for (DType t : {DType::kFloat32, DType::kInt32}) {
    std::string name = std::string("finalize_avg/") + dtypeName(t) + "/" + sizeName(dramBytes);
    configure(benchmark::RegisterBenchmark(name.c_str(), benchFinalizeAvg, t, dramBytes), dramBytes);
  }
}

// --- reporting ------------------------------------------------------------------------------

// The console reporter plus a "pct_of_copy" counter on reduce/finalize_avg rows: their
// bytes/s over memcpy's bytes/s at the same buffer size (the last name component), from this
// run. Copy benchmarks are registered first, so their figures are known when a kernel's row
// arrives (not with --benchmark_enable_random_interleaving). A summary follows the table.
class CopyFractionReporter : public benchmark::ConsoleReporter {
 public:
  using ConsoleReporter::ConsoleReporter;

  void ReportRuns(const std::vector<Run>& runs) override {
    std::vector<Run> out = runs;
    for (Run& run : out) {
      if (run.error_occurred) continue;
      if (run.run_type == Run::RT_Aggregate && run.aggregate_name != "mean") continue;
      auto it = run.counters.find("bytes_per_second");
      if (it == run.counters.end()) continue;
      const std::string& name = run.run_name.function_name;
      std::string size = name.substr(name.rfind('/') + 1);
      double bw = it->second.value;
      if (name.rfind("copy/memcpy/", 0) == 0) {
        copyBw_[size] = bw;
      } else if (name.rfind("reduce/", 0) == 0 || name.rfind("finalize_avg/", 0) == 0) {
        auto copy = copyBw_.find(size);
        double pct = copy == copyBw_.end() ? 0.0 : 100.0 * bw / copy->second;
        if (copy != copyBw_.end()) run.counters["pct_of_copy"] = benchmark::Counter(pct);
        // With --benchmark_repetitions, only the mean goes into the summary.
        if (run.repetitions <= 1 || run.run_type == Run::RT_Aggregate) summary_.push_back({name, bw, pct});
      }
    }
    ConsoleReporter::ReportRuns(out);
  }

  void Finalize() override {
    std::ostream& os = GetOutputStream();
    char line[256];
    // "% of copy" compares bytes touched. Stores to a line not yet in cache first read it
    // (write-allocate), so memory actually moves 3N for memcpy and for an out-of-place reduce
    // 4N, but 3N in place (dst == a is already cached). "% w/ RFO" compares that traffic: near
    // 100% means the kernel runs at the copy roof. Assumes no non-temporal stores (glibc only
    // uses them for copies above a large fraction of the L3).
    os << "\nSummary (GB/s = 1e9 bytes/s of all buffers touched; % of memcpy at the same size)\n";
    for (const auto& [size, bw] : copyBw_) {
      std::snprintf(line, sizeof line, "  %-44s %8.2f GB/s\n", ("copy/memcpy/" + size).c_str(), bw / 1e9);
      os << line;
    }
    std::snprintf(line, sizeof line, "  %-44s %13s  %9s  %8s\n", "", "", "% of copy", "% w/ RFO");
    os << line;
    for (const Entry& e : summary_) {
      double traffic = e.name.find("/outofplace/") != std::string::npos ? 4.0 / 3.0 : 1.0;
      if (e.pct > 0) {
        std::snprintf(line, sizeof line, "  %-44s %8.2f GB/s  %8.1f%%  %7.1f%%\n", e.name.c_str(), e.bw / 1e9, e.pct,
                      e.pct * traffic / 1.5);
      } else {  // memcpy at this size was filtered out
        std::snprintf(line, sizeof line, "  %-44s %8.2f GB/s  %9s  %8s\n", e.name.c_str(), e.bw / 1e9, "n/a", "n/a");
      }
      os << line;
    }
    ConsoleReporter::Finalize();
  }

 private:
  struct Entry {
    std::string name;
    double bw;
    double pct;
  };
  std::map<std::string, double> copyBw_;  // size name -> bytes/s
  std::vector<Entry> summary_;            // in run order
};

}  // namespace
}  // namespace torc::kernels

int main(int argc, char** argv) {
  // Our own flag first (Google Benchmark rejects flags it does not know), then theirs.
  size_t dramMib = 64;
  bool console = true;
  bool color = isatty(STDOUT_FILENO) != 0;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--dram_mib=", 11) == 0) {
      dramMib = std::strtoull(argv[i] + 11, nullptr, 10);
      continue;
    }
    if (std::strncmp(argv[i], "--benchmark_format=", 19) == 0 && std::strcmp(argv[i] + 19, "console") != 0) {
      console = false;  // json/csv: the library's own reporter, no percentages
    }
    if (std::strncmp(argv[i], "--benchmark_color=", 18) == 0) {
      const char* v = argv[i] + 18;
      color = std::strcmp(v, "true") == 0 || std::strcmp(v, "yes") == 0 || std::strcmp(v, "1") == 0 ||
              (std::strcmp(v, "auto") == 0 && color);
    }
    argv[kept++] = argv[i];
  }
  argc = kept;
  if (dramMib == 0) {
    std::fprintf(stderr, "kernels_bench: --dram_mib must be a positive number of MiB\n");
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  torc::kernels::registerAll(dramMib * torc::kernels::kMiB);
  benchmark::AddCustomContext("torc_kernel_isa", torc::kernels::reduceIsa());
  benchmark::AddCustomContext("torc_bytes_counted", "all buffers touched: memcpy 2N, reduce 3N, finalize_avg 2N");
  using Opts = benchmark::ConsoleReporter::OutputOptions;
  torc::kernels::CopyFractionReporter reporter(color ? Opts::OO_ColorTabular : Opts::OO_Tabular);
  benchmark::RunSpecifiedBenchmarks(console ? &reporter : nullptr);
  benchmark::Shutdown();
  return 0;
}
