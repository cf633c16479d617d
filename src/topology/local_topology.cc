#include "src/topology/local_topology.h"

#include <dirent.h>
#include <hwloc.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>

#include "src/topology/node_id.h"

namespace torc::topology {
namespace {

struct TopoDeleter {
  void operator()(hwloc_topology* t) const { hwloc_topology_destroy(t); }
};
using Topo = std::unique_ptr<hwloc_topology, TopoDeleter>;

Result<Topo> loadTopology() {
  hwloc_topology_t t = nullptr;
  if (hwloc_topology_init(&t) != 0) return errorf(Code::kSystemError, "hwloc_topology_init failed");
  Topo topo(t);
  // PCI devices and OS devices (NICs, GPUs, RDMA) that matter; bridges are kept where needed.
  hwloc_topology_set_io_types_filter(t, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
  if (hwloc_topology_load(t) != 0) return errorf(Code::kSystemError, "hwloc_topology_load failed");
  return topo;
}

std::string bitmapList(hwloc_const_bitmap_t set) {
  if (set == nullptr) return "";
  char* s = nullptr;
  if (hwloc_bitmap_list_asprintf(&s, set) < 0 || s == nullptr) return "";
  std::string out(s);
  free(s);
  return out;
}

int64_t linkSpeedMbps(const std::string& ifname) {
  std::ifstream f("/sys/class/net/" + ifname + "/speed");
  long long v = -1;
  if (!(f >> v) || v <= 0) return -1;
  return v;
}

std::string pciBusOf(hwloc_obj_t o) {
  for (; o != nullptr; o = o->parent) {
    if (o->type != HWLOC_OBJ_PCI_DEVICE) continue;
    char buf[32];
    snprintf(buf, sizeof(buf), "%04x:%02x:%02x.%01x", o->attr->pcidev.domain, o->attr->pcidev.bus,
             o->attr->pcidev.dev, o->attr->pcidev.func);
    return buf;
  }
  return "";
}

// Edges between a and b through their closest common ancestor.
int treeHops(hwloc_obj_t a, hwloc_obj_t b) {
  std::vector<hwloc_obj_t> up;
  for (hwloc_obj_t o = a; o != nullptr; o = o->parent) up.push_back(o);
  int fromB = 0;
  for (hwloc_obj_t o = b; o != nullptr; o = o->parent, ++fromB)
    for (size_t i = 0; i < up.size(); ++i)
      if (up[i] == o) return static_cast<int>(i) + fromB;
  return -1;
}

void putStr(std::vector<uint8_t>* b, const std::string& s) {
  uint32_t n = static_cast<uint32_t>(s.size());
  b->insert(b->end(), reinterpret_cast<uint8_t*>(&n), reinterpret_cast<uint8_t*>(&n) + 4);
  b->insert(b->end(), s.begin(), s.end());
}
void putI64(std::vector<uint8_t>* b, int64_t v) {
  b->insert(b->end(), reinterpret_cast<uint8_t*>(&v), reinterpret_cast<uint8_t*>(&v) + 8);
}

class Reader {
 public:
  explicit Reader(const std::vector<uint8_t>& b) : b_(b) {}
  bool i64(int64_t* v) {
    if (pos_ + 8 > b_.size()) return false;
    memcpy(v, b_.data() + pos_, 8);
    pos_ += 8;
    return true;
  }
  bool str(std::string* s) {
    uint32_t n;
    if (pos_ + 4 > b_.size()) return false;
    memcpy(&n, b_.data() + pos_, 4);
    pos_ += 4;
    if (pos_ + n > b_.size()) return false;
    s->assign(b_.begin() + static_cast<long>(pos_), b_.begin() + static_cast<long>(pos_ + n));
    pos_ += n;
    return true;
  }

 private:
  const std::vector<uint8_t>& b_;
  size_t pos_ = 0;
};

}  // namespace

std::string jsonQuote(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\u%04x", c);
      o += buf;
    } else {
      o += c;
    }
  }
  return o + "\"";
}

