// Gloo baseline for reducescatter: torcrun -n 4 gloo_reducescatter_bench -b 8 -e 64M -f 2 [-A <variant>]
// (variants in gloo_backend.h; mpirun works too)
#include "perf/baselines/gloo_backend.h"

int main(int argc, char** argv) {
  torc::perf::GlooBackend backend(torc::perf::Coll::kReduceScatter);
  return torc::perf::benchMain(argc, argv, torc::perf::Coll::kReduceScatter, backend);
}
