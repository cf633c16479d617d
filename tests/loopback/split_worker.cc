// torcCommSplit under a launcher: splits by parity (reversed keys), singletons, a NOCOLOR rank,
// nested splits, several sub-communicators used in turn, and (with "bynode") ranks that pretend
// to be on nodes of two ranks each and split by node. Every result is checked exactly; exits 0
// when all is well.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "include/torc.h"
#include "tests/loopback/worker_check.h"

namespace {

int gRank = -1;

// Checks that `sub` holds exactly the parent ranks `members` (in new-rank order) and that its
// collectives see them: an all-reduce of parent ranks and an all-gather of them.
void checkComm(torcComm_t sub, const std::vector<int>& members, int parentRank) {
  int n = 0, r = 0;
  CHECK_TORC(torcCommCount(sub, &n));
  CHECK_TORC(torcCommUserRank(sub, &r));
  EXPECT(n == static_cast<int>(members.size()), "size %d, expected %zu", n, members.size());
  EXPECT(r >= 0 && r < n && members[static_cast<size_t>(r)] == parentRank, "new rank %d", r);
  long long sum = 0;
  for (int m : members) sum += m + 1;
  long long mine = parentRank + 1, got = 0;
  CHECK_TORC(torcAllReduce(&mine, &got, 1, torcInt64, torcSum, sub, nullptr));
  EXPECT(got == sum, "all-reduce %lld, expected %lld", got, sum);
  std::vector<int> all(static_cast<size_t>(n), -1);
  int me = parentRank;
  CHECK_TORC(torcAllGather(&me, all.data(), 1, torcInt32, sub, nullptr));
  EXPECT(all == members, "all-gather order differs from the key order");
}

}  // namespace

int main(int argc, char** argv) {
  const bool byNode = argc > 1 && std::string(argv[1]) == "bynode";
  const char* rankEnv = getenv("TORC_RANK");
  if (byNode && rankEnv) {
    // Two ranks per pretend node: different node identities, so no shared memory between them.
    setenv("TORC_NODE_ID", ("pretend-node-" + std::to_string(atoi(rankEnv) / 2)).c_str(), 1);
  }
  torcComm_t world = nullptr;
  CHECK_TORC(torcCommInitFromEnv(&world));
  int p = 0;
  CHECK_TORC(torcCommCount(world, &p));
  CHECK_TORC(torcCommUserRank(world, &gRank));
  const int me = gRank;

  if (byNode) {
    torcComm_t node = nullptr;
    CHECK_TORC(torcCommSplit(world, me / 2, 0, &node, nullptr));
    std::vector<int> members;
    for (int r = 0; r < p; ++r)
      if (r / 2 == me / 2) members.push_back(r);
    checkComm(node, members, me);
    // And the leaders of the nodes among themselves.
    torcComm_t leaders = nullptr;
    CHECK_TORC(torcCommSplit(world, me % 2 == 0 ? 0 : TORC_SPLIT_NOCOLOR, 0, &leaders, nullptr));
    if (me % 2 == 0) {
      std::vector<int> ls;
      for (int r = 0; r < p; r += 2) ls.push_back(r);
      checkComm(leaders, ls, me);
      CHECK_TORC(torcCommDestroy(leaders));
    } else {
      EXPECT(leaders == nullptr, "NOCOLOR gave a communicator");
    }
    CHECK_TORC(torcCommDestroy(node));
    CHECK_TORC(torcCommDestroy(world));
    return 0;
  }

  // Parity, keys reversed: the new rank order is descending parent rank.
  torcComm_t parity = nullptr;
  CHECK_TORC(torcCommSplit(world, me % 2, -me, &parity, nullptr));
  std::vector<int> par;
  for (int r = p - 1; r >= 0; --r)
    if (r % 2 == me % 2) par.push_back(r);
  checkComm(parity, par, me);

  // Halves, alive at the same time as parity: use both in turn.
  torcComm_t half = nullptr;
  CHECK_TORC(torcCommSplit(world, me < p / 2 ? 0 : 1, me, &half, nullptr));
  std::vector<int> hal;
  for (int r = 0; r < p; ++r)
    if ((r < p / 2) == (me < p / 2)) hal.push_back(r);
  for (int i = 0; i < 3; ++i) {
    checkComm(parity, par, me);
    checkComm(half, hal, me);
  }

  // Nested: split parity again by its new rank's half.
  int pr = 0, pn = 0;
  CHECK_TORC(torcCommUserRank(parity, &pr));
  CHECK_TORC(torcCommCount(parity, &pn));
  torcComm_t nested = nullptr;
  CHECK_TORC(torcCommSplit(parity, pr < pn / 2 ? 0 : 1, pr, &nested, nullptr));
  std::vector<int> nes;
  for (int i = 0; i < pn; ++i)
    if ((i < pn / 2) == (pr < pn / 2)) nes.push_back(par[static_cast<size_t>(i)]);
  checkComm(nested, nes, me);

  // Singletons, and rank 0 opting out.
  torcComm_t single = nullptr;
  CHECK_TORC(torcCommSplit(world, me == 0 ? TORC_SPLIT_NOCOLOR : me, 0, &single, nullptr));
  if (me == 0) {
    EXPECT(single == nullptr, "NOCOLOR gave a communicator");
  } else {
    checkComm(single, {me}, me);
    CHECK_TORC(torcCommDestroy(single));
  }

  // Bad input: an error, and the parent still works.
  torcComm_t bad = nullptr;
  EXPECT(torcCommSplit(world, -5, 0, &bad, nullptr) == torcInvalidArgument && bad == nullptr, "negative color");
  EXPECT(torcCommSplit(world, 0, 0, nullptr, nullptr) == torcInvalidArgument, "NULL newcomm");
  std::vector<int> everyone;
  for (int r = 0; r < p; ++r) everyone.push_back(r);
  checkComm(world, everyone, me);

  CHECK_TORC(torcCommDestroy(nested));
  CHECK_TORC(torcCommDestroy(half));
  CHECK_TORC(torcCommDestroy(parity));
  CHECK_TORC(torcCommDestroy(world));
  return 0;
}
