// The zip (interleave) of R rows (contracts.h: ZipArgs): the channel shuffle, and the
// register zips the GEMM zip kernel writes its rows with.
// Written once over the SIMD traits Vec<T> (simd/*.h): textually included by each
// ISA's kernel TU (config/*.cpp) inside that ISA's namespace; includes no headers.
//
// Beyond the loads and stores, Vec<T> provides Perm, Mask, make_perm(const int*),
// make_mask(const bool*), permute(perm, v), blend(a, b, mask) (b where mask),
// blend_imm<M>(a, b) (b in the lanes of M's set bits), permute_merge(acc, mask, perm, v).

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

// The zip of R registers: out[v] holds elements [v*W, (v + 1)*W) of the rows
// rows[0 .. R) interleaved (row i's column j at j*R + i). rows is permuted in place
// where gcd(R, W) == 1, and the blends that follow take immediate masks
// (zip_regs_permuted): a mask from the tables was a load for every blend.
template <class T, int R, class P, class M>
__attribute__((always_inline)) static inline void zip_regs(const P& perm, const M& mask, typename Vec<T>::reg (&rows)[R],
                                                           typename Vec<T>::reg (&out)[R]) {
  using V = Vec<T>;
  if constexpr (ZipTables<T, R>::coprime) {
    for (int i = 0; i < R; ++i) rows[i] = V::permute(perm[0][i], rows[i]);
    zip_regs_permuted<T, R>(rows, out);
  } else {
    for (int v = 0; v < R; ++v) {
      out[v] = V::permute(perm[v][0], rows[0]);
      for (int i = 1; i < R; ++i) out[v] = V::permute_merge(out[v], mask[v][i], perm[v][i], rows[i]);
    }
  }
}

// The most rows Vec stores interleaved in one instruction (store_interleaved<R>(p, rows):
// p[j*R + i] = rows[i][j] for j < W; NEON's ST2, ST3 and ST4), 0 where it has none.
// Up to that many rows are zipped with no permutes or blends at all.
template <class V, class = void>
struct Interleave : std::integral_constant<int, 0> {};
template <class V>
struct Interleave<V, std::void_t<decltype(V::kInterleave)>> : std::integral_constant<int, V::kInterleave> {};

template <class T, int R, bool stream, class P, class M>
__attribute__((always_inline)) static inline void zip_block(const T* s, idx_t ld, idx_t C, T* d, const P& perm,
                                                            const M& mask);

template <class T, int R>
static void zip_rows(const ZipArgs<T>& a) {
  constexpr int W = Vec<T>::W;
  static const ZipTables<T, R> shared;  // built once
  // A local copy (zip_block is inlined here): the stores through a.dst cannot alias it, so
  // its permutes and masks stay in registers; read from the shared tables, they were
  // loaded again after every store.
  const ZipTables<T, R> tables = shared;
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
__attribute__((always_inline)) static inline void zip_block(const T* s, idx_t ld, idx_t C, T* d, const P& perm,
                                                            const M& mask) {
  using V = Vec<T>;
  constexpr int W = V::W;
  idx_t j = 0;
  if constexpr (R <= Interleave<V>::value) {
    for (; j + W <= C; j += W) {
      typename V::reg rows[R];
      for (int i = 0; i < R; ++i) rows[i] = V::load(s + i * ld + j);
      V::template store_interleaved<R>(d + j * R, rows);
    }
  }
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
  if constexpr (R <= Vec<T>::W || R <= Interleave<Vec<T>>::value) {
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
