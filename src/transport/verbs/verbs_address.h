// What a rank of the verbs transport publishes through the bootstrap: its port (LID, GID, MTU),
// its ring geometry, and for every peer the queue pair it made for that peer and where that
// peer is to write (its receive ring for the peer's data, its credit word for the peer's
// credit counts). No verbs types: the encoding is unit-tested without a device.
#pragma once

#include <cstdint>
#include <vector>

#include "src/base/status.h"

namespace torc::transport::verbs {

struct VerbsPeerEntry {
  uint32_t qpn = 0;         // this rank's queue pair for that peer
  uint64_t ringAddr = 0;    // this rank's receive ring for that peer's fragments
  uint64_t creditAddr = 0;  // this rank's word that peer writes its freed-slot count into
};

struct VerbsAddress {
  uint16_t lid = 0;
  uint8_t port = 0;
  uint8_t mtu = 0;       // enum ibv_mtu of the active MTU
  uint8_t ethernet = 0;  // RoCE: the GID (a GRH) is required
  uint8_t gid[16] = {};
  uint32_t slots = 0;  // ring geometry
  uint32_t slotBytes = 0;
  uint32_t rkey = 0;                  // of the memory holding the rings and credit words
  std::vector<VerbsPeerEntry> peers;  // by rank
};

std::vector<uint8_t> encodeAddress(const VerbsAddress& a);
/// Fails (kInternalError) on bytes that are not a verbs address of this version.
Result<VerbsAddress> decodeAddress(const std::vector<uint8_t>& bytes);

}  // namespace torc::transport::verbs
