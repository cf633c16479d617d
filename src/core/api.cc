// The C boundary. Every entry point validates its arguments, runs inside guard() (no
// exception crosses into C), maps Status to torcResult_t and records the message for
// torcGetLastError.
#include <climits>
#include <cstring>
#include <string>
#include <chrono>
#include <thread>

#include "include/torc.h"
#include "src/base/log.h"
#include "src/base/param.h"
#include "src/core/bootstrap.h"
#include "src/core/api_guard.h"
#include "src/core/comm.h"
#include "src/core/device.h"
#include "src/core/launch_env.h"

TORC_PARAM(SocketIfname, std::string, "SOCKET_IFNAME", std::string(""),
           "interface whose address torcGetUniqueId advertises (prefix match, ^ excludes; default: first non-loopback)");

namespace torc::api {
namespace {

constexpr int kMaxRanks = 1 << 16;       // tags carry 16 bits of rank
constexpr int kMaxThreadRanks = 1024;    // torcCommInitAll makes a thread and a UCX worker per rank

using core::Comm;
using kernels::DType;
using kernels::RedOp;

Status initComm(torcComm_t* out, const core::RootInfo& root, int nranks, int rank) {
  TORC_ASSIGN_OR_RETURN(std::unique_ptr<Comm> c, Comm::create(root, nranks, rank));
  auto* h = new torcComm;
  h->comm = std::move(c);
  h->async = std::make_shared<core::AsyncLink>();  // made here, so that it never changes later
  h->async->comm.store(h);
  h->staging = std::make_shared<core::DeviceStaging>();
  *out = h;
  return Status::ok();
}

// Hands a collective to launch() (blocking or on the progress thread), with device buffers
// staged through the communicator's pinned buffers (device.h): inBytes read at input, outBytes
// written at output. The work captures the Comm itself, which outlives its progress thread.
Status launchStaged(torcComm_t comm, torcRequest_t* request, torcStream_t stream, const algos::CollArgs& a,
                    const void* input, size_t inBytes, void* output, size_t outBytes, DType dtype, RedOp op) {
  Comm* c = comm->comm.get();
  std::shared_ptr<core::DeviceStaging> staging = comm->staging;
  return launch(comm, request, [=] {
    return staging->run(input, inBytes, output, outBytes, stream,
                        [&](const void* in, void* out) { return c->run(a, in, out, dtype, op); });
  });
}

Result<core::RootInfo> makeRoot(const std::string& ifname) {
  core::RootInfo info;
  info.secret = core::randomSecret();
  TORC_ASSIGN_OR_RETURN(SockAddr advertise, pickInterfaceAddress(ifname));
  SockAddr bind = advertise;
  if (bind.ss.ss_family == AF_INET) reinterpret_cast<sockaddr_in*>(&bind.ss)->sin_addr.s_addr = htonl(INADDR_ANY);
  bind.setPort(0);
  TORC_ASSIGN_OR_RETURN(info.addr, core::startRoot(bind, advertise, info.secret, core::effectiveTimeout(), true));
  return info;
}

}  // namespace
}  // namespace torc::api

using namespace torc;        // NOLINT
using namespace torc::api;   // NOLINT

