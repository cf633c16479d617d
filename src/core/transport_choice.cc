#include "src/core/transport_choice.h"

#include "src/base/log.h"
#include "src/base/param.h"
#include "src/core/comm.h"
#include "src/transport/ucx/ucx_rdma_probe.h"
#include "src/transport/verbs/verbs_transport.h"

TORC_PARAM_CHOICE(Transport, "TRANSPORT", "auto", "auto|ucx|verbs",
                  "transport between ranks: verbs (RDMA queue pairs through libibverbs), ucx, or auto (verbs only "
                  "where an InfiniBand/RoCE port is ACTIVE and UCX has no RDMA transport of its own, else ucx); every "
                  "rank must end up with the same");

namespace torc::core {
namespace {

// Probed once per process: opening every device for every communicator costs, and the answer
// does not change while the process runs.
const AutoTransport& autoTransport() {
  static const AutoTransport choice = [] {
    std::string verbsWhy;
    const auto ports = transport::probeVerbsDevices(&verbsWhy);
    bool usable = false;
    for (const auto& p : ports) usable |= p.usable;
    transport::UcxRdmaInfo ucx;
    if (usable) ucx = transport::probeUcxRdma();  // only where it matters: it opens the devices too
    AutoTransport c = decideAutoTransport(ports, verbsWhy, ucx.rdma, ucx.detail);
    TORC_INFO(kLogInit, "TORC_TRANSPORT=auto: %s", c.why.c_str());
    return c;
  }();
  return choice;
}

}  // namespace

AutoTransport decideAutoTransport(const std::vector<transport::VerbsDeviceInfo>& ports, const std::string& verbsWhy,
                                  bool ucxRdma, const std::string& ucxDetail) {
  std::string usable;
  for (const auto& p : ports)
    if (p.usable) usable += (usable.empty() ? "" : ", ") + p.device + " port " + std::to_string(p.port);
  AutoTransport c;
  if (usable.empty()) {
    c.why = "UCX (verbs: " + (verbsWhy.empty() ? std::string("no usable RDMA port") : verbsWhy) + ")";
  } else if (ucxRdma) {
    c.why = "UCX, which drives the RDMA device itself (" + ucxDetail + "; ACTIVE for verbs: " + usable +
            "; TORC_TRANSPORT=verbs forces the direct verbs transport)";
  } else {
    c.verbs = true;
    c.why = "verbs on " + usable + ", because UCX has no RDMA transport of its own (" + ucxDetail + ")";
  }
  return c;
}

Result<std::unique_ptr<transport::Transport>> createTransport(const transport::TransportOptions& opts) {
  const std::string mode = torcParamTransport();
  if (mode == "ucx") return transport::createUcxTransport(opts);
  if (mode == "verbs") {
    auto t = transport::createVerbsTransport(opts);
    if (t.isOk()) return t;
    std::string why = t.status().message();
    if (why.rfind("verbs: ", 0) == 0) why.erase(0, 7);
    return Status(t.status().code(), "TORC_TRANSPORT=verbs: " + why);
  }
  if (autoTransport().verbs) {
    auto t = transport::createVerbsTransport(opts);
    if (t.isOk()) return t;
    // Where every rank fails alike (the same locked-memory limit), all of them run over UCX; where
    // only some do, checkSameTransport fails init on every rank and says what to set.
    TORC_WARN("TORC_TRANSPORT=auto chose verbs, but it cannot be created on rank %d: %s; this rank uses UCX (init "
              "fails if other ranks run verbs: then set TORC_TRANSPORT=ucx on every rank)",
              opts.rank, t.status().message().c_str());
  }
  return transport::createUcxTransport(opts);
}

Status checkSameTransport(const std::vector<PeerInfo>& peers) {
  for (size_t r = 1; r < peers.size(); ++r) {
    const std::string& first = peers[0].transport;
    const std::string& mine = peers[r].transport;
    if (mine == first) continue;
    return errorf(Code::kInvalidUsage,
                  "ranks chose different transports: rank 0 uses %s, rank %zu uses %s (TORC_TRANSPORT=auto picks "
                  "verbs only where an RDMA port is ACTIVE and UCX cannot drive it, and falls back to UCX on a rank "
                  "where the verbs transport cannot be created, e.g. for a low ulimit -l: that rank's warning says "
                  "why; set TORC_TRANSPORT=ucx, or the same value, on every rank)",
                  first.c_str(), r, mine.c_str());
  }
  return Status::ok();
}

}  // namespace torc::core
