// A Plan: one rank's part of one collective, as data. An ordered list of steps over element
// ranges of three buffers (the caller's input and output, and the communicator's scratch),
// each step naming the earlier steps it must wait for. Algorithms build Plans; the Executor is
// the only code that runs them; the simulator runs all ranks' Plans in one process.
//
// Message matching: a rank's k-th Send to peer q is received by q's k-th Recv/RecvReduce from
// this rank (in plan order). Plan::finalize() numbers them, and the executor turns the number
// into the transport tag, so algorithm files never deal with tags.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace torc::algos {

enum class BufId : uint8_t {
  kInput,
  kOutput,
  kScratch,
  kAddrSelf,    // this rank's {input, output} addresses (2 x 8 bytes), for direct algorithms
  kAddrTable,   // every rank's {input, output} addresses, received from them, indexed by rank
  kPeerInput,   // the input buffer of the step's peer (direct access)
  kPeerOutput,  // the output buffer of the step's peer (direct access)
};

struct Ref {
  BufId buf = BufId::kInput;
  size_t off = 0;  // in elements
};

enum class OpKind : uint8_t {
  kSend,        // send `count` elements at src to peer
  kRecv,        // receive `count` elements from peer into dst
  kRecvReduce,  // receive into src (scratch), then dst = a op src
  kReduce,      // dst = a op src
  kCopy,        // dst = src (skipped when they are the same memory)
  kFinalize,    // dst /= nranks, the last step of an average (no-op for other ops)
  kReadReduce,  // read `count` elements of peer memory `a` into src (scratch), then dst = b op src
  kWrite,       // write `count` elements at src into dst (peer memory)
  kNop,         // completes when its dependencies have (joins)
};

struct Step {
  OpKind kind;
  int peer = -1;
  size_t count = 0;
  Ref src, a, dst;
  Ref b;  // kReadReduce: the left operand (a is the peer memory read)
  uint32_t msgIndex = 0;  // set by finalize(): k-th message to/from `peer`
};

class Plan {
 public:
  static constexpr uint32_t kNone = UINT32_MAX;

  // Appends a step that waits for the listed steps (kNone entries are ignored). Returns its index.
  uint32_t add(const Step& s, std::initializer_list<uint32_t> deps = {});
  uint32_t add(const Step& s, const std::vector<uint32_t>& deps);
  void addDep(uint32_t step, uint32_t dep);

  // Numbers messages and builds the reverse edges. Call once, after the last add().
  void finalize();

  size_t size() const { return steps_.size(); }
  const Step& step(size_t i) const { return steps_[i]; }
  const std::vector<Step>& steps() const { return steps_; }
  // Steps this one waits for / steps waiting for this one.
  const uint32_t* depsBegin(size_t i) const { return deps_.data() + depStart_[i]; }
  const uint32_t* depsEnd(size_t i) const { return deps_.data() + depStart_[i + 1]; }
  const uint32_t* dependentsBegin(size_t i) const { return dependents_.data() + dependentStart_[i]; }
  const uint32_t* dependentsEnd(size_t i) const { return dependents_.data() + dependentStart_[i + 1]; }
  uint32_t numDeps(size_t i) const { return depStart_[i + 1] - depStart_[i]; }

  size_t scratchElems() const { return scratchElems_; }
  // The most messages exchanged with one peer in one direction (after finalize()).
  uint32_t maxMessagesPerPeer() const { return maxMessages_; }
  void reserveScratch(size_t elems) {
    if (elems > scratchElems_) scratchElems_ = elems;
  }
  // Elements of the input and output buffers the plan touches (for validation in tests).
  size_t inputElems = 0;
  size_t outputElems = 0;
  std::string name;

  std::string toString() const;  // one line per step, for tests and TORC_DEBUG=TRACE

 private:
  std::vector<Step> steps_;
  std::vector<uint32_t> depStart_{0};
  std::vector<uint32_t> deps_;
  std::vector<uint32_t> dependentStart_;
  std::vector<uint32_t> dependents_;
  size_t scratchElems_ = 0;
  uint32_t maxMessages_ = 0;
};

// Splits n elements into `parts` contiguous ranges whose sizes differ by at most one.
struct Range {
  size_t off;
  size_t len;
};
Range evenSplit(size_t n, int parts, int index);
// Chunks of at most `chunk` elements covering a range; both sides of a message compute the
// same chunks from the same range.
size_t numChunks(size_t len, size_t chunk);
Range chunkOf(const Range& r, size_t chunk, size_t j);

}  // namespace torc::algos
