// The NEON kernels (AArch64 Advanced SIMD, the baseline of ARMv8-A: no extra flags).
// This ISA's kernels (registry.inc), the tile it dispatches and its L2 budget;
// everything in fastconv::neon.
#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/simd/neon.h"

namespace fastconv {
namespace neon {

static constexpr Isa kIsa = Isa::neon;
static constexpr const char* kIsaName = "neon";
// The GEMM tiles (MR, NV) the engine runs, the tiles it runs where N is exactly their
// width ({0, 0}: none; KernelOf::gemms), and the bytes of A an M block keeps in L2
// (docs/tuning.md).
static constexpr int kFitF32[2] = {0, 0}, kFitF64[2] = {0, 0};
#if defined(__clang__)
static constexpr int kDispatchF32[2] = {6, 3}, kDispatchF64[2] = {3, 6};
#else
static constexpr int kDispatchF32[2] = {6, 3}, kDispatchF64[2] = {5, 4};
#endif
static constexpr idx_t kL2 = 192 << 10;
// B read in place, not packed, where a thread's rows are at most this many tiles a
// panel (0: never; docs/tuning.md).
static constexpr idx_t kInPlaceTiles = 0;
// Pixels of the sliding depthwise tile for rows of 3 (stride 1 or 2), 5 and 7 taps (tapreduce.h:
// slide_pixels; docs/tuning.md).
static constexpr int kSlidePixels[3] = {8, 8, 8};

#include "kernels/impl/activation.h"
#include "kernels/impl/tapreduce.h"
#include "kernels/impl/dot.h"
#include "kernels/impl/zip.h"
#include "kernels/impl/gemm.h"
#include "kernels/impl/pack.h"
#include "kernels/impl/table.h"

}  // namespace neon
}  // namespace fastconv
