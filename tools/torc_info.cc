// torc_info: what this build of torc is and how it is configured. Lists every TORC_* parameter
// with its type, default, current value (from the environment) and description.
//   torc_info            text for people
//   torc_info --params   only the parameter table
#include <ucp/api/ucp.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "kernels/reduce.h"
#include "src/base/param.h"
#include "src/topology/node_id.h"
#include "torc_config.h"

namespace {

const char* typeName(torc::ParamType t) {
  switch (t) {
    case torc::ParamType::kInt: return "int";
    case torc::ParamType::kBool: return "bool";
    case torc::ParamType::kDouble: return "double";
    case torc::ParamType::kString: return "string";
  }
  return "?";
}

}  // namespace

int main(int argc, char** argv) {
  bool onlyParams = argc > 1 && strcmp(argv[1], "--params") == 0;
  if (argc > 1 && !onlyParams) {
    fprintf(stderr, "usage: torc_info [--params]\n");
    return 2;
  }
  if (!onlyParams) {
    unsigned major = 0, minor = 0, release = 0;
    ucp_get_version(&major, &minor, &release);
    printf("torc %s\n", TORC_VERSION_STRING);
    printf("  transports     ucx (UCX %u.%u.%u)%s\n", major, minor, release,
           TORC_HAVE_IBVERBS ? ", verbs (libibverbs.so.1 loaded at run time; TORC_TRANSPORT)" : "");
    printf("  host kernels   %s\n", torc::kernels::reduceIsa());
    printf("  cuda kernels   %s\n", TORC_HAVE_CUDA ? "compiled" : "not built (no nvcc)");
    printf("  node id        %s\n\n", torc::topology::localNodeId().c_str());
  }
  printf("%-22s %-7s %-10s %-10s %s\n", "PARAMETER", "TYPE", "DEFAULT", "VALUE", "DESCRIPTION");
  for (torc::ParamBase* p : torc::allParams()) {
    std::string desc = p->description();
    if (p->choices()) desc += " [" + std::string(p->choices()) + "]";
    printf("%-22s %-7s %-10s %-10s %s\n", p->name(), typeName(p->type()), p->defaultText().c_str(),
           p->currentText().c_str(), desc.c_str());
  }
  return 0;
}
