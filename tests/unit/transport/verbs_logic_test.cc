// The verbs transport's logic without a device: credits, torn credit reads, when to probe a
// silent peer, fragmentation and matching (a sender and a MessageReceiver joined by a ring in
// memory), the registration cache (fake registration functions), the address encoding and the
// region layout.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "src/transport/verbs/credits.h"
#include "src/transport/verbs/eager.h"
#include "src/transport/verbs/reg_cache.h"
#include "src/transport/verbs/verbs_address.h"

namespace torc::transport::verbs {
namespace {

// ---------------------------------------------------------------- credits

TEST(VerbsCredits, WindowConsumesBlocksAndTakesCumulativeCounts) {
  CreditWindow w(4);
  EXPECT_EQ(w.credits(), 4u);
  for (uint64_t s = 0; s < 4; ++s) EXPECT_EQ(w.consume(), s);
  EXPECT_EQ(w.credits(), 0u);
  EXPECT_TRUE(w.blocked());
  EXPECT_EQ(w.nextSeq(), 4u);
  EXPECT_TRUE(w.update(1));
  EXPECT_EQ(w.credits(), 1u);
  EXPECT_FALSE(w.blocked());
  EXPECT_TRUE(w.update(1));  // repeated: nothing changes
  EXPECT_TRUE(w.update(0));  // overtaken by a newer one: ignored
  EXPECT_EQ(w.credits(), 1u);
  EXPECT_EQ(w.freed(), 1u);
  EXPECT_EQ(w.consume(), 4u);
  EXPECT_TRUE(w.blocked());
  EXPECT_TRUE(w.update(4));  // two updates merged into one (2, 3 never seen)
  EXPECT_EQ(w.credits(), 3u);
  EXPECT_FALSE(w.update(6));  // beyond what was sent: a protocol error, no change
  EXPECT_EQ(w.credits(), 3u);
  EXPECT_EQ(w.freed(), 4u);
  EXPECT_EQ(w.sent(), 5u);
}

TEST(VerbsCredits, TrackerFreesOnlyTheContiguousPrefix) {
  SlotTracker t(8, 4);
  uint64_t seq = 99;
  for (uint64_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(t.arrive(&seq));
    EXPECT_EQ(seq, i);
  }
  EXPECT_TRUE(t.release(2));
  EXPECT_TRUE(t.release(1));
  EXPECT_EQ(t.freedPrefix(), 0u);  // 0 is still held
  EXPECT_EQ(t.blocked(), 3u);
  EXPECT_FALSE(t.release(1));  // twice
  EXPECT_FALSE(t.release(3));  // not arrived
  EXPECT_TRUE(t.release(0));
  EXPECT_EQ(t.freedPrefix(), 3u);
  EXPECT_EQ(t.blocked(), 0u);
  EXPECT_FALSE(t.release(0));  // below the prefix
}

TEST(VerbsCredits, AnnouncesInBatches) {
  SlotTracker t(8, 4);
  uint64_t seq = 0;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(t.arrive(&seq));
    ASSERT_TRUE(t.release(seq));
    EXPECT_FALSE(t.shouldAnnounce()) << "after " << i + 1;
  }
  ASSERT_TRUE(t.arrive(&seq));
  ASSERT_TRUE(t.release(seq));
  EXPECT_TRUE(t.shouldAnnounce());
  EXPECT_EQ(t.announce(), 4u);
  EXPECT_EQ(t.announced(), 4u);
  EXPECT_FALSE(t.shouldAnnounce());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(t.arrive(&seq));
    ASSERT_TRUE(t.release(seq));
  }
  EXPECT_FALSE(t.shouldAnnounce());  // 3 since the last announcement
}

TEST(VerbsCredits, StalledSenderIsToldAboutASingleFreeSlot) {
  SlotTracker t(8, 6);
  uint64_t seq = 0;
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(t.arrive(&seq));
  ASSERT_TRUE(t.release(0));
  EXPECT_FALSE(t.shouldAnnounce());  // 1 free, the sender still has a credit
  ASSERT_TRUE(t.arrive(&seq));       // its last credit
  EXPECT_TRUE(t.shouldAnnounce());
  EXPECT_EQ(t.announce(), 1u);
  ASSERT_TRUE(t.arrive(&seq));  // the one credit returned
  EXPECT_EQ(seq, 8u);
  EXPECT_FALSE(t.arrive(&seq));  // a ninth unfreed fragment would overrun the ring
  EXPECT_EQ(t.arrived(), 9u);
  EXPECT_FALSE(t.shouldAnnounce());  // stalled again, but nothing more is free
}

