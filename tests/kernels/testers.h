// Kernel testers: every family's contract (kernels/contracts.h) checked against naive
// loops, for one registry line's kernels, called through the same pointers the engine
// calls (tests/kernels/module.cpp runs them for every line of every table this CPU
// has, and for the emulated AVX-512 one). Any CPU, any ISA: no intrinsics here.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kernels/contracts.h"

namespace fastconv {
namespace testers {

// What failed (at most kKept described), and the random inputs.
struct Report {
  static constexpr int kKept = 10;
  std::vector<std::string> failures;
  int count = 0;
  std::mt19937 rng{7};

  template <class T>
  std::vector<T> rand(size_t n) {
    std::normal_distribution<double> d;
    std::vector<T> v(n);
    for (auto& x : v) x = T(d(rng));
    return v;
  }
  template <class T>
  void close(T got, double want, double scale, const char* what, long a, long b, long c) {
    const double tol = (sizeof(T) == 4 ? 1e-4 : 1e-11) * (scale + 1.0);
    if (std::fabs(double(got) - want) <= tol) return;
    fail(got, want, what, a, b, c);
  }
  template <class T>
  void fail(T got, double want, const char* what, long a, long b, long c) {
    if (++count > kKept) return;
    char buf[200];
    std::snprintf(buf, sizeof buf, "%s (%ld, %ld, %ld): got %g want %g", what, a, b, c, double(got), want);
    failures.emplace_back(buf);
  }
};

template <class T> void check_tapreduce(Report& r, const MemKernels<T>& k) {
  auto fn = k.tapreduce;
  for (idx_t L : {1, 3, 8, 15, 16, 17, 24, 32, 48, 63, 64, 65, 70})
    for (idx_t seg : {1, 2, 3, 4, 8, 16, 32, 64, 70}) {
      if (L % seg) continue;
      // seg == L: past the dot's blocks of 4 pixels, and a tail.
      const idx_t ntaps = 1 + L % 4, x_pix = L * ntaps + 5;
      const idx_t npix = seg == L ? 2 * k.w + 1 + L % 6 : 1 + L % 6 + (seg == 1 ? 4 : 0);
      std::vector<idx_t> taps(ntaps);
      for (idx_t t = 0; t < ntaps; ++t) taps[t] = t * L + t;
      auto x = r.rand<T>(size_t(npix * x_pix + ntaps * (L + 1) + 8));
      auto w = r.rand<T>(size_t(ntaps * L));
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
          r.close(out[p * 2 * (L / seg) + j], want, scale, "tapreduce", L, seg, p);
          if (out[p * 2 * (L / seg) + L / seg + j] != T(-7)) r.close(T(1), 0, 0, "tapreduce wrote past a pixel", L, seg, p);
        }
      // Lines fetched ahead over the call (the whole of x): the same outputs, bit for bit.
      const std::vector<T> first = out;
      a.ahead = x.data(), a.ahead_bytes = idx_t(x.size() * sizeof(T));
      fn(a);
      for (size_t i = 0; i < out.size(); ++i)
        if (out[i] != first[i]) r.fail(out[i], double(first[i]), "tapreduce with lines ahead", L, seg, idx_t(i));
      a.ahead = nullptr, a.ahead_bytes = 0;
      if (seg != L) continue;
      // One output per pixel, contiguous: as above, nothing past the end.
      std::vector<T> packed(size_t(npix + 1), T(-7));
      a.out = packed.data(), a.out_pix = 1;
      fn(a);
      for (idx_t p = 0; p < npix; ++p)
        if (packed[size_t(p)] != out[size_t(p * 2)]) r.fail(packed[size_t(p)], double(out[size_t(p * 2)]), "tapreduce contiguous", L, seg, p);
      if (packed[size_t(npix)] != T(-7)) r.fail(packed[size_t(npix)], -7.0, "tapreduce contiguous wrote past the end", L, seg, npix);
    }
}

// The dot path's chunk sum: every length up to a chunk and past it (tails of 0 to 4 vectors).
template <class T> void check_dot(Report& r, const MemKernels<T>& k) {
  auto fn = k.dot;
  const idx_t W = k.w;
  for (idx_t n = 0; n <= 64 * W + 2 * W + 1; ++n)
    for (idx_t inc : {0, 1}) {
      auto a = r.rand<T>(size_t(n + 1));
      auto b = r.rand<T>(size_t(n + 1));
      double want = 0, scale = 0;
      for (idx_t i = 0; i < n; ++i) {
        const double v = double(a[i]) * b[i * inc];
        want += v, scale += std::fabs(v);
      }
      r.close(fn(a.data(), b.data(), n, inc), want, scale, "dot", n, inc, 0);
    }
}

template <class T> void check_zip(Report& r, const MemKernels<T>& k) {
  auto fn = k.zip;
  for (idx_t R = 1; R <= 20; ++R)
    for (idx_t C : {0, 1, 7, 8, 9, 15, 16, 17, 33, 40})
      for (bool stream : {false, true}) {
        const idx_t ld = C + 3, count = 2;
        auto src = r.rand<T>(size_t(count * R * ld + 1));
        std::vector<T> dst(size_t(count * (R * C + 4) + 64), T(-7));
        T* d = dst.data() + (stream ? 0 : 1);
        fn(ZipArgs<T>{src.data(), ld, R, C, d, count, R * ld, R * C + 4, stream});
        for (idx_t b = 0; b < count; ++b)
          for (idx_t j = 0; j < C; ++j)
            for (idx_t i = 0; i < R; ++i)
              if (d[b * (R * C + 4) + j * R + i] != src[b * R * ld + i * ld + j]) r.close(T(1), 0, 0, "zip", R, C, i);
      }
}

template <class T> void check_gemm(Report& r, const GemmKernels<T>& k) {
  auto fn = k.gemm;
  const GemmBlocking& bl = k.blocking;
  const idx_t MR = bl.mr, NR = bl.nr;
  for (idx_t m : {idx_t(1), MR - 1, MR})
    for (idx_t n = 1; n <= NR; ++n)  // every width: narrow kernels, partial last vectors
      for (idx_t ks : {1, 3})
        for (idx_t cs : {1, 2})
          for (bool acc : {false, true})
            for (idx_t ldb : {idx_t(0), NR + 3}) {  // packed panels; B read in place (rows misaligned)
              const idx_t nt = 1 + 2 * (n % 2);  // runs of 1 and 3 tiles: only the last keeps m rows
              std::vector<idx_t> off = {0, 40 * ks, 90 * ks}, len = {1, bl.kc - 1, 5};
              idx_t K = 0;
              for (idx_t l : len) K += l;
              auto a = r.rand<T>(size_t(nt * MR * 200 * ks));
              const T* rows[64];
              for (idx_t i = 0; i < nt * MR; ++i) rows[i] = a.data() + i * 7 * ks;  // overlapping rows are fine
              const idx_t bs = ldb > 0 ? ldb : NR;
              auto b = r.rand<T>(size_t(K * bs));
              const idx_t rs = NR * cs + 3;
              std::vector<T> c(size_t(nt * MR * rs + 64));
              for (auto& v : c) v = T(0.5);
              GemmArgs<T> g{rows, off.data(), len.data(), idx_t(off.size()), ks, b.data(), c.data(), rs, cs, m, n, acc, true,
                            (n & 2) == 0, nt};  // prefetch on and off: results must not change
              g.ldb = ldb;
              fn(g);
              const idx_t rows_kept = (nt - 1) * MR + m;
              for (idx_t i = 0; i < nt * MR; ++i)
                for (idx_t j = 0; j < NR; ++j) {
                  const T got = c[i * rs + j * cs];
                  if (i >= rows_kept || j >= n) {
                    if (got != T(0.5)) r.close(T(1), 0, 0, "gemm wrote outside m x n", m, n, i);
                    continue;
                  }
                  double want = acc ? 0.5 : 0.0, scale = 1;
                  idx_t kk = 0;
                  for (size_t s = 0; s < off.size(); ++s)
                    for (idx_t t = 0; t < len[s]; ++t, ++kk) {
                      const double v = double(rows[i][off[s] + t * ks]) * b[kk * bs + j];
                      want += v, scale += std::fabs(v);
                    }
                  r.close(got, want, scale, "gemm", m, n, i * 100 + j);
                }
            }
}

// The zip kernel: every group's tiles, tile by tile, each output row written as
// G*n interleaved values and nothing past them.
template <class T> void check_gemm_zip(Report& r, const GemmKernels<T>& k) {
  auto fn = k.gemm_zip;
  const GemmBlocking& bl = k.blocking;
  const idx_t MR = bl.mr, NR = bl.nr, K = 7;
  for (idx_t G : {2, 3, 4, 5, 8, 9})  // 9: more than kMaxZipGroups, the generic stores
    for (idx_t m : {idx_t(1), MR - 1, MR})
      for (idx_t n = 1; n <= NR; ++n)  // every width: the last vector's zipped values in every count
        for (bool stream : {false, true}) {
          const idx_t nt = 1 + n % 2, bgs = K * NR + 5;  // runs of 1 and 2 tiles
          auto a = r.rand<T>(size_t(G * nt * MR * K));
          std::vector<const T*> rows(size_t(G * nt * MR));
          for (size_t r = 0; r < rows.size(); ++r) rows[r] = a.data() + r * K;  // group q's rows from q * nt * MR
          auto b = r.rand<T>(size_t(G * bgs));
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
                if (got != T(0.5)) r.close(T(1), 0, 0, "gemm_zip wrote outside m x G*n", G, n, i);
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
              r.close(got, want, scale, "gemm_zip", G, n, i * 1000 + j);
            }
        }
}

