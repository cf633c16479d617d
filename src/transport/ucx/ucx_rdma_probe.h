// Whether UCX can drive an RDMA device itself: the communicator's TORC_TRANSPORT=auto prefers
// UCX wherever it can, and takes the verbs transport only where UCX cannot.
#pragma once

#include <string>

namespace torc::transport {

struct UcxRdmaInfo {
  bool rdma = false;   // UCX's "ib" component offers a reliable RDMA transport (rc_*, dc_*)
  std::string detail;  // those transports on their devices ("rc_mlx5/mlx5_0:1"), or why none
};

/// Asks UCT (no UCP context, nothing printed): every memory domain of its "ib" component is
/// opened and its transport resources listed; UCX lists only ports that are ACTIVE. Costs a
/// device open per memory domain: call it once per process.
UcxRdmaInfo probeUcxRdma();

}  // namespace torc::transport
