// Fused buckets (torcFusion*): tensors packed into buckets in the wire type on the caller's
// thread, each full bucket all-reduced on the communicator's progress thread and unpacked there
// into its tensors, while the caller adds more.
#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "include/torc.h"
#include "kernels/functors.h"
#include "src/base/param.h"
#include "src/core/api_guard.h"

TORC_PARAM(FusionBytes, int64_t, "FUSION_BYTES", 25 << 20,
           "torcFusionCreate's bucket size when its thresholdBytes is 0: a bucket's all-reduce starts once it "
           "holds this many bytes on the wire");

TORC_PARAM_CHOICE(FusionPack, "FUSION_PACK", "auto", "auto|always",
                  "whether a fusion object packs tensors of the wire type into its buckets: always, or auto (not "
                  "when every rank is on one node: there each tensor is all-reduced where it lies)");

namespace torc::api {
namespace {

bool isFloat(DType t) { return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBfloat16; }

// n elements from type `from` to type `to` (equal: a copy; else both floating point, through
// float32), dividing by `divisor` in float32 first when it is > 1. scratch: float32 room.
// False when a finite value became Inf in `to`.
bool convert(DType from, const void* src, DType to, void* dst, size_t n, int divisor, std::vector<float>* scratch) {
  if (from == to && divisor <= 1) {
    std::memcpy(dst, src, n * kernels::dtypeSize(from));
    return true;
  }
  if (to == DType::kFloat32 && divisor <= 1) {  // widening needs no room of its own
    kernels::widenToFloat(from, src, static_cast<float*>(dst), n);
    return true;
  }
  const float* wide = static_cast<const float*>(src);
  if (from != DType::kFloat32 || divisor > 1) {
    scratch->resize(n);
    kernels::widenToFloat(from, src, scratch->data(), n);
    if (divisor > 1) kernels::finalizeAvg(DType::kFloat32, scratch->data(), n, divisor);
    wide = scratch->data();
  }
  return kernels::narrowFromFloat(to, wide, dst, n);
}

}  // namespace
}  // namespace torc::api

// A tensor's piece in a bucket: `count` elements from `at` of its `type`, at element `off` of
// the bucket.
struct FusionSegment {
  char* at;
  torc::kernels::DType type;
  size_t count, off;
  char* base;  // the tensor this piece belongs to (torcFusionGather finds buckets by it)
};

struct FusionBucket {
  std::unique_ptr<char[]> data;  // `count` elements of the wire type (not zeroed: written by packing)
  size_t capacity = 0;           // bytes
  size_t count = 0;
  std::vector<FusionSegment> segments;
  std::shared_ptr<torc::core::AsyncOp> op;
  bool overflow = false;       // written by the progress thread before op completes
  std::vector<float> scratch;  // the progress thread's, for unpacking
  size_t shard = 0;            // TORC_FUSION_SPLIT: elements per rank after the reduce-scatter
};

struct torcFusion {
  torcComm_t comm = nullptr;
  std::shared_ptr<torc::core::AsyncLink> link;
  size_t threshold = 0;  // wire bytes per bucket
  torc::kernels::DType wire{};
  torc::kernels::RedOp op{};
  bool mixed = false;
  // Every rank on one node: without conversion, a bucket's tensors are all-reduced where they lie,
  // one after another. Packing them would add two passes over memory to save per-call costs of a
  // few microseconds (measured 2-4x slower than separate calls at p = 2 and 4).
  bool unpacked = false;
  // TORC_FUSION_SPLIT: a full bucket only reduce-scatters; torcFusionGather all-gathers it.
  bool split = false;
  bool typeKnown = false;
  torc::kernels::DType tensorType{};
  std::unique_ptr<FusionBucket> filling;
  std::vector<std::unique_ptr<FusionBucket>> inFlight, spare;
  std::vector<std::unique_ptr<FusionBucket>> reduced;  // split: reduce-scattered, not yet gathered
  std::vector<float> scratch;  // the caller's, for packing
};

