// Gloo's collectives bound to caller buffers, with NCCL's argument conventions: what
// GlooBackend (gloo_backend.h) builds, caches and runs. Kept apart from the rendezvous and the
// cache because it is all templates over Gloo's element types.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include "perf/common/bench.h"

namespace gloo {
class Context;
}

namespace torc::perf::gloo_ops {

// Which of Gloo's implementations runs a collective; gloo_backend.h lists which collective
// takes which.
enum class Algo { kNew, kNewBcube, kRing, kRingChunked, kHalvingDoubling, kBcube, kOneToAll };

// The classic (pre-2018) algorithm classes, which take int element counts and are bound to
// their buffers at construction.
bool isClassic(Algo algo);

// Binds `coll` to these buffers; each call of the result runs it once, blocking, and throws
// Gloo's exceptions on failure. Empty when Gloo cannot do it (bfloat16 reductions, or an
// algorithm `coll` does not have). Building a classic algorithm takes slots from the context,
// so every rank must build the same operations in the same order.
std::function<void()> build(const std::shared_ptr<gloo::Context>& ctx, Algo algo, Coll coll, DType type, RedOp op,
                            int root, const void* send, void* recv, size_t count);

}  // namespace torc::perf::gloo_ops
