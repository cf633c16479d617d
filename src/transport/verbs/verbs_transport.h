// The verbs transport: reliable-connected queue pairs straight on libibverbs (InfiniBand, RoCE),
// loaded with dlopen. This header has no verbs types, so the communicator can include it in any
// build; where torc was built without <infiniband/verbs.h> both functions report that.
//
// Protocol (eager, copy in and out of registered rings; see eager.h and credits.h):
//  1. At construction: open the first device with an ACTIVE port (TORC_IB_HCA picks one),
//     register one region holding, for every peer, a receive ring (N slots), a send staging
//     ring (N slots) and two credit words; create one RC queue pair per peer and move it to
//     INIT. address() publishes the port (LID, GID, MTU), the ring geometry and, for every peer,
//     the QP number and where that peer is to write (its ring, its credit word).
//  2. connect(peer): the peer's address holds, at index [this rank], its QP for us: INIT ->
//     RTR -> RTS against it. The communicator connects every peer at init (wantsEagerConnect),
//     because a write to a queue pair that has not reached RTR is dropped, and the sender gives
//     up after its retries.
//  3. A send copies each fragment (header + data) into the staging slot of its sequence number
//     and RDMA-writes it, with the slot index as immediate, into the same slot of the peer's
//     ring, one credit per fragment.
//  4. The receiver's completion (the immediate) hands the slot to its MessageReceiver, which
//     copies the data out to a posted receive or keeps it as unexpected; freed slots are
//     returned in batches by RDMA-writing the cumulative count into the sender's credit word.
//  5. progress() polls the one completion queue, reads credit words, posts what credits allow
//     and announces freed slots. A work completion with an error fails that peer (peerFailure).
//
// Compiled, and its logic unit-tested, without an RDMA device; it has not been run on one.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "src/base/status.h"
#include "src/transport/transport.h"

namespace torc::transport {

/// One port of an RDMA device as a probe saw it.
struct VerbsDeviceInfo {
  std::string device;  // "mlx5_0"
  int port = 0;
  bool active = false;    // IBV_PORT_ACTIVE
  std::string state;      // "ACTIVE", "DOWN", ...
  std::string linkLayer;  // "InfiniBand" or "Ethernet"
};

/// Lists the ports of this machine's RDMA devices (loading libibverbs if needed). When no port
/// is ACTIVE, *why (if given) says why: the library is missing, no device, or every port's state.
std::vector<VerbsDeviceInfo> probeVerbsDevices(std::string* why);

/// Creates the verbs transport for opts.rank of opts.nranks; fails with a Status (never aborts)
/// when libibverbs, a device or an active port is missing or a verbs call fails.
Result<std::unique_ptr<Transport>> createVerbsTransport(const TransportOptions& opts);

}  // namespace torc::transport
