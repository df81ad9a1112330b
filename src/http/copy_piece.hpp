#pragma once
// Private to skiff_http: inline copies of the short pieces message heads are made of (header
// names and values, mostly under 32 bytes): a call into the C library's memcpy, with its size
// dispatch, costs more instructions than such a copy. Sans-I/O.

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace skiff::http::internal {

// Copies `n` bytes from `src` to `dst`, which must not overlap. Up to 32 bytes: two loads of the
// widest size that fits (16, 8, 4 bytes, or single bytes), the second overlapping the first,
// then two stores; longer pieces by memcpy.
inline void CopyPiece(char* dst, const char* src, size_t n) {
  if (n >= 16) {
    if (n > 32) {
      std::memcpy(dst, src, n);
      return;
    }
    char head[16], tail[16];
    std::memcpy(head, src, 16);
    std::memcpy(tail, src + n - 16, 16);
    std::memcpy(dst, head, 16);
    std::memcpy(dst + n - 16, tail, 16);
  } else if (n >= 8) {
    uint64_t head, tail;
    std::memcpy(&head, src, 8);
    std::memcpy(&tail, src + n - 8, 8);
    std::memcpy(dst, &head, 8);
    std::memcpy(dst + n - 8, &tail, 8);
  } else if (n >= 4) {
    uint32_t head, tail;
    std::memcpy(&head, src, 4);
    std::memcpy(&tail, src + n - 4, 4);
    std::memcpy(dst, &head, 4);
    std::memcpy(dst + n - 4, &tail, 4);
  } else if (n != 0) {  // 1 to 3 bytes: the first, the middle and the last
    const char a = src[0], b = src[n / 2], c = src[n - 1];
    dst[0] = a;
    dst[n / 2] = b;
    dst[n - 1] = c;
  }
}

}  // namespace skiff::http::internal
