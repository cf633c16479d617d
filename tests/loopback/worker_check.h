// The checks the loopback workers share: a torc call that fails exits 3, an expectation that
// does not hold exits 4, each after a line naming the rank (every worker defines int gRank).
#pragma once

#include <cstdio>
#include <cstdlib>

#include "include/torc.h"

#define CHECK_TORC(call)                                                                                  \
  do {                                                                                                    \
    torcResult_t r_ = (call);                                                                             \
    if (r_ != torcSuccess) {                                                                              \
      fprintf(stderr, "rank %d: %s failed: %s (%s)\n", gRank, #call, torcGetErrorString(r_),              \
              torcGetLastError(nullptr));                                                                 \
      exit(3);                                                                                            \
    }                                                                                                     \
  } while (0)

#define EXPECT(cond, ...)                  \
  do {                                     \
    if (!(cond)) {                         \
      fprintf(stderr, "rank %d: ", gRank); \
      fprintf(stderr, __VA_ARGS__);        \
      fprintf(stderr, " [%s]\n", #cond);   \
      exit(4);                             \
    }                                      \
  } while (0)
