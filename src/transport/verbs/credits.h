// Flow control of the verbs transport's eager protocol, with no verbs types (unit-tested on the CPU).
//
// Each direction between two ranks has a ring of N slots in the receiver's registered memory;
// every fragment the sender writes takes the next slot (fragment seq goes to slot seq % N). The
// sender may have at most N fragments the receiver has not yet freed: its credits. The receiver
// frees a slot once the fragment's data is no longer needed, and tells the sender how many
// slots, counted from the very first, are free: a cumulative count, so an update that is lost,
// overtaken or merged with the next one does no harm (the sender keeps the largest it has seen).
//
// Both classes are plain state machines; the transport owns one of each per peer and calls them
// from its progress loop (one thread at a time).
#pragma once

#include <cstdint>
#include <vector>

namespace torc::transport::verbs {

/// The sender's view of a peer's receive ring.
class CreditWindow {
 public:
  explicit CreditWindow(uint32_t slots) : slots_(slots) {}

  uint32_t slots() const { return slots_; }
  /// Slots the sender may still write without overrunning fragments the receiver holds.
  uint32_t credits() const { return slots_ - static_cast<uint32_t>(sent_ - freed_); }
  bool blocked() const { return credits() == 0; }
  /// Sequence number the next fragment will get (its slot is nextSeq() % slots()).
  uint64_t nextSeq() const { return sent_; }
  /// Takes a credit for the next fragment and returns its sequence number. Requires !blocked().
  uint64_t consume();
  /// Applies the receiver's cumulative count of freed slots. Smaller or repeated counts change
  /// nothing; a count beyond the fragments sent changes nothing and returns false (the transport
  /// takes it for a torn read of a word the NIC was writing, and reads again).
  bool update(uint64_t freedTotal);
  uint64_t sent() const { return sent_; }
  uint64_t freed() const { return freed_; }

 private:
  uint32_t slots_;
  uint64_t sent_ = 0;
  uint64_t freed_ = 0;
};

/// The receiver's side of one peer's ring: which slots are free again, and when to say so.
class SlotTracker {
 public:
  /// batch: free slots worth an announcement on their own (1..slots; the transport uses slots/2).
  SlotTracker(uint32_t slots, uint32_t batch);

  uint32_t slots() const { return slots_; }
  /// The next fragment has arrived: sets *seq to its sequence number. False if the sender wrote
  /// more fragments than it had credits for (a protocol violation; nothing changes).
  bool arrive(uint64_t* seq);
  /// The data of fragment seq is no longer needed. Fragments may be released in any order, but
  /// only the contiguous prefix counts as free (the sender reuses slots in order). False if seq
  /// has not arrived or was already released.
  bool release(uint64_t seq);

  uint64_t arrived() const { return arrived_; }
  /// Every fragment below this sequence number is free.
  uint64_t freedPrefix() const { return freedPrefix_; }
  /// The count last sent to the sender.
  uint64_t announced() const { return announced_; }
  /// Slots the sender cannot reuse yet although they arrived (held, or behind one held).
  uint32_t blocked() const { return static_cast<uint32_t>(arrived_ - freedPrefix_); }
  /// Whether to send the count now: `batch` slots became free since the last announcement, or
  /// the sender has used every credit it was given (it is stalled) and at least one is free.
  bool shouldAnnounce() const;
  /// Records that freedPrefix() is being sent, and returns it.
  uint64_t announce();

 private:
  uint32_t slots_;
  uint32_t batch_;
  uint64_t arrived_ = 0;
  uint64_t freedPrefix_ = 0;
  uint64_t announced_ = 0;
  std::vector<uint8_t> released_;  // by slot: released, but behind an unreleased one
};

/// When to probe a peer that has gone quiet. Errors come only from this rank's own work, so a
/// rank that merely waits for a peer (a receive, or credits for a queued send) would never learn
/// that the peer died. While something is awaited and nothing has come from the peer for `quiet`,
/// the transport writes its cumulative credit count to the peer again (idempotent): to a dead
/// peer that write exhausts its retries and fails the peer. Times are any monotonic count (ns).
class SilenceWatch {
 public:
  explicit SilenceWatch(int64_t quiet) : quiet_(quiet) {}
  /// Something came from the peer (a fragment, credits, the acknowledgement of a write).
  void heard(int64_t now) { mark_ = now; }
  /// Whether to probe now. A wait starts the clock afresh (nobody is suspect for the time nothing
  /// was awaited from them), and a probe restarts it, so probes repeat every `quiet` of silence.
  bool due(bool awaiting, int64_t now);

 private:
  int64_t quiet_;
  int64_t mark_ = 0;  // when silence started counting
  bool awaiting_ = false;
};

}  // namespace torc::transport::verbs
