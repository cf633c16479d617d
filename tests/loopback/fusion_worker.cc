// Fused buckets under a launcher (real processes): 1000 tensors of mixed sizes (empty ones too)
// in many small buckets; with the wire type equal to the tensors', the same bits as separate
// all-reduces; with float16/bfloat16 on the wire, error within p u sum|x| of a float64 reference
// and the same bits on every rank; avg; mixed tensor types; overflow reported alike everywhere;
// bad arguments; destroy refused while buckets are in flight. Exits 0 when all is well.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "include/torc.h"
#include "tests/loopback/worker_check.h"
#include "kernels/functors.h"

namespace {

using torc::kernels::bf16ToFloat;
using torc::kernels::floatToBf16;
using torc::kernels::floatToHalf;
using torc::kernels::halfToFloat;

int gRank = -1, gP = 0;
torcComm_t gComm = nullptr;

// Rank r's element i of tensor t: arbitrary floats of both signs and several magnitudes.
double valueOf(int r, size_t t, size_t i) {
  uint64_t h = (t * 1000003 + i) * 0x9e3779b97f4a7c15ull ^ (static_cast<uint64_t>(r) + 1) * 0xbf58476d1ce4e5b9ull;
  h ^= h >> 29;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 32;
  const double unit = static_cast<double>(h & 0xffffff) / 16777216.0 - 0.5;
  return unit * std::ldexp(1.0, static_cast<int>((h >> 24) % 12) - 4);
}

// The sizes of 1000 tensors: empty, tiny, primes and up to 64K elements.
std::vector<size_t> tensorSizes() {
  std::vector<size_t> n;
  for (size_t t = 0; t < 1000; ++t) n.push_back(t % 97 == 0 ? 0 : (t * 7919) % (t % 5 == 0 ? 65537 : 1031));
  return n;
}

uint64_t hashBytes(const void* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<const unsigned char*>(p)[i]) * 1099511628211ull;
  return h;
}

// The same hash on every rank.
void expectSameEverywhere(uint64_t h, const char* what) {
  std::vector<uint64_t> all(static_cast<size_t>(gP));
  CHECK_TORC(torcAllGather(&h, all.data(), 1, torcUint64, gComm, nullptr));
  for (uint64_t x : all) EXPECT(x == all[0], "%s differs between ranks", what);
}

// Same-type fusion of float32 tensors (sum, then avg): each tensor equals a separate all-reduce
// of it, bit for bit. With arbitrary floats that holds where every element is reduced in rank
// order (one node's shared memory); a ring between processes adds in an order that depends on
// where the element falls, so there (TORC_SHM=0) the inputs are integers, exact in any order.
void sameTypeEqualsSeparate(torcRedOp_t op) {
  const char* shm = getenv("TORC_SHM");
  const bool anyFloats = shm == nullptr || std::string(shm) != "0";
  const std::vector<size_t> sizes = tensorSizes();
  std::vector<std::vector<float>> fused(sizes.size()), separate(sizes.size());
  for (size_t t = 0; t < sizes.size(); ++t) {
    fused[t].resize(sizes[t]);
    for (size_t i = 0; i < sizes[t]; ++i) {
      const double v = valueOf(gRank, t, i);
      fused[t][i] = static_cast<float>(anyFloats ? v : std::round(v * 64));
    }
    separate[t] = fused[t];
  }
  torcFusion_t f = nullptr;
  CHECK_TORC(torcFusionCreate(gComm, 256 << 10, torcFloat32, op, 0, &f));  // many buckets in flight
  for (size_t t = 0; t < sizes.size(); ++t) CHECK_TORC(torcFusionAdd(f, fused[t].data(), sizes[t], torcFloat32));
  int overflow = -1;
  CHECK_TORC(torcFusionWait(f, &overflow));
  EXPECT(overflow == 0, "overflow flagged");
  for (size_t t = 0; t < sizes.size(); ++t) {
    CHECK_TORC(torcAllReduce(separate[t].data(), separate[t].data(), sizes[t], torcFloat32, op, gComm, nullptr));
    EXPECT(std::memcmp(fused[t].data(), separate[t].data(), sizes[t] * sizeof(float)) == 0,
           "tensor %zu (%zu elements, op %d): fused differs from separate", t, sizes[t], static_cast<int>(op));
  }
  CHECK_TORC(torcFusionDestroy(f));
}

