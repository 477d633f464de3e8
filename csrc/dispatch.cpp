// CPU detection (once), each level's kernels and the table the engine calls, forcing a lower level.
#include "dispatch.h"

#include <unistd.h>
#if defined(FASTCONV_HAVE_X86)
#include <cpuid.h>
#endif

#include <algorithm>
#include <atomic>

namespace fastconv {
// Built only where config/neon.cpp is: a weak reference, null without it.
namespace neon {
const IsaKernels& kernels() __attribute__((weak));
}

namespace {

struct Level {
  const char* name;
  const IsaKernels& (*kernels)();  // null: no kernels for this level in this build
  bool (*supported)();
};

bool always() { return true; }

#if defined(FASTCONV_HAVE_X86)
// CPUID and XGETBV read here, not through __builtin_cpu_supports: that reads the
// compiler runtime's CPU model, which zig's compiler-rt (the release wheel's
// toolchain, .ci/zig-c++) leaves empty, so the wheel saw only "scalar". A level
// needs its instructions (CPUID) and the OS saving their registers (XCR0: XMM and
// YMM state for AVX2, also the opmask and ZMM state for AVX-512).
struct X86Levels {
  bool avx2 = false, avx512 = false;
};
X86Levels detect_x86() {
  X86Levels l;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return l;
  const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28);
  if (!(fma && osxsave && avx) || __get_cpuid_max(0, nullptr) < 7) return l;
  unsigned xcr0_lo, xcr0_hi;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  const bool os_ymm = (xcr0_lo & 0x6u) == 0x6u, os_zmm = (xcr0_lo & 0xe6u) == 0xe6u;
  __cpuid_count(7, 0, a, b, c, d);
  const bool avx2 = b & (1u << 5), avx512f = b & (1u << 16), avx512dq = b & (1u << 17),
             avx512bw = b & (1u << 30), avx512vl = b & (1u << 31);
  l.avx2 = os_ymm && avx2;
  l.avx512 = l.avx2 && os_zmm && avx512f && avx512dq && avx512bw && avx512vl;
  return l;
}
const X86Levels& x86_levels() {
  static const X86Levels l = detect_x86();
  return l;
}
bool has_avx2() { return x86_levels().avx2; }
bool has_avx512() { return x86_levels().avx512; }
const Level kLevels[] = {
    {"scalar", &scalar::kernels, &always},
    {"avx2", &avx2::kernels, &has_avx2},
    {"avx512", &avx512::kernels, &has_avx512},
};
#else
const Level kLevels[] = {
    {"scalar", &scalar::kernels, &always},
    {"neon", &neon::kernels, &always},  // ARMv8-A has NEON
};
#endif

// The engine's view of a level: its kernels with the dispatched GEMM tiles per dtype.
KernelTable table_of(const IsaKernels& k) {
  KernelTable t{k.isa, k.mem_f32, k.mem_f64, k.gemm_f32[k.dispatch_f32], k.gemm_f64[k.dispatch_f64], {}, {}};
  if (k.fit_f32 != IsaKernels::kNone) t.fit_f32 = k.gemm_f32[k.fit_f32];
  if (k.fit_f64 != IsaKernels::kNone) t.fit_f64 = k.gemm_f64[k.fit_f64];
  return t;
}

struct State {
  std::vector<std::string> supported;
  std::vector<const IsaKernels*> kernels;  // of the supported levels
  std::vector<KernelTable> tables;
  std::atomic<const KernelTable*> current{nullptr};
  State() {
    for (const auto& l : kLevels)
      if (l.kernels && l.supported()) {
        supported.emplace_back(l.name);
        kernels.push_back(&l.kernels());
        tables.push_back(table_of(l.kernels()));
      }
    current = &tables.back();
  }
};

State& state() {
  static State s;  // detection runs once
  return s;
}

}  // namespace

std::vector<std::string> known_isas() {
  std::vector<std::string> v;
  for (const auto& l : kLevels) v.emplace_back(l.name);
  return v;
}

std::vector<std::string> supported_isas() { return state().supported; }
std::string best_isa() { return state().supported.back(); }
std::string current_isa() { return state().current.load()->name; }
const KernelTable& kernels() { return *state().current.load(); }

std::string set_isa(const std::string& name) {
  State& s = state();
  for (size_t i = 0; i < s.supported.size(); ++i)
    if (name == s.supported[i]) {
      s.current = &s.tables[i];
      return {};
    }
  for (const auto& l : kLevels)
    if (name == l.name) return "ISA level '" + name + "' is not supported by this CPU";
  return "unknown ISA level '" + name + "'";
}

std::vector<const IsaKernels*> supported_kernels() { return state().kernels; }

idx_t l2_cache_bytes() {
  static const idx_t bytes = [] {
#if defined(_SC_LEVEL2_CACHE_SIZE)
    const long v = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (v > 0) return idx_t(v);
#endif
    return idx_t(1) << 20;
  }();
  return bytes;
}

}  // namespace fastconv
