/* Each rank contributes its rank number; every rank prints the sum.
 * Run: build/tools/torcrun -n 4 build/examples/hello_allreduce */
#include <stdio.h>
#include <torc.h>

int main(void) {
  torcComm_t comm;
  int rank, nranks, i;
  float x[4], sum[4];
  if (torcCommInitFromEnv(&comm) != torcSuccess) { /* torcrun, torchrun, mpirun or srun */
    fprintf(stderr, "init: %s\n", torcGetLastError(NULL));
    return 1;
  }
  torcCommUserRank(comm, &rank);
  torcCommCount(comm, &nranks);
  for (i = 0; i < 4; ++i) x[i] = (float)rank;
  if (torcAllReduce(x, sum, 4, torcFloat32, torcSum, comm, NULL) != torcSuccess) {
    fprintf(stderr, "allreduce: %s\n", torcGetLastError(comm));
    return 1;
  }
  printf("rank %d of %d: sum = %g (expected %g)\n", rank, nranks, sum[0], nranks * (nranks - 1) / 2.0);
  torcCommDestroy(comm);
  return sum[0] == nranks * (nranks - 1) / 2.0f ? 0 : 1;
}
