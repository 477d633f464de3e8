#include "engine.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define FASTCONV_HAVE_MXCSR 1
#endif

namespace fastconv {
namespace engine {

std::string classify(const Operand& a, const Operand* b, const Operand& out, Contraction& d) {
  d = Contraction{};
  const Operand* ops[3] = {&a, b, &out};
  std::string all;
  for (const Operand* op : ops) {
    if (!op) continue;
    if (op->labels.size() != op->shape.size() || op->shape.size() != op->strides.size())
      return "labels do not match the operand's rank";
    for (size_t i = 0; i < op->labels.size(); ++i) {
      const char c = op->labels[i];
      if (op->labels.find(c) != i) return std::string("label '") + c + "' repeated in one operand";
      if (all.find(c) == std::string::npos) all += c;
    }
  }
  for (const char c : all) {
    Dim dim{-1, 0, 0, 0};
    idx_t* stride[3] = {&dim.sa, &dim.sb, &dim.so};
    bool in[3] = {false, false, false};
    for (int o = 0; o < 3; ++o) {
      if (!ops[o]) continue;
      const size_t i = ops[o]->labels.find(c);
      if (i == std::string::npos) continue;
      in[o] = true;
      const idx_t s = ops[o]->shape[i];
      if (dim.size >= 0 && dim.size != s) return std::string("label '") + c + "' has inconsistent sizes";
      dim.size = s;
      *stride[o] = ops[o]->strides[i];
    }
    if (in[2] && !in[0] && !in[1]) return std::string("output label '") + c + "' is in no input";
    if (!in[2]) d.k.push_back(dim);
    else if (in[0] && in[1]) d.batch.push_back(dim);
    else if (in[0]) d.m.push_back(dim);
    else d.n.push_back(dim);
  }
  return {};
}

namespace {

idx_t prod(const std::vector<Dim>& v) {
  idx_t p = 1;
  for (const Dim& d : v) p *= d.size;
  return p;
}

std::vector<Dim> without_units(const std::vector<Dim>& v) {
  std::vector<Dim> r;
  for (const Dim& d : v)
    if (d.size != 1) r.push_back(d);
  return r;
}

// Calls f(off_a, off_o, i0, len) over the index space outer x [0, inner.size),
// split evenly between threads; each call covers len consecutive inner indices.
template <class F>
void parallel_rows(const std::vector<Dim>& outer, const Dim& inner, int nthreads, F&& f) {
  const idx_t ninner = inner.size, total = prod(outer) * ninner;
  const int nt = int(std::max<idx_t>(1, std::min<idx_t>(nthreads, total)));
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int tid = omp_get_thread_num(), n = omp_get_num_threads();
    const idx_t start = total * tid / n, end = total * (tid + 1) / n;
    for (idx_t p = start; p < end;) {
      idx_t o = p / ninner;
      const idx_t i0 = p % ninner, len = std::min(ninner - i0, end - p);
      idx_t off_a = 0, off_o = 0;
      for (size_t q = outer.size(); q-- > 0;) {
        const idx_t i = o % outer[q].size;
        o /= outer[q].size;
        off_a += i * outer[q].sa;
        off_o += i * outer[q].so;
      }
      f(off_a, off_o, i0, len);
      p += len;
    }
  }
}

// Threads worth using for a pass that moves `bytes`: about 64 KiB per thread at least.
int threads_for(idx_t bytes, int nthreads) {
  return int(std::max<idx_t>(1, std::min<idx_t>(nthreads, bytes / (64 << 10))));
}

// Index of the dim that should drive the innermost loop of the pixel space.
size_t innermost(const std::vector<Dim>& v) {
  size_t best = 0;
  for (size_t i = 1; i < v.size(); ++i)
    if (std::abs(v[i].so) < std::abs(v[best].so)) best = i;
  return best;
}

template <class T>
void strided_copy(const std::vector<Dim>& dims, size_t q, const T* a, T* o) {
  if (q == dims.size()) { *o = *a; return; }
  const Dim& d = dims[q];
  for (idx_t i = 0; i < d.size; ++i) strided_copy(dims, q + 1, a + i * d.sa, o + i * d.so);
}

template <class T>
void strided_fill(const std::vector<Dim>& dims, size_t q, T* o) {
  if (q == dims.size()) { *o = T(0); return; }
  for (idx_t i = 0; i < dims[q].size; ++i) strided_fill(dims, q + 1, o + i * dims[q].so);
}

// ---- the memory-bound path: no N index ------------------------------------
constexpr idx_t kMaxTileSegment = 16;

template <class T>
std::string tapreduce_path(const Contraction& d, const T* a, const T* b, T* out,
                           const KernelTable& kt, int nthreads) {
  std::vector<Dim> outs = d.batch;
  outs.insert(outs.end(), d.m.begin(), d.m.end());
  if (prod(outs) == 0) return {};
  if (prod(d.k) == 0) {
    strided_fill(outs, 0, out);
    return {};
  }
  outs = without_units(outs);
  std::vector<Dim> ks = without_units(d.k);

  // The vector axis: unit stride in a. It is either an output axis (depthwise:
  // one output per lane) or a summed axis of `seg` lanes, optionally under an
  // output axis that tiles a contiguously (channel conv: C segments of m).
  Dim lane{1, 1, 0, 1}, tile{1, 0, 0, 0};
  idx_t seg = 1;
  bool found = false;
  for (size_t i = 0; i < outs.size() && !found; ++i)
    if (outs[i].sa == 1 && outs[i].so == 1) {
      lane = outs[i];
      outs.erase(outs.begin() + i);
      found = true;
    }
  for (size_t i = 0; i < ks.size() && !found; ++i)
    if (ks[i].sa == 1) {
      lane = ks[i];
      seg = lane.size;
      ks.erase(ks.begin() + i);
      found = true;
      // Short segments only: long ones are better served one output per pixel
      // (the dot kernel) than summed out of a vector tile.
      for (size_t j = 0; j < outs.size() && seg < kMaxTileSegment; ++j)
        if (outs[j].sa == seg && outs[j].so == 1) {
          tile = outs[j];
          outs.erase(outs.begin() + j);
          break;
        }
    }
  // No unit-stride axis (c == 1, or a strided view): one lane, scalar per pixel.
  for (const Dim& p : outs)
    if (p.sb != 0) return "operand b varies along an output axis other than the vector axis";

  const idx_t L = tile.size * lane.size;
  const idx_t ntaps = prod(ks);
  std::vector<idx_t> taps(size_t(ntaps), 0), wtap(size_t(ntaps), 0);
  for (idx_t t = 0; t < ntaps; ++t) {
    idx_t r = t;
    for (size_t q = ks.size(); q-- > 0;) {
      const idx_t i = r % ks[q].size;
      r /= ks[q].size;
      taps[t] += i * ks[q].sa;
      wtap[t] += i * ks[q].sb;
    }
  }
  // Pack the weights once: w[t][i1*seg + i0] = b[wtap[t] + i1*tile.sb + i0*lane.sb].
  std::vector<T> w(size_t(ntaps * L));
  for (idx_t t = 0; t < ntaps; ++t)
    for (idx_t i1 = 0; i1 < tile.size; ++i1)
      for (idx_t i0 = 0; i0 < lane.size; ++i0)
        w[t * L + i1 * lane.size + i0] = b[wtap[t] + i1 * tile.sb + i0 * lane.sb];

  Dim inner{1, 0, 0, 0};
  if (!outs.empty()) {
    const size_t q = innermost(outs);
    inner = outs[q];
    outs.erase(outs.begin() + q);
  }
  const idx_t npix = prod(outs) * inner.size;
  const idx_t bytes = npix * (ntaps + 1) * L * idx_t(sizeof(T));
  auto kernel = KernelOf<T>::tapreduce(kt);
  parallel_rows(outs, inner, threads_for(bytes, nthreads),
                [&](idx_t off_a, idx_t off_o, idx_t i0, idx_t len) {
                  thread_local std::vector<T> scratch;
                  if (seg > 1 && scratch.size() < size_t(L)) scratch.resize(size_t(L));
                  TapReduceArgs<T> args{a + off_a + i0 * inner.sa, inner.sa, len, taps.data(), ntaps,
                                        w.data(), L, seg, out + off_o + i0 * inner.so, inner.so,
                                        scratch.data()};
                  kernel(args);
                });
  return {};
}

// ---- the permutation path: one operand, no summed index ---------------------
template <class T>
std::string permute_path(const Contraction& d, const T* a, T* out, const KernelTable& kt,
                         int nthreads) {
  if (!d.k.empty()) return "one-operand reductions are not supported yet";
  if (prod(d.m) == 0) return {};
  std::vector<Dim> dims = without_units(d.m);
  auto take = [&](auto pred) {
    for (size_t i = 0; i < dims.size(); ++i)
      if (pred(dims[i])) {
        Dim r = dims[i];
        dims.erase(dims.begin() + i);
        return r;
      }
    return Dim{0, 0, 0, 0};
  };
  const idx_t bytes = 2 * prod(dims) * idx_t(sizeof(T));
  const int nt = threads_for(bytes, nthreads);
  const Dim run = take([](const Dim& x) { return x.so == 1 && x.sa == 1; });
  if (run.size) {  // contiguous runs
    const Dim inner = dims.empty() ? Dim{1, 0, 0, 0} : take([](const Dim&) { return true; });
    parallel_rows(dims, inner, nt, [&](idx_t off_a, idx_t off_o, idx_t i0, idx_t len) {
      for (idx_t i = i0; i < i0 + len; ++i)
        std::memcpy(out + off_o + i * inner.so, a + off_a + i * inner.sa, size_t(run.size) * sizeof(T));
    });
    return {};
  }
  const Dim rows = take([](const Dim& x) { return x.so == 1; });
  if (rows.size) {
    const Dim cols = take([&](const Dim& x) { return x.sa == 1 && x.so == rows.size; });
    if (cols.size) {  // interleave R = rows.size rows of cols.size elements
      Dim inner{1, 0, 0, 0};
      if (!dims.empty()) {
        const size_t q = innermost(dims);
        inner = dims[q];
        dims.erase(dims.begin() + q);
      }
      auto kernel = KernelOf<T>::zip(kt);
      parallel_rows(dims, inner, nt, [&](idx_t off_a, idx_t off_o, idx_t i0, idx_t len) {
        ZipArgs<T> args{a + off_a + i0 * inner.sa, rows.sa, rows.size, cols.size,
                        out + off_o + i0 * inner.so, len, inner.sa, inner.so, false};
        kernel(args);
      });
      return {};
    }
    dims.push_back(rows);  // innermost loop writes contiguously
  }
  strided_copy(dims, 0, a, out);
  return {};
}


// ---- the GEMM path: batch, M, N and K ---------------------------------------

// Flush denormals to zero (and treat denormal inputs as zero) in this thread
// while in scope: denormal operands would slow the FMAs by orders of magnitude.
class DenormalsAreZero {
 public:
#if defined(FASTCONV_HAVE_MXCSR)
  DenormalsAreZero() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040u); }
  ~DenormalsAreZero() { _mm_setcsr(saved_); }