// The NIC writes the 8-byte credit word while the CPU may read it. Every read mixing the bytes
// of the count there before (old) and the one being written (now) must be either at most now
// (safe: the receiver freed that many) or beyond what was sent (the transport reads again). The
// transport's numbers: 32 slots, so the sender has at most 32 fragments beyond the count it has
// seen (at most old). (This holds up to 255 slots, and fails at 256: old 1, now 256, read 257.)
TEST(VerbsCredits, TornCreditReadsAreHarmlessOrBeyondWhatWasSent) {
  constexpr uint64_t kRing = 32;
  std::vector<uint64_t> olds;
  for (int byte = 0; byte < 8; ++byte)
    for (uint64_t below : {uint64_t{1}, uint64_t{7}, uint64_t{32}, uint64_t{33}}) {
      const uint64_t carry = byte == 0 ? 0 : uint64_t{1} << (8 * byte);  // a byte boundary
      if (carry >= below) olds.push_back(carry - below);
      olds.push_back(carry + below);
    }
  olds.push_back(0);
  olds.push_back(0xfffffffffffffff0ull);
  int torn = 0, caught = 0;
  for (uint64_t old : olds)
    for (uint64_t d = 1; d <= kRing && old + d > old; ++d) {
      const uint64_t now = old + d;
      for (uint64_t sent = now; sent <= old + kRing; ++sent) {
        for (unsigned mask = 0; mask < 256; ++mask) {
          uint64_t v = 0;
          for (int b = 0; b < 8; ++b) v |= (((mask >> b) & 1) ? now : old) & (uint64_t{0xff} << (8 * b));
          if (v == old || v == now) continue;
          ++torn;
          ASSERT_TRUE(v <= now || v > sent) << std::hex << "old " << old << " now " << now << " read " << v
                                            << " sent " << sent;
          caught += v > sent;
        }
      }
    }
  EXPECT_GT(torn, 1000);
  EXPECT_GT(caught, 100);
  // Which the window refuses, changing nothing.
  CreditWindow w(4);
  for (int i = 0; i < 4; ++i) w.consume();
  EXPECT_FALSE(w.update(0x104));
  EXPECT_EQ(w.freed(), 0u);
  EXPECT_TRUE(w.update(4));
}

// ---------------------------------------------------------------- probing a silent peer

TEST(VerbsSilence, ProbesOnlyWhileAwaitingAndSilentForTheQuietPeriod) {
  SilenceWatch w(1000);
  EXPECT_FALSE(w.due(false, 0));
  EXPECT_FALSE(w.due(false, 5000));  // nothing awaited: never
  EXPECT_FALSE(w.due(true, 5000));   // the wait starts the clock
  EXPECT_FALSE(w.due(true, 5999));
  EXPECT_TRUE(w.due(true, 6000));    // a quiet period of silence
  EXPECT_FALSE(w.due(true, 6001));   // the probe restarts the clock
  EXPECT_FALSE(w.due(true, 6999));
  EXPECT_TRUE(w.due(true, 7000));    // still silent: probe again
  w.heard(7500);
  EXPECT_FALSE(w.due(true, 8000));
  EXPECT_FALSE(w.due(true, 8499));
  EXPECT_TRUE(w.due(true, 8500));
}

TEST(VerbsSilence, AWaitAfterAnIdleSpellIsNotSuspectAtOnce) {
  SilenceWatch w(1000);
  w.heard(100);
  EXPECT_FALSE(w.due(true, 200));
  EXPECT_FALSE(w.due(false, 300));    // the wait ended (the receive completed)
  EXPECT_FALSE(w.due(true, 60000));   // long idle, then a new wait: the clock starts now
  EXPECT_FALSE(w.due(true, 60999));
  EXPECT_TRUE(w.due(true, 61000));
  EXPECT_FALSE(w.due(false, 61001));  // ends
  EXPECT_FALSE(w.due(true, 61002));
  w.heard(61500);                    // heard during the wait
  EXPECT_FALSE(w.due(true, 62400));
  EXPECT_TRUE(w.due(true, 62500));
}

// ---------------------------------------------------------------- fragments and matching

constexpr size_t kSlotBytes = 64;
constexpr size_t kPayload = kSlotBytes - sizeof(FragmentHeader);  // 40

// A sender and a receiver joined by a ring in memory: fragments arrive in order, as on one queue
// pair, and credit announcements are delivered when deliverCredits() is called.
class Link {
 public:
  Link(uint32_t slots, uint32_t batch, uint32_t spillAt)
      : slots_(slots),
        ring_(slots * kSlotBytes),
        window_(slots),
        rx(0, ring_.data(), slots, kSlotBytes, batch, spillAt) {}

  void send(Tag tag, std::vector<uint8_t> data) { queue_.push_back(Msg{tag, std::move(data), 0}); }
  // Writes fragments while credits last; returns how many.
  int pump() {
    int n = 0;
    while (!queue_.empty() && !window_.blocked()) {
      Msg& m = queue_.front();
      const uint64_t seq = window_.consume();
      const uint32_t slot = static_cast<uint32_t>(seq % slots_);
      const FragmentHeader h = fragmentHeader(m.tag, m.data.size(), static_cast<uint32_t>(m.next), kPayload);
      uint8_t* s = ring_.data() + slot * kSlotBytes;
      memcpy(s, &h, sizeof(h));
      if (h.length) memcpy(s + sizeof(h), m.data.data() + m.next * kPayload, h.length);
      Status st = rx.onFragment(slot);
      EXPECT_TRUE(st.isOk()) << st.toString();
      ++n;
      if (++m.next == fragmentCount(m.data.size(), kPayload)) queue_.pop_front();
    }
    return n;
  }
  bool deliverCredits() {
    if (!rx.slots().shouldAnnounce()) return false;
    EXPECT_TRUE(window_.update(rx.slots().announce()));
    return true;
  }
  void run() {
    for (int i = 0; i < 100000; ++i)
      if (pump() == 0 && !deliverCredits()) return;
  }
  bool idle() const { return queue_.empty(); }
  CreditWindow& window() { return window_; }
  std::vector<uint8_t>& ring() { return ring_; }

 private:
  struct Msg {
    Tag tag;
    std::vector<uint8_t> data;
    uint64_t next;
  };
  uint32_t slots_;
  std::vector<uint8_t> ring_;
  CreditWindow window_;
  std::deque<Msg> queue_;

 public:
  MessageReceiver rx;
};

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7 + i / 251);
  return v;
}

