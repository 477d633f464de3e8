// CPU detection (once), each level's kernels and the table the engine calls, forcing a lower level.
#include "dispatch.h"

#include <unistd.h>

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
bool has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
bool has_avx512() {
  __builtin_cpu_init();
  return has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
}
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

// The engine's view of a level: its kernels with the dispatched GEMM tile per dtype.
KernelTable table_of(const IsaKernels& k) {
  return {k.isa, k.mem_f32, k.mem_f64, k.gemm_f32.at(k.dispatch_f32), k.gemm_f64.at(k.dispatch_f64)};
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
