// Device discovery for the verbs transport: which ports exist and are ACTIVE, opening one, and
// choosing its GID.
#include "src/transport/verbs/verbs_device.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "src/base/param.h"
#include "src/transport/verbs/verbs_transport.h"

TORC_PARAM(IbHca, std::string, "IB_HCA", std::string(""),
           "RDMA device of the verbs transport (default: the first with an ACTIVE port)");
TORC_PARAM(IbGidIndex, int64_t, "IB_GID_INDEX", -1,
           "GID index of the verbs transport (-1: none on InfiniBand, on RoCE the first RoCE v2 GID)");

namespace torc::transport::verbs {
namespace {

bool isZero(const ibv_gid& g) {
  return std::all_of(g.raw, g.raw + 16, [](uint8_t b) { return b == 0; });
}

bool isIpv4Mapped(const ibv_gid& g) {
  return std::all_of(g.raw, g.raw + 10, [](uint8_t b) { return b == 0; }) && g.raw[10] == 0xff && g.raw[11] == 0xff;
}

// The kernel's name for the GID's type ("IB/RoCE v1", "RoCE v2"); empty where sysfs lacks it.
std::string gidType(const std::string& device, int port, int index) {
  char path[256];
  snprintf(path, sizeof(path), "/sys/class/infiniband/%s/ports/%d/gid_attrs/types/%d", device.c_str(), port, index);
  FILE* f = fopen(path, "r");
  if (f == nullptr) return {};
  char line[64] = {0};
  if (fgets(line, sizeof(line), f) == nullptr) line[0] = 0;
  fclose(f);
  return line;
}

Status chooseGid(const IbvSymbols& ibv, OpenPort* o) {
  const int64_t wanted = torcParamIbGidIndex();
  int index = -1;
  if (wanted >= 0) {
    index = static_cast<int>(wanted);
  } else if (o->attr.link_layer == IBV_LINK_LAYER_ETHERNET) {
    // RoCE needs a GID; v2 (routable, over UDP) is preferred, an IPv4-mapped one first.
    int bestScore = 0;
    for (int i = 0; i < std::min(o->attr.gid_tbl_len, 256); ++i) {
      ibv_gid g{};
      if (ibv.queryGid(o->ctx, o->port, i, &g) != 0 || isZero(g)) continue;
      const bool v2 = gidType(o->device, o->port, i).find("v2") != std::string::npos;
      const int score = 1 + (v2 ? 2 : 0) + (isIpv4Mapped(g) ? 1 : 0);
      if (score > bestScore) {
        bestScore = score;
        index = i;
      }
    }
    if (index < 0)
      return errorf(Code::kSystemError, "verbs: %s port %u (RoCE) has no usable GID", o->device.c_str(), o->port);
  }
  if (index >= 0 && ibv.queryGid(o->ctx, o->port, index, &o->gid) != 0)
    return sysError(errno, "verbs: ibv_query_gid(%s port %u, index %d)", o->device.c_str(), o->port, index);
  o->gidIndex = index;
  return Status::ok();
}

}  // namespace

const char* portStateName(int state) {
  switch (state) {
    case IBV_PORT_NOP: return "NOP";
    case IBV_PORT_DOWN: return "DOWN";
    case IBV_PORT_INIT: return "INIT";
    case IBV_PORT_ARMED: return "ARMED";
    case IBV_PORT_ACTIVE: return "ACTIVE";
    case IBV_PORT_ACTIVE_DEFER: return "ACTIVE_DEFER";
    default: return "UNKNOWN";
  }
}

const char* linkLayerName(uint8_t linkLayer) {
  switch (linkLayer) {
    case IBV_LINK_LAYER_INFINIBAND: return "InfiniBand";
    case IBV_LINK_LAYER_ETHERNET: return "Ethernet";
    default: return "unspecified";
  }
}

const char* transportTypeProblem(int transportType) {
  switch (transportType) {
    case IBV_TRANSPORT_IB: return nullptr;
    case IBV_TRANSPORT_IWARP: return "an iWARP device (no RDMA write with immediate on RC as set up here)";
    case IBV_TRANSPORT_USNIC:
    case IBV_TRANSPORT_USNIC_UDP: return "a usNIC device (no RC queue pairs)";
    case IBV_TRANSPORT_UNSPECIFIED: return "a device of unspecified transport (EFA or the like: no RC queue pairs)";
    default: return "a device of unknown transport";
  }
}

const char* linkLayerProblem(uint8_t linkLayer) {
  if (linkLayer == IBV_LINK_LAYER_INFINIBAND || linkLayer == IBV_LINK_LAYER_ETHERNET) return nullptr;
  return "its link layer is unspecified (neither InfiniBand nor RoCE)";
}

// The port comes from probeVerbsDevices, the one place that decides what is usable; the chosen
// device is then opened again and kept.
Result<OpenPort> openActivePort(const IbvSymbols& ibv) {
  const std::string want = torcParamIbHca();
  std::string why, seen;
  const std::vector<VerbsDeviceInfo> ports = probeVerbsDevices(&why);
  const VerbsDeviceInfo* pick = nullptr;
  for (const VerbsDeviceInfo& d : ports) {
    if (!want.empty() && d.device != want) continue;
    if (d.usable) {
      pick = &d;
      break;
    }
    seen += (seen.empty() ? "" : ", ") + d.device + " port " + std::to_string(d.port) + " " + d.state +
            (d.problem.empty() ? "" : ", but " + d.problem);
  }
  if (pick == nullptr) {
    if (want.empty()) return errorf(Code::kSystemError, "verbs: %s", why.empty() ? "no RDMA device found" : why.c_str());
    if (seen.empty())
      return errorf(Code::kSystemError, "verbs: TORC_IB_HCA=%s: no such device, or it cannot be opened", want.c_str());
    return errorf(Code::kSystemError, "verbs: TORC_IB_HCA=%s: no usable ACTIVE port (%s)", want.c_str(), seen.c_str());
  }

  int n = 0;
  ibv_device** list = ibv.getDeviceList(&n);
  OpenPort o;
  for (int i = 0; list != nullptr && i < n && o.ctx == nullptr; ++i) {
    if (pick->device != ibv.getDeviceName(list[i])) continue;
    ibv_context* ctx = ibv.openDevice(list[i]);
    if (ctx == nullptr) break;
    ibv_device_attr da{};
    ibv_port_attr pa{};
    const uint8_t port = static_cast<uint8_t>(pick->port);
    if (ibv.queryDevice(ctx, &da) == 0 && ibv.queryPort(ctx, port, &pa) == 0 && pa.state == IBV_PORT_ACTIVE) {
      o.ctx = ctx;
      o.device = pick->device;
      o.port = port;
      o.attr = pa;
      o.maxCqe = da.max_cqe;
    } else {
      ibv.closeDevice(ctx);
    }
  }
  if (list != nullptr) ibv.freeDeviceList(list);
  if (o.ctx == nullptr)
    return errorf(Code::kSystemError, "verbs: %s port %d was usable a moment ago and no longer is", pick->device.c_str(),
                  pick->port);
  Status st = chooseGid(ibv, &o);
  if (!st.isOk()) {
    ibv.closeDevice(o.ctx);
    return st;
  }
  return o;
}

}  // namespace torc::transport::verbs

