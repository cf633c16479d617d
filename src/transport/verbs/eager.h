// The verbs transport's eager protocol above the credits: messages cut into fragments of a ring
// slot each, and the receiver's matching of whole messages to posted receives. No verbs types.
//
// A message of len bytes goes as max(1, ceil(len / payload)) fragments, in order, each one slot:
// a FragmentHeader, then up to payload = slotBytes - sizeof(FragmentHeader) bytes of data. A
// sender finishes one message's fragments before it starts the next, and the queue pair keeps
// them in order, so fragments arrive message by message.
//
// The receiver (one MessageReceiver per peer) matches a message to the oldest posted receive
// with its tag when its first fragment arrives, and copies each fragment straight into that
// buffer, freeing the slot. A message nobody has asked for yet is unexpected: its fragments keep
// their slots and a later receive with its tag (the oldest such message first) copies them out.
// Slots held that way stop the sender once the ring is used up, and the receive it waits for may
// be behind them, so once `spillAt` slots are blocked the held fragments are copied to the heap
// and their slots freed. A message longer than the matched receive fails that receive (its
// fragments are consumed and dropped).
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <vector>

#include "src/base/status.h"
#include "src/transport/transport.h"
#include "src/transport/verbs/credits.h"

namespace torc::transport::verbs {

/// What precedes a fragment's data in its slot.
struct FragmentHeader {
  uint64_t tag;
  uint64_t total;   // bytes of the whole message
  uint32_t index;   // fragment number: its data sits at index * payload in the message
  uint32_t length;  // data bytes in this fragment
};
static_assert(sizeof(FragmentHeader) == 24, "the header is part of the wire format");

/// Fragments a message of len bytes takes (at least one: an empty message is one header).
uint64_t fragmentCount(uint64_t len, size_t payload);
/// The header of fragment `index` of a message of `total` bytes.
FragmentHeader fragmentHeader(Tag tag, uint64_t total, uint32_t index, size_t payload);

/// One peer's arriving messages, matched to this rank's receives from that peer.
class MessageReceiver {
 public:
  /// ring: slots * slotBytes bytes the peer writes fragments into; it must outlive this object.
  /// batch and spillAt (1..slots): see SlotTracker and the file comment.
  MessageReceiver(int peer, const uint8_t* ring, uint32_t slots, size_t slotBytes, uint32_t batch, uint32_t spillAt);

  /// A fragment has arrived in `slot`. Not ok: the peer broke the protocol (overrun, wrong slot,
  /// malformed header); the receiver must not be used further.
  Status onFragment(uint32_t slot);
  /// Receives the next message with this tag into buf (up to cap bytes). req must be begun; it
  /// completes with the message's length, or fails if the message is longer than cap.
  void post(void* buf, size_t cap, Tag tag, Request* req);
  /// Withdraws a receive not yet complete (it fails as cancelled; a message it had matched is
  /// dropped). False if req is not a receive of this peer's in progress.
  bool cancel(Request* req);
  /// Fails every receive in progress (the peer is gone).
  void failAll(const Status& why);

  SlotTracker& slots() { return slots_; }
  const SlotTracker& slots() const { return slots_; }
  size_t payload() const { return payload_; }
  size_t postedReceives() const { return posted_.size() + (cur_.active && cur_.target == kToReceive ? 1 : 0); }
  size_t unexpectedMessages() const { return unexpected_.size(); }
  uint32_t heldSlots() const { return held_; }
  size_t spilledBytes() const { return spilledBytes_; }

 private:
  struct Posted {
    uint8_t* buf;
    size_t cap;
    Tag tag;
    Request* req;
  };
  struct Fragment {
    uint64_t seq;
    uint32_t slot;
    uint32_t length;
    bool inSlot;  // else its data is in `spilled`
    std::vector<uint8_t> spilled;
  };
  struct Unexpected {
    Tag tag;
    uint64_t total;
    uint64_t count;                   // fragments it will have
    std::vector<Fragment> fragments;  // arrived so far, by index
  };
  enum Target { kToReceive, kToUnexpected, kDrop };
  // The message whose fragments are arriving.
  struct Current {
    bool active = false;
    Tag tag = 0;
    uint64_t total = 0;
    uint64_t count = 0;
    uint64_t next = 0;  // index of the fragment expected next
    Target target = kDrop;
    Posted recv{};
    std::list<Unexpected>::iterator unexpected;
  };

  const uint8_t* slotData(uint32_t slot) const { return ring_ + static_cast<size_t>(slot) * slotBytes_; }
  Status startMessage(const FragmentHeader& h);
  void finishIfComplete();
  void releaseHeld(Unexpected& u);
  void maybeSpill();
  void failTooLong(const Posted& r, uint64_t total);

  int peer_;
  const uint8_t* ring_;
  size_t slotBytes_;
  size_t payload_;
  uint32_t spillAt_;
  SlotTracker slots_;
  std::list<Posted> posted_;
  std::list<Unexpected> unexpected_;
  Current cur_;
  uint32_t held_ = 0;  // fragments of unexpected messages still in their slots
  size_t spilledBytes_ = 0;
};

}  // namespace torc::transport::verbs
