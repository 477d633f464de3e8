// The tap-reduce path (tapreduce.h): out[p, r] = sum_t x[p, tap(t) + r] * w[t, r],
// vectorised along the lanes r. Short sums run with every tap's weights packed once;
// long ones (many taps, or more weights than kMaxPackedTaps) tap chunk by tap chunk
// over blocks of pixels and lanes, the chunks' sums added pairwise (cascade.h).
#include "engine/paths/tapreduce.h"

#include <algorithm>
#include <cstring>

#include "engine/cascade.h"
#include "engine/dims.h"
#include "engine/paths/paths.h"
#include "engine/scratch.h"

namespace fastconv {
namespace engine {

namespace {

// Segments of at most this many lanes are summed out of a vector tile.
constexpr idx_t kMaxTileSegment = 16;
// A pixel dim shorter than this is not the kernel's pixel run where another is twice as long.
constexpr idx_t kShortPixelRun = 8;
// The long mode's blocks: pixels and lanes summed together tap chunk by tap chunk.
constexpr idx_t kPixelBlock = 16, kLaneSlab = 256;

// Offsets in a (ta) and b (tb) of the taps [t0, t0 + count), row-major over s.ks.
void tap_offsets(const TapShape& s, idx_t t0, idx_t count, idx_t* ta, idx_t* tb) {
  Odometer it(s.ks, t0);
  for (idx_t t = 0; t < count; ++t, it.next()) ta[t] = it.a, tb[t] = it.b;
}

// w[t][i] = b[tb[t] + (the b offset of lane r0 + i)] for t < count, i < lanes. Lane r is
// lane r % lane.size of tile r / lane.size: copied a run of one tile's lanes at a time
// (a fill where b is the same on every lane: a one-operand sum's ones, a GEMV's vector),
// with no division per weight (docs/tuning.md).
template <class T>
void pack_weights(const TapShape& s, const T* b, const idx_t* tb, idx_t count, idx_t r0, idx_t lanes, T* w) {
  const idx_t ls = s.lane.size, lsb = s.lane.sb;
  for (idx_t t = 0; t < count; ++t) {
    T* wt = w + t * lanes;
    idx_t q = r0 / ls, j = r0 % ls;
    for (idx_t i = 0; i < lanes; j = 0, ++q) {
      const idx_t run = std::min(lanes - i, ls - j);
      const T* src = b + tb[t] + q * s.tile.sb + j * lsb;
      if (lsb == 0)
        std::fill(wt + i, wt + i + run, *src);
      else if (lsb == 1)
        std::copy(src, src + run, wt + i);
      else
        for (idx_t u = 0; u < run; ++u) wt[i + u] = src[u * lsb];
      i += run;
    }
  }
}

// The pixels the kernel walks in one call are along the smallest output stride, unless
// that dim is short (a border band of a padded conv, a few columns wide) and another
// is long enough for the kernel's multi-pixel tiles: then along the longest.
void prefer_long_run(TapShape& s) {
  if (s.inner.size >= kShortPixelRun || s.outer.empty()) return;
  size_t q = 0;
  for (size_t i = 1; i < s.outer.size(); ++i)
    if (s.outer[i].size > s.outer[q].size) q = i;
  if (s.outer[q].size >= 2 * kShortPixelRun) std::swap(s.inner, s.outer[q]);
}

}  // namespace

idx_t TapShape::npix() const { return prod(outer) * inner.size; }

std::string tap_shape(const Contraction& d, TapShape& s) {
  s = TapShape{};
  std::vector<Dim> outs = d.batch;
  outs.insert(outs.end(), d.m.begin(), d.m.end());
  outs = without_units(outs);
  std::vector<Dim> ks = without_units(d.k);
  // The vector axis: unit stride in a. It is either an output axis (depthwise: one
  // output per lane) or a summed axis of `seg` lanes, optionally under an output
  // axis that tiles a contiguously (channel conv: C segments of m).
  bool found = false;
  for (size_t i = 0; i < outs.size() && !found; ++i)
    if (outs[i].sa == 1 && outs[i].so == 1) {
      s.lane = outs[i];
      outs.erase(outs.begin() + long(i));
      found = true;
    }
  for (size_t i = 0; i < ks.size() && !found; ++i)
    if (ks[i].sa == 1) {
      s.lane = ks[i];
      s.seg = s.lane.size;
      ks.erase(ks.begin() + long(i));
      found = true;
      // Short segments only: long ones are better served one output per pixel (the
      // dot kernel) than summed out of a vector tile.
      for (size_t j = 0; j < outs.size() && s.seg < kMaxTileSegment; ++j)
        if (outs[j].sa == s.seg && outs[j].so == 1) {
          s.tile = outs[j];
          outs.erase(outs.begin() + long(j));
          break;
        }
    }
  // No unit-stride axis (c == 1, or a strided view): one lane, scalar per pixel.
  for (const Dim& q : outs)
    if (q.sb != 0) return "operand b varies along an output axis other than the vector axis";
  s.L = s.tile.size * s.lane.size;
  s.ks = ks;
  s.ntaps = prod(ks);
  if (!outs.empty()) {
    const size_t q = innermost(outs);
    s.inner = outs[q];
    outs.erase(outs.begin() + long(q));
  }
  s.outer = outs;
  return {};
}

Reduce reduce_route(const Contraction& d) {
  TapShape s;
  if (!tap_shape(d, s).empty()) return Reduce::kDot;
  if (s.ntaps <= kTapChunk && sat_mul(s.ntaps, s.L) <= kMaxPackedTaps) return Reduce::kTap;
  // One output per pixel, or no vector axis: vectorised along the summed terms.
  if (s.L == 1 || s.seg == s.L) return Reduce::kDot;
  return Reduce::kTapLong;
}

bool tap_bias_on_lanes(const TapShape& s) {
  if (s.inner.sbias != 0) return false;
  for (const Dim& q : s.outer)
    if (q.sbias != 0) return false;
  return true;
}

template <class T>
void tap_bias(const TapShape& s, const T* bias, Buffer<T>& out) {
  out.resize(size_t(s.L / s.seg));
  for (idx_t j = 0; j < s.L / s.seg; ++j) {
    const idx_t r = j * s.seg;
    out[size_t(j)] = bias[r / s.lane.size * s.tile.sbias + r % s.lane.size * s.lane.sbias];
  }
}

namespace {

// A tap dim that steps one pixel along the pixels the kernel walks (a stride-1 window
// along them) is made the last, fastest-varying one: its taps form the kernel's rows.
idx_t order_rows(TapShape& s) {
  if (s.seg != 1 || s.inner.size < 2) return 0;
  for (size_t q = 0; q < s.ks.size(); ++q)
    if (s.ks[q].sa == s.inner.sa && tap_row_slides(s.ks[q].size)) {
      std::rotate(s.ks.begin() + long(q), s.ks.begin() + long(q) + 1, s.ks.end());
      return s.ks.back().size;
    }
  return 0;
}

}  // namespace

template <class T>
std::string make_tap_plan(const Contraction& d, const T* b, TapPlan<T>& p, const T* bias, bool long_run) {
  const std::string err = tap_shape(d, p.s);
  if (!err.empty() || !b) return err;
  if (long_run) prefer_long_run(p.s);
  p.row = order_rows(p.s);
  const TapShape& s = p.s;
  p.act = d.act;
  if (bias) tap_bias(s, bias, p.bias);
  p.taps.assign(size_t(s.ntaps), 0);
  std::vector<idx_t> wtap(size_t(s.ntaps));
  tap_offsets(s, 0, s.ntaps, p.taps.data(), wtap.data());
  p.w.resize(size_t(s.ntaps * s.L));
  pack_weights(s, b, wtap.data(), s.ntaps, 0, s.L, p.w.data());
  return {};
}

namespace {

// Partial sums of a block of n values summed in lockstep (every pixel and lane of a
// block takes the same number of tap chunks): a Cascade of arrays.
template <class T>
class BlockCascade {
 public:
  // levels: levels(pushes) * n values; tmp: n values.
  BlockCascade(T* levels, T* tmp, idx_t n) : lv_(levels), tmp_(tmp), n_(n) {}
  void push(const T* v) {
    std::uint64_t c = count_++;
    int l = 0;
    const T* src = v;
    for (; c & 1; c >>= 1, ++l) {  // carry: tmp = level l + the value so far
      const T* lo = lv_ + l * n_;
      for (idx_t i = 0; i < n_; ++i) tmp_[i] = lo[i] + src[i];
      src = tmp_;
    }
    std::memcpy(lv_ + l * n_, src, size_t(n_) * sizeof(T));
  }
  // The totals into out (levels from the smallest block to the largest).
  void total(T* out) const {
    bool set = false;
    for (int l = 0; l < 64; ++l) {
      if (!(count_ >> l & 1)) continue;
      const T* lv = lv_ + l * n_;
      for (idx_t i = 0; i < n_; ++i) out[i] = set ? lv[i] + out[i] : lv[i];
      set = true;
    }
    if (!set) std::fill(out, out + n_, T(0));
  }
  // Levels a cascade of `pushes` values uses.
  static int levels(idx_t pushes) {
    int l = 1;
    while ((idx_t(1) << l) <= pushes) ++l;
    return l;
  }

