#include <gtest/gtest.h>

#include <cstdlib>

#include "src/base/param.h"
#include "src/base/status.h"

TORC_PARAM(TestInt, int64_t, "TEST_INT", 7, "test parameter");
TORC_PARAM(TestBool, bool, "TEST_BOOL", false, "test parameter");
TORC_PARAM(TestDouble, double, "TEST_DOUBLE", 1.5, "test parameter");
TORC_PARAM_CHOICE(TestChoice, "TEST_CHOICE", "auto", "auto|ring|tree", "test parameter");

namespace torc {
namespace {

TEST(Param, ParsesStrictly) {
  int64_t i = 0;
  EXPECT_TRUE(parseParam("42", &i));
  EXPECT_EQ(i, 42);
  EXPECT_TRUE(parseParam("512K", &i));
  EXPECT_EQ(i, 512 << 10);
  EXPECT_TRUE(parseParam("0x10", &i));
  EXPECT_EQ(i, 16);
  EXPECT_FALSE(parseParam("42abc", &i));
  EXPECT_FALSE(parseParam("", &i));
  EXPECT_FALSE(parseParam("99999999999999999999", &i));
  EXPECT_FALSE(parseParam("9000000000G", &i));
  bool b = false;
  EXPECT_TRUE(parseParam("yes", &b));
  EXPECT_TRUE(b);
  EXPECT_TRUE(parseParam("0", &b));
  EXPECT_FALSE(b);
  EXPECT_FALSE(parseParam("maybe", &b));
  double d = 0;
  EXPECT_TRUE(parseParam("2.5", &d));
  EXPECT_EQ(d, 2.5);
  EXPECT_FALSE(parseParam("nan", &d));
  EXPECT_FALSE(parseParam("1.0x", &d));
}

TEST(Param, EnvironmentBadValueKeepsDefault) {
  // Each parameter reads the environment once, at first use; these are first uses.
  setenv("TORC_TEST_INT", "12", 1);
  setenv("TORC_TEST_BOOL", "sometimes", 1);
  setenv("TORC_TEST_DOUBLE", "abc", 1);
  setenv("TORC_TEST_CHOICE", "bogus", 1);
  EXPECT_EQ(torcParamTestInt(), 12);
  EXPECT_EQ(torcParamTestBool(), false);
  EXPECT_EQ(torcParamTestDouble(), 1.5);
  EXPECT_EQ(torcParamTestChoice(), "auto");
}

TEST(Param, OverrideAndRegistry) {
  {
    ScopedParamOverride o("TORC_TEST_CHOICE", "ring");
    EXPECT_EQ(torcParamTestChoice(), "ring");
  }
  ParamBase* p = findParam("TORC_TEST_CHOICE");
  ASSERT_NE(p, nullptr);
  EXPECT_FALSE(p->overrideText("nope"));
  EXPECT_STREQ(p->choices(), "auto|ring|tree");
  bool found = false;
  for (ParamBase* q : allParams()) found |= std::string(q->name()) == "TORC_TEST_INT";
  EXPECT_TRUE(found);
  EXPECT_EQ(findParam("TORC_NO_SUCH"), nullptr);
}

TEST(Status, CarriesCodeAndMessage) {
  Status s = errorf(Code::kInvalidArgument, "root %d out of range", 9);
  EXPECT_FALSE(s.isOk());
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.toString(), "invalid argument: root 9 out of range");
  EXPECT_EQ(s.withContext("torcBroadcast").message(), "torcBroadcast: root 9 out of range");
  Result<int> r = Status(Code::kTimeout, "late");
  EXPECT_FALSE(r.isOk());
  Result<int> v = 3;
  EXPECT_EQ(v.value(), 3);
}

}  // namespace
}  // namespace torc
