// Drives the torcrun binary end to end with /bin/sh ranks: environment, output prefixing, exit codes,
// teardown on failure, signal forwarding, timeouts and usage errors. Every run has a hard time limit.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace torc::tools {
namespace {

constexpr double kRunLimitSeconds = 20;  // a run that takes longer is killed and the test fails

double monoNow() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::string torcrunPath() {
  const char* dir = getenv("TORC_TEST_BIN_DIR");
  if (dir != nullptr && *dir != '\0') return std::string(dir) + "/tools/torcrun";
#ifdef TORC_TORCRUN_PATH
  return TORC_TORCRUN_PATH;
#else
  return "";
#endif
}

struct RunResult {
  int exitCode = -1;  // 128+signal when torcrun itself died from a signal
  std::string out, err;
  double seconds = 0;  // from start to torcrun's exit
  bool hitLimit = false;
};

// One torcrun process with stdout and stderr captured. The environment is the test's own minus every
// TORC_* and torchrun variable, plus `env` ("KEY=VALUE" entries). Signals start at their defaults,
// except `ignored`.
class TorcrunProcess {
 public:
  TorcrunProcess(const std::vector<std::string>& args, const std::vector<std::string>& env = {},
                 const std::string& binary = torcrunPath(), const std::vector<int>& ignored = {}) {
    std::vector<std::string> argStore{binary};
    argStore.insert(argStore.end(), args.begin(), args.end());
    std::vector<std::string> envStore;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string kv(*e);
      const std::string key = kv.substr(0, kv.find('='));
      static const std::set<std::string> kDropped{"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"};
      if (key.compare(0, 5, "TORC_") != 0 && kDropped.count(key) == 0) envStore.push_back(kv);
    }
    envStore.insert(envStore.end(), env.begin(), env.end());
    std::vector<char*> argv, envp;
    for (std::string& a : argStore) argv.push_back(a.data());
    for (std::string& e : envStore) envp.push_back(e.data());
    argv.push_back(nullptr);
    envp.push_back(nullptr);

    int outPipe[2], errPipe[2];
    if (pipe2(outPipe, O_CLOEXEC) != 0 || pipe2(errPipe, O_CLOEXEC) != 0) return;
    started_ = monoNow();
    pid_ = fork();
    if (pid_ == 0) {
      for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) signal(sig, SIG_DFL);
      for (int sig : ignored) signal(sig, SIG_IGN);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, nullptr);
      dup2(outPipe[1], STDOUT_FILENO);
      dup2(errPipe[1], STDERR_FILENO);
      execve(argv[0], argv.data(), envp.data());
      _exit(99);
    }
    close(outPipe[1]);
    close(errPipe[1]);
    outFd_ = outPipe[0];
    errFd_ = errPipe[0];
  }

  ~TorcrunProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    for (int fd : {outFd_, errFd_}) {
      if (fd >= 0) close(fd);
    }
  }

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  const RunResult& result() const { return result_; }

  // Reads output until `done` holds or `seconds` pass; false on timeout.
  bool readUntil(const std::function<bool(const RunResult&)>& done, double seconds) {
    const double deadline = monoNow() + seconds;
    while (!done(result_)) {
      if (monoNow() >= deadline || (outFd_ < 0 && errFd_ < 0)) return false;
      readSome(50);
    }
    return true;
  }

  // Waits for torcrun to exit (killing it past the limit), then for its pipes to close.
  RunResult wait(double limitSeconds = kRunLimitSeconds) {
    const double deadline = monoNow() + limitSeconds;
    while (!exited_) {
      int status = 0;
      const pid_t got = waitpid(pid_, &status, WNOHANG);
      if (got < 0 && errno != EINTR) {
        ADD_FAILURE() << "waitpid: " << strerror(errno);
        exited_ = true;
      } else if (got == pid_) {
        exited_ = true;
        result_.seconds = monoNow() - started_;
        result_.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      } else if (monoNow() >= deadline) {
        result_.hitLimit = true;
        kill(pid_, SIGKILL);
      } else {
        readSome(20);
      }
    }
    // With --no-prefix the ranks share our pipes, so EOF may trail torcrun's exit a little.
    const double drainDeadline = monoNow() + 2;
    while ((outFd_ >= 0 || errFd_ >= 0) && monoNow() < drainDeadline) readSome(50);
    return result_;
  }

 private:
  void readSome(int timeoutMs) {
    pollfd fds[2] = {{outFd_, POLLIN, 0}, {errFd_, POLLIN, 0}};
    if (poll(fds, 2, timeoutMs) <= 0) return;
    std::pair<int*, std::string*> targets[2] = {{&outFd_, &result_.out}, {&errFd_, &result_.err}};
    for (int k = 0; k < 2; ++k) {
      if (fds[k].revents == 0) continue;
      char buf[65536];
      const ssize_t n = read(*targets[k].first, buf, sizeof buf);
      if (n > 0) {
        targets[k].second->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(*targets[k].first);
        *targets[k].first = -1;
      }
    }
  }

  pid_t pid_ = -1;
  int outFd_ = -1, errFd_ = -1;
  bool exited_ = false;
  double started_ = 0;
  RunResult result_;
};

