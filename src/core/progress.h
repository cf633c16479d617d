// The progress engine behind the asynchronous calls of torc.h: one thread per communicator,
// created on first use, that runs submitted operations one at a time in submission order.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "src/base/status.h"

namespace torc::core {

// One submitted operation and what became of it.
class AsyncOp {
 public:
  explicit AsyncOp(std::function<Status()> work) : work_(std::move(work)) {}
  bool done() const;
  // Blocks until the operation has run; its result.
  Status wait();

 private:
  friend class Progress;
  void finish(Status s);

  std::function<Status()> work_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  Status status_;
};

class Progress {
 public:
  // logRank: the rank the thread's log lines carry.
  explicit Progress(int logRank);
  // Runs what is still queued, then joins the thread (also what the destructor does; callable
  // once before it, so that the owner's pointer stays valid while the last operations run).
  void shutdown();
  ~Progress() { shutdown(); }
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  std::shared_ptr<AsyncOp> submit(std::function<Status()> work);
  // Returns once every operation submitted so far has run.
  void drain();
  // Whether the caller is the engine's thread (which must not wait for itself).
  bool onThread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  void loop(int logRank);

  std::mutex mu_;
  std::condition_variable wake_, idle_;
  std::deque<std::shared_ptr<AsyncOp>> queue_;
  bool busy_ = false;  // an operation is running
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace torc::core
