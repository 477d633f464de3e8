#include "dispatch.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>

namespace fastconv {
namespace {

struct Level {
  const char* name;
  const KernelTable* (*table)();  // nullptr: slot reserved, no kernels yet
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
    {"scalar", &scalar::table, &always},
    {"avx2", &avx2::table, &has_avx2},
    {"avx512", &avx512::table, &has_avx512},
};
#else
bool never() { return false; }
const Level kLevels[] = {
    {"scalar", &scalar::table, &always},
    {"neon", nullptr, &never},  // NEON kernels arrive in their own issue
};
#endif

struct State {
  std::vector<std::string> supported;
  std::atomic<const KernelTable*> current{nullptr};
  State() {
    const KernelTable* best = nullptr;
    for (const auto& l : kLevels)
      if (l.table && l.supported()) {
        supported.emplace_back(l.name);
        best = l.table();
      }
    current = best;
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
  for (const auto& l : kLevels) {
    if (name != l.name) continue;
    if (!l.table || !l.supported()) return "ISA level '" + name + "' is not supported by this CPU";
    state().current = l.table();
    return {};
  }
  return "unknown ISA level '" + name + "'";
}

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
