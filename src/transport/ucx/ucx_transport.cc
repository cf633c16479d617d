// Transport over UCX's UCP layer: tagged non-blocking send/recv on one worker per instance.
// UCX chooses the wire itself (shared memory and CMA for peers on this node, TCP otherwise);
// TORC_UCX_TLS is handed to UCX unchanged. Peer failure arrives through the endpoints' error
// handler (UCP_ERR_HANDLING_MODE_PEER) and is reported per peer.
#include <poll.h>
#include <ucp/api/ucp.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "src/base/log.h"
#include "src/base/param.h"
#include "src/transport/transport.h"

TORC_PARAM(UcxTls, std::string, "UCX_TLS", std::string(""),
           "UCX transports to use (passed to UCX as UCX_TLS; empty: UCX's choice)");
TORC_PARAM(UcxRndvThresh, std::string, "UCX_RNDV_THRESH", std::string("16M"),
           "messages from this size on use UCX's rendezvous protocol (UCX_RNDV_THRESH, when that is unset)");

namespace torc::transport {
namespace {

class UcxTransport;

struct ErrArg {
  UcxTransport* transport;
  int peer;
};

class UcxMemoryRegion : public MemoryRegion {
 public:
  UcxMemoryRegion(ucp_context_h ctx, ucp_mem_h memh, void* base, size_t size)
      : MemoryRegion(base, size), ctx_(ctx), memh_(memh) {}
  ~UcxMemoryRegion() override { ucp_mem_unmap(ctx_, memh_); }
  std::vector<uint8_t> serialize() const override {
    void* buf = nullptr;
    size_t len = 0;
    if (ucp_rkey_pack(ctx_, memh_, &buf, &len) != UCS_OK) return {};
    std::vector<uint8_t> out(static_cast<uint8_t*>(buf), static_cast<uint8_t*>(buf) + len);
    ucp_rkey_buffer_release(buf);
    return out;
  }

 private:
  ucp_context_h ctx_;
  ucp_mem_h memh_;
};

void sendDone(void* request, ucs_status_t status, void* userData) {
  auto* req = static_cast<Request*>(userData);
  req->impl_ = nullptr;
  if (status == UCS_OK) {
    req->complete(0);
  } else {
    req->fail(errorf(Code::kRemoteError, "send to rank %d failed: %s", req->peer_, ucs_status_string(status)));
  }
  ucp_request_free(request);
}

void recvDone(void* request, ucs_status_t status, const ucp_tag_recv_info_t* info, void* userData) {
  auto* req = static_cast<Request*>(userData);
  req->impl_ = nullptr;
  if (status == UCS_OK) {
    req->complete(info->length);
  } else if (status == UCS_ERR_MESSAGE_TRUNCATED) {
    req->fail(errorf(Code::kInvalidUsage,
                     "rank %d sent more bytes than expected (do all ranks pass the same count and type?)", req->peer_));
  } else if (status == UCS_ERR_CANCELED) {
    req->fail(errorf(Code::kRemoteError, "receive from rank %d cancelled", req->peer_));
  } else {
    req->fail(errorf(Code::kRemoteError, "receive from rank %d failed: %s", req->peer_, ucs_status_string(status)));
  }
  ucp_request_free(request);
}

class UcxEndpoint : public Endpoint {
 public:
  UcxEndpoint(int peer, ucp_worker_h worker, ucp_ep_h ep, bool peerErrMode, std::vector<void*>* closing)
      : Endpoint(peer), worker_(worker), ep_(ep), peerErrMode_(peerErrMode), closing_(closing) {}
  ~UcxEndpoint() override { close(false); }

  Status postSend(const void* buf, size_t len, Tag tag, Request* req) override {
    req->begin();
    req->peer_ = peer();
    ucp_request_param_t p{};
    p.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    p.cb.send = sendDone;
    p.user_data = req;
    ucs_status_ptr_t sp = ucp_tag_send_nbx(ep_, buf, len, tag, &p);
    if (sp == nullptr) {
      req->complete(0);
    } else if (UCS_PTR_IS_ERR(sp)) {
      Status s = errorf(Code::kRemoteError, "send to rank %d: %s", peer(), ucs_status_string(UCS_PTR_STATUS(sp)));
      req->fail(s);
      return s;
    } else {
      req->impl_ = sp;
    }
    return Status::ok();
  }

  Status postRecv(void* buf, size_t len, Tag tag, Request* req) override {
    req->begin();
    req->peer_ = peer();
    // No immediate completion: UCX 1.13 returns NULL for a receive that matched at once
    // without filling recv_info, and the received length is what proves the peer agreed.
    ucp_request_param_t p{};
    p.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FLAG_NO_IMM_CMPL;
    p.cb.recv = recvDone;
    p.user_data = req;
    ucs_status_ptr_t sp = ucp_tag_recv_nbx(worker_, buf, len, tag, ~Tag{0}, &p);
    if (sp == nullptr) {
      req->fail(errorf(Code::kInternalError, "receive from rank %d completed without a request", peer()));
    } else if (UCS_PTR_IS_ERR(sp)) {
      Status s = errorf(Code::kInternalError, "receive from rank %d: %s", peer(), ucs_status_string(UCS_PTR_STATUS(sp)));
      req->fail(s);
      return s;
    } else {
      req->impl_ = sp;
    }
    return Status::ok();
  }