// Packing B: every panel's values, zero padding and (for the zip kernel) the lanes.
template <class T> void check_pack_b(Report& r, const GemmKernels<T>& k) {
  const GemmBlocking& bl = k.blocking;
  const idx_t NR = bl.nr, W = bl.w;
  for (idx_t G : {1, 2, 3})
    for (idx_t N : {idx_t(1), W - 1 > 0 ? W - 1 : 1, W, NR - 1 > 0 ? NR - 1 : 1, NR, NR + 3, 2 * NR + W})
      for (bool ncontig : {true, false})
        for (idx_t zip : {idx_t(0), G > 1 && zip_prepermuted(G, W) ? G : 0}) {
          const idx_t K = 11, nvec = (N + W - 1) / W, nv = NR / W, npanels = (nvec + nv - 1) / nv;
          std::vector<idx_t> pcol, g_b, k_b, n_b;
          for (idx_t p = 0; p <= npanels; ++p) pcol.push_back(std::min(N, nvec * p / npanels * W));
          const idx_t ns = ncontig ? 1 : 2, row = N * ns + 3;
          for (idx_t g = 0; g < G; ++g) g_b.push_back(g * K * row + 1);
          for (idx_t kk = 0; kk < K; ++kk) k_b.push_back(kk * row);
          for (idx_t j = 0; j < N; ++j) n_b.push_back(j * ns);
          auto b = r.rand<T>(size_t(G * K * row + 2));
          std::vector<T> dst(size_t(G * npanels * K * NR), T(-7));
          // Two shares, as two threads pack (rows [0, G K / 2) and the rest), the second
          // a range of panels at a time (a thread packing only its column share's): the
          // panels outside a call's range are left as they were.
          auto pack = [&](idx_t part, idx_t p0, idx_t p1) {
            k.pack_b({b.data(), g_b.data(), k_b.data(), n_b.data(), pcol.data(), npanels, K, ncontig, zip,
                      G * K * part / 2, G * K * (part + 1) / 2, dst.data(), p0, p1});
          };
          const idx_t ps = npanels / 2;
          pack(0, 0, npanels);
          pack(1, ps, npanels);
          for (idx_t rr = G * K / 2; rr < G * K; ++rr)
            for (idx_t p = 0; p < ps; ++p)
              for (idx_t j = 0; j < NR; ++j)
                if (dst[((rr / K * npanels + p) * K + rr % K) * NR + j] != T(-7))
                  r.close(T(1), 0, 0, "pack_b panel range", G * 1000 + N, p * 100 + rr % K, j);
          pack(1, 0, ps);
          for (idx_t g = 0; g < G; ++g)
            for (idx_t p = 0; p < npanels; ++p)
              for (idx_t kk = 0; kk < K; ++kk)
                for (idx_t j = 0; j < NR; ++j) {
                  const idx_t nn = pcol[p + 1] - pcol[p];
                  idx_t col = j;  // the column of B at this place
                  if (zip) {  // lane (c*G + g) % W holds column c of its vector
                    col = -1;
                    for (idx_t c = 0; c < W; ++c)
                      if ((c * G + g) % W == j % W) col = j - j % W + c;
                  }
                  const T want = col >= 0 && col < nn ? b[g_b[g] + k_b[kk] + n_b[pcol[p] + col]] : T(0);
                  const T got = dst[((g * npanels + p) * K + kk) * NR + j];
                  if (got != want) r.close(T(1), 0, 0, "pack_b", G * 1000 + N, p * 100 + kk, j);
                }
        }
}