TEST(VerbsEager, FragmentCountAndHeaders) {
  EXPECT_EQ(fragmentCount(0, kPayload), 1u);
  EXPECT_EQ(fragmentCount(1, kPayload), 1u);
  EXPECT_EQ(fragmentCount(kPayload - 1, kPayload), 1u);
  EXPECT_EQ(fragmentCount(kPayload, kPayload), 1u);
  EXPECT_EQ(fragmentCount(kPayload + 1, kPayload), 2u);
  EXPECT_EQ(fragmentCount(10 * kPayload + 7, kPayload), 11u);
  FragmentHeader h = fragmentHeader(5, 10 * kPayload + 7, 10, kPayload);
  EXPECT_EQ(h.tag, 5u);
  EXPECT_EQ(h.index, 10u);
  EXPECT_EQ(h.length, 7u);
  EXPECT_EQ(fragmentHeader(5, 10 * kPayload + 7, 9, kPayload).length, kPayload);
  EXPECT_EQ(fragmentHeader(5, 0, 0, kPayload).length, 0u);
}

TEST(VerbsEager, ReassemblesOddSizesPostedBeforeAndAfter) {
  for (size_t len : {size_t{0}, size_t{1}, kPayload - 1, kPayload, kPayload + 1, 3 * kPayload, 50 * kPayload + 13}) {
    for (bool postFirst : {true, false}) {
      Link l(4, 2, 4);
      const std::vector<uint8_t> data = pattern(len, static_cast<uint8_t>(len));
      std::vector<uint8_t> out(len + 5, 0xee);
      Request r;
      r.begin();
      if (postFirst) l.rx.post(out.data(), out.size(), 42, &r);
      l.send(42, data);
      l.run();
      if (!postFirst) {
        EXPECT_TRUE(r.pending());
        EXPECT_EQ(l.rx.unexpectedMessages(), 1u);
        l.rx.post(out.data(), out.size(), 42, &r);
      }
      ASSERT_EQ(r.state(), Request::kDone) << "len " << len << " postFirst " << postFirst;
      EXPECT_EQ(r.bytes(), len);
      EXPECT_TRUE(std::equal(data.begin(), data.end(), out.begin())) << "len " << len;
      EXPECT_EQ(out[len], 0xee) << "wrote past the message";
      EXPECT_TRUE(l.idle());
      EXPECT_EQ(l.rx.unexpectedMessages(), 0u);
      EXPECT_EQ(l.rx.heldSlots(), 0u);
      EXPECT_EQ(l.rx.slots().freedPrefix(), fragmentCount(len, kPayload));
    }
  }
}

TEST(VerbsEager, ExactCreditsAcrossMessages) {
  Link l(8, 4, 8);
  std::vector<uint8_t> a(6 * kPayload), b(3 * kPayload), c(1);
  Request ra, rb, rc;
  ra.begin();
  rb.begin();
  rc.begin();
  l.rx.post(a.data(), a.size(), 1, &ra);
  l.rx.post(b.data(), b.size(), 2, &rb);
  l.rx.post(c.data(), c.size(), 3, &rc);
  l.send(1, pattern(a.size(), 1));
  EXPECT_EQ(l.pump(), 6);
  EXPECT_EQ(l.window().credits(), 2u);
  EXPECT_EQ(ra.state(), Request::kDone);
  EXPECT_TRUE(l.deliverCredits());  // 6 free >= a batch of 4
  EXPECT_EQ(l.window().credits(), 8u);
  l.send(2, pattern(b.size(), 2));
  EXPECT_EQ(l.pump(), 3);
  EXPECT_EQ(l.window().credits(), 5u);
  EXPECT_FALSE(l.deliverCredits());  // 3 free since the last announcement
  EXPECT_EQ(l.window().credits(), 5u);
  l.send(3, pattern(1, 3));
  EXPECT_EQ(l.pump(), 1);
  EXPECT_TRUE(l.deliverCredits());
  EXPECT_EQ(l.window().credits(), 8u);
  EXPECT_EQ(l.window().freed(), 10u);
  EXPECT_EQ(rb.state(), Request::kDone);
  EXPECT_EQ(rc.state(), Request::kDone);
}

TEST(VerbsEager, SenderStallsAtZeroCreditsUntilTheReceiverFrees) {
  // No receives posted: 4 held fragments of 4 slots, and spilling only once all 4 are blocked.
  Link l(4, 4, 4);
  l.send(9, pattern(3 * kPayload, 9));
  l.send(10, pattern(2 * kPayload, 10));
  EXPECT_EQ(l.pump(), 4);  // the ring is full, spilled at the 4th
  EXPECT_EQ(l.window().credits(), 0u);
  EXPECT_EQ(l.pump(), 0);  // stalled
  EXPECT_EQ(l.rx.heldSlots(), 0u);
  EXPECT_EQ(l.rx.spilledBytes(), 4 * kPayload);
  EXPECT_TRUE(l.deliverCredits());
  EXPECT_EQ(l.window().credits(), 4u);
  EXPECT_EQ(l.pump(), 1);
  EXPECT_TRUE(l.idle());
  EXPECT_EQ(l.rx.heldSlots(), 1u);  // the last fragment keeps its slot
  EXPECT_EQ(l.rx.unexpectedMessages(), 2u);
  std::vector<uint8_t> x(3 * kPayload), y(2 * kPayload);
  Request rx, ry;
  ry.begin();
  rx.begin();
  l.rx.post(y.data(), y.size(), 10, &ry);
  l.rx.post(x.data(), x.size(), 9, &rx);
  EXPECT_EQ(ry.state(), Request::kDone);
  EXPECT_EQ(rx.state(), Request::kDone);
  EXPECT_EQ(x, pattern(3 * kPayload, 9));
  EXPECT_EQ(y, pattern(2 * kPayload, 10));
  EXPECT_EQ(l.rx.spilledBytes(), 0u);
  EXPECT_EQ(l.rx.heldSlots(), 0u);
  EXPECT_EQ(l.rx.slots().freedPrefix(), 5u);
}

