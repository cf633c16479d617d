// The UCX transport on its own: two instances in one process (each its own UCP context and
// worker, as two ranks have), connected through their addresses, exchanging tagged messages.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <vector>

#include "src/base/param.h"
#include "src/transport/transport.h"

namespace torc::transport {
namespace {

struct Pair {
  std::unique_ptr<Transport> a, b;
  std::unique_ptr<Endpoint> ab, ba;
};

Pair makePair() {
  Pair p;
  TransportOptions oa{0, 2}, ob{1, 2};
  auto ta = createUcxTransport(oa);
  auto tb = createUcxTransport(ob);
  EXPECT_TRUE(ta.isOk()) << ta.status().toString();
  EXPECT_TRUE(tb.isOk()) << tb.status().toString();
  p.a = std::move(ta).value();
  p.b = std::move(tb).value();
  EXPECT_TRUE(p.a->connect(1, p.b->address(), true, &p.ab).isOk());
  EXPECT_TRUE(p.b->connect(0, p.a->address(), true, &p.ba).isOk());
  return p;
}

// Progresses both sides until every request is done (or 10 s pass).
bool drive(Pair& p, std::vector<Request*> reqs) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < until) {
    p.a->progress();
    p.b->progress();
    bool pending = false;
    for (Request* r : reqs) pending |= r->pending();
    if (!pending) return true;
  }
  return false;
}

TEST(UcxTransport, TaggedMessagesMatchByTagInAnyPostingOrder) {
  Pair p = makePair();
  for (size_t len : {size_t{0}, size_t{8}, size_t{4096}, size_t{3} << 20}) {  // eager through rendezvous
    std::vector<char> s1(len, 'x'), s2(len, 'y'), r1(len + 1, 0), r2(len + 1, 0);
    Request sa, sb, ra, rb;
    // Two messages with different tags, received in the opposite order they were sent.
    ASSERT_TRUE(p.ab->postSend(s1.data(), len, 11, &sa).isOk());
    ASSERT_TRUE(p.ab->postSend(s2.data(), len, 22, &sb).isOk());
    ASSERT_TRUE(p.ba->postRecv(r2.data(), len + 1, 22, &rb).isOk());
    ASSERT_TRUE(p.ba->postRecv(r1.data(), len + 1, 11, &ra).isOk());
    ASSERT_TRUE(drive(p, {&sa, &sb, &ra, &rb}));
    EXPECT_EQ(ra.state(), Request::kDone);
    EXPECT_EQ(rb.state(), Request::kDone);
    EXPECT_EQ(ra.bytes(), len);
    EXPECT_EQ(rb.bytes(), len);
    EXPECT_EQ(memcmp(r1.data(), s1.data(), len), 0);
    EXPECT_EQ(memcmp(r2.data(), s2.data(), len), 0);
  }
}

TEST(UcxTransport, OversizedMessageFailsTheReceiveAndCancelWorks) {
  Pair p = makePair();
  std::vector<char> big(1024, 'z'), small(16);
  Request s, r;
  ASSERT_TRUE(p.ab->postSend(big.data(), big.size(), 5, &s).isOk());
  ASSERT_TRUE(p.ba->postRecv(small.data(), small.size(), 5, &r).isOk());
  drive(p, {&r});
  EXPECT_EQ(r.state(), Request::kFailed);

  Request never;
  ASSERT_TRUE(p.ba->postRecv(small.data(), small.size(), 999, &never).isOk());
  p.b->cancel(&never);
  ASSERT_TRUE(drive(p, {&never}));
  EXPECT_EQ(never.state(), Request::kFailed);
}

TEST(UcxTransport, RegistersMemoryAndHonoursTls) {
  ScopedParamOverride tls("TORC_UCX_TLS", "tcp");
  Pair p = makePair();
  std::vector<char> buf(1 << 16, 'q'), out(1 << 16);
  std::unique_ptr<MemoryRegion> mr;
  ASSERT_TRUE(p.a->registerMemory(buf.data(), buf.size(), &mr).isOk());
  EXPECT_EQ(mr->base(), buf.data());
  EXPECT_FALSE(mr->serialize().empty());
  Request s, r;
  ASSERT_TRUE(p.ab->postSend(buf.data(), buf.size(), 1, &s).isOk());
  ASSERT_TRUE(p.ba->postRecv(out.data(), out.size(), 1, &r).isOk());
  ASSERT_TRUE(drive(p, {&s, &r}));
  EXPECT_EQ(out, buf);
}

TEST(UcxTransport, UnknownTlsIsAClearError) {
  ScopedParamOverride tls("TORC_UCX_TLS", "no_such_transport");
  auto t = createUcxTransport(TransportOptions{0, 1});
  ASSERT_FALSE(t.isOk());
  EXPECT_NE(t.status().message().find("TORC_UCX_TLS"), std::string::npos) << t.status().toString();
}

}  // namespace
}  // namespace torc::transport
