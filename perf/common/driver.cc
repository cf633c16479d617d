// The sweep: for every dtype, op, root and size, time the out-of-place and then the in-place
// form, check one more run of each against host-computed results, and print a row (nccl-tests'
// BenchTime/TimeTest order, so tables from either tool line up).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "perf/common/args.h"
#include "perf/common/bench.h"
#include "perf/common/data.h"
#include "perf/common/report.h"
#include "perf/common/sparse_ref.h"

namespace torc::perf {

const char* collName(Coll c) {
  switch (c) {
    case Coll::kAllReduce:
      return "allreduce";
    case Coll::kAllGather:
      return "allgather";
    case Coll::kReduceScatter:
      return "reducescatter";
    case Coll::kBroadcast:
      return "broadcast";
    case Coll::kReduce:
      return "reduce";
  }
  return "?";
}

const char* dtypeName(DType t) {
  static const char* const kNames[] = {"int8",   "uint8", "int32", "uint32", "int64",
                                       "uint64", "half",  "float", "double", "bfloat16"};
  const int i = static_cast<int>(t);
  return i >= 0 && i < kNumDTypes ? kNames[i] : "?";
}

const char* redOpName(RedOp op) {
  static const char* const kNames[] = {"sum", "prod", "max", "min", "avg"};
  const int i = static_cast<int>(op);
  return i >= 0 && i < kNumRedOps ? kNames[i] : "?";
}

size_t dtypeSize(DType t) {
  static const size_t kSizes[] = {1, 1, 4, 4, 8, 8, 2, 4, 8, 2};
  const int i = static_cast<int>(t);
  return i >= 0 && i < kNumDTypes ? kSizes[i] : 0;
}

bool collReduces(Coll c) { return c == Coll::kAllReduce || c == Coll::kReduceScatter || c == Coll::kReduce; }
bool collHasRoot(Coll c) { return c == Coll::kBroadcast || c == Coll::kReduce; }

namespace {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<unsigned char, FreeDeleter>;

double nowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string basenameOf(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash ? slash + 1 : path;
}

class Sweep {
 public:
  Sweep(const BenchArgs& args, Coll coll, Backend& backend, std::string program)
      : args_(args),
        coll_(coll),
        backend_(backend),
        program_(std::move(program)),
        rank_(backend.rank()),
        nranks_(backend.nranks()),
        report_(rank_ == 0) {}

  int run(int argc, char** argv);

 private:
  // Where one measurement reads and writes, NCCL's in-place conventions included.
  struct Layout {
    unsigned char* send;
    unsigned char* recv;
    size_t inCount;   // elements this rank contributes
    size_t outCount;  // elements this rank receives (0 on a non-root rank of reduce)
  };

  [[noreturn]] void fatal(const std::string& what);
  Buffer allocate(size_t bytes);
  void printPreamble();
  Layout layout(size_t count, DType t, int root, bool inPlace) const;
  void prepare(const Layout& l, const DataPattern& pattern, int root, uint64_t seed, DType t);
  void runOnce(const Layout& l, size_t count, DType t, RedOp op, int root, const char* what);
  int64_t checkOnce(const Layout& l, size_t count, DType t, RedOp op, int root, uint64_t seed, bool inPlace);
  Measurement measure(size_t count, DType t, RedOp op, int root, bool inPlace, uint64_t seed);
  double algBytes(size_t count, DType t) const;
  double busFactor() const;
  void progress(size_t done, size_t total, size_t bytes, const std::string& what);
  void clearProgress();