TEST(VerbsEager, HeldSlotsSpillSoTheAwaitedMessageGetsThrough) {
  // A large unexpected message ahead of the one the receiver waits for: without spilling, the
  // ring fills with its fragments and the awaited message never arrives.
  Link l(4, 2, 2);
  std::vector<uint8_t> awaited(kPayload + 3);
  Request r;
  r.begin();
  l.rx.post(awaited.data(), awaited.size(), 2, &r);
  l.send(1, pattern(20 * kPayload, 1));
  l.send(2, pattern(kPayload + 3, 2));
  l.run();
  ASSERT_EQ(r.state(), Request::kDone);
  EXPECT_EQ(awaited, pattern(kPayload + 3, 2));
  EXPECT_EQ(l.rx.unexpectedMessages(), 1u);
  EXPECT_EQ(l.rx.heldSlots(), 0u);
  EXPECT_EQ(l.rx.spilledBytes(), 20 * kPayload);
  std::vector<uint8_t> big(20 * kPayload);
  Request rb;
  rb.begin();
  l.rx.post(big.data(), big.size(), 1, &rb);
  ASSERT_EQ(rb.state(), Request::kDone);
  EXPECT_EQ(big, pattern(20 * kPayload, 1));
}

TEST(VerbsEager, OneHeldSlotBlockingThePrefixIsSpilledToo) {
  // One small unexpected message, then messages that are all expected: only one slot is held,
  // but it blocks every slot behind it from being returned.
  Link l(4, 2, 2);
  l.send(1, pattern(3, 1));
  std::vector<std::vector<uint8_t>> outs(10, std::vector<uint8_t>(8));
  std::vector<Request> reqs(10);
  for (int i = 0; i < 10; ++i) {
    reqs[static_cast<size_t>(i)].begin();
    l.rx.post(outs[static_cast<size_t>(i)].data(), 8, 100 + i, &reqs[static_cast<size_t>(i)]);
    l.send(100 + i, pattern(8, static_cast<uint8_t>(i)));
  }
  l.run();
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(reqs[static_cast<size_t>(i)].state(), Request::kDone) << i;
    EXPECT_EQ(outs[static_cast<size_t>(i)], pattern(8, static_cast<uint8_t>(i)));
  }
  EXPECT_EQ(l.rx.spilledBytes(), 3u);
  EXPECT_EQ(l.rx.slots().freedPrefix(), 11u);
}

TEST(VerbsEager, MatchesByTagInArrivalAndPostingOrder) {
  Link l(8, 4, 8);
  // Two messages with tag 7 and one with tag 8; receives for 8 and 7 posted in reverse.
  l.send(7, pattern(5, 1));
  l.send(7, pattern(6, 2));
  l.send(8, pattern(7, 3));
  l.run();
  EXPECT_EQ(l.rx.unexpectedMessages(), 3u);
  std::vector<uint8_t> o8(16), o7a(16), o7b(16);
  Request r8, r7a, r7b;
  r8.begin();
  r7a.begin();
  r7b.begin();
  l.rx.post(o8.data(), o8.size(), 8, &r8);
  l.rx.post(o7a.data(), o7a.size(), 7, &r7a);
  l.rx.post(o7b.data(), o7b.size(), 7, &r7b);
  EXPECT_EQ(r8.bytes(), 7u);
  EXPECT_EQ(r7a.bytes(), 5u);  // the first 7 to arrive goes to the first 7 posted
  EXPECT_EQ(r7b.bytes(), 6u);
  EXPECT_EQ(memcmp(o7a.data(), pattern(5, 1).data(), 5), 0);
  EXPECT_EQ(memcmp(o7b.data(), pattern(6, 2).data(), 6), 0);
  EXPECT_EQ(memcmp(o8.data(), pattern(7, 3).data(), 7), 0);

  // Posted before arrival, twice the same tag: the oldest receive takes the first message.
  Request p1, p2;
  p1.begin();
  p2.begin();
  std::vector<uint8_t> b1(8), b2(8);
  l.rx.post(b1.data(), b1.size(), 9, &p1);
  l.rx.post(b2.data(), b2.size(), 9, &p2);
  l.send(9, pattern(1, 4));
  l.send(9, pattern(2, 5));
  l.run();
  EXPECT_EQ(p1.bytes(), 1u);
  EXPECT_EQ(p2.bytes(), 2u);
}

TEST(VerbsEager, MessageLongerThanTheReceiveFailsItAndIsDropped) {
  for (bool postFirst : {true, false}) {
    Link l(4, 2, 4);
    std::vector<uint8_t> small(50, 0xee);
    Request r;
    r.begin();
    if (postFirst) l.rx.post(small.data(), small.size(), 3, &r);
    l.send(3, pattern(3 * kPayload, 3));
    l.run();
    if (!postFirst) l.rx.post(small.data(), small.size(), 3, &r);
    ASSERT_EQ(r.state(), Request::kFailed);
    EXPECT_EQ(r.error().code(), Code::kInvalidUsage);
    EXPECT_NE(r.error().message().find("120 bytes for a receive of 50"), std::string::npos) << r.error().message();
    EXPECT_EQ(small, std::vector<uint8_t>(50, 0xee));
    EXPECT_EQ(l.rx.heldSlots(), 0u);
    EXPECT_EQ(l.rx.unexpectedMessages(), 0u);
    // The link goes on.
    Request next;
    next.begin();
    l.rx.post(small.data(), small.size(), 4, &next);
    l.send(4, pattern(10, 4));
    l.run();
    EXPECT_EQ(next.state(), Request::kDone);
    EXPECT_EQ(next.bytes(), 10u);
  }
}

