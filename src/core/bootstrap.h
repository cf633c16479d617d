// Bootstrap: the TCP rendezvous that turns "nranks processes holding the same unique id" into
// "every rank knows every rank's transport address and node identity".
//
// The root (a background thread in the process that made the id, or in rank 0 for launcher
// starts) listens; every rank, the root's own included, connects, proves the 128-bit secret and
// sends its rank and a blob. When all nranks have arrived the root sends everyone the table of
// blobs. A connection without the secret (or with a bad rank) is dropped and logged, and the
// rendezvous goes on. If ranks are missing when the deadline passes, the root tells the ranks
// that did arrive which ones did not.
//
// Then the root offers one barrier: each rank either keeps its connection and calls
// bootstrapBarrier, or closes it (rendezvous without a link). The root exits once every rank has
// done one or the other, releasing the barrier if all asked for it. (The verbs transport needs
// it: every rank connects its queue pairs, and nothing may be written to them before all have.)
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "include/torc.h"
#include "src/base/socket.h"
#include "src/base/status.h"

namespace torc::core {

using Secret = std::array<uint8_t, 16>;
using Blob = std::vector<uint8_t>;

struct RootInfo {
  SockAddr addr;
  Secret secret{};
};

Secret randomSecret();
// 32 hex digits <-> Secret.
std::string secretToHex(const Secret& s);
bool secretFromHex(const std::string& hex, Secret* out);

void packUniqueId(const RootInfo& info, torcUniqueId* id);
Result<RootInfo> unpackUniqueId(const torcUniqueId& id);

// Starts a root listening on `bind` (port 0: any). `advertise` is the address ranks should
// connect to (its port is replaced by the bound one). The root gives up `timeoutSec` after it
// starts, or after the first rank arrives if fromFirstArrival. Returns the address to put in
// the id.
Result<SockAddr> startRoot(const SockAddr& bind, SockAddr advertise, const Secret& secret, double timeoutSec,
                           bool fromFirstArrival);

// One rank's side: connect to the root, present the secret, send our blob, receive everyone's.
// With a link, the connection stays open in it for bootstrapBarrier; else it is closed.
Result<std::vector<Blob>> rendezvous(const RootInfo& root, int rank, int nranks, const Blob& mine,
                                     double timeoutSec, Socket* link = nullptr);

// Returns once every rank has called it on the link rendezvous left open. Fails, naming the
// rank, if one closed its connection instead (its init failed) or did not come within timeoutSec.
Status bootstrapBarrier(const Socket& link, int rank, double timeoutSec);

}  // namespace torc::core
