#include "src/transport/verbs/verbs_address.h"

#include <cstring>

namespace torc::transport::verbs {
namespace {

constexpr uint32_t kMagic = 0x32425654;  // "TVB2": per-peer addresses computed from the region base
constexpr size_t kFixedBytes = 4 + 2 + 1 + 1 + 1 + 16 + 4 + 4 + 4 + 8 + 4;
constexpr size_t kPeerBytes = 4;

template <typename T>
void put(std::vector<uint8_t>* b, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) b->push_back(static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * i)));
}

template <typename T>
T get(const uint8_t** p) {
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= uint64_t{(*p)[i]} << (8 * i);
  *p += sizeof(T);
  return static_cast<T>(v);
}

}  // namespace

size_t encodedAddressBytes(size_t nranks) { return kFixedBytes + nranks * kPeerBytes; }

std::vector<uint8_t> encodeAddress(const VerbsAddress& a) {
  std::vector<uint8_t> b;
  b.reserve(encodedAddressBytes(a.qpns.size()));
  put<uint32_t>(&b, kMagic);
  put<uint16_t>(&b, a.lid);
  put<uint8_t>(&b, a.port);
  put<uint8_t>(&b, a.mtu);
  put<uint8_t>(&b, a.ethernet);
  b.insert(b.end(), a.gid, a.gid + 16);
  put<uint32_t>(&b, a.slots);
  put<uint32_t>(&b, a.slotBytes);
  put<uint32_t>(&b, a.rkey);
  put<uint64_t>(&b, a.regionBase);
  put<uint32_t>(&b, static_cast<uint32_t>(a.qpns.size()));
  for (uint32_t qpn : a.qpns) put<uint32_t>(&b, qpn);
  return b;
}

Result<VerbsAddress> decodeAddress(const std::vector<uint8_t>& bytes) {
  if (bytes.size() < kFixedBytes)
    return errorf(Code::kInternalError, "verbs address of %zu bytes is too short", bytes.size());
  const uint8_t* p = bytes.data();
  if (get<uint32_t>(&p) != kMagic)
    return errorf(Code::kInternalError, "not a verbs address of this version (does every rank use the same "
                                        "transport and torc?)");
  VerbsAddress a;
  a.lid = get<uint16_t>(&p);
  a.port = get<uint8_t>(&p);
  a.mtu = get<uint8_t>(&p);
  a.ethernet = get<uint8_t>(&p);
  memcpy(a.gid, p, 16);
  p += 16;
  a.slots = get<uint32_t>(&p);
  a.slotBytes = get<uint32_t>(&p);
  a.rkey = get<uint32_t>(&p);
  a.regionBase = get<uint64_t>(&p);
  const uint32_t n = get<uint32_t>(&p);
  if (bytes.size() != encodedAddressBytes(n))
    return errorf(Code::kInternalError, "verbs address of %zu bytes does not hold %u peers", bytes.size(), n);
  a.qpns.resize(n);
  for (uint32_t& qpn : a.qpns) qpn = get<uint32_t>(&p);
  return a;
}

}  // namespace torc::transport::verbs