namespace torc::api {
namespace {

// The communicator to record errors on: none once it is gone.
torcComm_t commOf(torcFusion_t f) { return f != nullptr && f->link->comm.load() != nullptr ? f->comm : nullptr; }

Status checkFusion(torcFusion_t f) {
  if (f == nullptr) return Status(Code::kInvalidArgument, "fusion is NULL");
  if (f->link->comm.load() == nullptr)
    return Status(Code::kInvalidUsage, "the fusion object's communicator was destroyed or aborted");
  return Status::ok();
}

// A reduced bucket (the same bits on every rank) back into its tensors, flagging Inf or NaN in
// it and overflow into a narrower tensor type (a float16 tensor from a float32 or bfloat16 wire)
// alike on every rank. On the progress thread.
void unpack(FusionBucket* b, DType wire) {
  const size_t ws = kernels::dtypeSize(wire);
  b->overflow = !kernels::allFinite(wire, b->data.get(), b->count);
  for (const FusionSegment& s : b->segments)
    b->overflow |= !convert(wire, b->data.get() + s.off * ws, s.type, s.at, s.count, 1, &b->scratch);
}

// Hands a bucket's work to the progress thread; it counts as open until awaited.
void submitBucket(torcFusion_t f, FusionBucket* b, std::function<Status()> work) {
  b->overflow = false;
  b->op = f->comm->comm->submit(std::move(work));
  f->link->open.fetch_add(1);
}

// Waits for every bucket (even after a failure: none may still be running), then moves each to
// `done` (or, failed, to the spares). The first failure, else torcOverflow when a result was
// flagged (with *overflow = 1).
Status awaitBuckets(torcFusion_t f, std::vector<std::unique_ptr<FusionBucket>>* buckets,
                    std::vector<std::unique_ptr<FusionBucket>>* done, int* overflow) {
  Status first;
  bool over = false;
  for (auto& b : *buckets) {
    Status s = b->op->wait();
    f->link->open.fetch_sub(1);
    if (first.isOk() && !s.isOk()) first = s;
    over |= s.isOk() && b->overflow;
    b->op.reset();
    (s.isOk() ? *done : f->spare).push_back(std::move(b));
  }
  buckets->clear();
  if (!first.isOk() || !over) return first;
  if (overflow != nullptr) *overflow = 1;
  return Status(Code::kOverflow, "a fused result holds Inf or NaN (an input did, or a sum overflowed the wire type or "
                                 "the tensor's type); every rank reports it");
}

// Hands the filling bucket to the progress thread: all-reduce in place (split: reduce-scatter
// only), then unpack.
void launchBucket(torcFusion_t f) {
  std::unique_ptr<FusionBucket> b = std::move(f->filling);
  FusionBucket* raw = b.get();
  core::Comm* c = f->comm->comm.get();
  const DType wire = f->wire;
  const size_t ws = kernels::dtypeSize(wire);
  const bool converts = f->mixed || f->tensorType != wire;
  const RedOp op = converts ? RedOp::kSum : f->op;  // with conversion, avg was divided while packing
  if (f->split) {  // the reduce-scatter half, in place: this rank's shard at rank * shard
    const size_t p = static_cast<size_t>(c->nranks()), rank = static_cast<size_t>(c->rank());
    raw->shard = (raw->count + p - 1) / p;
    std::memset(raw->data.get() + raw->count * ws, 0, (raw->shard * p - raw->count) * ws);  // zeros to even it out
    submitBucket(f, raw, [c, raw, wire, op, ws, rank]() -> Status {
      return c->run(collArgs(algos::Coll::kReduceScatter, raw->shard), raw->data.get(),
                    raw->data.get() + rank * raw->shard * ws, wire, op);
    });
  } else if (f->unpacked && !converts) {  // one node: each piece in place, where it lies
    submitBucket(f, raw, [c, raw, wire, op]() -> Status {
      for (const FusionSegment& s : raw->segments) {
        TORC_RETURN_IF_ERROR(c->run(collArgs(algos::Coll::kAllReduce, s.count), s.at, s.at, wire, op));
        raw->overflow |= !kernels::allFinite(wire, s.at, s.count);
      }
      return Status::ok();
    });
  } else {
    submitBucket(f, raw, [c, raw, wire, op]() -> Status {
      TORC_RETURN_IF_ERROR(c->run(collArgs(algos::Coll::kAllReduce, raw->count), raw->data.get(), raw->data.get(),
                                  wire, op));
      unpack(raw, wire);
      return Status::ok();
    });
  }
  f->inFlight.push_back(std::move(b));
}

void newBucket(torcFusion_t f) {
  if (!f->spare.empty()) {
    f->filling = std::move(f->spare.back());
    f->spare.pop_back();
  } else {
    f->filling = std::make_unique<FusionBucket>();
  }
  // Room for a bucket's last element and, split, the zeros that make it a multiple of p.
  const size_t bytes = f->threshold + kernels::dtypeSize(f->wire) * (static_cast<size_t>(f->comm->comm->nranks()) + 1);
  if (f->filling->capacity < bytes) {
    f->filling->data.reset(new char[bytes]);
    f->filling->capacity = bytes;
  }
  f->filling->count = 0;
  f->filling->segments.clear();
}

}  // namespace
}  // namespace torc::api

