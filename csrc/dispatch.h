// CPU detection (once), the per-ISA kernel tables, and forcing a lower level.
#pragma once
#include <string>
#include <vector>

#include "kernels/contracts.h"

namespace fastconv {

// ISA levels, lowest first. On aarch64 "neon" is the baseline where its kernels are
// built (config/neon.cpp), else aarch64 runs the scalar table.
std::vector<std::string> known_isas();
std::vector<std::string> supported_isas();  // on this CPU, lowest first
std::string best_isa();
std::string current_isa();
// Empty string on success, otherwise the reason (unknown / unsupported level).
std::string set_isa(const std::string& name);
const KernelTable& kernels();
// Every kernel of every level this CPU supports, lowest first (the kernel testers').
std::vector<const IsaKernels*> supported_kernels();

// L2 bytes per core (the OS's cpuid report; 1 MiB where it gives none), read once.
idx_t l2_cache_bytes();

}  // namespace fastconv
