// The tap-reduce kernel (contracts.h: TapReduceArgs): depthwise, channel conv, the
// filter; segment sums in registers, a multi-pixel dot for one output per pixel.
// Written once over the SIMD traits Vec<T> (simd/*.h): textually included by each
// ISA's kernel TU (config/*.cpp) inside that ISA's namespace; includes no headers.
//
// Vec<T> provides: W (lanes), reg, zero(), load(p), store(p, v), fmadd(a, b, c),
// add(a, b), maskload(p, n), maskstore(p, n, v), hsum(v), and Perm, Mask,
// make_perm(const int*), make_mask(const bool*), permute(perm, v), permute_merge(acc,
// mask, perm, v) (blend(acc, permute(perm, v), mask)).

// out[j] = e(sum of segment j of s) for j < L / seg (output j0 + j of the row).
template <class T>
static inline void segment_sum(const T* s, idx_t L, idx_t seg, T* out, const Epilogue<T>& e, idx_t j0) {
  using V = Vec<T>;
  constexpr idx_t W = V::W;
  if (W > 1 && seg % W == 0) {
    for (idx_t j = 0; j < L / seg; ++j) {
      const T* sj = s + j * seg;
      auto v = V::load(sj);
      for (idx_t q = W; q < seg; q += W) v = V::add(v, V::load(sj + q));
      out[j] = e.active() ? e.one(V::hsum(v), j0 + j) : V::hsum(v);
    }
  } else {
    for (idx_t j = 0; j < L / seg; ++j) {
      const T* sj = s + j * seg;
      T acc = sj[0];
      for (idx_t q = 1; q < seg; ++q) acc += sj[q];
      out[j] = e.active() ? e.one(acc, j0 + j) : acc;
    }
  }
}

// Sums adjacent lane pairs of (a, b), in order: lanes [a0+a1, a2+a3, ..., b0+b1, ...].
template <class T>
struct PairSum {
  using V = Vec<T>;
  typename V::Perm e0, o0, e1, o1;
  typename V::Mask hi;
  PairSum() {
    constexpr int W = V::W;
    int ie0[W], io0[W], ie1[W], io1[W];
    bool h[W];
    for (int l = 0; l < W; ++l) {
      h[l] = l >= W / 2;
      const int q = h[l] ? 2 * (l - W / 2) : 2 * l;
      ie0[l] = h[l] ? 0 : q;
      io0[l] = h[l] ? 0 : q + 1;
      ie1[l] = h[l] ? q : 0;
      io1[l] = h[l] ? q + 1 : 0;
    }
    e0 = V::make_perm(ie0), o0 = V::make_perm(io0), e1 = V::make_perm(ie1), o1 = V::make_perm(io1);
    hi = V::make_mask(h);
  }
  typename V::reg operator()(typename V::reg a, typename V::reg b) const {
    return V::add(V::permute_merge(V::permute(e0, a), hi, e1, b),
                  V::permute_merge(V::permute(o0, a), hi, o1, b));
  }
};

// Reduces n consecutive vectors (n in {1, 2, 4}) in segments of seg = 2^steps lanes
// (seg <= W) and stores the n*W/seg sums at out (outputs j0 ..., epilogue e).
template <class T, int n>
static inline void store_segments(typename Vec<T>::reg (&v)[n], int steps, const PairSum<T>& ps, T* out,
                                  const Epilogue<T>& e, idx_t j0) {
  using V = Vec<T>;
  int live = n;
  for (int s = 0; s < steps; ++s) {
    if (live > 1) {
      for (int i = 0; i < live / 2; ++i) v[i] = ps(v[2 * i], v[2 * i + 1]);
      live /= 2;
    } else {
      v[0] = ps(v[0], v[0]);  // lower half valid from here on
    }
  }
  const idx_t count = idx_t(n) * V::W >> steps;
  if (count >= V::W)
    for (int i = 0; i < live; ++i) V::store(out + i * V::W, e.active() ? e(v[i], j0 + i * V::W) : v[i]);
  else
    V::maskstore(out, count, e.active() ? e.part(v[0], j0, count) : v[0]);
}

