// Memory-bound kernels, written once over a SIMD traits template Vec<T>.
// This file is textually included by each ISA translation unit *inside* that
// ISA's namespace, after the traits are defined; it includes no headers itself.
//
// Vec<T> provides: W (lanes), reg, zero(), load(p), store(p, v), fmadd(a, b, c),
// add(a, b), maskload(p, n), maskstore(p, n, v), hsum(v),
// and for zip: Perm, Mask, make_perm(const int*), make_mask(const bool*),
// permute(perm, v), blend(a, b, mask) (b where mask), blend_imm<M>(a, b) (b in the lanes
// of M's set bits), permute_merge(acc, mask, perm, v) (blend(acc, permute(perm, v), mask)).

template <class T>
static inline void segment_sum(const T* s, idx_t L, idx_t seg, T* out) {
  using V = Vec<T>;
  constexpr idx_t W = V::W;
  if (W > 1 && seg % W == 0) {
    for (idx_t j = 0; j < L / seg; ++j) {
      const T* sj = s + j * seg;
      auto v = V::load(sj);
      for (idx_t q = W; q < seg; q += W) v = V::add(v, V::load(sj + q));
      out[j] = V::hsum(v);
    }
  } else {
    for (idx_t j = 0; j < L / seg; ++j) {
      const T* sj = s + j * seg;
      T acc = sj[0];
      for (idx_t q = 1; q < seg; ++q) acc += sj[q];
      out[j] = acc;
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
// (seg <= W) and stores the n*W/seg sums at out.
template <class T, int n>
static inline void store_segments(typename Vec<T>::reg (&v)[n], int steps, const PairSum<T>& ps, T* out) {
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
    for (int i = 0; i < live; ++i) V::store(out + i * V::W, v[i]);
  else
    V::maskstore(out, count, v[0]);
}

// One output per pixel (seg == L, the filter): NP pixels at a time, two
// accumulators each, so that enough independent FMA chains are in flight.
template <class T, int NP>
static inline void dot_pixels(const TapReduceArgs<T>& a, idx_t p) {
  using V = Vec<T>;
  constexpr idx_t W = V::W;
  const idx_t L = a.L;
  typename V::reg c0[NP], c1[NP];
  for (int q = 0; q < NP; ++q) c0[q] = V::zero(), c1[q] = V::zero();
  for (idx_t t = 0; t < a.ntaps; ++t) {
    const T* ws = a.w + t * L;
    const T* xs = a.x + p * a.x_pix + a.taps[t];
    idx_t r = 0;
    for (; r + 2 * W <= L; r += 2 * W) {
      const auto w0 = V::load(ws + r), w1 = V::load(ws + r + W);
      for (int q = 0; q < NP; ++q) {
        c0[q] = V::fmadd(V::load(xs + q * a.x_pix + r), w0, c0[q]);
        c1[q] = V::fmadd(V::load(xs + q * a.x_pix + r + W), w1, c1[q]);
      }
    }
    if (r < L) {
      const idx_t n = L - r < W ? L - r : W;
      const auto w0 = V::maskload(ws + r, n);
      for (int q = 0; q < NP; ++q) c0[q] = V::fmadd(V::maskload(xs + q * a.x_pix + r, n), w0, c0[q]);
      if (r + W < L) {
        const auto w1 = V::maskload(ws + r + W, L - r - W);
        for (int q = 0; q < NP; ++q)
          c1[q] = V::fmadd(V::maskload(xs + q * a.x_pix + r + W, L - r - W), w1, c1[q]);
      }
    }
  }
  for (int q = 0; q < NP; ++q) a.out[(p + q) * a.out_pix] = V::hsum(V::add(c0[q], c1[q]));
}

template <class T>
static void tapreduce(const TapReduceArgs<T>& a) {
  using V = Vec<T>;
  constexpr idx_t W = V::W;
  const idx_t L = a.L, nt = a.ntaps, seg = a.seg;
  const idx_t* taps = a.taps;
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
  const PairSum<T> ps;
  for (idx_t p = 0; p < a.npix; ++p) {
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
        store_segments<T, 4>(c, steps, ps, op + r / seg);
      } else {
        V::store(dst + r, c0);
        V::store(dst + r + W, c1);
        V::store(dst + r + 2 * W, c2);
        V::store(dst + r + 3 * W, c3);
      }
    }
    for (; r + W <= L; r += W) {
      auto c0 = V::zero();
      for (idx_t t = 0; t < nt; ++t)
        c0 = V::fmadd(V::load(xp + taps[t] + r), V::load(a.w + t * L + r), c0);
      if (steps > 0) {
        typename V::reg c[1] = {c0};
        store_segments<T, 1>(c, steps, ps, op + r / seg);
      } else {
        V::store(dst + r, c0);
      }
    }
    if (r < L) {
      const idx_t n = L - r;
      auto c0 = V::zero();
      for (idx_t t = 0; t < nt; ++t)
        c0 = V::fmadd(V::maskload(xp + taps[t] + r, n), V::maskload(a.w + t * L + r, n), c0);
      if (seg == 1) {
        V::maskstore(op + r, n, c0);
      } else {
        V::maskstore(a.scratch + r, n, c0);
        if (steps > 0) segment_sum(a.scratch + r, n, seg, op + r / seg);
      }
    }
    if (seg > 1 && steps < 0) segment_sum(a.scratch, L, seg, op);
  }
}

// The dot path's chunk sum (contracts.h): four accumulators, the tail's (at most four)
// vectors dealt to them in turn, combined pairwise.
template <class T>
static T dot(const T* a, const T* b, idx_t n, idx_t b_inc) {
  using V = Vec<T>;
  constexpr idx_t W = V::W;
  typename V::reg c0 = V::zero(), c1 = V::zero(), c2 = V::zero(), c3 = V::zero();
  idx_t i = 0;
  if (b_inc == 0) {
    const auto bv = V::broadcast(b);
    for (; i + 4 * W <= n; i += 4 * W) {
      c0 = V::fmadd(V::load(a + i), bv, c0);
      c1 = V::fmadd(V::load(a + i + W), bv, c1);
      c2 = V::fmadd(V::load(a + i + 2 * W), bv, c2);
      c3 = V::fmadd(V::load(a + i + 3 * W), bv, c3);
    }
    if (i < n) c0 = V::fmadd(V::maskload(a + i, n - i), bv, c0), i += W;
    if (i < n) c1 = V::fmadd(V::maskload(a + i, n - i), bv, c1), i += W;
    if (i < n) c2 = V::fmadd(V::maskload(a + i, n - i), bv, c2), i += W;
    if (i < n) c3 = V::fmadd(V::maskload(a + i, n - i), bv, c3);
  } else {
    for (; i + 4 * W <= n; i += 4 * W) {
      c0 = V::fmadd(V::load(a + i), V::load(b + i), c0);
      c1 = V::fmadd(V::load(a + i + W), V::load(b + i + W), c1);
      c2 = V::fmadd(V::load(a + i + 2 * W), V::load(b + i + 2 * W), c2);
      c3 = V::fmadd(V::load(a + i + 3 * W), V::load(b + i + 3 * W), c3);
    }
    if (i < n) c0 = V::fmadd(V::maskload(a + i, n - i), V::maskload(b + i, n - i), c0), i += W;
    if (i < n) c1 = V::fmadd(V::maskload(a + i, n - i), V::maskload(b + i, n - i), c1), i += W;
    if (i < n) c2 = V::fmadd(V::maskload(a + i, n - i), V::maskload(b + i, n - i), c2), i += W;
    if (i < n) c3 = V::fmadd(V::maskload(a + i, n - i), V::maskload(b + i, n - i), c3);
  }
  return V::hsum(V::add(V::add(c0, c1), V::add(c2, c3)));
}

// dst[j*R + i] = src[i*ld + j], R rows known at compile time (R <= W in the memory
// zip; the GEMM zip kernel also uses R > W, which the tables serve as well).
// Output vector v, lane l holds flat index q = v*W + l, i.e. row q % R, column q / R
// of the current block of W columns: each output vector is a merge of R permuted rows.
// When gcd(R, W) == 1 the W columns of a row land on W distinct lanes, so one
// permute per row serves every output vector and only blends remain.
template <class T, int R>
struct ZipTables {
  using V = Vec<T>;
  static constexpr int W = V::W;
  static constexpr bool coprime = gcd(R, W) == 1;
  typename V::Perm perm[R][R];
  typename V::Mask mask[R][R];
  ZipTables() {
    for (int v = 0; v < R; ++v)
      for (int i = 0; i < R; ++i) {
        int lane_src[W];
        bool sel[W];
        for (int l = 0; l < W; ++l) {
          const int q = v * W + l;
          sel[l] = (q % R) == i;
          lane_src[l] = sel[l] ? q / R : 0;
        }
        if (coprime) {  // lane of column j of row i: (j*R + i) % W
          for (int j = 0; j < W; ++j) lane_src[(j * R + i) % W] = j;
        }
        perm[v][i] = V::make_perm(lane_src);
        mask[v][i] = V::make_mask(sel);
      }
  }
};

// The zip of R registers: out[v] holds elements [v*W, (v + 1)*W) of the rows
// rows[0 .. R) interleaved (row i's column j at j*R + i). rows is permuted in place
// where gcd(R, W) == 1.
template <class T, int R, class P, class M>
__attribute__((always_inline)) static inline void zip_regs(const P& perm, const M& mask, typename Vec<T>::reg (&rows)[R],
                                                           typename Vec<T>::reg (&out)[R]) {
  using V = Vec<T>;
  if constexpr (ZipTables<T, R>::coprime) {
    for (int i = 0; i < R; ++i) rows[i] = V::permute(perm[0][i], rows[i]);
  }
  for (int v = 0; v < R; ++v) {
    if constexpr (ZipTables<T, R>::coprime) {
      out[v] = rows[0];
      for (int i = 1; i < R; ++i) out[v] = V::blend(out[v], rows[i], mask[v][i]);
    } else {
      out[v] = V::permute(perm[v][0], rows[0]);
      for (int i = 1; i < R; ++i) out[v] = V::permute_merge(out[v], mask[v][i], perm[v][i], rows[i]);
    }
  }
}

// The lanes of output vector v that row i fills in a zip of R rows of W lanes.
template <int W, int R>
constexpr int zip_lanes(int v, int i) {
  int m = 0;
  for (int l = 0; l < W; ++l)
    if ((v * W + l) % R == i) m |= 1 << l;
  return m;
}

// zip_regs for rows whose columns are in place already (column c of row i at lane
// (c*R + i) % W, gcd(R, W) == 1): blends with immediate masks only.
template <class T, int R, int V = 0, int I = 1>
__attribute__((always_inline)) static inline void zip_regs_permuted(const typename Vec<T>::reg (&rows)[R],
                                                                    typename Vec<T>::reg (&out)[R]) {
  if constexpr (V < R) {
    if constexpr (I == 1) out[V] = rows[0];
    if constexpr (I < R) {
      out[V] = Vec<T>::template blend_imm<zip_lanes<Vec<T>::W, R>(V, I)>(out[V], rows[I]);
      zip_regs_permuted<T, R, V, I + 1>(rows, out);
    } else {
      zip_regs_permuted<T, R, V + 1, 1>(rows, out);
    }
  }
}

template <class T, int R, bool stream, class P, class M>
static inline void zip_block(const T* s, idx_t ld, idx_t C, T* d, const P& perm, const M& mask);

template <class T, int R>
static void zip_rows(const ZipArgs<T>& a) {
  constexpr int W = Vec<T>::W;
  static const ZipTables<T, R> tables;  // built once
  const auto& perm = tables.perm;
  const auto& mask = tables.mask;
  const idx_t C = a.C, ld = a.src_ld;
  for (idx_t blk = 0; blk < a.count; ++blk) {
    const T* s = a.src + blk * a.src_step;
    T* d = a.dst + blk * a.dst_step;
    if (a.stream && reinterpret_cast<size_t>(d) % (W * sizeof(T)) == 0) {
      zip_block<T, R, true>(s, ld, C, d, perm, mask);
      continue;
    }
    zip_block<T, R, false>(s, ld, C, d, perm, mask);
  }
}

template <class T, int R, bool stream, class P, class M>
static inline void zip_block(const T* s, idx_t ld, idx_t C, T* d, const P& perm, const M& mask) {
  using V = Vec<T>;
  constexpr int W = V::W;
  idx_t j = 0;
  for (; j + W <= C; j += W) {
    typename V::reg rows[R], o[R];
    for (int i = 0; i < R; ++i) rows[i] = V::load(s + i * ld + j);
    zip_regs<T, R>(perm, mask, rows, o);
    for (int v = 0; v < R; ++v) {
      if constexpr (stream)
        V::stream(d + j * R + v * W, o[v]);
      else
        V::store(d + j * R + v * W, o[v]);
    }
  }
  for (; j < C; ++j)
    for (int i = 0; i < R; ++i) d[j * R + i] = s[i * ld + j];
}

template <class T>
static void zip_generic(const ZipArgs<T>& a) {
  const idx_t R = a.R, C = a.C, ld = a.src_ld;
  for (idx_t blk = 0; blk < a.count; ++blk) {
    const T* s = a.src + blk * a.src_step;
    T* d = a.dst + blk * a.dst_step;
    for (idx_t j = 0; j < C; ++j)
      for (idx_t i = 0; i < R; ++i) d[j * R + i] = s[i * ld + j];
  }
}

template <class T, int R>
static inline bool zip_try(const ZipArgs<T>& a) {
  if constexpr (R <= Vec<T>::W) {
    if (a.R == R) { zip_rows<T, R>(a); return true; }
  }
  return false;
}

template <class T>
static void zip(const ZipArgs<T>& a) {
  if (Vec<T>::W > 1 && a.C >= Vec<T>::W &&
      (zip_try<T, 2>(a) || zip_try<T, 3>(a) || zip_try<T, 4>(a) || zip_try<T, 5>(a) ||
       zip_try<T, 6>(a) || zip_try<T, 7>(a) || zip_try<T, 8>(a)))
    return;
  zip_generic(a);
}

