// Where a rank lives. Ranks with equal node identities share a machine (and may use shared
// memory); the grouping into nodes and the hwloc discovery build on this.
#pragma once

#include <string>

namespace torc::topology {

// host name + boot id + network-namespace inode, e.g. "node7/3f2a.../4026531840";
// TORC_NODE_ID replaces it (to pretend ranks are on different nodes, or the same one).
std::string localNodeId();
std::string localHostName();

// The machine part of a default node identity (host name + boot id, without the network
// namespace): ranks in different namespaces of one machine still share its cores. A forced
// TORC_NODE_ID is returned whole.
std::string machineOf(const std::string& nodeId);

}  // namespace torc::topology
