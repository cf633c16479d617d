// Command-line parsing and per-rank environment for torcrun.
#include "tools/torcrun_options.h"

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <utility>

extern char** environ;

namespace torc::tools {
namespace {

constexpr long kMaxRanks = 1 << 16;

bool parseLong(const std::string& s, long lo, long hi, long* out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const long v = strtol(s.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

bool parseSeconds(const std::string& s, double* out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  const double v = strtod(s.c_str(), &end);
  if (errno != 0 || *end != '\0' || !std::isfinite(v) || v < 0 || v > 1e9) return false;
  *out = v;
  return true;
}

}  // namespace

const char kTorcrunUsage[] =
    R"(usage: torcrun -n N [options] [--] program [args...]
       torcrun --info [args...]

Starts N ranks of program on this machine. Each rank gets TORC_RANK, TORC_NRANKS,
TORC_LOCAL_RANK, TORC_LOCAL_NRANKS, TORC_ROOT_ADDR, TORC_SECRET and, for programs
written for torchrun, RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE. Every line a
rank writes is printed as "[rank] line" on torcrun's stdout or stderr. Ranks read
stdin from /dev/null. SIGINT, SIGTERM and SIGHUP are forwarded to every rank; a
second one kills them at once (a signal ignored when torcrun starts stays ignored).

options:
  -n N                   ranks to start here (required)
  --rank-offset K        global rank of the first rank started here (default 0)
  --nranks-total M       ranks in the whole job, over all torcrun instances (default N)
  --root-addr HOST:PORT  bootstrap root address, shared by all instances; required when
                         M > N. TORC_SECRET must then be set in the environment, the
                         same for every instance. Default: 127.0.0.1 with a free port
                         and a fresh random secret.
  --bind auto|core|none  core: each rank binds itself to a core of its own (TORC_BIND=1);
                         none: TORC_BIND=0; auto (default): core when this torcrun starts
                         the whole job on no more ranks than it has CPUs and TORC_BIND is
                         not set, as mpirun binds small jobs (ranks that keep their core
                         keep its caches; their waits spin, which is why they need one each)
  --no-prefix            ranks write straight to torcrun's stdout and stderr
  --grace SECONDS        wait between SIGTERM and SIGKILL on teardown (default 3)
  --timeout SECONDS      kill the job after this long and exit 124 (default: none)
  --info                 run torc_info, found next to torcrun, with the remaining args
  -h, --help             print this help

When a rank exits non-zero or dies from a signal, the others get SIGTERM, then SIGKILL
after the grace period.
exit status: 0 when every rank exits 0; else the first failure's exit code, or 128+signal
for a rank killed by a signal (or for a signal torcrun forwarded); 124 on timeout; 2 on
bad usage; 127 when a rank cannot be executed.
)";

std::string parseArgs(int argc, char** argv, Options* o) {
  int i = 1;
  for (; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') break;
    std::string name = arg, value;
    bool inlineValue = false;
    const size_t eq = arg.find('=');
    if (arg.compare(0, 2, "--") == 0 && eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      inlineValue = true;
    } else if (arg.compare(0, 2, "-n") == 0 && arg.size() > 2) {
      name = "-n";
      value = arg.substr(2);
      inlineValue = true;
    }
    const bool isFlag = name == "-h" || name == "--help" || name == "--info" || name == "--no-prefix";
    if (isFlag && inlineValue) return "option " + name + " takes no value";
    if (name == "-h" || name == "--help") {
      o->help = true;
      return "";
    }
    if (name == "--info") {
      o->infoArg = i + 1;
      return "";
    }
    if (name == "--no-prefix") {
      o->prefix = false;
      continue;
    }
    const bool known = name == "-n" || name == "--rank-offset" || name == "--nranks-total" || name == "--root-addr" ||
                       name == "--grace" || name == "--timeout" || name == "--bind";
    if (!known) return "unknown option " + arg;
    if (!inlineValue) {
      if (i + 1 >= argc) return "option " + name + " needs a value";
      value = argv[++i];
    }
    const std::string bad = "bad value '" + value + "' for " + name;
    if (name == "-n") {
      if (!parseLong(value, 1, kMaxRanks, &o->nranks)) return bad + ": need a rank count from 1 to 65536";
    } else if (name == "--rank-offset") {
      if (!parseLong(value, 0, INT_MAX, &o->rankOffset)) return bad + ": need an integer >= 0";
    } else if (name == "--nranks-total") {
      if (!parseLong(value, 1, INT_MAX, &o->nranksTotal)) return bad + ": need an integer >= 1";
    } else if (name == "--root-addr") {
      const size_t colon = value.rfind(':');
      long port = 0;
      if (colon == 0 || colon == std::string::npos || !parseLong(value.substr(colon + 1), 1, 65535, &port)) {
        return bad + ": need HOST:PORT";
      }
      o->rootAddr = value;
    } else if (name == "--bind") {
      if (value != "auto" && value != "core" && value != "none") return bad + ": need auto, core or none";
      o->bind = value;
    } else if (name == "--grace") {
      if (!parseSeconds(value, &o->graceSeconds)) return bad + ": need seconds >= 0";
    } else if (!parseSeconds(value, &o->timeoutSeconds) || o->timeoutSeconds <= 0) {
      return bad + ": need seconds > 0";
    }
  }
  for (; i < argc; ++i) o->command.emplace_back(argv[i]);
  if (o->nranks == 0) return "missing -n N (the number of ranks to start)";
  if (o->command.empty()) return "no program to run";
  if (o->nranksTotal == 0) {
    if (o->rankOffset != 0) return "--rank-offset needs --nranks-total";
    o->nranksTotal = o->nranks;
  }
  if (o->rankOffset + o->nranks > o->nranksTotal) {
    return "ranks " + std::to_string(o->rankOffset) + ".." + std::to_string(o->rankOffset + o->nranks - 1) +
           " do not fit in --nranks-total " + std::to_string(o->nranksTotal);
  }
  if (o->nranksTotal != o->nranks && o->rootAddr.empty()) {
    return "--root-addr is required when the job spans several torcrun instances";
  }
  return "";
}

bool isExecutableFile(const std::string& path, std::string* why) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    *why = strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    *why = "not a regular file";
  } else if (access(path.c_str(), X_OK) != 0) {
    *why = strerror(errno);
  } else {
    return true;
  }
  return false;
}