// The caller's next bytes (a.ahead) fetched to L2 over the call, a share for each block
// of pixels, so that their misses overlap this call's FMAs (docs/tuning.md).
template <class T>
struct Ahead {
  const char* p = nullptr;
  const char* end = nullptr;
  idx_t per_pix = 0;
  explicit Ahead(const TapReduceArgs<T>& a) {
    if (!a.ahead || a.ahead_bytes <= 0 || a.npix <= 0) return;
    const auto at = reinterpret_cast<size_t>(a.ahead);
    p = reinterpret_cast<const char*>(at - at % size_t(kCacheLine));
    end = static_cast<const char*>(a.ahead) + a.ahead_bytes;
    per_pix = (idx_t(end - p) + a.npix - 1) / a.npix;
  }
  __attribute__((always_inline)) void step(idx_t npix) {
    if (p >= end) return;
    const char* stop = end - p > npix * per_pix ? p + npix * per_pix : end;
    for (; p < stop; p += kCacheLine) prefetch_line<true>(p);
  }
};

// One output per pixel (seg == L, the filter): NP pixels at a time, two
// accumulators each, so that enough independent FMA chains are in flight.
template <class T, int NP>
static inline void dot_pixels(const TapReduceArgs<T>& a, idx_t p) {
  using V = Vec<T>;
  constexpr idx_t W = V::W;
  const idx_t L = a.L;
  // The q loops unrolled, so that c0 and c1 are registers (GCC for aarch64 kept the
  // arrays in memory otherwise: a store of each accumulator every step).
  typename V::reg c0[NP], c1[NP];
#pragma GCC unroll 8
  for (int q = 0; q < NP; ++q) c0[q] = V::zero(), c1[q] = V::zero();
  for (idx_t t = 0; t < a.ntaps; ++t) {
    const T* ws = a.w + t * L;
    const T* xs = a.x + p * a.x_pix + a.taps[t];
    idx_t r = 0;
    for (; r + 2 * W <= L; r += 2 * W) {
      const auto w0 = V::load(ws + r), w1 = V::load(ws + r + W);
#pragma GCC unroll 8
      for (int q = 0; q < NP; ++q) {
        c0[q] = V::fmadd(V::load(xs + q * a.x_pix + r), w0, c0[q]);
        c1[q] = V::fmadd(V::load(xs + q * a.x_pix + r + W), w1, c1[q]);
      }
    }
    if (r < L) {
      const idx_t n = L - r < W ? L - r : W;
      const auto w0 = V::maskload(ws + r, n);
#pragma GCC unroll 8
      for (int q = 0; q < NP; ++q) c0[q] = V::fmadd(V::maskload(xs + q * a.x_pix + r, n), w0, c0[q]);
      if (r + W < L) {
        const auto w1 = V::maskload(ws + r + W, L - r - W);
#pragma GCC unroll 8
        for (int q = 0; q < NP; ++q)
          c1[q] = V::fmadd(V::maskload(xs + q * a.x_pix + r + W, L - r - W), w1, c1[q]);
      }
    }
  }
  const Epilogue<T> e{a.bias, a.act};
#pragma GCC unroll 8
  for (int q = 0; q < NP; ++q) {
    const T v = V::hsum(V::add(c0[q], c1[q]));
    a.out[(p + q) * a.out_pix] = e.active() ? e.one(v, 0) : v;
  }
}

