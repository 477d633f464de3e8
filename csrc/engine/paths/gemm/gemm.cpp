// The GEMM path (batch, M, N and K): A read in place through row pointers, B packed
// per slab (or read in place: GemmPlan::ldb), the threads claiming chunks of row tiles
// (gemm_driver.h).
#include <algorithm>
#include <atomic>
#include <cstdlib>

#include "engine/paths/gemm/driver.h"
#include "engine/paths/paths.h"

namespace fastconv {
namespace engine {

namespace {
std::atomic<int> g_b_in_place{int(BInPlace::tuned)};
std::atomic<long long> g_b_in_place_runs{0};
}  // namespace
void set_b_in_place(BInPlace mode) { g_b_in_place.store(int(mode)); }
BInPlace b_in_place() { return BInPlace(g_b_in_place.load(std::memory_order_relaxed)); }
long long b_in_place_runs() { return g_b_in_place_runs.load(); }
void count_b_in_place() { g_b_in_place_runs.fetch_add(1, std::memory_order_relaxed); }

KSegments k_segments(const std::vector<Dim>& k, idx_t kc, idx_t k0, idx_t k1, int npad) {
  std::vector<Dim> dims = without_units(k);
  std::stable_sort(dims.begin(), dims.end(),
                   [](const Dim& x, const Dim& y) { return std::abs(x.sa) > std::abs(y.sa); });
  KSegments r;
  r.k_b.resize(size_t(k1 - k0));
  Odometer ib(dims, k0);
  for (idx_t t = k0; t < k1; ++t, ib.next()) r.k_b[size_t(t - k0)] = ib.b;
  r.coord.assign(size_t((k1 - k0) * npad), 0);
  for (idx_t t = k0; t < k1 && npad > 0; ++t) {
    idx_t* c = r.coord.data() + (t - k0) * npad;
    idx_t rest = t;
    for (size_t q = dims.size(); q-- > 0;) {
      const idx_t i = rest % dims[q].size;
      rest /= dims[q].size;
      for (int w = 0; w < npad; ++w) c[w] += i * dims[q].sw[w];
    }
  }
  Dim inner{1, 1, 0, 0};
  if (!dims.empty()) {
    inner = dims.back();
    dims.pop_back();
    while (!dims.empty() && dims.back().sa == inner.sa * inner.size) {
      inner.size *= dims.back().size;
      dims.pop_back();
    }
  }
  r.ks = inner.sa;
  Odometer base(dims, k0 / inner.size);
  idx_t used = 0, pos = k0 % inner.size;
  for (idx_t t = k0; t < k1;) {
    if (used == kc) {
      r.block_piece.push_back(idx_t(r.off.size()));
      r.block_k.push_back(r.block_k.back() + used);
      used = 0;
    }
    const idx_t len = std::min({inner.size - pos, kc - used, k1 - t});
    r.off.push_back(base.a + pos * inner.sa);
    r.len.push_back(len);
    t += len, used += len, pos += len;
    if (pos == inner.size) pos = 0, base.next();
  }
  r.block_piece.push_back(idx_t(r.off.size()));
  r.block_k.push_back(r.block_k.back() + used);
  return r;
}

std::vector<Slab> gemm_slabs(const Contraction& d, const GemmBlocking& bl, idx_t item) {
  const idx_t G = prod(d.batch), K = prod(d.k), N = prod(d.n);
  const idx_t nvec = (N + bl.w - 1) / bl.w, nv = bl.nr / bl.w;
  const idx_t per = sat_mul((nvec + nv - 1) / nv * bl.nr, item);  // bytes per group and K index
  idx_t ks = K, gs = G;
  if (sat_mul(sat_mul(G, K), per) > kMaxPackedB) {
    ks = std::min(K, std::max<idx_t>(1, kMaxPackedB / sat_mul(G, per) / bl.kc) * bl.kc);
    if (sat_mul(sat_mul(G, ks), per) > kMaxPackedB) gs = std::max<idx_t>(1, kMaxPackedB / sat_mul(ks, per));
  }
  std::vector<Slab> slabs;
  for (idx_t g0 = 0; g0 < G; g0 += gs)
    for (idx_t k0 = 0; k0 < K; k0 += ks) slabs.push_back({g0, std::min(G, g0 + gs), k0, std::min(K, k0 + ks)});
  return slabs;
}

namespace {

// Runs one slab; returns why it cannot (having written nothing), or "".
template <class T>
std::string gemm_slab(const Contraction& d, const Slab& sl, bool whole, const T* a, const T* b, const T* bias,
                      T* out, const KernelTable& kt, int nthreads) {
  GemmPlan<T> p(d, kt, sl, whole);
  if (std::string why = p.padding_refused(); !why.empty()) return why;
  p.set_epilogue(d, sl, bias, kt);
  const int nt = gemm_threads(sat_mul(sat_mul(2, p.G), sat_mul(p.M, sat_mul(p.N, p.K))), nthreads);
  p.stream = whole && stream_output(sat_mul(p.G * p.M, sat_mul(p.N, idx_t(sizeof(T)))), p.nblocks, nt);
  const GemmBlocking& bl = p.bl;
  // M blocks whose A rows fit the L2 budget: the rows of every group where the
  // groups interleave inside a row (a grouped conv: its groups read the same pixels).
  const idx_t gs = std::abs(uniform_stride(p.g_a.data(), p.G));
  idx_t pixel = 0;  // the smallest step between A rows
  for (const Dim& m : p.ms)
    if (m.sa != 0 && (pixel == 0 || std::abs(m.sa) < pixel)) pixel = std::abs(m.sa);
  const idx_t gl = gs != 0 && gs * p.G <= pixel ? p.G : p.Gi;
  // Overlapping windows (a stride shorter than a piece: a conv's stride-1 or 2 taps):
  // the next row's pieces are mostly in cache already, read by this one; prefetching
  // them spends load slots on lines that are there (docs/tuning.md).
  const bool overlapping = pixel != 0 && pixel < *std::min_element(p.seg.len.begin(), p.seg.len.end());
  // Every M block streams the whole packed B: where B is too big to stay in the
  // last-level cache, blocks 4x larger (A spilling from L2) cost less than that.
  const idx_t l2 = p.packed() * idx_t(sizeof(T)) > kResidentB ? 4 * bl.l2 : bl.l2;
  const idx_t mc_max = std::max(p.MR, l2 / (gl * std::min(p.K, bl.kc) * idx_t(sizeof(T))) / p.MR * p.MR);
  const Partition part(p.M, p.npanels, p.G / p.Gi, p.MR, mc_max, nt, true);
  gemm_region(p, b, part, [&](const Partition::Block& blk, const Partition::Block* next, const T* pb,
                              idx_t* rows_a, idx_t* rows_o, idx_t* next_a, T* tiles) {
    Lookahead<T> la;
    if (next)
      la = p.lookahead(a, (blk.p1 - blk.p0) * ((blk.mcur + p.MR - 1) / p.MR), next->m0, next->mcur, next->g * p.Gi,
                       next_a);
    row_offsets(p.ms, blk.m0, blk.mcur, rows_a, rows_o);
    PaddedRows padded;
    if (p.npad) {
      idx_t* mem = scratch::get<idx_t>(scratch::kPadRows, size_t(blk.mcur * (1 + p.npad)));
      padded = p.padded_rows(blk.m0, blk.mcur, mem, mem + blk.mcur);
    }
    p.rows(a, pb, out, rows_a, rows_o, blk.mcur, blk.p0, blk.p1, blk.g * p.Gi, tiles, !overlapping,
           la.nrows ? &la : nullptr, padded);
  });
  return {};
}

}  // namespace

template <class T>
std::string gemm_path(const Contraction& d, const T* a, const T* b, const T* bias, T* out, const KernelTable& kt,
                      int nthreads) {
  if (prod(d.batch) == 0 || prod(d.m) == 0 || prod(d.n) == 0) return {};
  if (prod(d.k) == 0) {
    zero_output(d, out, nthreads);
    return {};
  }
  const std::vector<Slab> slabs = gemm_slabs(d, KernelOf<T>::gemms(kt, prod(d.n)).blocking, idx_t(sizeof(T)));
  a -= d.pad_origin;  // zero padding: the view's true origin (never read outside the input)
  for (const Slab& sl : slabs) {
    if (parallel::should_stop()) break;
    if (std::string why = gemm_slab(d, sl, slabs.size() == 1, a, b, bias, out, kt, nthreads); !why.empty())
      return why;
  }
  return {};
}

template std::string gemm_path<float>(const Contraction&, const float*, const float*, const float*, float*,
                                      const KernelTable&, int);
template std::string gemm_path<double>(const Contraction&, const double*, const double*, const double*, double*,
                                       const KernelTable&, int);

}  // namespace engine
}  // namespace fastconv