TEST(VerbsEager, LongerUnexpectedMessageStillArrivingIsDropped) {
  Link l(4, 2, 4);
  l.send(3, pattern(10 * kPayload, 3));
  EXPECT_EQ(l.pump(), 4);  // part of it is here
  std::vector<uint8_t> small(10);
  Request r;
  r.begin();
  l.rx.post(small.data(), small.size(), 3, &r);
  EXPECT_EQ(r.state(), Request::kFailed);
  l.run();  // the rest is consumed and dropped
  EXPECT_TRUE(l.idle());
  EXPECT_EQ(l.rx.unexpectedMessages(), 0u);
  EXPECT_EQ(l.rx.slots().freedPrefix(), 10u);
}

TEST(VerbsEager, ReceivePostedWhileItsMessageIsArriving) {
  Link l(4, 2, 4);
  l.send(6, pattern(9 * kPayload + 1, 6));
  EXPECT_EQ(l.pump(), 4);
  EXPECT_EQ(l.rx.unexpectedMessages(), 1u);
  std::vector<uint8_t> out(9 * kPayload + 1);
  Request r;
  r.begin();
  l.rx.post(out.data(), out.size(), 6, &r);
  EXPECT_TRUE(r.pending());
  EXPECT_EQ(l.rx.unexpectedMessages(), 0u);
  EXPECT_EQ(l.rx.slots().freedPrefix(), 4u);
  l.run();
  ASSERT_EQ(r.state(), Request::kDone);
  EXPECT_EQ(out, pattern(9 * kPayload + 1, 6));
}

TEST(VerbsEager, CancelledReceivesLetTheirMessagesGoElsewhere) {
  Link l(4, 2, 4);
  std::vector<uint8_t> a(100), b(100);
  Request ra, rb;
  ra.begin();
  rb.begin();
  l.rx.post(a.data(), a.size(), 5, &ra);
  EXPECT_TRUE(l.rx.cancel(&ra));
  EXPECT_EQ(ra.state(), Request::kFailed);
  EXPECT_FALSE(l.rx.cancel(&ra));
  l.send(5, pattern(60, 5));
  l.run();
  EXPECT_EQ(l.rx.unexpectedMessages(), 1u);  // not into the cancelled buffer
  l.rx.post(b.data(), b.size(), 5, &rb);
  EXPECT_EQ(rb.bytes(), 60u);
  EXPECT_TRUE(l.deliverCredits());  // its two slots
  EXPECT_EQ(l.window().credits(), 4u);

  // Cancelled halfway through its message: the rest is dropped, the next message is matched.
  Request rc, rd;
  rc.begin();
  rd.begin();
  std::vector<uint8_t> c(8 * kPayload), d(8 * kPayload);
  l.rx.post(c.data(), c.size(), 6, &rc);
  l.rx.post(d.data(), d.size(), 6, &rd);
  l.send(6, pattern(8 * kPayload, 6));
  l.send(6, pattern(8 * kPayload, 7));
  EXPECT_EQ(l.pump(), 4);
  EXPECT_TRUE(l.rx.cancel(&rc));
  EXPECT_EQ(rc.state(), Request::kFailed);
  l.run();
  ASSERT_EQ(rd.state(), Request::kDone);
  EXPECT_EQ(d, pattern(8 * kPayload, 7));
}

TEST(VerbsEager, FailAllFailsPostedAndMatchedReceives) {
  Link l(4, 2, 4);
  std::vector<uint8_t> a(10 * kPayload), b(10);
  Request ra, rb;
  ra.begin();
  rb.begin();
  l.rx.post(a.data(), a.size(), 1, &ra);
  l.rx.post(b.data(), b.size(), 2, &rb);
  l.send(1, pattern(10 * kPayload, 1));
  l.pump();
  EXPECT_TRUE(ra.pending());
  l.rx.failAll(Status(Code::kRemoteError, "gone"));
  EXPECT_EQ(ra.state(), Request::kFailed);
  EXPECT_EQ(rb.state(), Request::kFailed);
  EXPECT_EQ(rb.error().message(), "gone");
  EXPECT_EQ(l.rx.postedReceives(), 0u);
}

TEST(VerbsEager, ProtocolViolationsAreErrors) {
  {
    std::vector<uint8_t> ring(4 * kSlotBytes);
    MessageReceiver rx(3, ring.data(), 4, kSlotBytes, 2, 4);
    FragmentHeader h = fragmentHeader(1, 5, 0, kPayload);
    memcpy(ring.data() + kSlotBytes, &h, sizeof(h));
    Status st = rx.onFragment(1);  // slot 0 was due
    EXPECT_EQ(st.code(), Code::kRemoteError);
    EXPECT_NE(st.message().find("rank 3 wrote slot 1 where slot 0 was due"), std::string::npos) << st.message();
  }
  {
    std::vector<uint8_t> ring(4 * kSlotBytes);
    MessageReceiver rx(3, ring.data(), 4, kSlotBytes, 2, 4);
    FragmentHeader h = fragmentHeader(1, 5 * kPayload, 1, kPayload);  // a message must begin at 0
    memcpy(ring.data(), &h, sizeof(h));
    EXPECT_FALSE(rx.onFragment(0).isOk());
  }
  {
    std::vector<uint8_t> ring(4 * kSlotBytes);
    MessageReceiver rx(3, ring.data(), 4, kSlotBytes, 2, 4);
    FragmentHeader h = fragmentHeader(1, 5 * kPayload, 0, kPayload);
    h.length = 3;  // not what fragment 0 of that message holds
    memcpy(ring.data(), &h, sizeof(h));
    EXPECT_FALSE(rx.onFragment(0).isOk());
  }
  {
    // Five unfreed fragments into four slots (the sender ignored its credits).
    std::vector<uint8_t> ring(4 * kSlotBytes);
    MessageReceiver rx(3, ring.data(), 4, kSlotBytes, 2, 8);
    for (uint32_t i = 0; i < 4; ++i) {
      FragmentHeader h = fragmentHeader(100 + i, 1, 0, kPayload);
      memcpy(ring.data() + i * kSlotBytes, &h, sizeof(h));
      ASSERT_TRUE(rx.onFragment(i).isOk());
    }
    Status st = rx.onFragment(0);
    EXPECT_NE(st.message().find("more fragments than it had credits for"), std::string::npos) << st.message();
  }
}

