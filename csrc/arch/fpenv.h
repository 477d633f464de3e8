// The floating-point environment of the threads that run a call, and the store
// fence after non-temporal stores: the architecture-specific code the engine needs.
#pragma once
#include <cstdint>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

namespace fastconv {
namespace arch {

// Whether this architecture can flush denormals to zero (set_flush_denormal).
constexpr bool kCanFlushDenormals =
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__)
    true;
#else
    false;
#endif

// While in scope, denormal inputs are read as zero and denormal results flushed to
// zero (on) or both kept as IEEE 754 says (off), on this thread; the thread's own
// mode is restored after. Every thread of a call runs in the same mode, so a result
// does not depend on which thread computed it.
class DenormalMode {
 public:
  explicit DenormalMode(bool flush) {
#if defined(__x86_64__) || defined(__i386__)
    constexpr unsigned kFtzDaz = 0x8040u;  // MXCSR FTZ (bit 15) and DAZ (bit 6)
    saved_ = _mm_getcsr();
    const unsigned want = flush ? (saved_ | kFtzDaz) : (saved_ & ~kFtzDaz);
    if (want != saved_) _mm_setcsr(want), changed_ = true;
#elif defined(__aarch64__)
    constexpr std::uint64_t kFz = std::uint64_t(1) << 24;  // FPCR.FZ
    std::uint64_t fpcr;
    asm volatile("mrs %0, fpcr" : "=r"(fpcr));
    saved_ = fpcr;
    const std::uint64_t want = flush ? (fpcr | kFz) : (fpcr & ~kFz);
    if (want != fpcr) {
      asm volatile("msr fpcr, %0" : : "r"(want));
      changed_ = true;
    }
#else
    (void)flush;
#endif
  }
  ~DenormalMode() {
    if (!changed_) return;
#if defined(__x86_64__) || defined(__i386__)
    _mm_setcsr(unsigned(saved_));
#elif defined(__aarch64__)
    asm volatile("msr fpcr, %0" : : "r"(saved_));
#endif
  }
  DenormalMode(const DenormalMode&) = delete;
  DenormalMode& operator=(const DenormalMode&) = delete;

 private:
  std::uint64_t saved_ = 0;
  bool changed_ = false;
};

// Orders this thread's non-temporal stores before whatever it does next.
inline void store_fence() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_sfence();
#elif defined(__aarch64__)
  asm volatile("dmb ishst" : : : "memory");
#endif
}

// A short pause in a spin-wait loop.
inline void spin_pause() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace arch
}  // namespace fastconv