// The reference activations (contracts.h: Act), in long double.
inline long double act_ref(long double v, int act) {
  switch (Act(act)) {
    case Act::relu: return v > 0 ? v : 0;
    case Act::relu6: return v < 0 ? 0 : v > 6 ? 6 : v;
    case Act::silu: return v / (1 + std::exp(-v));
    case Act::gelu: return 0.5L * v * (1 + std::erf(v / std::sqrt(2.0L)));
    case Act::none: break;
  }
  return v;
}

// Each activation on its own: tap-reduce of one tap with unit weights (outputs x + 0),
// over [-20, 20] and extremes, against long double: a relative error of a few ulps.
template <class T> void check_activations(Report& r, const MemKernels<T>& k) {
  const idx_t L = 1000;
  const size_t n = static_cast<size_t>(L);
  std::vector<T> x(n), w(n, T(1)), bias(n, T(0)), out(n);
  for (idx_t i = 0; i < L; ++i) x[i] = T(-20 + 40.0 * double(i) / double(L - 1));
  const T extremes[] = {T(0), T(-0.0), T(1e-30), T(-1e-30), T(-100), T(100), T(-87), T(88), T(6), T(-6)};
  for (size_t i = 0; i < sizeof extremes / sizeof extremes[0]; ++i) x[i] = extremes[i];
  const idx_t tap = 0;
  const double tol = sizeof(T) == 4 ? 4e-6 : 1e-13;
  for (int act = 1; act <= 4; ++act) {
    TapReduceArgs<T> a{x.data(), L, 1, &tap, 1, w.data(), L, 1, out.data(), L, nullptr, bias.data(), act};
    k.tapreduce(a);
    for (idx_t i = 0; i < L; ++i) {
      const long double want = act_ref(x[i], act);
      // Relative, or a few ulps of the input where the result is far smaller (GELU's
      // 1 + erf cancels, in torch's formula as in ours).
      const double err = std::fabs(double(out[i]) - double(want));
      const double ulp = sizeof(T) == 4 ? 1.2e-7 : 2.3e-16;
      if (!(err <= tol * std::fabs(double(want)) || err <= 4 * ulp * std::fmax(1.0, std::fabs(double(x[i])))))
        r.fail(out[i], double(want), "activation", act, i, 0);
    }
  }
}

