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

/// Opens the first device (or TORC_IB_HCA) that has a usable ACTIVE port, and picks its GID
/// (TORC_IB_GID_INDEX, or on RoCE the first RoCE v2 GID, an IPv4-mapped one first).
Result<OpenPort> openActivePort(const IbvSymbols& ibv);

const char* portStateName(int state);
const char* linkLayerName(uint8_t linkLayer);
/// Why a device of this transport type cannot carry this transport (nullptr: it can). Only
/// InfiniBand's (which RoCE devices report too) has RC queue pairs that take RDMA writes with
/// immediate as this transport sets them up; iWARP (irdma, cxgb4, siw), usNIC and EFA
/// (unspecified) expose ACTIVE ports too, but not that.
const char* transportTypeProblem(int transportType);
/// Why a port of this link layer cannot (nullptr: InfiniBand and Ethernet, i.e. RoCE, can).
const char* linkLayerProblem(uint8_t linkLayer);

}  // namespace torc::transport::verbs
