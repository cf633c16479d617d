#include "src/transport/ucx/ucx_rdma_probe.h"

#include <uct/api/uct.h>

#include <cstring>
#include <vector>

namespace torc::transport {
namespace {

bool reliableRdma(const char* tl) { return strncmp(tl, "rc", 2) == 0 || strncmp(tl, "dc", 2) == 0; }

void add(std::string* list, const std::string& item) { *list += (list->empty() ? "" : ", ") + item; }

// The transports of one memory domain of the "ib" component: reliable ones into *rdma, others
// (ud_*) into *other; a problem opening it into *why.
void listTransports(uct_component_h comp, const char* mdName, std::string* rdma, std::string* other,
                    std::string* why) {
  uct_md_config_t* config = nullptr;
  if (uct_md_config_read(comp, nullptr, nullptr, &config) != UCS_OK) {
    add(why, std::string(mdName) + ": no configuration");
    return;
  }
  uct_md_h md = nullptr;
  const ucs_status_t st = uct_md_open(comp, mdName, config, &md);
  uct_config_release(config);
  if (st != UCS_OK) {
    add(why, std::string(mdName) + " cannot be opened: " + ucs_status_string(st));
    return;
  }
  uct_tl_resource_desc_t* tls = nullptr;
  unsigned n = 0;
  if (uct_md_query_tl_resources(md, &tls, &n) == UCS_OK) {
    for (unsigned i = 0; i < n; ++i) {
      if (tls[i].dev_type != UCT_DEVICE_TYPE_NET) continue;
      add(reliableRdma(tls[i].tl_name) ? rdma : other, std::string(tls[i].tl_name) + "/" + tls[i].dev_name);
    }
    uct_release_tl_resource_list(tls);
  }
  uct_md_close(md);
}

}  // namespace

UcxRdmaInfo probeUcxRdma() {
  UcxRdmaInfo out;
  uct_component_h* comps = nullptr;
  unsigned ncomps = 0;
  if (uct_query_components(&comps, &ncomps) != UCS_OK) {
    out.detail = "UCT lists no components";
    return out;
  }
  bool haveIb = false;
  std::string rdma, other, why;
  for (unsigned c = 0; c < ncomps; ++c) {
    uct_component_attr_t attr{};
    attr.field_mask = UCT_COMPONENT_ATTR_FIELD_NAME | UCT_COMPONENT_ATTR_FIELD_MD_RESOURCE_COUNT;
    if (uct_component_query(comps[c], &attr) != UCS_OK || strcmp(attr.name, "ib") != 0) continue;
    haveIb = true;
    std::vector<uct_md_resource_desc_t> mds(attr.md_resource_count);
    attr.field_mask = UCT_COMPONENT_ATTR_FIELD_MD_RESOURCES;
    attr.md_resources = mds.data();
    if (!mds.empty() && uct_component_query(comps[c], &attr) != UCS_OK) continue;
    if (mds.empty()) add(&why, "its InfiniBand component sees no device");
    for (const auto& md : mds) listTransports(comps[c], md.md_name, &rdma, &other, &why);
  }
  uct_release_component_list(comps);
  out.rdma = !rdma.empty();
  if (out.rdma) {
    out.detail = rdma;
  } else if (!haveIb) {
    out.detail = "this UCX has no InfiniBand component (built or installed without its ib module)";
  } else {
    out.detail = "no rc/dc transport on an ACTIVE port";
    if (!other.empty()) out.detail += "; only " + other;
    if (!why.empty()) out.detail += "; " + why;
  }
  return out;
}

}  // namespace torc::transport