// The epilogue on every store path of tap-reduce: act(sum + bias[j]).
template <class T> void check_tapreduce_epilogue(Report& r, const MemKernels<T>& k) {
  for (idx_t L : {3, 16, 17, 64, 70})
    for (idx_t seg : {1, 2, 4, 5, 16, 70})
      for (int act = 0; act <= 4; ++act) {
        if (L % seg) continue;
        const idx_t ntaps = 3, npix = seg == L ? k.w + 9 : 9, x_pix = L * ntaps + 5, outs = L / seg;
        std::vector<idx_t> taps(ntaps);
        for (idx_t t = 0; t < ntaps; ++t) taps[t] = t * L + t;
        auto x = r.rand<T>(size_t(npix * x_pix + ntaps * (L + 1) + 8));
        auto w = r.rand<T>(size_t(ntaps * L));
        auto bias = r.rand<T>(size_t(outs));
        std::vector<T> out(size_t(npix * outs * 2), T(-7)), scratch(static_cast<size_t>(L));
        TapReduceArgs<T> a{x.data(), x_pix, npix, taps.data(), ntaps, w.data(), L, seg, out.data(), 2 * outs,
                           scratch.data(), bias.data(), act};
        k.tapreduce(a);
        for (idx_t p = 0; p < npix; ++p)
          for (idx_t j = 0; j < outs; ++j) {
            double sum = 0, scale = std::fabs(double(bias[j]));
            for (idx_t q = 0; q < seg; ++q)
              for (idx_t t = 0; t < ntaps; ++t) {
                const double v = double(x[p * x_pix + taps[t] + j * seg + q]) * w[t * L + j * seg + q];
                sum += v, scale += std::fabs(v);
              }
            r.close(out[p * 2 * outs + j], double(act_ref(sum + bias[j], act)), scale, "tapreduce epilogue", L,
                    seg * 10 + act, p);
            if (out[p * 2 * outs + outs + j] != T(-7)) r.close(T(1), 0, 0, "tapreduce epilogue wrote past a pixel", L, seg, p);
          }
      }
}

