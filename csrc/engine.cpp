// The engine's entry points: classification of labelled operands into index groups,
// and the choice of a path (csrc/engine/paths.h), made once for run() and explain().
#include "engine.h"

#include <cstdlib>

#include "engine/common.h"
#include "engine/paths.h"
#include "engine/tapreduce.h"

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
    // Every element's offset fits, in bytes of the widest dtype, with room to spare.
    idx_t extent = 0;
    for (size_t i = 0; i < op->shape.size(); ++i) {
      if (op->shape[i] < 0) return "negative dimension";
      const idx_t reach = sat_mul(std::abs(op->strides[i]), std::max<idx_t>(op->shape[i] - 1, 0));
      extent = reach > kIdxMax / 16 - extent ? kIdxMax : extent + reach;
    }
    if (extent > kIdxMax / 16) return "an operand's strides reach beyond 2^59 elements";
    for (size_t i = 0; i < op->labels.size(); ++i) {
      const char c = op->labels[i];
      if (op->labels.find(c) != i) return std::string("label '") + c + "' repeated in one operand";
      if (all.find(c) == std::string::npos) all += c;
    }
  }
  idx_t space = 1;  // the iteration space: every label's size, once
  bool empty = false, overflow = false;
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
    empty = empty || dim.size == 0;
    overflow = overflow || __builtin_mul_overflow(space, dim.size, &space);
    if (!in[2]) d.k.push_back(dim), d.k_labels += c;
    else if (in[0] && in[1]) d.batch.push_back(dim), d.batch_labels += c;
    else if (in[0]) d.m.push_back(dim), d.m_labels += c;
    else d.n.push_back(dim), d.n_labels += c;
  }
  if (overflow && !empty) return "the contraction's index space (the product of every label's size) exceeds 2^63";
  return {};
}

namespace {

// d without its N dims.
Contraction without_n(const Contraction& d) {
  Contraction e = d;
  e.n.clear();
  e.n_labels.clear();
  return e;
}

// Where every N dim has size 1 (a conv to one channel) and the sum is vectorised
// along K, each output is one dot product, which the memory-bound paths compute
// with full vectors along K; a GEMM tile would use one lane of each (docs/tuning.md).
bool dot_per_output(const Contraction& d) {
  if (d.n.empty() || prod(d.n) != 1) return false;
  const Contraction e = without_n(d);
  if (reduce_route(e) == Reduce::kDot) return true;
  TapShape s;
  return tap_shape(e, s).empty() && s.seg > 1;
}

// The path a two-operand contraction takes, and d as that path sees it.
enum class Path { kTapReduce, kDot, kGemm };
Path choose(const Contraction& d, Contraction& as) {
  as = dot_per_output(d) ? without_n(d) : d;
  if (!as.n.empty()) return Path::kGemm;
  return reduce_route(as) == Reduce::kDot ? Path::kDot : Path::kTapReduce;
}

}  // namespace

std::pair<std::string, std::string> explain(const Contraction& d, bool has_b) {
  if (!has_b) return {"permute", d.k.empty() ? "" : "one-operand reductions take a second operand of ones"};
  Contraction as;
  switch (choose(d, as)) {
    case Path::kGemm: return {"gemm", ""};
    case Path::kDot: return {"dot", ""};
    case Path::kTapReduce: break;
  }
  return {"tapreduce", ""};
}

template <class T>
std::string run(const Contraction& d, const T* a, const T* b, T* out, const KernelTable& kt, int nthreads) {
  if (!b) return permute_path(d, a, out, kt, nthreads);
  Contraction as;
  switch (choose(d, as)) {
    case Path::kGemm: return gemm_path(as, a, b, out, kt, nthreads);
    case Path::kDot: return dot_path(as, a, b, out, kt, nthreads);
    case Path::kTapReduce: break;
  }
  return tapreduce_path(as, a, b, out, kt, nthreads);
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
template std::string run<float>(const Contraction&, const float*, const float*, float*, const KernelTable&, int);
template std::string run<double>(const Contraction&, const double*, const double*, double*, const KernelTable&,
                                 int);

}  // namespace engine
}  // namespace fastconv
