// Fused buckets against separate all-reduces, and how much of the communication hides behind
// computation. Launch under torcrun (or any launcher torcCommInitFromEnv knows):
//
//   fusion_bench [-t tensors] [-b minBytes] [-e maxBytes] [-p float|half|bfloat16] [-r reps]
//                [-w work_ms] [-B bucketBytes]
//
// Tensors are float32 with sizes spread log-uniformly over [minBytes, maxBytes] (defaults: 1000
// tensors of 4 KiB .. 256 KiB, about 60 MiB). Each repetition, alternating, times
//   separate  every tensor by its own blocking torcAllReduce (float32),
//   fused     one fusion object (wire type -p), every tensor added, then torcFusionWait,
//   compute   the workload alone: -w ms of arithmetic split evenly over the tensors,
//   overlap   the workload with each tensor added after its share (as backward produces
//             gradients), then torcFusionWait;
// and prints medians over ranks' maxima. hidden = (compute + fused - overlap) / fused: the
// fraction of the fused communication that the workload covered. Results are checked (inputs
// rank + 1, small integers, exact in every wire type); exit 1 on a wrong element.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "include/torc.h"

namespace {

int gRank = 0, gP = 1;
torcComm_t gComm = nullptr;

void check(torcResult_t r, const char* what) {
  if (r == torcSuccess) return;
  std::fprintf(stderr, "fusion_bench: rank %d: %s: %s (%s)\n", gRank, what, torcGetErrorString(r),
               torcGetLastError(gComm));
  std::exit(2);
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// The slowest rank's time: what the job waited for.
double slowest(double sec) {
  check(torcAllReduce(&sec, &sec, 1, torcFloat64, torcMax, gComm, nullptr), "combining times");
  return sec;
}

volatile double gSink;
// Arithmetic for about `sec` seconds (calibrated once): the stand-in for a layer's backward.
struct Work {
  double perIter = 0;
  void calibrate() {
    const double t0 = now();
    spin(2000000);
    perIter = (now() - t0) / 2000000;
  }
  static void spin(long iters) {
    double x = 1.0;
    for (long i = 0; i < iters; ++i) x = x * 1.0000001 + 1e-9;
    gSink = x;
  }
  void run(double sec) const { spin(static_cast<long>(sec / perIter)); }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

size_t parseBytes(const char* s) {
  char* end = nullptr;
  double v = std::strtod(s, &end);
  if (*end == 'K' || *end == 'k') v *= 1024;
  if (*end == 'M' || *end == 'm') v *= 1024 * 1024;
  return static_cast<size_t>(v);
}

}  // namespace

int main(int argc, char** argv) {
  int tensors = 1000, reps = 5;
  size_t minBytes = 4 << 10, maxBytes = 256 << 10, bucket = 0;
  double workMs = 200;
  torcDataType_t wire = torcFloat32;
  std::string wireName = "float";
  for (int c; (c = getopt(argc, argv, "t:b:e:p:r:w:B:")) != -1;) {
    switch (c) {
      case 't': tensors = std::atoi(optarg); break;
      case 'b': minBytes = parseBytes(optarg); break;
      case 'e': maxBytes = parseBytes(optarg); break;
      case 'r': reps = std::max(1, std::atoi(optarg)); break;
      case 'w': workMs = std::atof(optarg); break;
      case 'B': bucket = parseBytes(optarg); break;
      case 'p':
        wireName = optarg;
        if (wireName == "float") wire = torcFloat32;
        else if (wireName == "half") wire = torcFloat16;
        else if (wireName == "bfloat16") wire = torcBfloat16;
        else { std::fprintf(stderr, "fusion_bench: -p float|half|bfloat16\n"); return 2; }
        break;
      default:
        std::fprintf(stderr, "usage: fusion_bench [-t n] [-b min] [-e max] [-p float|half|bfloat16] [-r reps] [-w ms] [-B bucket]\n");
        return 2;
    }
  }
  check(torcCommInitFromEnv(&gComm), "init");
  check(torcCommCount(gComm, &gP), "count");
  check(torcCommUserRank(gComm, &gRank), "rank");

  std::vector<std::vector<float>> t(static_cast<size_t>(tensors));
  size_t total = 0;
  for (int i = 0; i < tensors; ++i) {  // log-uniform sizes, deterministic
    const double f = tensors > 1 ? static_cast<double>((i * 7919) % tensors) / (tensors - 1) : 0;
    const size_t bytes = static_cast<size_t>(minBytes * std::pow(static_cast<double>(maxBytes) / minBytes, f));
    t[static_cast<size_t>(i)].resize(std::max<size_t>(1, bytes / sizeof(float)));
    total += t[static_cast<size_t>(i)].size() * sizeof(float);
  }
  auto fill = [&] {
    for (auto& v : t) std::fill(v.begin(), v.end(), static_cast<float>(gRank + 1));
  };
  long wrong = 0;
  auto verify = [&] {
    const float want = static_cast<float>(gP * (gP + 1) / 2);
    for (auto& v : t) wrong += (v.front() != want) + (v.back() != want) + (v[v.size() / 2] != want);
  };
  Work work;
  work.calibrate();
  const double share = workMs / 1000 / tensors;

  // One fusion object for every step, as a training loop keeps one (its buckets are reused).
  torcFusion_t f = nullptr;
  check(torcFusionCreate(gComm, bucket, wire, torcSum, 0, &f), "fusion create");
  std::vector<double> sep, fus, comp, ovl;
  for (int r = 0; r < reps + 1; ++r) {  // the first repetition warms up and is not counted
    fill();
    check(torcBarrier(gComm, nullptr), "barrier");
    double t0 = now();
    for (auto& v : t) check(torcAllReduce(v.data(), v.data(), v.size(), torcFloat32, torcSum, gComm, nullptr), "all-reduce");
    const double s = slowest(now() - t0);
    verify();

    fill();
    check(torcBarrier(gComm, nullptr), "barrier");
    t0 = now();
    for (auto& v : t) check(torcFusionAdd(f, v.data(), v.size(), torcFloat32), "fusion add");
    check(torcFusionWait(f, nullptr), "fusion wait");
    const double fu = slowest(now() - t0);
    verify();

    check(torcBarrier(gComm, nullptr), "barrier");
    t0 = now();
    for (int i = 0; i < tensors; ++i) work.run(share);
    const double co = slowest(now() - t0);

    fill();
    check(torcBarrier(gComm, nullptr), "barrier");
    t0 = now();
    for (auto& v : t) {
      work.run(share);
      check(torcFusionAdd(f, v.data(), v.size(), torcFloat32), "fusion add");
    }
    check(torcFusionWait(f, nullptr), "fusion wait");
    const double ov = slowest(now() - t0);
    verify();
    if (r == 0) continue;
    sep.push_back(s), fus.push_back(fu), comp.push_back(co), ovl.push_back(ov);
  }
  check(torcFusionDestroy(f), "fusion destroy");
  check(torcAllReduce(&wrong, &wrong, 1, torcInt64, torcSum, gComm, nullptr), "summing errors");
  if (gRank == 0) {
    const double S = median(sep), F = median(fus), C = median(comp), O = median(ovl);
    std::printf("# fusion_bench: %d ranks, %d float32 tensors of %zu..%zu bytes (%.1f MiB), wire %s, bucket %s, "
                "median of %d\n", gP, tensors, minBytes, maxBytes, total / 1048576.0, wireName.c_str(),
                bucket ? std::to_string(bucket).c_str() : "TORC_FUSION_BYTES", reps);
    std::printf("#  separate(ms)  fused(ms)  separate/fused  compute(ms)  overlap(ms)  hidden  #wrong\n");
    std::printf("  %12.1f  %9.1f  %14.2f  %11.1f  %11.1f  %5.0f%%  %6ld\n", S * 1e3, F * 1e3, S / F, C * 1e3,
                O * 1e3, 100 * std::clamp((C + F - O) / F, 0.0, 1.0), wrong);
  }
  check(torcCommDestroy(gComm), "destroy");
  return wrong ? 1 : 0;
}
