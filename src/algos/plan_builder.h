// Small helpers shared by the plan builders (ring.cc, chain.cc, p2p.cc).
#pragma once

#include <vector>

#include "src/algos/plan.h"

namespace torc::algos {

inline int mod(int x, int p) { return ((x % p) + p) % p; }

inline Step makeStep(OpKind kind, int peer, size_t count) {
  Step s;
  s.kind = kind;
  s.peer = peer;
  s.count = count;
  return s;
}

// Round-robin scratch slots of `chunk` elements. acquire() gives a slot and the step that last
// released it (the new user must wait for that step); release() records the step after which
// the slot is free again.
class SlotPool {
 public:
  SlotPool(Plan* plan, int slots, size_t chunk) : release_(static_cast<size_t>(slots), Plan::kNone), chunk_(chunk) {
    plan->reserveScratch(static_cast<size_t>(slots) * chunk);
  }
  size_t acquire(uint32_t* waitFor) {
    size_t s = next_++ % release_.size();
    *waitFor = release_[s];
    return s;
  }
  void release(size_t slot, uint32_t step) { release_[slot] = step; }
  Ref ref(size_t slot) const { return Ref{BufId::kScratch, slot * chunk_}; }

 private:
  std::vector<uint32_t> release_;
  size_t chunk_;
  size_t next_ = 0;
};

// A ring over a group of ranks on one range of the buffer: the ring all-reduce and the phases
// of hierarchical algorithms. Segment i of the range is evenSplit(range.len, g, i); after the
// reduce-scatter half, members[m] holds segment m + 1 (mod g), reduced over the group, in the
// output; the all-gather half spreads every segment from there. `in` holds this rank's
// contribution (the input, or the output when an earlier phase left it there).
struct RingSpec {
  std::vector<int> members;  // global ranks, in ring order
  int me = 0;                // this rank's index in members
  Range range{0, 0};
  BufId in = BufId::kInput;
  bool reduceScatter = true;
  bool allGather = true;
  bool finalize = true;           // divide for avg once reduced (reduce-scatter half)
  uint32_t after = Plan::kNone;   // every step waits for this one
  bool join = true;               // end with a step that waits for all the others
};
// Appends the steps (scratch from `slots`, chunks of C elements); returns the joining step
// (Plan::kNone without one).
uint32_t appendRing(Plan* plan, const RingSpec& spec, SlotPool* slots, size_t C);

// One rank alone: copy the input to the output (and divide by 1 for avg, a no-op kept so that
// every reducing plan ends the same way).
inline Plan localCopy(const char* name, size_t count, bool finalize) {
  Plan plan;
  plan.name = name;
  plan.inputElems = plan.outputElems = count;
  if (count > 0) {
    Step c = makeStep(OpKind::kCopy, -1, count);
    c.src = Ref{BufId::kInput, 0};
    c.dst = Ref{BufId::kOutput, 0};
    uint32_t copy = plan.add(c);
    if (finalize) {
      Step f = makeStep(OpKind::kFinalize, -1, count);
      f.dst = c.dst;
      plan.add(f, {copy});
    }
  }
  plan.finalize();
  return plan;
}

// Appends a dissemination barrier that starts after `after`: in round k send to rank + 2^k and
// receive from rank - 2^k. A round's send waits for every earlier round's receive (not only the
// last one): that is what makes "heard from" transitive, so that after the last round every rank
// has heard from all. Returns the last receive, or `after` when p == 1.
inline uint32_t addBarrier(Plan* plan, int rank, int p, uint32_t after) {
  std::vector<uint32_t> heard{after};
  uint32_t last = after;
  for (int dist = 1; dist < p; dist *= 2) {
    plan->add(makeStep(OpKind::kSend, mod(rank + dist, p), 0), heard);
    last = plan->add(makeStep(OpKind::kRecv, mod(rank - dist, p), 0), {after});
    heard.push_back(last);
  }
  return last;
}

}  // namespace torc::algos