  const BenchArgs& args_;
  Coll coll_;
  Backend& backend_;
  std::string program_;
  int rank_;
  int nranks_;
  Report report_;
  Buffer send_, recv_, expected_;
  int64_t totalWrong_ = 0;
  bool progressTty_ = isatty(STDERR_FILENO) == 1;
  bool progressShown_ = false;  // a progress line is on the terminal
};

void Sweep::fatal(const std::string& what) {
  clearProgress();
  std::fprintf(stderr, "%s: rank %d: %s\n", program_.c_str(), rank_, what.c_str());
  std::fflush(stderr);
  backend_.abort();
  std::exit(2);
}

Buffer Sweep::allocate(size_t bytes) {
  const size_t kAlign = 4096;
  const size_t rounded = (std::max<size_t>(bytes, 1) + kAlign - 1) / kAlign * kAlign;
  void* p = std::aligned_alloc(kAlign, rounded);
  if (p == nullptr) fatal("cannot allocate " + std::to_string(rounded) + " bytes");
  std::memset(p, 0, rounded);  // fault the pages in now, not inside the first timed run
  return Buffer(static_cast<unsigned char*>(p));
}

void Sweep::printPreamble() {
  // Every rank's "Pid on host" line, gathered the way nccl-tests gathers its device lines.
  constexpr size_t kLine = 128;
  std::vector<char> mine(kLine, 0), all(kLine * static_cast<size_t>(nranks_), 0);
  char host[64] = {0};
  gethostname(host, sizeof(host) - 1);
  std::snprintf(mine.data(), kLine, "Pid %6d on %10s", static_cast<int>(getpid()), host);
  if (!backend_.run(Coll::kAllGather, mine.data(), all.data(), kLine, DType::kUint8, RedOp::kSum, -1)) {
    fatal("allgather of the rank list failed: " + backend_.error());
  }
  if (rank_ != 0) return;
  std::printf("# Collective test starting: %s\n", program_.c_str());
  std::printf(
      "# nThread 1 nGpus 1 minBytes %zu maxBytes %zu step: %zu(%s) warmup iters: %d iters: %d agg iters: %d "
      "validation: %d graph: 0\n",
      args_.minBytes, args_.maxBytes, args_.stepFactor > 1 ? args_.stepFactor : args_.stepBytes,
      args_.stepFactor > 1 ? "factor" : "bytes", args_.warmupIters, args_.iters, args_.aggIters, args_.check ? 1 : 0);
  std::printf("#\n# Using devices\n");
  for (int r = 0; r < nranks_; ++r) {
    all[kLine * static_cast<size_t>(r + 1) - 1] = '\0';
    std::printf("#  Rank %2d Group  0 %s device -1 [0x00] host memory\n", r, &all[kLine * static_cast<size_t>(r)]);
  }
  static const char* const kAverage[] = {"rank 0", "mean over ranks", "min over ranks", "max over ranks"};
  const char* algo = std::getenv("TORC_ALGO");
  std::printf("#\n# Backend: %s %s, %d ranks; time: mean of %d iterations, %s (-a %d); TORC_ALGO=%s\n", backend_.name(),
              backend_.version().c_str(), nranks_, args_.iters, kAverage[static_cast<int>(args_.average)],
              static_cast<int>(args_.average), algo ? algo : "(unset)");
  if (args_.density > 0) {
    std::printf("# Sparse top-k all-reduce (mode %s): k = %g x count per rank, no residual; time, algbw and busbw "
                "are those of a dense all-reduce of the same count that took this long\n",
                args_.sparseMode == SparseMode::kSum            ? "sum"
                : args_.sparseMode == SparseMode::kGlobalExact  ? "exact"
                : args_.sparseMode == SparseMode::kHierarchical ? "hier"
                                                                : "tree", args_.density);
  }
  if (!args_.wireDtype.empty()) {
    std::printf("# Wire datatype: TORC_WIRE_DTYPE=%s (placeholder: no backend reads it yet)\n",
                args_.wireDtype.c_str());
  }
}

// "[allreduce] 12/25, 64 MiB float sum" before each size: one line per size in logs and
// pipes; on a terminal one line rewritten in place, erased before each table row so that
// rows and progress share the screen when stdout is the same terminal.
void Sweep::progress(size_t done, size_t total, size_t bytes, const std::string& what) {
  if (rank_ != 0 || args_.quiet || done >= total) return;
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  size_t shown = bytes;
  while (shown >= 1024 && shown % 1024 == 0 && unit < 4) {
    shown /= 1024;
    ++unit;
  }
  std::fprintf(stderr, "%s[%s] %zu/%zu, %zu %s%s%s", progressTty_ ? "\r\033[K" : "", collName(coll_), done + 1, total,
               shown, kUnits[unit], what.c_str(), progressTty_ ? "" : "\n");
  std::fflush(stderr);
  progressShown_ = progressTty_;
}

void Sweep::clearProgress() {
  if (!progressShown_) return;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
  progressShown_ = false;
}

Sweep::Layout Sweep::layout(size_t count, DType t, int root, bool inPlace) const {
  const size_t es = dtypeSize(t);
  const size_t p = static_cast<size_t>(nranks_);
  const size_t me = static_cast<size_t>(rank_);
  unsigned char* send = inPlace ? recv_.get() : send_.get();
  switch (coll_) {
    case Coll::kAllGather:
      return {inPlace ? recv_.get() + me * count * es : send_.get(), recv_.get(), count, count * p};
    case Coll::kReduceScatter:
      return {send, inPlace ? send + me * count * es : recv_.get(), count * p, count};
    case Coll::kReduce:
      return {send, recv_.get(), count, rank_ == root ? count : 0};
    case Coll::kBroadcast:
      return {send, recv_.get(), rank_ == root ? count : 0, count};
    case Coll::kAllReduce:
      break;
  }
  return {send, recv_.get(), count, count};
}

void Sweep::prepare(const Layout& l, const DataPattern& pattern, int root, uint64_t seed, DType t) {
  // Poison first: in place, the input is written over part of the output region.
  if (l.outCount) poisonBuffer(l.recv, l.outCount * dtypeSize(t));
  if (l.inCount && args_.density > 0) {
    fillSparseInput(reinterpret_cast<float*>(l.send), l.inCount, rank_, seed);
  } else if (l.inCount) {
    pattern.fillInput(l.send, l.inCount, coll_ == Coll::kBroadcast ? root : rank_, 0, seed);
  }
}

void Sweep::runOnce(const Layout& l, size_t count, DType t, RedOp op, int root, const char* what) {
  const bool ok = args_.density > 0
                      ? backend_.runSparse(l.send, l.recv, count, sparseK(count, args_.density), args_.sparseMode)
                      : backend_.run(coll_, l.send, l.recv, count, t, op, root);
  if (!ok) {
    fatal(std::string(collName(coll_)) + " " + dtypeName(t) + " " + redOpName(op) + " count " + std::to_string(count) +
          " (" + what + ") failed: " + backend_.error());
  }
}

int64_t Sweep::checkOnce(const Layout& l, size_t count, DType t, RedOp op, int root, uint64_t seed, bool inPlace) {
  const DataPattern pattern(t, collReduces(coll_) ? op : RedOp::kMax, nranks_);
  prepare(l, pattern, root, seed, t);
  unsigned char* want = expected_.get();
  const size_t es = dtypeSize(t);
  switch (coll_) {
    case Coll::kAllReduce:
    case Coll::kReduce:
      if (args_.density > 0) {
        sparseExpected(args_.sparseMode, nranks_, count, sparseK(count, args_.density), seed, reinterpret_cast<float*>(want));
      } else {
        pattern.fillResult(want, l.outCount, 0, seed);
      }
      break;
    case Coll::kReduceScatter:
      pattern.fillResult(want, count, static_cast<size_t>(rank_) * count, seed);
      break;
    case Coll::kAllGather:
      for (int q = 0; q < nranks_; ++q)
        pattern.fillInput(want + static_cast<size_t>(q) * count * es, count, q, 0, seed);
      break;
    case Coll::kBroadcast:
      pattern.fillInput(want, count, root, 0, seed);
      break;
  }
  runOnce(l, count, t, op, root, "checked run");
  size_t firstBad = 0;
  const size_t wrong = countWrong(t, l.recv, want, l.outCount, &firstBad);
  if (wrong) {
    clearProgress();
    uint64_t got = 0, exp = 0;
    std::memcpy(&got, l.recv + firstBad * es, es);
    std::memcpy(&exp, want + firstBad * es, es);
    std::fprintf(stderr,
                 "%s: rank %d: %s %s %s count %zu root %d %s: %zu wrong, first at %zu: 0x%llx, expected 0x%llx\n",
                 program_.c_str(), rank_, collName(coll_), dtypeName(t), redOpName(op), count, root,
                 inPlace ? "in-place" : "out-of-place", wrong, firstBad, static_cast<unsigned long long>(got),
                 static_cast<unsigned long long>(exp));
  }
  return static_cast<int64_t>(wrong);
}

double Sweep::algBytes(size_t count, DType t) const {
  const double bytes = static_cast<double>(count) * static_cast<double>(dtypeSize(t));
  return coll_ == Coll::kAllGather || coll_ == Coll::kReduceScatter ? bytes * nranks_ : bytes;
}

double Sweep::busFactor() const {
  const double p = nranks_;
  switch (coll_) {
    case Coll::kAllReduce:
      return 2.0 * (p - 1) / p;
    case Coll::kAllGather:
    case Coll::kReduceScatter:
      return (p - 1) / p;
    case Coll::kBroadcast:
    case Coll::kReduce:
      return 1.0;
  }
  return 1.0;
}

Measurement Sweep::measure(size_t count, DType t, RedOp op, int root, bool inPlace, uint64_t seed) {
  const Layout l = layout(count, t, root, inPlace);
  // A sparse all-reduce's time depends on its data (the selection): its input is always filled.
  if (args_.check || args_.density > 0)
    prepare(l, DataPattern(t, collReduces(coll_) ? op : RedOp::kMax, nranks_), root, seed, t);
  for (int i = 0; i < args_.warmupIters; ++i) runOnce(l, count, t, op, root, "warm-up");
  if (!backend_.barrier()) fatal("barrier failed: " + backend_.error());

  std::vector<double> iterSec(static_cast<size_t>(args_.iters));
  double last = nowSeconds(), total = 0;
  // In place, a sparse all-reduce's output (mostly zeros) would be the next run's input, an
  // easier selection: each run gets the real input again, filled and barriered outside the time.
  const bool refill = args_.density > 0 && inPlace;
  for (int i = 0; i < args_.iters; ++i) {
    double runs = 0;
    for (int a = 0; a < args_.aggIters; ++a) {
      if (refill) {
        prepare(l, DataPattern(t, op, nranks_), root, seed, t);
        if (!backend_.barrier()) fatal("barrier failed: " + backend_.error());
        last = nowSeconds();
      }
      runOnce(l, count, t, op, root, "timed");
      if (refill) runs += nowSeconds() - last;
    }
    const double now = nowSeconds();
    if (!refill) runs = now - last;
    iterSec[static_cast<size_t>(i)] = runs / args_.aggIters;
    total += runs;
    last = now;
  }
  double times[2] = {total / (static_cast<double>(args_.iters) * args_.aggIters), 0};
  std::nth_element(iterSec.begin(), iterSec.begin() + static_cast<long>(iterSec.size() / 2), iterSec.end());
  times[1] = iterSec[iterSec.size() / 2];

  if (args_.average != TimeAverage::kRank0) {
    const RedOp how = args_.average == TimeAverage::kMin   ? RedOp::kMin
                      : args_.average == TimeAverage::kMax ? RedOp::kMax
                                                           : RedOp::kSum;
    if (!backend_.run(Coll::kAllReduce, times, times, 2, DType::kFloat64, how, -1)) {
      fatal("combining times failed: " + backend_.error());
    }
    if (args_.average == TimeAverage::kMean) {
      times[0] /= nranks_;
      times[1] /= nranks_;
    }
  }

  Measurement m;
  m.timeUs = times[0] * 1e6;
  m.medianUs = times[1] * 1e6;
  m.algBw = times[0] > 0 ? algBytes(count, t) / 1e9 / times[0] : 0;
  m.busBw = m.algBw * busFactor();
  if (args_.check) {
    int64_t wrong = 0;
    for (int c = 0; c < args_.check; ++c) {
      wrong += checkOnce(l, count, t, op, root, seed + 7919 * static_cast<uint64_t>(c + 1), inPlace);
    }
    if (!backend_.run(Coll::kAllReduce, &wrong, &wrong, 1, DType::kInt64, RedOp::kSum, -1)) {
      fatal("summing error counts failed: " + backend_.error());
    }
    m.wrong = wrong;
  }
  return m;
}

int Sweep::run(int argc, char** argv) {
  std::vector<int> roots{-1};
  if (collHasRoot(coll_)) {
    if (args_.root >= nranks_)
      fatal("root " + std::to_string(args_.root) + " is not a rank of " + std::to_string(nranks_));
    roots.clear();
    for (int r = 0; r < nranks_; ++r) {
      if (args_.root == -1 || r == args_.root) roots.push_back(r);
    }
  }
  const std::vector<RedOp> ops = collReduces(coll_) ? args_.ops : std::vector<RedOp>{RedOp::kSum};
  std::string skipped;
  bool anySupported = false;
  for (DType t : args_.dtypes) {
    for (RedOp op : ops) {
      if (backend_.supports(coll_, t, op)) {
        anySupported = true;
      } else {
        skipped += std::string(" ") + dtypeName(t) + (collReduces(coll_) ? std::string("/") + redOpName(op) : "");
      }
    }
  }
  if (args_.density > 0 && (coll_ != Coll::kAllReduce || !backend_.supportsSparse() ||
                            args_.dtypes != std::vector<DType>{DType::kFloat32} || ops != std::vector<RedOp>{RedOp::kSum})) {
    if (rank_ == 0)
      std::fprintf(stderr, "%s: --density needs the all-reduce, -d float, -o sum and a backend with a sparse all-reduce\n",
                   program_.c_str());
    return 2;
  }
  if (!anySupported) {
    // Every rank reaches the same verdict, so all can leave cleanly without an abort.
    if (rank_ == 0) {
      std::fprintf(stderr, "%s: %s does not support%s\n", program_.c_str(), backend_.name(), skipped.c_str());
    }
    return 2;
  }

  send_ = allocate(args_.maxBytes);
  recv_ = allocate(args_.maxBytes);
  if (args_.check) expected_ = allocate(args_.maxBytes);
  printPreamble();
  if (!skipped.empty()) report_.comment(std::string("Not supported by ") + backend_.name() + ", skipped:" + skipped);
  report_.tableHeader();

  const size_t p = static_cast<size_t>(nranks_);
  size_t sizesPerSeries = 0;
  for (size_t size = args_.minBytes; size <= args_.maxBytes;) {
    ++sizesPerSeries;
    const size_t next = args_.stepFactor > 1 ? std::max<size_t>(size * args_.stepFactor, 1) : size + args_.stepBytes;
    if (next <= size) break;
    size = next;
  }
  size_t series = 0;
  for (DType t : args_.dtypes) {
    for (RedOp op : ops) series += backend_.supports(coll_, t, op) ? roots.size() : 0;
  }
  const size_t totalRows = series * sizesPerSeries;
  size_t doneRows = 0;
  uint64_t rowIndex = 0;
  for (DType t : args_.dtypes) {
    const size_t es = dtypeSize(t);
    for (RedOp op : ops) {
      if (!backend_.supports(coll_, t, op)) continue;
      for (int root : roots) {
        for (size_t size = args_.minBytes; size <= args_.maxBytes;) {
          size_t count = size / es;
          if (coll_ == Coll::kAllGather || coll_ == Coll::kReduceScatter) count /= p;
          Row row;
          row.bytes = coll_ == Coll::kAllGather || coll_ == Coll::kReduceScatter ? count * p * es : count * es;
          row.count = count;
          row.type = dtypeName(t);
          row.redop = collReduces(coll_) ? redOpName(op) : "none";
          row.root = root;
          const uint64_t seed = ++rowIndex * 104729;
          std::string what;
          if (series > 1) {
            what = std::string(" ") + dtypeName(t) + (collReduces(coll_) ? std::string(" ") + redOpName(op) : "") +
                   (collHasRoot(coll_) ? " root " + std::to_string(root) : "");
          }
          progress(doneRows++, totalRows, row.bytes, what);
          row.outOfPlace = measure(count, t, op, root, false, seed);
          row.inPlace = measure(count, t, op, root, true, seed + 1);
          clearProgress();
          report_.row(row);
          totalWrong_ += std::max<int64_t>(row.outOfPlace.wrong, 0) + std::max<int64_t>(row.inPlace.wrong, 0);
          const size_t next =
              args_.stepFactor > 1 ? std::max<size_t>(size * args_.stepFactor, 1) : size + args_.stepBytes;
          if (next <= size) break;  // overflow
          size = next;
        }
      }
    }
  }

  const char* minEnv = std::getenv("TORC_TESTS_MIN_BW");
  double minBw = -1;
  if (minEnv != nullptr && *minEnv != '\0') {
    char* end = nullptr;
    minBw = std::strtod(minEnv, &end);
    if (end == minEnv || *end != '\0' || minBw < 0) {
      if (rank_ == 0) std::fprintf(stderr, "%s: ignoring TORC_TESTS_MIN_BW='%s'\n", program_.c_str(), minEnv);
      minBw = -1;
    }
  }
  const double avgBw = report_.footer(totalWrong_, minBw);

  if (rank_ == 0 && !args_.jsonPath.empty()) {
    std::string argList = "[";
    for (int i = 0; i < argc; ++i) argList += (i ? ", " : "") + Report::jsonQuote(argv[i]);
    const char* algo = std::getenv("TORC_ALGO");
    report_.addMeta("program", Report::jsonQuote(program_));
    report_.addMeta("collective", Report::jsonQuote(collName(coll_)));
    report_.addMeta("backend", Report::jsonQuote(backend_.name()));
    report_.addMeta("backend_version", Report::jsonQuote(backend_.version()));
    report_.addMeta("nranks", std::to_string(nranks_));
    report_.addMeta("args", argList + "]");
    report_.addMeta("torc_algo", algo ? Report::jsonQuote(algo) : "null");
    report_.addMeta("density", args_.density > 0 ? std::to_string(args_.density) : "null");
    report_.addMeta("wire_dtype", args_.wireDtype.empty() ? "null" : Report::jsonQuote(args_.wireDtype));
    report_.addMeta("iters", std::to_string(args_.iters));
    report_.addMeta("warmup_iters", std::to_string(args_.warmupIters));
    report_.addMeta("agg_iters", std::to_string(args_.aggIters));
    report_.addMeta("average", std::to_string(static_cast<int>(args_.average)));
    std::string error;
    if (!report_.writeJson(args_.jsonPath, &error)) std::fprintf(stderr, "%s: %s\n", program_.c_str(), error.c_str());
  }
  if (totalWrong_ > 0) return 1;
  if (minBw >= 0 && avgBw < minBw) return 1;
  return 0;
}

}  // namespace

int benchMain(int argc, char** argv, Coll coll, Backend& backend) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  const std::string program = basenameOf(argc > 0 ? argv[0] : "bench");
  BenchArgs args;
  std::string message;
  switch (parseArgs(argc, argv, &args, &message)) {
    case ParseOutcome::kHelp:
      std::fputs(message.c_str(), stdout);
      return 0;
    case ParseOutcome::kError:
      std::fprintf(stderr, "%s\n", message.c_str());
      return 2;
    case ParseOutcome::kRun:
      break;
  }
  if (!args.algo.empty()) setenv("TORC_ALGO", args.algo.c_str(), 1);
  if (!args.wireDtype.empty()) setenv("TORC_WIRE_DTYPE", args.wireDtype.c_str(), 1);
  if (!backend.init()) {
    std::fprintf(stderr, "%s: %s init failed: %s\n", program.c_str(), backend.name(), backend.error().c_str());
    return 2;
  }
  const int rc = Sweep(args, coll, backend, program).run(argc, argv);
  backend.finalize();
  return rc;
}

}  // namespace torc::perf