// The GEMM tile's epilogue on its store paths (plain, accumulating, strided C) and the
// zip kernel's: act(C + sum + bias[j]).
template <class T> void check_gemm_epilogue(Report& r, const GemmKernels<T>& k) {
  const GemmBlocking& bl = k.blocking;
  const idx_t MR = bl.mr, NR = bl.nr, K = 9;
  for (idx_t n : {idx_t(1), NR - 1 > 0 ? NR - 1 : 1, NR})
    for (idx_t cs : {1, 3})
      for (bool acc : {false, true})
        for (int act = 0; act <= 4; ++act) {
          auto a = r.rand<T>(size_t(MR * K));
          const T* rows[64];
          for (idx_t i = 0; i < MR; ++i) rows[i] = a.data() + i * K;
          auto b = r.rand<T>(size_t(K * NR));
          auto bias = r.rand<T>(size_t(NR));
          const idx_t off = 0, rs = NR * cs + 2;
          std::vector<T> c(size_t(MR * rs), T(0.5));
          GemmArgs<T> g{rows, &off, &K, 1, 1, b.data(), c.data(), rs, cs, MR, n, acc, false};
          g.bias = bias.data(), g.act = act;
          k.gemm(g);
          for (idx_t i = 0; i < MR; ++i)
            for (idx_t j = 0; j < n; ++j) {
              double sum = acc ? 0.5 : 0.0, scale = 1 + std::fabs(double(bias[j]));
              for (idx_t kk = 0; kk < K; ++kk) {
                const double v = double(rows[i][kk]) * b[kk * NR + j];
                sum += v, scale += std::fabs(v);
              }
              r.close(c[i * rs + j * cs], double(act_ref(sum + bias[j], act)), scale, "gemm epilogue", n,
                      cs * 100 + acc * 10 + act, i);
            }
        }
  // The zip kernel: every group's tile with its own bias panel, B not pre-permuted (G = 2
  // shares a factor with every vector width but the scalar one's).
  for (int act : {0, 1, 3}) {
    const idx_t G = 2, n = NR, bgs = K * NR;
    auto a = r.rand<T>(size_t(G * MR * K));
    std::vector<const T*> rows(size_t(G * MR));
    for (size_t q = 0; q < rows.size(); ++q) rows[q] = a.data() + q * K;
    auto b = r.rand<T>(size_t(G * bgs));
    auto bias = r.rand<T>(size_t(G * NR));
    std::vector<T> scratch(size_t((G - 1) * MR * NR));
    const idx_t off = 0, rs = G * NR;
    std::vector<T> c(size_t(MR * rs), T(0.5));
    GemmArgs<T> g{rows.data(), &off, &K, 1, 1, b.data(), c.data(), rs, G, MR, n, false, false};
    g.groups = G, g.a_gs = MR, g.b_gs = bgs, g.zip_src = scratch.data();
    g.bias = bias.data(), g.act = act, g.bias_gs = NR;
    if (zip_prepermuted(G, bl.w)) continue;
    k.gemm_zip(g);
    for (idx_t i = 0; i < MR; ++i)
      for (idx_t j = 0; j < G * n; ++j) {
        const idx_t col = j / G, q = j % G;
        double sum = 0, scale = 1 + std::fabs(double(bias[q * NR + col]));
        for (idx_t kk = 0; kk < K; ++kk) {
          const double v = double(rows[q * MR + i][kk]) * b[q * bgs + kk * NR + col];
          sum += v, scale += std::fabs(v);
        }
        r.close(c[i * rs + j], double(act_ref(sum + bias[q * NR + col], act)), scale, "gemm_zip epilogue", G,
                act, i * 1000 + j);
      }
  }
}