  // A normal close flushes, so data UCX still buffers reaches a peer that is finishing its last
  // operation. An abortive close does not wait for the peer; UCX allows forcing it only on
  // endpoints with peer-error handling, so the others get a short flush instead.
  void close(bool abortive) override {
    if (ep_ == nullptr) return;
    ucp_request_param_t p{};
    p.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
    p.flags = abortive && peerErrMode_ ? UCP_EP_CLOSE_FLAG_FORCE : 0;
    ucs_status_ptr_t sp = ucp_ep_close_nbx(ep_, &p);
    if (UCS_PTR_IS_PTR(sp)) closing_->push_back(sp);  // the transport waits for all closes at once
    ep_ = nullptr;
  }

 private:
  ucp_worker_h worker_;
  ucp_ep_h ep_;
  bool peerErrMode_;
  std::vector<void*>* closing_;
};

class UcxTransport : public Transport {
 public:
  static Result<std::unique_ptr<Transport>> create(const TransportOptions& opts) {
    auto t = std::unique_ptr<UcxTransport>(new UcxTransport(opts));
    TORC_RETURN_IF_ERROR(t->init());
    return std::unique_ptr<Transport>(std::move(t));
  }

  ~UcxTransport() override {
    // Endpoints closed by now; give their flushes one shared second (a peer that is busy or
    // gone must not hold destroy up), then release the requests either way: UCX frees a
    // released request when it completes, and refuses to destroy a worker with unreleased ones.
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    for (;;) {
      bool pending = false;
      for (void* r : closing_) pending |= ucp_request_check_status(r) == UCS_INPROGRESS;
      if (!pending || std::chrono::steady_clock::now() > until) break;
      ucp_worker_progress(worker_);
    }
    for (void* r : closing_) ucp_request_free(r);
    if (worker_) ucp_worker_destroy(worker_);
    if (context_) ucp_cleanup(context_);
  }

  const char* name() const override { return "ucx"; }
  std::vector<uint8_t> address() const override { return address_; }

  Status connect(int peer, const std::vector<uint8_t>& address, bool sameNode,
                 std::unique_ptr<Endpoint>* ep) override {
    // The error handler's argument lives as long as the transport: an endpoint whose close
    // did not finish may still report through it.
    errArgs_.push_back(std::make_unique<ErrArg>(ErrArg{this, peer}));
    ErrArg* arg = errArgs_.back().get();
    ucp_ep_params_t p{};
    p.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                   UCP_EP_PARAM_FIELD_ERR_HANDLER;
    p.address = reinterpret_cast<const ucp_address_t*>(address.data());
    // UCX 1.13 offers no shared-memory transport under peer-failure handling (it falls back to
    // TCP over loopback, 10x slower), so peers on this node go without it and are watched by
    // the communicator instead (process liveness); remote peers get it, as TCP supports it.
    p.err_mode = sameNode ? UCP_ERR_HANDLING_MODE_NONE : UCP_ERR_HANDLING_MODE_PEER;
    p.err_handler.cb = &UcxTransport::onEpError;
    p.err_handler.arg = arg;
    ucp_ep_h h = nullptr;
    ucs_status_t st = ucp_ep_create(worker_, &p, &h);
    if (st != UCS_OK) return errorf(Code::kRemoteError, "ucp_ep_create to rank %d: %s", peer, ucs_status_string(st));
    *ep = std::make_unique<UcxEndpoint>(peer, worker_, h, !sameNode, &closing_);
    return Status::ok();
  }

  Status registerMemory(void* base, size_t size, std::unique_ptr<MemoryRegion>* mr) override {
    ucp_mem_map_params_t p{};
    p.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH;
    p.address = base;
    p.length = size;
    ucp_mem_h memh = nullptr;
    ucs_status_t st = ucp_mem_map(context_, &p, &memh);
    if (st != UCS_OK) return errorf(Code::kSystemError, "ucp_mem_map of %zu bytes: %s", size, ucs_status_string(st));
    *mr = std::make_unique<UcxMemoryRegion>(context_, memh, base, size);
    return Status::ok();
  }

  bool progress() override { return ucp_worker_progress(worker_) != 0; }

  void waitForEvent(int timeoutMs) override {
    if (efd_ < 0) {
      std::this_thread::yield();
      return;
    }
    ucs_status_t st = ucp_worker_arm(worker_);
    if (st == UCS_ERR_BUSY) return;  // events pending: go progress them
    pollfd p{efd_, POLLIN, 0};
    ::poll(&p, 1, timeoutMs);
  }

