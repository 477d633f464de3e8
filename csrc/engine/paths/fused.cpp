// The fused chain (paths.h): out = D x w2 with D = tapreduce(x, w1). D's rows are
// computed a block at a time into a buffer that stays in cache and feed the GEMM
// tiles at once; the intermediate never goes to memory. d1 and d2 describe D as a
// virtual C-contiguous (M..., c) operand (its strides, not its memory).
#include "engine/paths/gemm/driver.h"
#include "engine/paths/paths.h"
#include "engine/paths/tapreduce.h"

namespace fastconv {
namespace engine {

template <class T>
std::string fused_path(const Contraction& d1, const Contraction& d2, const T* x, const T* w1, const T* w2,
                       const T* bias, T* out, const KernelTable& kt, int nthreads) {
  if (!d1.n.empty() || d2.n.empty() || !d2.batch.empty())
    return "fused chain needs a tap-reduce stage then a GEMM without groups";
  if (prod(d2.m) == 0 || prod(d2.n) == 0) return {};
  if (prod(d1.k) == 0 || prod(d2.k) == 0) {
    zero_output(d2, out, nthreads);
    return {};
  }
  if (reduce_route(d1) != Reduce::kTap) return "fused chain needs a short tap-reduce stage";
  const GemmBlocking& bl = KernelOf<T>::gemms(kt, prod(d2.n)).blocking;
  if (gemm_slabs(d2, bl, idx_t(sizeof(T))).size() != 1) return "fused chain's 1x1 weights are too large";
  TapPlan<T> tp;
  std::string err = make_tap_plan(d1, w1, tp);
  if (!err.empty()) return err;
  const TapShape& ts = tp.s;
  const idx_t c = prod(d2.k);
  // The stage-1 pixel order must be D's row order: rows of c, row-major. Where it
  // is not (degenerate shapes, e.g. c == 1 vectorised along another axis), the two
  // stages run one after the other through a whole D.
  bool rows_of_d = ts.L == c && ts.seg == 1;
  {
    idx_t stride = c;
    std::vector<Dim> pix = ts.outer;
    pix.push_back(ts.inner);
    for (size_t q = pix.size(); q-- > 0 && rows_of_d;) {
      if (pix[q].size != 1 && pix[q].so != stride) rows_of_d = false;
      stride *= pix[q].size;
    }
    // ... and stage 2 must read D the same way: its M indices row-major over rows of
    // c, its K indices the c contiguous values of a row.
    stride = c;
    const std::vector<Dim> ms = without_units(d2.m);
    for (size_t q = ms.size(); q-- > 0 && rows_of_d;) {
      if (ms[q].sa != stride) rows_of_d = false;
      stride *= ms[q].size;
    }
    const KSegments whole = k_segments(d2.k, c, 0, c);
    rows_of_d = rows_of_d && whole.ks == 1 && whole.off.size() == 1 && whole.off[0] == 0;
  }
  if (!rows_of_d) {
    Buffer<T> dmem(size_t(prod(d2.m) * c));
    err = tapreduce_path<T>(d1, x, w1, nullptr, dmem.data(), kt, nthreads);
    if (!err.empty() || parallel::should_stop()) return err;
    return gemm_path(d2, dmem.data(), w2, bias, out, kt, nthreads);
  }
  GemmPlan<T> gp(d2, kt, Slab{0, 1, 0, c}, true);
  gp.set_epilogue(d2, Slab{0, 1, 0, c}, bias, kt);
  const int nt = gemm_threads(sat_mul(2 * gp.M, sat_mul(gp.N, gp.K)), nthreads);
  gp.stream = stream_output(sat_mul(gp.M, sat_mul(gp.N, idx_t(sizeof(T)))), gp.nblocks, nt);
  // D blocks of MC rows: small enough to stay in L1/L2 between the two stages.
  const idx_t mc_max = std::max(gp.MR, (bl.l2 / 4) / (c * idx_t(sizeof(T))) / gp.MR * gp.MR);
  // Split N only where M cannot feed every thread: each column share recomputes its D rows.
  const Partition part(gp.M, gp.npanels, 1, gp.MR, mc_max, nt, false);
  const auto tap = KernelOf<T>::tapreduce(kt);
  gemm_region(gp, w2, part, [&](const Partition::Block& blk, const Partition::Block*, const T* pb, idx_t* rows_a,
                                idx_t* rows_o, idx_t*, T* tiles) {
    const idx_t m0 = blk.m0, mcur = blk.mcur;
    T* dbuf = scratch::get<T>(scratch::kStage, size_t(part.mc * c));
    // Stage 1: D rows [m0, m0 + mcur) into dbuf, by runs of the inner pixel dim.
    for_runs(ts.outer, ts.inner, m0, mcur, [&](idx_t r, idx_t off, idx_t, idx_t i0, idx_t len) {
      TapReduceArgs<T> args = tap_args<T>(tp, x + off + i0 * ts.inner.sa, dbuf + r * c, len, nullptr);
      args.out_pix = c;
      tap(args);
    });
    // Stage 2: the GEMM tiles over the block, A rows from dbuf.
    row_offsets(gp.ms, m0, mcur, rows_a, rows_o);
    for (idx_t i = 0; i < mcur; ++i) rows_a[i] = i * c;
    gp.rows(dbuf, pb, out, rows_a, rows_o, mcur, blk.p0, blk.p1, 0, tiles, false, nullptr);
  });
  return {};
}

template std::string fused_path<float>(const Contraction&, const Contraction&, const float*, const float*,
                                       const float*, const float*, float*, const KernelTable&, int);
template std::string fused_path<double>(const Contraction&, const Contraction&, const double*, const double*,
                                        const double*, const double*, double*, const KernelTable&, int);

}  // namespace engine
}  // namespace fastconv
