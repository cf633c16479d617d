// The verbs transport: reliable-connected queue pairs straight on libibverbs (InfiniBand, RoCE),
// loaded with dlopen. This header has no verbs types, so the communicator can include it in any
// build; where torc was built without <infiniband/verbs.h> both functions report that.
//
// Protocol (eager, copy in and out of registered rings; see eager.h and credits.h):
//  1. At construction: open the first device with a usable ACTIVE port (InfiniBand transport,
//     so InfiniBand or RoCE; TORC_IB_HCA picks one), register one region holding, for every
//     peer, a receive ring (N slots), a send staging ring (N slots) and two credit words, at
//     offsets every rank computes alike (RegionLayout); create one RC queue pair per peer and
//     move it to INIT. address() publishes the port (LID, GID, MTU, link layer), the ring
//     geometry, the region's base and rkey, and for every peer only the QP number (4 bytes).
//  2. connect(peer): the peer's address holds, at index [this rank], its QP for us: INIT ->
//     RTR -> RTS against it; where to write in the peer's region follows from its base and this
//     rank. The communicator connects every peer at init (wantsEagerConnect) and then waits at
//     a barrier through the bootstrap, because a write reaching a queue pair that has not
//     reached RTR is dropped (and costs the writer a retransmission timeout).
//  3. A send copies each fragment (header + data) into the staging slot of its sequence number
//     and RDMA-writes it, with the slot index as immediate, into the same slot of the peer's
//     ring, one credit per fragment.
//  4. The receiver's completion (the immediate) hands the slot to its MessageReceiver, which
//     copies the data out to a posted receive or keeps it as unexpected; freed slots are
//     returned in batches by RDMA-writing the cumulative count into the sender's credit word.
//  5. progress() polls the one completion queue, reads credit words, posts what credits allow
//     and announces freed slots. A work completion with an error fails that peer (peerFailure).
//     A peer that something is awaited from and that has been silent for a second gets the
//     credit count written again (SilenceWatch): a dead peer then fails that write.
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
  bool usable = false;    // active, and of a device and link layer this transport can drive
  std::string state;      // "ACTIVE", "DOWN", ...
  std::string linkLayer;  // "InfiniBand", "Ethernet" or "unspecified"
  std::string problem;    // why it is not usable although ACTIVE ("iWARP device: ..."), else empty
};

/// Lists the ports of this machine's RDMA devices (loading libibverbs if needed). When no port
/// is usable, *why (if given) says why: the library is missing, no device, or each port's state
/// or problem.
std::vector<VerbsDeviceInfo> probeVerbsDevices(std::string* why);

/// Creates the verbs transport for opts.rank of opts.nranks; fails with a Status (never aborts)
/// when libibverbs, a device or an active port is missing or a verbs call fails.
Result<std::unique_ptr<Transport>> createVerbsTransport(const TransportOptions& opts);

}  // namespace torc::transport
