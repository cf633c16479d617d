// Grouping ranks into nodes by node identity.
#include <map>
#include <string>

#include "src/core/comm.h"

namespace torc::core {

Grouping groupRanks(const std::vector<std::string>& nodeIds, int rank) {
  Grouping g;
  const int p = static_cast<int>(nodeIds.size());
  std::map<std::string, int> index;  // node identity -> node number, by lowest rank
  std::vector<std::vector<int>> members;
  g.nodeOf.resize(static_cast<size_t>(p));
  for (int r = 0; r < p; ++r) {
    auto [it, fresh] = index.emplace(nodeIds[static_cast<size_t>(r)], static_cast<int>(members.size()));
    if (fresh) members.emplace_back();
    members[static_cast<size_t>(it->second)].push_back(r);
    g.nodeOf[static_cast<size_t>(r)] = it->second;
  }
  g.nodes = static_cast<int>(members.size());
  g.node = g.nodeOf[static_cast<size_t>(rank)];
  const auto& mine = members[static_cast<size_t>(g.node)];
  g.localRanks = static_cast<int>(mine.size());
  for (size_t i = 0; i < mine.size(); ++i)
    if (mine[i] == rank) g.localRank = static_cast<int>(i);
  for (auto& m : members) g.ringOrder.insert(g.ringOrder.end(), m.begin(), m.end());
  return g;
}

std::string Grouping::describe() const {
  std::string s = std::to_string(nodes) + (nodes == 1 ? " node:" : " nodes:");
  for (int n = 0; n < nodes; ++n) {
    s += (n ? "; node " : " node ") + std::to_string(n) + " = ranks ";
    bool first = true;
    for (size_t r = 0; r < nodeOf.size(); ++r)
      if (nodeOf[r] == n) {
        s += (first ? "" : ",") + std::to_string(r);
        first = false;
      }
  }
  return s;
}

}  // namespace torc::core
