// The dot path (paths.h): out[o] = sum_k a[o, k] * b[o, k] with any strides, for the
// sums tap-reduce does not vectorise well: long ones, and those with no unit-stride
// output axis. An output's terms are read in chunks of 64 vectors: pieces of a
// unit-stride run of K read in place, or terms gathered from strided or short runs
// into a contiguous buffer. The dot kernel sums a chunk (a few terms a lane in four
// accumulators, combined pairwise) and the chunk sums are added pairwise (cascade.h):
// numpy's pairwise accuracy or better, with two chunks of scratch per thread.
#include <algorithm>
#include <vector>

#include "engine/cascade.h"
#include "engine/dims.h"
#include "engine/paths/paths.h"
#include "engine/scratch.h"

namespace fastconv {
namespace engine {
namespace {

// Blocks of chunks computed together in one parallel round (few, long outputs).
constexpr idx_t kRoundBlocks = 1024;

struct DotPlan {
  std::vector<Dim> outs;   // output dims (batch, M)
  std::vector<Dim> outer;  // K dims outside the run, row-major
  Dim run{1, 1, 0, 0};     // the innermost K run: dims merged where contiguous in a and b
  bool swap = false;       // a and b exchanged: the run is unit-stride in b
  bool in_place = false;   // chunks are pieces of runs, read in place
  bool b_const = false;    // b does not vary along K (the ones of a one-operand sum)
  idx_t chunk = 0, terms = 0, nchunks = 0, per_run = 1;
};

DotPlan make_plan(const Contraction& d, idx_t lanes) {
  DotPlan p;
  std::vector<Dim> outs = d.batch;
  outs.insert(outs.end(), d.m.begin(), d.m.end());
  p.outs = without_units(outs);
  std::vector<Dim> ks = without_units(d.k);
  if (ks.empty()) ks.push_back(Dim{1, 1, 0, 0});
  // The run: unit-stride in a, else in b (the operands swap), else the smallest stride.
  auto score = [](const Dim& x) { return x.sa == 1 ? 2 : x.sb == 1 ? 1 : 0; };
  size_t best = 0;
  for (size_t i = 1; i < ks.size(); ++i) {
    const int s = score(ks[i]), sb = score(ks[best]);
    if (s > sb || (s == sb && s == 0 && std::abs(ks[i].sa) < std::abs(ks[best].sa))) best = i;
  }
  if (score(ks[best]) == 1) {
    p.swap = true;
    for (auto* v : {&p.outs, &ks})
      for (Dim& x : *v) std::swap(x.sa, x.sb);
  }
  p.run = ks[best];
  ks.erase(ks.begin() + long(best));
  for (bool merged = true; merged;) {  // dims continuing the run in both operands
    merged = false;
    for (size_t i = 0; i < ks.size() && !merged; ++i)
      if (ks[i].sa == p.run.sa * p.run.size && ks[i].sb == p.run.sb * p.run.size) {
        p.run.size *= ks[i].size;
        ks.erase(ks.begin() + long(i));
        merged = true;
      }
  }
  p.outer = ks;
  p.b_const = p.run.sb == 0 && std::all_of(ks.begin(), ks.end(), [](const Dim& x) { return x.sb == 0; });
  p.chunk = 64 * lanes;
  p.terms = prod(ks) * p.run.size;
  p.in_place = p.run.sa == 1 && p.run.size >= p.chunk / 4;
  if (p.in_place) {
    p.per_run = (p.run.size + p.chunk - 1) / p.chunk;
    p.nchunks = prod(ks) * p.per_run;
  } else {
    p.nchunks = (p.terms + p.chunk - 1) / p.chunk;
  }
  return p;
}

template <class T>
using DotFn = T (*)(const T*, const T*, idx_t, idx_t);

// One output's chunks, in order from chunk j0.
template <class T>
class Chunks {
 public:
  Chunks(const DotPlan& p, const T* a, const T* b, idx_t j0, T* abuf, T* bbuf)
      : p_(p), a_(a), b_(b), abuf_(abuf), bbuf_(bbuf),
        it_(p.outer, p.in_place ? j0 / p.per_run : j0 * p.chunk / p.run.size),
        pos_(p.in_place ? j0 % p.per_run : j0 * p.chunk % p.run.size), left_(p.terms - j0 * p.chunk) {}

  T next(DotFn<T> dot) {
    const Dim& r = p_.run;
    if (p_.in_place) {
      const idx_t r0 = pos_ * p_.chunk, len = std::min(p_.chunk, r.size - r0);
      const T* pa = a_ + it_.a + r0;
      const T* pb = b_ + it_.b + r0 * r.sb;
      idx_t inc = r.sb == 0 ? 0 : 1;
      if (r.sb != 0 && r.sb != 1) {
        for (idx_t i = 0; i < len; ++i) bbuf_[i] = pb[i * r.sb];
        pb = bbuf_;
      }
      if (++pos_ == p_.per_run) pos_ = 0, it_.next();
      return dot(pa, pb, len, inc);
    }
    const idx_t n = std::min(p_.chunk, left_);
    for (idx_t fill = 0; fill < n;) {
      const idx_t len = std::min(r.size - pos_, n - fill);
      const T* sa = a_ + it_.a + pos_ * r.sa;
      for (idx_t i = 0; i < len; ++i) abuf_[fill + i] = sa[i * r.sa];
      if (!p_.b_const) {
        const T* sb = b_ + it_.b + pos_ * r.sb;
        for (idx_t i = 0; i < len; ++i) bbuf_[fill + i] = sb[i * r.sb];
      }
      fill += len, pos_ += len;
      if (pos_ == r.size) pos_ = 0, it_.next();
    }
    left_ -= n;
    return p_.b_const ? dot(abuf_, b_, n, 0) : dot(abuf_, bbuf_, n, 1);
  }

