// torcrun: starts N local ranks of a program with the TORC_* bootstrap environment, prefixes their
// output with the rank, and tears the whole job down as soon as one rank fails.
//
// Each rank runs in its own process group: teardown then reaches the helpers a rank spawned (a
// shell's children hold the output pipes open), and a terminal's Ctrl-C reaches torcrun alone, which
// forwards it once. Signals and child exits arrive through a signalfd and are handled in the one
// poll loop that also moves output, so there are no signal handlers and no threads.
#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>  // PATH_MAX
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tools/torcrun_options.h"

namespace torc::tools {
namespace {

constexpr int kExitInternal = 1;
constexpr int kExitUsage = 2;
constexpr int kExitTimeout = 124;
constexpr int kExitExecFailed = 127;
// Once every rank has exited, how long to wait for pipes still held open by processes they left behind.
constexpr double kDrainSeconds = 1.0;
// A "line" longer than this is printed in pieces rather than buffered without bound.
constexpr size_t kMaxLineBytes = 1 << 20;

double monoNow() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void writeAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w >= 0) {
      p += w;
      n -= static_cast<size_t>(w);
    } else if (errno == EAGAIN) {  // an inherited non-blocking stdout
      pollfd pfd{fd, POLLOUT, 0};
      poll(&pfd, 1, -1);
    } else if (errno != EINTR) {
      return;  // EPIPE and the like: the reader is gone and the output with it
    }
  }
}

// One whole line on stderr, written at once so it never splits a rank's line.
__attribute__((format(printf, 1, 2))) void say(const char* fmt, ...) {
  char buf[1024];
  const size_t head = static_cast<size_t>(snprintf(buf, sizeof buf, "torcrun: "));
  va_list ap;
  va_start(ap, fmt);
  const int m = vsnprintf(buf + head, sizeof buf - head - 1, fmt, ap);
  va_end(ap);
  const size_t len = head + std::min(static_cast<size_t>(std::max(m, 0)), sizeof buf - head - 2);
  buf[len] = '\n';
  writeAll(STDERR_FILENO, buf, len + 1);
}

int execInfo(int argc, char** argv, int first) {
  char self[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    say("cannot read /proc/self/exe: %s", strerror(errno));
    return kExitInternal;
  }
  std::string path(self, static_cast<size_t>(n));
  path.resize(path.rfind('/'));
  path += "/torc_info";
  std::string why;
  if (!isExecutableFile(path, &why)) {
    say("torc_info not found next to torcrun (%s: %s)", path.c_str(), why.c_str());
    return kExitUsage;
  }
  std::vector<char*> args{path.data()};
  for (int i = first; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  execv(path.c_str(), args.data());
  say("cannot exec %s: %s", path.c_str(), strerror(errno));
  return kExitExecFailed;
}

// A port rank 0 can bind, checked and given back: a race with other programs, the usual launcher
// trade-off. Tried first at random below Linux's ephemeral range (32768 and up), where other
// programs' outgoing connections cannot take it before rank 0 binds it; else one the kernel picks.
bool pickRootAddr(std::string* addr) {
  uint32_t seed = 0;
  if (getrandom(&seed, sizeof seed, 0) != static_cast<ssize_t>(sizeof seed)) seed = static_cast<uint32_t>(getpid());
  for (int attempt = 0; attempt < 100; ++attempt) {
    seed = seed * 1664525u + 1013904223u;
    const int port = 20000 + static_cast<int>((seed >> 8) % 12000);
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);  // what rank 0 binds
    a.sin_port = htons(static_cast<uint16_t>(port));
    const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    if (ok) {
      *addr = "127.0.0.1:" + std::to_string(port);
      return true;
    }
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  close(fd);
  if (ok) *addr = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  return ok;
}

bool makeSecret(std::string* secret) {
  unsigned char bytes[16];
  size_t got = 0;
  while (got < sizeof bytes) {
    const ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0 && errno != EINTR) return false;
    if (n > 0) got += static_cast<size_t>(n);
  }
  static const char kHex[] = "0123456789abcdef";
  for (unsigned char b : bytes) {
    secret->push_back(kHex[b >> 4]);
    secret->push_back(kHex[b & 15]);
  }
  return true;
}

struct Stream {
  int fd = -1;    // read end of the rank's pipe; -1 when closed or not captured
  int sink = -1;  // torcrun's own stdout or stderr
  std::string prefix;
  std::string pending;  // bytes after the last newline
};