extern "C" {

torcResult_t torcGetVersion(int* version) {
  return guard(nullptr, "torcGetVersion", [&] {
    if (version == nullptr) return Status(Code::kInvalidArgument, "version is NULL");
    *version = TORC_VERSION_CODE;
    return Status::ok();
  });
}

const char* torcGetErrorString(torcResult_t r) {
  if (static_cast<int>(r) < 0 || static_cast<int>(r) >= torcNumResults) return "unknown result code";
  return codeName(static_cast<Code>(r));
}

const char* torcGetLastError(torcComm_t comm) {
  if (comm != nullptr && comm->comm) return comm->comm->lastError.c_str();
  return tLastError.c_str();
}

torcResult_t torcGetUniqueId(torcUniqueId* uniqueId) {
  return guard(nullptr, "torcGetUniqueId", [&] {
    if (uniqueId == nullptr) return Status(Code::kInvalidArgument, "uniqueId is NULL");
    TORC_ASSIGN_OR_RETURN(core::RootInfo info, makeRoot(torcParamSocketIfname()));
    core::packUniqueId(info, uniqueId);
    return Status::ok();
  });
}

torcResult_t torcCommInitRank(torcComm_t* comm, int nranks, torcUniqueId commId, int rank) {
  return guard(nullptr, "torcCommInitRank", [&] {
    if (comm == nullptr) return Status(Code::kInvalidArgument, "comm is NULL");
    *comm = nullptr;
    if (nranks < 1 || nranks > kMaxRanks)
      return errorf(Code::kInvalidArgument, "nranks %d is outside [1, %d]", nranks, kMaxRanks);
    TORC_RETURN_IF_ERROR(checkRank(rank, nranks, "rank"));
    TORC_ASSIGN_OR_RETURN(core::RootInfo root, core::unpackUniqueId(commId));
    setLogRank(rank);
    return initComm(comm, root, nranks, rank);
  });
}

torcResult_t torcCommSplit(torcComm_t comm, int color, int key, torcComm_t* newcomm, void* config) {
  return guard(comm, "torcCommSplit", [&]() -> Status {
    if (newcomm == nullptr) return Status(Code::kInvalidArgument, "newcomm is NULL");
    *newcomm = nullptr;
    TORC_RETURN_IF_ERROR(checkComm(comm));
    if (config != nullptr) return Status(Code::kInvalidArgument, "config must be NULL (reserved)");
    if (color < 0 && color != TORC_SPLIT_NOCOLOR)
      return errorf(Code::kInvalidArgument, "color %d is negative (TORC_SPLIT_NOCOLOR is %d)", color, TORC_SPLIT_NOCOLOR);
    Comm& c = *comm->comm;
    const int p = c.nranks(), me = c.rank();
    // Everyone learns everyone's (color, key); then each group's first rank makes a unique id
    // and everyone learns those too (ranks contribute an empty id unless they lead a group).
    int32_t mine[2] = {color, key};
    std::vector<int32_t> all(2 * static_cast<size_t>(p));
    algos::CollArgs a;
    a.coll = algos::Coll::kAllGather;
    a.count = 2;
    TORC_RETURN_IF_ERROR(c.run(a, mine, all.data(), DType::kInt32, RedOp::kSum));
    std::vector<int> members;
    for (int r = 0; r < p; ++r)
      if (color != TORC_SPLIT_NOCOLOR && all[2 * static_cast<size_t>(r)] == color) members.push_back(r);
    std::stable_sort(members.begin(), members.end(), [&](int x, int y) {
      return all[2 * static_cast<size_t>(x) + 1] < all[2 * static_cast<size_t>(y) + 1];
    });
    torcUniqueId myId{};
    Status made = Status::ok();
    if (!members.empty() && members[0] == me) {
      auto root = makeRoot(torcParamSocketIfname());
      if (root.isOk())
        core::packUniqueId(root.value(), &myId);
      else
        made = root.status();  // the members find an empty id and fail with the same story
    }
    std::vector<torcUniqueId> ids(static_cast<size_t>(p));
    a.count = sizeof(torcUniqueId);
    TORC_RETURN_IF_ERROR(c.run(a, &myId, ids.data(), DType::kUint8, RedOp::kSum));
    TORC_RETURN_IF_ERROR(made);
    if (members.empty()) return Status::ok();
    auto root = core::unpackUniqueId(ids[static_cast<size_t>(members[0])]);
    if (!root.isOk())
      return errorf(Code::kRemoteError, "rank %d could not host the new communicator's rendezvous", members[0]);
    const int newRank = static_cast<int>(std::find(members.begin(), members.end(), me) - members.begin());
    return initComm(newcomm, root.value(), static_cast<int>(members.size()), newRank);
  });
}

torcResult_t torcCommInitAll(torcComm_t* comms, int ndev, const int* devlist) {
  (void)devlist;  // host collectives do not use devices
  return guard(nullptr, "torcCommInitAll", [&]() -> Status {
    if (comms == nullptr) return Status(Code::kInvalidArgument, "comms is NULL");
    if (ndev < 1 || ndev > kMaxThreadRanks)
      return errorf(Code::kInvalidArgument, "ndev %d is outside [1, %d]", ndev, kMaxThreadRanks);
    TORC_ASSIGN_OR_RETURN(core::RootInfo root, makeRoot("lo"));
    std::vector<Status> results(static_cast<size_t>(ndev));
    std::vector<std::thread> threads;
    for (int r = 0; r < ndev; ++r) comms[r] = nullptr;
    for (int r = 0; r < ndev; ++r) {
      // If a thread cannot be made, the ranks already started time out at the rendezvous.
      try {
        threads.emplace_back([&, r] {
        setLogRank(r);
        try {
          results[static_cast<size_t>(r)] = initComm(&comms[r], root, ndev, r);
        } catch (...) {
          results[static_cast<size_t>(r)] = Status(Code::kInternalError, "exception during init");
        }
        });
      } catch (const std::system_error& e) {
        for (int q = r; q < ndev; ++q)
          results[static_cast<size_t>(q)] = Status(Code::kSystemError, std::string("cannot start a thread: ") + e.what());
        break;
      }
    }
    for (auto& t : threads) t.join();
    for (int r = 0; r < ndev; ++r) {
      if (results[static_cast<size_t>(r)].isOk()) continue;
      for (int q = 0; q < ndev; ++q) {
        delete comms[q];
        comms[q] = nullptr;
      }
      return results[static_cast<size_t>(r)].withContext("rank " + std::to_string(r));
    }
    return Status::ok();
  });
}

torcResult_t torcCommInitFromEnv(torcComm_t* comm) {
  return guard(nullptr, "torcCommInitFromEnv", [&]() -> Status {
    if (comm == nullptr) return Status(Code::kInvalidArgument, "comm is NULL");
    *comm = nullptr;
    TORC_ASSIGN_OR_RETURN(core::LaunchEnv env, core::readLaunchEnv());
    setLogRank(env.rank);
    if (env.rank == 0) {
      SockAddr bind = env.root.addr;
      if (bind.ss.ss_family == AF_INET) reinterpret_cast<sockaddr_in*>(&bind.ss)->sin_addr.s_addr = htonl(INADDR_ANY);
      Result<SockAddr> started =
          core::startRoot(bind, env.root.addr, env.root.secret, core::effectiveTimeout(), false);
      if (!started.isOk()) return started.status().withContext("starting the rendezvous (" + env.source + ")");
    }
    return initComm(comm, env.root, env.nranks, env.rank);
  });
}

torcResult_t torcCommDestroy(torcComm_t comm) {
  if (comm == nullptr) return torcSuccess;
  return guard(nullptr, "torcCommDestroy", [&] {
    if (const int open = comm->async->open.load(); open > 0)
      return errorf(Code::kInvalidUsage,
                    "%d asynchronous request(s) of this communicator are still open: complete them with torcWait "
                    "(or torcCommAbort)", open);
    comm->async->detach();
    delete comm;
    return Status::ok();
  });
}

torcResult_t torcCommAbort(torcComm_t comm) {
  if (comm == nullptr) return torcSuccess;
  return guard(nullptr, "torcCommAbort", [&] {
    comm->async->detach();  // open requests complete without it
    if (comm->comm) comm->comm->abort();  // a call blocked in another thread returns promptly
    while (comm->activeCalls.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    delete comm;
    return Status::ok();
  });
}

torcResult_t torcCommCount(const torcComm_t comm, int* count) {
  return guard(comm, "torcCommCount", [&] {
    TORC_RETURN_IF_ERROR(checkComm(comm));
    if (count == nullptr) return Status(Code::kInvalidArgument, "count is NULL");
    *count = comm->comm->nranks();
    return Status::ok();
  });
}

torcResult_t torcCommUserRank(const torcComm_t comm, int* rank) {
  return guard(comm, "torcCommUserRank", [&] {
    TORC_RETURN_IF_ERROR(checkComm(comm));
    if (rank == nullptr) return Status(Code::kInvalidArgument, "rank is NULL");
    *rank = comm->comm->rank();
    return Status::ok();
  });
}

torcResult_t torcCommGetAsyncError(torcComm_t comm, torcResult_t* asyncError) {
  return guard(comm, "torcCommGetAsyncError", [&] {
    TORC_RETURN_IF_ERROR(checkComm(comm));
    if (asyncError == nullptr) return Status(Code::kInvalidArgument, "asyncError is NULL");
    *asyncError = static_cast<torcResult_t>(comm->comm->asyncError().code());
    return Status::ok();
  });
}

// The collectives, blocking (request == nullptr) or asynchronous: the same checks, at once.
static torcResult_t allReduce(const void* sendbuff, void* recvbuff, size_t count, torcDataType_t datatype,
                              torcRedOp_t op, torcComm_t comm, torcStream_t stream, torcRequest_t* request, const char* fn) {
  return guard(comm, fn, [&] {
    TORC_RETURN_IF_ERROR(checkComm(comm));
    TORC_RETURN_IF_ERROR(checkType(datatype));
    TORC_RETURN_IF_ERROR(checkOp(op));
    size_t bytes = 0;
    TORC_RETURN_IF_ERROR(checkBytes(count, datatype, 1, &bytes));
    TORC_RETURN_IF_ERROR(checkBuf(sendbuff, count, "sendbuff"));
    TORC_RETURN_IF_ERROR(checkBuf(recvbuff, count, "recvbuff"));
    TORC_RETURN_IF_ERROR(checkOverlap(sendbuff, bytes, recvbuff, bytes, 0, true));
    return launchStaged(comm, request, stream, collArgs(algos::Coll::kAllReduce, count), sendbuff, bytes, recvbuff,
                        bytes, static_cast<DType>(datatype), static_cast<RedOp>(op));
  });
}

static torcResult_t broadcast(const void* sendbuff, void* recvbuff, size_t count, torcDataType_t datatype, int root,
                              torcComm_t comm, torcStream_t stream, torcRequest_t* request, const char* fn) {
  return guard(comm, fn, [&] {
    TORC_RETURN_IF_ERROR(checkComm(comm));
    TORC_RETURN_IF_ERROR(checkType(datatype));
    TORC_RETURN_IF_ERROR(checkRank(root, comm->comm->nranks(), "root"));
    size_t bytes = 0;
    TORC_RETURN_IF_ERROR(checkBytes(count, datatype, 1, &bytes));
    bool isRoot = root == comm->comm->rank();
    if (isRoot) TORC_RETURN_IF_ERROR(checkBuf(sendbuff, count, "sendbuff"));
    TORC_RETURN_IF_ERROR(checkBuf(recvbuff, count, "recvbuff"));
    if (isRoot) TORC_RETURN_IF_ERROR(checkOverlap(sendbuff, bytes, recvbuff, bytes, 0, true));
    algos::CollArgs a = collArgs(algos::Coll::kBroadcast, count);
    a.root = root;
    return launchStaged(comm, request, stream, a, isRoot ? sendbuff : nullptr, isRoot ? bytes : 0, recvbuff, bytes,
                        static_cast<DType>(datatype), RedOp::kSum);
  });
}

static torcResult_t reduce(const void* sendbuff, void* recvbuff, size_t count, torcDataType_t datatype,
                           torcRedOp_t op, int root, torcComm_t comm, torcStream_t stream, torcRequest_t* request, const char* fn) {
  return guard(comm, fn, [&] {
    TORC_RETURN_IF_ERROR(checkComm(comm));
    TORC_RETURN_IF_ERROR(checkType(datatype));
    TORC_RETURN_IF_ERROR(checkOp(op));
    TORC_RETURN_IF_ERROR(checkRank(root, comm->comm->nranks(), "root"));
    size_t bytes = 0;
    TORC_RETURN_IF_ERROR(checkBytes(count, datatype, 1, &bytes));
    TORC_RETURN_IF_ERROR(checkBuf(sendbuff, count, "sendbuff"));
    bool isRoot = root == comm->comm->rank();
    if (isRoot) {
      TORC_RETURN_IF_ERROR(checkBuf(recvbuff, count, "recvbuff"));
      TORC_RETURN_IF_ERROR(checkOverlap(sendbuff, bytes, recvbuff, bytes, 0, true));
    }
    algos::CollArgs a = collArgs(algos::Coll::kReduce, count);
    a.root = root;
    return launchStaged(comm, request, stream, a, sendbuff, bytes, isRoot ? recvbuff : nullptr, isRoot ? bytes : 0,
                        static_cast<DType>(datatype), static_cast<RedOp>(op));
  });
}

static torcResult_t allGather(const void* sendbuff, void* recvbuff, size_t sendcount, torcDataType_t datatype,
                              torcComm_t comm, torcStream_t stream, torcRequest_t* request, const char* fn) {
  return guard(comm, fn, [&] {
    TORC_RETURN_IF_ERROR(checkComm(comm));
    TORC_RETURN_IF_ERROR(checkType(datatype));
    const size_t p = static_cast<size_t>(comm->comm->nranks());
    size_t inBytes = 0, outBytes = 0;
    TORC_RETURN_IF_ERROR(checkBytes(sendcount, datatype, 1, &inBytes));
    TORC_RETURN_IF_ERROR(checkBytes(sendcount, datatype, p, &outBytes));
    TORC_RETURN_IF_ERROR(checkBuf(sendbuff, sendcount, "sendbuff"));
    TORC_RETURN_IF_ERROR(checkBuf(recvbuff, sendcount, "recvbuff"));
    TORC_RETURN_IF_ERROR(checkOverlap(sendbuff, inBytes, recvbuff, outBytes,
                                      inBytes * static_cast<size_t>(comm->comm->rank()), false));
    return launchStaged(comm, request, stream, collArgs(algos::Coll::kAllGather, sendcount), sendbuff, inBytes,
                        recvbuff, outBytes, static_cast<DType>(datatype), RedOp::kSum);
  });
}

static torcResult_t reduceScatter(const void* sendbuff, void* recvbuff, size_t recvcount, torcDataType_t datatype,
                                  torcRedOp_t op, torcComm_t comm, torcStream_t stream, torcRequest_t* request, const char* fn) {
  return guard(comm, fn, [&] {
    TORC_RETURN_IF_ERROR(checkComm(comm));
    TORC_RETURN_IF_ERROR(checkType(datatype));
    TORC_RETURN_IF_ERROR(checkOp(op));
    const size_t p = static_cast<size_t>(comm->comm->nranks());
    size_t inBytes = 0, outBytes = 0;
    TORC_RETURN_IF_ERROR(checkBytes(recvcount, datatype, p, &inBytes));
    TORC_RETURN_IF_ERROR(checkBytes(recvcount, datatype, 1, &outBytes));
    TORC_RETURN_IF_ERROR(checkBuf(sendbuff, recvcount, "sendbuff"));
    TORC_RETURN_IF_ERROR(checkBuf(recvbuff, recvcount, "recvbuff"));
    TORC_RETURN_IF_ERROR(checkOverlap(sendbuff, inBytes, recvbuff, outBytes,
                                      outBytes * static_cast<size_t>(comm->comm->rank()), true));
    return launchStaged(comm, request, stream, collArgs(algos::Coll::kReduceScatter, recvcount), sendbuff, inBytes,
                        recvbuff, outBytes, static_cast<DType>(datatype), static_cast<RedOp>(op));
  });
}

torcResult_t torcAllReduce(const void* sendbuff, void* recvbuff, size_t count, torcDataType_t datatype,
                           torcRedOp_t op, torcComm_t comm, torcStream_t stream) {
  return allReduce(sendbuff, recvbuff, count, datatype, op, comm, stream, nullptr, "torcAllReduce");
}
torcResult_t torcAllReduceAsync(const void* sendbuff, void* recvbuff, size_t count, torcDataType_t datatype,
                                torcRedOp_t op, torcComm_t comm, torcRequest_t* request) {
  if (request == nullptr) return finish(comm, "torcAllReduceAsync", Status(Code::kInvalidArgument, "request is NULL"));
  *request = nullptr;
  return allReduce(sendbuff, recvbuff, count, datatype, op, comm, nullptr, request, "torcAllReduceAsync");
}

torcResult_t torcBroadcast(const void* sendbuff, void* recvbuff, size_t count, torcDataType_t datatype, int root,
                           torcComm_t comm, torcStream_t stream) {
  return broadcast(sendbuff, recvbuff, count, datatype, root, comm, stream, nullptr, "torcBroadcast");
}
torcResult_t torcBroadcastAsync(const void* sendbuff, void* recvbuff, size_t count, torcDataType_t datatype, int root,
                                torcComm_t comm, torcRequest_t* request) {
  if (request == nullptr) return finish(comm, "torcBroadcastAsync", Status(Code::kInvalidArgument, "request is NULL"));
  *request = nullptr;
  return broadcast(sendbuff, recvbuff, count, datatype, root, comm, nullptr, request, "torcBroadcastAsync");
}

torcResult_t torcReduce(const void* sendbuff, void* recvbuff, size_t count, torcDataType_t datatype, torcRedOp_t op,
                        int root, torcComm_t comm, torcStream_t stream) {
  return reduce(sendbuff, recvbuff, count, datatype, op, root, comm, stream, nullptr, "torcReduce");
}
torcResult_t torcReduceAsync(const void* sendbuff, void* recvbuff, size_t count, torcDataType_t datatype,
                             torcRedOp_t op, int root, torcComm_t comm, torcRequest_t* request) {
  if (request == nullptr) return finish(comm, "torcReduceAsync", Status(Code::kInvalidArgument, "request is NULL"));
  *request = nullptr;
  return reduce(sendbuff, recvbuff, count, datatype, op, root, comm, nullptr, request, "torcReduceAsync");
}

torcResult_t torcAllGather(const void* sendbuff, void* recvbuff, size_t sendcount, torcDataType_t datatype,
                           torcComm_t comm, torcStream_t stream) {
  return allGather(sendbuff, recvbuff, sendcount, datatype, comm, stream, nullptr, "torcAllGather");
}
torcResult_t torcAllGatherAsync(const void* sendbuff, void* recvbuff, size_t sendcount, torcDataType_t datatype,
                                torcComm_t comm, torcRequest_t* request) {
  if (request == nullptr) return finish(comm, "torcAllGatherAsync", Status(Code::kInvalidArgument, "request is NULL"));
  *request = nullptr;
  return allGather(sendbuff, recvbuff, sendcount, datatype, comm, nullptr, request, "torcAllGatherAsync");
}

torcResult_t torcReduceScatter(const void* sendbuff, void* recvbuff, size_t recvcount, torcDataType_t datatype,
                               torcRedOp_t op, torcComm_t comm, torcStream_t stream) {
  return reduceScatter(sendbuff, recvbuff, recvcount, datatype, op, comm, stream, nullptr, "torcReduceScatter");
}
torcResult_t torcReduceScatterAsync(const void* sendbuff, void* recvbuff, size_t recvcount, torcDataType_t datatype,
                                    torcRedOp_t op, torcComm_t comm, torcRequest_t* request) {
  if (request == nullptr) return finish(comm, "torcReduceScatterAsync", Status(Code::kInvalidArgument, "request is NULL"));
  *request = nullptr;
  return reduceScatter(sendbuff, recvbuff, recvcount, datatype, op, comm, nullptr, request, "torcReduceScatterAsync");
}

static torcResult_t p2p(bool send, const void* buf, size_t count, torcDataType_t datatype, int peer,
                        torcComm_t comm, torcStream_t stream) {
  return guard(comm, send ? "torcSend" : "torcRecv", [&] {
    TORC_RETURN_IF_ERROR(checkComm(comm));
    TORC_RETURN_IF_ERROR(checkType(datatype));
    TORC_RETURN_IF_ERROR(checkRank(peer, comm->comm->nranks(), "peer"));
    if (peer == comm->comm->rank())
      return Status(Code::kInvalidUsage, "a blocking send or receive to oneself would never complete");
    size_t bytes = 0;
    TORC_RETURN_IF_ERROR(checkBytes(count, datatype, 1, &bytes));
    TORC_RETURN_IF_ERROR(checkBuf(buf, count, send ? "sendbuff" : "recvbuff"));
    algos::CollArgs a = collArgs(send ? algos::Coll::kSend : algos::Coll::kRecv, count);
    a.peer = peer;
    return launchStaged(comm, nullptr, stream, a, send ? buf : nullptr, send ? bytes : 0,
                        send ? nullptr : const_cast<void*>(buf), send ? 0 : bytes, static_cast<DType>(datatype),
                        RedOp::kSum);
  });
}

torcResult_t torcSend(const void* sendbuff, size_t count, torcDataType_t datatype, int peer, torcComm_t comm,
                      torcStream_t stream) {
  return p2p(true, sendbuff, count, datatype, peer, comm, stream);
}

torcResult_t torcRecv(void* recvbuff, size_t count, torcDataType_t datatype, int peer, torcComm_t comm,
                      torcStream_t stream) {
  return p2p(false, recvbuff, count, datatype, peer, comm, stream);
}

torcResult_t torcBarrier(torcComm_t comm, torcStream_t) {
  return guard(comm, "torcBarrier", [&] {
    TORC_RETURN_IF_ERROR(checkComm(comm));
    return comm->comm->run(collArgs(algos::Coll::kBarrier, 0), nullptr, nullptr, DType::kUint8, RedOp::kSum);
  });
}

}  // extern "C"