 private:
  const DotPlan& p_;
  const T* a_;
  const T* b_;
  T* abuf_;
  T* bbuf_;
  Odometer it_;
  idx_t pos_, left_;
};

// The sum of kBlock chunks from chunk j0: a perfect pairwise tree.
template <class T>
T block_sum(Chunks<T>& c, DotFn<T> dot) {
  Cascade<T> blk;
  for (idx_t q = 0; q < kBlock; ++q) blk.push(c.next(dot));
  return blk.total();
}

// One output, on this thread.
template <class T>
T output_sum(const DotPlan& p, const T* a, const T* b, T* abuf, T* bbuf, DotFn<T> dot) {
  Chunks<T> c(p, a, b, 0, abuf, bbuf);
  if (p.nchunks == 1) return c.next(dot);
  Cascade<T> blocks, tail;
  idx_t j = 0;
  for (; j + kBlock <= p.nchunks; j += kBlock) {
    if (parallel::should_stop()) return T(0);
    blocks.push(block_sum(c, dot));
  }
  for (; j < p.nchunks; ++j) tail.push(c.next(dot));
  return blocked_total(blocks, tail);
}

// One output, its blocks of chunks on every thread: the same sum as output_sum.
template <class T>
T output_sum_parallel(const DotPlan& p, const T* a, const T* b, DotFn<T> dot, int nt) {
  const idx_t nblocks = p.nchunks / kBlock;
  std::vector<T> sums(size_t(std::min(nblocks, kRoundBlocks)));
  Cascade<T> blocks, tail;
  for (idx_t r0 = 0; r0 < nblocks; r0 += kRoundBlocks) {
    const idx_t cnt = std::min(kRoundBlocks, nblocks - r0);
    parallel::Claims claims(cnt, nt, 1, 4);
    parallel::run(nt, [&](int tid, int) {
      T* buf = scratch::get<T>(scratch::kReduce, size_t(2 * p.chunk));
      claims.run(tid, [&](idx_t i0, idx_t i1) {
        Chunks<T> c(p, a, b, (r0 + i0) * kBlock, buf, buf + p.chunk);
        for (idx_t i = i0; i < i1; ++i) sums[size_t(i)] = block_sum(c, dot);
      });
    });
    if (parallel::should_stop()) return T(0);
    for (idx_t i = 0; i < cnt; ++i) blocks.push(sums[size_t(i)]);
  }
  T* buf = scratch::get<T>(scratch::kReduce, size_t(2 * p.chunk));
  Chunks<T> c(p, a, b, nblocks * kBlock, buf, buf + p.chunk);
  for (idx_t j = nblocks * kBlock; j < p.nchunks; ++j) tail.push(c.next(dot));
  return blocked_total(blocks, tail);
}

}  // namespace

template <class T>
std::string dot_path(const Contraction& d, const T* a, const T* b, T* out, const KernelTable& kt, int nthreads) {
  if (prod(d.batch) == 0 || prod(d.m) == 0) return {};
  if (prod(d.k) == 0) {
    zero_output(d, out, nthreads);
    return {};
  }
  const DotPlan p = make_plan(d, KernelOf<T>::mem(kt).w);
  if (p.swap) std::swap(a, b);
  const DotFn<T> dot = KernelOf<T>::dot(kt);
  const idx_t nout = prod(p.outs);
  const int nt = parallel::threads_for(sat_mul(sat_mul(nout, p.terms), 2 * idx_t(sizeof(T))), nthreads);
  if (nout < 4 * nt && p.nchunks >= 2 * kBlock) {  // few long sums: each split between the threads
    Odometer it(p.outs, 0);
    for (idx_t o = 0; o < nout && !parallel::should_stop(); ++o, it.next())
      out[it.o] = output_sum_parallel(p, a + it.a, b + it.b, dot, nt);
    return {};
  }
  const int team = std::max<int>(1, int(std::min<idx_t>(nt, nout)));
  parallel::Claims claims(nout, team, 1, std::max<idx_t>(1, parallel::kChunkWork / std::max<idx_t>(1, p.terms)));
  parallel::run(team, [&](int tid, int) {
    T* buf = scratch::get<T>(scratch::kReduce, size_t(2 * p.chunk));
    claims.run(tid, [&](idx_t o0, idx_t o1) {
      Odometer it(p.outs, o0);
      for (idx_t o = o0; o < o1; ++o, it.next()) out[it.o] = output_sum(p, a + it.a, b + it.b, buf, buf + p.chunk, dot);
    });
  });
  return {};
}

template std::string dot_path<float>(const Contraction&, const float*, const float*, float*, const KernelTable&, int);
template std::string dot_path<double>(const Contraction&, const double*, const double*, double*,
                                      const KernelTable&, int);

}  // namespace engine
}  // namespace fastconv