Result<LocalTopology> discoverLocal() {
  TORC_ASSIGN_OR_RETURN(Topo topo, loadTopology());
  hwloc_topology_t t = topo.get();
  LocalTopology lt;
  lt.host = localHostName();
  lt.packages = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PACKAGE);
  lt.numaNodes = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE);
  lt.cores = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE);
  lt.pus = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU);
  hwloc_bitmap_t bound = hwloc_bitmap_alloc();
  if (hwloc_get_cpubind(t, bound, HWLOC_CPUBIND_PROCESS) == 0) lt.boundCpus = bitmapList(bound);
  hwloc_bitmap_free(bound);

  std::vector<hwloc_obj_t> objs;
  std::set<std::string> seen;
  for (hwloc_obj_t o = hwloc_get_next_osdev(t, nullptr); o != nullptr; o = hwloc_get_next_osdev(t, o)) {
    Device d;
    switch (o->attr->osdev.type) {
      case HWLOC_OBJ_OSDEV_NETWORK: d.kind = "net"; break;
      case HWLOC_OBJ_OSDEV_OPENFABRICS: d.kind = "rdma"; break;
      case HWLOC_OBJ_OSDEV_GPU:
      case HWLOC_OBJ_OSDEV_COPROC: d.kind = "gpu"; break;
      default: continue;
    }
    d.name = o->name ? o->name : "?";
    d.pciBus = pciBusOf(o);
    if (d.kind == "net") d.speedMbps = linkSpeedMbps(d.name);
    hwloc_obj_t near = hwloc_get_non_io_ancestor_obj(t, o);
    if (near != nullptr) d.nearCpus = bitmapList(near->cpuset);
    seen.insert(d.name);
    lt.devices.push_back(d);
    objs.push_back(o);
  }
  // Interfaces hwloc does not see (virtual ones have no PCI device): no locality known.
  if (DIR* dir = opendir("/sys/class/net")) {
    std::vector<std::string> names;
    while (dirent* e = readdir(dir))
      if (e->d_name[0] != '.' && strcmp(e->d_name, "lo") != 0 && !seen.count(e->d_name)) names.push_back(e->d_name);
    closedir(dir);
    std::sort(names.begin(), names.end());
    for (auto& n : names) {
      Device d;
      d.name = n;
      d.kind = "net";
      d.speedMbps = linkSpeedMbps(n);
      lt.devices.push_back(d);
      objs.push_back(nullptr);
    }
  }
  const size_t n = lt.devices.size();
  lt.hops.assign(n, std::vector<int>(n, -1));
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j)
      if (objs[i] && objs[j]) lt.hops[i][j] = treeHops(objs[i], objs[j]);
  return lt;
}

std::string LocalTopology::toText() const {
  std::ostringstream o;
  o << host << ": " << packages << " package(s), " << numaNodes << " NUMA node(s), " << cores << " core(s), " << pus
    << " hardware thread(s); bound to CPUs " << (boundCpus.empty() ? "?" : boundCpus) << "\n";
  for (size_t i = 0; i < devices.size(); ++i) {
    const Device& d = devices[i];
    o << "  " << d.kind << " " << d.name;
    if (!d.pciBus.empty()) o << " (PCI " << d.pciBus << ")";
    if (d.speedMbps > 0) o << ", " << d.speedMbps << " Mbit/s";
    o << ", near CPUs " << (d.nearCpus.empty() ? "unknown" : d.nearCpus);
    std::string close;
    for (size_t j = 0; j < devices.size(); ++j)
      if (j != i && hops[i][j] >= 0) close += " " + devices[j].name + ":" + std::to_string(hops[i][j]);
    if (!close.empty()) o << "; hops to" << close;
    o << "\n";
  }
  return o.str();
}

std::string LocalTopology::toJson() const {
  std::ostringstream o;
  o << "{\"host\":" << jsonQuote(host) << ",\"packages\":" << packages << ",\"numa_nodes\":" << numaNodes
    << ",\"cores\":" << cores << ",\"pus\":" << pus << ",\"bound_cpus\":" << jsonQuote(boundCpus) << ",\"devices\":[";
  for (size_t i = 0; i < devices.size(); ++i) {
    const Device& d = devices[i];
    o << (i ? "," : "") << "{\"name\":" << jsonQuote(d.name) << ",\"kind\":" << jsonQuote(d.kind)
      << ",\"pci_bus\":" << jsonQuote(d.pciBus) << ",\"speed_mbps\":" << d.speedMbps
      << ",\"near_cpus\":" << jsonQuote(d.nearCpus) << ",\"hops\":[";
    for (size_t j = 0; j < hops[i].size(); ++j) o << (j ? "," : "") << hops[i][j];
    o << "]}";
  }
  o << "]}";
  return o.str();
}

std::vector<uint8_t> LocalTopology::serialize() const {
  std::vector<uint8_t> b;
  putStr(&b, host);
  for (int64_t v : {packages, numaNodes, cores, pus}) putI64(&b, v);
  putStr(&b, boundCpus);
  putI64(&b, static_cast<int64_t>(devices.size()));
  for (const Device& d : devices) {
    putStr(&b, d.name);
    putStr(&b, d.kind);
    putStr(&b, d.pciBus);
    putI64(&b, d.speedMbps);
    putStr(&b, d.nearCpus);
  }
  for (auto& row : hops)
    for (int h : row) putI64(&b, h);
  return b;
}

