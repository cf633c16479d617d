#include "perf/common/args.h"

#include <getopt.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace torc::perf {
namespace {

constexpr const char* kUsage =
    "usage: %s [options]\n"
    "  -b,--minbytes <size>       smallest message (K/M/G suffixes), default 32M\n"
    "  -e,--maxbytes <size>       largest message, default 32M\n"
    "  -f,--stepfactor <n>        multiply the size by n each step\n"
    "  -i,--stepbytes <size>      add this to the size each step (when -f is 1), default 1M\n"
    "  -n,--iters <n>             timed iterations per size, default 20\n"
    "  -w,--warmup_iters <n>      untimed iterations before each timed block, default 5\n"
    "  -m,--agg_iters <n>         collectives per timed iteration, default 1\n"
    "  -c,--check <n>             checked runs per measurement (0 = no check), default 1\n"
    "  -o,--op <sum|prod|max|min|avg|all>             default sum\n"
    "  -d,--datatype <int8|uint8|int32|uint32|int64|uint64|half|float|double|bfloat16|all>\n"
    "                             default float\n"
    "  -r,--root <rank>           root of broadcast/reduce; -1 = every rank in turn, default 0\n"
    "  -a,--average <0|1|2|3>     time across ranks: 0 rank 0, 1 mean, 2 min, 3 max; default 1;\n"
    "                             a name (ring, torus2d, auto, ...) is taken as -A <name>\n"
    "  -A,--algo <spec>           force an algorithm: exported as TORC_ALGO before init\n"
    "  -J,--json <file>           also write the rows as JSON (rank 0)\n"
    "  -p,--wire_dtype <type>     exported as TORC_WIRE_DTYPE before init; a placeholder for\n"
    "                             mixed precision: no backend reads it yet\n"
    "  -q,--quiet                 no progress line on stderr (rank 0 prints one per size)\n"
    "  --density <d>              sparse top-k all-reduce with k = d x count (0 < d <= 1), float sum;\n"
    "                             bandwidths are the dense all-reduce's equivalent\n"
    "  --mode <sum|exact|tree|hier>  what the sparse all-reduce delivers: sum (every rank's top-k\n"
    "                             summed), exact (the exact top-k of that sum), tree (gTop-k: pairwise\n"
    "                             top-k merges by recursive doubling) or hier (HiTopKComm: top-k of node\n"
    "                             sums; nodes of TORC_LOCAL_NRANKS consecutive ranks, as torcrun sets)\n"
    "  -t,--nthreads 1, -g,--ngpus 1   accepted for nccl-tests command lines; only 1 is valid\n"
    "  -h,--help\n"
    "env: TORC_TESTS_MIN_BW=<GB/s> fails the run when the average bus bandwidth is lower.\n";

bool parseInt(const char* text, long lo, long hi, long* out) {
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(text, &end, 0);
  if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

bool parseDType(const std::string& s, std::vector<DType>* out) {
  out->clear();
  if (s == "all") {
    for (int t = 0; t < kNumDTypes; ++t) out->push_back(static_cast<DType>(t));
    return true;
  }
  struct Alias {
    const char* name;
    DType type;
  };
  static const Alias kAliases[] = {
      {"int8", DType::kInt8},       {"char", DType::kInt8},     {"uint8", DType::kUint8},
      {"int32", DType::kInt32},     {"int", DType::kInt32},     {"uint32", DType::kUint32},
      {"int64", DType::kInt64},     {"uint64", DType::kUint64}, {"half", DType::kFloat16},
      {"float16", DType::kFloat16}, {"fp16", DType::kFloat16},  {"float", DType::kFloat32},
      {"float32", DType::kFloat32}, {"fp32", DType::kFloat32},  {"double", DType::kFloat64},
      {"float64", DType::kFloat64}, {"fp64", DType::kFloat64},  {"bfloat16", DType::kBfloat16},
      {"bf16", DType::kBfloat16},
  };
  for (const Alias& a : kAliases) {
    if (s == a.name) {
      out->push_back(a.type);
      return true;
    }
  }
  return false;
}

bool parseOp(const std::string& s, std::vector<RedOp>* out) {
  out->clear();
  if (s == "all") {
    for (int o = 0; o < kNumRedOps; ++o) out->push_back(static_cast<RedOp>(o));
    return true;
  }
  for (int o = 0; o < kNumRedOps; ++o) {
    if (s == redOpName(static_cast<RedOp>(o))) {
      out->push_back(static_cast<RedOp>(o));
      return true;
    }
  }
  return false;
}

}  // namespace

bool parseSize(const char* text, size_t* bytes) {
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(text, &end);
  if (errno != 0 || end == text || !(v >= 0)) return false;
  double mult = 1;
  switch (*end) {
    case 'k':
    case 'K':
      mult = 1024.0;
      ++end;
      break;
    case 'm':
    case 'M':
      mult = 1024.0 * 1024;
      ++end;
      break;
    case 'g':
    case 'G':
      mult = 1024.0 * 1024 * 1024;
      ++end;
      break;
    case 't':
    case 'T':
      mult = 1024.0 * 1024 * 1024 * 1024;
      ++end;
      break;
    default:
      break;
  }
  if (mult > 1 && *end == 'i') ++end;
  if (*end == 'B' || *end == 'b') ++end;
  if (*end != '\0') return false;
  double total = std::floor(v * mult);
  if (total >= 18446744073709551615.0) return false;
  *bytes = static_cast<size_t>(total);
  return true;
}

ParseOutcome parseArgs(int argc, char** argv, BenchArgs* args, std::string* message) {
  static const struct option kLong[] = {
      {"minbytes", required_argument, nullptr, 'b'},
      {"maxbytes", required_argument, nullptr, 'e'},
      {"stepbytes", required_argument, nullptr, 'i'},
      {"stepfactor", required_argument, nullptr, 'f'},
      {"iters", required_argument, nullptr, 'n'},
      {"agg_iters", required_argument, nullptr, 'm'},
      {"warmup_iters", required_argument, nullptr, 'w'},
      {"check", required_argument, nullptr, 'c'},
      {"op", required_argument, nullptr, 'o'},
      {"datatype", required_argument, nullptr, 'd'},
      {"root", required_argument, nullptr, 'r'},
      {"average", required_argument, nullptr, 'a'},
      {"algo", required_argument, nullptr, 'A'},
      {"json", required_argument, nullptr, 'J'},
      {"wire_dtype", required_argument, nullptr, 'p'},
      {"quiet", no_argument, nullptr, 'q'},
      {"nthreads", required_argument, nullptr, 't'},
      {"ngpus", required_argument, nullptr, 'g'},
      {"help", no_argument, nullptr, 'h'},
      {"density", required_argument, nullptr, 1000},
      {"mode", required_argument, nullptr, 1001},
      {nullptr, 0, nullptr, 0},
  };
  const char* prog = argc > 0 ? argv[0] : "bench";
  auto fail = [&](const std::string& why) {
    *message = std::string(prog) + ": " + why + " (-h for help)";
    return ParseOutcome::kError;
  };
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":b:e:i:f:n:m:w:c:o:d:r:a:A:J:p:qt:g:h", kLong, nullptr)) != -1) {
    const std::string val = optarg ? optarg : "";
    long n = 0;
    switch (c) {
      case 'b':
        if (!parseSize(optarg, &args->minBytes)) return fail("bad -b size '" + val + "'");
        break;
      case 'e':
        if (!parseSize(optarg, &args->maxBytes)) return fail("bad -e size '" + val + "'");
        break;
      case 'i':
        if (!parseSize(optarg, &args->stepBytes)) return fail("bad -i size '" + val + "'");
        break;
      case 'f':
        if (!parseInt(optarg, 0, 1 << 20, &n)) return fail("bad -f factor '" + val + "'");
        args->stepFactor = static_cast<size_t>(n);
        break;
      case 'n':
        if (!parseInt(optarg, 1, 1 << 30, &n)) return fail("bad -n iterations '" + val + "'");
        args->iters = static_cast<int>(n);
        break;
      case 'w':
        if (!parseInt(optarg, 0, 1 << 30, &n)) return fail("bad -w iterations '" + val + "'");
        args->warmupIters = static_cast<int>(n);
        break;
      case 'm':
        if (!parseInt(optarg, 1, 1 << 20, &n)) return fail("bad -m iterations '" + val + "'");
        args->aggIters = static_cast<int>(n);
        break;
      case 'c':
        if (!parseInt(optarg, 0, 1 << 20, &n)) return fail("bad -c value '" + val + "'");
        args->check = static_cast<int>(n);
        break;
      case 'o':
        if (!parseOp(val, &args->ops)) return fail("unknown op '" + val + "'");
        break;
      case 'd':
        if (!parseDType(val, &args->dtypes)) return fail("unknown datatype '" + val + "'");
        break;
      case 'r':
        if (!parseInt(optarg, -1, 1 << 30, &n)) return fail("bad -r root '" + val + "'");
        args->root = static_cast<int>(n);
        break;
      case 'a':
        // nccl-tests' -a is a number; a name is an algorithm (same as -A).
        if (!val.empty() && (val[0] < '0' || val[0] > '9')) {
          args->algo = val;
          break;
        }
        if (!parseInt(optarg, 0, 3, &n)) return fail("bad -a mode '" + val + "' (0..3, or an algorithm name)");
        args->average = static_cast<TimeAverage>(n);
        break;
      case 'A':
        args->algo = val;
        break;
      case 'J':
        args->jsonPath = val;
        break;
      case 'p': {
        std::vector<DType> wire;
        if (val == "all" || !parseDType(val, &wire)) return fail("unknown wire datatype '" + val + "'");
        args->wireDtype = dtypeName(wire[0]);
        break;
      }
      case 'q':
        args->quiet = true;
        break;
      case 1000: {
        char* end = nullptr;
        args->density = std::strtod(optarg, &end);
        if (end == optarg || *end != '\0' || !(args->density > 0 && args->density <= 1))
          return fail("bad --density '" + val + "' (0 < d <= 1)");
        break;
      }
      case 1001:
        if (val != "sum" && val != "exact" && val != "tree" && val != "hier")
          return fail("unknown --mode '" + val + "' (sum, exact, tree, hier)");
        args->sparseMode = val == "sum"     ? SparseMode::kSum
                           : val == "exact" ? SparseMode::kGlobalExact
                           : val == "hier"  ? SparseMode::kHierarchical
                                            : SparseMode::kGlobalTree;
        break;
      case 't':
      case 'g':
        if (!parseInt(optarg, 1, 1, &n)) return fail(std::string("-") + char(c) + " must be 1: one rank per process");
        break;
      case 'h': {
        char buf[4096];
        std::snprintf(buf, sizeof(buf), kUsage, prog);
        *message = buf;
        return ParseOutcome::kHelp;
      }
      case ':':
        return fail(std::string("option -") + char(optopt) + " needs a value");
      default:
        return fail(optopt ? std::string("unknown option -") + char(optopt)
                           : "unknown option " + std::string(argv[optind - 1]));
    }
  }
  if (optind < argc) return fail(std::string("unexpected argument '") + argv[optind] + "'");
  if (args->minBytes > args->maxBytes) return fail("minbytes is larger than maxbytes");
  if (args->stepFactor <= 1 && args->stepBytes == 0) return fail("-i 0 with -f 1 would never end");
  return ParseOutcome::kRun;
}

}  // namespace torc::perf
