// torc-predict: predicted all-reduce time on a cluster of your choice, for planning beyond the
// machine at hand. Prints, per size, each algorithm's predicted time and bus bandwidth from
// the closed forms (any p), and from simulating every rank's actual Plan (p <= --plans-max).
//   torc-predict --nodes 64 --ranks-per-node 64 -b 1M -e 1G --inter-gbps 12.5
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "src/algos/algorithm.h"
#include "src/algos/timing.h"

namespace {

bool parseSize(const char* s, double* out) {
  char* end = nullptr;
  double v = strtod(s, &end);
  if (end == s || v < 0) return false;
  switch (*end) {
    case 'K': case 'k': v *= 1024; ++end; break;
    case 'M': case 'm': v *= 1024 * 1024; ++end; break;
    case 'G': case 'g': v *= 1024.0 * 1024 * 1024; ++end; break;
    default: break;
  }
  *out = v;
  return *end == 0;
}

int usage(int code) {
  fprintf(code ? stderr : stdout,
          "usage: torc-predict [--nodes N] [--ranks-per-node C] [-b MIN] [-e MAX] [-f FACTOR]\n"
          "                    [--intra-alpha-us A] [--intra-gbps G] [--inter-alpha-us A] [--inter-gbps G]\n"
          "                    [--reduce-gbps G] [--plans-max P]\n"
          "Predicted float32 all-reduce times for ring (ranks node by node), torus2d (a row per node)\n"
          "and rd (recursive doubling). GB/s are gigabytes per second; 10 Gbit/s is 1.25.\n");
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  int nodes = 4, perNode = 8, plansMax = 256;
  double minB = 8, maxB = 256 << 20, factor = 4;
  torc::algos::LinkModel m;
  for (int i = 1; i < argc; ++i) {
    std::string f = argv[i];
    if (f == "-h" || f == "--help") return usage(0);
    if (i + 1 >= argc) return usage(2);
    const char* v = argv[++i];
    bool ok = true;
    if (f == "--nodes") nodes = atoi(v), ok = nodes >= 1;
    else if (f == "--ranks-per-node") perNode = atoi(v), ok = perNode >= 1;
    else if (f == "-b") ok = parseSize(v, &minB);
    else if (f == "-e") ok = parseSize(v, &maxB);
    else if (f == "-f") factor = atof(v), ok = factor > 1;
    else if (f == "--intra-alpha-us") m.intraAlphaUs = atof(v);
    else if (f == "--intra-gbps") m.intraGBps = atof(v), ok = m.intraGBps > 0;
    else if (f == "--inter-alpha-us") m.interAlphaUs = atof(v);
    else if (f == "--inter-gbps") m.interGBps = atof(v), ok = m.interGBps > 0;
    else if (f == "--reduce-gbps") m.reduceGBps = atof(v), ok = m.reduceGBps > 0;
    else if (f == "--plans-max") plansMax = atoi(v);
    else ok = false;
    if (!ok) return usage(2);
  }
  const int p = nodes * perNode;
  const bool plans = p <= plansMax;
  printf("# %d nodes x %d ranks = %d ranks; %s\n", nodes, perNode, p, m.describe().c_str());
  printf("# time in us (busbw GB/s); analytic%s\n", plans ? ", then simulated from the plans" : "");
  printf("%12s  %-22s %-22s %-22s %s\n", "size", "ring", "torus2d", "rd", "best");
  std::vector<int> nodeOf;
  for (int r = 0; r < p; ++r) nodeOf.push_back(r / perNode);
  for (double bytes = minB; bytes <= maxB; bytes *= factor) {
    const double bus = 2.0 * (p - 1) / p * bytes;
    std::string best;
    double bestT = 1e300;
    printf("%12.0f ", bytes);
    for (const char* algo : {"ring", "torus2d", "rd"}) {
      double t = torc::algos::predictAnalytic(algo, nodes, perNode, bytes, m);
      char cell[64];
      int n = snprintf(cell, sizeof(cell), "%.1f (%.2f)", t * 1e6, bus / t / 1e9);
      if (plans) {
        torc::algos::CollArgs a;
        a.coll = torc::algos::Coll::kAllReduce;
        a.nranks = p;
        a.count = static_cast<size_t>(bytes / 4);
        a.elemSize = 4;
        a.algo = algo;
        // Recursive doubling keeps the whole buffer in one scratch slot.
        a.chunkBytes = std::string(algo) == "rd" ? static_cast<size_t>(bytes) + 64 : 512 << 10;
        a.torusRows = nodes;
        a.torusCols = perNode;
        auto sim = torc::algos::predictByPlans(a, nodeOf, m);
        if (sim.isOk()) snprintf(cell + n, sizeof(cell) - static_cast<size_t>(n), " %.1f", sim.value() * 1e6);
      }
      printf(" %-22s", cell);
      if (t < bestT) bestT = t, best = algo;
    }
    printf(" %s\n", best.c_str());
  }
  return 0;
}
