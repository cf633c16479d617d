#include "kernels/copy.h"

#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace torc::kernels {

void copyStreaming(void* dst, const void* src, size_t n) {
#if defined(__SSE2__)
  auto* d = static_cast<char*>(dst);
  const auto* s = static_cast<const char*>(src);
  // Small copies gain nothing; the head up to 16-byte alignment of dst goes the normal way.
  if (n < 4096) {
    memcpy(d, s, n);
    return;
  }
  size_t head = (16 - reinterpret_cast<uintptr_t>(d) % 16) % 16;
  memcpy(d, s, head);
  d += head, s += head, n -= head;
  size_t i = 0;
  // Four independent 16-byte streams per iteration keep the write-combining buffers full.
  for (; i + 64 <= n; i += 64) {
    __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
    __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i + 16));
    __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i + 32));
    __m128i e = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i + 48));
    _mm_stream_si128(reinterpret_cast<__m128i*>(d + i), a);
    _mm_stream_si128(reinterpret_cast<__m128i*>(d + i + 16), b);
    _mm_stream_si128(reinterpret_cast<__m128i*>(d + i + 32), c);
    _mm_stream_si128(reinterpret_cast<__m128i*>(d + i + 48), e);
  }
  _mm_sfence();
  memcpy(d + i, s + i, n - i);
#else
  memcpy(dst, src, n);
#endif
}

}  // namespace torc::kernels
