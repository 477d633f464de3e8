// The padded depthwise path (window.h). Output rows (a batch index and the output
// indices of every spatial axis but the last) are claimed by the threads; a row's
// window range along the outer axes (the taps inside x) picks its taps, packed with
// their weights once per range a thread meets (rows of the same range share them).
// Staged lines, where x's vectors are misaligned (NumPy's arrays start 16 bytes past a
// cache line, where every AVX-512 load of x reads two; kStageMinTaps below): each
// thread copies the lines of x its rows read (a line: the last spatial axis, every
// channel) into a ring of its own, 64-byte aligned, each pixel a whole number of
// vectors, zeros in place of the padding at both ends; a row is then one kernel call
// over all its pixels, their windows whole along the line (the sliding rows where
// stride and dilation are 1). Else in place: along the last axis the pixels whose
// windows lie inside x run as one kernel call per row; each border column, whose
// windows are cut, is one call over the taps it has down a run of rows of the same
// outer range.
#include "engine/paths/window.h"

#include <algorithm>
#include <vector>

#include "engine/buffer.h"
#include "engine/dims.h"
#include "engine/parallel.h"
#include "engine/paths/tapreduce.h"
#include "engine/scratch.h"

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

// Lines are staged where x's vectors are misaligned (its address or a stride not a
// whole number of vectors: an aligned x read in place was faster), where an output
// reads at least kStageMinTaps taps per pixel of x (the strides' product: a copied
// value costs about an FMA, and serves taps / strides of them), and where a thread's
// lines take at most kMaxLineBytes (docs/tuning.md).
constexpr idx_t kMaxLineBytes = idx_t(1) << 20;
constexpr idx_t kStageMinTaps = 9;

// The next row's lines are fetched ahead where x holds at least this many bytes (less
// stays in the caches between calls, where the fetches only cost load slots;
// docs/tuning.md).
constexpr idx_t kAheadMinBytes = idx_t(8) << 20;

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

// A thread's staged lines: nslots lines of len pixels, pix elements apart (c rounded up
// to whole vectors), slot bytes apart (whole cache lines); input pixel i of a line at
// position i + lo, zeros before and after (a call's padding, written once a call).
// A slot holds the line of key (the line's batch index and outer coordinates, as one
// index); at most nslots lines are needed at a time (one row's outer window).
template <class T>
struct Lines {
  T* buf = nullptr;
  idx_t nslots = 0, len = 0, pix = 0, slot = 0, lo = 0, copied = 0;  // copied: x's pixels a line holds
  std::vector<idx_t> key, miss;
  std::vector<char> used;

