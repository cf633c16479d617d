// Which transport a communicator runs on (TORC_TRANSPORT), and the check that all its ranks
// chose the same one.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "src/base/status.h"
#include "src/transport/transport.h"

namespace torc::core {

struct PeerInfo;  // comm.h

/// Creates the transport TORC_TRANSPORT asks for. auto: verbs when this machine has an RDMA port
/// that is ACTIVE, else UCX (an INFO line, once per process, says why not verbs). ucx, verbs:
/// that one, or an error naming the reason.
Result<std::unique_ptr<transport::Transport>> createTransport(const transport::TransportOptions& opts);

/// Fails (kInvalidUsage), naming two ranks and their transports, unless every rank uses the same.
Status checkSameTransport(const std::vector<PeerInfo>& peers);

}  // namespace torc::core
