#include "src/base/log.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

#include "src/base/param.h"

TORC_PARAM_CHOICE(Debug, "DEBUG", "WARN", "NONE|WARN|INFO|TRACE", "log level");
TORC_PARAM(DebugSubsys, std::string, "DEBUG_SUBSYS", std::string("ALL"),
           "subsystems logged at INFO/TRACE: INIT,BOOTSTRAP,NET,UCX,COLL,TUNING,ENV,ALLOC,TOPO or ALL; ^ inverts");
TORC_PARAM(DebugFile, std::string, "DEBUG_FILE", std::string(""), "log to this file instead of stderr (%h host, %p pid)");

namespace torc {
namespace {

struct LogConfig {
  LogLevel level = LogLevel::kWarn;
  uint32_t subsysMask = kLogAll;
  FILE* out = stderr;
  char host[64] = "?";
};

std::atomic<bool> gConfigured{false};
std::once_flag gOnce;
LogConfig gConfig;
thread_local int tRank = -1;

uint32_t parseSubsys(const std::string& spec) {
  static const struct { const char* name; uint32_t bit; } kNames[] = {
      {"INIT", kLogInit}, {"BOOTSTRAP", kLogBootstrap}, {"NET", kLogNet}, {"UCX", kLogUcx},
      {"COLL", kLogColl}, {"TUNING", kLogTuning},       {"ENV", kLogEnv}, {"ALLOC", kLogAlloc},
      {"TOPO", kLogTopo}, {"ALL", kLogAll}};
  bool invert = !spec.empty() && spec[0] == '^';
  uint32_t mask = 0;
  size_t pos = invert ? 1 : 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    std::string tok = spec.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    for (auto& n : kNames)
      if (strcasecmp(tok.c_str(), n.name) == 0) mask |= n.bit;
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return invert ? ~mask : mask;
}

std::string expandPath(const std::string& pattern, const char* host) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size()) {
      if (pattern[i + 1] == 'h') { out += host; ++i; continue; }
      if (pattern[i + 1] == 'p') { out += std::to_string(getpid()); ++i; continue; }
    }
    out += pattern[i];
  }
  return out;
}

void configure() {
  std::call_once(gOnce, [] {
    gethostname(gConfig.host, sizeof(gConfig.host) - 1);
    if (char* dot = strchr(gConfig.host, '.')) *dot = '\0';
    std::string lvl = torcParamDebug();
    if (strcasecmp(lvl.c_str(), "NONE") == 0) gConfig.level = LogLevel::kNone;
    else if (strcasecmp(lvl.c_str(), "INFO") == 0) gConfig.level = LogLevel::kInfo;
    else if (strcasecmp(lvl.c_str(), "TRACE") == 0) gConfig.level = LogLevel::kTrace;
    else gConfig.level = LogLevel::kWarn;
    gConfig.subsysMask = parseSubsys(torcParamDebugSubsys());
    std::string file = torcParamDebugFile();
    if (!file.empty()) {
      FILE* f = fopen(expandPath(file, gConfig.host).c_str(), "a");
      if (f) {
        setvbuf(f, nullptr, _IOLBF, 0);
        gConfig.out = f;
      }
    }
    gConfigured.store(true, std::memory_order_release);
  });
}

const char* levelTag(LogLevel l) {
  switch (l) {
    case LogLevel::kWarn: return "WARN";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kTrace: return "TRACE";
    default: return "";
  }
}

void emit(LogLevel level, const char* where, const char* fmt, va_list ap) {
  char msg[2048];
  vsnprintf(msg, sizeof(msg), fmt, ap);
  const char* host = gConfigured.load(std::memory_order_acquire) ? gConfig.host : "?";
  FILE* out = gConfigured.load(std::memory_order_acquire) ? gConfig.out : stderr;
  char rank[16] = "";
  if (tRank >= 0) snprintf(rank, sizeof(rank), " [%d]", tRank);
  fprintf(out, "%s:%d:%ld%s torc %s %s%s%s\n", host, getpid(), static_cast<long>(syscall(SYS_gettid)), rank,
          levelTag(level), where, where[0] ? " " : "", msg);
}

}  // namespace

bool logEnabled(LogLevel level, uint32_t subsys) {
  if (!gConfigured.load(std::memory_order_acquire)) configure();
  if (level > gConfig.level) return false;
  return level == LogLevel::kWarn || (gConfig.subsysMask & subsys) != 0;
}

void logMessage(LogLevel level, uint32_t, const char* file, int line, const char* fmt, ...) {
  char where[128] = "";
  if (level == LogLevel::kTrace) {
    const char* base = strrchr(file, '/');
    snprintf(where, sizeof(where), "%s:%d", base ? base + 1 : file, line);
  }
  va_list ap;
  va_start(ap, fmt);
  emit(level, where, fmt, ap);
  va_end(ap);
}

void logRaw(LogLevel level, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  emit(level, "", fmt, ap);
  va_end(ap);
}

void setLogRank(int rank) { tRank = rank; }
int logRank() { return tRank; }

}  // namespace torc
