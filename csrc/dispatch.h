// CPU detection (once), the per-ISA kernel tables, and forcing a lower level.
#pragma once
#include <string>
#include <vector>

#include "kernels/contracts.h"

namespace fastconv {

// ISA levels, lowest first. "neon" keeps its slot on aarch64; until its kernels
// exist, aarch64 runs the scalar table.
std::vector<std::string> known_isas();
std::vector<std::string> supported_isas();  // on this CPU, lowest first
std::string best_isa();
std::string current_isa();
// Empty string on success, otherwise the reason (unknown / unsupported level).
std::string set_isa(const std::string& name);
const KernelTable& kernels();

// L2 bytes per core (the OS's cpuid report; 1 MiB where it gives none), read once.
idx_t l2_cache_bytes();

}  // namespace fastconv
