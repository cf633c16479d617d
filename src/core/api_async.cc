// Asynchronous requests of torc.h: launch() hands a checked operation to the communicator's
// progress thread; torcTest and torcWait complete it and free the request.
#include <chrono>
#include <memory>
#include <thread>

#include "include/torc.h"
#include "src/core/api_guard.h"
#include "src/core/progress.h"

// The C handle of one asynchronous operation.
struct torcRequest {
  std::shared_ptr<torc::core::AsyncOp> op;
  std::shared_ptr<torc::core::AsyncLink> link;
};

namespace torc::core {
void AsyncLink::detach() {
  comm.store(nullptr);
  while (completing.load() > 0) std::this_thread::sleep_for(std::chrono::microseconds(100));
}
}  // namespace torc::core

namespace torc::api {

Status launch(torcComm_t comm, torcRequest_t* request, std::function<Status()> op) {
  if (request == nullptr) {
    // Blocking: after the queued operations, before op() touches anything (it may stage device
    // buffers through the communicator's pinned buffers, which a queued operation may be using).
    comm->comm->drainAsync();
    return op();
  }
  auto r = std::make_unique<torcRequest>();  // before the work is queued: nothing to undo after
  r->link = comm->async;
  r->op = comm->comm->submit(std::move(op));
  comm->async->open.fetch_add(1);
  *request = r.release();
  return Status::ok();
}

namespace {

// The operation's result, recorded like a blocking call's (on the communicator too while it
// exists: a torcCommAbort on another thread waits for this to finish with it); the request is
// freed.
torcResult_t complete(torcRequest_t request, const char* fn) {
  const Status s = request->op->wait();
  core::AsyncLink& link = *request->link;
  link.completing.fetch_add(1);  // before reading comm: detach() either sees this or nulls comm first
  torcResult_t r = finish(link.comm.load(), fn, s);
  link.open.fetch_sub(1);
  link.completing.fetch_sub(1);
  delete request;
  return r;
}

}  // namespace
}  // namespace torc::api

using namespace torc;       // NOLINT
using namespace torc::api;  // NOLINT

extern "C" {

torcResult_t torcTest(torcRequest_t request, int* done) {
  if (done == nullptr) return finish(nullptr, "torcTest", Status(Code::kInvalidArgument, "done is NULL"));
  *done = 0;
  if (request == nullptr) return finish(nullptr, "torcTest", Status(Code::kInvalidArgument, "request is NULL"));
  if (!request->op->done()) return torcSuccess;
  *done = 1;
  return complete(request, "torcTest");
}

torcResult_t torcWait(torcRequest_t request) {
  if (request == nullptr) return finish(nullptr, "torcWait", Status(Code::kInvalidArgument, "request is NULL"));
  return complete(request, "torcWait");
}

}  // extern "C"
