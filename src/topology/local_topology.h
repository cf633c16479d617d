// What one rank sees of its machine, through hwloc: packages, NUMA nodes, cores, the CPUs it
// is bound to, NICs and GPUs (hwloc's I/O objects) with the CPUs near each and the PCI hops
// between them. Descriptors travel between ranks at init (see core/comm.cc) in a compact
// binary form; tools/torc-topo prints them for people (text) and programs (JSON).
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "src/base/status.h"

namespace torc::topology {

struct Device {
  std::string name;     // OS name: "eth0", "mlx5_0", "cuda0"
  std::string kind;     // "net", "rdma", "gpu"
  std::string pciBus;   // "0000:00:03.0", or "" for virtual devices
  int64_t speedMbps = -1;  // link speed the OS reports (net), -1 if it reports none
  std::string nearCpus;    // CPUs hwloc places near it ("0-1"), "" if unknown
};

struct LocalTopology {
  std::string host;
  int packages = 0;
  int numaNodes = 0;
  int cores = 0;
  int pus = 0;
  std::string boundCpus;  // this process's CPU binding ("0-1")
  std::vector<Device> devices;
  // hops[i][j]: edges between device i and device j in hwloc's tree (via their common
  // ancestor; -1 if unknown): how close a NIC is to a GPU.
  std::vector<std::vector<int>> hops;

  std::string toText() const;
  std::string toJson() const;
  std::vector<uint8_t> serialize() const;
  static Result<LocalTopology> deserialize(const std::vector<uint8_t>& bytes);
};

// Discovers this process's view. Network interfaces that hwloc does not list (virtual ones:
// veth pairs in network namespaces, bridges) are added from /sys/class/net, loopback excepted.
Result<LocalTopology> discoverLocal();

// TORC_BIND=1: binds this process to the CPUs near the device it will use (GPU localRank if
// there are GPUs, else the first NIC with known locality), the local ranks spread over those
// CPUs; else to a core by local rank. Returns what it did, for the log.
Result<std::string> bindNearDevices(const LocalTopology& t, int localRank, int localRanks);

// JSON string escaping for the printers.
std::string jsonQuote(const std::string& s);

// The CPUs of a list such as "0-3,8,10-11" (LocalTopology::boundCpus) added to *cpus; false
// (and *cpus unchanged) when the list is empty or malformed.
bool addCpuList(const std::string& list, std::set<int>* cpus);

}  // namespace torc::topology
