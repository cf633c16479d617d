// torcrun's command line and the environment each rank gets; the process handling is in torcrun.cc.
#pragma once

#include <string>
#include <vector>

namespace torc::tools {

/// The --help text.
extern const char kTorcrunUsage[];

struct Options {
  long nranks = 0;       // ranks started by this torcrun
  long rankOffset = 0;   // global rank of the first of them
  long nranksTotal = 0;  // ranks in the whole job; parseArgs sets it to nranks when not given
  std::string rootAddr;  // empty: pick 127.0.0.1 and a free port
  bool prefix = true;
  std::string bind = "auto";  // auto|core|none: TORC_BIND for the ranks (see kTorcrunUsage)
  double graceSeconds = 3;
  double timeoutSeconds = 0;  // 0: none
  bool help = false;
  int infoArg = 0;  // argv index of torc_info's first argument; 0 when --info was not given
  std::vector<std::string> command;
};

/// Fills *opts from argv and checks it; returns an error message, empty on success. Options end at
/// "--" or at the first non-option argument. With --help or --info it stops there and succeeds.
std::string parseArgs(int argc, char** argv, Options* opts);

/// True when path is an executable regular file; otherwise *why says what is wrong.
bool isExecutableFile(const std::string& path, std::string* why);

/// Finds a program like execvp does (PATH unless the name has a slash), so that a missing program is a
/// usage error before any rank starts.
bool resolveProgram(const std::string& name, std::string* path, std::string* why);

/// The current environment, with the TORC_* and torchrun variables of one rank replacing any inherited
/// ones, as KEY=VALUE strings for execve. cpus: how many CPUs torcrun may use (for --bind auto).
std::vector<std::string> rankEnvironment(const Options& opts, long localRank, const std::string& rootAddr,
                                         const std::string& secret, int cpus);

}  // namespace torc::tools
