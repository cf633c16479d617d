// Fork mode: runs N real processes of a test worker as one torc job on this machine (the
// launcher variables torcrun would set), with a deadline, and collects each rank's exit code
// and output. Every test collective therefore runs over the real UCX transport.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace torc::test {

struct RankResult {
  int rank = -1;
  int exitCode = -1;   // 128+signal when killed by a signal
  bool timedOut = false;
  std::string out;     // stdout
  std::string err;     // stderr
};

// Which launcher's variables the ranks see.
enum class Launcher { kTorcrun, kTorchrun, kOpenMpi };

struct JobOptions {
  Launcher launcher = Launcher::kTorcrun;
  std::map<std::string, std::string> env;  // extra environment for every rank
  double deadlineSec = 120;                // then every rank is killed
  // Ranks to start late, after `beforeLateRanks` has run (e.g. to poke the rendezvous first).
  std::vector<int> lateRanks;
  std::function<void(const std::string& rootAddr)> beforeLateRanks;
  std::vector<int> skipRanks;  // never started (to test missing ranks)
};

// Path of a built test program: $TORC_TEST_BIN_DIR/<relative>.
std::string binPath(const std::string& relative);

// A free TCP port on 127.0.0.1.
int freePort();

std::vector<RankResult> runJob(const std::string& exe, const std::vector<std::string>& args, int nranks,
                               const JobOptions& opts = {});

// A one-line summary of every rank's exit and the tail of its stderr (for assertion messages).
std::string describe(const std::vector<RankResult>& results);

}  // namespace torc::test