struct Rank {
  long rank = 0;
  pid_t pid = -1;
  bool running = false;
  Stream out, err;
};

class Launcher {
 public:
  Launcher(const Options& opts, std::string program, std::string rootAddr, std::string secret)
      : opts_(opts), program_(std::move(program)), rootAddr_(std::move(rootAddr)), secret_(std::move(secret)) {}
  int run();

 private:
  std::string startRank(Rank& r, long localRank, char* const* argv);
  [[noreturn]] void execRank(char* const* argv, char* const* envp, int outFd, int errFd, pid_t parent);
  void handleSignals();
  void rankExited(Rank& r, int status);
  void beginTeardown();
  void signalAll(int sig);
  void pump(Stream& s, bool drain);
  void emit(Stream& s, bool final);
  bool anyRunning() const;
  bool anyOpen() const;

  const Options& opts_;
  const std::string program_, rootAddr_, secret_;
  std::vector<Rank> ranks_;
  sigset_t origMask_;
  int sigFd_ = -1;
  int failureCode_ = 0;  // first failing rank's code
  int interruptSignal_ = 0;
  bool timedOut_ = false;
  bool tearingDown_ = false;
  bool killed_ = false;
  double killAt_ = 0;
};

int Launcher::run() {
  signal(SIGCHLD, SIG_DFL);  // an inherited SIG_IGN would reap the ranks behind our back
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  // A signal ignored on entry (nohup, a script's background job) stays ignored, for torcrun and the ranks;
  // blocking it for the signalfd would make Linux queue it anyway.
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old;
    if (sigaction(sig, nullptr, &old) == 0 && old.sa_handler != SIG_IGN) sigaddset(&mask, sig);
  }
  sigprocmask(SIG_BLOCK, &mask, &origMask_);
  sigFd_ = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigFd_ < 0) {
    say("signalfd: %s", strerror(errno));
    return kExitInternal;
  }
  signal(SIGPIPE, SIG_IGN);

  std::vector<char*> argv;
  for (const std::string& a : opts_.command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ranks_.resize(static_cast<size_t>(opts_.nranks));
  for (long i = 0; i < opts_.nranks; ++i) {
    Rank& r = ranks_[static_cast<size_t>(i)];
    r.rank = opts_.rankOffset + i;
    const std::string why = startRank(r, i, argv.data());
    if (!why.empty()) {
      say("cannot start rank %ld: %s", r.rank, why.c_str());
      failureCode_ = kExitInternal;
      beginTeardown();
      break;
    }
  }

  const double deadline = opts_.timeoutSeconds > 0 ? monoNow() + opts_.timeoutSeconds : 0;
  double drainUntil = 0;
  std::vector<pollfd> fds;
  std::vector<Stream*> streams;
  for (;;) {
    const double now = monoNow();
    if (deadline > 0 && !tearingDown_ && now >= deadline) {
      say("timeout after %g s, terminating all ranks", opts_.timeoutSeconds);
      timedOut_ = true;
      beginTeardown();
    }
    if (tearingDown_ && !killed_ && now >= killAt_) {
      signalAll(SIGKILL);
      killed_ = true;
    }
    if (!anyRunning()) {
      if (!anyOpen()) break;
      if (drainUntil == 0) drainUntil = now + kDrainSeconds;
      if (now >= drainUntil) break;
    }
    double wake = drainUntil;
    if (deadline > 0 && !tearingDown_) wake = wake > 0 ? std::min(wake, deadline) : deadline;
    if (tearingDown_ && !killed_) wake = wake > 0 ? std::min(wake, killAt_) : killAt_;
    const int timeoutMs = wake > 0 ? static_cast<int>(std::ceil(std::max(0.0, wake - now) * 1000)) : -1;

    fds.assign(1, pollfd{sigFd_, POLLIN, 0});
    streams.assign(1, nullptr);
    for (Rank& r : ranks_) {
      for (Stream* s : {&r.out, &r.err}) {
        if (s->fd < 0) continue;
        fds.push_back(pollfd{s->fd, POLLIN, 0});
        streams.push_back(s);
      }
    }
    if (poll(fds.data(), fds.size(), timeoutMs) < 0 && errno != EINTR) {
      say("poll: %s", strerror(errno));
      failureCode_ = failureCode_ ? failureCode_ : kExitInternal;
      break;
    }
    for (size_t k = 1; k < fds.size(); ++k) {
      if (fds[k].revents != 0) pump(*streams[k], false);
    }
    if (fds[0].revents != 0) handleSignals();
  }
  for (Rank& r : ranks_) {
    pump(r.out, true);
    pump(r.err, true);
    for (Stream* s : {&r.out, &r.err}) {
      emit(*s, true);
      if (s->fd >= 0) close(s->fd);
    }
  }
  if (tearingDown_ && !killed_) signalAll(SIGKILL);  // leftovers that shrugged off SIGTERM
  if (timedOut_) return kExitTimeout;
  if (failureCode_ != 0) return failureCode_;
  if (interruptSignal_ != 0) return 128 + interruptSignal_;
  return 0;
}

