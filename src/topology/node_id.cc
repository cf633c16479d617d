#include "src/topology/node_id.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "src/base/param.h"

TORC_PARAM(NodeId, std::string, "NODE_ID", std::string(""),
           "node identity of this rank (default: host name + boot id + network namespace)");

namespace torc::topology {

std::string localHostName() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) return "unknown";
  return host;
}

std::string localNodeId() {
  std::string forced = torcParamNodeId();
  if (!forced.empty()) return forced;
  std::string bootId = "noboot";
  std::ifstream f("/proc/sys/kernel/random/boot_id");
  if (f) std::getline(f, bootId);
  // Two namespaces on one host are separate "nodes" to the network; the emulated cluster
  // relies on it.
  struct stat st {};
  std::string netns = stat("/proc/self/ns/net", &st) == 0 ? std::to_string(st.st_ino) : "nonetns";
  return localHostName() + "/" + bootId + "/" + netns;
}

std::string machineOf(const std::string& nodeId) {
  size_t first = nodeId.find('/');
  size_t last = nodeId.rfind('/');
  if (first == std::string::npos || first == last) return nodeId;
  return nodeId.substr(0, last);
}

}  // namespace torc::topology
