#include "src/core/launch_env.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "src/base/log.h"
#include "src/base/param.h"

TORC_PARAM(Rank, int64_t, "RANK", -1, "this process's rank (set by torcrun)");
TORC_PARAM(Nranks, int64_t, "NRANKS", -1, "number of ranks (set by torcrun)");
TORC_PARAM(LocalRank, int64_t, "LOCAL_RANK", -1, "rank within the node (set by torcrun; informational)");
TORC_PARAM(LocalNranks, int64_t, "LOCAL_NRANKS", -1, "ranks on this node (set by torcrun; informational)");
TORC_PARAM(RootAddr, std::string, "ROOT_ADDR", std::string(""),
           "host:port of rank 0's rendezvous for torcCommInitFromEnv (set by torcrun)");
TORC_PARAM(Secret, std::string, "SECRET", std::string(""), "32 hex digits: the rendezvous secret (set by torcrun)");
TORC_PARAM(Port, int64_t, "PORT", -1, "rendezvous port when only MASTER_ADDR is known (default MASTER_PORT+1, else 29400)");

namespace torc::core {
namespace {

bool envInt(const char* name, int* out) {
  const char* v = getenv(name);
  if (v == nullptr || *v == '\0') return false;
  char* end = nullptr;
  long x = strtol(v, &end, 10);
  if (*end != '\0' || x < 0 || x > (1 << 24)) return false;
  *out = static_cast<int>(x);
  return true;
}

std::string envStr(const char* name) {
  const char* v = getenv(name);
  return v ? v : "";
}

// A secret both sides can compute without a shared channel: a hash of the job's identity.
// Anyone who knows the job id can compute it too; use TORC_SECRET where that matters.
Secret derivedSecret(const std::string& identity) {
  Secret s{};
  uint64_t h1 = 0xcbf29ce484222325ull, h2 = 0x9e3779b97f4a7c15ull;
  for (unsigned char c : identity) {
    h1 = (h1 ^ c) * 0x100000001b3ull;
    h2 = (h2 + c) * 0xff51afd7ed558ccdull;
    h2 ^= h2 >> 33;
  }
  memcpy(s.data(), &h1, 8);
  memcpy(s.data() + 8, &h2, 8);
  return s;
}

}  // namespace

Result<LaunchEnv> readLaunchEnv() {
  LaunchEnv e;
  std::string rootAddr = torcParamRootAddr();
  std::string jobId;
  if (torcParamRank() >= 0 && torcParamNranks() > 0) {
    e.rank = static_cast<int>(torcParamRank());
    e.nranks = static_cast<int>(torcParamNranks());
    e.source = "torcrun";
    jobId = "torcrun";
  } else if (envInt("RANK", &e.rank) && envInt("WORLD_SIZE", &e.nranks)) {
    e.source = "torchrun";
    jobId = envStr("TORCHELASTIC_RUN_ID");
  } else if (envInt("OMPI_COMM_WORLD_RANK", &e.rank) && envInt("OMPI_COMM_WORLD_SIZE", &e.nranks)) {
    e.source = "Open MPI";
    // The job id where Open MPI sets it, the PMIx namespace where it does not, and the parent
    // (the node's daemon, shared by this job's local ranks) so two jobs never mix.
    jobId = envStr("OMPI_MCA_ess_base_jobid") + envStr("OMPI_MCA_orte_ess_jobid") + envStr("PMIX_NAMESPACE") + "/" +
            std::to_string(getppid());
    int localSize = -1;
    if (rootAddr.empty() && envStr("MASTER_ADDR").empty() && envInt("OMPI_COMM_WORLD_LOCAL_SIZE", &localSize) &&
        localSize == e.nranks)
      rootAddr = "127.0.0.1:" + std::to_string(20000 + derivedSecret(jobId)[0] * 64 + derivedSecret(jobId)[1] % 64);
  } else if (envInt("SLURM_PROCID", &e.rank) && envInt("SLURM_NTASKS", &e.nranks)) {
    e.source = "Slurm";
    jobId = envStr("SLURM_JOB_ID") + "." + envStr("SLURM_STEP_ID");
  } else {
    return Status(Code::kInvalidUsage,
                  "torcCommInitFromEnv: no launcher variables found (TORC_RANK/TORC_NRANKS from torcrun, "
                  "RANK/WORLD_SIZE from torchrun, OMPI_COMM_WORLD_RANK/SIZE or SLURM_PROCID/NTASKS)");
  }
  if (e.nranks < 1 || e.rank < 0 || e.rank >= e.nranks)
    return errorf(Code::kInvalidArgument, "%s variables give rank %d of %d", e.source.c_str(), e.rank, e.nranks);

  if (rootAddr.empty()) {
    std::string master = envStr("MASTER_ADDR");
    if (master.empty())
      return Status(Code::kInvalidUsage, "torcCommInitFromEnv (" + e.source +
                                             "): set TORC_ROOT_ADDR=host:port or MASTER_ADDR to rank 0's address");
    int port = static_cast<int>(torcParamPort());
    int masterPort = 0;
    if (port <= 0) port = envInt("MASTER_PORT", &masterPort) ? masterPort + 1 : 29400;
    if (master.find(':') != std::string::npos && master.front() != '[') master = "[" + master + "]";
    rootAddr = master + ":" + std::to_string(port);
  }
  TORC_ASSIGN_OR_RETURN(e.root.addr, parseHostPort(rootAddr));

  std::string hex = torcParamSecret();
  if (!hex.empty()) {
    if (!secretFromHex(hex, &e.root.secret))
      return Status(Code::kInvalidArgument, "TORC_SECRET must be 32 hex digits");
  } else {
    e.root.secret = derivedSecret(e.source + "|" + jobId + "|" + rootAddr + "|" + std::to_string(e.nranks));
    e.secretDerived = true;
  }
  TORC_INFO(kLogInit, "init from %s: rank %d of %d, rendezvous %s%s", e.source.c_str(), e.rank, e.nranks,
            rootAddr.c_str(), e.secretDerived ? " (secret derived from the job identity)" : "");
  return e;
}

}  // namespace torc::core
