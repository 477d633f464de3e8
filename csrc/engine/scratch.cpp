// Per-thread scratch buffers (scratch.h).
#include "engine/scratch.h"

#include <cstdlib>
#include <new>

namespace fastconv {
namespace scratch {
namespace {

struct Block {
  void* p = nullptr;
  size_t bytes = 0;
  ~Block() { std::free(p); }
};

thread_local Block t_blocks[kSlots];

}  // namespace

void* get(int slot, size_t bytes) {
  Block& b = t_blocks[slot];
  if (bytes <= b.bytes) return b.p;
  std::free(b.p);
  b.p = nullptr, b.bytes = 0;
  const size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded < bytes) throw std::bad_alloc();
  void* p = std::aligned_alloc(64, rounded ? rounded : 64);
  if (!p) throw std::bad_alloc();
  b.p = p, b.bytes = rounded;
  return p;
}

void trim(int slot, size_t keep) {
  Block& b = t_blocks[slot];
  if (b.bytes > keep) std::free(b.p), b.p = nullptr, b.bytes = 0;
}

size_t thread_bytes() {
  size_t n = 0;
  for (const Block& b : t_blocks) n += b.bytes;
  return n;
}

void release_thread() {
  for (int s = 0; s < kSlots; ++s) trim(s, 0);
}

}  // namespace scratch
}  // namespace fastconv