// One output per lane (seg == 1, depthwise): NP pixels x NV vectors of lanes from lane
// r, each tap's NV weight vectors loaded once for the NP pixels (1 + 1/NP loads per FMA
// where one pixel at a time takes 2). n < W: one vector of n lanes (NV == 1).
template <class T, int NP, int NV>
__attribute__((always_inline)) static inline void lane_pixels(const TapReduceArgs<T>& a, idx_t p, idx_t r, idx_t n,
                                                             const Epilogue<T>& e) {
  using V = Vec<T>;
  constexpr idx_t W = V::W;
  typename V::reg c[NP][NV];
#pragma GCC unroll 8
  for (int q = 0; q < NP; ++q)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) c[q][j] = V::zero();
  const T* xp = a.x + p * a.x_pix + r;
  const idx_t xq = a.x_pix;
  for (idx_t t = 0; t < a.ntaps; ++t) {
    const T* ws = a.w + t * a.L + r;
    const T* xs = xp + a.taps[t];
    if (n < W) {
      const auto w0 = V::maskload(ws, n);
#pragma GCC unroll 8
      for (int q = 0; q < NP; ++q) c[q][0] = V::fmadd(V::maskload(xs + q * xq, n), w0, c[q][0]);
    } else {
      typename V::reg wv[NV];
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) wv[j] = V::load(ws + j * W);
#pragma GCC unroll 8
      for (int q = 0; q < NP; ++q)
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j) c[q][j] = V::fmadd(V::load(xs + q * xq + j * W), wv[j], c[q][j]);
    }
  }
  T* op = a.out + p * a.out_pix + r;
#pragma GCC unroll 8
  for (int q = 0; q < NP; ++q) {
    if (n < W) {
      V::maskstore(op + q * a.out_pix, n, e.active() ? e.part(c[q][0], r, n) : c[q][0]);
      continue;
    }
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j)
      V::store(op + q * a.out_pix + j * W, e.active() ? e(c[q][j], r + j * W) : c[q][j]);
  }
}

// Windows along the pixels (a.row == K, a.row_step == S): NP pixels of one vector of
// lanes from lane r. Pixel q's tap j of a row reads the input q * S + j steps on, so each
// row loads its K weight vectors and (NP - 1) * S + K input vectors once for NP * K FMAs
// (K = 7, S = 1, NP = 8: 0.375 loads per FMA; K = 3, S = 2: 0.83; lane_pixels takes
// 1.25). Each pixel sums its taps in order.
template <class T, int NP, int K, int S>
__attribute__((always_inline)) static inline void slide_pixels(const TapReduceArgs<T>& a, idx_t p, idx_t r,
                                                              const Epilogue<T>& e) {
  using V = Vec<T>;
  typename V::reg c[NP];
#pragma GCC unroll 16
  for (int q = 0; q < NP; ++q) c[q] = V::zero();
  const T* xp = a.x + p * a.x_pix + r;
  const idx_t xq = a.x_pix / S;
  for (idx_t t = 0; t < a.ntaps; t += K) {
    const T* ws = a.w + t * a.L + r;
    const T* xs = xp + a.taps[t];
    typename V::reg wv[K];
#pragma GCC unroll 8
    for (int j = 0; j < K; ++j) wv[j] = V::load(ws + j * a.L);
#pragma GCC unroll 40
    for (int i = 0; i < (NP - 1) * S + K; ++i) {
      const auto xv = V::pin(V::load(xs + i * xq));  // one load for its FMAs, not one each
#pragma GCC unroll 8
      for (int j = 0; j < K; ++j)
        if (i - j >= 0 && (i - j) % S == 0 && (i - j) / S < NP) c[(i - j) / S] = V::fmadd(xv, wv[j], c[(i - j) / S]);
    }
  }
  T* op = a.out + p * a.out_pix + r;
#pragma GCC unroll 16
  for (int q = 0; q < NP; ++q) V::store(op + q * a.out_pix, e.active() ? e(c[q], r) : c[q]);
}

