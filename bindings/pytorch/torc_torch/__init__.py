"""torch.distributed on torc.

Importing this package registers the backend "torc":

    import torch.distributed as dist
    import torc_torch  # noqa: F401
    dist.init_process_group("torc", rank=rank, world_size=world_size, init_method=...)

Every operation is a blocking torc call on dense CPU tensors, so a returned Work is already
complete and its future holds the output tensors. Supported: allreduce (sum, avg, product, min,
max), allreduce_coalesced (floating-point sums and averages through a torc fusion object),
broadcast, reduce, allgather, _allgather_base, reduce_scatter, _reduce_scatter_base, barrier,
send and recv (tags are not matched: messages between two ranks arrive in send order). Other
operations raise RuntimeError("ProcessGroup torc does not support <operation>").
"""
import torch.distributed as _dist

from . import _C

BACKEND = "torc"


def _create(store, rank, world_size, timeout):
    return _C.create_process_group(store, rank, world_size, timeout)


if not hasattr(_dist.Backend, BACKEND.upper()):
    _dist.Backend.register_backend(BACKEND, _create)

version = _C.version()
