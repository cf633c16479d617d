#include "src/transport/verbs/credits.h"

#include <algorithm>

namespace torc::transport::verbs {

uint64_t CreditWindow::consume() { return sent_++; }

bool CreditWindow::update(uint64_t freedTotal) {
  if (freedTotal > sent_) return false;
  freed_ = std::max(freed_, freedTotal);
  return true;
}

SlotTracker::SlotTracker(uint32_t slots, uint32_t batch)
    : slots_(std::max<uint32_t>(slots, 1)),
      batch_(std::clamp<uint32_t>(batch, 1, std::max<uint32_t>(slots, 1))),
      released_(slots_, 0) {}

bool SlotTracker::arrive(uint64_t* seq) {
  // The sender's credits were counted from what we announced (it may have seen less, never more).
  if (arrived_ - announced_ >= slots_) return false;
  *seq = arrived_++;
  return true;
}

bool SlotTracker::release(uint64_t seq) {
  if (seq < freedPrefix_ || seq >= arrived_) return false;
  uint8_t& flag = released_[seq % slots_];
  if (flag) return false;
  flag = 1;
  while (freedPrefix_ < arrived_ && released_[freedPrefix_ % slots_]) {
    released_[freedPrefix_ % slots_] = 0;
    ++freedPrefix_;
  }
  return true;
}

bool SlotTracker::shouldAnnounce() const {
  if (freedPrefix_ == announced_) return false;
  const bool batchFree = freedPrefix_ - announced_ >= batch_;
  const bool senderStalled = arrived_ - announced_ >= slots_;
  return batchFree || senderStalled;
}

uint64_t SlotTracker::announce() {
  announced_ = freedPrefix_;
  return announced_;
}

bool SilenceWatch::due(bool awaiting, int64_t now) {
  if (!awaiting) {
    awaiting_ = false;
    return false;
  }
  if (!awaiting_) {
    awaiting_ = true;
    mark_ = now;
    return false;
  }
  if (now - mark_ < quiet_) return false;
  mark_ = now;
  return true;
}

}  // namespace torc::transport::verbs