// ---------------------------------------------------------------- registration cache

// Registrations are recorded by handle (ranges may repeat while an old one is still in use).
class FakeNic {
 public:
  struct Reg {
    uintptr_t base;
    size_t len;
  };
  std::map<uintptr_t, Reg> live;  // by handle
  int deregs = 0;
  size_t failAbove = SIZE_MAX;  // registrations larger than this fail

  size_t countAt(uintptr_t base) const {
    size_t n = 0;
    for (auto& kv : live) n += kv.second.base == base;
    return n;
  }
  size_t lenAt(uintptr_t base) const {
    for (auto& kv : live)
      if (kv.second.base == base) return kv.second.len;
    return 0;
  }
  RegCache::RegisterFn reg() {
    return [this](void* base, size_t len, void** handle) {
      if (len > failAbove) return Status(Code::kSystemError, "too big");
      live[++next_] = Reg{reinterpret_cast<uintptr_t>(base), len};
      *handle = reinterpret_cast<void*>(next_);
      return Status::ok();
    };
  }
  RegCache::DeregisterFn dereg() {
    return [this](void* handle) {
      EXPECT_EQ(live.erase(reinterpret_cast<uintptr_t>(handle)), 1u);
      ++deregs;
    };
  }

 private:
  uintptr_t next_ = 0;
};

const void* at(uintptr_t a) { return reinterpret_cast<const void*>(a); }
constexpr uintptr_t kPage = 4096;

TEST(VerbsRegCache, PageAlignedHitsMissesAndMerging) {
  FakeNic nic;
  RegCache c(nic.reg(), nic.dereg(), RegCache::Limits{});
  auto a = c.acquire(at(0x10010), 10);
  ASSERT_TRUE(a.isOk());
  EXPECT_EQ(a.value()->start, 0x10000u);
  EXPECT_EQ(a.value()->length, kPage);
  auto b = c.acquire(at(0x10800), 0x100);  // inside: a hit
  ASSERT_TRUE(b.isOk());
  EXPECT_EQ(b.value(), a.value());
  auto z = c.acquire(at(0x10ff0), 0);  // zero bytes count as one
  ASSERT_TRUE(z.isOk());
  EXPECT_EQ(z.value(), a.value());
  EXPECT_EQ(c.stats().hits, 2u);
  EXPECT_EQ(c.stats().misses, 1u);

  // Crossing into the next page: one registration of the union replaces the old one, which stays
  // registered (in use) but is no longer found.
  auto d = c.acquire(at(0x10f00), 0x200);
  ASSERT_TRUE(d.isOk());
  EXPECT_EQ(d.value()->start, 0x10000u);
  EXPECT_EQ(d.value()->length, 2 * kPage);
  EXPECT_EQ(nic.live.size(), 2u);
  EXPECT_EQ(c.stats().entries, 2u);
  EXPECT_EQ(c.stats().bytes, 3 * kPage);
  auto e = c.acquire(at(0x10000), 16);
  EXPECT_EQ(e.value(), d.value());
  c.release(a.value());
  c.release(b.value());
  EXPECT_EQ(nic.deregs, 0);
  c.release(z.value());  // the retired entry's last user
  EXPECT_EQ(nic.deregs, 1);
  EXPECT_EQ(nic.countAt(0x10000), 1u);
  EXPECT_EQ(nic.lenAt(0x10000), 2 * kPage);
  EXPECT_EQ(c.stats().entries, 1u);

  // A range spanning two findable entries and a gap: one union registration.
  auto f = c.acquire(at(0x14000), kPage);
  ASSERT_TRUE(f.isOk());
  c.release(f.value());
  auto g = c.acquire(at(0x11800), 0x3000);
  ASSERT_TRUE(g.isOk());
  EXPECT_EQ(g.value()->start, 0x10000u);
  EXPECT_EQ(g.value()->length, 5 * kPage);
  EXPECT_EQ(nic.live.size(), 2u);  // d (in use, retired) and g; f was unused and went at once
  c.release(d.value());
  c.release(e.value());
  c.release(g.value());
  EXPECT_EQ(nic.live.size(), 1u);
  EXPECT_EQ(c.stats().entries, 1u);
}