using namespace torc;       // NOLINT
using namespace torc::api;  // NOLINT

extern "C" {

torcResult_t torcFusionCreate(torcComm_t comm, size_t thresholdBytes, torcDataType_t wireType, torcRedOp_t op,
                              int flags, torcFusion_t* fusion) {
  return guard(comm, "torcFusionCreate", [&]() -> Status {
    if (fusion == nullptr) return Status(Code::kInvalidArgument, "fusion is NULL");
    *fusion = nullptr;
    TORC_RETURN_IF_ERROR(checkComm(comm));
    TORC_RETURN_IF_ERROR(checkType(wireType));
    TORC_RETURN_IF_ERROR(checkOp(op));
    if (op != torcSum && op != torcAvg)
      return errorf(Code::kInvalidArgument, "op %s: a fusion object sums or averages",
                    kernels::redOpName(static_cast<RedOp>(op)));
    if (flags & ~(TORC_FUSION_MIXED_TYPES | TORC_FUSION_SPLIT))
      return errorf(Code::kInvalidArgument, "unknown flags 0x%x", flags);
    const bool mixed = (flags & TORC_FUSION_MIXED_TYPES) != 0;
    if (mixed && !isFloat(static_cast<DType>(wireType)))
      return Status(Code::kInvalidArgument, "with TORC_FUSION_MIXED_TYPES the wire type is a floating-point type");
    const int64_t dflt = torcParamFusionBytes();
    const size_t threshold = thresholdBytes != 0 ? thresholdBytes : static_cast<size_t>(dflt > 0 ? dflt : 1);
    if (threshold > (size_t{1} << 40)) return errorf(Code::kInvalidArgument, "thresholdBytes %zu is too large", threshold);
    auto f = std::make_unique<torcFusion>();
    f->comm = comm;
    f->link = comm->async;
    f->threshold = threshold;
    f->wire = static_cast<DType>(wireType);
    f->op = static_cast<RedOp>(op);
    f->mixed = mixed;
    f->split = (flags & TORC_FUSION_SPLIT) != 0;
    f->unpacked = !f->split && comm->comm->grouping().nodes == 1 && torcParamFusionPack() == "auto";
    *fusion = f.release();
    return Status::ok();
  });
}

torcResult_t torcFusionAdd(torcFusion_t f, void* tensor, size_t count, torcDataType_t datatype) {
  return guard(commOf(f), "torcFusionAdd", [&]() -> Status {
    TORC_RETURN_IF_ERROR(checkFusion(f));
    TORC_RETURN_IF_ERROR(checkType(datatype));
    TORC_RETURN_IF_ERROR(checkHostBuf(tensor, count, "tensor"));
    size_t bytes = 0;
    TORC_RETURN_IF_ERROR(checkBytes(count, datatype, 1, &bytes));
    const auto t = static_cast<DType>(datatype);
    if (f->mixed ? !isFloat(t) : (f->typeKnown && t != f->tensorType))
      return errorf(Code::kInvalidArgument,
                    f->mixed ? "datatype %s: mixed tensors are float32, float16 or bfloat16"
                             : "datatype %s differs from the earlier tensors' (say TORC_FUSION_MIXED_TYPES at creation "
                               "to mix floating-point types)",
                    kernels::dtypeName(t));
    if (t != f->wire && !(isFloat(t) && isFloat(f->wire)))
      return errorf(Code::kInvalidArgument, "datatype %s cannot travel as %s", kernels::dtypeName(t),
                    kernels::dtypeName(f->wire));
    f->typeKnown = true;
    f->tensorType = t;
    const size_t ts = kernels::dtypeSize(t), ws = kernels::dtypeSize(f->wire);
    const size_t perBucket = std::max<size_t>(1, f->threshold / ws);
    const bool converts = f->mixed || t != f->wire;
    const int divisor = converts && f->op == RedOp::kAvg ? f->comm->comm->nranks() : 1;
    auto* at = static_cast<char*>(tensor);
    for (size_t done = 0; done < count;) {
      if (!f->filling) newBucket(f);
      FusionBucket& b = *f->filling;
      const size_t take = std::min(count - done, perBucket - b.count);
      if (!(f->unpacked && !converts))  // an overflow here reaches the sum as Inf, flagged there
        (void)convert(t, at + done * ts, f->wire, b.data.get() + b.count * ws, take, divisor, &f->scratch);
      b.segments.push_back({at + done * ts, t, take, b.count, at});
      b.count += take;
      done += take;
      if (b.count >= perBucket) launchBucket(f);
    }
    return Status::ok();
  });
}

torcResult_t torcFusionFlush(torcFusion_t f) {
  return guard(commOf(f), "torcFusionFlush", [&]() -> Status {
    TORC_RETURN_IF_ERROR(checkFusion(f));
    if (f->filling && f->filling->count > 0) launchBucket(f);
    return Status::ok();
  });
}

torcResult_t torcFusionWait(torcFusion_t f, int* overflow) {
  if (overflow != nullptr) *overflow = 0;
  return guard(commOf(f), "torcFusionWait", [&]() -> Status {
    if (f == nullptr) return Status(Code::kInvalidArgument, "fusion is NULL");
    Status first;
    if (f->filling && f->filling->count > 0) {
      if (f->link->comm.load() != nullptr) {
        launchBucket(f);
      } else {  // aborted: these tensors were never sent
        f->filling->count = 0;
        first = Status(Code::kInvalidUsage, "the fusion object's communicator was destroyed or aborted");
      }
    }
    Status s = awaitBuckets(f, &f->inFlight, f->split ? &f->reduced : &f->spare, overflow);
    if (first.isOk()) first = s;
    return first;
  });
}

torcResult_t torcFusionGather(torcFusion_t f, const void* tensor) {
  return guard(commOf(f), "torcFusionGather", [&]() -> Status {
    TORC_RETURN_IF_ERROR(checkFusion(f));
    if (!f->split) return Status(Code::kInvalidUsage, "torcFusionGather needs a fusion object made with TORC_FUSION_SPLIT");
    if (!f->inFlight.empty() || (f->filling && f->filling->count > 0))
      return Status(Code::kInvalidUsage, "torcFusionWait first: tensors added since are not reduce-scattered yet");
    core::Comm* c = f->comm->comm.get();
    const DType wire = f->wire;
    const size_t ws = kernels::dtypeSize(wire), rank = static_cast<size_t>(c->rank());
    std::vector<std::unique_ptr<FusionBucket>> now, keep;  // the buckets holding a piece of tensor
    for (auto& b : f->reduced) {
      bool holds = tensor == nullptr;
      for (const FusionSegment& s : b->segments) holds |= s.base == tensor;
      (holds ? now : keep).push_back(std::move(b));
    }
    f->reduced.swap(keep);
    for (auto& b : now) {  // the all-gather half, in place, then the unpacking
      FusionBucket* raw = b.get();
      submitBucket(f, raw, [c, raw, wire, ws, rank]() -> Status {
        TORC_RETURN_IF_ERROR(c->run(collArgs(algos::Coll::kAllGather, raw->shard),
                                    raw->data.get() + rank * raw->shard * ws, raw->data.get(), wire, RedOp::kSum));
        unpack(raw, wire);
        return Status::ok();
      });
    }
    return awaitBuckets(f, &now, &f->spare, nullptr);
  });
}

torcResult_t torcFusionDestroy(torcFusion_t f) {
  if (f == nullptr) return torcSuccess;
  return guard(commOf(f), "torcFusionDestroy", [&]() -> Status {
    const bool commGone = f->link->comm.load() == nullptr;
    if (!commGone && (!f->inFlight.empty() || !f->reduced.empty() || (f->filling && f->filling->count > 0)))
      return Status(Code::kInvalidUsage, "tensors added to this fusion object are not yet waited for (torcFusionWait)");
    // Aborted: the buckets end promptly (failing), but one may still be running on the
    // progress thread while the abort tears down; it must not outlive its bucket.
    for (auto& b : f->inFlight) (void)b->op->wait();  // its result no longer matters
    delete f;
    return Status::ok();
  });
}

}  // extern "C"
