#include "perf/baselines/gloo_backend.h"

#include <gloo/barrier.h>
#include <gloo/config.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/rendezvous/hash_store.h>
#include <gloo/rendezvous/prefix_store.h>
#include <gloo/transport/buffer.h>
#include <gloo/transport/pair.h>
#include <gloo/transport/tcp/device.h>
#include <gloo/transport/unbound_buffer.h>
#include <gloo/types.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <vector>

#include "perf/baselines/gloo_ops.h"

namespace torc::perf {
namespace {

using gloo_ops::Algo;
using Runner = std::function<void()>;

struct Variant {
  Coll coll;
  const char* name;
  Algo algo;
};

// The first variant of each collective is its default.
constexpr Variant kVariants[] = {
    {Coll::kAllReduce, "new", Algo::kNew},
    {Coll::kAllReduce, "new_bcube", Algo::kNewBcube},
    {Coll::kAllReduce, "ring", Algo::kRing},
    {Coll::kAllReduce, "ring_chunked", Algo::kRingChunked},
    {Coll::kAllReduce, "halving_doubling", Algo::kHalvingDoubling},
    {Coll::kAllReduce, "bcube", Algo::kBcube},
    {Coll::kAllGather, "new", Algo::kNew},
    {Coll::kAllGather, "ring", Algo::kRing},
    {Coll::kBroadcast, "new", Algo::kNew},
    {Coll::kBroadcast, "one_to_all", Algo::kOneToAll},
    {Coll::kReduce, "new", Algo::kNew},
    {Coll::kReduceScatter, "halving_doubling", Algo::kHalvingDoubling},
};
constexpr int kNumVariants = static_cast<int>(sizeof(kVariants) / sizeof(kVariants[0]));

// A measurement touches its own operation, then the driver's time and error-count
// all-reduces: three entries keep all of them bound while holding at most one large
// algorithm (ring_chunked keeps two inboxes the size of the buffer).
constexpr size_t kCacheEntries = 3;

// Slot prefix of the warm-up exchange, clear of Gloo's own (1..8).
constexpr uint8_t kWarmUpSlotPrefix = 0x40;

bool envInt(const char* name, long lo, long hi, int* out) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return false;
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) return false;
  *out = static_cast<int>(v);
  return true;
}

std::string sanitize(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' ? c : '_';
  return out;
}

// A name for this job that every rank computes alike, or "" when the launcher gave none.
std::string jobTag() {
  const char* root = std::getenv("TORC_ROOT_ADDR");
  if (root != nullptr && *root != '\0') {
    const char* secret = std::getenv("TORC_SECRET");
    return sanitize(std::string(root) + (secret ? "-" + std::string(secret).substr(0, 8) : ""));
  }
  for (const char* var : {"OMPI_MCA_ess_base_jobid", "PMIX_NAMESPACE"}) {
    const char* id = std::getenv(var);
    if (id != nullptr && *id != '\0') return "ompi-" + sanitize(id);
  }
  return "";
}

}  // namespace

GlooBackend::~GlooBackend() {
  cache_.clear();  // the bound algorithms go before the context they use
}

std::string GlooBackend::version() const {
  std::string v = std::to_string(GLOO_VERSION_MAJOR) + "." + std::to_string(GLOO_VERSION_MINOR) + "." +
                  std::to_string(GLOO_VERSION_PATCH);
  if (variant_ >= 0) v += std::string(" (") + kVariants[variant_].name + ")";
  return v;
}

int GlooBackend::algoFor(Coll coll) const {
  if (coll == benched_ && variant_ >= 0) return variant_;
  for (int i = 0; i < kNumVariants; ++i) {
    if (kVariants[i].coll == coll) return i;
  }
  return -1;
}