  void init(const WindowConv& g, idx_t w) {
    const int q = g.n - 1;
    nslots = 1;
    for (int i = 0; i < q; ++i) nslots *= g.K[i];
    lo = g.lo[q];
    len = (g.O[q] - 1) * g.stride[q] + (g.K[q] - 1) * g.dilation[q] + 1;
    pix = (g.c + w - 1) / w * w;
    constexpr idx_t line = 64 / idx_t(sizeof(T));
    slot = (len * pix + line - 1) / line * line;
    copied = std::max<idx_t>(0, std::min(g.S[q], len - lo));
    buf = scratch::get<T>(scratch::kLines, size_t(nslots * slot));
    key.assign(size_t(nslots), -1);
    used.assign(size_t(nslots), 0);
    for (idx_t s = 0; s < nslots; ++s) {  // the padding at both ends, the same for every line
      T* b = buf + s * slot;
      std::fill(b, b + std::min(lo, len) * pix, T(0));
      if (lo + copied < len) std::fill(b + (lo + copied) * pix, b + len * pix, T(0));
    }
  }
  static idx_t bytes(const WindowConv& g, idx_t w) {
    const int q = g.n - 1;
    idx_t n = 1;
    for (int i = 0; i < q; ++i) n = sat_mul(n, g.K[i]);
    const idx_t l = sat_mul(g.O[q] - 1, g.stride[q]) + sat_mul(g.K[q] - 1, g.dilation[q]) + 1;
    return sat_mul(sat_mul(n, l), sat_mul((g.c + w - 1) / w * w, idx_t(sizeof(T))));
  }
  // The slots of a row's lines (keys k[0 .. n)), copied from src[j] where not held.
  void stage(const idx_t* k, const T* const* src, idx_t n, const WindowConv& g, T** at) {
    std::fill(used.begin(), used.end(), char(0));
    miss.clear();
    for (idx_t j = 0; j < n; ++j) {
      idx_t s = 0;
      while (s < nslots && key[size_t(s)] != k[j]) ++s;
      if (s < nslots)
        used[size_t(s)] = 1, at[j] = buf + s * slot;
      else
        miss.push_back(j);
    }
    const int q = g.n - 1;
    idx_t s = 0;
    for (const idx_t j : miss) {
      while (used[size_t(s)]) ++s;
      used[size_t(s)] = 1, key[size_t(s)] = k[j];
      at[j] = buf + s * slot;
      if (copied == 0) continue;  // no window of the line reaches x along it
      T* d = at[j] + lo * pix;
      const T* x = src[j];
      if (pix == g.c && g.xs[q] == g.c)
        std::copy(x, x + copied * g.c, d);
      else
        for (idx_t i = 0; i < copied; ++i) std::copy(x + i * g.xs[q], x + i * g.xs[q] + g.c, d + i * pix);
    }
  }
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
  parallel::Claims claims(rows, nt, std::min(most, rows / (16 * nt)), most);
  auto kernel = KernelOf<T>::tapreduce(kt);
  const idx_t x_pix = g.stride[q] * g.xs[q];
  idx_t x_bytes = sat_mul(g.batch, sat_mul(g.c, idx_t(sizeof(T))));
  for (int i = 0; i < n; ++i) x_bytes = sat_mul(x_bytes, g.S[i]);
  const bool fetch_ahead = q > 0 && x_bytes >= kAheadMinBytes;
  // Sliding rows; of stride 2 only where x stays cached (streamed from memory, they ran
  // slower than the 4 x 2 tiles; docs/tuning.md).
  const idx_t row =
      g.dilation[q] == 1 && tap_row_slides(g.K[q], g.stride[q]) && (g.stride[q] == 1 || !fetch_ahead) ? g.K[q] : 0;
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
  // The lines that row R + i's successor down the last outer axis reads and R + i does
  // not (its window's new rows), where they are one forward run of x (dilation 1 along
  // that axis, dense pixels): fetched to L2 while R + i runs (docs/tuning.md).
  auto next_lines = [&](const Row& R, idx_t i, const void*& at, idx_t& nbytes) {
    at = nullptr, nbytes = 0;
    if (!fetch_ahead || !R.inside) return;
    const int a = q - 1;
    if (g.dilation[a] != 1 || g.xs[q] != g.c || g.xs[a] < g.S[q] * g.c) return;
    const idx_t o = R.o[a] + i + 1;
    if (o >= g.O[a]) return;
    idx_t k0, k1;
    window_range(g, a, o, k0, k1);
    const idx_t start = o * g.stride[a] - g.lo[a];
    const idx_t first = std::max(start + k0, start - g.stride[a] + g.K[a]), last = start + k1;
    if (last <= first) return;
    at = R.x + (first - (R.o[a] * g.stride[a] - g.lo[a] + R.k0[a])) * g.xs[a];
    nbytes = ((last - first - 1) * g.xs[a] + g.S[q] * g.c) * idx_t(sizeof(T));
  };
  const idx_t vec = KernelOf<T>::mem(kt).w;
  idx_t strides = 1;
  bool aligned = reinterpret_cast<size_t>(x) % size_t(vec * idx_t(sizeof(T))) == 0 && g.xb % vec == 0;
  for (int i = 0; i < n; ++i) strides *= g.stride[i], aligned = aligned && g.xs[i] % vec == 0;
  const bool staged = !aligned && ntaps >= kStageMinTaps * strides && Lines<T>::bytes(g, vec) <= kMaxLineBytes;
  parallel::run(nt, [&](int tid, int) {
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
    if (staged) {
      Lines<T> lines;
      lines.init(g, vec);
      std::vector<idx_t> keys, offs;
      std::vector<const T*> src;
      std::vector<T*> at;
      claims.run(tid, [&](idx_t r0, idx_t r1) {
        for (idx_t r = r0; r < r1; ++r) {
          Row R;
          row_at(r, R);
          idx_t k0[WindowConv::kMaxAxes], k1[WindowConv::kMaxAxes];
          std::copy(R.k0, R.k0 + q, k0), std::copy(R.k1, R.k1 + q, k1);
          k0[q] = 0, k1[q] = g.K[q];
          const Taps<T>& t = taps_of(k0, k1);
          if (!R.inside || t.count() == 0) {  // every window wholly in the padding
            kernel({x, 0, width, nullptr, 0, t.w.data(), g.c, 1, R.out, g.os[q], nullptr, bias, g.act, 0});
            continue;
          }
          // The row's lines: its outer window's taps, row-major (the last outer axis
          // fastest), each the line at those outer coordinates.
          keys.clear(), src.clear();
          idx_t k[WindowConv::kMaxAxes];
          std::copy(k0, k0 + q, k);
          do {
            idx_t key = R.b;
            const T* p = x + R.b * g.xb;
            for (int i = 0; i < q; ++i) {
              const idx_t c = R.o[i] * g.stride[i] - g.lo[i] + k[i] * g.dilation[i];
              key = key * g.S[i] + c, p += c * g.xs[i];
            }
            keys.push_back(key), src.push_back(p);
            int i = q - 1;
            for (; i >= 0; --i) {
              if (++k[i] < k1[i]) break;
              k[i] = k0[i];
            }
            if (i < 0) break;
          } while (true);
          at.resize(keys.size());
          lines.stage(keys.data(), src.data(), idx_t(keys.size()), g, at.data());
          offs.clear();
          for (T* l : at)
            for (idx_t j = 0; j < g.K[q]; ++j) offs.push_back(idx_t(l - lines.buf) + j * g.dilation[q] * lines.pix);
          const void* ahead;
          idx_t ahead_bytes;
          next_lines(R, 0, ahead, ahead_bytes);
          kernel({lines.buf, g.stride[q] * lines.pix, width, offs.data(), idx_t(offs.size()), t.w.data(), g.c, 1,
                  R.out, g.os[q], nullptr, bias, g.act, row, g.stride[q], ahead, ahead_bytes});
        }
      });
      return;
    }
    claims.run(tid, [&](idx_t r0, idx_t r1) {
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
        // ahead: fetch the lines of row r + i0's successor.
        auto call = [&](idx_t i0, idx_t p0, idx_t npix, idx_t step_x, idx_t step_o, idx_t s0, const Taps<T>& t,
                        idx_t rows_of, bool ahead = false) {
          const bool any = R.inside && t.count() > 0;
          const T* base = any ? R.x + i0 * row_x + (p0 * g.stride[q] - g.lo[q] + s0 * g.dilation[q]) * g.xs[q] : x;
          const void* next = nullptr;
          idx_t next_bytes = 0;
          if (ahead) next_lines(R, i0, next, next_bytes);
          kernel({base, step_x, npix, t.off.data(), any ? t.count() : 0, t.w.data(), g.c, 1,
                  R.out + i0 * row_o + p0 * g.os[q], step_o, nullptr, bias, g.act, any ? rows_of : 0, g.stride[q],
                  next, next_bytes});
        };
        idx_t k0[WindowConv::kMaxAxes], k1[WindowConv::kMaxAxes];
        std::copy(R.k0, R.k0 + q, k0), std::copy(R.k1, R.k1 + q, k1);
        if (whole1 > whole0) {
          k0[q] = 0, k1[q] = g.K[q];
          const Taps<T>& t = taps_of(k0, k1);
          for (idx_t i = 0; i < nrows; ++i) call(i, whole0, whole1 - whole0, x_pix, g.os[q], 0, t, row, true);
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
