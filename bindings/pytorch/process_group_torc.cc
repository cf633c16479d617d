#include "bindings/pytorch/process_group_torc.h"

#include <ATen/core/ivalue.h>
#include <ATen/core/jit_type.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/empty.h>

#include <cstdlib>
#include <mutex>
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
  TORCH_CHECK(t.layout() == at::kStrided, "torc ", op, ": tensors must be dense (strided), got ", t.layout());
  TORCH_CHECK(t.is_contiguous(), "torc ", op, ": tensors must be contiguous");
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

// torc's type for a dtype; false for those it has none for (bool, int16, complex, ...).
bool typeFor(at::ScalarType s, torcDataType_t* out) {
  switch (s) {
    case at::kChar: *out = torcInt8; return true;
    case at::kByte: *out = torcUint8; return true;
    case at::kInt: *out = torcInt32; return true;
    case at::kLong: *out = torcInt64; return true;
    case at::kHalf: *out = torcFloat16; return true;
    case at::kFloat: *out = torcFloat32; return true;
    case at::kDouble: *out = torcFloat64; return true;
    case at::kBFloat16: *out = torcBfloat16; return true;
    default: return false;
  }
}

// Moving data needs no arithmetic: a dtype torc has no type for travels as its bytes (*count is
// scaled to match).
torcDataType_t moveType(const at::Tensor& t, size_t* count) {
  torcDataType_t type;
  if (typeFor(t.scalar_type(), &type)) return type;
  *count *= t.element_size();
  return torcUint8;
}

}  // namespace

torcDataType_t torcTypeOf(const at::Tensor& t, const char* op) {
  torcDataType_t type;
  TORCH_CHECK(typeFor(t.scalar_type(), &type), "torc ", op, ": dtype ", t.scalar_type(), " is not supported");
  return type;
}