Result<LocalTopology> LocalTopology::deserialize(const std::vector<uint8_t>& bytes) {
  Reader r(bytes);
  LocalTopology t;
  int64_t v[4], n = 0;
  bool ok = r.str(&t.host) && r.i64(&v[0]) && r.i64(&v[1]) && r.i64(&v[2]) && r.i64(&v[3]) && r.str(&t.boundCpus) &&
            r.i64(&n) && n >= 0 && n < 4096;
  if (!ok) return errorf(Code::kInternalError, "malformed topology descriptor");
  t.packages = static_cast<int>(v[0]);
  t.numaNodes = static_cast<int>(v[1]);
  t.cores = static_cast<int>(v[2]);
  t.pus = static_cast<int>(v[3]);
  t.devices.resize(static_cast<size_t>(n));
  for (Device& d : t.devices)
    if (!r.str(&d.name) || !r.str(&d.kind) || !r.str(&d.pciBus) || !r.i64(&d.speedMbps) || !r.str(&d.nearCpus))
      return errorf(Code::kInternalError, "malformed topology descriptor (device)");
  t.hops.assign(static_cast<size_t>(n), std::vector<int>(static_cast<size_t>(n), -1));
  for (auto& row : t.hops)
    for (int& h : row) {
      int64_t x;
      if (!r.i64(&x)) return errorf(Code::kInternalError, "malformed topology descriptor (hops)");
      h = static_cast<int>(x);
    }
  return t;
}

Result<std::string> bindNearDevices(const LocalTopology& lt, int localRank, int localRanks) {
  TORC_ASSIGN_OR_RETURN(Topo topo, loadTopology());
  hwloc_topology_t t = topo.get();
  // The device this rank will use: its GPU if there are GPUs, else the first NIC with locality.
  std::vector<const Device*> gpus, nics;
  for (const Device& d : lt.devices) {
    if (d.nearCpus.empty()) continue;
    (d.kind == "gpu" ? gpus : nics).push_back(&d);
  }
  const Device* dev = !gpus.empty() ? gpus[static_cast<size_t>(localRank) % gpus.size()]
                                    : !nics.empty() ? nics[0] : nullptr;
  hwloc_bitmap_t near = hwloc_bitmap_alloc();
  if (dev == nullptr || hwloc_bitmap_list_sscanf(near, dev->nearCpus.c_str()) != 0 || hwloc_bitmap_iszero(near))
    hwloc_bitmap_copy(near, hwloc_topology_get_topology_cpuset(t));
  // Spread the local ranks over the cores among those CPUs (round robin when they outnumber them).
  std::vector<hwloc_obj_t> cores;
  for (hwloc_obj_t c = nullptr; (c = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_CORE, c)) != nullptr;)
    if (hwloc_bitmap_intersects(c->cpuset, near)) cores.push_back(c);
  hwloc_bitmap_free(near);
  if (cores.empty()) return errorf(Code::kSystemError, "TORC_BIND: no cores found to bind to");
  const size_t stride = localRanks > 0 ? std::max<size_t>(1, cores.size() / static_cast<size_t>(localRanks)) : 1;
  hwloc_obj_t core = cores[(static_cast<size_t>(localRank) * stride) % cores.size()];
  if (hwloc_set_cpubind(t, core->cpuset, HWLOC_CPUBIND_PROCESS) != 0)
    return errorf(Code::kSystemError, "TORC_BIND: hwloc_set_cpubind failed: %s", strerror(errno));
  return "bound to CPUs " + bitmapList(core->cpuset) + (dev ? " near " + dev->name : std::string(" (no device locality)"));
}

bool addCpuList(const std::string& list, std::set<int>* cpus) {
  std::set<int> got;
  size_t i = 0;
  auto number = [&](int* v) {
    if (i >= list.size() || !isdigit(static_cast<unsigned char>(list[i]))) return false;
    long x = 0;
    while (i < list.size() && isdigit(static_cast<unsigned char>(list[i])) && x < (1 << 20)) x = x * 10 + (list[i++] - '0');
    *v = static_cast<int>(x);
    return x < (1 << 20);
  };
  while (i < list.size()) {
    int lo = 0, hi = 0;
    if (!number(&lo)) return false;
    hi = lo;
    if (i < list.size() && list[i] == '-') {
      ++i;
      if (!number(&hi) || hi < lo) return false;
    }
    for (int c = lo; c <= hi; ++c) got.insert(c);
    if (i < list.size() && (list[i++] != ',' || i == list.size())) return false;  // "a,b", never "a,"
  }
  if (got.empty()) return false;
  cpus->insert(got.begin(), got.end());
  return true;
}

}  // namespace torc::topology
