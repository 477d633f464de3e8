#include "engine.h"

#include "dispatch.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>
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
    if (!in[2]) d.k.push_back(dim), d.k_labels += c;
    else if (in[0] && in[1]) d.batch.push_back(dim), d.batch_labels += c;
    else if (in[0]) d.m.push_back(dim), d.m_labels += c;
    else d.n.push_back(dim), d.n_labels += c;
  }
  return {};
}

namespace {

// Buffers the kernels load vectors from start on a cache line: a packed B row of
// 16 floats at a malloc'd 16-byte offset straddles two lines, and every other
// AVX2 load of it (every AVX-512 load) is split. resize() leaves the new
// elements uninitialised (every user writes before it reads): zero-filling a
// packed B first was a serial pass over it before the parallel packing
// (patchify_vit16: 2.3 MB a call).
template <class T>
struct LineAllocator {
  using value_type = T;
  LineAllocator() = default;
  template <class U>
  LineAllocator(const LineAllocator<U>&) {}
  T* allocate(size_t n) {
    const size_t bytes = (n * sizeof(T) + kCacheLine - 1) / kCacheLine * kCacheLine;
    if (void* p = std::aligned_alloc(kCacheLine, bytes)) return static_cast<T*>(p);
    throw std::bad_alloc();
  }
  void deallocate(T* p, size_t) { std::free(p); }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    if constexpr (sizeof...(Args) == 0)
      ::new (static_cast<void*>(p)) U;
    else
      ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
  template <class U>
  bool operator==(const LineAllocator<U>&) const { return true; }
  template <class U>
  bool operator!=(const LineAllocator<U>&) const { return false; }
};
template <class T>
using Buffer = std::vector<T, LineAllocator<T>>;

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

// Calls f(r, off_a, off_o, i0, len) over the linear indices [p0, p0 + count) of the
// index space outer x [0, inner.size), by runs of consecutive inner indices: the run
// starts at linear index p0 + r, at inner index i0, and covers len of them;
// off_a/off_o are the outer index's offsets.
template <class F>
void for_runs(const std::vector<Dim>& outer, const Dim& inner, idx_t p0, idx_t count, F&& f) {
  for (idx_t r = 0; r < count;) {
    idx_t o = (p0 + r) / inner.size;
    const idx_t i0 = (p0 + r) % inner.size, len = std::min(inner.size - i0, count - r);
    idx_t off_a = 0, off_o = 0;
    for (size_t q = outer.size(); q-- > 0;) {
      const idx_t i = o % outer[q].size;
      o /= outer[q].size;
      off_a += i * outer[q].sa;
      off_o += i * outer[q].so;
    }
    f(r, off_a, off_o, i0, len);
    r += len;
  }
}

// Runs body(tid, n) on nt threads; with one, directly: an OpenMP region costs
// about a microsecond even where its if clause keeps it on the calling thread,
// a quarter of a small call's native time (a 4x4 conv on one patch: 4.2 -> 3.2 us).
template <class F>
void parallel(int nt, F&& body) {
  if (nt <= 1) return body(0, 1);
#pragma omp parallel num_threads(nt)
  body(omp_get_thread_num(), omp_get_num_threads());
}

// Calls f(off_a, off_o, i0, len) over the index space outer x [0, inner.size),
// split evenly between threads; each call covers len consecutive inner indices.
template <class F>
void parallel_rows(const std::vector<Dim>& outer, const Dim& inner, int nthreads, F&& f) {
  const idx_t total = prod(outer) * inner.size;
  const int nt = int(std::max<idx_t>(1, std::min<idx_t>(nthreads, total)));
  parallel(nt, [&](int tid, int n) {
    const idx_t start = total * tid / n, end = total * (tid + 1) / n;
    for_runs(outer, inner, start, end - start,
             [&](idx_t, idx_t off_a, idx_t off_o, idx_t i0, idx_t len) { f(off_a, off_o, i0, len); });
  });
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

// Zeros every output element of d (a sum over an empty K).
template <class T>
void zero_output(const Contraction& d, T* out) {
  std::vector<Dim> outs = d.batch;
  outs.insert(outs.end(), d.m.begin(), d.m.end());
  outs.insert(outs.end(), d.n.begin(), d.n.end());
  strided_fill(outs, 0, out);
}

// ---- the memory-bound path: no N index ------------------------------------
constexpr idx_t kMaxTileSegment = 16;

// The tap-reduce stage planned once: vector axis, taps, packed weights, and the
// pixel space (outer dims x one inner dim, row-major in that order).
template <class T>
struct TapPlan {
  idx_t L = 1, seg = 1, ntaps = 0;
  std::vector<idx_t> taps;
  Buffer<T> w;  // [ntaps][L]
  std::vector<Dim> outer;
  Dim inner{1, 0, 0, 0};
  idx_t npix() const { return prod(outer) * inner.size; }
};

// Requires N empty, outputs and K non-empty. b == nullptr: the plan's shape only
// (no weights packed), to explain a descriptor.
template <class T>
std::string make_tap_plan(const Contraction& d, const T* b, TapPlan<T>& p) {
  std::vector<Dim> outs = d.batch;
  outs.insert(outs.end(), d.m.begin(), d.m.end());
  outs = without_units(outs);
  std::vector<Dim> ks = without_units(d.k);

  // The vector axis: unit stride in a. It is either an output axis (depthwise:
  // one output per lane) or a summed axis of `seg` lanes, optionally under an
  // output axis that tiles a contiguously (channel conv: C segments of m).
  Dim lane{1, 1, 0, 1}, tile{1, 0, 0, 0};
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
      p.seg = lane.size;
      ks.erase(ks.begin() + i);
      found = true;
      // Short segments only: long ones are better served one output per pixel
      // (the dot kernel) than summed out of a vector tile.
      for (size_t j = 0; j < outs.size() && p.seg < kMaxTileSegment; ++j)
        if (outs[j].sa == p.seg && outs[j].so == 1) {
          tile = outs[j];
          outs.erase(outs.begin() + j);
          break;
        }
    }
  // No unit-stride axis (c == 1, or a strided view): one lane, scalar per pixel.
  for (const Dim& q : outs)
    if (q.sb != 0) return "operand b varies along an output axis other than the vector axis";

  p.L = tile.size * lane.size;
  p.ntaps = prod(ks);
  if (!b) return {};
  p.taps.assign(size_t(p.ntaps), 0);
  std::vector<idx_t> wtap(size_t(p.ntaps), 0);
  for (idx_t t = 0; t < p.ntaps; ++t) {
    idx_t r = t;
    for (size_t q = ks.size(); q-- > 0;) {
      const idx_t i = r % ks[q].size;
      r /= ks[q].size;
      p.taps[t] += i * ks[q].sa;
      wtap[t] += i * ks[q].sb;
    }
  }
  // Pack the weights once: w[t][i1*seg + i0] = b[wtap[t] + i1*tile.sb + i0*lane.sb].
  p.w.resize(size_t(p.ntaps * p.L));
  for (idx_t t = 0; t < p.ntaps; ++t)
    for (idx_t i1 = 0; i1 < tile.size; ++i1)
      for (idx_t i0 = 0; i0 < lane.size; ++i0)
        p.w[t * p.L + i1 * lane.size + i0] = b[wtap[t] + i1 * tile.sb + i0 * lane.sb];

  if (!outs.empty()) {
    const size_t q = innermost(outs);
    p.inner = outs[q];
    outs.erase(outs.begin() + q);
  }
  p.outer = outs;
  return {};
}

template <class T>
TapReduceArgs<T> tap_args(const TapPlan<T>& p, const T* a, T* out, idx_t npix, T* scratch) {
  return {a, p.inner.sa, npix, p.taps.data(), p.ntaps, p.w.data(), p.L, p.seg, out, p.inner.so, scratch};
}

template <class T>
std::string tapreduce_path(const Contraction& d, const T* a, const T* b, T* out,
                           const KernelTable& kt, int nthreads) {
  if (prod(d.batch) == 0 || prod(d.m) == 0) return {};
  if (prod(d.k) == 0) {
    zero_output(d, out);
    return {};
  }
  TapPlan<T> p;
  const std::string err = make_tap_plan(d, b, p);
  if (!err.empty()) return err;
  const idx_t bytes = p.npix() * (p.ntaps + 1) * p.L * idx_t(sizeof(T));
  auto kernel = KernelOf<T>::tapreduce(kt);
  parallel_rows(p.outer, p.inner, threads_for(bytes, nthreads),
                [&](idx_t off_a, idx_t off_o, idx_t i0, idx_t len) {
                  thread_local Buffer<T> scratch;
                  if (scratch.size() < size_t(p.L)) scratch.resize(size_t(p.L));
                  kernel(tap_args(p, a + off_a + i0 * p.inner.sa, out + off_o + i0 * p.inner.so, len,
                                  scratch.data()));
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

// Offsets (in a and out) of the M indices [m0, m0 + count), by odometer; oo may
// be null (A's offsets only).
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
    if (oo) oo[i] = o;
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
  return s;
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

// Whether an output written once (one K block) by nt threads bypasses the caches.
// The tiles write each line once, and a regular store first reads the line in:
// where each thread's share of the output is at least half its L2, streaming it
// is faster (2-core AMD, 512 KiB L2, pointwise 128 -> 256, regular / streamed:
// 1.10x for a 0.38 MiB output, 1.22x for 0.77 MiB, 1.36x for 3 MiB). Smaller
// shares stay in L2 for whatever reads them next, and a repeated layer reuses
// them there (16-core Xeon, 2 MiB L2: stem4x4_c96's 9.6 MiB at 16 threads 1.21x
// faster not streamed; streamed at 1 thread: 1.05x faster).
bool stream_output(idx_t bytes, idx_t nblocks, int nt) {
  return nblocks == 1 && bytes >= idx_t(nt) * (l2_cache_bytes() / 2);
}

// A packed B larger than this is not expected to stay in the last-level cache.
constexpr idx_t kResidentB = idx_t(8) << 20;
// Tiles a kernel call runs where the next-block lookahead issues lines between calls.
constexpr idx_t kAheadRun = 4;
// A rows of at least this many runs per K block, passed by at least this many
// panels, are gathered into contiguous rows first (GemmPlan::rows).
constexpr idx_t kGatherRuns = 8, kGatherPanels = 4;

// The A lines of the next block, prefetched a few at a time while this block's
// tiles compute. A block's rows otherwise come from memory during its first
// panel's pass only, a burst that needs npanels times the bandwidth the whole
// GEMM does on average; spread over every tile of every pass, the same traffic
// overlaps the compute. A cursor over (row, group, K piece, line): nothing is
// built per block but the next block's row offsets.
template <class T>
struct Lookahead {
  const T* a = nullptr;
  const idx_t* rows = nullptr;  // A offsets of the next block's rows
  const idx_t* groups = nullptr;  // A offsets of its groups
  const idx_t *off = nullptr, *len = nullptr;  // its K pieces (unit stride)
  idx_t nrows = 0, ngroups = 0, npieces = 0;
  idx_t per_slot = 0, i = 0, g = 0, sp = 0, e = 0;  // per_slot lines a call of step()

  void step() {
    for (idx_t c = per_slot; c > 0 && i < nrows; --c) {
      // To L2 (locality 2). The builtin stays here: the loop also moves the cursor.
      __builtin_prefetch(a + groups[g] + rows[i] + off[sp] + e, 0, 2);
      if ((e += kLineElems<T>) < len[sp]) continue;
      e = 0;
      if (++sp < npieces) continue;
      sp = 0;
      if (++g < ngroups) continue;
      g = 0, ++i;
    }
  }
};

// One GEMM planned: index offsets, K segments, B packed per group, tile kernel.
// N is cut into panels of at most NR columns, balanced in whole vectors (N = 64
// on a 48-wide tile: two panels of 32, not 48 + 16).
template <class T>
struct GemmPlan {
  idx_t G = 0, M = 0, N = 0, K = 0, MR = 0, NR = 0, W = 0, npanels = 0, nblocks = 0;
  idx_t cs = 0;             // uniform output stride along N (0: irregular)
  bool ncontig = false;     // N unit-stride in B
  bool interleave = false;  // groups interleave with N in the output (the shuffle)
  bool permute_b = false;   // ... with B's columns pre-permuted for the zip kernel
  idx_t Gi = 1;             // groups computed together in one work item
  idx_t scratch = 0;        // elements of tile scratch a thread needs (rows())
  bool stream = false;      // non-temporal output stores: set by the path (stream_output)
  // Lines of A a row reads in the first K block, for the next-block lookahead; 0
  // (none) where K is strided in A, or where a piece is shorter than a line: rows
  // then share lines (stem4x4: runs of 12 floats) and fetch them again (10 %
  // slower at 2 threads).
  idx_t row_lines = 0;
  std::vector<Dim> ms;
  std::vector<idx_t> g_a, g_b, g_o, n_b, n_o;
  std::vector<idx_t> pcol;  // panel p covers columns [pcol[p], pcol[p + 1])
  std::vector<idx_t> zip_lane;  // permute_b: group g's column c of a vector at lane zip_lane[g * W + c]
  KSegments seg;
  Buffer<T>& bp;            // per group and panel, K rows of NR values, zero-padded
  void (*kernel)(const GemmArgs<T>&) = nullptr;
  void (*zip_kernel)(const GemmArgs<T>&) = nullptr;

  // Packed B lives in a buffer of the calling thread that its next GEMM reuses
  // (one plan at a time per thread): a fresh block of MiBs costs a page fault per
  // 4 KiB on first touch (patchify_vit16: ~600 a call, 2.4 MB). One larger than
  // kKeepPackedB is freed with the plan.
  static constexpr size_t kKeepPackedB = size_t(32) << 20;
  static Buffer<T>& calling_thread_buffer() {
    thread_local Buffer<T> b;
    return b;
  }
  ~GemmPlan() {
    if (bp.capacity() * sizeof(T) > kKeepPackedB) Buffer<T>().swap(bp);
  }
  GemmPlan(const GemmPlan&) = delete;
  GemmPlan& operator=(const GemmPlan&) = delete;

  GemmPlan(const Contraction& d, const KernelTable& kt)
      : G(prod(d.batch)), M(prod(d.m)), N(prod(d.n)), K(prod(d.k)), bp(calling_thread_buffer()) {
    const GemmBlocking& bl = KernelOf<T>::blocking(kt);
    kernel = KernelOf<T>::gemm(kt);
    zip_kernel = KernelOf<T>::gemm_zip(kt);
    MR = bl.mr, NR = bl.nr;
    ms = without_units(d.m);
    g_a = offsets(d.batch, &Dim::sa), g_b = offsets(d.batch, &Dim::sb), g_o = offsets(d.batch, &Dim::so);
    n_b = offsets(d.n, &Dim::sb), n_o = offsets(d.n, &Dim::so);
    seg = k_segments(d.k, bl.kc);
    nblocks = idx_t(seg.block_k.size()) - 1;
    const idx_t nvec = (N + bl.w - 1) / bl.w, nv = NR / bl.w;
    npanels = (nvec + nv - 1) / nv;
    for (idx_t p = 0; p <= npanels; ++p) pcol.push_back(std::min(N, nvec * p / npanels * bl.w));
    cs = uniform_stride(n_o.data(), N);
    ncontig = uniform_stride(n_b.data(), N) == 1;
    // The shuffled group conv: groups interleave with N in the output
    // (out[m, n*G + g]). Then the G tiles of the same rows and columns are
    // computed together, all but the last into scratch, and the zip kernel writes
    // each output row whole from the last one's registers and the scratch.
    interleave = G > 1 && nblocks == 1 && cs == G && uniform_stride(g_o.data(), G) == 1;
    Gi = interleave ? G : 1;
    permute_b = interleave && zip_prepermuted(G, bl.w);
    W = bl.w;
    if (permute_b)
      for (idx_t g = 0; g < G; ++g)
        for (idx_t c = 0; c < W; ++c) zip_lane.push_back((c * G + g) % W);
    // The zip kernel's scratch, and the zipped rows of a tile (an output of irregular rows).
    scratch = interleave ? (2 * G - 1) * MR * NR : MR * NR;
    constexpr idx_t LINE = kLineElems<T>;
    if (seg.ks == 1 && *std::min_element(seg.len.begin(), seg.len.end()) >= LINE)
      for (idx_t sp = 0; sp < seg.block_piece[1]; ++sp) row_lines += (seg.len[sp] + LINE - 1) / LINE;
    bp.clear();  // a larger size then reallocates without copying the old panels
    bp.resize(size_t(G * npanels * K * NR));
  }

  // Packs B's rows (g, k), group-major, [G K part / parts, G K (part + 1) / parts)
  // (one thread's share), each into every panel. A row is read front to back and
  // each panel's next NR values land beside its previous row's; packing panel by
  // panel instead reads B down its columns, a line per row at B's row stride
  // (patchify_vit16: 3 KiB, 0.4-0.6 ms a call, 4 % of it).
  void pack_b(const T* b, idx_t part, idx_t parts) {
    constexpr idx_t KB = 8;
    const idx_t r1 = G * K * (part + 1) / parts;
    for (idx_t r0 = G * K * part / parts; r0 < r1;) {
      const idx_t g = r0 / K, k0 = r0 % K, kn = std::min({KB, K - k0, r1 - r0});
      for (idx_t jp = 0; jp < npanels; ++jp) {
        const idx_t nn = pcol[jp + 1] - pcol[jp];
        const idx_t* nb = n_b.data() + pcol[jp];
        T* dst = bp.data() + ((g * npanels + jp) * K + k0) * NR;
        for (idx_t k = k0; k < k0 + kn; ++k, dst += NR) {
          const T* row = b + g_b[g] + seg.k_b[k];
          if (permute_b) {  // column c of each vector at lane (c*G + g) % W (zip_prepermuted)
            std::fill(dst, dst + NR, T(0));
            const idx_t* lane = zip_lane.data() + g * W;
            for (idx_t v = 0; v < nn; v += W)
              for (idx_t c = 0; c < std::min(W, nn - v); ++c) dst[v + lane[c]] = row[nb[v + c]];
            continue;
          }
          if (ncontig)
            std::memcpy(dst, row + nb[0], size_t(nn) * sizeof(T));
          else
            for (idx_t j = 0; j < nn; ++j) dst[j] = row[nb[j]];
          for (idx_t j = nn; j < NR; ++j) dst[j] = T(0);
        }
      }
      r0 += kn;
    }
  }

  // Group g's packed panel jp, from K block q's first row.
  const T* panel(idx_t g, idx_t jp, idx_t q) const { return bp.data() + ((g * npanels + jp) * K + seg.block_k[q]) * NR; }

  // Prefetches the A rows of a tile (row pointers ptrs[g * ntiles * MR + i]) for
  // K pieces [s0, s0 + ns), a cache line at a time (unit-stride K only).
  void prefetch_tile(const T* const* ptrs, idx_t ntiles, idx_t s0, idx_t ns) const {
    if (seg.ks != 1) return;
    for (idx_t g = 0; g < Gi; ++g)
      for (idx_t i = 0; i < MR; ++i)
        prefetch_row(ptrs[(g * ntiles) * MR + i], seg.off.data() + s0, seg.len.data() + s0, ns);
  }

  // A cursor over the lines that the block of rows [m0, m0 + mcur) of groups
  // [g0, g0 + Gi) reads in its first K block, to be issued over `slots` tiles
  // (its rows' A offsets into ra). Empty where row_lines is 0, and where that takes
  // more than kMaxAheadPerTile lines a tile: bursts of prefetches to memory
  // hold the line-fill buffers the tile's own loads need (grouped2x2_g4_128,
  // 64 lines a tile on AVX-512, ran 1.29x slower with them on a Xeon;
  // pointwise 128 -> 256 on AVX2, 3 a tile, 5 % faster on the 2-core AMD).
  static constexpr idx_t kMaxAheadPerTile = 4;
  Lookahead<T> lookahead(const T* a, idx_t slots, idx_t m0, idx_t mcur, idx_t g0, std::vector<idx_t>& ra) const {
    Lookahead<T> la;
    const idx_t lines = mcur * Gi * row_lines;
    if (lines == 0 || lines > slots * kMaxAheadPerTile) return la;
    ra.resize(size_t(mcur));
    row_offsets(ms, m0, mcur, ra.data(), nullptr);
    la.a = a, la.rows = ra.data(), la.groups = g_a.data() + g0, la.off = seg.off.data(), la.len = seg.len.data();
    la.nrows = mcur, la.ngroups = Gi, la.npieces = seg.block_piece[1];
    la.per_slot = (lines + slots - 1) / slots;
    return la;
  }

  // The tiles of rows [0, mcur) (A row i at a + g_a[g] + rows_a[i], output row i at
  // out + g_o[g] + rows_o[i]) by panels [p0, p1), for groups [g0, g0 + Gi).
  // fetch_ahead: A comes from memory; the first panel's pass prefetches the next
  // tile's rows while this one computes (the hardware prefetchers do not follow
  // rows made of short strided segments far enough ahead). Rows of many runs are
  // gathered into contiguous rows per K block instead (kGatherRuns).
  // tiles: scratch (GemmPlan::scratch). Row pointers and row strides are set up once per
  // call, not per tile: with a short K the tile loop is the overhead that shows.
  // ahead: the next block's lines, issued over the tiles of the last K block's
  // passes ((p1 - p0) x ceil(mcur / MR) of them).
  void rows(const T* a, T* out, const idx_t* rows_a, const idx_t* rows_o, idx_t mcur, idx_t p0, idx_t p1,
            idx_t g0, T* tiles, bool fetch_ahead, Lookahead<T>* ahead) const {
    thread_local std::vector<const T*> ptrs;
    thread_local std::vector<idx_t> tile_rs;
    const idx_t ntiles = (mcur + MR - 1) / MR;
    ptrs.resize(size_t(Gi * ntiles * MR));
    tile_rs.resize(size_t(ntiles));
    for (idx_t t = 0; t < ntiles; ++t) {
      const idx_t ir = t * MR, mm = std::min(MR, mcur - ir);
      tile_rs[t] = uniform_stride(rows_o + ir, mm);
      for (idx_t g = 0; g < Gi; ++g)
        for (idx_t i = 0; i < MR; ++i)  // rows past the end repeat the tile's first row
          ptrs[(g * ntiles + t) * MR + i] = a + g_a[g0 + g] + rows_a[ir + (i < mm ? i : 0)];
    }
    // One stride between all output rows (0: none): tiles then run back to back.
    const idx_t orows = cs != 0 ? uniform_stride(rows_o, mcur) : 0;
    thread_local Buffer<T> abuf;
    thread_local std::vector<const T*> bptrs;
    const idx_t zero = 0;
    for (idx_t q = 0; q < nblocks; ++q) {
      const idx_t s0 = seg.block_piece[q], ns = seg.block_piece[q + 1] - s0;
      const idx_t kq = seg.block_k[q + 1] - seg.block_k[q];
      // Rows of many short runs (a patch row: one run per kernel row) are copied
      // into contiguous rows once per block, where enough panels pass over them:
      // the kernel then streams each row as one run (patchify_vit16, 2 threads:
      // 15.7 vs 18.2 ms, min of 8 alternating runs). Rows of few, long runs
      // (down2x2: two of 192) are read in place; copying them cost more.
      const bool gather = seg.ks == 1 && ns >= kGatherRuns && p1 - p0 >= kGatherPanels;
      if (gather) {
        abuf.resize(size_t(Gi * ntiles * MR * kq));
        bptrs.resize(ptrs.size());
        for (idx_t u = 0; u < Gi * ntiles * MR; ++u) {
          T* dst = abuf.data() + u * kq;
          bptrs[u] = dst;
          for (idx_t sp = s0; sp < s0 + ns; ++sp) {
            std::memcpy(dst, ptrs[u] + seg.off[sp], size_t(seg.len[sp]) * sizeof(T));
            dst += seg.len[sp];
          }
        }
      }
      // The tile loop reads the thread-local arrays through plain pointers: an
      // access to a thread_local from a shared library is a __tls_get_addr call.
      const T* const* rowp = (gather ? bptrs : ptrs).data();
      const bool steps = ahead && q + 1 == nblocks;  // the lookahead issues lines in this block
      const T* const* srcp = ptrs.data();
      const idx_t* trs = tile_rs.data();
      for (idx_t jp = p0; jp < p1; ++jp) {
        const idx_t jr = pcol[jp], nn = pcol[jp + 1] - jr;
        GemmArgs<T> args{nullptr, seg.off.data() + s0, seg.len.data() + s0, ns, seg.ks, nullptr,
                         nullptr, NR, 1, 0, nn, false, false};
        if (gather) args.seg_off = &zero, args.seg_len = &kq, args.nseg = 1;
        // Only the first panel's pass reads A from memory (gathered rows are in
        // cache); later ones find it in cache.
        args.prefetch = fetch_ahead && jp == p0 && !gather;
        // Passes over output rows at one stride hand the kernel runs of tiles: the
        // tile loop's overhead is then paid once a run (kAheadRun tiles where the
        // lookahead issues its lines between runs). The kernel prefetches the next
        // tile of its run; the next run's first tile is prefetched here.
        // The shuffle (groups interleaved with N in the output) goes to the zip
        // kernel, which takes every group's tiles in turn and writes each output
        // row whole, the groups interleaved.
        if (interleave)  // b_gs: panel()'s group stride
          args.groups = G, args.a_gs = ntiles * MR, args.b_gs = npanels * K * NR, args.zip_src = tiles;
        auto* run_kernel = interleave ? zip_kernel : kernel;
        if (orows != 0) {
          const idx_t run = steps ? kAheadRun : ntiles;
          args.b = panel(g0, jp, q), args.rs_c = orows, args.cs_c = cs, args.accumulate = q > 0, args.stream = stream;
          for (idx_t t = 0; t < ntiles; t += run) {
            const idx_t nt = std::min(run, ntiles - t);
            if (steps)
              for (idx_t u = 0; u < nt; ++u) ahead->step();
            if (args.prefetch && t + nt < ntiles) prefetch_tile(srcp + (t + nt) * MR, ntiles, s0, ns);
            args.ntiles = nt, args.m = std::min(MR, mcur - (t + nt - 1) * MR);
            args.a = rowp + t * MR, args.c = out + g_o[g0] + rows_o[t * MR] + n_o[jr];
            run_kernel(args);
          }
          continue;
        }
        for (idx_t t = 0; t < ntiles; ++t) {
          const idx_t ir = t * MR, mm = std::min(MR, mcur - ir), rs = trs[t];
          const bool direct = rs != 0 && cs != 0;
          args.m = mm;
          if (args.prefetch && t + 1 < ntiles) prefetch_tile(srcp + (t + 1) * MR, ntiles, s0, ns);
          if (steps) ahead->step();
          if (interleave) {  // rows at no one stride: zipped into scratch, then copied
            T* o = out + g_o[g0] + rows_o[ir] + n_o[jr];
            T* zipped = tiles + (G - 1) * MR * NR;
            args.a = rowp + t * MR, args.b = panel(g0, jp, q), args.accumulate = false;
            args.c = rs != 0 ? o : zipped, args.rs_c = rs != 0 ? rs : G * NR, args.stream = rs != 0 && stream;
            zip_kernel(args);
            if (rs == 0)
              for (idx_t i = 0; i < mm; ++i)
                std::memcpy(o + rows_o[ir + i] - rows_o[ir], zipped + i * G * NR, size_t(G * nn) * sizeof(T));
            continue;
          }
          for (idx_t g = g0; g < g0 + Gi; ++g) {
            T* tile = tiles + (g - g0) * MR * NR;
            args.a = rowp + ((g - g0) * ntiles + t) * MR;
            args.b = panel(g, jp, q);
            if (direct) {
              args.c = out + g_o[g] + rows_o[ir] + n_o[jr], args.rs_c = rs, args.cs_c = cs;
              args.accumulate = q > 0, args.stream = stream;
            } else {
              args.c = tile, args.rs_c = NR, args.cs_c = 1, args.accumulate = false, args.stream = false;
            }
            kernel(args);
            if (direct) continue;
            // Irregular output indices: scattered from the tile by offset.
            T* og = out + g_o[g];
            for (idx_t i = 0; i < mm; ++i)
              for (idx_t j = 0; j < nn; ++j) {
                T& dst = og[rows_o[ir + i] + n_o[jr + j]];
                dst = (q > 0 ? dst : T(0)) + tile[i * NR + j];
              }
          }
        }
      }
    }
  }
};

// The threads' shares of a GEMM. The work is a grid of row units (a tile of MR
// rows in one of `go` groups, groups innermost: they read the same pixels) by N
// panels. The panels are cut into tn column shares (only where the row units
// cannot feed every thread: a column split re-reads A), each served by tm
// threads, which claim the share's row units front to back in chunks from a
// counter (Claims). A static split left a thread idle whenever the other's core
// ran slower: on a shared 2-core VM the first to finish waited 6-35 % of the
// call on average (pointwise 128 -> 256, patchify_vit16). A chunk is a 1/(2 tm)
// share of what is left, so that the threads finish together, at most an M block
// of mc rows of every group and at least a quarter of one: each chunk streams the
// share's packed B once more (patchify_vit16: 2.4 MB), and chunks of one tile at
// the end of a call on many threads would multiply that (neutral at 2 threads).
// Whole tiles of every group while a chunk is at least that. A thread walks a
// chunk in M blocks, every group of a block in turn: the block's pixels stay in
// L2 while the groups and the share's panels pass.
struct Partition {
  idx_t M, MR, mc, go, units, npanels, tm = 1, tn = 1;
  Partition(idx_t M_, idx_t npanels_, idx_t go_, idx_t MR_, idx_t mc_max, int nt, bool split_n)
      : M(M_), MR(MR_), mc(std::min(mc_max, (M_ + MR_ - 1) / MR_ * MR_)), go(go_),
        units(go_ * ((M_ + MR_ - 1) / MR_)), npanels(npanels_) {
    idx_t best = -1;
    for (idx_t n = 1; n <= std::min<idx_t>(nt, npanels); ++n) {
      if (n > 1 && !split_n && units >= nt) break;
      const idx_t m = std::min<idx_t>(units, nt / n);
      const idx_t cost = (units + m - 1) / m * ((npanels + n - 1) / n);
      if (best < 0 || cost < best) best = cost, tm = m, tn = n;
    }
  }
  int threads() const { return int(tm * tn); }
  // Row units claimed so far in each column share; one per call, shared by its threads.
  struct Claims {
    std::vector<std::atomic<idx_t>> next;
    explicit Claims(const Partition& p) : next(size_t(p.tn)) {
      for (auto& c : next) c.store(0, std::memory_order_relaxed);
    }
  };
  // Rows [m0, m0 + mcur) of group g by panels [p0, p1).
  struct Block {
    idx_t g, m0, mcur, p0, p1;
  };
  // Calls f(block, next) for each (M block, group) of the chunks that thread tid
  // claims in its column share, in order; next: the block that follows (nullptr
  // for the last one). The chunk after a block is claimed before f runs on it,
  // so that f can fetch the next block's rows ahead.
  template <class F>
  void for_blocks(int tid, Claims& claims, F&& f) const {
    const idx_t in = tid % tn, p0 = npanels * in / tn, p1 = npanels * (in + 1) / tn;
    const idx_t block_units = std::max<idx_t>(1, mc / MR) * go, least = std::max<idx_t>(1, block_units / 4);
    std::atomic<idx_t>& next = claims.next[size_t(in)];
    auto rows = [&](idx_t t, idx_t count) { return std::min(count * MR, M - t * MR); };
    Block cur{};
    bool pending = false;
    auto visit = [&](const Block& b) {
      if (pending) f(cur, &b);
      cur = b, pending = true;
    };
    for (idx_t r = next.load(std::memory_order_relaxed), r1;; r = next.load(std::memory_order_relaxed)) {
      do {
        if (r >= units) break;
        idx_t chunk = tm == 1 ? block_units : std::clamp<idx_t>((units - r) / (2 * tm), least, block_units);
        if (chunk >= go) chunk -= chunk % go;  // r stays at a tile's first group
        r1 = std::min(units, r + chunk);
      } while (!next.compare_exchange_weak(r, r1, std::memory_order_relaxed));
      if (r >= units) break;
      while (r < r1) {
        const idx_t t = r / go;
        if (r % go != 0 || r1 - r < go) {  // a chunk of only some groups of a tile
          visit({r % go, t * MR, rows(t, 1), p0, p1});
          ++r;
          continue;
        }
        const idx_t count = (r1 - r) / go;  // at most mc / MR
        for (idx_t g = 0; g < go; ++g) visit({g, t * MR, rows(t, count), p0, p1});
        r += count * go;
      }
    }
    if (pending) f(cur, static_cast<const Block*>(nullptr));
  }
};

int gemm_threads(idx_t flops, int nthreads) {
  return int(std::max<idx_t>(1, std::min<idx_t>(nthreads, flops >> 16)));
}

// The parallel region of a GEMM: B packed by all threads, then each thread's
// blocks, block(b, next, rows_a, rows_o, tiles) (Partition::Block, the next one or
// nullptr) with per-thread buffers of the partition's block size; FTZ/DAZ in the
// workers, streamed stores fenced.
template <class T, class Block>
void gemm_region(GemmPlan<T>& p, const T* b, const Partition& part, Block&& block) {
  const int nt = part.threads();
  Partition::Claims claims(part);
  parallel(nt, [&](int tid, int n) {
    DenormalsAreZero daz;
    p.pack_b(b, tid, n);
    // Not on one thread: run directly, a barrier would bind to a caller's team.
    if (n > 1) {
#pragma omp barrier
    }
    thread_local std::vector<idx_t> rows_a, rows_o;
    thread_local Buffer<T> tiles;
    rows_a.resize(size_t(part.mc));
    rows_o.resize(size_t(part.mc));
    tiles.resize(size_t(p.scratch));
    for (int share = tid; share < nt; share += n)  // n < nt only where OpenMP gave fewer threads
      part.for_blocks(share, claims, [&](const Partition::Block& b, const Partition::Block* next) {
        block(b, next, rows_a.data(), rows_o.data(), tiles.data());
      });
#if defined(FASTCONV_HAVE_MXCSR)
    if (p.stream) _mm_sfence();
#endif
  });
}

template <class T>
std::string gemm_path(const Contraction& d, const T* a, const T* b, T* out, const KernelTable& kt,
                      int nthreads) {
  if (prod(d.batch) == 0 || prod(d.m) == 0 || prod(d.n) == 0) return {};
  if (prod(d.k) == 0) {
    zero_output(d, out);
    return {};
  }
  GemmPlan<T> p(d, kt);
  const int nt = gemm_threads(2 * p.G * p.M * p.N * p.K, nthreads);
  p.stream = stream_output(p.G * p.M * p.N * idx_t(sizeof(T)), p.nblocks, nt);
  const GemmBlocking& bl = KernelOf<T>::blocking(kt);
  // M blocks whose A rows fit the L2 budget: the rows of every group where the
  // groups interleave inside a row (a grouped conv: its groups read the same pixels).
  const idx_t gs = std::abs(uniform_stride(p.g_a.data(), p.G));
  idx_t pixel = 0;  // the smallest step between A rows
  for (const Dim& m : p.ms)
    if (m.sa != 0 && (pixel == 0 || std::abs(m.sa) < pixel)) pixel = std::abs(m.sa);
  const idx_t gl = gs != 0 && gs * p.G <= pixel ? p.G : p.Gi;
  // Every M block streams the whole packed B: where B is too big to stay in the
  // last-level cache, blocks 4x larger (A spilling from L2) cost less than that
  // (4096^2 matmul, 2 threads: 102 vs 84 GFLOP/s).
  const idx_t l2 = idx_t(p.bp.size() * sizeof(T)) > kResidentB ? 4 * bl.l2 : bl.l2;
  const idx_t mc_max = std::max(p.MR, l2 / (gl * std::min(p.K, bl.kc) * idx_t(sizeof(T))) / p.MR * p.MR);
  const Partition part(p.M, p.npanels, p.G / p.Gi, p.MR, mc_max, nt, true);
  gemm_region(p, b, part, [&](const Partition::Block& blk, const Partition::Block* next, idx_t* rows_a,
                              idx_t* rows_o, T* tiles) {
    thread_local std::vector<idx_t> next_a;
    Lookahead<T> la;
    if (next)
      la = p.lookahead(a, (blk.p1 - blk.p0) * ((blk.mcur + p.MR - 1) / p.MR), next->m0, next->mcur, next->g * p.Gi,
                       next_a);
    row_offsets(p.ms, blk.m0, blk.mcur, rows_a, rows_o);
    p.rows(a, out, rows_a, rows_o, blk.mcur, blk.p0, blk.p1, blk.g * p.Gi, tiles, true, la.nrows ? &la : nullptr);
  });
  return {};
}

// ---- fused: a tap-reduce stage feeding a GEMM --------------------------------
// out = D x w2 with D = tapreduce(x, w1): D's rows are computed a block at a
// time into a buffer that stays in cache and feed the GEMM tiles at once; the
// intermediate never goes to memory. d1 and d2 describe D as a virtual
// C-contiguous (M..., c) operand (its strides, not its memory).
template <class T>
std::string fused_path(const Contraction& d1, const Contraction& d2, const T* x, const T* w1, const T* w2, T* out,
                       const KernelTable& kt, int nthreads) {
  if (!d1.n.empty() || d2.n.empty() || !d2.batch.empty())
    return "fused chain needs a tap-reduce stage then a GEMM without groups";
  if (prod(d2.m) == 0 || prod(d2.n) == 0) return {};
  if (prod(d1.k) == 0 || prod(d2.k) == 0) {
    zero_output(d2, out);
    return {};
  }
  TapPlan<T> tp;
  std::string err = make_tap_plan(d1, w1, tp);
  if (!err.empty()) return err;
  const idx_t c = prod(d2.k);
  // The stage-1 pixel order must be D's row order: rows of c, row-major. Where it
  // is not (degenerate shapes, e.g. c == 1 vectorised along another axis), the two
  // stages run one after the other through a whole D.
  bool rows_of_d = tp.L == c && tp.seg == 1;
  {
    idx_t stride = c;
    std::vector<Dim> pix = tp.outer;
    pix.push_back(tp.inner);
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
    const KSegments whole = k_segments(d2.k, c);
    rows_of_d = rows_of_d && whole.ks == 1 && whole.off.size() == 1 && whole.off[0] == 0;
  }
  if (!rows_of_d) {
    Buffer<T> dmem(size_t(prod(d2.m) * c));
    err = tapreduce_path(d1, x, w1, dmem.data(), kt, nthreads);
    return err.empty() ? gemm_path(d2, dmem.data(), w2, out, kt, nthreads) : err;
  }
  GemmPlan<T> gp(d2, kt);
  const GemmBlocking& bl = KernelOf<T>::blocking(kt);
  const int nt = gemm_threads(2 * gp.M * gp.N * gp.K, nthreads);
  gp.stream = stream_output(gp.M * gp.N * idx_t(sizeof(T)), gp.nblocks, nt);
  // D blocks of MC rows: small enough to stay in L1/L2 between the two stages.
  const idx_t mc_max = std::max(gp.MR, (bl.l2 / 4) / (c * idx_t(sizeof(T))) / gp.MR * gp.MR);
  // Split N only where M cannot feed every thread: each column share recomputes its D rows.
  const Partition part(gp.M, gp.npanels, 1, gp.MR, mc_max, nt, false);
  const auto tap = KernelOf<T>::tapreduce(kt);
  gemm_region(gp, w2, part, [&](const Partition::Block& blk, const Partition::Block*, idx_t* rows_a,
                                idx_t* rows_o, T* tiles) {
    const idx_t m0 = blk.m0, mcur = blk.mcur;
    thread_local Buffer<T> dbuf;
    dbuf.resize(size_t(part.mc * c));
    // Stage 1: D rows [m0, m0 + mcur) into dbuf, by runs of the inner pixel dim.
    for_runs(tp.outer, tp.inner, m0, mcur, [&](idx_t r, idx_t off, idx_t, idx_t i0, idx_t len) {
      TapReduceArgs<T> args = tap_args<T>(tp, x + off + i0 * tp.inner.sa, dbuf.data() + r * c, len, nullptr);
      args.out_pix = c;
      tap(args);
    });
    // Stage 2: the GEMM tiles over the block, A rows from dbuf.
    row_offsets(gp.ms, m0, mcur, rows_a, rows_o);
    for (idx_t i = 0; i < mcur; ++i) rows_a[i] = i * c;
    gp.rows(dbuf.data(), out, rows_a, rows_o, mcur, blk.p0, blk.p1, 0, tiles, false, nullptr);
  });
  return {};
}

// d without its N dims.
Contraction without_n(const Contraction& d) {
  Contraction e = d;
  e.n.clear();
  e.n_labels.clear();
  return e;
}

// Where every N dim has size 1 (a conv to one channel) and A has a unit-stride K
// axis, each output is one dot product, which the tap-reduce path computes with
// full vectors along K; a GEMM tile would use one lane of each (conv 2x2, 16 -> 1
// channels, 8x112x112: 0.19 vs 0.58 ms, 2 threads). Not where the vector axis
// would be an output axis (a column-major A): that plan packs K x M weights.
bool dot_per_output(const Contraction& d) {
  if (d.n.empty() || prod(d.n) != 1) return false;
  TapPlan<float> p;
  return make_tap_plan<float>(without_n(d), nullptr, p).empty() && p.seg > 1;
}

}  // namespace

std::pair<std::string, std::string> explain(const Contraction& d, bool has_b) {
  if (!has_b) return {"permute", d.k.empty() ? "" : "one-operand reductions are not supported yet"};
  if (dot_per_output(d)) return {"tapreduce", ""};
  if (!d.n.empty()) return {"gemm", ""};
  TapPlan<float> p;
  return {"tapreduce", make_tap_plan<float>(d, nullptr, p)};
}

template <class T>
std::string run(const Contraction& d, const T* a, const T* b, T* out, const KernelTable& kt,
                int nthreads) {
  if (!b) return permute_path(d, a, out, kt, nthreads);
  if (dot_per_output(d)) return tapreduce_path(without_n(d), a, b, out, kt, nthreads);
  if (!d.n.empty()) return gemm_path(d, a, b, out, kt, nthreads);
  return tapreduce_path(d, a, b, out, kt, nthreads);
}

template <class T>
std::string run_fused(const Contraction& d1, const Contraction& d2, const T* x, const T* w1, const T* w2, T* out,
                      const KernelTable& kt, int nthreads) {
  return fused_path(d1, d2, x, w1, w2, out, kt, nthreads);
}

template std::string run_fused<float>(const Contraction&, const Contraction&, const float*, const float*,
                                      const float*, float*, const KernelTable&, int);
template std::string run_fused<double>(const Contraction&, const Contraction&, const double*, const double*,
                                       const double*, double*, const KernelTable&, int);
template std::string run<float>(const Contraction&, const float*, const float*, float*,
                                const KernelTable&, int);
template std::string run<double>(const Contraction&, const double*, const double*, double*,
                                 const KernelTable&, int);

}  // namespace engine
}  // namespace fastconv
