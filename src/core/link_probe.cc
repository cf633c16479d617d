// The link model of a multi-node communicator: latency and bandwidth between nodes, measured
// at init by a short ping-pong between rank 0 and the first rank of node 1 (unless given with
// TORC_NET_ALPHA_US / TORC_NET_GBPS), then broadcast from rank 0 so that every rank predicts,
// and therefore chooses, the same way.
#include <algorithm>
#include <chrono>
#include <vector>

#include "src/base/log.h"
#include "src/base/param.h"
#include "src/core/comm.h"

TORC_PARAM(NetAlphaUs, double, "NET_ALPHA_US", -1,
           "latency between nodes for the algorithm model (us); -1: measured at init");
TORC_PARAM(NetGbps, double, "NET_GBPS", -1,
           "bandwidth of a node's link for the algorithm model (GB/s); -1: measured at init");
TORC_PARAM(LocalAlphaUs, double, "LOCAL_ALPHA_US", 2, "latency between ranks of one node for the model (us)");
TORC_PARAM(LocalGbps, double, "LOCAL_GBPS", 8, "bandwidth between ranks of one node for the model (GB/s)");
TORC_PARAM(ReduceGbps, double, "REDUCE_GBPS", 8, "reduction throughput of a rank for the model (GB/s)");

namespace torc::core {

Status Comm::exchange(bool send, void* buf, size_t bytes, int peer) {
  algos::CollArgs a;
  a.coll = send ? algos::Coll::kSend : algos::Coll::kRecv;
  a.count = bytes;
  a.peer = peer;
  return run(a, send ? buf : nullptr, send ? nullptr : buf, kernels::DType::kUint8, kernels::RedOp::kSum);
}

Status Comm::measureLinks() {
  links_.intraAlphaUs = torcParamLocalAlphaUs();
  links_.intraGBps = std::max(1e-3, torcParamLocalGbps());
  links_.reduceGBps = std::max(1e-3, torcParamReduceGbps());
  if (grouping_.nodes < 2) return Status::ok();
  double measured[2] = {torcParamNetAlphaUs(), torcParamNetGbps()};
  if (measured[0] < 0 || measured[1] <= 0) {
    int other = -1;
    for (int r = 0; r < nranks_ && other < 0; ++r)
      if (grouping_.nodeOf[static_cast<size_t>(r)] != grouping_.nodeOf[0]) other = r;
    using Clock = std::chrono::steady_clock;
    const size_t kBig = 1 << 20;
    std::vector<char> buf(kBig);
    if (rank_ == 0 || rank_ == other) {
      const int peer = rank_ == 0 ? other : 0;
      const bool lead = rank_ == 0;
      double rtt = 1e9, big = 1e9;
      for (int i = 0; i < 20; ++i) {  // latency: the best of 20 round trips of 8 bytes
        auto t0 = Clock::now();
        TORC_RETURN_IF_ERROR(exchange(lead, buf.data(), 8, peer));
        TORC_RETURN_IF_ERROR(exchange(!lead, buf.data(), 8, peer));
        rtt = std::min(rtt, std::chrono::duration<double>(Clock::now() - t0).count());
      }
      for (int i = 0; i < 3; ++i) {  // bandwidth: 1 MiB one way, acknowledged by 8 bytes
        auto t0 = Clock::now();
        TORC_RETURN_IF_ERROR(exchange(lead, buf.data(), kBig, peer));
        TORC_RETURN_IF_ERROR(exchange(!lead, buf.data(), 8, peer));
        big = std::min(big, std::chrono::duration<double>(Clock::now() - t0).count());
      }
      if (lead) {
        if (measured[0] < 0) measured[0] = rtt / 2 * 1e6;
        if (measured[1] <= 0) measured[1] = kBig / std::max(1e-9, big - rtt) / 1e9;
      }
    }
  }
  double agreed[2] = {measured[0], measured[1]};
  algos::CollArgs b;
  b.coll = algos::Coll::kBroadcast;
  b.count = 2;
  b.root = 0;
  TORC_RETURN_IF_ERROR(run(b, measured, agreed, kernels::DType::kFloat64, kernels::RedOp::kSum));
  links_.interAlphaUs = std::max(0.0, agreed[0]);
  links_.interGBps = std::max(1e-3, agreed[1]);
  if (rank_ == 0) TORC_INFO(kLogTuning, "algorithm model: %s", links_.describe().c_str());
  return Status::ok();
}

}  // namespace torc::core