 private:
  unsigned saved_;
#endif
};

// Offsets of every index of dims (row-major in the order given), for one stride.
std::vector<idx_t> offsets(const std::vector<Dim>& dims, idx_t Dim::*stride) {
  std::vector<idx_t> off{0};
  for (const Dim& d : dims) {
    std::vector<idx_t> next;
    next.reserve(off.size() * size_t(d.size));
    for (const idx_t o : off)
      for (idx_t i = 0; i < d.size; ++i) next.push_back(o + i * (d.*stride));
    off.swap(next);
  }
  return off;
}

// Offsets (in a and out) of the M indices [m0, m0 + count), by odometer.
void row_offsets(const std::vector<Dim>& dims, idx_t m0, idx_t count, idx_t* oa, idx_t* oo) {
  std::vector<idx_t> idx(dims.size());
  idx_t r = m0, a = 0, o = 0;
  for (size_t q = dims.size(); q-- > 0;) {
    idx[q] = r % dims[q].size;
    r /= dims[q].size;
    a += idx[q] * dims[q].sa;
    o += idx[q] * dims[q].so;
  }
  for (idx_t i = 0; i < count; ++i) {
    oa[i] = a;
    oo[i] = o;
    for (size_t q = dims.size(); q-- > 0;) {  // next index
      a += dims[q].sa, o += dims[q].so;
      if (++idx[q] < dims[q].size) break;
      a -= dims[q].size * dims[q].sa, o -= dims[q].size * dims[q].so;
      idx[q] = 0;
    }
  }
}

