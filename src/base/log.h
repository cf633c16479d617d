// One logging system. TORC_DEBUG=WARN|INFO|TRACE sets the level (default WARN),
// TORC_DEBUG_SUBSYS=INIT,BOOTSTRAP,... limits INFO/TRACE to some subsystems (a leading ^ inverts),
// TORC_DEBUG_FILE=path (%h host, %p pid) redirects. Every line carries "host:pid:tid [rank]".
// The level is checked before anything is formatted.
#pragma once

#include <cstdint>

namespace torc {

enum class LogLevel : int { kNone = 0, kWarn = 1, kInfo = 2, kTrace = 3 };

enum LogSubsys : uint32_t {
  kLogInit = 1u << 0,
  kLogBootstrap = 1u << 1,
  kLogNet = 1u << 2,
  kLogUcx = 1u << 3,
  kLogColl = 1u << 4,
  kLogTuning = 1u << 5,
  kLogEnv = 1u << 6,
  kLogAlloc = 1u << 7,
  kLogTopo = 1u << 8,
  kLogAll = 0xffffffffu,
};

bool logEnabled(LogLevel level, uint32_t subsys);
void logMessage(LogLevel level, uint32_t subsys, const char* file, int line, const char* fmt, ...)
    __attribute__((format(printf, 5, 6)));
// Prints regardless of the configured level (used by the parameter parser, which the level
// itself depends on).
void logRaw(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// The rank shown in this thread's log lines (-1: none). Set by the communicator on entry.
void setLogRank(int rank);
int logRank();

}  // namespace torc

#define TORC_WARN(fmt, ...)                                                                       \
  do {                                                                                            \
    if (::torc::logEnabled(::torc::LogLevel::kWarn, ::torc::kLogAll))                             \
      ::torc::logMessage(::torc::LogLevel::kWarn, ::torc::kLogAll, __FILE__, __LINE__, fmt, ##__VA_ARGS__); \
  } while (0)
#define TORC_INFO(subsys, fmt, ...)                                                                  \
  do {                                                                                               \
    if (::torc::logEnabled(::torc::LogLevel::kInfo, subsys))                                         \
      ::torc::logMessage(::torc::LogLevel::kInfo, subsys, __FILE__, __LINE__, fmt, ##__VA_ARGS__);   \
  } while (0)
#define TORC_TRACE(subsys, fmt, ...)                                                                 \
  do {                                                                                               \
    if (::torc::logEnabled(::torc::LogLevel::kTrace, subsys))                                        \
      ::torc::logMessage(::torc::LogLevel::kTrace, subsys, __FILE__, __LINE__, fmt, ##__VA_ARGS__);  \
  } while (0)