RunResult run(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  TorcrunProcess p(args, env);
  EXPECT_TRUE(p.started());
  if (!p.started()) return {};
  RunResult r = p.wait();
  EXPECT_FALSE(r.hitLimit) << "torcrun did not finish within " << kRunLimitSeconds << " s";
  return r;
}

std::vector<std::string> splitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

size_t countLinesContaining(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (const std::string& line : splitLines(text)) n += line.find(needle) != std::string::npos;
  return n;
}

// "[r] body" lines to r -> bodies in order; anything else is a failure.
std::map<int, std::vector<std::string>> linesByRank(const std::string& text) {
  static const std::regex kLine(R"(\[([0-9]+)\] (.*))");
  std::map<int, std::vector<std::string>> byRank;
  for (const std::string& line : splitLines(text)) {
    std::smatch m;
    if (!std::regex_match(line, m, kLine)) {
      ADD_FAILURE() << "line without a rank prefix: '" << line.substr(0, 200) << "'";
      continue;
    }
    byRank[std::stoi(m[1])].push_back(m[2]);
  }
  return byRank;
}

std::vector<std::string> splitWords(const std::string& s) {
  std::vector<std::string> words;
  std::istringstream in(s);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

// Dead means no /proc entry or a zombie nobody reaps (PID 1 in a container may not).
bool processGone(pid_t pid, double waitSeconds) {
  const double deadline = monoNow() + waitSeconds;
  do {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string all;
    if (!stat || !std::getline(stat, all)) return true;
    const size_t close = all.rfind(')');
    if (close != std::string::npos && close + 2 < all.size() && all[close + 2] == 'Z') return true;
    usleep(20000);
  } while (monoNow() < deadline);
  return false;
}

class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "torcrun_test.XXXXXX").string();
    if (mkdtemp(templ.data()) != nullptr) path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void writeFile(const std::string& path, const std::string& content, mode_t mode) {
  std::ofstream(path, std::ios::binary) << content;
  ASSERT_EQ(chmod(path.c_str(), mode), 0) << path;
}

class TorcrunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(torcrunPath().empty()) << "set TORC_TEST_BIN_DIR to the build root";
    ASSERT_EQ(access(torcrunPath().c_str(), X_OK), 0) << torcrunPath() << ": " << strerror(errno);
  }
};

const char kPrintEnv[] =
    "echo \"$TORC_RANK $TORC_NRANKS $TORC_LOCAL_RANK $TORC_LOCAL_NRANKS $TORC_ROOT_ADDR $TORC_SECRET "
    "$RANK $WORLD_SIZE $LOCAL_RANK $LOCAL_WORLD_SIZE\"";

TEST_F(TorcrunTest, GivesEveryRankItsEnvironment) {
  const RunResult r = run({"-n", "4", "--", "/bin/sh", "-c", kPrintEnv});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto byRank = linesByRank(r.out);
  ASSERT_EQ(byRank.size(), 4u) << r.out;
  ASSERT_EQ(byRank[0].size(), 1u) << r.out;
  const std::vector<std::string> first = splitWords(byRank[0][0]);
  ASSERT_EQ(first.size(), 10u) << r.out;
  const std::string addr = first[4], secret = first[5];
  std::smatch m;
  ASSERT_TRUE(std::regex_match(addr, m, std::regex(R"(127\.0\.0\.1:([0-9]+))"))) << addr;
  EXPECT_GT(std::stoi(m[1]), 0);
  EXPECT_LT(std::stoi(m[1]), 65536);
  EXPECT_TRUE(std::regex_match(secret, std::regex("[0-9a-f]{32}"))) << secret;
  for (int rank = 0; rank < 4; ++rank) {
    ASSERT_EQ(byRank[rank].size(), 1u) << r.out;
    const std::string s = std::to_string(rank);
    const std::vector<std::string> want{s, "4", s, "4", addr, secret, s, "4", s, "4"};
    EXPECT_EQ(splitWords(byRank[rank][0]), want) << "rank " << rank;
  }
}

