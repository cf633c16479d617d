#include "tests/harness/multiproc.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

namespace torc::test {

std::string binPath(const std::string& relative) {
  const char* dir = getenv("TORC_TEST_BIN_DIR");
#ifdef TORC_TEST_BIN_DIR
  if (dir == nullptr) dir = TORC_TEST_BIN_DIR;
#endif
  return std::string(dir ? dir : ".") + "/" + relative;
}

// A port the rendezvous can bind, below Linux's ephemeral range (32768 and up), where the
// outgoing connections of tests running alongside would otherwise take it in the moment
// between this check and the root's bind. Random, so that concurrent jobs rarely pick the same.
int freePort() {
  static std::mt19937 rng(static_cast<unsigned>(getpid()) ^ static_cast<unsigned>(time(nullptr)));
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int port = 20000 + static_cast<int>(rng() % 12000);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    a.sin_port = htons(static_cast<uint16_t>(port));
    const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    close(fd);
    if (ok) return port;
  }
  int fd = socket(AF_INET, SOCK_STREAM, 0);  // fall back to one the kernel picks
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

static std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

static pid_t spawnRank(const std::string& exe, const std::vector<std::string>& args, int rank, int nranks,
                       const std::string& rootAddr, const JobOptions& opts, const std::string& dir) {
  std::string outPath = dir + "/out." + std::to_string(rank), errPath = dir + "/err." + std::to_string(rank);
  pid_t pid = fork();
  if (pid != 0) return pid;
  int o = open(outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int e = open(errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(o, 1);
  dup2(e, 2);
  const std::string r = std::to_string(rank), n = std::to_string(nranks);
  const std::string port = rootAddr.substr(rootAddr.rfind(':') + 1);
  for (const char* v : {"TORC_RANK", "TORC_NRANKS", "TORC_ROOT_ADDR", "TORC_SECRET", "RANK", "WORLD_SIZE",
                        "MASTER_ADDR", "MASTER_PORT", "TORC_PORT"})
    unsetenv(v);
  switch (opts.launcher) {
    case Launcher::kTorcrun:
      setenv("TORC_RANK", r.c_str(), 1);
      setenv("TORC_NRANKS", n.c_str(), 1);
      setenv("TORC_LOCAL_RANK", r.c_str(), 1);
      setenv("TORC_LOCAL_NRANKS", n.c_str(), 1);
      setenv("TORC_ROOT_ADDR", rootAddr.c_str(), 1);
      setenv("TORC_SECRET", "00112233445566778899aabbccddeeff", 1);
      break;
    case Launcher::kTorchrun:  // torc listens on MASTER_PORT + 1
      setenv("RANK", r.c_str(), 1);
      setenv("WORLD_SIZE", n.c_str(), 1);
      setenv("LOCAL_RANK", r.c_str(), 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      setenv("MASTER_PORT", std::to_string(std::stoi(port) - 1).c_str(), 1);
      setenv("TORCHELASTIC_RUN_ID", port.c_str(), 1);
      break;
    case Launcher::kOpenMpi:  // one node, no address given: torc derives one from the job id
      setenv("OMPI_COMM_WORLD_RANK", r.c_str(), 1);
      setenv("OMPI_COMM_WORLD_SIZE", n.c_str(), 1);
      setenv("OMPI_COMM_WORLD_LOCAL_SIZE", n.c_str(), 1);
      setenv("OMPI_MCA_ess_base_jobid", port.c_str(), 1);
      break;
  }
  for (auto& kv : opts.env) setenv(kv.first.c_str(), kv.second.c_str(), 1);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(exe.c_str()));
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execv(exe.c_str(), argv.data());
  fprintf(stderr, "exec %s: %s\n", exe.c_str(), strerror(errno));
  _exit(127);
}

static std::vector<RankResult> runJobOnce(const std::string& exe, const std::vector<std::string>& args, int nranks,
                                          const JobOptions& opts) {
  char tmpl[] = "/tmp/torc-test-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  const std::string rootAddr = "127.0.0.1:" + std::to_string(freePort());
  std::vector<RankResult> results(static_cast<size_t>(nranks));
  std::vector<pid_t> pids(static_cast<size_t>(nranks), -1);
  auto has = [](const std::vector<int>& v, int r) { return std::find(v.begin(), v.end(), r) != v.end(); };
  for (int r = 0; r < nranks; ++r) {
    results[static_cast<size_t>(r)].rank = r;
    if (has(opts.lateRanks, r) || has(opts.skipRanks, r)) continue;
    pids[static_cast<size_t>(r)] = spawnRank(exe, args, r, nranks, rootAddr, opts, dir);
  }
  if (!opts.lateRanks.empty()) {
    if (opts.beforeLateRanks) opts.beforeLateRanks(rootAddr);
    for (int r : opts.lateRanks) pids[static_cast<size_t>(r)] = spawnRank(exe, args, r, nranks, rootAddr, opts, dir);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(opts.deadlineSec);
  int running = 0;
  for (pid_t p : pids) running += p > 0;
  while (running > 0) {
    bool late = std::chrono::steady_clock::now() > deadline;
    for (size_t r = 0; r < pids.size(); ++r) {
      if (pids[r] <= 0) continue;
      if (late) {
        kill(pids[r], SIGKILL);
        results[r].timedOut = true;
      }
      int status = 0;
      pid_t got = waitpid(pids[r], &status, late ? 0 : WNOHANG);
      if (got != pids[r]) continue;
      results[r].exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      pids[r] = -1;
      --running;
    }
    if (running > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (int r = 0; r < nranks; ++r) {
    results[static_cast<size_t>(r)].out = slurp(dir + "/out." + std::to_string(r));
    results[static_cast<size_t>(r)].err = slurp(dir + "/err." + std::to_string(r));
    unlink((dir + "/out." + std::to_string(r)).c_str());
    unlink((dir + "/err." + std::to_string(r)).c_str());
  }
  rmdir(dir.c_str());
  return results;
}

std::vector<RankResult> runJob(const std::string& exe, const std::vector<std::string>& args, int nranks,
                               const JobOptions& opts) {
  // Another process may still take the rendezvous port first: then the job never started, and
  // runs again on another port.
  for (int attempt = 1;; ++attempt) {
    std::vector<RankResult> results = runJobOnce(exe, args, nranks, opts);
    bool portTaken = false;
    for (auto& r : results)
      portTaken |= r.err.find("starting the rendezvous") != std::string::npos &&
                   r.err.find("Address already in use") != std::string::npos;
    if (!portTaken || attempt == 3) return results;
  }
}

std::string describe(const std::vector<RankResult>& results) {
  std::string s;
  for (auto& r : results) {
    s += "\n[rank " + std::to_string(r.rank) + "] exit " + std::to_string(r.exitCode) +
         (r.timedOut ? " (killed at the deadline)" : "");
    std::string tail = r.err.size() > 1500 ? r.err.substr(r.err.size() - 1500) : r.err;
    if (!tail.empty()) s += "\n" + tail;
    std::string otail = r.out.size() > 500 ? r.out.substr(r.out.size() - 500) : r.out;
    if (!otail.empty()) s += "\n(stdout) " + otail;
  }
  return s;
}

}  // namespace torc::test
