// The shared kernel algorithms (membound_impl.h, gemm_impl.h) at AVX-512 widths and tiles
// (16 float / 8 double lanes, an 8 x 3-vector GEMM tile), over plain-array lanes, checked
// against naive loops. Runs on any CPU: it tests the generic code the AVX-512 table is
// built from, everywhere but its intrinsics. Built and run by tests/test_wide_lanes.py.
#include <array>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "kernels/contracts.h"

namespace fastconv {
namespace emu {

static constexpr const char* kIsaName = "emu";

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
  static reg add(reg a, reg b) { for (int l = 0; l < N; ++l) a.v[l] += b.v[l]; return a; }
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

// The AVX-512 register tiles and cache blocks (csrc/kernels/avx512/kernels_avx512.cpp).
template <class T> struct GemmTile;
template <> struct GemmTile<float> { static constexpr int MR = 8, NV = 3; static constexpr idx_t KC = 384, L2 = 192 << 10; };
template <> struct GemmTile<double> { static constexpr int MR = 8, NV = 3; static constexpr idx_t KC = 192, L2 = 192 << 10; };

#include "kernels/membound_impl.h"
#include "kernels/gemm_impl.h"

}  // namespace emu
}  // namespace fastconv

using namespace fastconv;
static std::mt19937 rng(7);
static int failures = 0;

template <class T> std::vector<T> rand_vec(size_t n) {
  std::normal_distribution<double> d;
  std::vector<T> v(n);
  for (auto& x : v) x = T(d(rng));
  return v;
}

template <class T> void expect_close(T got, double want, double scale, const char* what, long a, long b, long c) {
  const double tol = (sizeof(T) == 4 ? 1e-4 : 1e-11) * (scale + 1.0);
  if (!(std::fabs(double(got) - want) <= tol)) {
    if (++failures <= 10) std::printf("%s (%ld, %ld, %ld): got %g want %g\n", what, a, b, c, double(got), want);
  }
}

template <class T> void check_tapreduce(const KernelTable& k) {
  auto fn = KernelOf<T>::tapreduce(k);
  for (idx_t L : {1, 3, 8, 15, 16, 17, 24, 32, 48, 63, 64, 65, 70})
    for (idx_t seg : {1, 2, 3, 4, 8, 16, 32, 64, 70}) {
      if (L % seg) continue;
      const idx_t ntaps = 1 + L % 4, npix = 1 + L % 6, x_pix = L * ntaps + 5;
      std::vector<idx_t> taps(ntaps);
      for (idx_t t = 0; t < ntaps; ++t) taps[t] = t * L + t;
      auto x = rand_vec<T>(size_t(npix * x_pix + ntaps * (L + 1) + 8));
      auto w = rand_vec<T>(size_t(ntaps * L));
      std::vector<T> out(size_t(npix * (L / seg) * 2), T(-7));
      std::vector<T> scratch = std::vector<T>(static_cast<size_t>(L));
      TapReduceArgs<T> a{x.data(), x_pix, npix, taps.data(), ntaps, w.data(), L, seg, out.data(), 2 * (L / seg), scratch.data()};
      fn(a);
      for (idx_t p = 0; p < npix; ++p)
        for (idx_t j = 0; j < L / seg; ++j) {
          double want = 0, scale = 0;
          for (idx_t s = 0; s < seg; ++s)
            for (idx_t t = 0; t < ntaps; ++t) {
              const double v = double(x[p * x_pix + taps[t] + j * seg + s]) * w[t * L + j * seg + s];
              want += v, scale += std::fabs(v);
            }
          expect_close(out[p * 2 * (L / seg) + j], want, scale, "tapreduce", L, seg, p);
          if (out[p * 2 * (L / seg) + L / seg + j] != T(-7)) expect_close(T(1), 0, 0, "tapreduce wrote past a pixel", L, seg, p);
        }
    }
}

// The dot path's chunk sum: every length up to a chunk and past it (tails of 0 to 4 vectors).
template <class T> void check_dot(const KernelTable& k) {
  auto fn = KernelOf<T>::dot(k);
  const idx_t W = KernelOf<T>::blocking(k).w;
  for (idx_t n = 0; n <= 64 * W + 2 * W + 1; ++n)
    for (idx_t inc : {0, 1}) {
      auto a = rand_vec<T>(size_t(n + 1));
      auto b = rand_vec<T>(size_t(n + 1));
      double want = 0, scale = 0;
      for (idx_t i = 0; i < n; ++i) {
        const double v = double(a[i]) * b[i * inc];
        want += v, scale += std::fabs(v);
      }
      expect_close(fn(a.data(), b.data(), n, inc), want, scale, "dot", n, inc, 0);
    }
}

template <class T> void check_zip(const KernelTable& k) {
  auto fn = KernelOf<T>::zip(k);
  for (idx_t R = 1; R <= 20; ++R)
    for (idx_t C : {0, 1, 7, 8, 9, 15, 16, 17, 33, 40})
      for (bool stream : {false, true}) {
        const idx_t ld = C + 3, count = 2;
        auto src = rand_vec<T>(size_t(count * R * ld + 1));
        std::vector<T> dst(size_t(count * (R * C + 4) + 64), T(-7));
        T* d = dst.data() + (stream ? 0 : 1);
        fn(ZipArgs<T>{src.data(), ld, R, C, d, count, R * ld, R * C + 4, stream});
        for (idx_t b = 0; b < count; ++b)
          for (idx_t j = 0; j < C; ++j)
            for (idx_t i = 0; i < R; ++i)
              if (d[b * (R * C + 4) + j * R + i] != src[b * R * ld + i * ld + j]) expect_close(T(1), 0, 0, "zip", R, C, i);
      }
}

