// DirectAccess through Linux cross-memory attach (process_vm_readv/writev). Needs ptrace
// permission over the peer (same user, and Yama's ptrace_scope 0, or CAP_SYS_PTRACE).
#pragma once

#include <memory>
#include <vector>

#include "src/transport/transport.h"

namespace torc::transport {

// pids[r] is rank r's process id (0 for ranks that cannot be reached this way).
std::unique_ptr<DirectAccess> createCmaAccess(std::vector<int> pids);

// Whether this process can read `len` bytes at `remote` in process `pid` and they equal `expect`.
bool cmaProbe(int pid, uint64_t remote, const void* expect, size_t len);

}  // namespace torc::transport