TEST(VerbsRegCache, EvictsLeastRecentlyUsedButNeverEntriesInUse) {
  FakeNic nic;
  RegCache::Limits lim;
  lim.maxEntries = 2;
  RegCache c(nic.reg(), nic.dereg(), lim);
  auto a = c.acquire(at(0x100000), 1);
  auto b = c.acquire(at(0x200000), 1);
  auto d = c.acquire(at(0x300000), 1);
  ASSERT_TRUE(a.isOk() && b.isOk() && d.isOk());
  EXPECT_EQ(c.stats().entries, 3u);  // over budget, but all in use
  EXPECT_EQ(c.stats().evictions, 0u);
  c.release(b.value());  // unused now, and the cache is over budget
  EXPECT_EQ(c.stats().evictions, 1u);
  EXPECT_EQ(nic.countAt(0x200000), 0u);
  c.release(a.value());
  c.release(d.value());
  EXPECT_EQ(c.stats().entries, 2u);
  EXPECT_EQ(c.stats().evictions, 1u);

  // a and d are cached and unused; touching a makes d the least recently used.
  auto a2 = c.acquire(at(0x100000), 100);
  EXPECT_EQ(c.stats().misses, 3u);
  c.release(a2.value());
  auto e = c.acquire(at(0x400000), 1);
  EXPECT_EQ(nic.countAt(0x300000), 0u);
  EXPECT_EQ(nic.countAt(0x100000), 1u);
  EXPECT_EQ(c.stats().evictions, 2u);
  c.release(e.value());
}

TEST(VerbsRegCache, ByteBudget) {
  FakeNic nic;
  RegCache::Limits lim;
  lim.maxBytes = 3 * kPage;
  RegCache c(nic.reg(), nic.dereg(), lim);
  auto a = c.acquire(at(0x100000), 2 * kPage);
  c.release(a.value());
  auto b = c.acquire(at(0x200000), 1);
  c.release(b.value());
  EXPECT_EQ(c.stats().bytes, 3 * kPage);
  EXPECT_EQ(c.stats().evictions, 0u);
  auto d = c.acquire(at(0x300000), 1);  // 4 pages: the oldest (a, 2 pages) goes
  EXPECT_EQ(c.stats().bytes, 2 * kPage);
  EXPECT_EQ(nic.countAt(0x100000), 0u);
  c.release(d.value());
}

TEST(VerbsRegCache, InvalidateDropsFreedMemory) {
  FakeNic nic;
  RegCache c(nic.reg(), nic.dereg(), RegCache::Limits{});
  auto a = c.acquire(at(0x100000), kPage);
  c.release(a.value());
  auto b = c.acquire(at(0x200000), kPage);  // stays in use
  c.invalidate(at(0x100800), 1);
  EXPECT_EQ(nic.countAt(0x100000), 0u);  // unused: deregistered at once
  c.invalidate(at(0x1ff000), 2 * kPage);
  EXPECT_EQ(nic.countAt(0x200000), 1u);  // in use: kept until released
  EXPECT_EQ(c.stats().invalidations, 2u);
  auto b2 = c.acquire(at(0x200000), kPage);  // not found any more: a fresh registration
  EXPECT_NE(b2.value(), b.value());
  EXPECT_EQ(c.stats().misses, 3u);
  c.release(b.value());
  EXPECT_EQ(nic.deregs, 2);
  EXPECT_EQ(nic.countAt(0x200000), 1u);  // b2's
  c.release(b2.value());
  c.invalidate(at(0x500000), kPage);       // nothing there
  EXPECT_EQ(c.stats().invalidations, 2u);  // nothing was there
}

TEST(VerbsRegCache, RegistrationFailuresAndTheFallbackWithoutNeighbours) {
  FakeNic nic;
  nic.failAbove = 2 * kPage;
  RegCache c(nic.reg(), nic.dereg(), RegCache::Limits{});
  auto a = c.acquire(at(0x100000), 2 * kPage);
  ASSERT_TRUE(a.isOk());
  c.release(a.value());
  // Overlapping a: the union (3 pages) fails, the range alone (2 pages) is registered.
  auto b = c.acquire(at(0x101000), 2 * kPage);
  ASSERT_TRUE(b.isOk());
  EXPECT_EQ(b.value()->start, 0x101000u);
  EXPECT_EQ(nic.countAt(0x100000), 0u);  // a was replaced
  auto bad = c.acquire(at(0x300000), 5 * kPage);
  EXPECT_FALSE(bad.isOk());
  EXPECT_EQ(bad.status().message(), "too big");
  EXPECT_EQ(c.stats().entries, 1u);
  c.release(b.value());
}

// A memory region may outlive its transport: shutdown deregisters everything while the
// protection domain is there, and releases after it deregister nothing again.
TEST(VerbsRegCache, ShutdownDeregistersInUseEntriesAndLaterReleasesAreSafe) {
  FakeNic nic;
  auto c = std::make_shared<RegCache>(nic.reg(), nic.dereg(), RegCache::Limits{});
  auto a = c->acquire(at(0x100000), 1);
  auto b = c->acquire(at(0x100000), kPage + 1);  // retires a (in use)
  auto d = c->acquire(at(0x900000), 1);
  auto e = c->acquire(at(0xa00000), 1);
  c->release(d.value());  // unused, findable
  ASSERT_TRUE(a.isOk() && b.isOk() && e.isOk());
  EXPECT_EQ(nic.live.size(), 4u);
  c->shutdown();
  EXPECT_TRUE(nic.live.empty());
  EXPECT_EQ(nic.deregs, 4);
  EXPECT_EQ(a.value()->handle, nullptr);
  EXPECT_EQ(b.value()->handle, nullptr);
  EXPECT_EQ(c->stats().bytes, 0u);
  EXPECT_EQ(c->stats().entries, 0u);
  auto late = c->acquire(at(0x100000), 1);
  ASSERT_FALSE(late.isOk());
  EXPECT_EQ(late.status().code(), Code::kInvalidUsage);
  c->shutdown();  // twice: nothing more
  c->release(a.value());
  c->release(b.value());
  std::weak_ptr<RegCache> gone = c;
  c->release(e.value());
  c.reset();  // the destructor deregisters nothing again
  EXPECT_TRUE(gone.expired());
  EXPECT_EQ(nic.deregs, 4);
}

