#include "engine.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

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
                        out + off_o + i0 * inner.so, len, inner.sa, inner.so};
        kernel(args);
      });
      return {};
    }
    dims.push_back(rows);  // innermost loop writes contiguously
  }
  strided_copy(dims, 0, a, out);
  return {};
}

}  // namespace

template <class T>
std::string run(const Contraction& d, const T* a, const T* b, T* out, const KernelTable& kt,
                int nthreads) {
  if (!b) return permute_path(d, a, out, kt, nthreads);
  if (!d.n.empty()) return "the GEMM path (an N index) is not implemented yet";
  return tapreduce_path(d, a, b, out, kt, nthreads);
}

template std::string run<float>(const Contraction&, const float*, const float*, float*,
                                const KernelTable&, int);
template std::string run<double>(const Contraction&, const double*, const double*, double*,
                                 const KernelTable&, int);

}  // namespace engine
}  // namespace fastconv
