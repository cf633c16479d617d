// Open MPI baseline for allreduce: mpirun --allow-run-as-root --oversubscribe -np 4 mpi_allreduce_bench -b 8 -e 64M -f
// 2
#include "perf/baselines/mpi_backend.h"

int main(int argc, char** argv) {
  torc::perf::MpiBackend backend;
  return torc::perf::benchMain(argc, argv, torc::perf::Coll::kAllReduce, backend);
}
