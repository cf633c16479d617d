// A cache of memory registrations keyed by page-aligned address ranges, so that memory used again
// is not registered (pinned, and its translation written to the NIC) again. Registration and
// deregistration are injected functions: the verbs transport passes ibv_reg_mr/ibv_dereg_mr, the
// tests pass fakes.
//
// acquire(p, n) returns an entry covering [p, p+n) with its reference count raised, registering
// one when none covers it. A new registration absorbs the entries it overlaps (it covers their
// union), so the findable entries never overlap; absorbed entries still in use stay registered,
// no longer findable, until their last release. Entries nobody uses stay registered and are
// evicted least recently used first once the cache holds more than its byte or entry budget;
// entries in use are never evicted (the cache may then exceed its budget).
//
// The cache cannot see memory being freed: a range that is unmapped and mapped again would
// still find the old registration (the old pages). Whoever knows memory is going away calls
// invalidate(range) first.
//
// shutdown() deregisters everything at once, entries in use too, for an owner that must tear
// down what the registrations depend on (the protection domain) while users still hold entries;
// those entries stay valid (handle nullptr) until released, and releasing them deregisters
// nothing.
//
// Thread-safe. Entry pointers stay valid until their release.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "src/base/status.h"

namespace torc::transport::verbs {

class RegCache {
 public:
  /// A registration: [start, start + length) page-aligned; handle is what RegisterFn returned.
  struct Entry {
    uintptr_t start;
    size_t length;
    void* handle;
  };
  using RegisterFn = std::function<Status(void* base, size_t length, void** handle)>;
  using DeregisterFn = std::function<void(void* handle)>;
  struct Limits {
    size_t maxBytes = size_t{1} << 30;
    size_t maxEntries = 1024;
  };
  struct Stats {
    uint64_t hits = 0;
    uint64_t misses = 0;         // registrations made
    uint64_t evictions = 0;      // unused entries dropped for the budget
    uint64_t invalidations = 0;  // entries dropped or retired by invalidate()
    size_t bytes = 0;            // registered now (findable and retired)
    size_t entries = 0;
  };

  RegCache(RegisterFn reg, DeregisterFn dereg, Limits limits, size_t pageSize = 4096);
  /// Deregisters everything still registered, entries in use too (their users must be gone).
  ~RegCache();
  RegCache(const RegCache&) = delete;
  RegCache& operator=(const RegCache&) = delete;

  /// A registration covering [p, p + n) (n = 0 counts as one byte), referenced until release().
  Result<const Entry*> acquire(const void* p, size_t n);
  void release(const Entry* e);
  /// The memory in [p, p + n) is going away: no later acquire finds a registration overlapping it.
  void invalidate(const void* p, size_t n);
  /// Deregisters every registration now (entries in use: handle set to nullptr) and refuses new
  /// ones (acquire fails with kInvalidUsage). Releases of entries still in use are then allowed.
  void shutdown();
  Stats stats() const;

 private:
  struct Node {
    Entry e;
    uint32_t refs = 0;
    bool retired = false;  // superseded or invalidated while in use: no longer findable
    bool registered = true;  // false once deregistered (shutdown, while in use)
    std::list<Node*>::iterator lru;
  };
  using Map = std::map<uintptr_t, std::unique_ptr<Node>>;

  // Removes a findable node from the index: deregisters it if unused, else retires it.
  void drop(Map::iterator it);
  void destroy(Node* n);
  void evict();

  RegisterFn register_;
  DeregisterFn deregister_;
  Limits limits_;
  uintptr_t pageMask_;
  mutable std::mutex mu_;
  bool shutDown_ = false;
  Map active_;  // findable, disjoint, by start
  std::vector<std::unique_ptr<Node>> retired_;
  std::list<Node*> lru_;  // unused findable nodes, least recently used first
  Stats stats_;
};

}  // namespace torc::transport::verbs