// Stride s such that off[i] == off[0] + i*s for every i, or 0 if there is none.
idx_t uniform_stride(const idx_t* off, idx_t n) {
  if (n < 2) return 1;
  const idx_t s = off[1] - off[0];
  for (idx_t i = 2; i < n; ++i)
    if (off[i] - off[i - 1] != s) return 0;
  return s == 0 ? 0 : s;
}

// K as the kernel reads it from A: segments of `len` indices at stride ks in a
// (contiguous K dims merged), in the same order as B is packed; split into
// pieces of at most KC, grouped into K blocks of at most KC indices.
struct KSegments {
  idx_t ks = 1;
  std::vector<idx_t> k_b;               // B offset of every K index, in packing order
  std::vector<idx_t> off, len;          // pieces
  std::vector<idx_t> block_piece{0};    // block q holds pieces [block_piece[q], block_piece[q+1])
  std::vector<idx_t> block_k{0};        // and K indices [block_k[q], block_k[q+1])
};

KSegments k_segments(const std::vector<Dim>& k, idx_t kc) {
  std::vector<Dim> dims = without_units(k);
  std::stable_sort(dims.begin(), dims.end(),
                   [](const Dim& x, const Dim& y) { return std::abs(x.sa) > std::abs(y.sa); });
  KSegments r;
  r.k_b = offsets(dims, &Dim::sb);
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
  idx_t used = 0;
  for (const idx_t base : offsets(dims, &Dim::sa))
    for (idx_t t = 0; t < inner.size;) {
      if (used == kc) {
        r.block_piece.push_back(idx_t(r.off.size()));
        r.block_k.push_back(r.block_k.back() + used);
        used = 0;
      }
      const idx_t len = std::min(inner.size - t, kc - used);
      r.off.push_back(base + t * inner.sa);
      r.len.push_back(len);
      t += len, used += len;
    }
  r.block_piece.push_back(idx_t(r.off.size()));
  r.block_k.push_back(r.block_k.back() + used);
  return r;
}

