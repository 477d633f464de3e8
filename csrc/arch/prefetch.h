// Prefetching a line, and the lines of a row's segments; cache-line constants.
#pragma once
#include <cstddef>

namespace fastconv {

using idx_t = std::ptrdiff_t;

// Bytes per cache line, for prefetching a run a line at a time.
constexpr idx_t kCacheLine = 64;
// Elements of T in a cache line.
template <class T>
constexpr idx_t kLineElems = kCacheLine / idx_t(sizeof(T));

// Fetches the cache line holding p into L1 (L2: into L2, not L1, for lines read a call
// later). An asm statement, not __builtin_prefetch: GCC deletes a loop whose only
// statement is the builtin (it counts as free of effects), and a loop is how a row's
// lines are fetched (docs/tuning.md). A loop that does more (the kernel's own) keeps the
// builtin.
template <bool L2 = false>
inline void prefetch_line(const void* p) {
#if defined(__x86_64__) || defined(__i386__)
  if constexpr (L2)
    asm volatile("prefetcht1 %0" : : "m"(*static_cast<const char*>(p)));
  else
    asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#elif defined(__aarch64__)
  if constexpr (L2)
    asm volatile("prfm pldl2keep, %0" : : "Q"(*static_cast<const char*>(p)));
  else
    asm volatile("prfm pldl1keep, %0" : : "Q"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 0, L2 ? 2 : 3);
#endif
}

// Every line of one A row's unit-stride K segments [off[s], off[s] + len[s]),
// s < nseg, a line at a time from each segment's start (the kernel's next tile and
// the engine's). Always inlined, so it is built with each caller's ISA flags.
template <class T>
__attribute__((always_inline)) inline void prefetch_row(const T* row, const idx_t* off, const idx_t* len,
                                                         idx_t nseg) {
  for (idx_t s = 0; s < nseg; ++s)
    for (idx_t e = 0; e < len[s]; e += kLineElems<T>) prefetch_line(row + off[s] + e);
}

}  // namespace fastconv