// slide_pixels<NP, K, S> over every full vector of lanes, the lane tail by lane_pixels.
template <class T, int NP, int K, int S>
static inline void slide_lanes(const TapReduceArgs<T>& a, idx_t p, const Epilogue<T>& e) {
  constexpr idx_t W = Vec<T>::W;
  idx_t r = 0;
  for (; r + W <= a.L; r += W) slide_pixels<T, NP, K, S>(a, p, r, e);
  if (r < a.L) lane_pixels<T, NP, 1>(a, p, r, a.L - r, e);
}

// The pixel blocks [p, ...) of NP pixels that slide_pixels<K, S> serves, then one of 8
// where 8 or more pixels are left; returns the first pixel left.
template <class T, int NP, int K, int S>
__attribute__((noinline)) static idx_t slide_blocks(const TapReduceArgs<T>& a, const Epilogue<T>& e,
                                                     Ahead<T>& ahead) {
  idx_t p = 0;
  for (; p + NP <= a.npix; p += NP) ahead.step(NP), slide_lanes<T, NP, K, S>(a, p, e);
  if constexpr (NP > 8)
    if (p + 8 <= a.npix) ahead.step(8), slide_lanes<T, 8, K, S>(a, p, e), p += 8;
  return p;
}

// Pixels [p, a.npix) one at a time, 4 vectors of lanes a step, then one; segments of
// seg = 2^steps lanes summed in registers (steps > 0), other seg > 1 through a.scratch.
template <class T>
static inline void single_pixels(const TapReduceArgs<T>& a, idx_t p, int steps, const Epilogue<T>& e,
                                 Ahead<T>& ahead) {
  using V = Vec<T>;
  constexpr idx_t W = V::W;
  const idx_t L = a.L, nt = a.ntaps, seg = a.seg;
  const idx_t* taps = a.taps;
  const PairSum<T> ps;
  const bool epi = e.active() && seg == 1;  // seg > 1: at the segment sums
  for (; p < a.npix; ++p) {
    ahead.step(1);
    const T* xp = a.x + p * a.x_pix;
    T* op = a.out + p * a.out_pix;
    T* dst = seg == 1 ? op : a.scratch;
    idx_t r = 0;
    for (; r + 4 * W <= L; r += 4 * W) {
      // Accumulators stay in named registers: an array passed on by reference
      // would be kept on the stack inside the tap loop.
      auto c0 = V::zero(), c1 = V::zero(), c2 = V::zero(), c3 = V::zero();
      for (idx_t t = 0; t < nt; ++t) {
        const T* xs = xp + taps[t] + r;
        const T* ws = a.w + t * L + r;
        c0 = V::fmadd(V::load(xs), V::load(ws), c0);
        c1 = V::fmadd(V::load(xs + W), V::load(ws + W), c1);
        c2 = V::fmadd(V::load(xs + 2 * W), V::load(ws + 2 * W), c2);
        c3 = V::fmadd(V::load(xs + 3 * W), V::load(ws + 3 * W), c3);
      }
      if (steps > 0) {
        typename V::reg c[4] = {c0, c1, c2, c3};
        store_segments<T, 4>(c, steps, ps, op + r / seg, e, r / seg);
      } else {
        V::store(dst + r, epi ? e(c0, r) : c0);
        V::store(dst + r + W, epi ? e(c1, r + W) : c1);
        V::store(dst + r + 2 * W, epi ? e(c2, r + 2 * W) : c2);
        V::store(dst + r + 3 * W, epi ? e(c3, r + 3 * W) : c3);
      }
    }
    for (; r + W <= L; r += W) {
      auto c0 = V::zero();
      for (idx_t t = 0; t < nt; ++t)
        c0 = V::fmadd(V::load(xp + taps[t] + r), V::load(a.w + t * L + r), c0);
      if (steps > 0) {
        typename V::reg c[1] = {c0};
        store_segments<T, 1>(c, steps, ps, op + r / seg, e, r / seg);
      } else {
        V::store(dst + r, epi ? e(c0, r) : c0);
      }
    }
    if (r < L) {
      const idx_t n = L - r;
      auto c0 = V::zero();
      for (idx_t t = 0; t < nt; ++t)
        c0 = V::fmadd(V::maskload(xp + taps[t] + r, n), V::maskload(a.w + t * L + r, n), c0);
      if (seg == 1) {
        V::maskstore(op + r, n, epi ? e.part(c0, r, n) : c0);
      } else {
        V::maskstore(a.scratch + r, n, c0);
        if (steps > 0) segment_sum(a.scratch + r, n, seg, op + r / seg, e, r / seg);
      }
    }
    if (seg > 1 && steps < 0) segment_sum(a.scratch, L, seg, op, e, 0);
  }
}