// Rows of stride-1 windows (args.row = K: the sliding tiles): K in {3, 5, 7}, 1 to 3
// rows, lane tails and pixel tails of every tile, with and without bias and activation.
template <class T> void check_tapreduce_rows(Report& r, const MemKernels<T>& k) {
  for (idx_t K : {3, 5, 7})
    for (idx_t rows : {1, 3})
      for (idx_t L : {1, 5, 8, 16, 17, 35, 64, 70})
        for (idx_t npix : {1, 4, 8, 11, 19, 27})  // 27: blocks of 16 and 8 and a tail
          for (int act : {0, 2}) {
            const idx_t ntaps = rows * K, x_pix = L + 3, row_off = (npix + K) * x_pix + 1;
            std::vector<idx_t> taps(static_cast<size_t>(ntaps));
            for (idx_t i = 0; i < rows; ++i)
              for (idx_t j = 0; j < K; ++j) taps[size_t(i * K + j)] = i * row_off + j * x_pix;
            auto x = r.rand<T>(size_t(rows * row_off + L + 8));
            auto w = r.rand<T>(size_t(ntaps * L));
            auto bias = r.rand<T>(size_t(L));
            std::vector<T> out(size_t(npix * L * 2), T(-7));
            TapReduceArgs<T> a{x.data(), x_pix, npix, taps.data(), ntaps, w.data(), L, 1, out.data(), 2 * L,
                               nullptr, act ? bias.data() : nullptr, act, K};
            k.tapreduce(a);
            for (idx_t p = 0; p < npix; ++p)
              for (idx_t j = 0; j < L; ++j) {
                double sum = act ? double(bias[size_t(j)]) : 0, scale = std::fabs(sum);
                for (idx_t t = 0; t < ntaps; ++t) {
                  const double v = double(x[size_t(p * x_pix + taps[size_t(t)] + j)]) * w[size_t(t * L + j)];
                  sum += v, scale += std::fabs(v);
                }
                r.close(out[size_t(p * 2 * L + j)], double(act_ref(sum, act)), scale, "tapreduce rows",
                        K * 100 + rows * 10 + act, L, p);
                if (out[size_t(p * 2 * L + L + j)] != T(-7))
                  r.close(T(1), 0, 0, "tapreduce rows wrote past a pixel", K, L, p);
              }
          }
}

template <class T> void check_membound(Report& r, const MemKernels<T>& k) {
  check_activations(r, k);
  check_tapreduce_epilogue(r, k);
  check_tapreduce(r, k);
  check_tapreduce_rows(r, k);
  check_dot(r, k);
  check_zip(r, k);
}

template <class T> void check_gemm_kernels(Report& r, const GemmKernels<T>& k) {
  check_pack_b(r, k);
  check_gemm(r, k);
  check_gemm_zip(r, k);
  check_gemm_epilogue(r, k);
}

}  // namespace testers
}  // namespace fastconv
