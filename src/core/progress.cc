#include "src/core/progress.h"

#include "src/base/log.h"

namespace torc::core {

bool AsyncOp::done() const {
  std::lock_guard<std::mutex> lock(mu_);
  return done_;
}

Status AsyncOp::wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return done_; });
  return status_;
}

void AsyncOp::finish(Status s) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = std::move(s);
    done_ = true;
  }
  cv_.notify_all();
}

Progress::Progress(int logRank) : thread_([this, logRank] { loop(logRank); }) {}

void Progress::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<AsyncOp> Progress::submit(std::function<Status()> work) {
  auto op = std::make_shared<AsyncOp>(std::move(work));
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(op);
  }
  wake_.notify_one();
  return op;
}

void Progress::drain() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [this] { return queue_.empty() && !busy_; });
}

void Progress::loop(int logRank) {
  setLogRank(logRank);
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing left to run
    std::shared_ptr<AsyncOp> op = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    Status s;
    try {
      s = op->work_();
    } catch (const std::bad_alloc&) {
      s = Status(Code::kSystemError, "out of memory");
    } catch (const std::exception& e) {
      s = Status(Code::kInternalError, std::string("unexpected exception: ") + e.what());
    }
    op->work_ = nullptr;  // release what the operation captured before anyone is told
    op->finish(std::move(s));
    lock.lock();
    busy_ = false;
    if (queue_.empty()) idle_.notify_all();
  }
}

}  // namespace torc::core
