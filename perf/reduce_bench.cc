// torc reduce sweep, nccl-tests style: torcrun -n 4 reduce_bench -b 8 -e 64M -f 2
#include "perf/torc_backend.h"

int main(int argc, char** argv) {
  torc::perf::TorcBackend backend;
  return torc::perf::benchMain(argc, argv, torc::perf::Coll::kReduce, backend);
}
