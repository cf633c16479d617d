#include "src/transport/verbs/ibv_symbols.h"

#include <dlfcn.h>

#include <cstdio>
#include <cstring>

namespace torc::transport::verbs {
namespace {

// The versions current rdma-core exports as default; plain dlsym is the fallback for builds
// without symbol versions.
void* resolve(void* lib, const char* name) {
  void* f = dlvsym(lib, name, "IBVERBS_1.1");
  if (f == nullptr) f = dlsym(lib, name);
  return f;
}

template <typename Fn>
Status need(void* lib, const char* library, const char* name, Fn* out) {
  dlerror();
  void* f = resolve(lib, name);
  if (f == nullptr) {
    const char* err = dlerror();
    return errorf(Code::kSystemError, "%s lacks %s: %s", library, name, err ? err : "symbol not found");
  }
  *out = reinterpret_cast<Fn>(f);
  return Status::ok();
}

}  // namespace

int IbvSymbols::queryPort(ibv_context* ctx, uint8_t port, ibv_port_attr* attr) const {
  memset(attr, 0, sizeof(*attr));  // the compat layout is a prefix; the rest stays zero
  return queryPortCompat(ctx, port, attr);
}

const char* IbvSymbols::statusText(ibv_wc_status status) const {
  if (wcStatusStr != nullptr) return wcStatusStr(status);
  static thread_local char buf[32];
  snprintf(buf, sizeof(buf), "status %d", static_cast<int>(status));
  return buf;
}

Status loadIbvSymbolsFrom(const char* library, IbvSymbols* out) {
  // Never closed: providers loaded by libibverbs must not be unloaded under live contexts.
  void* lib = dlopen(library, RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* err = dlerror();
    return errorf(Code::kSystemError, "cannot load %s (rdma-core's libibverbs): %s", library,
                  err ? err : "unknown error");
  }
  IbvSymbols s{};
  TORC_RETURN_IF_ERROR(need(lib, library, "ibv_get_device_list", &s.getDeviceList));
  TORC_RETURN_IF_ERROR(need(lib, library, "ibv_free_device_list", &s.freeDeviceList));
  TORC_RETURN_IF_ERROR(need(lib, library, "ibv_get_device_name", &s.getDeviceName));
  TORC_RETURN_IF_ERROR(need(lib, library, "ibv_open_device", &s.openDevice));
  TORC_RETURN_IF_ERROR(need(lib, library, "ibv_close_device", &s.closeDevice));
  TORC_RETURN_IF_ERROR(need(lib, library, "ibv_query_device", &s.queryDevice));
  TORC_RETURN_IF_ERROR(need(lib, library, "ibv_query_port", &s.queryPortCompat));
  TORC_RETURN_IF_ERROR(need(lib, library, "ibv_query_gid", &s.queryGid));
  TORC_RETURN_IF_ERROR(need(lib, library, "ibv_alloc_pd", &s.allocPd));
  TORC_RETURN_IF_ERROR(need(lib, library, "ibv_dealloc_pd", &s.deallocPd));
  TORC_RETURN_IF_ERROR(need(lib, library, "ibv_create_cq", &s.createCq));
  TORC_RETURN_IF_ERROR(need(lib, library, "ibv_destroy_cq", &s.destroyCq));
  TORC_RETURN_IF_ERROR(need(lib, library, "ibv_create_qp", &s.createQp));
  TORC_RETURN_IF_ERROR(need(lib, library, "ibv_destroy_qp", &s.destroyQp));
  TORC_RETURN_IF_ERROR(need(lib, library, "ibv_modify_qp", &s.modifyQp));
  TORC_RETURN_IF_ERROR(need(lib, library, "ibv_reg_mr", &s.regMr));
  TORC_RETURN_IF_ERROR(need(lib, library, "ibv_dereg_mr", &s.deregMr));
  s.wcStatusStr = reinterpret_cast<const char* (*)(ibv_wc_status)>(resolve(lib, "ibv_wc_status_str"));
  *out = s;
  return Status::ok();
}

Result<const IbvSymbols*> loadIbvSymbols() {
  struct Loaded {
    IbvSymbols symbols{};
    Status status;
  };
  static const Loaded* loaded = [] {
    auto* l = new Loaded;
    l->status = loadIbvSymbolsFrom("libibverbs.so.1", &l->symbols);
    return l;
  }();
  if (!loaded->status.isOk()) return loaded->status;
  return &loaded->symbols;
}

}  // namespace torc::transport::verbs
