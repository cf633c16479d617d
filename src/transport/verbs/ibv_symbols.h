// libibverbs, loaded at run time: torc never links it, so libtorc loads and works (over UCX)
// where rdma-core is not installed. <infiniband/verbs.h> is included for its types only; every
// exported function the transport calls goes through a pointer resolved here. The data path
// (ibv_post_send, ibv_post_recv, ibv_poll_cq) is inline in verbs.h, calling through the
// context's ops table, and needs no symbol.
//
// Two functions are macros or inline wrappers in recent verbs.h: ibv_query_port (the exported
// symbol takes the older, shorter struct _compat_ibv_port_attr, a prefix of ibv_port_attr) and
// ibv_reg_mr (the exported symbol is the plain four-argument one). Both are resolved by their
// exported names and called through pointers of our own.
#pragma once

#include <infiniband/verbs.h>

#include <cstdint>

#include "src/base/status.h"

namespace torc::transport::verbs {

struct IbvSymbols {
  ibv_device** (*getDeviceList)(int* num);
  void (*freeDeviceList)(ibv_device** list);
  const char* (*getDeviceName)(ibv_device* dev);
  ibv_context* (*openDevice)(ibv_device* dev);
  int (*closeDevice)(ibv_context* ctx);
  int (*queryDevice)(ibv_context* ctx, ibv_device_attr* attr);
  int (*queryPortCompat)(ibv_context* ctx, uint8_t port, void* compatAttr);
  int (*queryGid)(ibv_context* ctx, uint8_t port, int index, ibv_gid* gid);
  ibv_pd* (*allocPd)(ibv_context* ctx);
  int (*deallocPd)(ibv_pd* pd);
  ibv_cq* (*createCq)(ibv_context* ctx, int cqe, void* cqContext, ibv_comp_channel* channel, int compVector);
  int (*destroyCq)(ibv_cq* cq);
  ibv_qp* (*createQp)(ibv_pd* pd, ibv_qp_init_attr* attr);
  int (*destroyQp)(ibv_qp* qp);
  int (*modifyQp)(ibv_qp* qp, ibv_qp_attr* attr, int mask);
  ibv_mr* (*regMr)(ibv_pd* pd, void* addr, size_t length, int access);
  int (*deregMr)(ibv_mr* mr);
  const char* (*wcStatusStr)(ibv_wc_status status);  // optional: nullptr if absent

  /// ibv_query_port through the exported symbol: fills the fields of *attr that the compat
  /// layout has (state, MTUs, LID, link layer, ...), zeroes the rest.
  int queryPort(ibv_context* ctx, uint8_t port, ibv_port_attr* attr) const;
  /// The text of a work-completion status ("transport retry counter exceeded", or its number).
  const char* statusText(ibv_wc_status status) const;
};

/// Loads libibverbs.so.1 once per process (thread-safe); every call returns that outcome. The
/// error names the library or the symbol that is missing, with dlerror()'s text.
Result<const IbvSymbols*> loadIbvSymbols();

/// Loads `library` and resolves every symbol into *out, without caching (for tests).
Status loadIbvSymbolsFrom(const char* library, IbvSymbols* out);

}  // namespace torc::transport::verbs