TEST(VerbsRegCache, DestructorDeregistersEverything) {
  FakeNic nic;
  {
    RegCache c(nic.reg(), nic.dereg(), RegCache::Limits{});
    auto a = c.acquire(at(0x100000), 1);
    auto b = c.acquire(at(0x100000), kPage + 1);  // retires a (in use)
    auto d = c.acquire(at(0x900000), 1);
    c.release(d.value());
    EXPECT_EQ(nic.live.size(), 3u);
  }
  EXPECT_TRUE(nic.live.empty());
  EXPECT_EQ(nic.deregs, 3);
}

// ---------------------------------------------------------------- address

TEST(VerbsAddress, RoundTripsAndRejectsGarbage) {
  VerbsAddress a;
  a.lid = 0x1234;
  a.port = 2;
  a.mtu = 5;
  a.ethernet = 1;
  for (int i = 0; i < 16; ++i) a.gid[i] = static_cast<uint8_t>(0xf0 + i);
  a.slots = 32;
  a.slotBytes = 8192;
  a.rkey = 0xdeadbeef;
  a.regionBase = 0x7f0012345000ull;
  a.qpns = {0, 0xabcdef, 7};
  const std::vector<uint8_t> bytes = encodeAddress(a);
  EXPECT_EQ(bytes.size(), encodedAddressBytes(3));
  auto d = decodeAddress(bytes);
  ASSERT_TRUE(d.isOk()) << d.status().toString();
  EXPECT_EQ(d->lid, a.lid);
  EXPECT_EQ(d->port, a.port);
  EXPECT_EQ(d->mtu, a.mtu);
  EXPECT_EQ(d->ethernet, 1);
  EXPECT_EQ(memcmp(d->gid, a.gid, 16), 0);
  EXPECT_EQ(d->slots, 32u);
  EXPECT_EQ(d->slotBytes, 8192u);
  EXPECT_EQ(d->rkey, 0xdeadbeefu);
  EXPECT_EQ(d->regionBase, 0x7f0012345000ull);
  EXPECT_EQ(d->qpns, a.qpns);

  // Every truncation (and one byte too many) is rejected.
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(decodeAddress(std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<long>(n))).isOk())
        << n << " bytes";
  std::vector<uint8_t> longer = bytes;
  longer.push_back(0);
  EXPECT_FALSE(decodeAddress(longer).isOk());
  std::vector<uint8_t> ucxLike(bytes.size(), 0);
  auto bad = decodeAddress(ucxLike);
  ASSERT_FALSE(bad.isOk());
  EXPECT_NE(bad.status().message().find("not a verbs address"), std::string::npos);
}

// The address holds 4 bytes per peer (its queue pair), not where each peer is to write: the
// bootstrap table of n ranks is about 4 n^2 bytes.
TEST(VerbsAddress, GrowsByTheQueuePairNumberAlonePerPeer) {
  const size_t fixed = encodedAddressBytes(0);
  EXPECT_LE(fixed, 64u);
  for (size_t n : {size_t{1}, size_t{2}, size_t{64}, size_t{1024}}) {
    VerbsAddress a;
    a.qpns.assign(n, 0x123456);
    EXPECT_EQ(encodeAddress(a).size(), fixed + 4 * n) << n;
    EXPECT_EQ(encodedAddressBytes(n), fixed + 4 * n);
  }
}

// Each rank lays out its region alike, so a peer finds its ring and credit word in our region
// from the base alone; the parts never overlap and fit in the registered bytes.
TEST(VerbsAddress, RegionLayoutIsDisjointAndTheSameOnEveryRank) {
  for (uint32_t n : {1u, 2u, 5u}) {
    const RegionLayout l(n, 32, 8192);
    EXPECT_EQ(l.ringBytes(), 32u * 8192u);
    std::vector<std::pair<uint64_t, uint64_t>> parts;  // [begin, end)
    for (uint32_t q = 0; q < n; ++q) {
      parts.emplace_back(l.ring(q), l.ring(q) + l.ringBytes());
      parts.emplace_back(l.staging(q), l.staging(q) + l.ringBytes());
      parts.emplace_back(l.creditIn(q), l.creditIn(q) + 8);
      parts.emplace_back(l.creditOut(q), l.creditOut(q) + 8);
      EXPECT_EQ(l.creditIn(q) % 8, 0u);  // the NIC writes it whole, the CPU loads it atomically
      EXPECT_EQ(l.creditOut(q) % 8, 0u);
    }
    std::sort(parts.begin(), parts.end());
    for (size_t i = 1; i < parts.size(); ++i) EXPECT_LE(parts[i - 1].second, parts[i].first) << n;
    EXPECT_LE(parts.back().second, l.bytes());
    EXPECT_EQ(l.bytes() % 4096, 0u);
    EXPECT_LT(l.bytes() - parts.back().second, 4096u);
    // Rank 3's ring for rank 1's fragments, as rank 1 computes it from rank 3's base.
    if (n == 5) {
      const uint64_t base3 = 0x7f0000000000ull;
      EXPECT_EQ(base3 + RegionLayout(5, 32, 8192).ring(1), base3 + 1 * 32 * 8192);
      EXPECT_EQ(base3 + RegionLayout(5, 32, 8192).creditIn(1), base3 + 2 * 5 * 32 * 8192 + 8);
    }
  }
}

}  // namespace
}  // namespace torc::transport::verbs