TEST_F(TorcrunTest, EveryJobGetsAFreshSecretAndPort) {
  const RunResult a = run({"-n", "1", "/bin/sh", "-c", "echo $TORC_ROOT_ADDR $TORC_SECRET"});
  const RunResult b = run({"-n", "1", "/bin/sh", "-c", "echo $TORC_ROOT_ADDR $TORC_SECRET"});
  ASSERT_EQ(a.exitCode, 0);
  ASSERT_EQ(b.exitCode, 0);
  const auto wa = splitWords(a.out), wb = splitWords(b.out);
  ASSERT_EQ(wa.size(), 3u) << a.out;
  ASSERT_EQ(wb.size(), 3u) << b.out;
  EXPECT_NE(wa[2], wb[2]) << "the secret must be random";
}

TEST_F(TorcrunTest, RankOffsetJoinsALargerJobAndOverridesInheritedValues) {
  const RunResult r = run({"-n", "2", "--rank-offset", "2", "--nranks-total", "5", "--root-addr", "10.1.2.3:4567", "--",
                           "/bin/sh", "-c", kPrintEnv},
                          {"TORC_SECRET=00112233445566778899aabbccddeeff", "RANK=99", "TORC_LOCAL_RANK=99"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto byRank = linesByRank(r.out);
  ASSERT_EQ(byRank.size(), 2u) << r.out;
  for (int local = 0; local < 2; ++local) {
    const int rank = 2 + local;
    ASSERT_EQ(byRank[rank].size(), 1u) << r.out;
    const std::string g = std::to_string(rank), l = std::to_string(local);
    const std::vector<std::string> want{g, "5", l, "2", "10.1.2.3:4567", "00112233445566778899aabbccddeeff",
                                        g, "5", l, "2"};
    EXPECT_EQ(splitWords(byRank[rank][0]), want) << "rank " << rank;
  }
}

// --bind decides TORC_BIND: auto binds a whole job of no more ranks than CPUs, unless the caller
// set TORC_BIND; core and none say so whatever was inherited.
TEST_F(TorcrunTest, BindSetsTorcBindForTheRanks) {
  cpu_set_t cpus;
  ASSERT_EQ(sched_getaffinity(0, sizeof cpus, &cpus), 0);
  const int n = CPU_COUNT(&cpus);
  auto bindOf = [](const RunResult& r) {
    std::vector<std::string> got;
    for (auto& [rank, lines] : linesByRank(r.out))
      for (auto& l : lines) got.push_back(l);
    return got;
  };
  const char* kShow = "echo \"bind=${TORC_BIND-unset}\"";
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string want;
  };
  const std::vector<Case> cases = {
      {{"-n", std::to_string(n)}, {}, "bind=1"},
      {{"-n", std::to_string(n + 1)}, {}, "bind=unset"},
      {{"-n", "1"}, {"TORC_BIND=0"}, "bind=0"},
      {{"-n", "1", "--bind", "none"}, {"TORC_BIND=1"}, "bind=0"},
      {{"-n", std::to_string(n + 1), "--bind=core"}, {"TORC_BIND=0"}, "bind=1"},
      {{"-n", "1", "--nranks-total", "2", "--root-addr", "h:1"}, {"TORC_SECRET=abc"}, "bind=unset"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = c.args;
    args.insert(args.end(), {"/bin/sh", "-c", kShow});
    const RunResult r = run(args, c.env);
    ASSERT_EQ(r.exitCode, 0) << r.err;
    const auto got = bindOf(r);
    ASSERT_FALSE(got.empty()) << r.out;
    for (const auto& line : got) EXPECT_EQ(line, c.want) << c.args[1] << (c.args.size() > 2 ? " " + c.args[2] : "");
  }
  const RunResult bad = run({"-n", "1", "--bind", "socket", "true"});
  EXPECT_EQ(bad.exitCode, 2);
  EXPECT_NE(bad.err.find("--bind"), std::string::npos) << bad.err;
}

TEST_F(TorcrunTest, MultiInstanceOptionsAreChecked) {
  const std::vector<std::vector<std::string>> bad = {
      {"-n", "2", "--nranks-total", "4", "true"},                                              // no --root-addr
      {"-n", "2", "--rank-offset", "2", "true"},                                               // no --nranks-total
      {"-n", "2", "--rank-offset", "3", "--nranks-total", "4", "--root-addr", "h:1", "true"},  // 3..4 of 4
      {"-n", "2", "--root-addr", "nocolon", "true"},
      {"-n", "2", "--root-addr", "h:70000", "true"},
  };
  for (const auto& args : bad) {
    const RunResult r = run(args, {"TORC_SECRET=abc"});
    EXPECT_EQ(r.exitCode, 2) << args[2] << " " << args[3];
    EXPECT_EQ(r.err.rfind("torcrun: ", 0), 0u) << r.err;
  }
  // A shared root address without a shared secret cannot form a job.
  const RunResult r = run({"-n", "2", "--nranks-total", "4", "--root-addr", "h:1", "true"});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.err.find("TORC_SECRET"), std::string::npos) << r.err;
}

// Each rank writes lines in pieces (a line longer than PIPE_BUF, separate writes for parts of one line)
// at the same time as the others, then a last line without a newline.
TEST_F(TorcrunTest, PrefixesCompleteLinesOnTheRightStream) {
  const char kScript[] =
      "pad=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
      "i=0\n"
      "while [ $i -lt 100 ]; do\n"
      "  printf 'out %s %s ' $TORC_RANK $i; printf '%s\\n' $pad\n"
      "  echo \"err $TORC_RANK $i\" >&2\n"
      "  i=$((i+1))\n"
      "done\n"
      "head -c 20000 /dev/zero | tr '\\000' y; echo\n"
      "printf 'tail %s' $TORC_RANK\n";
  const RunResult r = run({"-n", "4", "--", "/bin/sh", "-c", kScript});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const std::string pad(72, 'x'), longLine(20000, 'y');
  auto outByRank = linesByRank(r.out);
  auto errByRank = linesByRank(r.err);
  ASSERT_EQ(outByRank.size(), 4u);
  ASSERT_EQ(errByRank.size(), 4u);
  for (int rank = 0; rank < 4; ++rank) {
    std::vector<std::string> wantOut, wantErr;
    for (int i = 0; i < 100; ++i) {
      wantOut.push_back("out " + std::to_string(rank) + " " + std::to_string(i) + " " + pad);
      wantErr.push_back("err " + std::to_string(rank) + " " + std::to_string(i));
    }
    wantOut.push_back(longLine);
    wantOut.push_back("tail " + std::to_string(rank));
    EXPECT_TRUE(outByRank[rank] == wantOut) << "stdout of rank " << rank << " is not its lines in order";
    EXPECT_TRUE(errByRank[rank] == wantErr) << "stderr of rank " << rank << " is not its lines in order";
  }
  EXPECT_EQ(r.out.back(), '\n');
}

TEST_F(TorcrunTest, NoPrefixPassesOutputThrough) {
  const RunResult r = run({"--no-prefix", "-n", "2", "--", "/bin/sh", "-c", "echo plain $TORC_RANK"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto lines = splitLines(r.out);
  EXPECT_EQ(std::multiset<std::string>(lines.begin(), lines.end()), (std::multiset<std::string>{"plain 0", "plain 1"}));
}

TEST_F(TorcrunTest, ExitsZeroWhenEveryRankSucceeds) {
  EXPECT_EQ(run({"-n", "3", "--", "/bin/sh", "-c", "sleep 0.$TORC_RANK; exit 0"}).exitCode, 0);
  EXPECT_EQ(run({"-n", "1", "true"}).exitCode, 0);  // found through PATH
}

TEST_F(TorcrunTest, FailingRankStopsTheJobAndGivesItsCode) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  // The healthy ranks record the pid of the sleep they started (a grandchild of torcrun); rank 2 fails
  // once all of them have done so.
  const std::string script = "d=" + dir.path() +
                             "\n"
                             "if [ $TORC_RANK = 2 ]; then\n"
                             "  for r in 0 1 3; do while [ ! -s $d/pid.$r ]; do sleep 0.02; done; done\n"
                             "  exit 7\n"
                             "fi\n"
                             "sleep 30 &\n"
                             "echo $! > $d/tmp.$TORC_RANK; mv $d/tmp.$TORC_RANK $d/pid.$TORC_RANK\n"
                             "wait\n";
  const RunResult r = run({"-n", "4", "--grace", "3", "--", "/bin/sh", "-c", script});
  EXPECT_EQ(r.exitCode, 7) << r.err;
  EXPECT_LT(r.seconds, 2.5) << "the others should die from SIGTERM, well before the grace period ends";
  EXPECT_EQ(countLinesContaining(r.err, "torcrun:"), 1u) << r.err;
  EXPECT_EQ(countLinesContaining(r.err, "rank 2 "), 1u) << r.err;
  EXPECT_NE(r.err.find("code 7"), std::string::npos) << r.err;
  for (int rank : {0, 1, 3}) {
    std::ifstream in(dir.path() + "/pid." + std::to_string(rank));
    pid_t pid = 0;
    ASSERT_TRUE(in >> pid) << "rank " << rank << " never started its sleep";
    EXPECT_TRUE(processGone(pid, 3)) << "rank " << rank << "'s sleep " << pid << " survived the teardown";
  }
}

TEST_F(TorcrunTest, RanksIgnoringSigtermAreKilledAfterTheGracePeriod) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string script = "d=" + dir.path() +
                             "\n"
                             "if [ $TORC_RANK = 0 ]; then\n"
                             "  while [ ! -e $d/ready.1 ] || [ ! -e $d/ready.2 ]; do sleep 0.02; done\n"
                             "  exit 3\n"
                             "fi\n"
                             "trap '' TERM\n"
                             "touch $d/ready.$TORC_RANK\n"
                             "sleep 30\n";
  const RunResult r = run({"-n", "3", "--grace", "1", "--", "/bin/sh", "-c", script});
  EXPECT_EQ(r.exitCode, 3) << r.err;
  EXPECT_GE(r.seconds, 0.9) << "SIGKILL came before the grace period ended";
  EXPECT_LT(r.seconds, 5);
}

TEST_F(TorcrunTest, SignalDeathGives128PlusSignal) {
  const RunResult r =
      run({"-n", "2", "--", "/bin/sh", "-c", "if [ $TORC_RANK = 1 ]; then kill -USR1 $$; fi; sleep 30"});
  EXPECT_EQ(r.exitCode, 128 + SIGUSR1) << r.err;
  EXPECT_LT(r.seconds, 4);
  EXPECT_NE(r.err.find("rank 1 "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("signal " + std::to_string(SIGUSR1)), std::string::npos) << r.err;
}

TEST_F(TorcrunTest, ForwardsTerminatingSignalsToEveryRank) {
  const char kScript[] = "trap 'echo got $TORC_RANK; exit 5' TERM INT HUP; echo ready; sleep 30 & wait";
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
    SCOPED_TRACE(strsignal(sig));
    TorcrunProcess p({"-n", "3", "--grace", "1", "--", "/bin/sh", "-c", kScript});
    ASSERT_TRUE(p.started());
    ASSERT_TRUE(p.readUntil([](const RunResult& r) { return countLinesContaining(r.out, "] ready") == 3; }, 10))
        << p.result().out;
    const double sent = monoNow();
    ASSERT_EQ(kill(p.pid(), sig), 0);
    const RunResult r = p.wait();
    ASSERT_FALSE(r.hitLimit);
    EXPECT_LT(monoNow() - sent, 5);
    EXPECT_EQ(r.exitCode, 128 + sig) << r.err;
    auto byRank = linesByRank(r.out);
    for (int rank = 0; rank < 3; ++rank) {
      EXPECT_EQ(byRank[rank], (std::vector<std::string>{"ready", "got " + std::to_string(rank)})) << r.out;
    }
    // Exits caused by the forwarded signal are not reported as rank failures.
    EXPECT_EQ(r.err.find("exited with code"), std::string::npos) << r.err;
  }
}

// Like nohup: a signal torcrun starts with ignored is neither acted on nor forwarded.
TEST_F(TorcrunTest, SignalIgnoredAtStartStaysIgnored) {
  const char kScript[] = "trap 'echo hup' HUP; echo ready; sleep 30 & wait";
  TorcrunProcess p({"-n", "2", "--grace", "1", "--", "/bin/sh", "-c", kScript}, {}, torcrunPath(), {SIGHUP});
  ASSERT_TRUE(p.started());
  ASSERT_TRUE(p.readUntil([](const RunResult& r) { return countLinesContaining(r.out, "] ready") == 2; }, 10));
  ASSERT_EQ(kill(p.pid(), SIGHUP), 0);
  p.readUntil([](const RunResult&) { return false; }, 0.5);
  siginfo_t info{};
  ASSERT_EQ(waitid(P_PID, static_cast<id_t>(p.pid()), &info, WEXITED | WNOHANG | WNOWAIT), 0);
  EXPECT_EQ(info.si_pid, 0) << "torcrun exited after an ignored SIGHUP";
  ASSERT_EQ(kill(p.pid(), SIGTERM), 0);
  const RunResult r = p.wait();
  EXPECT_EQ(r.exitCode, 128 + SIGTERM) << r.err;
  EXPECT_EQ(r.out.find("hup"), std::string::npos) << r.out;
}

TEST_F(TorcrunTest, TimeoutKillsTheJobWith124) {
  const RunResult r = run({"--timeout", "0.5", "--grace", "1", "-n", "2", "--", "sleep", "30"});
  EXPECT_EQ(r.exitCode, 124) << r.err;
  EXPECT_GE(r.seconds, 0.45);
  EXPECT_LT(r.seconds, 4);
  EXPECT_NE(r.err.find("timeout"), std::string::npos) << r.err;
  EXPECT_EQ(run({"--timeout", "20", "-n", "2", "true"}).exitCode, 0);
}

TEST_F(TorcrunTest, BadUsageExitsTwoWithAMessage) {
  const std::vector<std::vector<std::string>> bad = {
      {},
      {"true"},
      {"-n", "0", "true"},
      {"-n", "-1", "true"},
      {"-n", "two", "true"},
      {"-n", "2"},
      {"-n"},
      {"--bogus", "-n", "2", "true"},
      {"-n", "2", "--timeout", "0", "true"},
      {"-n", "2", "--grace", "soon", "true"},
      {"-n", "2", "--no-prefix=1", "true"},
  };
  for (const auto& args : bad) {
    std::string joined;
    for (const std::string& a : args) joined += a + " ";
    const RunResult r = run(args);
    EXPECT_EQ(r.exitCode, 2) << joined;
    EXPECT_EQ(r.err.rfind("torcrun: ", 0), 0u) << joined << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << joined;
  }
}

TEST_F(TorcrunTest, MissingProgramIsReportedBeforeStarting) {
  for (const std::string prog : {"/nonexistent/torc_prog", "torc_no_such_program_xyz", "/"}) {
    const RunResult r = run({"-n", "2", prog});
    EXPECT_EQ(r.exitCode, 2) << prog;
    EXPECT_NE(r.err.find(prog), std::string::npos) << r.err;
  }
}

TEST_F(TorcrunTest, ExecFailureInTheRankExits127) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string bogus = dir.path() + "/not_a_program";
  writeFile(bogus, std::string(1, '\x7f') + "ELF but not really\n", 0755);  // executable, no valid format
  const RunResult r = run({"-n", "2", bogus});
  EXPECT_EQ(r.exitCode, 127) << r.err;
  EXPECT_NE(r.err.find("] torcrun: cannot exec " + bogus), std::string::npos) << r.err;
}