// Pixels taken together by the depthwise tiles, and their vectors of lanes; sums of
// fewer taps than kTapPixelsMinTaps are memory-bound and run a pixel at a time, whose
// reads stream (docs/tuning.md).
constexpr int kTapPixels = 4, kTapVectors = 2;
constexpr idx_t kTapPixelsMinTaps = 9;

// The blocks of kTapPixels pixels from p (the lane tail included); returns the first
// pixel left.
template <class T>
__attribute__((noinline)) static idx_t tile_blocks(const TapReduceArgs<T>& a, idx_t p, const Epilogue<T>& e,
                                                    Ahead<T>& ahead) {
  constexpr idx_t W = Vec<T>::W;
  const idx_t L = a.L;
  for (; p + kTapPixels <= a.npix; p += kTapPixels) {
    ahead.step(kTapPixels);
    idx_t r = 0;
    for (; r + kTapVectors * W <= L; r += kTapVectors * W) lane_pixels<T, kTapPixels, kTapVectors>(a, p, r, W, e);
    for (; r + W <= L; r += W) lane_pixels<T, kTapPixels, 1>(a, p, r, W, e);
    if (r < L) lane_pixels<T, kTapPixels, 1>(a, p, r, L - r, e);
  }
  return p;
}

// The multi-pixel tiles are inlined into their block loops (always_inline) and those
// loops kept out of this function (noinline): where GCC chose, adding the sliding tiles
// here made the one-pixel loop about 10 % slower (docs/tuning.md).
template <class T>
static void tapreduce(const TapReduceArgs<T>& a) {
  using V = Vec<T>;
  constexpr idx_t W = V::W;
  const idx_t L = a.L, nt = a.ntaps, seg = a.seg;
  if (W > 1 && seg == L && L >= W) {
    idx_t p = 0;
    for (; p + 4 <= a.npix; p += 4) dot_pixels<T, 4>(a, p);
    for (; p < a.npix; ++p) dot_pixels<T, 1>(a, p);
    return;
  }
  // seg a power of two <= W: segments are summed in registers.
  int steps = -1;
  for (int s = 0; (idx_t(1) << s) <= W; ++s)
    if ((idx_t(1) << s) == seg) steps = s;
  const Epilogue<T> e{a.bias, a.act};
  Ahead<T> ahead(a);
  idx_t p = 0;
  if (seg == 1 && a.row > 0 && nt % a.row == 0) {
    if (a.row_step == 1) {
      if (a.row == 3) p = slide_blocks<T, kSlidePixels[0], 3, 1>(a, e, ahead);
      if (a.row == 5) p = slide_blocks<T, kSlidePixels[1], 5, 1>(a, e, ahead);
      if (a.row == 7) p = slide_blocks<T, kSlidePixels[2], 7, 1>(a, e, ahead);
    } else if (a.row_step == 2 && a.row == 3) {
      p = slide_blocks<T, kSlidePixels[0], 3, 2>(a, e, ahead);
    }
  }
  if (seg == 1 && W > 1 && nt >= kTapPixelsMinTaps) p = tile_blocks(a, p, e, ahead);
  single_pixels(a, p, steps, e, ahead);
}
