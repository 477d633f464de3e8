// A std::vector whose storage starts on a cache line and whose resize() leaves new
// elements uninitialised (every user writes before it reads).
#pragma once
#include <cstdlib>
#include <new>
#include <utility>
#include <vector>

#include "kernels/contracts.h"

namespace fastconv {
namespace engine {

// The kernels load vectors from these buffers: one that starts on a line never
// splits a vector load across two lines (a malloc'd block starts 16 bytes in).
template <class T>
struct LineAllocator {
  using value_type = T;
  LineAllocator() = default;
  template <class U>
  LineAllocator(const LineAllocator<U>&) {}
  T* allocate(size_t n) {
    const size_t bytes = (n * sizeof(T) + kCacheLine - 1) / kCacheLine * kCacheLine;
    if (n > size_t(-1) / sizeof(T) / 2) throw std::bad_alloc();
    if (void* p = std::aligned_alloc(kCacheLine, bytes)) return static_cast<T*>(p);
    throw std::bad_alloc();
  }
  void deallocate(T* p, size_t) { std::free(p); }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    if constexpr (sizeof...(Args) == 0)
      ::new (static_cast<void*>(p)) U;
    else
      ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  template <class U>
  bool operator==(const LineAllocator<U>&) const { return true; }
  template <class U>
  bool operator!=(const LineAllocator<U>&) const { return false; }
};
template <class T>
using Buffer = std::vector<T, LineAllocator<T>>;

}  // namespace engine
}  // namespace fastconv