// float32 tensors over a 16-bit wire: |result - exact| <= p (u sum|x| + eta), eta the absolute
// error of a rounding below the type's normal range (half its smallest subnormal); identical
// bits on every rank.
void narrowWire(torcDataType_t wire, torcRedOp_t op) {
  const double u = wire == torcFloat16 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8);
  const double eta = wire == torcFloat16 ? std::ldexp(1.0, -25) : std::ldexp(1.0, -134);
  const std::vector<size_t> sizes = tensorSizes();
  std::vector<std::vector<float>> x(sizes.size());
  for (size_t t = 0; t < sizes.size(); ++t) {
    x[t].resize(sizes[t]);
    for (size_t i = 0; i < sizes[t]; ++i) x[t][i] = static_cast<float>(valueOf(gRank, t, i));
  }
  torcFusion_t f = nullptr;
  CHECK_TORC(torcFusionCreate(gComm, 100000, wire, op, 0, &f));
  for (size_t t = 0; t < sizes.size(); ++t) CHECK_TORC(torcFusionAdd(f, x[t].data(), sizes[t], torcFloat32));
  CHECK_TORC(torcFusionWait(f, nullptr));
  uint64_t h = 0;
  double worst = 0;
  for (size_t t = 0; t < sizes.size(); ++t) {
    h ^= hashBytes(x[t].data(), sizes[t] * sizeof(float)) + t;
    for (size_t i = 0; i < sizes[t]; ++i) {
      double exact = 0, mag = 0;
      for (int r = 0; r < gP; ++r) {
        const double v = static_cast<float>(valueOf(r, t, i));
        exact += v;
        mag += std::fabs(v);
      }
      if (op == torcAvg) exact /= gP, mag /= gP;
      const double err = std::fabs(x[t][i] - exact), bound = gP * (u * mag + eta);
      EXPECT(err <= bound, "wire %d op %d tensor %zu element %zu: error %g above %g", static_cast<int>(wire),
             static_cast<int>(op), t, i, err, bound);
      worst = std::max(worst, err / bound);
    }
  }
  expectSameEverywhere(h, "a 16-bit-wire result");
  if (gRank == 0) fprintf(stderr, "wire %d op %d: worst error %.3f of the bound\n", static_cast<int>(wire),
                          static_cast<int>(op), worst);
  CHECK_TORC(torcFusionDestroy(f));
}

// float16 and bfloat16 tensors with float32 ones in one object, float32 on the wire: exact
// sums of the widened values, rounded once into each tensor's type.
void mixedTypes() {
  std::vector<float> a(300);
  std::vector<uint16_t> h(257), b(1001);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(gRank + i);
  for (size_t i = 0; i < h.size(); ++i) h[i] = floatToHalf(static_cast<float>(gRank) * 0.5f + static_cast<float>(i));
  for (size_t i = 0; i < b.size(); ++i) b[i] = floatToBf16(static_cast<float>(gRank - static_cast<int>(i % 7)));
  torcFusion_t f = nullptr;
  EXPECT(torcFusionCreate(gComm, 1000, torcFloat32, torcSum, 0, &f) == torcSuccess, "create");
  CHECK_TORC(torcFusionAdd(f, a.data(), a.size(), torcFloat32));
  EXPECT(torcFusionAdd(f, h.data(), h.size(), torcFloat16) == torcInvalidArgument, "mixing without the flag");
  CHECK_TORC(torcFusionWait(f, nullptr));
  CHECK_TORC(torcFusionDestroy(f));
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(gRank + i);
  CHECK_TORC(torcFusionCreate(gComm, 1000, torcFloat32, torcSum, TORC_FUSION_MIXED_TYPES, &f));
  CHECK_TORC(torcFusionAdd(f, h.data(), h.size(), torcFloat16));
  CHECK_TORC(torcFusionAdd(f, a.data(), a.size(), torcFloat32));
  CHECK_TORC(torcFusionAdd(f, b.data(), b.size(), torcBfloat16));
  CHECK_TORC(torcFusionWait(f, nullptr));
  CHECK_TORC(torcFusionDestroy(f));
  const double ranks = gP * (gP - 1) / 2.0;
  for (size_t i = 0; i < a.size(); ++i) EXPECT(a[i] == static_cast<float>(ranks + gP * static_cast<double>(i)), "mixed float32 %zu", i);
  for (size_t i = 0; i < h.size(); ++i)
    EXPECT(h[i] == floatToHalf(static_cast<float>(ranks * 0.5 + gP * static_cast<double>(i))), "mixed float16 %zu", i);
  for (size_t i = 0; i < b.size(); ++i) {
    double want = 0;
    for (int r = 0; r < gP; ++r) want += bf16ToFloat(floatToBf16(static_cast<float>(r - static_cast<int>(i % 7))));
    EXPECT(b[i] == floatToBf16(static_cast<float>(want)), "mixed bfloat16 %zu", i);
  }
}

