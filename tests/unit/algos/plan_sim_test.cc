// Every algorithm's plans, run for all ranks at once by the simulator (real executor and
// kernels, in-memory fabric), against an exact reference: p from 1 to 64, counts around p and
// around the chunk size, in-place and out-of-place, all ops on int64 and float32.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>

#include "kernels/functors.h"
#include "src/algos/simulator.h"

namespace torc::algos {
namespace {

using kernels::DType;
using kernels::RedOp;

int64_t inputValue(int rank, size_t i) { return static_cast<int64_t>((rank * 7919 + static_cast<int>(i) * 31) % 199) - 99; }

int64_t combine(RedOp op, int64_t a, int64_t b) {
  switch (op) {
    case RedOp::kSum:
    case RedOp::kAvg: return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
    case RedOp::kProd: return static_cast<int64_t>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
    case RedOp::kMax: return b > a ? b : a;
    case RedOp::kMin: return b < a ? b : a;
  }
  return 0;
}

int64_t reference(RedOp op, int p, size_t i) {
  int64_t acc = inputValue(0, i);
  for (int r = 1; r < p; ++r) acc = combine(op, acc, inputValue(r, i));
  if (op == RedOp::kAvg) acc /= p;
  return acc;
}

struct Case {
  int p;
  size_t count;
  size_t chunkBytes;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  for (int p : {1, 2, 3, 4, 5, 7, 8, 13, 16, 33, 64}) {
    std::vector<size_t> counts;
    for (size_t count : {size_t{0}, size_t{1}, size_t(p - 1), size_t(p + 1), size_t{97}, size_t{1031}})
      if (std::find(counts.begin(), counts.end(), count) == counts.end()) counts.push_back(count);
    for (size_t count : counts) out.push_back({p, count, 64});  // 8 int64 per chunk: many, uneven chunks
    out.push_back({p, 4099, 1 << 20});
  }
  return out;
}

class PlanSim : public ::testing::TestWithParam<Case> {};

TEST_P(PlanSim, AllReduceEveryOpExactAndInPlace) {
  const Case c = GetParam();
  for (RedOp op : {RedOp::kSum, RedOp::kProd, RedOp::kMax, RedOp::kMin, RedOp::kAvg})
   for (const char* algo : {"ring", "direct", "rd"}) {
    for (bool inplace : {false, true}) {
      Simulator sim(c.p);
      std::vector<std::vector<int64_t>> in(c.p), out(c.p);
      std::vector<const void*> ins;
      std::vector<void*> outs;
      for (int r = 0; r < c.p; ++r) {
        in[r].resize(c.count + 1);
        for (size_t i = 0; i < c.count; ++i) in[r][i] = inputValue(r, i);
        out[r].assign(c.count + 1, -7);
        ins.push_back(in[r].data());
        outs.push_back(inplace ? in[r].data() : out[r].data());
      }
      CollArgs a;
      a.coll = Coll::kAllReduce;
      a.count = c.count;
      a.elemSize = 8;
      const std::string name = algo;
      a.algo = algo;
      a.chunkBytes = name == "rd" ? size_t{1} << 20 : c.chunkBytes;  // rd needs the whole buffer in a slot
      a.scratchSlots = 3;
      a.directOk = name == "direct";  // direct from the first byte, in chunks as small as the ring's
      a.directMinBytes = 0;
      a.directChunkBytes = c.chunkBytes;
      { Status st = sim.run(a, DType::kInt64, op, ins, outs); ASSERT_TRUE(st.isOk()) << st.toString(); }
      for (int r = 0; r < c.p; ++r) {
        const int64_t* res = static_cast<int64_t*>(outs[r]);
        for (size_t i = 0; i < c.count; ++i)
          ASSERT_EQ(res[i], reference(op, c.p, i)) << "rank " << r << " i " << i << " op " << int(op) << " " << algo;
        ASSERT_EQ(res[c.count], inplace ? 0 : -7) << "wrote past the end";
      }
      EXPECT_EQ(sim.unmatchedMessages(), 0u);
    }
   }
}

// Grids for p ranks: the most square one and its transpose (1 x p and p x 1 for primes).
std::vector<std::pair<int, int>> grids(int p) {
  int r = 1;
  for (int d = 1; d * d <= p; ++d)
    if (p % d == 0) r = d;
  std::vector<std::pair<int, int>> g{{r, p / r}};
  if (r != p / r) g.push_back({p / r, r});
  return g;
}

// A grid position -> rank order that is not the identity (every other rank first, reversed).
std::vector<int> scrambledOrder(int p) {
  std::vector<int> o;
  for (int r = p - 1; r >= 0; r -= 2) o.push_back(r);
  for (int r = p - 2; r >= 0; r -= 2) o.push_back(r);
  return o;
}

TEST_P(PlanSim, Torus2dEveryOpExactSameBitsAndInPlace) {
  const Case c = GetParam();
  const std::vector<int> order = scrambledOrder(c.p);
  for (auto [rows, cols] : grids(c.p))
    for (RedOp op : {RedOp::kSum, RedOp::kProd, RedOp::kMax, RedOp::kMin, RedOp::kAvg})
      for (bool inplace : {false, true}) {
        Simulator sim(c.p);
        std::vector<std::vector<int64_t>> in(c.p), out(c.p);
        std::vector<const void*> ins;
        std::vector<void*> outs;
        for (int r = 0; r < c.p; ++r) {
          in[r].resize(c.count + 1);
          for (size_t i = 0; i < c.count; ++i) in[r][i] = inputValue(r, i);
          out[r].assign(c.count + 1, -7);
          ins.push_back(in[r].data());
          outs.push_back(inplace ? in[r].data() : out[r].data());
        }
        CollArgs a;
        a.coll = Coll::kAllReduce;
        a.count = c.count;
        a.elemSize = 8;
        a.algo = "torus2d";
        a.chunkBytes = c.chunkBytes;
        a.scratchSlots = 3;
        a.torusRows = rows;
        a.torusCols = cols;
        a.gridOrder = order.data();
        Status st = sim.run(a, DType::kInt64, op, ins, outs);
        ASSERT_TRUE(st.isOk()) << st.toString();
        for (int r = 0; r < c.p; ++r) {
          const int64_t* res = static_cast<int64_t*>(outs[r]);
          for (size_t i = 0; i < c.count; ++i)
            ASSERT_EQ(res[i], reference(op, c.p, i)) << rows << "x" << cols << " rank " << r << " i " << i << " op "
                                                     << int(op);
          ASSERT_EQ(res[c.count], inplace ? 0 : -7) << "wrote past the end";
        }
        EXPECT_EQ(sim.unmatchedMessages(), 0u);
      }
  // float32: bounded error, and the same bits on every rank.
  for (auto [rows, cols] : grids(c.p)) {
    Simulator sim(c.p);
    std::vector<std::vector<float>> in(c.p), out(c.p);
    std::vector<const void*> ins;
    std::vector<void*> outs;
    for (int r = 0; r < c.p; ++r) {
      in[r].resize(c.count);
      for (size_t i = 0; i < c.count; ++i) in[r][i] = std::sin(static_cast<float>(r * 131 + static_cast<int>(i))) * 1e3f;
      out[r].resize(c.count);
      ins.push_back(in[r].data());
      outs.push_back(out[r].data());
    }
    CollArgs a;
    a.coll = Coll::kAllReduce;
    a.count = c.count;
    a.elemSize = 4;
    a.algo = "torus2d";
    a.chunkBytes = c.chunkBytes;
    a.torusRows = rows;
    a.torusCols = cols;
    a.gridOrder = order.data();
    ASSERT_TRUE(sim.run(a, DType::kFloat32, RedOp::kSum, ins, outs).isOk());
    for (size_t i = 0; i < c.count; ++i) {
      double exact = 0, mag = 0;
      for (int r = 0; r < c.p; ++r) exact += in[r][i], mag += std::fabs(in[r][i]);
      ASSERT_LE(std::fabs(out[0][i] - exact), c.p * std::ldexp(1.0, -24) * mag + 1e-30) << i;
      for (int r = 1; r < c.p; ++r) ASSERT_EQ(memcmp(&out[r][i], &out[0][i], 4), 0) << "rank " << r << " i " << i;
    }
  }
}

TEST_P(PlanSim, Torus2dAllGatherInPlaceAndNot) {
  const Case c = GetParam();
  const size_t p = static_cast<size_t>(c.p);
  const std::vector<int> order = scrambledOrder(c.p);
  for (auto [rows, cols] : grids(c.p))
    for (bool inplace : {false, true}) {
      Simulator sim(c.p);
      std::vector<std::vector<int64_t>> in(p), out(p);
      std::vector<const void*> ins;
      std::vector<void*> outs;
      for (size_t r = 0; r < p; ++r) {
        in[r].resize(c.count);
        out[r].assign(p * c.count + 1, -7);
        for (size_t i = 0; i < c.count; ++i) in[r][i] = inputValue(static_cast<int>(r), i);
        if (inplace) std::copy(in[r].begin(), in[r].end(), out[r].begin() + static_cast<long>(r * c.count));
        ins.push_back(inplace ? out[r].data() + r * c.count : in[r].data());
        outs.push_back(out[r].data());
      }
      CollArgs a;
      a.coll = Coll::kAllGather;
      a.count = c.count;
      a.elemSize = 8;
      a.chunkBytes = c.chunkBytes;
      a.algo = "torus2d";
      a.torusRows = rows;
      a.torusCols = cols;
      a.gridOrder = order.data();
      Status st = sim.run(a, DType::kInt64, RedOp::kSum, ins, outs);
      ASSERT_TRUE(st.isOk()) << st.toString();
      for (size_t r = 0; r < p; ++r) {
        for (size_t q = 0; q < p; ++q)
          for (size_t i = 0; i < c.count; ++i)
            ASSERT_EQ(out[r][q * c.count + i], inputValue(static_cast<int>(q), i))
                << rows << "x" << cols << " " << r << " " << q << " " << i;
        ASSERT_EQ(out[r][p * c.count], -7);
      }
      EXPECT_EQ(sim.unmatchedMessages(), 0u);
    }
}

TEST_P(PlanSim, AllGatherAndReduceScatter) {
  const Case c = GetParam();
  const size_t p = static_cast<size_t>(c.p);
  for (bool inplace : {false, true}) {
    Simulator sim(c.p);
    // all-gather: rank r contributes count elements; in place means sendbuff = recvbuff + r*count.
    std::vector<std::vector<int64_t>> in(p), out(p);
    std::vector<const void*> ins;
    std::vector<void*> outs;
    for (size_t r = 0; r < p; ++r) {
      in[r].resize(c.count);
      out[r].assign(p * c.count + 1, -7);
      for (size_t i = 0; i < c.count; ++i) in[r][i] = inputValue(static_cast<int>(r), i);
      if (inplace) std::copy(in[r].begin(), in[r].end(), out[r].begin() + static_cast<long>(r * c.count));
      ins.push_back(inplace ? out[r].data() + r * c.count : in[r].data());
      outs.push_back(out[r].data());
    }
    CollArgs a;
    a.coll = Coll::kAllGather;
    a.count = c.count;
    a.elemSize = 8;
    a.chunkBytes = c.chunkBytes;
    { Status st = sim.run(a, DType::kInt64, RedOp::kSum, ins, outs); ASSERT_TRUE(st.isOk()) << st.toString(); }
    for (size_t r = 0; r < p; ++r) {
      for (size_t q = 0; q < p; ++q)
        for (size_t i = 0; i < c.count; ++i)
          ASSERT_EQ(out[r][q * c.count + i], inputValue(static_cast<int>(q), i)) << r << " " << q << " " << i;
      ASSERT_EQ(out[r][p * c.count], -7);
    }

    // reduce-scatter: rank r gets block r of the sum; in place means recvbuff = sendbuff + r*count.
    std::vector<std::vector<int64_t>> big(p), small(p);
    ins.clear();
    outs.clear();
    for (size_t r = 0; r < p; ++r) {
      big[r].resize(p * c.count + 1, -7);
      for (size_t i = 0; i < p * c.count; ++i) big[r][i] = inputValue(static_cast<int>(r), i);
      small[r].assign(c.count + 1, -7);
      ins.push_back(big[r].data());
      outs.push_back(inplace ? big[r].data() + r * c.count : small[r].data());
    }
    a.coll = Coll::kReduceScatter;
    { Status st = sim.run(a, DType::kInt64, RedOp::kSum, ins, outs); ASSERT_TRUE(st.isOk()) << st.toString(); }
    for (size_t r = 0; r < p; ++r) {
      const int64_t* res = static_cast<int64_t*>(outs[r]);
      for (size_t i = 0; i < c.count; ++i) ASSERT_EQ(res[i], reference(RedOp::kSum, c.p, r * c.count + i));
      if (!inplace) {
        ASSERT_EQ(small[r][c.count], -7);
      }
    }
  }
}

TEST_P(PlanSim, BroadcastAndReduceFromEveryRoot) {
  const Case c = GetParam();
  const size_t p = static_cast<size_t>(c.p);
  for (int root : {0, c.p / 2, c.p - 1}) {
    Simulator sim(c.p);
    std::vector<std::vector<int64_t>> in(p), out(p);
    std::vector<const void*> ins;
    std::vector<void*> outs;
    for (size_t r = 0; r < p; ++r) {
      in[r].resize(c.count);
      for (size_t i = 0; i < c.count; ++i) in[r][i] = inputValue(static_cast<int>(r), i);
      out[r].assign(c.count + 1, -7);
      ins.push_back(in[r].data());
      outs.push_back(out[r].data());
    }
    CollArgs a;
    a.coll = Coll::kBroadcast;
    a.count = c.count;
    a.elemSize = 8;
    a.root = root;
    a.chunkBytes = c.chunkBytes;
    a.scratchSlots = 2;
    { Status st = sim.run(a, DType::kInt64, RedOp::kSum, ins, outs); ASSERT_TRUE(st.isOk()) << st.toString(); }
    for (size_t r = 0; r < p; ++r)
      for (size_t i = 0; i < c.count; ++i) ASSERT_EQ(out[r][i], inputValue(root, i));

    for (auto& o : out) std::fill(o.begin(), o.end(), -7);
    a.coll = Coll::kReduce;
    ASSERT_TRUE(sim.run(a, DType::kInt64, RedOp::kMax, ins, outs).isOk());
    for (size_t r = 0; r < p; ++r)
      for (size_t i = 0; i < c.count; ++i)
        ASSERT_EQ(out[r][i], static_cast<int>(r) == root ? reference(RedOp::kMax, c.p, i) : -7);
  }
}

TEST_P(PlanSim, Float32SumSameBitsOnEveryRankAndBounded) {
  const Case c = GetParam();
  Simulator sim(c.p);
  std::vector<std::vector<float>> in(c.p), out(c.p);
  std::vector<const void*> ins;
  std::vector<void*> outs;
  for (int r = 0; r < c.p; ++r) {
    in[r].resize(c.count);
    for (size_t i = 0; i < c.count; ++i) in[r][i] = std::sin(static_cast<float>(r * 131 + static_cast<int>(i))) * 1e3f;
    out[r].resize(c.count);
    ins.push_back(in[r].data());
    outs.push_back(out[r].data());
  }
  CollArgs a;
  a.coll = Coll::kAllReduce;
  a.count = c.count;
  a.elemSize = 4;
  a.chunkBytes = c.chunkBytes;
  ASSERT_TRUE(sim.run(a, DType::kFloat32, RedOp::kSum, ins, outs).isOk());
  for (size_t i = 0; i < c.count; ++i) {
    double exact = 0, mag = 0;
    for (int r = 0; r < c.p; ++r) exact += in[r][i], mag += std::fabs(in[r][i]);
    ASSERT_LE(std::fabs(out[0][i] - exact), c.p * std::ldexp(1.0, -24) * mag + 1e-30) << i;
    for (int r = 1; r < c.p; ++r) ASSERT_EQ(memcmp(&out[r][i], &out[0][i], 4), 0) << "rank " << r << " i " << i;
  }
}

// Mixed precision as fusion objects run it (torc.h, torcFusionCreate): float32 values packed
// into a 16-bit wire type, all-reduced in it (every hop widens, adds in float32, rounds once),
// for p up to 64 and every inter-node algorithm: the result within p (u sum|x| + eta) of the
// float64 sum of the float32 inputs, and the same bits on every rank.
TEST(PlanSim, SixteenBitWireWithinThePackedBoundUpTo64Ranks) {
  for (DType wire : {DType::kFloat16, DType::kBfloat16})
    for (int p : {2, 3, 8, 16, 33, 64})
      for (const char* algo : {"ring", "rd", "torus2d"}) {
        const bool half = wire == DType::kFloat16;
        const double u = std::ldexp(1.0, half ? -11 : -8), eta = std::ldexp(1.0, half ? -25 : -134);
        const size_t count = 1031;
        Simulator sim(p);
        std::vector<std::vector<float>> x(p);
        std::vector<std::vector<uint16_t>> packed(p), out(p);
        std::vector<const void*> ins;
        std::vector<void*> outs;
        for (int r = 0; r < p; ++r) {
          for (size_t i = 0; i < count; ++i) {
            // Both signs, magnitudes from 2^-20 to 2^3 (float16 subnormals included), sums far
            // from float16's overflow at any p here.
            const float v = std::sin(static_cast<float>(r * 131 + static_cast<int>(i) * 7)) *
                            std::ldexp(1.0f, static_cast<int>((i * 5 + static_cast<size_t>(r)) % 24) - 20);
            x[r].push_back(v);
            packed[r].push_back(half ? kernels::floatToHalf(v) : kernels::floatToBf16(v));
          }
          out[r].assign(count, 0xdead);
          ins.push_back(packed[r].data());
          outs.push_back(out[r].data());
        }
        CollArgs a;
        a.coll = Coll::kAllReduce;
        a.count = count;
        a.elemSize = 2;
        a.algo = algo;
        a.chunkBytes = std::string(algo) == "rd" ? size_t{1} << 20 : 256;
        a.scratchSlots = 3;
        const auto grid = grids(p).front();
        a.torusRows = grid.first;
        a.torusCols = grid.second;
        { Status st = sim.run(a, wire, RedOp::kSum, ins, outs); ASSERT_TRUE(st.isOk()) << st.toString(); }
        for (size_t i = 0; i < count; ++i) {
          double exact = 0, mag = 0;
          for (int r = 0; r < p; ++r) exact += x[r][i], mag += std::fabs(x[r][i]);
          const double got = half ? kernels::halfToFloat(out[0][i]) : kernels::bf16ToFloat(out[0][i]);
          ASSERT_LE(std::fabs(got - exact), p * (u * mag + eta)) << algo << " p " << p << " i " << i;
          for (int r = 1; r < p; ++r) ASSERT_EQ(out[r][i], out[0][i]) << algo << " rank " << r << " i " << i;
        }
      }
}

INSTANTIATE_TEST_SUITE_P(Sizes, PlanSim, ::testing::ValuesIn(cases()), [](const auto& info) {
  return "p" + std::to_string(info.param.p) + "_n" + std::to_string(info.param.count) + "_c" +
         std::to_string(info.param.chunkBytes);
});

TEST(PlanSim, BarrierAndPointToPoint) {
  for (int p : {1, 2, 3, 8, 64}) {
    Simulator sim(p);
    CollArgs a;
    a.coll = Coll::kBarrier;
    std::vector<const void*> ins(static_cast<size_t>(p), nullptr);
    std::vector<void*> outs(static_cast<size_t>(p), nullptr);
    ASSERT_TRUE(sim.run(a, DType::kUint8, RedOp::kSum, ins, outs).isOk()) << p;
    EXPECT_EQ(sim.unmatchedMessages(), 0u);
  }
}

TEST(PlanSim, MismatchedPlansAreReportedNotHung) {
  // Rank 1 expects a different count than rank 0 sends: the simulator must say so.
  Simulator sim(2);
  std::vector<int64_t> a0(10, 1), a1(10, 1), o0(10), o1(10);
  CollArgs a;
  a.coll = Coll::kBroadcast;
  a.count = 10;
  a.elemSize = 8;
  // Run rank-specific plans by hand: build with different counts.
  CollArgs b = a;
  b.count = 5;
  transport::Fabric fabric(2);
  auto t0 = fabric.makeTransport(0), t1 = fabric.makeTransport(1);
  std::unique_ptr<transport::Endpoint> e01, e10;
  ASSERT_TRUE(t0->connect(1, t1->address(), true, &e01).isOk());
  ASSERT_TRUE(t1->connect(0, t0->address(), true, &e10).isOk());
  ExecContext c0{0, 2, t0.get(), {nullptr, e01.get()}, nullptr}, c1{1, 2, t1.get(), {e10.get(), nullptr}, nullptr};
  a.rank = 0;
  a.nranks = 2;
  b.rank = 1;
  b.nranks = 2;
  Plan p0 = chainBroadcast(a), p1 = chainBroadcast(b);
  ExecArgs x0, x1;
  x0.input = a0.data();
  x0.output = o0.data();
  x0.dtype = x1.dtype = kernels::DType::kInt64;
  x1.output = o1.data();
  Executor ex0, ex1;
  ASSERT_TRUE(ex0.start(p0, x0, c0).isOk());
  ASSERT_TRUE(ex1.start(p1, x1, c1).isOk());
  bool sawError = false;
  for (int i = 0; i < 10 && !sawError; ++i) {
    auto r0 = ex0.poll(), r1 = ex1.poll();
    sawError = !r0.isOk() || !r1.isOk();
  }
  EXPECT_TRUE(sawError);
}

}  // namespace
}  // namespace torc::algos