ProcessGroupTorc::ProcessGroupTorc(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                   std::chrono::milliseconds)
    : c10d::ProcessGroup(rank, size) {
  // The group's timeout is not torc's: torc's operations give up after TORC_TIMEOUT (read once
  // per process; default 300 s) without progress.
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
  std::lock_guard<std::mutex> g(mu_);
  if (comm_ != nullptr) (void)torcCommDestroy(comm_);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupTorc::broadcast(std::vector<at::Tensor>& tensors,
                                                           const c10d::BroadcastOptions& opts) {
  const at::Tensor& t = single(tensors, "broadcast");
  size_t count = size_t(t.numel());
  const torcDataType_t type = moveType(t, &count);
  std::lock_guard<std::mutex> g(mu_);
  check(torcBroadcast(t.data_ptr(), t.data_ptr(), count, type, int(opts.rootRank), comm_, nullptr), comm_,
        "broadcast");
  return done(c10d::OpType::BROADCAST, tensors);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupTorc::allreduce(std::vector<at::Tensor>& tensors,
                                                           const c10d::AllreduceOptions& opts) {
  const at::Tensor& t = single(tensors, "allreduce");
  const torcDataType_t type = reduceType(t, "allreduce");
  const torcRedOp_t op = redOp(opts.reduceOp, "allreduce");
  std::lock_guard<std::mutex> g(mu_);
  check(torcAllReduce(t.data_ptr(), t.data_ptr(), size_t(t.numel()), type, op, comm_, nullptr), comm_, "allreduce");
  return done(c10d::OpType::ALLREDUCE, tensors);
}

namespace {

// A fusion object that is always waited for and destroyed, so that no bucket still runs on
// torc's progress thread (writing into the tensors) after an exception leaves the call.
class FusionGuard {
 public:
  FusionGuard(torcComm_t comm, torcDataType_t wire, torcRedOp_t op) {
    check(torcFusionCreate(comm, 0, wire, op, 0, &f_), comm, "allreduce_coalesced (torcFusionCreate)");
  }
  FusionGuard(const FusionGuard&) = delete;
  FusionGuard& operator=(const FusionGuard&) = delete;
  ~FusionGuard() {
    if (!waited_) (void)torcFusionWait(f_, nullptr);
    (void)torcFusionDestroy(f_);
  }
  torcFusion_t get() const { return f_; }
  // Inf or NaN in a result is a result, as for allreduce: torcOverflow counts as success.
  torcResult_t wait() {
    waited_ = true;
    const torcResult_t r = torcFusionWait(f_, nullptr);
    return r == torcOverflow ? torcSuccess : r;
  }

 private:
  torcFusion_t f_ = nullptr;
  bool waited_ = false;
};

}  // namespace

// Floating-point tensors with a sum or average go through a torc fusion object (one per dtype,
// wire type = the tensors' own, so the results equal separate all-reduces); the rest are
// all-reduced one by one. Every tensor is checked before any is handed to torc.
c10::intrusive_ptr<c10d::Work> ProcessGroupTorc::allreduce_coalesced(std::vector<at::Tensor>& tensors,
                                                                     const c10d::AllreduceCoalescedOptions& opts) {
  const char* name = "allreduce_coalesced";
  const torcRedOp_t op = redOp(opts.reduceOp, name);
  std::vector<torcDataType_t> types;
  for (const at::Tensor& t : tensors) {
    checkTensor(t, name);
    types.push_back(reduceType(t, name));
  }
  std::lock_guard<std::mutex> g(mu_);
  std::vector<std::unique_ptr<FusionGuard>> fusions;  // one per wire type
  std::vector<torcDataType_t> wires;
  torcResult_t failed = torcSuccess;
  std::string why;
  auto note = [&](torcResult_t r) {
    if (r != torcSuccess && failed == torcSuccess) {
      failed = r;
      why = torcGetLastError(comm_);
    }
  };
  for (size_t i = 0; i < tensors.size(); ++i) {
    const at::Tensor& t = tensors[i];
    const torcDataType_t type = types[i];
    const bool fusable = (op == torcSum || op == torcAvg) &&
                         (type == torcFloat32 || type == torcFloat16 || type == torcBfloat16);
    if (!fusable) {
      note(torcAllReduce(t.data_ptr(), t.data_ptr(), size_t(t.numel()), type, op, comm_, nullptr));
      continue;
    }
    size_t k = 0;
    while (k < wires.size() && wires[k] != type) ++k;
    if (k == wires.size()) {
      fusions.push_back(std::make_unique<FusionGuard>(comm_, type, op));
      wires.push_back(type);
    }
    note(torcFusionAdd(fusions[k]->get(), t.data_ptr(), size_t(t.numel()), type));
  }
  for (auto& f : fusions) note(f->wait());
  fusions.clear();
  TORCH_CHECK(failed == torcSuccess, "torc allreduce_coalesced failed: ", torcGetErrorString(failed), ": ", why);
  return done(c10d::OpType::ALLREDUCE_COALESCED, tensors);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupTorc::reduce(std::vector<at::Tensor>& tensors,
                                                        const c10d::ReduceOptions& opts) {
  const at::Tensor& t = single(tensors, "reduce");
  const torcDataType_t type = reduceType(t, "reduce");
  const torcRedOp_t op = redOp(opts.reduceOp, "reduce");
  std::lock_guard<std::mutex> g(mu_);
  check(torcReduce(t.data_ptr(), t.data_ptr(), size_t(t.numel()), type, op, int(opts.rootRank), comm_, nullptr),
        comm_, "reduce");
  return done(c10d::OpType::REDUCE, tensors);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupTorc::allgather(std::vector<std::vector<at::Tensor>>& outputs,
                                                           std::vector<at::Tensor>& inputs,
                                                           const c10d::AllgatherOptions&) {
  const char* name = "allgather";
  const at::Tensor& in = single(inputs, name);
  TORCH_CHECK(outputs.size() == 1 && outputs[0].size() == size_t(getSize()), "torc allgather: expected one list of ",
              getSize(), " output tensors");
  for (const at::Tensor& o : outputs[0]) {
    checkTensor(o, name);
    TORCH_CHECK(o.numel() == in.numel() && o.scalar_type() == in.scalar_type(),
                "torc allgather: every output tensor must have the input's size and dtype");
  }
  at::Tensor flat = at::empty({int64_t(getSize()) * in.numel()}, in.options());
  size_t count = size_t(in.numel());
  const torcDataType_t type = moveType(in, &count);
  {
    std::lock_guard<std::mutex> g(mu_);
    check(torcAllGather(in.data_ptr(), flat.data_ptr(), count, type, comm_, nullptr), comm_, name);
  }
  for (int r = 0; r < getSize(); ++r) outputs[0][size_t(r)].view({-1}).copy_(flat.narrow(0, r * in.numel(), in.numel()));
  return done(c10d::OpType::ALLGATHER, outputs[0]);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupTorc::_allgather_base(at::Tensor& output, at::Tensor& input,
                                                                 const c10d::AllgatherOptions&) {
  const char* name = "_allgather_base";
  checkTensor(input, name);
  checkTensor(output, name);
  TORCH_CHECK(output.numel() == input.numel() * getSize() && output.scalar_type() == input.scalar_type(),
              "torc _allgather_base: the output must hold world_size inputs of the same dtype");
  size_t count = size_t(input.numel());
  const torcDataType_t type = moveType(input, &count);
  std::lock_guard<std::mutex> g(mu_);
  check(torcAllGather(input.data_ptr(), output.data_ptr(), count, type, comm_, nullptr), comm_, name);
  return done(c10d::OpType::_ALLGATHER_BASE, {output});
}

c10::intrusive_ptr<c10d::Work> ProcessGroupTorc::reduce_scatter(std::vector<at::Tensor>& outputs,
                                                                std::vector<std::vector<at::Tensor>>& inputs,
                                                                const c10d::ReduceScatterOptions& opts) {
  const char* name = "reduce_scatter";
  const at::Tensor& out = single(outputs, name);
  TORCH_CHECK(inputs.size() == 1 && inputs[0].size() == size_t(getSize()), "torc reduce_scatter: expected one list of ",
              getSize(), " input tensors");
  std::vector<at::Tensor> flat;
  for (const at::Tensor& i : inputs[0]) {
    checkTensor(i, name);
    TORCH_CHECK(i.numel() == out.numel() && i.scalar_type() == out.scalar_type(),
                "torc reduce_scatter: every input tensor must have the output's size and dtype");
    flat.push_back(i.view({-1}));
  }
  const torcDataType_t type = reduceType(out, name);
  const torcRedOp_t op = redOp(opts.reduceOp, name);
  at::Tensor in = at::cat(flat);
  std::lock_guard<std::mutex> g(mu_);
  check(torcReduceScatter(in.data_ptr(), out.data_ptr(), size_t(out.numel()), type, op, comm_, nullptr), comm_, name);
  return done(c10d::OpType::REDUCE_SCATTER, outputs);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupTorc::_reduce_scatter_base(at::Tensor& output, at::Tensor& input,
                                                                      const c10d::ReduceScatterOptions& opts) {
  const char* name = "_reduce_scatter_base";
  checkTensor(input, name);
  checkTensor(output, name);
  TORCH_CHECK(input.numel() == output.numel() * getSize() && output.scalar_type() == input.scalar_type(),
              "torc _reduce_scatter_base: the input must hold world_size outputs of the same dtype");
  const torcDataType_t type = reduceType(output, name);
  const torcRedOp_t op = redOp(opts.reduceOp, name);
  std::lock_guard<std::mutex> g(mu_);
  check(torcReduceScatter(input.data_ptr(), output.data_ptr(), size_t(output.numel()), type, op, comm_, nullptr),
        comm_, name);
  return done(c10d::OpType::_REDUCE_SCATTER_BASE, {output});
}

c10::intrusive_ptr<c10d::Work> ProcessGroupTorc::barrier(const c10d::BarrierOptions&) {
  std::lock_guard<std::mutex> g(mu_);
  check(torcBarrier(comm_, nullptr), comm_, "barrier");
  return done(c10d::OpType::BARRIER, {});
}

// torc matches a pair's messages in send order, not by tag: only tag 0 (torch's default) is
// taken, so that a program relying on tags fails loudly instead of receiving the wrong tensor.
// Sends are blocking; ones up to UCX's rendezvous threshold (TORC_UCX_RNDV_THRESH, 16 MiB)
// complete without waiting for the receive, larger ones need it posted (order isend/irecv pairs
// so that one side receives first).
c10::intrusive_ptr<c10d::Work> ProcessGroupTorc::send(std::vector<at::Tensor>& tensors, int dstRank, int tag) {
  const at::Tensor& t = single(tensors, "send");
  TORCH_CHECK(tag == 0, "torc send: tags are not supported (got ", tag, "); messages between two ranks arrive in order");
  size_t count = size_t(t.numel());
  const torcDataType_t type = moveType(t, &count);
  std::lock_guard<std::mutex> g(mu_);
  check(torcSend(t.data_ptr(), count, type, dstRank, comm_, nullptr), comm_, "send");
  return done(c10d::OpType::SEND, tensors);
}

c10::intrusive_ptr<c10d::Work> ProcessGroupTorc::recv(std::vector<at::Tensor>& tensors, int srcRank, int tag) {
  const at::Tensor& t = single(tensors, "recv");
  TORCH_CHECK(tag == 0, "torc recv: tags are not supported (got ", tag, "); messages between two ranks arrive in order");
  size_t count = size_t(t.numel());
  const torcDataType_t type = moveType(t, &count);
  std::lock_guard<std::mutex> g(mu_);
  check(torcRecv(t.data_ptr(), count, type, srcRank, comm_, nullptr), comm_, "recv");
  return done(c10d::OpType::RECV, tensors);
}

}  // namespace torc::pytorch