template <class T> void check_gemm(const KernelTable& k) {
  auto fn = KernelOf<T>::gemm(k);
  const GemmBlocking& bl = KernelOf<T>::blocking(k);
  const idx_t MR = bl.mr, NR = bl.nr;
  for (idx_t m : {idx_t(1), MR - 1, MR})
    for (idx_t n = 1; n <= NR; ++n)  // every width: narrow kernels, partial last vectors
      for (idx_t ks : {1, 3})
        for (idx_t cs : {1, 2})
          for (bool acc : {false, true}) {
            const idx_t nt = 1 + 2 * (n % 2);  // runs of 1 and 3 tiles: only the last keeps m rows
            std::vector<idx_t> off = {0, 40 * ks, 90 * ks}, len = {1, bl.kc - 1, 5};
            idx_t K = 0;
            for (idx_t l : len) K += l;
            auto a = rand_vec<T>(size_t(nt * MR * 200 * ks));
            const T* rows[64];
            for (idx_t i = 0; i < nt * MR; ++i) rows[i] = a.data() + i * 7 * ks;  // overlapping rows are fine
            auto b = rand_vec<T>(size_t(K * NR));
            const idx_t rs = NR * cs + 3;
            std::vector<T> c(size_t(nt * MR * rs + 64));
            for (auto& v : c) v = T(0.5);
            GemmArgs<T> g{rows, off.data(), len.data(), idx_t(off.size()), ks, b.data(), c.data(), rs, cs, m, n, acc, true,
                          (n & 2) == 0, nt};  // prefetch on and off: results must not change
            fn(g);
            const idx_t rows_kept = (nt - 1) * MR + m;
            for (idx_t i = 0; i < nt * MR; ++i)
              for (idx_t j = 0; j < NR; ++j) {
                const T got = c[i * rs + j * cs];
                if (i >= rows_kept || j >= n) {
                  if (got != T(0.5)) expect_close(T(1), 0, 0, "gemm wrote outside m x n", m, n, i);
                  continue;
                }
                double want = acc ? 0.5 : 0.0, scale = 1;
                idx_t kk = 0;
                for (size_t s = 0; s < off.size(); ++s)
                  for (idx_t t = 0; t < len[s]; ++t, ++kk) {
                    const double v = double(rows[i][off[s] + t * ks]) * b[kk * NR + j];
                    want += v, scale += std::fabs(v);
                  }
                expect_close(got, want, scale, "gemm", m, n, i * 100 + j);
              }
          }
}

// The zip kernel: every group's tiles, tile by tile, each output row written as
// G*n interleaved values and nothing past them.
template <class T> void check_gemm_zip(const KernelTable& k) {
  auto fn = KernelOf<T>::gemm_zip(k);
  const GemmBlocking& bl = KernelOf<T>::blocking(k);
  const idx_t MR = bl.mr, NR = bl.nr, K = 7;
  for (idx_t G : {2, 3, 4, 5, 8, 9})  // 9: more than kMaxZipGroups, the generic stores
    for (idx_t m : {idx_t(1), MR - 1, MR})
      for (idx_t n = 1; n <= NR; ++n)  // every width: the last vector's zipped values in every count
        for (bool stream : {false, true}) {
          const idx_t nt = 1 + n % 2, bgs = K * NR + 5;  // runs of 1 and 2 tiles
          auto a = rand_vec<T>(size_t(G * nt * MR * K));
          std::vector<const T*> rows(size_t(G * nt * MR));
          for (size_t r = 0; r < rows.size(); ++r) rows[r] = a.data() + r * K;  // group q's rows from q * nt * MR
          auto b = rand_vec<T>(size_t(G * bgs));
          std::vector<T> scratch(size_t((G - 1) * MR * NR));
          std::vector<idx_t> off = {0}, len = {K};
          const idx_t rs = G * NR + 5;
          std::vector<T> c(size_t(nt * MR * rs), T(0.5));
          GemmArgs<T> g{rows.data(), off.data(), len.data(), 1, 1, b.data(), c.data(), rs, G, m, n, false, stream,
                        (n & 2) == 0, nt};  // prefetch on and off
          g.groups = G, g.a_gs = nt * MR, g.b_gs = bgs, g.zip_src = scratch.data();
          fn(g);
          const idx_t rows_kept = (nt - 1) * MR + m;
          for (idx_t i = 0; i < nt * MR; ++i)
            for (idx_t j = 0; j < rs; ++j) {
              const T got = c[i * rs + j];
              if (i >= rows_kept || j >= G * n) {
                if (got != T(0.5)) expect_close(T(1), 0, 0, "gemm_zip wrote outside m x G*n", G, n, i);
                continue;
              }
              const idx_t col = j / G, q = j % G, W = bl.w;
              // B's column col, where the kernel takes B pre-permuted
              const idx_t bc = zip_prepermuted(G, W) ? col - col % W + (col % W * G + q) % W : col;
              double want = 0, scale = 1;
              for (idx_t kk = 0; kk < K; ++kk) {
                const double v = double(rows[q * nt * MR + i][kk]) * b[q * bgs + kk * NR + bc];
                want += v, scale += std::fabs(v);
              }
              expect_close(got, want, scale, "gemm_zip", G, n, i * 1000 + j);
            }
        }
}

int main() {
  const KernelTable& k = *emu::table();
  check_tapreduce<float>(k), check_tapreduce<double>(k);
  check_dot<float>(k), check_dot<double>(k);
  check_zip<float>(k), check_zip<double>(k);
  check_gemm<float>(k), check_gemm<double>(k);
  check_gemm_zip<float>(k), check_gemm_zip<double>(k);
  if (failures) {
    std::printf("%d failures\n", failures);
    return 1;
  }
  std::printf("ok\n");
  return 0;
}