// Outputs at least this large are written with non-temporal stores.
constexpr idx_t kStreamBytes = idx_t(4) << 20;

template <class T>
std::string gemm_path(const Contraction& d, const T* a, const T* b, T* out, const KernelTable& kt,
                      int nthreads) {
  const idx_t G = prod(d.batch), M = prod(d.m), N = prod(d.n), K = prod(d.k);
  if (G == 0 || M == 0 || N == 0) return {};
  if (K == 0) {
    std::vector<Dim> outs = d.batch;
    outs.insert(outs.end(), d.m.begin(), d.m.end());
    outs.insert(outs.end(), d.n.begin(), d.n.end());
    strided_fill(outs, 0, out);
    return {};
  }
  const GemmBlocking& bl = KernelOf<T>::blocking(kt);
  const auto kernel = KernelOf<T>::gemm(kt);
  const idx_t MR = bl.mr, NR = bl.nr;
  const std::vector<Dim> ms = without_units(d.m);
  const std::vector<idx_t> g_a = offsets(d.batch, &Dim::sa), g_b = offsets(d.batch, &Dim::sb),
                           g_o = offsets(d.batch, &Dim::so), n_b = offsets(d.n, &Dim::sb),
                           n_o = offsets(d.n, &Dim::so);
  const KSegments seg = k_segments(d.k, bl.kc);
  const idx_t nblocks = idx_t(seg.block_k.size()) - 1;
  const idx_t cs = uniform_stride(n_o.data(), N);
  const bool ncontig = uniform_stride(n_b.data(), N) == 1;

  // The shuffled group conv: groups interleave with N in the output
  // (out[m, n*G + g]). Then the G tiles of the same rows and columns are
  // computed together and each output row is written contiguously by the zip kernel.
  const bool interleave = G > 1 && nblocks == 1 && cs == G && uniform_stride(g_o.data(), G) == 1;
  const idx_t Gi = interleave ? G : 1;  // groups handled inside one work item

  // Partition: (M blocks) x (N chunks) x G work items, groups innermost (they read
  // the same pixels), a multiple of the thread count where possible; N is split
  // only when M alone cannot feed every thread. An M block's rows of A (MC x KC)
  // stay in L2 while every N panel passes.
  const idx_t Go = G / Gi;
  const int nt = int(std::max<idx_t>(1, std::min<idx_t>(nthreads, (2 * G * M * N * K) >> 16)));
  const idx_t mc_max = std::max(MR, bl.l2 / (Gi * std::min(K, bl.kc) * idx_t(sizeof(T))) / MR * MR);
  idx_t mblocks = (M + mc_max - 1) / mc_max, nchunks = 1;
  const idx_t npanels = (N + NR - 1) / NR;
  if (Go * mblocks < nt) nchunks = std::min(npanels, (nt + Go * mblocks - 1) / (Go * mblocks));
  if (Go * mblocks * nchunks > nt) {  // round the item count up to a multiple of nt
    const idx_t items = (Go * mblocks * nchunks + nt - 1) / nt * nt;
    mblocks = std::min((M + MR - 1) / MR, (items + Go * nchunks - 1) / (Go * nchunks));
  }
  const idx_t mc = ((M + mblocks - 1) / mblocks + MR - 1) / MR * MR;
  mblocks = (M + mc - 1) / mc;
  const idx_t nc = ((npanels + nchunks - 1) / nchunks) * NR;
  nchunks = (N + nc - 1) / nc;
  const idx_t items = Go * mblocks * nchunks;
  // A large output written once (one K block) bypasses the caches.
  const bool stream = nblocks == 1 && G * M * N * idx_t(sizeof(T)) >= kStreamBytes;
  const auto zip = KernelOf<T>::zip(kt);

  // B packed once per call: per group, NR-column panels of K rows, zero-padded.
  std::vector<T> bp(size_t(G * npanels * K * NR));
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsAreZero daz;
    const int tid = omp_get_thread_num(), n = omp_get_num_threads();
    for (idx_t q = tid; q < G * npanels; q += n) {
      const idx_t g = q / npanels, jp = q % npanels;
      T* dst = bp.data() + q * K * NR;
      const T* src = b + g_b[g];
      const idx_t nn = std::min(NR, N - jp * NR);
      const idx_t* nb = n_b.data() + jp * NR;
      for (idx_t k = 0; k < K; ++k, dst += NR) {
        const T* row = src + seg.k_b[k];
        if (ncontig)
          std::memcpy(dst, row + nb[0], size_t(nn) * sizeof(T));
        else
          for (idx_t j = 0; j < nn; ++j) dst[j] = row[nb[j]];
        for (idx_t j = nn; j < NR; ++j) dst[j] = T(0);
      }
    }
#pragma omp barrier
    thread_local std::vector<idx_t> rows_a, rows_o;
    thread_local std::vector<T> tiles;
    rows_a.resize(size_t(mc));
    rows_o.resize(size_t(mc));
    tiles.resize(size_t(Gi * MR * NR));
    const T* rowp[64];
    for (idx_t it = items * tid / n; it < items * (tid + 1) / n; ++it) {
      const idx_t g0 = it % Go * Gi, nch = it / Go % nchunks, mb = it / (Go * nchunks);
      const idx_t m0 = mb * mc, mcur = std::min(mc, M - m0);
      const idx_t n0 = nch * nc, ncur = std::min(nc, N - n0);
      row_offsets(ms, m0, mcur, rows_a.data(), rows_o.data());
      for (idx_t q = 0; q < nblocks; ++q) {
        const idx_t p0 = seg.block_piece[q], np = seg.block_piece[q + 1] - p0;
        for (idx_t jr = n0; jr < n0 + ncur; jr += NR) {
          const idx_t nn = std::min(NR, n0 + ncur - jr);
          for (idx_t ir = 0; ir < mcur; ir += MR) {
            const idx_t mm = std::min(MR, mcur - ir);
            const idx_t rs = uniform_stride(rows_o.data() + ir, mm);
            const bool direct = !interleave && rs != 0 && cs != 0;
            for (idx_t g = g0; g < g0 + Gi; ++g) {
              const T* ag = a + g_a[g];
              for (idx_t i = 0; i < MR; ++i) rowp[i] = ag + rows_a[ir + (i < mm ? i : 0)];
              const T* bpanel = bp.data() + ((g * npanels + jr / NR) * K + seg.block_k[q]) * NR;
              T* tile = tiles.data() + (g - g0) * MR * NR;
              GemmArgs<T> args{rowp, seg.off.data() + p0, seg.len.data() + p0, np, seg.ks, bpanel,
                               tile, NR, 1, mm, nn, false, false};
              if (direct) {
                args.c = out + g_o[g] + rows_o[ir] + n_o[jr], args.rs_c = rs, args.cs_c = cs;
                args.accumulate = q > 0, args.stream = stream;
              }
              kernel(args);
              if (direct || interleave) continue;
              // Irregular output indices: scattered from the tile by offset.
              T* og = out + g_o[g];
              for (idx_t i = 0; i < mm; ++i)
                for (idx_t j = 0; j < nn; ++j) {
                  T& dst = og[rows_o[ir + i] + n_o[jr + j]];
                  dst = (q > 0 ? dst : T(0)) + tile[i * NR + j];
                }
            }
            if (interleave) {  // row i: out[row_i + n*G + g] = tiles[g][i][n]
              T* o = out + g_o[g0] + rows_o[ir] + n_o[jr];
              if (rs != 0) {
                zip(ZipArgs<T>{tiles.data(), MR * NR, G, nn, o, mm, NR, rs, stream});
              } else {
                for (idx_t i = 0; i < mm; ++i)
                  zip(ZipArgs<T>{tiles.data() + i * NR, MR * NR, G, nn, o + rows_o[ir + i] - rows_o[ir], 1, 0, 0,
                                 stream});
              }
            }
          }
        }
      }
    }
#if defined(FASTCONV_HAVE_MXCSR)
    if (stream) _mm_sfence();
#endif
  }
  return {};
}

}  // namespace

template <class T>
std::string run(const Contraction& d, const T* a, const T* b, T* out, const KernelTable& kt,
                int nthreads) {
  if (!b) return permute_path(d, a, out, kt, nthreads);
  if (!d.n.empty()) return gemm_path(d, a, b, out, kt, nthreads);
  return tapreduce_path(d, a, b, out, kt, nthreads);
}

template std::string run<float>(const Contraction&, const float*, const float*, float*,
                                const KernelTable&, int);
template std::string run<double>(const Contraction&, const double*, const double*, double*,
                                 const KernelTable&, int);

}  // namespace engine
}  // namespace fastconv
