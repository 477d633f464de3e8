// The padded depthwise path (window.h). Output rows (a batch index and the output
// indices of every spatial axis but the last) are claimed by the threads; a row's
// window range along the outer axes (the taps inside x) picks its taps, packed with
// their weights once per range a thread meets (rows of the same range share them).
// Along the last axis the pixels whose windows lie inside x run as one kernel call per
// row (with the sliding rows where stride and dilation are 1); each border column,
// whose windows are cut, is one call over the taps it has down a run of rows of the
// same outer range.
#include "engine/paths/window.h"

#include <algorithm>
#include <vector>

#include "engine/buffer.h"
#include "engine/dims.h"
#include "engine/parallel.h"
#include "engine/paths/tapreduce.h"

namespace fastconv {
namespace engine {

namespace {

// floor(a / b) for b > 0.
idx_t floor_div(idx_t a, idx_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// The kernel indices [k0, k1) of output o's window inside an axis of size s.
void window_range(const WindowConv& g, int i, idx_t o, idx_t& k0, idx_t& k1) {
  const idx_t first = o * g.stride[i] - g.lo[i], d = g.dilation[i];
  k0 = std::max<idx_t>(0, -floor_div(first, d));                   // first + k * d >= 0
  k1 = std::min<idx_t>(g.K[i], floor_div(g.S[i] - 1 - first, d) + 1);  // first + k * d < s
  if (k1 < k0) k1 = k0;
}

// Packed window ranges a thread keeps at most (then it starts again).
constexpr size_t kMaxPacks = 64;

// Taps of one window range, row-major over the axes (the last fastest), offsets from
// the range's first tap, and their packed weights [ntaps][c].
template <class T>
struct Taps {
  idx_t r0[WindowConv::kMaxAxes] = {}, r1[WindowConv::kMaxAxes] = {};
  std::vector<idx_t> off;
  Buffer<T> w;

  bool is(const idx_t* k0, const idx_t* k1, int n) const {
    for (int i = 0; i < n; ++i)
      if (r0[i] != k0[i] || r1[i] != k1[i]) return false;
    return true;
  }
  void pack(const WindowConv& g, const T* wt, const idx_t* k0, const idx_t* k1) {
    idx_t count = 1;
    for (int i = 0; i < g.n; ++i) r0[i] = k0[i], r1[i] = k1[i], count *= k1[i] - k0[i];
    off.assign(size_t(count), 0);
    w.resize(size_t(count * g.c));
    idx_t k[WindowConv::kMaxAxes];
    for (int i = 0; i < g.n; ++i) k[i] = k0[i];
    for (idx_t t = 0; t < count; ++t) {
      idx_t o = 0, wo = 0;
      for (int i = 0; i < g.n; ++i) o += (k[i] - k0[i]) * g.dilation[i] * g.xs[i], wo += k[i] * g.ws[i];
      off[size_t(t)] = o;
      std::copy(wt + wo, wt + wo + g.c, w.data() + t * g.c);
      for (int i = g.n; i-- > 0;) {  // the odometer, last axis fastest
        if (++k[i] < k1[i]) break;
        k[i] = k0[i];
      }
    }
  }
  idx_t count() const { return idx_t(off.size()); }
};

}  // namespace

template <class T>
void depthwise_window(const WindowConv& g, const T* x, const T* w, const T* bias, T* out, const KernelTable& kt,
                      int nthreads) {
  const int n = g.n, q = n - 1;  // q: the last spatial axis, the kernel's pixels
  idx_t rows = g.batch;
  for (int i = 0; i < q; ++i) rows *= g.O[i];
  const idx_t width = g.O[q];
  if (rows == 0 || width == 0 || g.c == 0) return;
  // Each pixel's window range along the last axis; the pixels whose windows it holds
  // whole are one run [whole0, whole1) (ranges along an axis only grow, then shrink).
  std::vector<idx_t> x0(static_cast<size_t>(width)), x1(static_cast<size_t>(width));
  idx_t whole0 = width, whole1 = width;
  for (idx_t o = 0; o < width; ++o) {
    window_range(g, q, o, x0[size_t(o)], x1[size_t(o)]);
    if (x0[size_t(o)] == 0 && x1[size_t(o)] == g.K[q]) whole0 = std::min(whole0, o), whole1 = o + 1;
  }
  idx_t ntaps = 1;
  for (int i = 0; i < n; ++i) ntaps *= g.K[i];
  const idx_t row_work = sat_mul(sat_mul(width, ntaps + 1), g.c);
  const idx_t bytes = sat_mul(sat_mul(rows, row_work / std::max<idx_t>(1, ntaps)), idx_t(sizeof(T)));
  const int nt = int(std::max<idx_t>(1, std::min<idx_t>(parallel::threads_for(bytes, nthreads), rows)));
  const idx_t most = std::max<idx_t>(1, parallel::kChunkWork / std::max<idx_t>(1, row_work));
  parallel::Claims claims(rows, std::min(most, rows / (16 * nt)), most);
  auto kernel = KernelOf<T>::tapreduce(kt);
  const idx_t x_pix = g.stride[q] * g.xs[q];
  const idx_t row = g.stride[q] == 1 && g.dilation[q] == 1 && tap_row_slides(g.K[q]) ? g.K[q] : 0;
  // Consecutive rows of a run step along the last outer axis (the batch in 1-D).
  const idx_t row_x = q > 0 ? g.stride[q - 1] * g.xs[q - 1] : g.xb, row_o = q > 0 ? g.os[q - 1] : g.ob;
  // Row r: its batch index and outer output indices, their window ranges, where its
  // windows' first taps are in x (from the outer ranges' first taps) and its outputs.
  struct Row {
    idx_t b = 0, o[WindowConv::kMaxAxes] = {}, k0[WindowConv::kMaxAxes] = {}, k1[WindowConv::kMaxAxes] = {};
    const T* x = nullptr;
    T* out = nullptr;
    bool inside = true;  // some tap of the outer axes lies inside x
    bool same_range(const Row& s, int axes) const {
      for (int i = 0; i < axes; ++i)
        if (s.k0[i] != k0[i] || s.k1[i] != k1[i]) return false;
      return true;
    }
  };
  auto row_at = [&](idx_t r, Row& R) {
    idx_t rest = r;
    for (int i = q; i-- > 0;) R.o[i] = rest % g.O[i], rest /= g.O[i];
    R.b = rest, R.x = x + rest * g.xb, R.out = out + rest * g.ob, R.inside = true;
    for (int i = 0; i < q; ++i) {
      window_range(g, i, R.o[i], R.k0[i], R.k1[i]);
      R.inside = R.inside && R.k1[i] > R.k0[i];
      R.x += (R.o[i] * g.stride[i] - g.lo[i] + R.k0[i] * g.dilation[i]) * g.xs[i];
      R.out += R.o[i] * g.os[i];
    }
  };
  parallel::run(nt, [&](int, int team) {
    // This thread's packed taps, one per window range it has met (a 2-D conv has
    // (1 + padding / stride)^2 or so on each side): each packed once per call.
    std::vector<Taps<T>> packs;
    auto taps_of = [&](const idx_t* k0, const idx_t* k1) -> const Taps<T>& {
      for (const auto& t : packs)
        if (t.is(k0, k1, n)) return t;
      if (packs.size() >= kMaxPacks) packs.clear();
      packs.emplace_back().pack(g, w, k0, k1);
      return packs.back();
    };
    claims.run(team, [&](idx_t r0, idx_t r1) {
      for (idx_t r = r0; r < r1;) {
        // A run of rows [r, re) one after the other along the last outer axis (or the
        // batch, in 1-D) with the same outer window range: a border column of the run
        // is one kernel call down its rows.
        Row R;
        row_at(r, R);
        idx_t re = r + 1;
        for (Row S; re < r1; ++re) {
          row_at(re, S);
          if (!R.same_range(S, n - 1) || (q > 0 && (S.b != R.b || S.o[q - 1] != R.o[q - 1] + (re - r)))) break;
        }
        const idx_t nrows = re - r;
        // npix pixels from pixel p0 of row r + i0, step_x and step_o apart in x and out
        // (along the row, or down the run's rows), whose windows start at last-axis tap
        // s0, over the taps t (rows_of: the kernel's sliding rows, 0: none).
        auto call = [&](idx_t i0, idx_t p0, idx_t npix, idx_t step_x, idx_t step_o, idx_t s0, const Taps<T>& t,
                        idx_t rows_of) {
          const bool any = R.inside && t.count() > 0;
          const T* base = any ? R.x + i0 * row_x + (p0 * g.stride[q] - g.lo[q] + s0 * g.dilation[q]) * g.xs[q] : x;
          kernel({base, step_x, npix, t.off.data(), any ? t.count() : 0, t.w.data(), g.c, 1,
                  R.out + i0 * row_o + p0 * g.os[q], step_o, nullptr, bias, g.act, any ? rows_of : 0});
        };
        idx_t k0[WindowConv::kMaxAxes], k1[WindowConv::kMaxAxes];
        std::copy(R.k0, R.k0 + q, k0), std::copy(R.k1, R.k1 + q, k1);
        if (whole1 > whole0) {
          k0[q] = 0, k1[q] = g.K[q];
          const Taps<T>& t = taps_of(k0, k1);
          for (idx_t i = 0; i < nrows; ++i) call(i, whole0, whole1 - whole0, x_pix, g.os[q], 0, t, row);
        }
        for (idx_t p = 0; p < width;) {
          if (p == whole0 && whole1 > whole0) {
            p = whole1;
            continue;
          }
          idx_t e = p + 1;  // border pixels of the same range
          while (e < width && e != whole0 && x0[size_t(e)] == x0[size_t(p)] && x1[size_t(e)] == x1[size_t(p)]) ++e;
          k0[q] = x0[size_t(p)], k1[q] = x1[size_t(p)];
          const Taps<T>& t = taps_of(k0, k1);
          if (e - p == 1)
            call(0, p, nrows, row_x, row_o, k0[q], t, 0);
          else
            for (idx_t i = 0; i < nrows; ++i) call(i, p, e - p, x_pix, g.os[q], k0[q], t, 0);
          p = e;
        }
        r = re;
      }
    });
  });
}

template void depthwise_window<float>(const WindowConv&, const float*, const float*, const float*, float*,
                                      const KernelTable&, int);
template void depthwise_window<double>(const WindowConv&, const double*, const double*, const double*, double*,
                                       const KernelTable&, int);

}  // namespace engine
}  // namespace fastconv
