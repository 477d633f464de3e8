// Outputs' memory: 64-byte aligned arrays (aligned_empty), the cache of freed output
// blocks, and releasing what is kept between calls (release_memory).
#include <pybind11/stl.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include "bindings/common.h"
#include "engine/scratch.h"

namespace fastconv {
namespace bindings {
namespace {

// Large outputs freed by their arrays, kept for the next array of the same size.
// A fresh block of many MiB comes from the OS (glibc maps it or grows the heap,
// and gives it back on free, depending on its history): its first touch costs a
// page fault per 4 KiB, which the kernels' stores then wait on (docs/tuning.md). A
// repeated layer reuses its block instead. Bounded: blocks of at least kMinBytes, at
// most kMaxBlocks of them and kMaxHeld bytes, oldest out.
class BlockCache {
 public:
  static constexpr size_t kMinBytes = size_t(1) << 20, kMaxBlocks = 4, kMaxHeld = size_t(256) << 20;
  void* take(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(m_);
      for (size_t i = blocks_.size(); i-- > 0;)
        if (blocks_[i].first == bytes) {
          void* p = blocks_[i].second;
          blocks_.erase(blocks_.begin() + long(i));
          held_ -= bytes;
          return p;
        }
    }
    return std::aligned_alloc(64, bytes);
  }
  void give(void* p, size_t bytes) {
    if (bytes < kMinBytes || bytes > kMaxHeld) return std::free(p);
    std::lock_guard<std::mutex> lock(m_);
    blocks_.emplace_back(bytes, p);
    held_ += bytes;
    while (blocks_.size() > kMaxBlocks || held_ > kMaxHeld) {
      std::free(blocks_.front().second);
      held_ -= blocks_.front().first;
      blocks_.erase(blocks_.begin());
    }
  }
  size_t release() {  // frees every kept block; returns their bytes
    std::lock_guard<std::mutex> lock(m_);
    const size_t freed = held_;
    for (const auto& b : blocks_) std::free(b.second);
    blocks_.clear();
    held_ = 0;
    return freed;
  }
  std::vector<size_t> sizes() {  // oldest first
    std::lock_guard<std::mutex> lock(m_);
    std::vector<size_t> r;
    for (const auto& b : blocks_) r.push_back(b.first);
    return r;
  }
  // Never destroyed: arrays may be freed during interpreter shutdown.
  static BlockCache& instance() {
    static BlockCache* c = new BlockCache;
    return *c;
  }

 private:
  std::mutex m_;
  std::vector<std::pair<size_t, void*>> blocks_;
  size_t held_ = 0;
};

// An uninitialised C-contiguous array whose data is 64-byte aligned (vector and
// non-temporal stores line up), its block returned to BlockCache with the array.
// The block's first line holds its size; the data starts on the next line.
// Only for float dtypes: uninitialised memory of a dtype that holds references
// (object) would be read as pointers.
py::array aligned_empty(const std::vector<py::ssize_t>& shape, const py::dtype& dt) {
  if (native_float(dt) == 0)
    throw py::type_error("aligned_empty: dtype must be float32 or float64, got " + std::string(py::str(dt)));
  size_t n = size_t(dt.itemsize());
  for (const auto s : shape) {
    if (s < 0) throw py::value_error("aligned_empty: negative dimension");
    if (s != 0 && n > (size_t(1) << 62) / size_t(s)) throw py::value_error("aligned_empty: array is too big");
    n *= size_t(s);
  }
  const size_t bytes = (n + 63) / 64 * 64 + 64;
  auto* block = static_cast<unsigned char*>(BlockCache::instance().take(bytes));
  if (!block) throw std::bad_alloc();
  std::memcpy(block, &bytes, sizeof bytes);
  py::capsule owner(block + 64, [](void* data) {
    unsigned char* b = static_cast<unsigned char*>(data) - 64;
    size_t size;
    std::memcpy(&size, b, sizeof size);
    BlockCache::instance().give(b, size);
  });
  return py::array(dt, shape, {}, block + 64, owner);
}

size_t release_memory() {
  size_t freed = BlockCache::instance().release();
  py::gil_scoped_release release;
  freed += scratch::thread_bytes();
  scratch::release_thread();
  static std::atomic<size_t> worker_bytes;
  worker_bytes = 0;
  parallel::on_every_worker([] {
    worker_bytes += scratch::thread_bytes();
    scratch::release_thread();
  });
  return freed + worker_bytes;
}

}  // namespace

void def_memory(py::module_& m) {
  m.def("aligned_empty", &aligned_empty, py::arg("shape"), py::arg("dtype"));
  m.def("block_cache", [] {
    py::dict d;
    d["sizes"] = BlockCache::instance().sizes();
    d["max_blocks"] = BlockCache::kMaxBlocks, d["max_bytes"] = BlockCache::kMaxHeld;
    d["min_block"] = BlockCache::kMinBytes;
    return d;
  }, "Freed output blocks kept for reuse (their sizes in bytes, oldest first), and the limits.");
  m.def("release_memory", &release_memory,
        "Frees the kept output blocks and every thread's scratch; returns the bytes freed.");
  m.def("scratch_bytes", &scratch::thread_bytes, "Scratch bytes the calling thread keeps between calls.");
}

}  // namespace bindings
}  // namespace fastconv
