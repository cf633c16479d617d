// The Python extension torc_torch._C: a creator function for torch.distributed's backend
// registry (torc_torch/__init__.py registers it as "torc").
#include <pybind11/chrono.h>
#include <torch/python.h>

#include "bindings/pytorch/process_group_torc.h"

namespace {

c10::intrusive_ptr<c10d::ProcessGroup> createProcessGroup(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                          int size, const std::chrono::duration<float>& timeout) {
  return c10::make_intrusive<torc::pytorch::ProcessGroupTorc>(
      store, rank, size, std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "torc's c10d process group";
  // The ProcessGroup and Store types must be registered with pybind11 first.
  pybind11::module::import("torch.distributed");
  m.def("create_process_group", &createProcessGroup, pybind11::arg("store"), pybind11::arg("rank"),
        pybind11::arg("size"), pybind11::arg("timeout"), pybind11::call_guard<pybind11::gil_scoped_release>(),
        "A torc process group over the ranks that share `store` (what torch.distributed's backend registry calls)");
  m.def("version", [] {
    int v = 0;
    torcGetVersion(&v);
    return v;
  });
}