namespace torc::transport {

std::vector<VerbsDeviceInfo> probeVerbsDevices(std::string* why) {
  std::vector<VerbsDeviceInfo> out;
  std::string reason;
  auto note = [&reason](const std::string& s) { reason += (reason.empty() ? "" : ", ") + s; };
  auto loaded = verbs::loadIbvSymbols();
  if (!loaded.isOk()) {
    if (why) *why = loaded.status().message();
    return out;
  }
  const verbs::IbvSymbols& ibv = *loaded.value();
  int n = 0;
  ibv_device** list = ibv.getDeviceList(&n);
  if (list == nullptr || n == 0) {
    if (list != nullptr) ibv.freeDeviceList(list);
    if (why) *why = "no RDMA device found";
    return out;
  }
  for (int i = 0; i < n; ++i) {
    const std::string name = ibv.getDeviceName(list[i]);
    const char* deviceProblem = verbs::transportTypeProblem(list[i]->transport_type);
    ibv_context* ctx = ibv.openDevice(list[i]);
    if (ctx == nullptr) {
      note(name + " cannot be opened: " + strerror(errno));
      continue;
    }
    ibv_device_attr da{};
    if (ibv.queryDevice(ctx, &da) == 0) {
      for (uint8_t p = 1; p <= da.phys_port_cnt; ++p) {
        ibv_port_attr pa{};
        if (ibv.queryPort(ctx, p, &pa) != 0) continue;
        VerbsDeviceInfo d;
        d.device = name;
        d.port = p;
        d.active = pa.state == IBV_PORT_ACTIVE;
        d.state = verbs::portStateName(pa.state);
        d.linkLayer = verbs::linkLayerName(pa.link_layer);
        if (d.active) {
          const char* problem = deviceProblem ? deviceProblem : verbs::linkLayerProblem(pa.link_layer);
          if (problem != nullptr) d.problem = deviceProblem ? std::string("it is ") + problem : problem;
          d.usable = problem == nullptr;
        }
        note(name + " port " + std::to_string(p) + " " + d.state + (d.problem.empty() ? "" : ", but " + d.problem));
        out.push_back(d);
      }
    }
    ibv.closeDevice(ctx);
  }
  ibv.freeDeviceList(list);
  const bool usable = std::any_of(out.begin(), out.end(), [](const VerbsDeviceInfo& d) { return d.usable; });
  if (why) *why = usable ? std::string() : "no usable ACTIVE RDMA port (" + reason + ")";
  return out;
}

}  // namespace torc::transport
