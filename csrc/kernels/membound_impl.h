// Memory-bound kernels, written once over a SIMD traits template Vec<T>.
// This file is textually included by each ISA translation unit *inside* that
// ISA's namespace, after the traits are defined; it includes no headers itself.
//
// Vec<T> provides: W (lanes), reg, zero(), load(p), store(p, v), fmadd(a, b, c),
// add(a, b), maskload(p, n), maskstore(p, n, v), hsum(v),
// and for zip: Perm, Mask, make_perm(const int*), make_mask(const bool*),
// permute(perm, v), permute_merge(acc, mask, perm, v) (acc where !mask).

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

template <class T>
static void tapreduce(const TapReduceArgs<T>& a) {
  using V = Vec<T>;
  constexpr idx_t W = V::W;
  const idx_t L = a.L, nt = a.ntaps;
  const idx_t* taps = a.taps;
  for (idx_t p = 0; p < a.npix; ++p) {
    const T* xp = a.x + p * a.x_pix;
    T* dst = a.seg == 1 ? a.out + p * a.out_pix : a.scratch;
    idx_t r = 0;
    for (; r + 4 * W <= L; r += 4 * W) {
      auto c0 = V::zero(), c1 = V::zero(), c2 = V::zero(), c3 = V::zero();
      for (idx_t t = 0; t < nt; ++t) {
        const T* xs = xp + taps[t] + r;
        const T* ws = a.w + t * L + r;
        c0 = V::fmadd(V::load(xs), V::load(ws), c0);
        c1 = V::fmadd(V::load(xs + W), V::load(ws + W), c1);
        c2 = V::fmadd(V::load(xs + 2 * W), V::load(ws + 2 * W), c2);
        c3 = V::fmadd(V::load(xs + 3 * W), V::load(ws + 3 * W), c3);
      }
      V::store(dst + r, c0);
      V::store(dst + r + W, c1);
      V::store(dst + r + 2 * W, c2);
      V::store(dst + r + 3 * W, c3);
    }
    for (; r + W <= L; r += W) {
      auto c0 = V::zero();
      for (idx_t t = 0; t < nt; ++t)
        c0 = V::fmadd(V::load(xp + taps[t] + r), V::load(a.w + t * L + r), c0);
      V::store(dst + r, c0);
    }
    if (r < L) {
      const idx_t n = L - r;
      auto c0 = V::zero();
      for (idx_t t = 0; t < nt; ++t)
        c0 = V::fmadd(V::maskload(xp + taps[t] + r, n), V::maskload(a.w + t * L + r, n), c0);
      V::maskstore(dst + r, n, c0);
    }
    if (a.seg > 1) segment_sum(a.scratch, L, a.seg, a.out + p * a.out_pix);
  }
}

// dst[j*R + i] = src[i*ld + j], R rows known at compile time, R <= W.
// Output vector v, lane l holds flat index q = v*W + l, i.e. row q % R, column q / R
// of the current block of W columns: each output vector is a merge of R permuted rows.
template <class T, int R>
static void zip_rows(const ZipArgs<T>& a) {
  using V = Vec<T>;
  constexpr int W = V::W;
  typename V::Perm perm[R][R];
  typename V::Mask mask[R][R];
  for (int v = 0; v < R; ++v)
    for (int i = 0; i < R; ++i) {
      int lane_src[W];
      bool sel[W];
      for (int l = 0; l < W; ++l) {
        const int q = v * W + l;
        sel[l] = (q % R) == i;
        lane_src[l] = sel[l] ? q / R : 0;
      }
      perm[v][i] = V::make_perm(lane_src);
      mask[v][i] = V::make_mask(sel);
    }
  const idx_t C = a.C, ld = a.src_ld;
  for (idx_t blk = 0; blk < a.count; ++blk) {
    const T* s = a.src + blk * a.src_step;
    T* d = a.dst + blk * a.dst_step;
    idx_t j = 0;
    for (; j + W <= C; j += W) {
      typename V::reg rows[R];
      for (int i = 0; i < R; ++i) rows[i] = V::load(s + i * ld + j);
      for (int v = 0; v < R; ++v) {
        auto o = V::permute(perm[v][0], rows[0]);
        for (int i = 1; i < R; ++i) o = V::permute_merge(o, mask[v][i], perm[v][i], rows[i]);
        V::store(d + j * R + v * W, o);
      }
    }
    for (; j < C; ++j)
      for (int i = 0; i < R; ++i) d[j * R + i] = s[i * ld + j];
  }
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

static const KernelTable kTable = {
    kIsaName, &tapreduce<float>, &tapreduce<double>, &zip<float>, &zip<double>,
};

const KernelTable* table() { return &kTable; }
