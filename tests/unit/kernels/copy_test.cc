// copyStreaming equals memcpy for every size class and every alignment of source and destination.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/copy.h"

namespace torc::kernels {
namespace {

TEST(CopyStreaming, EqualsMemcpyAtEveryAlignmentAndSize) {
  const size_t sizes[] = {0, 1, 15, 63, 4095, 4096, 4097, 4096 + 63, 65536 + 17, 1 << 20};
  std::vector<uint8_t> src((1 << 20) + 64), dst((1 << 20) + 64 + 128);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint8_t>(i * 131 + 7);
  for (size_t n : sizes)
    for (size_t so : {0, 1, 8, 17})
      for (size_t dof : {0, 3, 16, 40}) {
        std::fill(dst.begin(), dst.end(), 0xEE);
        copyStreaming(dst.data() + 64 + dof, src.data() + so, n);
        ASSERT_EQ(memcmp(dst.data() + 64 + dof, src.data() + so, n), 0) << n << " " << so << " " << dof;
        // Nothing outside [dst, dst + n) is touched.
        for (size_t i = 0; i < 64 + dof; ++i) ASSERT_EQ(dst[i], 0xEE) << "before, n " << n;
        for (size_t i = 64 + dof + n; i < dst.size(); ++i) ASSERT_EQ(dst[i], 0xEE) << "after, n " << n;
      }
}

}  // namespace
}  // namespace torc::kernels
