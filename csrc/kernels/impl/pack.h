// Packing B into the GEMM's panels (contracts.h: PackArgs): the layout the GEMM and
// zip kernels of a tile Tl read (impl/gemm.h). Written once for every ISA: textually
// included by each kernel TU (config/*.cpp) inside its namespace; includes no headers.
//
// A block of KB rows is read front to back, each row copied into every panel beside
// its previous row's values there; packing panel by panel instead reads B down its
// columns, a line per row at B's row stride (docs/tuning.md).
template <class T, class Tl>
static void pack_b(const PackArgs<T>& p) {
  constexpr idx_t W = Vec<T>::W, NR = Tl::NV * W, KB = 8;
  const idx_t K = p.K, G = p.zip_groups;
  for (idx_t r0 = p.r0; r0 < p.r1;) {
    const idx_t g = r0 / K, k0 = r0 % K;
    idx_t kn = KB < K - k0 ? KB : K - k0;
    if (kn > p.r1 - r0) kn = p.r1 - r0;
    for (idx_t jp = p.p0; jp < p.p1; ++jp) {
      const idx_t nn = p.pcol[jp + 1] - p.pcol[jp];
      const idx_t* nb = p.n_b + p.pcol[jp];
      T* dst = p.dst + ((g * p.npanels + jp) * K + k0) * NR;
      for (idx_t k = k0; k < k0 + kn; ++k, dst += NR) {
        const T* row = p.b + p.g_b[g] + p.k_b[k];
        if (G > 0) {  // column c of each vector at lane (c*G + g) % W (zip_prepermuted)
          for (idx_t j = 0; j < NR; ++j) dst[j] = T(0);
          for (idx_t v = 0; v < nn; v += W)
            for (idx_t c = 0; c < W && v + c < nn; ++c) dst[v + (c * G + g) % W] = row[nb[v + c]];
          continue;
        }
        if (p.ncontig)
          for (idx_t j = 0; j < nn; ++j) dst[j] = row[nb[0] + j];
        else
          for (idx_t j = 0; j < nn; ++j) dst[j] = row[nb[j]];
        for (idx_t j = nn; j < NR; ++j) dst[j] = T(0);
      }
    }
    r0 += kn;
  }
}
