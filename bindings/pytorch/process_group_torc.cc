#include "bindings/pytorch/process_group_torc.h"

#include <ATen/core/ivalue.h>
#include <ATen/core/jit_type.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/empty.h>

#include <cstdlib>
#include <string>

namespace torc::pytorch {
namespace {

constexpr const char* kUniqueIdKey = "torc_unique_id";

// A finished operation: torc calls complete before they return.
class TorcWork : public c10d::Work {
 public:
  TorcWork(c10d::OpType type, std::vector<at::Tensor> outputs)
      : c10d::Work(-1, type), outputs_(std::move(outputs)),
        future_(c10::make_intrusive<c10::ivalue::Future>(c10::ListType::create(c10::TensorType::get()))) {
    future_->markCompleted(c10::IValue(outputs_));
  }
  bool isCompleted() override { return true; }
  bool isSuccess() const override { return true; }
  bool wait(std::chrono::milliseconds) override { return true; }
  std::vector<at::Tensor> result() override { return outputs_; }
  c10::intrusive_ptr<c10::ivalue::Future> getFuture() override { return future_; }

 private:
  std::vector<at::Tensor> outputs_;
  c10::intrusive_ptr<c10::ivalue::Future> future_;
};

c10::intrusive_ptr<c10d::Work> done(c10d::OpType type, std::vector<at::Tensor> outputs) {
  return c10::make_intrusive<TorcWork>(type, std::move(outputs));
}

void check(torcResult_t r, torcComm_t comm, const char* op) {
  TORCH_CHECK(r == torcSuccess, "torc ", op, " failed: ", torcGetErrorString(r), ": ", torcGetLastError(comm));
}

// torc moves dense host memory.
void checkTensor(const at::Tensor& t, const char* op) {
  TORCH_CHECK(t.device().is_cpu(), "torc ", op, ": tensors must be on the CPU (this backend moves host memory), got ",
              t.device().str());
  TORCH_CHECK(t.is_contiguous() && !t.is_sparse(), "torc ", op, ": tensors must be dense and contiguous");
}

const at::Tensor& single(const std::vector<at::Tensor>& ts, const char* op) {
  TORCH_CHECK(ts.size() == 1, "torc ", op, " takes one tensor per process (one device), got ", ts.size());
  checkTensor(ts[0], op);
  return ts[0];
}

torcRedOp_t redOp(const c10d::ReduceOp& op, const char* name) {
  switch (op.op_) {
    case c10d::ReduceOp::SUM: return torcSum;
    case c10d::ReduceOp::AVG: return torcAvg;
    case c10d::ReduceOp::PRODUCT: return torcProd;
    case c10d::ReduceOp::MIN: return torcMin;
    case c10d::ReduceOp::MAX: return torcMax;
    default: break;
  }
  TORCH_CHECK(false, "torc ", name, ": reduction ", int(op.op_),
              " is not supported (torc has SUM, AVG, PRODUCT, MIN and MAX; no bitwise or pre-multiplied sums)");
}

// Reductions need a numeric type; moving data also takes bool (as bytes).
torcDataType_t reduceType(const at::Tensor& t, const char* op) {
  TORCH_CHECK(t.scalar_type() != at::kBool, "torc ", op, ": cannot reduce bool tensors");
  return torcTypeOf(t, op);
}

torcDataType_t moveType(const at::Tensor& t, const char* op) {
  return t.scalar_type() == at::kBool ? torcUint8 : torcTypeOf(t, op);
}

}  // namespace

torcDataType_t torcTypeOf(const at::Tensor& t, const char* op) {
  switch (t.scalar_type()) {
    case at::kChar: return torcInt8;
    case at::kByte: return torcUint8;
    case at::kInt: return torcInt32;
    case at::kLong: return torcInt64;
    case at::kHalf: return torcFloat16;
    case at::kFloat: return torcFloat32;
    case at::kDouble: return torcFloat64;
    case at::kBFloat16: return torcBfloat16;
    default: break;
  }
  TORCH_CHECK(false, "torc ", op, ": dtype ", t.scalar_type(), " is not supported");
}

ProcessGroupTorc::ProcessGroupTorc(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                   std::chrono::milliseconds timeout)
    : c10d::ProcessGroup(rank, size) {
  // torc reads TORC_TIMEOUT once per process: the group's timeout, unless the user set one.
  if (std::getenv("TORC_TIMEOUT") == nullptr) {
    const auto sec = std::chrono::duration_cast<std::chrono::seconds>(timeout).count();
    setenv("TORC_TIMEOUT", std::to_string(sec > 0 ? sec : 1).c_str(), 0);
  }
  torcUniqueId id;
  if (rank == 0) {
    check(torcGetUniqueId(&id), nullptr, "torcGetUniqueId");
    store->set(kUniqueIdKey, std::vector<uint8_t>(id.internal, id.internal + sizeof(id.internal)));
  } else {
    const std::vector<uint8_t> bytes = store->get(kUniqueIdKey);
    TORCH_CHECK(bytes.size() == sizeof(id.internal), "torc: malformed unique id in the store (", bytes.size(),
                " bytes)");
    std::copy(bytes.begin(), bytes.end(), id.internal);
  }
  check(torcCommInitRank(&comm_, size, id, rank), nullptr, "torcCommInitRank");
}

ProcessGroupTorc::~ProcessGroupTorc() {
  if (comm_ != nullptr) (void)torcCommDestroy(comm_);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupTorc::broadcast(std::vector<at::Tensor>& tensors,
                                                           const c10d::BroadcastOptions& opts) {
  const at::Tensor& t = single(tensors, "broadcast");
  check(torcBroadcast(t.data_ptr(), t.data_ptr(), size_t(t.numel()), moveType(t, "broadcast"), int(opts.rootRank),
                      comm_, nullptr),
        comm_, "broadcast");
  return done(c10d::OpType::BROADCAST, tensors);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupTorc::allreduce(std::vector<at::Tensor>& tensors,
                                                           const c10d::AllreduceOptions& opts) {
  const at::Tensor& t = single(tensors, "allreduce");
  check(torcAllReduce(t.data_ptr(), t.data_ptr(), size_t(t.numel()), reduceType(t, "allreduce"),
                      redOp(opts.reduceOp, "allreduce"), comm_, nullptr),
        comm_, "allreduce");
  return done(c10d::OpType::ALLREDUCE, tensors);
}

// Floating-point tensors with a sum or average go through a torc fusion object (one per dtype,
// wire type = the tensors' own, so the results equal separate all-reduces); the rest are
// all-reduced one by one.
c10::intrusive_ptr<c10d::Work> ProcessGroupTorc::allreduce_coalesced(std::vector<at::Tensor>& tensors,
                                                                     const c10d::AllreduceCoalescedOptions& opts) {
  const char* op = "allreduce_coalesced";
  const torcRedOp_t rop = redOp(opts.reduceOp, op);
  std::vector<std::pair<torcDataType_t, torcFusion_t>> fusions;  // one per wire type
  auto fusionFor = [&](torcDataType_t t) -> torcFusion_t {
    for (auto& [wire, f] : fusions)
      if (wire == t) return f;
    torcFusion_t f = nullptr;
    check(torcFusionCreate(comm_, 0, t, rop, 0, &f), comm_, "allreduce_coalesced (torcFusionCreate)");
    fusions.emplace_back(t, f);
    return f;
  };
  torcResult_t failed = torcSuccess;
  std::string why;
  for (const at::Tensor& t : tensors) {
    checkTensor(t, op);
    const torcDataType_t type = reduceType(t, op);
    const bool fusable = (rop == torcSum || rop == torcAvg) &&
                         (type == torcFloat32 || type == torcFloat16 || type == torcBfloat16);
    torcResult_t r = fusable ? torcFusionAdd(fusionFor(type), t.data_ptr(), size_t(t.numel()), type)
                             : torcAllReduce(t.data_ptr(), t.data_ptr(), size_t(t.numel()), type, rop, comm_, nullptr);
    if (r != torcSuccess && failed == torcSuccess) {
      failed = r;
      why = torcGetLastError(comm_);
    }
  }
  for (auto& [wire, f] : fusions) {
    int overflow = 0;
    torcResult_t r = torcFusionWait(f, &overflow);
    // Inf or NaN in a result is a result, as for allreduce.
    if (r != torcSuccess && r != torcOverflow && failed == torcSuccess) {
      failed = r;
      why = torcGetLastError(comm_);
    }
    (void)torcFusionDestroy(f);
  }
  TORCH_CHECK(failed == torcSuccess, "torc allreduce_coalesced failed: ", torcGetErrorString(failed), ": ", why);
  return done(c10d::OpType::ALLREDUCE_COALESCED, tensors);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupTorc::reduce(std::vector<at::Tensor>& tensors,
                                                        const c10d::ReduceOptions& opts) {
  const at::Tensor& t = single(tensors, "reduce");
  check(torcReduce(t.data_ptr(), t.data_ptr(), size_t(t.numel()), reduceType(t, "reduce"),
                   redOp(opts.reduceOp, "reduce"), int(opts.rootRank), comm_, nullptr),
        comm_, "reduce");
  return done(c10d::OpType::REDUCE, tensors);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupTorc::allgather(std::vector<std::vector<at::Tensor>>& outputs,
                                                           std::vector<at::Tensor>& inputs,
                                                           const c10d::AllgatherOptions&) {
  const char* op = "allgather";
  const at::Tensor& in = single(inputs, op);
  TORCH_CHECK(outputs.size() == 1 && outputs[0].size() == size_t(getSize()), "torc allgather: expected one list of ",
              getSize(), " output tensors");
  for (const at::Tensor& o : outputs[0]) {
    checkTensor(o, op);
    TORCH_CHECK(o.numel() == in.numel() && o.scalar_type() == in.scalar_type(),
                "torc allgather: every output tensor must have the input's size and dtype");
  }
  at::Tensor flat = at::empty({int64_t(getSize()) * in.numel()}, in.options());
  check(torcAllGather(in.data_ptr(), flat.data_ptr(), size_t(in.numel()), moveType(in, op), comm_, nullptr), comm_, op);
  for (int r = 0; r < getSize(); ++r) outputs[0][size_t(r)].view({-1}).copy_(flat.narrow(0, r * in.numel(), in.numel()));
  return done(c10d::OpType::ALLGATHER, outputs[0]);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupTorc::_allgather_base(at::Tensor& output, at::Tensor& input,
                                                                 const c10d::AllgatherOptions&) {
  const char* op = "_allgather_base";
  checkTensor(input, op);
  checkTensor(output, op);
  TORCH_CHECK(output.numel() == input.numel() * getSize() && output.scalar_type() == input.scalar_type(),
              "torc _allgather_base: the output must hold world_size inputs of the same dtype");
  check(torcAllGather(input.data_ptr(), output.data_ptr(), size_t(input.numel()), moveType(input, op), comm_, nullptr),
        comm_, op);
  return done(c10d::OpType::_ALLGATHER_BASE, {output});
}

c10::intrusive_ptr<c10d::Work> ProcessGroupTorc::reduce_scatter(std::vector<at::Tensor>& outputs,
                                                                std::vector<std::vector<at::Tensor>>& inputs,
                                                                const c10d::ReduceScatterOptions& opts) {
  const char* op = "reduce_scatter";
  const at::Tensor& out = single(outputs, op);
  TORCH_CHECK(inputs.size() == 1 && inputs[0].size() == size_t(getSize()), "torc reduce_scatter: expected one list of ",
              getSize(), " input tensors");
  std::vector<at::Tensor> flat;
  for (const at::Tensor& i : inputs[0]) {
    checkTensor(i, op);
    TORCH_CHECK(i.numel() == out.numel() && i.scalar_type() == out.scalar_type(),
                "torc reduce_scatter: every input tensor must have the output's size and dtype");
    flat.push_back(i.view({-1}));
  }
  at::Tensor in = at::cat(flat);
  check(torcReduceScatter(in.data_ptr(), out.data_ptr(), size_t(out.numel()), reduceType(out, op),
                          redOp(opts.reduceOp, op), comm_, nullptr),
        comm_, op);
  return done(c10d::OpType::REDUCE_SCATTER, outputs);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupTorc::_reduce_scatter_base(at::Tensor& output, at::Tensor& input,
                                                                      const c10d::ReduceScatterOptions& opts) {
  const char* op = "_reduce_scatter_base";
  checkTensor(input, op);
  checkTensor(output, op);
  TORCH_CHECK(input.numel() == output.numel() * getSize() && output.scalar_type() == input.scalar_type(),
              "torc _reduce_scatter_base: the input must hold world_size outputs of the same dtype");
  check(torcReduceScatter(input.data_ptr(), output.data_ptr(), size_t(output.numel()), reduceType(output, op),
                          redOp(opts.reduceOp, op), comm_, nullptr),
        comm_, op);
  return done(c10d::OpType::_REDUCE_SCATTER_BASE, {output});
}

c10::intrusive_ptr<c10d::Work> ProcessGroupTorc::barrier(const c10d::BarrierOptions&) {
  check(torcBarrier(comm_, nullptr), comm_, "barrier");
  return done(c10d::OpType::BARRIER, {});
}

// Tags are not matched: messages between two ranks arrive in the order they were sent.
c10::intrusive_ptr<c10d::Work> ProcessGroupTorc::send(std::vector<at::Tensor>& tensors, int dstRank, int) {
  const at::Tensor& t = single(tensors, "send");
  check(torcSend(t.data_ptr(), size_t(t.numel()), moveType(t, "send"), dstRank, comm_, nullptr), comm_, "send");
  return done(c10d::OpType::SEND, tensors);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupTorc::recv(std::vector<at::Tensor>& tensors, int srcRank, int) {
  const at::Tensor& t = single(tensors, "recv");
  check(torcRecv(t.data_ptr(), size_t(t.numel()), moveType(t, "recv"), srcRank, comm_, nullptr), comm_, "recv");
  return done(c10d::OpType::RECV, tensors);
}

}  // namespace torc::pytorch