TEST_F(TorcrunTest, HelpDescribesTheOptions) {
  const RunResult r = run({"--help"});
  EXPECT_EQ(r.exitCode, 0);
  for (const char* option :
       {"-n N", "--rank-offset", "--nranks-total", "--root-addr", "--no-prefix", "--grace", "--timeout", "--info"}) {
    EXPECT_NE(r.out.find(option), std::string::npos) << option;
  }
}

TEST_F(TorcrunTest, InfoRunsTorcInfoNextToTheBinary) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string copy = dir.path() + "/torcrun";
  std::filesystem::copy_file(torcrunPath(), copy);
  ASSERT_EQ(chmod(copy.c_str(), 0755), 0);

  TorcrunProcess missing({"--info"}, {}, copy);
  const RunResult r1 = missing.wait();
  EXPECT_EQ(r1.exitCode, 2);
  EXPECT_NE(r1.err.find(dir.path() + "/torc_info"), std::string::npos) << r1.err;

  writeFile(dir.path() + "/torc_info", "#!/bin/sh\necho \"info:$*\"\nexit 3\n", 0755);
  TorcrunProcess present({"--info", "a", "b"}, {}, copy);
  const RunResult r2 = present.wait();
  EXPECT_EQ(r2.exitCode, 3) << r2.err;
  EXPECT_EQ(r2.out, "info:a b\n");
}

}  // namespace
}  // namespace torc::tools