// One rank's value beyond float16's range: every rank gets torcOverflow and the flag, and the
// object and communicator stay usable.
void overflowReported() {
  std::vector<float> x(5000, 1.0f), y(300, 2.0f);
  if (gRank == gP - 1) x[4321] = 70000.0f;
  torcFusion_t f = nullptr;
  CHECK_TORC(torcFusionCreate(gComm, 4096, torcFloat16, torcSum, 0, &f));
  CHECK_TORC(torcFusionAdd(f, y.data(), y.size(), torcFloat32));
  CHECK_TORC(torcFusionAdd(f, x.data(), x.size(), torcFloat32));
  int overflow = 0;
  EXPECT(torcFusionWait(f, &overflow) == torcOverflow && overflow == 1, "overflow not reported");
  EXPECT(std::string(torcGetLastError(gComm)).find("Inf or NaN") != std::string::npos, "message: %s",
         torcGetLastError(gComm));
  std::fill(x.begin(), x.end(), 1.0f);
  CHECK_TORC(torcFusionAdd(f, x.data(), x.size(), torcFloat32));
  CHECK_TORC(torcFusionWait(f, &overflow));
  EXPECT(overflow == 0 && x[4321] == static_cast<float>(gP), "after an overflow step");
  CHECK_TORC(torcFusionDestroy(f));
  // Overflow while unpacking: float16 tensors summed exactly on a float32 wire, 60000 each, a sum
  // beyond float16 once rounded back (p >= 2).
  std::vector<uint16_t> h(100, floatToHalf(1.0f));
  h[77] = floatToHalf(60000.0f);
  CHECK_TORC(torcFusionCreate(gComm, 0, torcFloat32, torcSum, TORC_FUSION_MIXED_TYPES, &f));
  CHECK_TORC(torcFusionAdd(f, h.data(), h.size(), torcFloat16));
  const torcResult_t r = torcFusionWait(f, &overflow);
  EXPECT(gP == 1 ? r == torcSuccess && overflow == 0 : r == torcOverflow && overflow == 1,
         "overflow while unpacking: %d, flag %d", static_cast<int>(r), overflow);
  CHECK_TORC(torcFusionDestroy(f));
}

// TORC_FUSION_SPLIT (DeAR): after the wait the tensors still hold their inputs; gathered one by
// one in reverse order (as a forward pass needs them), each holds its exact sum; float16 wire
// too; gathering twice needs nothing; destroy refused while buckets wait to be gathered.
void splitHalves() {
  const std::vector<size_t> all = tensorSizes();
  const std::vector<size_t> sizes(all.begin(), all.begin() + 200);
  for (torcDataType_t wire : {torcFloat32, torcFloat16}) {
    std::vector<std::vector<float>> x(sizes.size());
    auto input = [&](int r, size_t t, size_t i) { return static_cast<float>((r * 3 + static_cast<int>(t + i)) % 17 - 8); };
    for (size_t t = 0; t < sizes.size(); ++t)
      for (size_t i = 0; i < sizes[t]; ++i) x[t].push_back(input(gRank, t, i));
    torcFusion_t f = nullptr;
    CHECK_TORC(torcFusionCreate(gComm, 64 << 10, wire, torcSum, TORC_FUSION_SPLIT, &f));
    for (size_t t = 0; t < sizes.size(); ++t) CHECK_TORC(torcFusionAdd(f, x[t].data(), sizes[t], torcFloat32));
    EXPECT(torcFusionGather(f, x[0].data()) == torcInvalidUsage, "gather before the wait");
    CHECK_TORC(torcFusionWait(f, nullptr));
    for (size_t t = 0; t < sizes.size(); ++t)
      for (size_t i = 0; i < sizes[t]; ++i) EXPECT(x[t][i] == input(gRank, t, i), "tensor %zu changed before its gather", t);
    EXPECT(torcFusionDestroy(f) == torcInvalidUsage, "destroy with buckets not gathered");
    for (size_t t = sizes.size(); t-- > 100;) {
      CHECK_TORC(torcFusionGather(f, x[t].data()));
      for (size_t i = 0; i < sizes[t]; ++i) {
        float want = 0;
        for (int r = 0; r < gP; ++r) want += input(r, t, i);
        EXPECT(x[t][i] == want, "wire %d tensor %zu element %zu after its gather", static_cast<int>(wire), t, i);
      }
      CHECK_TORC(torcFusionGather(f, x[t].data()));  // its buckets are gathered already: nothing to do
    }
    CHECK_TORC(torcFusionGather(f, nullptr));  // the rest
    for (size_t t = 0; t < 100; ++t)
      for (size_t i = 0; i < sizes[t]; ++i) {
        float want = 0;
        for (int r = 0; r < gP; ++r) want += input(r, t, i);
        EXPECT(x[t][i] == want, "wire %d tensor %zu element %zu after the rest", static_cast<int>(wire), t, i);
      }
    CHECK_TORC(torcFusionDestroy(f));
  }
  torcFusion_t g = nullptr;
  CHECK_TORC(torcFusionCreate(gComm, 0, torcFloat32, torcSum, 0, &g));
  EXPECT(torcFusionGather(g, nullptr) == torcInvalidUsage, "gather without TORC_FUSION_SPLIT");
  CHECK_TORC(torcFusionDestroy(g));
}

