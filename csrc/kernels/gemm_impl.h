// GEMM microkernel, written once over the SIMD traits Vec<T> and the ISA's
// GemmTile<T> (MR rows x NV vectors, and the cache blocks). Textually included
// by each ISA translation unit inside its namespace; includes no headers.

template <class T, bool unit>
static inline void gemm_segments(const GemmArgs<T>& g, typename Vec<T>::reg (&acc)[GemmTile<T>::MR][GemmTile<T>::NV]) {
  using V = Vec<T>;
  constexpr int MR = GemmTile<T>::MR, NV = GemmTile<T>::NV, W = V::W, NR = NV * W;
  const T* rows[MR];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i) rows[i] = g.a[i];
  const T* b = g.b;
  const idx_t ks = unit ? 1 : g.ks;
  for (idx_t s = 0; s < g.nseg; ++s) {
    const idx_t off = g.seg_off[s], len = g.seg_len[s];
    const T* r[MR];
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) r[i] = rows[i] + off;
#pragma GCC unroll 4
    for (idx_t k = 0; k < len; ++k) {
      typename V::reg bv[NV];
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) bv[j] = V::load(b + j * W);
#pragma GCC unroll 32
      for (int i = 0; i < MR; ++i) {
        const auto av = V::broadcast(r[i] + k * ks);
#pragma GCC unroll 8
        for (int j = 0; j < NV; ++j) acc[i][j] = V::fmadd(av, bv[j], acc[i][j]);
      }
      b += NR;
    }
  }
}

template <class T>
static void gemm(const GemmArgs<T>& g) {
  using V = Vec<T>;
  constexpr int MR = GemmTile<T>::MR, NV = GemmTile<T>::NV, W = V::W, NR = NV * W;
  typename V::reg acc[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) acc[i][j] = V::zero();
  if (g.ks == 1)
    gemm_segments<T, true>(g, acc);
  else
    gemm_segments<T, false>(g, acc);
  if (g.stream && g.m == MR && g.n == NR && g.cs_c == 1 && !g.accumulate &&
      (reinterpret_cast<size_t>(g.c) | size_t(g.rs_c) * sizeof(T)) % (W * sizeof(T)) == 0) {
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) V::stream(g.c + i * g.rs_c + j * W, acc[i][j]);
    return;
  }
  if (g.m == MR && g.n == NR && g.cs_c == 1) {
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      T* ci = g.c + i * g.rs_c;
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j)
        V::store(ci + j * W, g.accumulate ? V::add(acc[i][j], V::load(ci + j * W)) : acc[i][j]);
    }
    return;
  }
  T buf[MR * NR];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) V::store(buf + i * NR + j * W, acc[i][j]);
  for (idx_t i = 0; i < g.m; ++i) {
    T* ci = g.c + i * g.rs_c;
    for (idx_t j = 0; j < g.n; ++j)
      ci[j * g.cs_c] = g.accumulate ? ci[j * g.cs_c] + buf[i * NR + j] : buf[i * NR + j];
  }
}

template <class T>
static constexpr GemmBlocking gemm_blocking() {
  return {GemmTile<T>::MR, GemmTile<T>::NV * Vec<T>::W, GemmTile<T>::KC, GemmTile<T>::L2};
}

static const KernelTable kTable = {
    kIsaName,         &tapreduce<float>,        &tapreduce<double>,        &zip<float>, &zip<double>,
    &gemm<float>,     &gemm<double>,            gemm_blocking<float>(),    gemm_blocking<double>(),
};

const KernelTable* table() { return &kTable; }
