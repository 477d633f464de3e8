// The AVX2 + FMA kernels, compiled with -mavx2 -mfma.
// This ISA's kernels (registry.inc), the tile it dispatches and its L2 budget;
// everything in fastconv::avx2, so that no inline code built with these flags can be
// merged into another ISA's.
#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/simd/avx2.h"

namespace fastconv {
namespace avx2 {

static constexpr Isa kIsa = Isa::avx2;
static constexpr const char* kIsaName = "avx2";
// The GEMM tiles (MR, NV) the engine runs, the tiles it runs where N is exactly their
// width ({0, 0}: none; KernelOf::gemms), and the bytes of A an M block keeps in L2
// (docs/tuning.md).
static constexpr int kDispatchF32[2] = {6, 2}, kDispatchF64[2] = {6, 2};
static constexpr int kFitF32[2] = {0, 0}, kFitF64[2] = {0, 0};
static constexpr idx_t kL2 = 192 << 10;
// B read in place, not packed, where a thread's rows are at most this many tiles a
// panel (0: never; docs/tuning.md).
static constexpr idx_t kInPlaceTiles = 0;
// Pixels of the sliding depthwise tile for rows of 3 (stride 1 or 2), 5 and 7 taps (tapreduce.h:
// slide_pixels; docs/tuning.md).
static constexpr int kSlidePixels[3] = {4, 4, 4};

#include "kernels/impl/activation.h"
#include "kernels/impl/tapreduce.h"
#include "kernels/impl/dot.h"
#include "kernels/impl/zip.h"
#include "kernels/impl/gemm.h"
#include "kernels/impl/pack.h"
#include "kernels/impl/table.h"

}  // namespace avx2
}  // namespace fastconv
