// Finding and opening an RDMA port for the verbs transport (internal to src/transport/verbs).
#pragma once

#include <infiniband/verbs.h>

#include <string>

#include "src/base/status.h"
#include "src/transport/verbs/ibv_symbols.h"

namespace torc::transport::verbs {

struct OpenPort {
  ibv_context* ctx = nullptr;  // owned by the caller once returned (closeDevice)
  std::string device;
  uint8_t port = 0;
  ibv_port_attr attr{};
  int gidIndex = -1;  // -1: no GRH (InfiniBand, routed by LID)
  ibv_gid gid{};
  int maxCqe = 0;
};

/// Opens the first device (or TORC_IB_HCA) that has an ACTIVE port, and picks its GID
/// (TORC_IB_GID_INDEX, or on RoCE the first RoCE v2 GID, an IPv4-mapped one first).
Result<OpenPort> openActivePort(const IbvSymbols& ibv);

const char* portStateName(int state);

}  // namespace torc::transport::verbs