 private:
  T* lv_;
  T* tmp_;
  idx_t n_;
  std::uint64_t count_ = 0;
};

// Long sums: items are (pixel block, lane slab) pairs; each runs every tap chunk over
// its pixels and lanes, the chunks' results added pairwise per output.
template <class T>
void tap_long(const TapShape& s, const T* a, const T* b, const T* bias, int act, T* out, const KernelTable& kt,
              int nthreads) {
  Buffer<T> brow;
  if (bias) tap_bias(s, bias, brow);
  const auto epi = KernelOf<T>::mem(kt).epilogue;
  const idx_t slab = s.L <= kLaneSlab ? s.L : std::max<idx_t>(1, kLaneSlab / s.seg) * s.seg;
  const idx_t nslabs = (s.L + slab - 1) / slab, npix = s.npix();
  const idx_t nblocks = (npix + kPixelBlock - 1) / kPixelBlock, chunks = (s.ntaps + kTapChunk - 1) / kTapChunk;
  const idx_t outs = slab / s.seg;  // outputs of a pixel in a full slab
  const int levels = BlockCascade<T>::levels(chunks);
  auto kernel = KernelOf<T>::tapreduce(kt);
  const idx_t items = nblocks * nslabs;
  const idx_t work = sat_mul(sat_mul(kPixelBlock, slab), s.ntaps);
  const int nt = int(std::max<idx_t>(1, std::min<idx_t>(nthreads, items)));
  parallel::Claims claims(items, nt, 1, std::max<idx_t>(1, parallel::kChunkWork / std::max<idx_t>(1, work)));
  parallel::run(nt, [&](int tid, int) {
    // One thread's scratch: tap offsets, packed weights, a chunk's results, the cascade.
    const size_t tap_bytes = size_t(2 * kTapChunk) * sizeof(idx_t);
    const size_t w_bytes = size_t(kTapChunk * slab) * sizeof(T);
    char* sc = scratch::get<char>(scratch::kTaps, tap_bytes + w_bytes + size_t(slab) * sizeof(T));
    idx_t* ta = reinterpret_cast<idx_t*>(sc);
    idx_t* tb = ta + kTapChunk;
    T* w = reinterpret_cast<T*>(sc + tap_bytes);
    T* seg_scratch = w + kTapChunk * slab;
    const idx_t block_vals = kPixelBlock * outs;
    T* res = scratch::get<T>(scratch::kReduce, size_t(block_vals * (levels + 2)));
    T* chunk_out = res;
    T* tmp = res + block_vals;
    T* lv = tmp + block_vals;
    claims.run(tid, [&](idx_t i0, idx_t i1) {
      for (idx_t item = i0; item < i1; ++item) {
        const idx_t blk = item / nslabs, r0 = item % nslabs * slab, lanes = std::min(slab, s.L - r0);
        const idx_t p0 = blk * kPixelBlock, np = std::min(kPixelBlock, npix - p0), vals = lanes / s.seg;
        // The block's pixels by runs of the inner pixel dim (each run: consecutive x, out rows).
        struct Run { idx_t off_a, off_o, i0, len, r; };
        Run runs[kPixelBlock];
        int nruns = 0;
        for_runs(s.outer, s.inner, p0, np, [&](idx_t r, idx_t off_a, idx_t off_o, idx_t ii, idx_t len) {
          runs[nruns++] = {off_a, off_o, ii, len, r};
        });
        BlockCascade<T> sum(lv, tmp, np * vals);
        for (idx_t t0 = 0; t0 < s.ntaps; t0 += kTapChunk) {
          if (parallel::should_stop()) return;
          const idx_t cnt = std::min(kTapChunk, s.ntaps - t0);
          tap_offsets(s, t0, cnt, ta, tb);
          pack_weights(s, b, tb, cnt, r0, lanes, w);
          for (int q = 0; q < nruns; ++q) {
            const Run& u = runs[q];
            kernel({a + u.off_a + u.i0 * s.inner.sa + r0, s.inner.sa, u.len, ta, cnt, w, lanes, s.seg,
                    chunk_out + u.r * vals, vals, seg_scratch});
          }
          sum.push(chunk_out);
        }
        sum.total(chunk_out);
        if (bias || act)
          for (idx_t i = 0; i < np; ++i) epi(chunk_out + i * vals, vals, bias ? brow.data() + r0 / s.seg : nullptr, act);
        for (int q = 0; q < nruns; ++q) {
          const Run& u = runs[q];
          for (idx_t i = 0; i < u.len; ++i)
            std::memcpy(out + u.off_o + (u.i0 + i) * s.inner.so + r0 / s.seg, chunk_out + (u.r + i) * vals,
                        size_t(vals) * sizeof(T));
        }
      }
    });
  });
}

}  // namespace

template <class T>
std::string tapreduce_path(const Contraction& d, const T* a, const T* b, const T* bias, T* out,
                           const KernelTable& kt, int nthreads) {
  if (prod(d.batch) == 0 || prod(d.m) == 0) return {};
  if (prod(d.k) == 0) {
    zero_output(d, out, nthreads);
    return {};
  }
  if (reduce_route(d) == Reduce::kTapLong) {
    TapShape s;
    const std::string err = tap_shape(d, s);
    if (err.empty()) tap_long(s, a, b, bias, d.act, out, kt, nthreads);
    return err;
  }
  TapPlan<T> p;
  const std::string err = make_tap_plan(d, b, p, bias, true);
  if (!err.empty()) return err;
  const TapShape& s = p.s;
  const idx_t pix_work = sat_mul(s.ntaps + 1, s.L);
  const idx_t bytes = sat_mul(s.npix(), sat_mul(pix_work, idx_t(sizeof(T))));
  auto kernel = KernelOf<T>::tapreduce(kt);
  parallel_rows(s.outer, s.inner, parallel::threads_for(bytes, nthreads), pix_work,
                [&](idx_t off_a, idx_t off_o, idx_t i0, idx_t len) {
                  T* scratch = scratch::get<T>(scratch::kTaps, size_t(s.L));
                  kernel(tap_args(p, a + off_a + i0 * s.inner.sa, out + off_o + i0 * s.inner.so, len, scratch));
                });
  return {};
}

template std::string make_tap_plan<float>(const Contraction&, const float*, TapPlan<float>&, const float*, bool);
template std::string make_tap_plan<double>(const Contraction&, const double*, TapPlan<double>&, const double*,
                                           bool);
template std::string tapreduce_path<float>(const Contraction&, const float*, const float*, const float*, float*,
                                           const KernelTable&, int);
template std::string tapreduce_path<double>(const Contraction&, const double*, const double*, const double*,
                                            double*, const KernelTable&, int);

}  // namespace engine
}  // namespace fastconv
