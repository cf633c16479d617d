// torc-topo: what a rank sees of its machine, and how a communicator groups its ranks.
//   torc-topo [--json]                  this process's view (hwloc): cores, binding, NICs, GPUs
//   torcrun -n 4 torc-topo [--json]     under a launcher: every rank's view and the grouping
//                                       into nodes, printed once by rank 0
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "include/torc.h"
#include "src/core/comm.h"
#include "src/core/launch_env.h"
#include "src/topology/local_topology.h"

namespace {

int usage(int code) {
  fprintf(code ? stderr : stdout,
          "usage: torc-topo [--json] [--local]\n"
          "  Prints this process's topology (hwloc). Under a launcher (torcrun, torchrun, mpirun,\n"
          "  srun) it joins a communicator and rank 0 prints every rank's view and the grouping of\n"
          "  ranks into nodes. --local: never join a communicator.\n");
  return code;
}

std::string intList(const std::vector<int>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false, local = false;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--json")) json = true;
    else if (!strcmp(argv[i], "--local")) local = true;
    else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return usage(0);
    else return usage(2);
  }
  if (local || !torc::core::readLaunchEnv().isOk()) {
    auto t = torc::topology::discoverLocal();
    if (!t.isOk()) {
      fprintf(stderr, "torc-topo: %s\n", t.status().message().c_str());
      return 1;
    }
    fputs(json ? (t.value().toJson() + "\n").c_str() : t.value().toText().c_str(), stdout);
    return 0;
  }
  torcComm_t comm = nullptr;
  if (torcCommInitFromEnv(&comm) != torcSuccess) {
    fprintf(stderr, "torc-topo: %s\n", torcGetLastError(nullptr));
    return 1;
  }
  const torc::core::Comm& c = *comm->comm;
  const torc::core::Grouping& g = c.grouping();
  if (c.rank() == 0) {
    if (json) {
      std::string o = "{\"nranks\":" + std::to_string(c.nranks()) + ",\"nodes\":" + std::to_string(g.nodes) +
                      ",\"ring_order\":[" + intList(g.ringOrder) + "],\"ranks\":[";
      for (int r = 0; r < c.nranks(); ++r) {
        o += (r ? "," : "") + std::string("{\"rank\":") + std::to_string(r) +
             ",\"node\":" + std::to_string(g.nodeOf[static_cast<size_t>(r)]) +
             ",\"node_id\":" + torc::topology::jsonQuote(c.peer(r).nodeId) + ",\"topology\":" + c.peer(r).topo.toJson() +
             "}";
      }
      printf("%s]}\n", o.c_str());
    } else {
      printf("%d ranks on %s\nring order: %s\n", c.nranks(), g.describe().c_str(), intList(g.ringOrder).c_str());
      for (int r = 0; r < c.nranks(); ++r)
        printf("rank %d (node %d) %s", r, g.nodeOf[static_cast<size_t>(r)], c.peer(r).topo.toText().c_str());
    }
    fflush(stdout);
  }
  torcResult_t res = torcCommDestroy(comm);
  return res == torcSuccess ? 0 : 1;
}
