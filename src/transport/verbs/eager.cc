#include "src/transport/verbs/eager.h"

#include <algorithm>
#include <cinttypes>
#include <cstring>
#include <iterator>

namespace torc::transport::verbs {

uint64_t fragmentCount(uint64_t len, size_t payload) {
  if (len == 0) return 1;
  return (len + payload - 1) / payload;
}

FragmentHeader fragmentHeader(Tag tag, uint64_t total, uint32_t index, size_t payload) {
  const uint64_t offset = uint64_t{index} * payload;
  const uint64_t left = total > offset ? total - offset : 0;
  return FragmentHeader{tag, total, index, static_cast<uint32_t>(std::min<uint64_t>(left, payload))};
}

MessageReceiver::MessageReceiver(int peer, const uint8_t* ring, uint32_t slots, size_t slotBytes, uint32_t batch,
                                 uint32_t spillAt)
    : peer_(peer),
      ring_(ring),
      slotBytes_(slotBytes),
      payload_(slotBytes - sizeof(FragmentHeader)),
      spillAt_(std::clamp<uint32_t>(spillAt, 1, std::max<uint32_t>(slots, 1))),
      slots_(slots, batch) {}

Status MessageReceiver::onFragment(uint32_t slot) {
  uint64_t seq = 0;
  if (!slots_.arrive(&seq))
    return errorf(Code::kRemoteError, "rank %d wrote more fragments than it had credits for", peer_);
  if (slot != seq % slots_.slots())
    return errorf(Code::kRemoteError, "rank %d wrote slot %u where slot %" PRIu64 " was due", peer_, slot,
                  seq % slots_.slots());
  FragmentHeader h;
  memcpy(&h, slotData(slot), sizeof(h));
  if (!cur_.active) {
    TORC_RETURN_IF_ERROR(startMessage(h));
  } else if (h.tag != cur_.tag || h.total != cur_.total || h.index != cur_.next) {
    return errorf(Code::kRemoteError,
                  "rank %d sent fragment %u of a %" PRIu64 "-byte message (tag %" PRIx64 ") where fragment %" PRIu64
                  " of a %" PRIu64 "-byte message (tag %" PRIx64 ") was due",
                  peer_, h.index, h.total, h.tag, cur_.next, cur_.total, cur_.tag);
  }
  if (h.length != fragmentHeader(h.tag, h.total, h.index, payload_).length)
    return errorf(Code::kRemoteError, "rank %d sent fragment %u of a %" PRIu64 "-byte message with %u bytes", peer_,
                  h.index, h.total, h.length);

  const uint8_t* data = slotData(slot) + sizeof(FragmentHeader);
  switch (cur_.target) {
    case kToReceive:
      if (h.length > 0) memcpy(cur_.recv.buf + static_cast<size_t>(h.index) * payload_, data, h.length);
      slots_.release(seq);
      break;
    case kDrop: slots_.release(seq); break;
    case kToUnexpected:
      cur_.unexpected->fragments.push_back(Fragment{seq, slot, h.length, true, {}});
      ++held_;
      break;
  }
  ++cur_.next;
  finishIfComplete();
  maybeSpill();
  return Status::ok();
}

Status MessageReceiver::startMessage(const FragmentHeader& h) {
  if (h.index != 0)
    return errorf(Code::kRemoteError, "rank %d began a message (tag %" PRIx64 ") with fragment %u", peer_, h.tag,
                  h.index);
  const uint64_t count = fragmentCount(h.total, payload_);
  if (count - 1 > UINT32_MAX)
    return errorf(Code::kRemoteError, "rank %d announced a message of %" PRIu64 " bytes", peer_, h.total);
  cur_ = Current{};
  cur_.active = true;
  cur_.tag = h.tag;
  cur_.total = h.total;
  cur_.count = count;
  for (auto it = posted_.begin(); it != posted_.end(); ++it) {
    if (it->tag != h.tag) continue;
    Posted r = *it;
    posted_.erase(it);
    if (h.total > r.cap) {
      failTooLong(r, h.total);
      cur_.target = kDrop;
    } else {
      cur_.target = kToReceive;
      cur_.recv = r;
    }
    return Status::ok();
  }
  unexpected_.push_back(Unexpected{h.tag, h.total, count, {}});
  cur_.unexpected = std::prev(unexpected_.end());
  cur_.target = kToUnexpected;
  return Status::ok();
}

void MessageReceiver::finishIfComplete() {
  if (cur_.next < cur_.count) return;
  if (cur_.target == kToReceive) cur_.recv.req->complete(cur_.total);
  cur_.active = false;  // an unexpected message stays queued, complete
}

void MessageReceiver::post(void* buf, size_t cap, Tag tag, Request* req) {
  Posted r{static_cast<uint8_t*>(buf), cap, tag, req};
  for (auto it = unexpected_.begin(); it != unexpected_.end(); ++it) {
    if (it->tag != tag) continue;
    const bool arriving = cur_.active && cur_.target == kToUnexpected && cur_.unexpected == it;
    if (it->total > cap) {
      failTooLong(r, it->total);
      releaseHeld(*it);
      if (arriving) cur_.target = kDrop;
      unexpected_.erase(it);
      return;
    }
    for (size_t i = 0; i < it->fragments.size(); ++i) {
      const Fragment& f = it->fragments[i];
      const uint8_t* src = f.inSlot ? slotData(f.slot) + sizeof(FragmentHeader) : f.spilled.data();
      if (f.length > 0) memcpy(r.buf + i * payload_, src, f.length);
    }
    releaseHeld(*it);
    if (arriving) {
      cur_.target = kToReceive;
      cur_.recv = r;
    } else {
      req->complete(it->total);
    }
    unexpected_.erase(it);
    return;
  }
  posted_.push_back(r);
}

bool MessageReceiver::cancel(Request* req) {
  Status cancelled = errorf(Code::kRemoteError, "receive from rank %d cancelled", peer_);
  for (auto it = posted_.begin(); it != posted_.end(); ++it) {
    if (it->req != req) continue;
    posted_.erase(it);
    req->fail(cancelled);
    return true;
  }
  if (cur_.active && cur_.target == kToReceive && cur_.recv.req == req) {
    cur_.target = kDrop;  // the rest of its message is consumed and dropped
    req->fail(cancelled);
    return true;
  }
  return false;
}

void MessageReceiver::failAll(const Status& why) {
  for (Posted& r : posted_) r.req->fail(why);
  posted_.clear();
  if (cur_.active && cur_.target == kToReceive) {
    cur_.recv.req->fail(why);
    cur_.target = kDrop;
  }
}

void MessageReceiver::releaseHeld(Unexpected& u) {
  for (Fragment& f : u.fragments) {
    if (f.inSlot) {
      slots_.release(f.seq);
      --held_;
    } else {
      spilledBytes_ -= f.spilled.size();
    }
  }
  u.fragments.clear();
}

void MessageReceiver::maybeSpill() {
  if (held_ == 0 || slots_.blocked() < spillAt_) return;
  for (Unexpected& u : unexpected_) {
    for (Fragment& f : u.fragments) {
      if (!f.inSlot) continue;
      const uint8_t* data = slotData(f.slot) + sizeof(FragmentHeader);
      f.spilled.assign(data, data + f.length);
      f.inSlot = false;
      spilledBytes_ += f.length;
      slots_.release(f.seq);
      --held_;
    }
  }
}

void MessageReceiver::failTooLong(const Posted& r, uint64_t total) {
  r.req->fail(errorf(Code::kInvalidUsage,
                     "rank %d sent %" PRIu64 " bytes for a receive of %zu (do all ranks pass the same count and type?)",
                     peer_, total, r.cap));
}

}  // namespace torc::transport::verbs