bool resolveProgram(const std::string& name, std::string* path, std::string* why) {
  if (name.find('/') != std::string::npos) {
    *path = name;
    return isExecutableFile(name, why);
  }
  const char* env = getenv("PATH");
  const std::string dirs = env ? env : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const std::string dir = end == start ? "." : dirs.substr(start, end - start);
    std::string ignored;
    if (isExecutableFile(dir + "/" + name, &ignored)) {
      *path = dir + "/" + name;
      return true;
    }
    start = end + 1;
  }
  *why = "not found in PATH";
  return false;
}

std::vector<std::string> rankEnvironment(const Options& o, long localRank, const std::string& rootAddr,
                                         const std::string& secret, int cpus) {
  const std::string rank = std::to_string(o.rankOffset + localRank);
  const std::string local = std::to_string(localRank);
  const std::string total = std::to_string(o.nranksTotal);
  const std::string here = std::to_string(o.nranks);
  // --bind: core or none say so; auto binds a whole job of no more ranks than CPUs unless the
  // caller chose (TORC_BIND inherited); otherwise TORC_BIND is left as inherited.
  const bool binds = o.bind == "core" || (o.bind == "auto" && getenv("TORC_BIND") == nullptr &&
                                          o.nranksTotal == o.nranks && o.nranks <= cpus);
  const std::string bind = binds ? "1" : o.bind == "none" ? "0" : "";
  // An empty value leaves the inherited variable as it is.
  const std::pair<const char*, const std::string*> ours[] = {{"TORC_RANK", &rank},
                                                             {"TORC_NRANKS", &total},
                                                             {"TORC_LOCAL_RANK", &local},
                                                             {"TORC_LOCAL_NRANKS", &here},
                                                             {"TORC_ROOT_ADDR", &rootAddr},
                                                             {"TORC_SECRET", &secret},
                                                             {"RANK", &rank},
                                                             {"WORLD_SIZE", &total},
                                                             {"LOCAL_RANK", &local},
                                                             {"LOCAL_WORLD_SIZE", &here},
                                                             {"TORC_BIND", &bind}};
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view kv(*e);
    const std::string_view key = kv.substr(0, kv.find('='));
    const bool replaced =
        std::any_of(std::begin(ours), std::end(ours), [&](const auto& p) { return key == p.first && !p.second->empty(); });
    if (!replaced) env.emplace_back(kv);
  }
  for (const auto& [key, value] : ours)
    if (!value->empty()) env.push_back(std::string(key) + "=" + *value);
  return env;
}

}  // namespace torc::tools