bool GlooBackend::init() {
  const char* algo = std::getenv("TORC_ALGO");  // from -A
  std::string known;
  for (int i = 0; i < kNumVariants; ++i) {
    if (kVariants[i].coll != benched_) continue;
    if (variant_ < 0 && (algo == nullptr || *algo == '\0')) variant_ = i;
    if (algo != nullptr && std::strcmp(algo, kVariants[i].name) == 0) variant_ = i;
    known += std::string(known.empty() ? "" : ", ") + kVariants[i].name;
  }
  if (variant_ < 0) {
    error_ = std::string("unknown Gloo ") + collName(benched_) + " variant -A '" + algo + "' (known: " + known + ")";
    return false;
  }
  name_ = std::string("gloo-") + kVariants[variant_].name;

  if (envInt("TORC_RANK", 0, INT_MAX, &rank_)) {
    if (!envInt("TORC_NRANKS", 1, INT_MAX, &nranks_)) {
      error_ = "TORC_RANK is set but TORC_NRANKS is missing or bad";
      return false;
    }
  } else if (envInt("OMPI_COMM_WORLD_RANK", 0, INT_MAX, &rank_)) {
    if (!envInt("OMPI_COMM_WORLD_SIZE", 1, INT_MAX, &nranks_)) {
      error_ = "OMPI_COMM_WORLD_SIZE is missing or bad";
      return false;
    }
  }
  if (rank_ >= nranks_) {
    error_ = "rank " + std::to_string(rank_) + " is not below the size " + std::to_string(nranks_);
    return false;
  }
  try {
    return connect();
  } catch (const std::exception& e) {
    error_ = std::string("rendezvous: ") + e.what();
    return false;
  }
}

bool GlooBackend::connect() {
  gloo::transport::tcp::attr attr;
  const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
  if (ifname != nullptr && *ifname != '\0') {
    attr.iface = ifname;
  } else {
    attr.hostname = "127.0.0.1";
  }
  auto device = gloo::transport::tcp::CreateDevice(attr);
  int timeoutSec = 120;
  (void)envInt("TORC_TIMEOUT", 1, 86400, &timeoutSec);
  auto context = std::make_shared<gloo::rendezvous::Context>(rank_, nranks_);
  context->setTimeout(std::chrono::seconds(timeoutSec));

  if (nranks_ == 1) {
    gloo::rendezvous::HashStore store;
    context->connectFullMesh(store, device);
    context_ = context;
    return true;
  }
  const std::string tag = jobTag();
  std::string dir;
  const char* given = std::getenv("GLOO_STORE_DIR");
  const bool derived = given == nullptr || *given == '\0';
  if (!derived) {
    dir = given;
  } else if (!tag.empty()) {
    dir = "/tmp/torc-gloo-" + tag;
  } else {
    error_ = "no launcher job id (TORC_ROOT_ADDR, OMPI_MCA_ess_base_jobid): set GLOO_STORE_DIR";
    return false;
  }
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    error_ = "mkdir " + dir + ": " + std::strerror(errno);
    return false;
  }
  {
    // The job tag prefixes the keys, so stale files of an earlier job in a reused
    // GLOO_STORE_DIR are never read.
    gloo::rendezvous::FileStore files(dir);
    gloo::rendezvous::PrefixStore store(tag.empty() ? "job" : tag, files);
    context->connectFullMesh(store, device);
    context_ = context;
    if (!barrier()) return false;  // every rank has read every key
    for (const std::string& path : files.getAllKeyFilePaths()) unlink(path.c_str());
  }
  if (!barrier()) return false;
  if (derived && rank_ == 0) rmdir(dir.c_str());
  warmUpPairs();
  return barrier();
}

// Every rank sends a few messages of growing size to every other rank and receives theirs,
// so no pair is fresh when the first measurement starts.
//
// The last exchange goes through the classic bound buffers on purpose: a Gloo TCP pair sets
// its socket's send buffer (SO_SNDBUF, which also turns off the kernel's autotuning) to the
// largest message it has sent that way so far. A sweep that starts at 8 bytes would leave it
// locked a little too small at every step, and the classic algorithms then stall about 40 ms
// per call on delayed ACKs at some sizes. After one large send it is sized as in any job
// that has already moved a large message.
void GlooBackend::warmUpPairs() {
  constexpr size_t kSizes[] = {8, 64u << 10, 4u << 20};
  constexpr size_t kMax = 4u << 20;
  const auto slot = gloo::Slot::build(kWarmUpSlotPrefix, 0);
  std::vector<char> out(kMax, 1), in(kMax * static_cast<size_t>(nranks_), 0);
  auto outBuf = context_->createUnboundBuffer(out.data(), out.size());
  auto inBuf = context_->createUnboundBuffer(in.data(), in.size());
  const auto timeout = context_->getTimeout();
  for (int round = 0; round < 3; ++round) {
    for (size_t bytes : kSizes) {
      for (int peer = 0; peer < nranks_; ++peer) {
        if (peer != rank_) inBuf->recv(peer, slot, kMax * static_cast<size_t>(peer), bytes);
      }
      for (int peer = 0; peer < nranks_; ++peer) {
        if (peer != rank_) outBuf->send(peer, slot, 0, bytes);
      }
      for (int i = 1; i < nranks_; ++i) inBuf->waitRecv(timeout);
      for (int i = 1; i < nranks_; ++i) outBuf->waitSend(timeout);
    }
  }
  const int bound = context_->nextSlot();
  std::vector<std::unique_ptr<gloo::transport::Buffer>> sends, recvs;
  for (int peer = 0; peer < nranks_; ++peer) {
    if (peer == rank_) continue;
    auto& pair = context_->getPair(peer);
    recvs.push_back(pair->createRecvBuffer(bound, in.data() + kMax * static_cast<size_t>(peer), kMax));
    sends.push_back(pair->createSendBuffer(bound, out.data(), kMax));
  }
  for (auto& b : sends) b->send();
  for (auto& b : recvs) b->waitRecv();
  for (auto& b : sends) b->waitSend();
}

