// Bootstrap: the TCP rendezvous that turns "nranks processes holding the same unique id" into
// "every rank knows every rank's transport address and node identity".
//
// The root (a background thread in the process that made the id, or in rank 0 for launcher
// starts) listens; every rank, the root's own included, connects, proves the 128-bit secret and
// sends its rank and a blob. When all nranks have arrived the root sends everyone the table of
// blobs and exits. A connection without the secret (or with a bad rank) is dropped and logged,
// and the rendezvous goes on. If ranks are missing when the deadline passes, the root tells the
// ranks that did arrive which ones did not.
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
Result<std::vector<Blob>> rendezvous(const RootInfo& root, int rank, int nranks, const Blob& mine,
                                     double timeoutSec);

}  // namespace torc::core
