/* A C99 program against the public API: compiles with -std=c99 -pedantic-errors, links, and
 * runs a one-rank communicator through every collective. */
#include <stdio.h>
#include <string.h>

#include "torc.h"

#define CHECK(call)                                                              \
  do {                                                                           \
    torcResult_t r_ = (call);                                                    \
    if (r_ != torcSuccess) {                                                     \
      fprintf(stderr, "%s: %s (%s)\n", #call, torcGetErrorString(r_), torcGetLastError(NULL)); \
      return 1;                                                                  \
    }                                                                            \
  } while (0)

int main(void) {
  int version = 0, rank = -1, count = 0, i;
  torcUniqueId id;
  torcComm_t comm = NULL;
  float in[5] = {1, 2, 3, 4, 5}, out[5];
  torcResult_t bad;

  CHECK(torcGetVersion(&version));
  if (version != TORC_VERSION_CODE) return 2;
  CHECK(torcGetUniqueId(&id));
  CHECK(torcCommInitRank(&comm, 1, id, 0));
  CHECK(torcCommUserRank(comm, &rank));
  CHECK(torcCommCount(comm, &count));
  if (rank != 0 || count != 1) return 3;
  CHECK(torcAllReduce(in, out, 5, torcFloat32, torcSum, comm, NULL));
  for (i = 0; i < 5; ++i)
    if (out[i] != in[i]) return 4;
  CHECK(torcBroadcast(in, out, 5, torcFloat32, 0, comm, NULL));
  CHECK(torcReduce(in, out, 5, torcFloat32, torcMax, 0, comm, NULL));
  CHECK(torcAllGather(in, out, 5, torcFloat32, comm, NULL));
  CHECK(torcReduceScatter(in, out, 5, torcFloat32, torcAvg, comm, NULL));
  CHECK(torcBarrier(comm, NULL));
  bad = torcAllReduce(NULL, out, 5, torcFloat32, torcSum, comm, NULL);
  if (bad != torcInvalidArgument || strlen(torcGetLastError(comm)) == 0) return 5;
  CHECK(torcCommDestroy(comm));
  printf("c99 ok\n");
  return 0;
}
