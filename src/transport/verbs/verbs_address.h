// What a rank of the verbs transport publishes through the bootstrap, and where the parts of its
// registered region lie. The address holds the port (LID, GID, MTU, link layer), the ring
// geometry, the base and rkey of the one registered region that holds every peer's receive ring
// and credit word, and for every peer only the queue pair this rank made for it (4 bytes a
// peer): the region's layout is the same on every rank (RegionLayout), so a peer computes where
// to write from the base and its own rank. No verbs types: unit-tested without a device.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "src/base/status.h"

namespace torc::transport::verbs {

struct VerbsAddress {
  uint16_t lid = 0;
  uint8_t port = 0;
  uint8_t mtu = 0;       // enum ibv_mtu of the active MTU
  uint8_t ethernet = 0;  // RoCE (link layer Ethernet: a GRH with the GID is required), else InfiniBand
  uint8_t gid[16] = {};
  uint32_t slots = 0;  // ring geometry
  uint32_t slotBytes = 0;
  uint32_t rkey = 0;            // of the region holding the rings and credit words
  uint64_t regionBase = 0;      // that region's address
  std::vector<uint32_t> qpns;  // by rank: this rank's queue pair for that peer (0 for itself)
};

/// Bytes of the encoded address of a rank of an nranks communicator.
size_t encodedAddressBytes(size_t nranks);
std::vector<uint8_t> encodeAddress(const VerbsAddress& a);
/// Fails (kInternalError) on bytes that are not a verbs address of this version.
Result<VerbsAddress> decodeAddress(const std::vector<uint8_t>& bytes);

/// The registered region of a rank, as offsets from its base: for every peer q a receive ring
/// (q's fragments land there), a send staging ring, a credit word q writes its freed-slot count
/// into (creditIn) and a word this rank's count for q is written from (creditOut).
class RegionLayout {
 public:
  RegionLayout(uint32_t nranks, uint32_t slots, uint32_t slotBytes)
      : nranks_(nranks), ringBytes_(uint64_t{slots} * slotBytes) {}
  uint64_t ringBytes() const { return ringBytes_; }
  uint64_t ring(uint32_t q) const { return uint64_t{q} * ringBytes_; }
  uint64_t staging(uint32_t q) const { return (uint64_t{nranks_} + q) * ringBytes_; }
  uint64_t creditIn(uint32_t q) const { return 2 * uint64_t{nranks_} * ringBytes_ + uint64_t{q} * 8; }
  uint64_t creditOut(uint32_t q) const { return creditIn(nranks_ + q); }
  /// The whole region, rounded up to pages.
  uint64_t bytes() const { return (creditIn(2 * nranks_) + 4095) / 4096 * 4096; }

 private:
  uint32_t nranks_;
  uint64_t ringBytes_;
};

}  // namespace torc::transport::verbs
