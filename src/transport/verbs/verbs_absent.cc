// The verbs transport's entry points in a build without <infiniband/verbs.h> (or with
// TORC_WITH_IBVERBS=OFF): they say so, and the communicator uses UCX.
#include "src/transport/verbs/verbs_transport.h"

namespace torc::transport {

std::vector<VerbsDeviceInfo> probeVerbsDevices(std::string* why) {
  if (why) *why = "torc was built without the verbs transport (no infiniband/verbs.h, or TORC_WITH_IBVERBS=OFF)";
  return {};
}

Result<std::unique_ptr<Transport>> createVerbsTransport(const TransportOptions&) {
  return Status(Code::kSystemError,
                "verbs: torc was built without the verbs transport (no infiniband/verbs.h, or TORC_WITH_IBVERBS=OFF)");
}

}  // namespace torc::transport
