// Predicted time of a collective under an alpha-beta-gamma model with two link classes
// (between ranks of one node, between nodes): for algorithm selection and for planning scale
// beyond this machine on paper.
//
// Two predictors. predictByPlans builds every rank's Plan and runs them as a discrete-event
// simulation: a rank does one local step at a time (copy, reduce: gamma per byte); a message
// occupies its sender's link for bytes/bandwidth (inter-node messages share their node's NIC,
// both ways) and arrives alpha later; a receive completes when its message has arrived.
// predictAnalytic gives closed forms for the same algorithms, cheap at any p (4096 and more);
// tests keep the two within a few percent of each other where both run.
#pragma once

#include <string>
#include <vector>

#include "src/algos/algorithm.h"
#include "src/base/status.h"

namespace torc::algos {

struct LinkModel {
  double intraAlphaUs = 2.0;    // per message between ranks of one node
  double intraGBps = 8.0;       // bandwidth between ranks of one node
  double interAlphaUs = 30.0;   // per message between nodes
  double interGBps = 1.25;      // a node's NIC, each way (10 Gbit/s)
  double reduceGBps = 8.0;      // bytes of result a rank's reduction produces per second
  std::string describe() const;
};

// Simulates the plans of all a.nranks ranks (a.rank is ignored); nodeOf[r] is rank r's node.
Result<double> predictByPlans(const CollArgs& a, const std::vector<int>& nodeOf, const LinkModel& m);

// Closed form for all-reduce of `bytes` over `nodes` x `perNode` ranks (rows = nodes):
// "ring" (ranks node by node), "torus2d", "rd" (recursive doubling); rings pipeline chunks of
// chunkBytes.
double predictAnalytic(const std::string& algo, int nodes, int perNode, double bytes, const LinkModel& m,
                       double chunkBytes = 512 << 10);

}  // namespace torc::algos
