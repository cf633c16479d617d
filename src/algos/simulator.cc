#include "src/algos/simulator.h"

namespace torc::algos {

Simulator::Simulator(int nranks) : nranks_(nranks), fabric_(nranks) {
  const size_t p = static_cast<size_t>(nranks);
  transports_.resize(p);
  endpoints_.resize(p);
  contexts_.resize(p);
  scratch_.resize(p);
  for (size_t r = 0; r < p; ++r) transports_[r] = fabric_.makeTransport(static_cast<int>(r));
  direct_ = transport::Fabric::makeDirectAccess();
  for (size_t r = 0; r < p; ++r) {
    contexts_[r].rank = static_cast<int>(r);
    contexts_[r].nranks = nranks;
    contexts_[r].transport = transports_[r].get();
    contexts_[r].direct = direct_.get();
    contexts_[r].endpoints.assign(p, nullptr);
    for (size_t q = 0; q < p; ++q) {
      if (q == r) continue;
      std::unique_ptr<transport::Endpoint> ep;
      (void)transports_[r]->connect(static_cast<int>(q), transports_[q]->address(), true, &ep);
      contexts_[r].endpoints[q] = ep.get();
      endpoints_[r].push_back(std::move(ep));
    }
  }
}

Simulator::~Simulator() = default;

Status Simulator::run(const CollArgs& proto, kernels::DType dtype, kernels::RedOp op,
                      const std::vector<const void*>& inputs, const std::vector<void*>& outputs) {
  const size_t p = static_cast<size_t>(nranks_);
  std::vector<Plan> plans;
  plans.reserve(p);
  for (size_t r = 0; r < p; ++r) {
    CollArgs a = proto;
    a.rank = static_cast<int>(r);
    a.nranks = nranks_;
    TORC_ASSIGN_OR_RETURN(Plan plan, buildPlan(a));
    plans.push_back(std::move(plan));
  }
  std::vector<Executor> execs(p);
  const uint64_t tagBase = makeTagBase(false, 0, seq_++);
  for (size_t r = 0; r < p; ++r) {
    size_t need = plans[r].scratchElems() * kernels::dtypeSize(dtype);
    if (scratch_[r].size() < need) scratch_[r].resize(need);
    ExecArgs ea;
    ea.input = inputs[r];
    ea.output = outputs[r];
    ea.scratch = scratch_[r].data();
    ea.scratchBytes = scratch_[r].size();
    ea.dtype = dtype;
    ea.op = op;
    ea.tagBase = tagBase;
    TORC_RETURN_IF_ERROR(execs[r].start(plans[r], ea, contexts_[r]));
  }
  std::vector<bool> finished(p, false);
  size_t remaining = p;
  int idleRounds = 0;  // a message posted in one round completes in the next: two idle rounds = stuck
  while (remaining > 0) {
    size_t before = 0, after = 0;
    for (size_t r = 0; r < p; ++r) before += execs[r].completed();
    for (size_t r = 0; r < p; ++r) {
      if (finished[r]) continue;
      Result<bool> done = execs[r].poll();
      if (!done.isOk()) return done.status().withContext("rank " + std::to_string(r));
      if (done.value()) {
        finished[r] = true;
        --remaining;
      }
    }
    for (size_t r = 0; r < p; ++r) after += execs[r].completed();
    idleRounds = after == before ? idleRounds + 1 : 0;
    if (remaining > 0 && idleRounds >= 2) {
      std::string stuck;
      for (size_t r = 0; r < p; ++r)
        if (!finished[r]) stuck += " " + std::to_string(r) + " (waiting for " + execs[r].waitingOn() + ")";
      return Status(Code::kInternalError, "deadlock in " + plans[0].name + ": ranks" + stuck);
    }
  }
  return Status::ok();
}

}  // namespace torc::algos
