// Which transport a communicator runs on (TORC_TRANSPORT), and the check that all its ranks
// chose the same one.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "src/base/status.h"
#include "src/transport/transport.h"
#include "src/transport/verbs/verbs_transport.h"

namespace torc::core {

struct PeerInfo;  // comm.h

/// Creates the transport TORC_TRANSPORT asks for. auto: see decideAutoTransport (decided once per
/// process, and said once at INFO); where verbs is chosen but cannot be created on this rank, a
/// WARN and UCX. ucx, verbs: that one, or an error naming the reason.
Result<std::unique_ptr<transport::Transport>> createTransport(const transport::TransportOptions& opts);

struct AutoTransport {
  bool verbs = false;
  std::string why;  // the INFO line
};
/// TORC_TRANSPORT=auto's choice: the verbs transport only where a port it can drive is ACTIVE
/// (ports, as probeVerbsDevices lists them; verbsWhy is its reason when none is) and UCX has no
/// reliable RDMA transport of its own (UCX drives InfiniBand and RoCE well where it can, and
/// the verbs transport has not yet run on hardware); else UCX.
AutoTransport decideAutoTransport(const std::vector<transport::VerbsDeviceInfo>& ports, const std::string& verbsWhy,
                                  bool ucxRdma, const std::string& ucxDetail);

/// Fails (kInvalidUsage), naming two ranks and their transports, unless every rank uses the same.
Status checkSameTransport(const std::vector<PeerInfo>& peers);

}  // namespace torc::core
