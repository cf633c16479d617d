#include "src/core/transport_choice.h"

#include <mutex>

#include "src/base/log.h"
#include "src/base/param.h"
#include "src/core/comm.h"
#include "src/transport/verbs/verbs_transport.h"

TORC_PARAM_CHOICE(Transport, "TRANSPORT", "auto", "auto|ucx|verbs",
                  "transport between ranks: verbs (RDMA queue pairs through libibverbs), ucx, or auto (verbs when "
                  "an RDMA port is ACTIVE, else ucx); every rank must end up with the same");

namespace torc::core {

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
  std::string why;
  const auto ports = transport::probeVerbsDevices(&why);
  bool active = false;
  for (const auto& p : ports) active |= p.active;
  if (active) {
    auto t = transport::createVerbsTransport(opts);
    if (t.isOk()) return t;
    TORC_WARN("%s; using UCX", t.status().message().c_str());
  } else {
    static std::once_flag once;
    std::call_once(once, [&] { TORC_INFO(kLogInit, "verbs: %s; using UCX", why.c_str()); });
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
                  "verbs only where an RDMA port is ACTIVE; set TORC_TRANSPORT to the same value on every rank)",
                  first.c_str(), r, mine.c_str());
  }
  return Status::ok();
}

}  // namespace torc::core