bool GlooBackend::supports(Coll coll, DType t, RedOp) const {
  if (t == DType::kBfloat16 && collReduces(coll)) return false;
  const int v = algoFor(coll);
  // AllreduceBcube needs the rank count divisible by its base (2).
  if (v >= 0 && kVariants[v].algo == Algo::kBcube && nranks_ > 1 && nranks_ % 2 != 0) return false;
  return v >= 0;
}

bool GlooBackend::barrier() {
  if (context_ == nullptr) {
    error_ = "barrier before init";
    return false;
  }
  try {
    gloo::BarrierOptions opts(context_);
    gloo::barrier(opts);
    return true;
  } catch (const std::exception& e) {
    error_ = std::string("gloo::barrier: ") + e.what();
    return false;
  }
}

Runner GlooBackend::build(const Key& k) {
  const Algo algo = kVariants[algoFor(k.coll)].algo;
  const size_t total =
      k.count * dtypeSize(k.type) * (k.coll == Coll::kAllGather || k.coll == Coll::kReduceScatter ? nranks_ : 1);
  if ((gloo_ops::isClassic(algo) || k.coll == Coll::kReduceScatter) && total > static_cast<size_t>(INT_MAX)) {
    error_ = std::to_string(total) + " bytes do not fit the int sizes of Gloo's classic algorithms";
    return nullptr;
  }
  Runner r = gloo_ops::build(context_, algo, k.coll, k.type, k.op, k.root, k.send, k.recv, k.count);
  if (!r) error_ = std::string("no Gloo ") + collName(k.coll) + " for " + dtypeName(k.type);
  return r;
}

bool GlooBackend::run(Coll coll, const void* send, void* recv, size_t count, DType t, RedOp op, int root) {
  if (context_ == nullptr) {
    error_ = "run before init";
    return false;
  }
  if (!supports(coll, t, op)) {
    error_ = std::string(name_) + " does not support " + collName(coll) + " of " + dtypeName(t);
    return false;
  }
  if (count == 0) return true;
  const Key key{coll, t, collReduces(coll) ? op : RedOp::kSum, collHasRoot(coll) ? root : -1, send, recv, count};
  try {
    // Building a classic algorithm takes slots from the context, so every rank must miss
    // and evict alike. They do: the driver makes the same calls on every rank, and a
    // buffer is reused on one rank exactly when it is reused on all.
    auto it = cache_.begin();
    while (it != cache_.end() && !(it->key == key)) ++it;
    if (it != cache_.end()) {
      cache_.splice(cache_.begin(), cache_, it);
    } else {
      Runner r = build(key);
      if (!r) return false;
      cache_.push_front(Entry{key, std::move(r)});
      if (cache_.size() > kCacheEntries) cache_.pop_back();
    }
    cache_.front().run();
    return true;
  } catch (const std::exception& e) {
    error_ = std::string("gloo ") + collName(coll) + ": " + e.what();
    return false;
  }
}

void GlooBackend::finalize() {
  if (context_ == nullptr) return;
  (void)barrier();  // no rank closes its sockets while a peer still reads
  cache_.clear();
  context_.reset();
}

void GlooBackend::abort() {
  // Nothing graceful: the driver exits next, the sockets close and every peer's pending
  // Gloo call fails with an I/O error instead of waiting for its timeout.
}

}  // namespace torc::perf