void badUse() {
  torcFusion_t f = nullptr;
  EXPECT(torcFusionCreate(gComm, 0, torcFloat16, torcMax, 0, &f) == torcInvalidArgument && f == nullptr, "max op");
  EXPECT(torcFusionCreate(gComm, 0, torcInt32, torcSum, TORC_FUSION_MIXED_TYPES, &f) == torcInvalidArgument,
         "mixed with an integer wire");
  EXPECT(torcFusionCreate(gComm, 0, torcFloat32, torcSum, 8, &f) == torcInvalidArgument, "unknown flag");
  EXPECT(torcFusionCreate(nullptr, 0, torcFloat32, torcSum, 0, &f) == torcInvalidArgument, "NULL comm");
  CHECK_TORC(torcFusionCreate(gComm, 0, torcFloat16, torcSum, 0, &f));  // 25 MiB buckets
  std::vector<int32_t> ints(10, 1);
  EXPECT(torcFusionAdd(f, ints.data(), ints.size(), torcInt32) == torcInvalidArgument, "int32 over float16");
  EXPECT(torcFusionAdd(f, nullptr, 5, torcFloat32) == torcInvalidArgument, "NULL tensor");
  EXPECT(torcFusionAdd(f, nullptr, 0, torcFloat32) == torcSuccess, "empty tensor");
  std::vector<float> x(1000, 1.0f);
  CHECK_TORC(torcFusionAdd(f, x.data(), x.size(), torcFloat32));
  EXPECT(torcFusionDestroy(f) == torcInvalidUsage, "destroy with a tensor not waited for");
  CHECK_TORC(torcFusionFlush(f));
  EXPECT(torcCommDestroy(gComm) == torcInvalidUsage, "comm destroy with a bucket in flight");
  EXPECT(torcFusionDestroy(f) == torcInvalidUsage, "destroy with a bucket in flight");
  CHECK_TORC(torcFusionWait(f, nullptr));
  for (float v : x) EXPECT(v == static_cast<float>(gP), "after the refused destroys");
  CHECK_TORC(torcFusionDestroy(f));
  EXPECT(torcFusionDestroy(nullptr) == torcSuccess && torcFusionWait(nullptr, nullptr) == torcInvalidArgument,
         "NULL fusion");
}

}  // namespace

int main() {
  CHECK_TORC(torcCommInitFromEnv(&gComm));
  CHECK_TORC(torcCommCount(gComm, &gP));
  CHECK_TORC(torcCommUserRank(gComm, &gRank));
  sameTypeEqualsSeparate(torcSum);
  sameTypeEqualsSeparate(torcAvg);
  for (torcDataType_t wire : {torcFloat16, torcBfloat16})
    for (torcRedOp_t op : {torcSum, torcAvg}) narrowWire(wire, op);
  mixedTypes();
  overflowReported();
  splitHalves();
  badUse();
  CHECK_TORC(torcCommDestroy(gComm));
  return 0;
}
