// Per-thread scratch buffers, kept between calls: a fresh block of MiBs costs a page
// fault per 4 KiB on its first touch, which a repeated layer would pay every call.
// release_thread() frees them (fastconv.release_memory() runs it on every thread).
#pragma once
#include <cstddef>

namespace fastconv {
namespace scratch {

enum Slot : int {
  kPackedB,     // the GEMM's packed B (of the thread that makes the call)
  kRowOffsets,  // a GEMM block's A and output row offsets, and the lookahead's
  kRowPtrs,     // a GEMM block's A row pointers and tile row strides
  kTiles,       // GEMM tile scratch (irregular outputs, the zip kernel)
  kGather,      // A rows gathered into contiguous rows
  kPadRows,     // a GEMM block's rows that read zero padding, and their coordinates
  kPadArena,    // copies of those rows' pieces, zeros for the padding
  kStage,       // the fused chain's block of intermediate rows
  kTaps,        // tap-reduce: tap offsets, packed weights, segment scratch
  kLines,       // the padded depthwise path's staged lines of x
  kReduce,      // the dot path's gathered chunks, tap-reduce's partial sums
  kSlots
};

// A 64-byte aligned buffer of at least `bytes` in this thread's slot; its contents
// are unspecified after it grows. Throws std::bad_alloc.
void* get(int slot, size_t bytes);
template <class T>
T* get(int slot, size_t count) {
  return static_cast<T*>(get(slot, count * sizeof(T)));
}
// Frees the slot's buffer if it holds more than keep bytes.
void trim(int slot, size_t keep);
// Bytes this thread holds, and freeing them.
size_t thread_bytes();
void release_thread();

}  // namespace scratch
}  // namespace fastconv
