// Gloo baseline for broadcast: torcrun -n 4 gloo_broadcast_bench -b 8 -e 64M -f 2 [-A <variant>]
// (variants in gloo_backend.h; mpirun works too)
#include "perf/baselines/gloo_backend.h"

int main(int argc, char** argv) {
  torc::perf::GlooBackend backend(torc::perf::Coll::kBroadcast);
  return torc::perf::benchMain(argc, argv, torc::perf::Coll::kBroadcast, backend);
}
