// The kernels' shared algorithms (kernels/impl/) at AVX-512 widths and with the AVX-512
// lines of registry.inc (16 float / 8 double lanes, its tiles and blocks), over plain
// arrays of lanes: everything of the AVX-512 path but its intrinsics, on any CPU.
#include <array>
#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/contracts.h"

namespace fastconv {
namespace emu {

template <class T, int N>
struct Lanes {
  static constexpr int W = N;
  struct reg { T v[N]; };
  using Perm = std::array<int, N>;
  using Mask = std::array<bool, N>;
  static reg zero() { reg r{}; return r; }
  static reg load(const T* p) { reg r; for (int l = 0; l < N; ++l) r.v[l] = p[l]; return r; }
  static void store(T* p, reg a) { for (int l = 0; l < N; ++l) p[l] = a.v[l]; }
  static void stream(T* p, reg a) { store(p, a); }
  static reg broadcast(const T* p) { reg r; for (int l = 0; l < N; ++l) r.v[l] = *p; return r; }
  static reg fmadd(reg a, reg b, reg c) { for (int l = 0; l < N; ++l) c.v[l] = std::fma(a.v[l], b.v[l], c.v[l]); return c; }
  static reg pin(reg v) { return v; }
  static reg add(reg a, reg b) { for (int l = 0; l < N; ++l) a.v[l] += b.v[l]; return a; }
  static reg set1(T x) { reg r; for (int l = 0; l < N; ++l) r.v[l] = x; return r; }
  static reg mul(reg a, reg b) { for (int l = 0; l < N; ++l) a.v[l] *= b.v[l]; return a; }
  static reg sub(reg a, reg b) { for (int l = 0; l < N; ++l) a.v[l] -= b.v[l]; return a; }
  static reg div(reg a, reg b) { for (int l = 0; l < N; ++l) a.v[l] /= b.v[l]; return a; }
  static reg max(reg a, reg b) { for (int l = 0; l < N; ++l) a.v[l] = a.v[l] > b.v[l] ? a.v[l] : b.v[l]; return a; }
  static reg min(reg a, reg b) { for (int l = 0; l < N; ++l) a.v[l] = a.v[l] < b.v[l] ? a.v[l] : b.v[l]; return a; }
  static reg round(reg a) { for (int l = 0; l < N; ++l) a.v[l] = std::nearbyint(a.v[l]); return a; }
  static reg ldexp(reg p, reg n) { for (int l = 0; l < N; ++l) p.v[l] = std::ldexp(p.v[l], int(n.v[l])); return p; }
  static Mask lt(reg a, reg b) { Mask m; for (int l = 0; l < N; ++l) m[l] = a.v[l] < b.v[l]; return m; }
  static reg maskload(const T* p, idx_t n) { reg r{}; for (int l = 0; l < N && l < n; ++l) r.v[l] = p[l]; return r; }
  static void maskstore(T* p, idx_t n, reg a) { for (int l = 0; l < N && l < n; ++l) p[l] = a.v[l]; }
  static T hsum(reg a) { T s = 0; for (int l = 0; l < N; ++l) s += a.v[l]; return s; }
  static Perm make_perm(const int* s) { Perm p; for (int l = 0; l < N; ++l) p[l] = s[l]; return p; }
  static Mask make_mask(const bool* s) { Mask m; for (int l = 0; l < N; ++l) m[l] = s[l]; return m; }
  static reg permute(const Perm& p, reg a) { reg r; for (int l = 0; l < N; ++l) r.v[l] = a.v[p[l]]; return r; }
  static reg blend(reg a, reg b, const Mask& m) { for (int l = 0; l < N; ++l) if (m[l]) a.v[l] = b.v[l]; return a; }
  template <int M> static reg blend_imm(reg a, reg b) { for (int l = 0; l < N; ++l) if (M >> l & 1) a.v[l] = b.v[l]; return a; }
  static reg permute_merge(reg acc, const Mask& m, const Perm& p, reg a) { return blend(acc, permute(p, a), m); }
};

template <class T> struct Vec;
template <> struct Vec<float> : Lanes<float, 16> {};
template <> struct Vec<double> : Lanes<double, 8> {};

static constexpr Isa kIsa = Isa::avx512;  // its registry lines
static constexpr const char* kIsaName = "emulated avx512";
static constexpr int kDispatchF32[2] = {8, 3}, kDispatchF64[2] = {8, 3};
static constexpr int kFitF32[2] = {6, 4}, kFitF64[2] = {0, 0};
static constexpr idx_t kL2 = 192 << 10;
static constexpr idx_t kInPlaceTiles = 64;
// Pixels of the sliding depthwise tile for rows of 3 (stride 1 or 2), 5 and 7 taps (tapreduce.h:
// slide_pixels; docs/tuning.md).
static constexpr int kSlidePixels[3] = {8, 16, 16};  // as config/avx512.cpp

#include "kernels/impl/activation.h"
#include "kernels/impl/tapreduce.h"
#include "kernels/impl/dot.h"
#include "kernels/impl/zip.h"
#include "kernels/impl/gemm.h"
#include "kernels/impl/pack.h"
#include "kernels/impl/table.h"

}  // namespace emu
}  // namespace fastconv
