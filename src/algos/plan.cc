#include "src/algos/plan.h"

#include <cstdio>
#include <algorithm>
#include <map>

namespace torc::algos {

uint32_t Plan::add(const Step& s, std::initializer_list<uint32_t> deps) {
  return add(s, std::vector<uint32_t>(deps));
}

uint32_t Plan::add(const Step& s, const std::vector<uint32_t>& deps) {
  uint32_t idx = static_cast<uint32_t>(steps_.size());
  steps_.push_back(s);
  for (uint32_t d : deps)
    if (d != kNone) deps_.push_back(d);
  depStart_.push_back(static_cast<uint32_t>(deps_.size()));
  return idx;
}

void Plan::addDep(uint32_t step, uint32_t dep) {
  // Only the last step may gain dependencies after being added (keeps deps_ contiguous).
  if (dep == kNone || step + 1 != steps_.size()) return;
  deps_.push_back(dep);
  depStart_.back() = static_cast<uint32_t>(deps_.size());
}

void Plan::finalize() {
  std::map<int, uint32_t> sends, recvs;
  for (auto& s : steps_) {
    if (s.kind == OpKind::kSend) s.msgIndex = sends[s.peer]++;
    if (s.kind == OpKind::kRecv || s.kind == OpKind::kRecvReduce) s.msgIndex = recvs[s.peer]++;
  }
  for (auto* m : {&sends, &recvs})
    for (auto& kv : *m) maxMessages_ = std::max(maxMessages_, kv.second);
  size_t n = steps_.size();
  std::vector<uint32_t> count(n + 1, 0);
  for (size_t i = 0; i < n; ++i)
    for (const uint32_t* d = depsBegin(i); d != depsEnd(i); ++d) count[*d + 1]++;
  for (size_t i = 0; i < n; ++i) count[i + 1] += count[i];
  dependentStart_ = count;
  dependents_.assign(deps_.size(), 0);
  for (size_t i = 0; i < n; ++i)
    for (const uint32_t* d = depsBegin(i); d != depsEnd(i); ++d) dependents_[count[*d]++] = static_cast<uint32_t>(i);
}

static const char* kindName(OpKind k) {
  switch (k) {
    case OpKind::kSend: return "send";
    case OpKind::kRecv: return "recv";
    case OpKind::kRecvReduce: return "recvreduce";
    case OpKind::kReduce: return "reduce";
    case OpKind::kCopy: return "copy";
    case OpKind::kFinalize: return "finalize";
    case OpKind::kReadReduce: return "readreduce";
    case OpKind::kWrite: return "write";
    case OpKind::kNop: return "join";
  }
  return "?";
}

static std::string refText(const Ref& r) {
  static const char* kBuf[] = {"in", "out", "tmp", "addr", "addrs", "peer.in", "peer.out"};
  return std::string(kBuf[static_cast<int>(r.buf)]) + "[" + std::to_string(r.off) + "]";
}

std::string Plan::toString() const {
  std::string out = name + "\n";
  for (size_t i = 0; i < steps_.size(); ++i) {
    const Step& s = steps_[i];
    char line[256];
    std::string refs;
    switch (s.kind) {
      case OpKind::kSend: refs = refText(s.src); break;
      case OpKind::kRecv: refs = "-> " + refText(s.dst); break;
      case OpKind::kRecvReduce: refs = "-> " + refText(s.src) + ", " + refText(s.dst) + " = " + refText(s.a) + " op it"; break;
      case OpKind::kReduce: refs = refText(s.dst) + " = " + refText(s.a) + " op " + refText(s.src); break;
      case OpKind::kCopy: refs = refText(s.dst) + " = " + refText(s.src); break;
      case OpKind::kFinalize: refs = refText(s.dst); break;
      case OpKind::kReadReduce:
        refs = refText(s.a) + " -> " + refText(s.src) + ", " + refText(s.dst) + " = " + refText(s.b) + " op it";
        break;
      case OpKind::kWrite: refs = refText(s.dst) + " = " + refText(s.src); break;
      case OpKind::kNop: break;
    }
    snprintf(line, sizeof(line), "%4zu %-10s peer %-3d n %-8zu msg %-4u %s", i, kindName(s.kind), s.peer, s.count,
             s.msgIndex, refs.c_str());
    out += line;
    if (numDeps(i) > 0) {
      out += "  after";
      for (const uint32_t* d = depsBegin(i); d != depsEnd(i); ++d) out += " " + std::to_string(*d);
    }
    out += "\n";
  }
  return out;
}

Range evenSplit(size_t n, int parts, int index) {
  size_t p = static_cast<size_t>(parts), i = static_cast<size_t>(index);
  size_t base = n / p, extra = n % p;
  size_t off = i * base + (i < extra ? i : extra);
  return Range{off, base + (i < extra ? 1 : 0)};
}

size_t numChunks(size_t len, size_t chunk) { return len == 0 ? 0 : (len + chunk - 1) / chunk; }

Range chunkOf(const Range& r, size_t chunk, size_t j) {
  size_t off = j * chunk;
  size_t len = r.len - off < chunk ? r.len - off : chunk;
  return Range{r.off + off, len};
}

}  // namespace torc::algos
