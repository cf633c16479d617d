#include "src/algos/timing.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <tuple>
#include <queue>
#include <unordered_map>

namespace torc::algos {

std::string LinkModel::describe() const {
  char buf[200];
  snprintf(buf, sizeof(buf), "intra %.1f us %.2f GB/s, inter %.1f us %.3f GB/s, reduce %.1f GB/s", intraAlphaUs,
           intraGBps, interAlphaUs, interGBps, reduceGBps);
  return buf;
}

Result<double> predictByPlans(const CollArgs& proto, const std::vector<int>& nodeOf, const LinkModel& m) {
  const int p = proto.nranks;
  if (static_cast<int>(nodeOf.size()) != p) return errorf(Code::kInternalError, "nodeOf has %zu ranks, not %d", nodeOf.size(), p);
  std::vector<Plan> plans;
  plans.reserve(static_cast<size_t>(p));
  for (int r = 0; r < p; ++r) {
    CollArgs a = proto;
    a.rank = r;
    TORC_ASSIGN_OR_RETURN(Plan plan, buildPlan(a));
    plans.push_back(std::move(plan));
  }
  int nodes = 0;
  for (int n : nodeOf) nodes = std::max(nodes, n + 1);
  const double es = static_cast<double>(proto.elemSize);
  const double intraA = m.intraAlphaUs * 1e-6, interA = m.interAlphaUs * 1e-6;
  const double intraB = 1.0 / (m.intraGBps * 1e9), interB = 1.0 / (m.interGBps * 1e9), gammaB = 1.0 / (m.reduceGBps * 1e9);

  std::vector<std::vector<uint32_t>> pending(static_cast<size_t>(p));
  std::vector<std::vector<double>> readyAt(static_cast<size_t>(p));
  std::vector<double> cpuFree(static_cast<size_t>(p), 0), rankOut(static_cast<size_t>(p), 0);
  std::vector<double> nicOut(static_cast<size_t>(nodes), 0), nicIn(static_cast<size_t>(nodes), 0);
  using Event = std::tuple<double, int, uint32_t>;  // ready time, rank, step
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> ready;
  size_t total = 0, done = 0;
  for (int r = 0; r < p; ++r) {
    const Plan& pl = plans[static_cast<size_t>(r)];
    pending[static_cast<size_t>(r)].resize(pl.size());
    readyAt[static_cast<size_t>(r)].assign(pl.size(), 0);
    total += pl.size();
    for (uint32_t i = 0; i < pl.size(); ++i) {
      pending[static_cast<size_t>(r)][i] = pl.numDeps(i);
      if (pl.numDeps(i) == 0) ready.emplace(0.0, r, i);
    }
  }
  auto key = [&](int from, int to, uint32_t idx) {
    return (static_cast<uint64_t>(from) * static_cast<uint64_t>(p) + static_cast<uint64_t>(to)) << 24 | idx;
  };
  std::unordered_map<uint64_t, double> arrival;             // message -> arrival time
  std::unordered_map<uint64_t, std::pair<double, uint32_t>> parked;  // message -> receive waiting (ready time, step)
  double end = 0;
  std::function<void(int, uint32_t, double)> complete;
  auto cpu = [&](int r, double t, double secs) {
    double start = std::max(t, cpuFree[static_cast<size_t>(r)]);
    cpuFree[static_cast<size_t>(r)] = start + secs;
    return start + secs;
  };
  auto finishRecv = [&](int r, uint32_t i, double readyTime, double arrived) {
    const Step& s = plans[static_cast<size_t>(r)].step(i);
    double t = std::max(readyTime, arrived);
    if (s.kind == OpKind::kRecvReduce) t = cpu(r, t, static_cast<double>(s.count) * es * gammaB);
    complete(r, i, t);
  };
  complete = [&](int r, uint32_t i, double t) {
    ++done;
    end = std::max(end, t);
    const Plan& pl = plans[static_cast<size_t>(r)];
    for (const uint32_t* d = pl.dependentsBegin(i); d != pl.dependentsEnd(i); ++d) {
      double& at = readyAt[static_cast<size_t>(r)][*d];
      at = std::max(at, t);
      if (--pending[static_cast<size_t>(r)][*d] == 0) ready.emplace(at, r, *d);
    }
  };
  while (!ready.empty()) {
    auto [t, r, i] = ready.top();
    ready.pop();
    const Step& s = plans[static_cast<size_t>(r)].step(i);
    const double bytes = static_cast<double>(s.count) * es;
    switch (s.kind) {
      case OpKind::kSend: {
        const int q = s.peer;
        const int na = nodeOf[static_cast<size_t>(r)], nb = nodeOf[static_cast<size_t>(q)];
        double start, arrived;
        if (na == nb) {
          start = std::max(t, rankOut[static_cast<size_t>(r)]);
          rankOut[static_cast<size_t>(r)] = start + bytes * intraB;
          arrived = start + bytes * intraB + intraA;
          complete(r, i, start + bytes * intraB);
        } else {
          const double dur = bytes * interB;
          start = std::max(t, nicOut[static_cast<size_t>(na)]);
          nicOut[static_cast<size_t>(na)] = start + dur;
          const double in = std::max(start, nicIn[static_cast<size_t>(nb)]);
          nicIn[static_cast<size_t>(nb)] = in + dur;
          arrived = in + dur + interA;
          complete(r, i, start + dur);
        }
        const uint64_t k = key(r, q, s.msgIndex);
        auto it = parked.find(k);
        if (it != parked.end()) {
          auto [rt, ri] = it->second;
          parked.erase(it);
          finishRecv(q, ri, rt, arrived);
        } else {
          arrival[k] = arrived;
        }
        break;
      }
      case OpKind::kRecv:
      case OpKind::kRecvReduce: {
        const uint64_t k = key(s.peer, r, s.msgIndex);
        auto it = arrival.find(k);
        if (it == arrival.end()) {
          parked[k] = {t, i};
        } else {
          double arrived = it->second;
          arrival.erase(it);
          finishRecv(r, i, t, arrived);
        }
        break;
      }
      case OpKind::kReduce: complete(r, i, cpu(r, t, bytes * gammaB)); break;
      case OpKind::kCopy:
      case OpKind::kFinalize: complete(r, i, cpu(r, t, bytes * gammaB * 0.5)); break;
      case OpKind::kReadReduce: complete(r, i, cpu(r, t, intraA + bytes * (intraB + gammaB))); break;
      case OpKind::kWrite: complete(r, i, cpu(r, t, intraA + bytes * intraB)); break;
      case OpKind::kNop: complete(r, i, t); break;
    }
  }
  if (done != total)
    return errorf(Code::kInternalError, "timing simulation stalled: %zu of %zu steps ran (plans do not match)", done, total);
  return end;
}

double predictAnalytic(const std::string& algo, int nodes, int perNode, double bytes, const LinkModel& m,
                       double chunkBytes) {
  const int p = nodes * perNode;
  if (p <= 1) return bytes / (m.reduceGBps * 1e9) * 0.5;
  const double aI = m.intraAlphaUs * 1e-6, aX = m.interAlphaUs * 1e-6;
  const double bI = 1.0 / (m.intraGBps * 1e9), bX = 1.0 / (m.interGBps * 1e9), g = 1.0 / (m.reduceGBps * 1e9);
  // A reduce-scatter step over k chunks overlaps the reduction of one chunk with the transfer
  // of the next: it costs the slower of the two plus a chunk's worth of the faster.
  auto rsStep = [&](double segBytes, double tx, double red) {
    const double k = std::max(1.0, std::ceil(segBytes / chunkBytes));
    return std::max(tx, red) + std::min(tx, red) / k;
  };
  auto ringTime = [&](int ranks, double n, double alpha, double beta, double share) {
    // 2(ranks-1) steps of n/ranks bytes each; `share` rings use the same link at once.
    // Chunks pipeline the reduction with the next transfer: a reduce-scatter step costs the
    // slower of the two, an all-gather step the transfer.
    if (ranks <= 1) return 0.0;
    const double s = n / ranks, tx = alpha + share * s * beta;
    return (ranks - 1) * (rsStep(s, tx, s * g) + tx);
  };
  if (algo == "torus2d") {
    const int C = perNode, N = nodes;
    const double seg = bytes / C;
    double t = 0;
    if (C > 1) {  // row reduce-scatter and all-gather: C-1 steps of n/C each
      const double tx = aI + seg * bI;
      t += (C - 1) * (rsStep(seg, tx, seg * g) + tx);
    }
    t += ringTime(N, seg, aX, bX, C);                                                  // column rings share the NIC
    return t;
  }
  if (algo == "rd") {
    int pow2 = 1, rounds = 0;
    while (pow2 * 2 <= p) pow2 *= 2, ++rounds;
    double t = 0;
    for (int k = 0; k < rounds; ++k) {
      const int dist = 1 << k;
      const bool inter = dist >= perNode;  // partners r ^ dist, ranks node by node
      // Between nodes, every rank of a node exchanges at once through its NIC.
      t += inter ? aX + std::min(perNode, dist) * bytes * bX : aI + bytes * bI;
      t += bytes * g;
    }
    if (pow2 != p) t += 2 * (nodes > 1 ? aX + bytes * bX : aI + bytes * bI) + bytes * g;  // fold in and out
    return t;
  }
  // ring, ranks node by node: when there are several nodes, every step waits for the one
  // message that crosses into the next node (each node has one such edge: the NIC is not shared).
  const double s = bytes / p;
  const double step = nodes > 1 ? std::max(aX + s * bX, aI + s * bI) : aI + s * bI;
  return (p - 1) * (rsStep(s, step, s * g) + step);
}

}  // namespace torc::algos
