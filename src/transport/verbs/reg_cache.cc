#include "src/transport/verbs/reg_cache.h"

#include <algorithm>
#include <iterator>

namespace torc::transport::verbs {

RegCache::RegCache(RegisterFn reg, DeregisterFn dereg, Limits limits, size_t pageSize)
    : register_(std::move(reg)),
      deregister_(std::move(dereg)),
      limits_(limits),
      pageMask_(~(static_cast<uintptr_t>(pageSize) - 1)) {}

RegCache::~RegCache() {
  for (auto& kv : active_) destroy(kv.second.get());
  for (auto& n : retired_) destroy(n.get());
}

void RegCache::shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  shutDown_ = true;
  while (!active_.empty()) drop(active_.begin());
  for (auto& n : retired_) {
    destroy(n.get());
    n->e.handle = nullptr;
  }
}

Result<const RegCache::Entry*> RegCache::acquire(const void* p, size_t n) {
  const uintptr_t lo = reinterpret_cast<uintptr_t>(p);
  const uintptr_t hi = lo + std::max<size_t>(n, 1);
  const uintptr_t page = ~pageMask_ + 1;
  if (hi < lo || hi + page - 1 < hi) return errorf(Code::kInvalidArgument, "range of %zu bytes at %p wraps", n, p);
  const uintptr_t a = lo & pageMask_;
  const uintptr_t b = (hi + page - 1) & pageMask_;

  std::lock_guard<std::mutex> lock(mu_);
  if (shutDown_) return errorf(Code::kInvalidUsage, "the registration cache was shut down (its transport is gone)");
  // The only findable entry that can cover [a, b) is the last one starting at or before a.
  auto it = active_.upper_bound(a);
  if (it != active_.begin()) {
    Node* prev = std::prev(it)->second.get();
    if (prev->e.start + prev->e.length >= b) {
      if (prev->refs++ == 0) lru_.erase(prev->lru);
      ++stats_.hits;
      return &prev->e;
    }
  }

  // Register the union of [a, b) and the entries it overlaps, which it then replaces.
  auto first = active_.upper_bound(a);
  if (first != active_.begin()) {
    auto prev = std::prev(first);
    if (prev->second->e.start + prev->second->e.length > a) first = prev;
  }
  uintptr_t ua = a, ub = b;
  for (auto j = first; j != active_.end() && j->first < b; ++j) {
    ua = std::min(ua, j->second->e.start);
    ub = std::max(ub, j->second->e.start + j->second->e.length);
  }
  void* handle = nullptr;
  Status st = register_(reinterpret_cast<void*>(ua), ub - ua, &handle);
  if (!st.isOk() && (ua != a || ub != b)) {
    // Part of a neighbour may be gone (freed without invalidate): try the range alone.
    ua = a;
    ub = b;
    st = register_(reinterpret_cast<void*>(ua), ub - ua, &handle);
  }
  if (!st.isOk()) return st;
  for (auto j = first; j != active_.end() && j->first < ub;) drop(j++);

  auto node = std::make_unique<Node>();
  node->e = Entry{ua, ub - ua, handle};
  node->refs = 1;
  Node* raw = node.get();
  active_.emplace(ua, std::move(node));
  stats_.bytes += ub - ua;
  ++stats_.entries;
  ++stats_.misses;
  evict();
  return &raw->e;
}

void RegCache::release(const Entry* e) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = active_.find(e->start);
  if (it != active_.end() && &it->second->e == e) {
    Node* n = it->second.get();
    if (--n->refs == 0) {
      n->lru = lru_.insert(lru_.end(), n);
      evict();
    }
    return;
  }
  for (auto r = retired_.begin(); r != retired_.end(); ++r) {
    if (&(*r)->e != e) continue;
    if (--(*r)->refs == 0) {
      destroy(r->get());
      retired_.erase(r);
    }
    return;
  }
}

void RegCache::invalidate(const void* p, size_t n) {
  const uintptr_t lo = reinterpret_cast<uintptr_t>(p);
  const uintptr_t hi = lo + std::max<size_t>(n, 1);
  std::lock_guard<std::mutex> lock(mu_);
  auto j = active_.upper_bound(lo);
  if (j != active_.begin()) {
    auto prev = std::prev(j);
    if (prev->second->e.start + prev->second->e.length > lo) j = prev;
  }
  while (j != active_.end() && j->first < hi) {
    ++stats_.invalidations;
    drop(j++);
  }
}

RegCache::Stats RegCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void RegCache::drop(Map::iterator it) {
  Node* n = it->second.get();
  if (n->refs == 0) {
    lru_.erase(n->lru);
    destroy(n);
  } else {
    n->retired = true;
    retired_.push_back(std::move(it->second));
  }
  active_.erase(it);
}

void RegCache::destroy(Node* n) {
  if (!n->registered) return;
  n->registered = false;
  deregister_(n->e.handle);
  stats_.bytes -= n->e.length;
  --stats_.entries;
}

void RegCache::evict() {
  while ((stats_.bytes > limits_.maxBytes || stats_.entries > limits_.maxEntries) && !lru_.empty()) {
    Node* n = lru_.front();
    lru_.pop_front();
    const uintptr_t start = n->e.start;
    destroy(n);
    ++stats_.evictions;
    active_.erase(start);
  }
}

}  // namespace torc::transport::verbs