  void cancel(Request* req) override {
    if (req->pending() && req->impl_ != nullptr) ucp_request_cancel(worker_, req->impl_);
  }

  std::string peerFailure(int peer) const override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = failures_.find(peer);
    return it == failures_.end() ? std::string() : it->second;
  }

 private:
  explicit UcxTransport(const TransportOptions& opts) : opts_(opts) {}

  static void onEpError(void* arg, ucp_ep_h, ucs_status_t status) {
    auto* a = static_cast<ErrArg*>(arg);
    std::lock_guard<std::mutex> lock(a->transport->mu_);
    if (a->transport->failures_.count(a->peer) == 0) {
      a->transport->failures_[a->peer] = ucs_status_string(status);
      TORC_INFO(kLogUcx, "ucx: connection to rank %d failed: %s", a->peer, ucs_status_string(status));
    }
  }

  Status init() {
    ucp_config_t* config = nullptr;
    ucs_status_t st = ucp_config_read(nullptr, nullptr, &config);
    if (st != UCS_OK) return errorf(Code::kSystemError, "ucp_config_read: %s", ucs_status_string(st));
    std::string tls = torcParamUcxTls();
    if (!tls.empty()) {
      st = ucp_config_modify(config, "TLS", tls.c_str());
      if (st != UCS_OK) {
        ucp_config_release(config);
        return errorf(Code::kInvalidArgument, "TORC_UCX_TLS=%s: %s", tls.c_str(), ucs_status_string(st));
      }
    }
    // torc's collectives send chunks (TORC_CHUNK_BYTES) into receives it has posted, so
    // rendezvous buys no copy and costs a round trip per chunk; over TCP that round trip waits
    // behind the link's queue (milliseconds on a loaded 1 Gbit/s link: 13 instead of 19 ms for
    // a 1 MiB all-reduce on 4 nodes). Users' point-to-point messages above the threshold still
    // use it (no unexpected 256 MiB eager message buffered by UCX).
    std::string rndv = torcParamUcxRndvThresh();
    if (getenv("UCX_RNDV_THRESH") == nullptr && !rndv.empty()) {
      st = ucp_config_modify(config, "RNDV_THRESH", rndv.c_str());
      if (st != UCS_OK) {
        ucp_config_release(config);
        return errorf(Code::kInvalidArgument, "TORC_UCX_RNDV_THRESH=%s: %s", rndv.c_str(), ucs_status_string(st));
      }
    }
    ucp_params_t params{};
    params.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_ESTIMATED_NUM_EPS;
    params.features = UCP_FEATURE_TAG | UCP_FEATURE_WAKEUP;
    params.estimated_num_eps = static_cast<size_t>(opts_.nranks);
    st = ucp_init(&params, config, &context_);
    ucp_config_release(config);
    if (st != UCS_OK && !tls.empty())
      return errorf(Code::kInvalidArgument, "ucp_init: %s with TORC_UCX_TLS=%s (ucx_info -d lists this machine's transports)",
                    ucs_status_string(st), tls.c_str());
    if (st != UCS_OK) return errorf(Code::kSystemError, "ucp_init: %s", ucs_status_string(st));

    ucp_worker_params_t wp{};
    wp.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
    wp.thread_mode = UCS_THREAD_MODE_SINGLE;
    st = ucp_worker_create(context_, &wp, &worker_);
    if (st != UCS_OK) return errorf(Code::kSystemError, "ucp_worker_create: %s", ucs_status_string(st));
    if (ucp_worker_get_efd(worker_, &efd_) != UCS_OK) {
      efd_ = -1;
      TORC_INFO(kLogUcx, "ucx: no wake-up fd; waiting will yield instead");
    }
    ucp_address_t* addr = nullptr;
    size_t len = 0;
    st = ucp_worker_get_address(worker_, &addr, &len);
    if (st != UCS_OK) return errorf(Code::kSystemError, "ucp_worker_get_address: %s", ucs_status_string(st));
    address_.assign(reinterpret_cast<uint8_t*>(addr), reinterpret_cast<uint8_t*>(addr) + len);
    ucp_worker_release_address(worker_, addr);
    TORC_INFO(kLogUcx, "ucx: worker ready, address %zu bytes%s%s", len, tls.empty() ? "" : ", TLS=",
              tls.c_str());
    return Status::ok();
  }

  TransportOptions opts_;
  ucp_context_h context_ = nullptr;
  ucp_worker_h worker_ = nullptr;
  int efd_ = -1;
  std::vector<uint8_t> address_;
  mutable std::mutex mu_;
  std::map<int, std::string> failures_;
  std::vector<std::unique_ptr<ErrArg>> errArgs_;
  std::vector<void*> closing_;  // endpoint-close requests in flight
};

}  // namespace

Result<std::unique_ptr<Transport>> createUcxTransport(const TransportOptions& opts) {
  return UcxTransport::create(opts);
}

}  // namespace torc::transport
