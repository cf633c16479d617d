// torc allgather sweep, nccl-tests style: torcrun -n 4 allgather_bench -b 8 -e 64M -f 2
#include "perf/torc_backend.h"

int main(int argc, char** argv) {
  torc::perf::TorcBackend backend;
  return torc::perf::benchMain(argc, argv, torc::perf::Coll::kAllGather, backend);
}
