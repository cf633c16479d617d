// Reading a launcher's environment: torcrun, torchrun, Open MPI, Slurm.
#pragma once

#include <string>

#include "src/base/status.h"
#include "src/core/bootstrap.h"

namespace torc::core {

struct LaunchEnv {
  int rank = -1;
  int nranks = -1;
  RootInfo root;
  std::string source;  // "torcrun", "torchrun", "Open MPI", "Slurm"
  bool secretDerived = false;
};

// Which launcher started us, and where rank 0's rendezvous listens.
Result<LaunchEnv> readLaunchEnv();

}  // namespace torc::core