std::string Launcher::startRank(Rank& r, long localRank, char* const* argv) {
  cpu_set_t cpus;
  const int ncpus = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : 1;
  std::vector<std::string> env = rankEnvironment(opts_, localRank, rootAddr_, secret_, ncpus);
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  int outPipe[2] = {-1, -1};
  int errPipe[2] = {-1, -1};
  auto closePipes = [&] {
    for (int fd : {outPipe[0], outPipe[1], errPipe[0], errPipe[1]}) {
      if (fd >= 0) close(fd);
    }
  };
  // O_CLOEXEC keeps every other rank from inheriting this rank's pipes, which would hide its EOF.
  if (opts_.prefix && (pipe2(outPipe, O_CLOEXEC) != 0 || pipe2(errPipe, O_CLOEXEC) != 0)) {
    const std::string why = strerror(errno);
    closePipes();
    return why;
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    const std::string why = strerror(errno);
    closePipes();
    return why;
  }
  if (pid == 0) execRank(argv, envp.data(), outPipe[1], errPipe[1], parent);
  setpgid(pid, pid);  // the child does it too; whichever runs first, kill(-pid) is valid afterwards
  r.pid = pid;
  r.running = true;
  if (opts_.prefix) {
    close(outPipe[1]);
    close(errPipe[1]);
    const std::string prefix = "[" + std::to_string(r.rank) + "] ";
    r.out = Stream{outPipe[0], STDOUT_FILENO, prefix, {}};
    r.err = Stream{errPipe[0], STDERR_FILENO, prefix, {}};
    for (int fd : {outPipe[0], errPipe[0]}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  return "";
}

void Launcher::execRank(char* const* argv, char* const* envp, int outFd, int errFd, pid_t parent) {
  setpgid(0, 0);
  // Die with torcrun even when it is SIGKILLed and cannot tear the job down itself.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(kExitExecFailed);
  const int devNull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devNull >= 0) dup2(devNull, STDIN_FILENO);
  if (outFd >= 0) dup2(outFd, STDOUT_FILENO);
  if (errFd >= 0) dup2(errFd, STDERR_FILENO);
  signal(SIGPIPE, SIG_DFL);
  sigprocmask(SIG_SETMASK, &origMask_, nullptr);
  execve(program_.c_str(), argv, envp);
  dprintf(STDERR_FILENO, "torcrun: cannot exec %s: %s\n", program_.c_str(), strerror(errno));
  _exit(kExitExecFailed);
}

void Launcher::handleSignals() {
  signalfd_siginfo si;
  while (read(sigFd_, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
    const int sig = static_cast<int>(si.ssi_signo);
    if (sig == SIGCHLD) {
      int status = 0;
      pid_t pid;
      while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (Rank& r : ranks_) {
          if (r.pid == pid && r.running) rankExited(r, status);
        }
      }
      continue;
    }
    if (interruptSignal_ != 0) {
      say("got %s again, killing all ranks", strsignal(sig));
      signalAll(SIGKILL);
      killed_ = true;
      continue;
    }
    interruptSignal_ = sig;
    say("got %s, forwarding it to all ranks", strsignal(sig));
    signalAll(sig);
    if (!tearingDown_) {
      tearingDown_ = true;
      killAt_ = monoNow() + opts_.graceSeconds;
    }
  }
}

void Launcher::rankExited(Rank& r, int status) {
  r.running = false;
  pump(r.out, true);  // its last lines come before the verdict
  pump(r.err, true);
  if (tearingDown_) return;  // deaths we caused are not failures
  std::string how;
  int code = 0;
  if (WIFEXITED(status)) {
    code = WEXITSTATUS(status);
    how = "exited with code " + std::to_string(code);
  } else if (WIFSIGNALED(status)) {
    code = 128 + WTERMSIG(status);
    how = "killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
  }
  if (code == 0) return;
  say("rank %ld (pid %d) %s, terminating the job", r.rank, static_cast<int>(r.pid), how.c_str());
  failureCode_ = code;
  beginTeardown();
}

void Launcher::beginTeardown() {
  if (tearingDown_) return;
  tearingDown_ = true;
  killAt_ = monoNow() + opts_.graceSeconds;
  signalAll(SIGTERM);
}

void Launcher::signalAll(int sig) {
  for (const Rank& r : ranks_) {
    // An exited rank's group still matters while something in it holds the rank's pipes; once it is
    // gone the id could be reused, so it is left alone.
    if (r.pid <= 0 || !(r.running || r.out.fd >= 0 || r.err.fd >= 0)) continue;
    if (kill(-r.pid, sig) != 0 && r.running) kill(r.pid, sig);
  }
}

void Launcher::pump(Stream& s, bool drain) {
  char buf[65536];
  // Draining is bounded so a chatty leftover process cannot hold the loop forever.
  for (int reads = 0; s.fd >= 0 && reads < (drain ? 64 : 1); ++reads) {
    const ssize_t n = read(s.fd, buf, sizeof buf);
    if (n > 0) {
      s.pending.append(buf, static_cast<size_t>(n));
      emit(s, false);
    } else if (n < 0 && errno == EINTR) {
      --reads;
    } else if (n < 0 && errno == EAGAIN) {
      return;
    } else {
      emit(s, true);
      close(s.fd);
      s.fd = -1;
    }
  }
}

// Writes every complete line with the rank prefix in one write(), so ranks never interleave mid-line.
void Launcher::emit(Stream& s, bool final) {
  std::string out;
  size_t start = 0;
  for (size_t nl; (nl = s.pending.find('\n', start)) != std::string::npos; start = nl + 1) {
    out += s.prefix;
    out.append(s.pending, start, nl + 1 - start);
  }
  s.pending.erase(0, start);
  if (!s.pending.empty() && (final || s.pending.size() >= kMaxLineBytes)) {
    out += s.prefix + s.pending + "\n";
    s.pending.clear();
  }
  if (!out.empty()) writeAll(s.sink, out.data(), out.size());
}

bool Launcher::anyRunning() const {
  return std::any_of(ranks_.begin(), ranks_.end(), [](const Rank& r) { return r.running; });
}

bool Launcher::anyOpen() const {
  return std::any_of(ranks_.begin(), ranks_.end(), [](const Rank& r) { return r.out.fd >= 0 || r.err.fd >= 0; });
}

int torcrunMain(int argc, char** argv) {
  // With fd 0-2 closed, pipes could land on them and be clobbered by the child's dup2 calls.
  for (int fd = 0; fd < 3; ++fd) {
    if (fcntl(fd, F_GETFD) < 0) open("/dev/null", O_RDWR);
  }
  Options opts;
  const std::string err = parseArgs(argc, argv, &opts);
  if (opts.help) {
    fputs(kTorcrunUsage, stdout);
    return 0;
  }
  if (opts.infoArg != 0) return execInfo(argc, argv, opts.infoArg);
  if (!err.empty()) {
    say("%s (see torcrun --help)", err.c_str());
    return kExitUsage;
  }
  std::string program, why;
  if (!resolveProgram(opts.command[0], &program, &why)) {
    say("cannot run '%s': %s", opts.command[0].c_str(), why.c_str());
    return kExitUsage;
  }
  std::string rootAddr = opts.rootAddr, secret;
  if (!rootAddr.empty()) {
    // Another torcrun instance or the user picked the address; the secret has to be shared the same way.
    const char* shared = getenv("TORC_SECRET");
    if (shared == nullptr || *shared == '\0') {
      say("--root-addr needs TORC_SECRET set in the environment, the same for every instance");
      return kExitUsage;
    }
    secret = shared;
  } else if (!pickRootAddr(&rootAddr)) {
    say("cannot find a free port on 127.0.0.1: %s", strerror(errno));
    return kExitInternal;
  } else if (!makeSecret(&secret)) {
    say("getrandom: %s", strerror(errno));
    return kExitInternal;
  }
  return Launcher(opts, program, rootAddr, secret).run();
}

}  // namespace
}  // namespace torc::tools

int main(int argc, char** argv) { return torc::tools::torcrunMain(argc, argv); }
