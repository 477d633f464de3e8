// Helpers every engine path uses: index groups (Dim lists), strided loops over them on
// the threads, size arithmetic that cannot overflow.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <limits>
#include <vector>

#include "engine/contraction.h"
#include "engine/parallel.h"

namespace fastconv {
namespace engine {

constexpr idx_t kIdxMax = std::numeric_limits<idx_t>::max();

// a * b, or kIdxMax where that overflows (a, b >= 0): for cost estimates.
inline idx_t sat_mul(idx_t a, idx_t b) {
  idx_t r;
  return __builtin_mul_overflow(a, b, &r) ? kIdxMax : r;
}

inline idx_t prod(const std::vector<Dim>& v) {
  idx_t p = 1;
  for (const Dim& d : v) p *= d.size;  // classify() checked that every product fits
  return p;
}

inline std::vector<Dim> without_units(const std::vector<Dim>& v) {
  std::vector<Dim> r;
  for (const Dim& d : v)
    if (d.size != 1) r.push_back(d);
  return r;
}

// Index of the dim that should drive the innermost loop (the smallest output stride).
inline size_t innermost(const std::vector<Dim>& v) {
  size_t best = 0;
  for (size_t i = 1; i < v.size(); ++i)
    if (std::abs(v[i].so) < std::abs(v[best].so)) best = i;
  return best;
}

// Offsets of every index of dims (row-major in the order given), for one stride.
inline std::vector<idx_t> offsets(const std::vector<Dim>& dims, idx_t Dim::*stride) {
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

// An index of dims (row-major) and its offsets in a, b and out, stepped one at a time.
class Odometer {
 public:
  static constexpr size_t kMaxDims = 64;  // more than any operand has (numpy: 64 axes)
  Odometer(const std::vector<Dim>& dims, idx_t start) : dims_(dims) {
    for (size_t q = dims_.size(); q-- > 0;) {
      idx_[q] = start % dims_[q].size;
      start /= dims_[q].size;
      a += idx_[q] * dims_[q].sa, b += idx_[q] * dims_[q].sb, o += idx_[q] * dims_[q].so;
    }
  }
  void next() {
    for (size_t q = dims_.size(); q-- > 0;) {
      const Dim& d = dims_[q];
      a += d.sa, b += d.sb, o += d.so;
      if (++idx_[q] < d.size) return;
      a -= d.size * d.sa, b -= d.size * d.sb, o -= d.size * d.so;
      idx_[q] = 0;
    }
  }
  idx_t a = 0, b = 0, o = 0;

 private:
  const std::vector<Dim>& dims_;
  idx_t idx_[kMaxDims] = {};
};

// Offsets (in a and out) of the indices [m0, m0 + count) of dims; oo may be null.
inline void row_offsets(const std::vector<Dim>& dims, idx_t m0, idx_t count, idx_t* oa, idx_t* oo) {
  Odometer it(dims, m0);
  for (idx_t i = 0; i < count; ++i, it.next()) {
    oa[i] = it.a;
    if (oo) oo[i] = it.o;
  }
}

// Stride s such that off[i] == off[0] + i*s for every i, or 0 if there is none.
inline idx_t uniform_stride(const idx_t* off, idx_t n) {
  if (n < 2) return 1;
  const idx_t s = off[1] - off[0];
  for (idx_t i = 2; i < n; ++i)
    if (off[i] - off[i - 1] != s) return 0;
  return s;
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

// Calls f(off_a, off_o, i0, len) over the index space outer x [0, inner.size) on
// nthreads threads, which claim chunks of it; each call covers len consecutive inner
// indices. item_work: elements an index touches (bounds the chunks).
template <class F>
void parallel_rows(const std::vector<Dim>& outer, const Dim& inner, int nthreads, idx_t item_work, F&& f) {
  const idx_t total = prod(outer) * inner.size;
  const int nt = int(std::max<idx_t>(1, std::min<idx_t>(nthreads, total)));
  const idx_t most = std::max<idx_t>(1, parallel::kChunkWork / std::max<idx_t>(1, item_work));
  parallel::Claims claims(total, nt, std::min(most, total / (16 * nt)), most);
  parallel::run(nt, [&](int tid, int) {
    claims.run(tid, [&](idx_t begin, idx_t end) {
      for_runs(outer, inner, begin, end - begin,
               [&](idx_t, idx_t off_a, idx_t off_o, idx_t i0, idx_t len) { f(off_a, off_o, i0, len); });
    });
  });
}

// Every output dim of d: batch, M, then N.
inline std::vector<Dim> output_dims(const Contraction& d) {
  std::vector<Dim> outs = d.batch;
  outs.insert(outs.end(), d.m.begin(), d.m.end());
  outs.insert(outs.end(), d.n.begin(), d.n.end());
  return outs;
}

// out[i] = a[i] over dims (a null: zeros), the innermost loop along the smallest
// output stride, on nthreads threads.
template <class T>
void strided_copy(std::vector<Dim> dims, const T* a, T* out, int nthreads) {
  dims = without_units(dims);
  Dim inner{1, 0, 0, 0};
  if (!dims.empty()) {
    const size_t q = innermost(dims);
    inner = dims[q];
    dims.erase(dims.begin() + long(q));
  }
  const idx_t bytes = sat_mul(2 * prod(dims), sat_mul(inner.size, idx_t(sizeof(T))));
  parallel_rows(dims, inner, parallel::threads_for(bytes, nthreads), 1, [&](idx_t off_a, idx_t off_o, idx_t i0, idx_t len) {
    T* o = out + off_o + i0 * inner.so;
    if (!a) {
      for (idx_t i = 0; i < len; ++i) o[i * inner.so] = T(0);
      return;
    }
    const T* s = a + off_a + i0 * inner.sa;
    for (idx_t i = 0; i < len; ++i) o[i * inner.so] = s[i * inner.sa];
  });
}

// Zeros every output element of d (a sum over an empty K).
template <class T>
void zero_output(const Contraction& d, T* out, int nthreads) {
  strided_copy<T>(output_dims(d), nullptr, out, nthreads);
}

}  // namespace engine
}  // namespace fastconv
