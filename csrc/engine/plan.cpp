// The descriptors of plans' contractions, planning and running them: the engine's one
// choice of path (engine/paths/paths.h) for run() and describe() alike.
#include "engine/plan.h"

#include "engine/dims.h"
#include "engine/paths/gemm/plan.h"
#include "engine/paths/paths.h"
#include "engine/paths/tapreduce.h"

namespace fastconv {
namespace engine {

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
Path choose(const Contraction& d, Contraction& as) {
  as = dot_per_output(d) ? without_n(d) : d;
  if (!as.n.empty()) return Path::kGemm;
  return reduce_route(as) == Reduce::kDot ? Path::kDot : Path::kTapReduce;
}

// b for a one-operand sum: a's summed labels, strides 0 (run() points it at a one).
Operand ones_for(const Operand& a, const Operand& out) {
  Operand b;
  for (size_t i = 0; i < a.labels.size(); ++i)
    if (out.labels.find(a.labels[i]) == std::string::npos) {
      b.labels += a.labels[i];
      b.shape.push_back(a.shape[i]);
      b.strides.push_back(0);
    }
  return b;
}

}  // namespace

const char* path_name(Path p) {
  switch (p) {
    case Path::kPermute: return "permute";
    case Path::kTapReduce: return "tapreduce";
    case Path::kDot: return "dot";
    case Path::kGemm: return "gemm";
    case Path::kFused: return "fused";
    case Path::kNone: break;
  }
  return "none";
}

Plan plan(const Operand& a, const Operand* b, const Operand& out, const KernelTable& kt, std::string& err) {
  Plan p;
  if (!b) {
    const Operand ones = ones_for(a, out);
    if (ones.labels.empty()) {
      err = classify(a, nullptr, out, p.d);
      p.path = Path::kPermute;
      return p;
    }
    Plan q = plan(a, &ones, out, kt, err);
    q.ones = true;
    return q;
  }
  // The larger operand first (the GEMM streams it and packs the other; tap-reduce
  // vectorises along it), unless only the other order has a vector path (a dot per
  // output is the fallback of the two).
  Contraction d1, d2, as1, as2;
  err = classify(a, b, out, d1);
  if (!err.empty()) return p;
  classify(*b, &a, out, d2);
  const Path p1 = choose(d1, as1), p2 = choose(d2, as2);
  p.swap = (p1 == Path::kDot) != (p2 == Path::kDot) ? p1 == Path::kDot : elements(*b) > elements(a);
  p.path = p.swap ? p2 : p1;
  p.d = p.swap ? as2 : as1;
  return p;
}

Plan plan_chain(const Operand& a, const Operand& b, const std::string& ld, const Operand& c, const Operand& out,
                const KernelTable& kt, std::string& err) {
  Plan p;
  const Operand od = virtual_operand(ld, {&a, &b});
  for (const idx_t size : od.shape)
    if (size < 0) return err = "a label of D is in no input", p;
  err = classify(a, &b, od, p.d);
  if (err.empty()) err = classify(od, &c, out, p.d2);
  if (!err.empty()) return p;
  if (!p.d.n.empty() || reduce_route(p.d) != Reduce::kTap)
    p.reason = "the chain's first stage is not a short tap-reduce";
  else if (p.d2.n.empty() || !p.d2.batch.empty())
    p.reason = "the chain's second stage is not a GEMM without groups";
  else if (gemm_slabs(p.d2, KernelOf<float>::blocking(kt), idx_t(sizeof(double))).size() != 1)
    p.reason = "the chain's 1x1 weights are too large to pack whole";
  else
    p.path = Path::kFused;
  return p;
}

template <class T>
std::string run(const Plan& p, const T* a, const T* b, const T* c, T* out, const KernelTable& kt, int nthreads) {
  static const T one = T(1);
  if (p.ones) b = &one;
  if (p.swap) std::swap(a, b);
  switch (p.path) {
    case Path::kPermute: return permute_path(p.d, a, out, kt, nthreads);
    case Path::kTapReduce: return tapreduce_path(p.d, a, b, out, kt, nthreads);
    case Path::kDot: return dot_path(p.d, a, b, out, kt, nthreads);
    case Path::kGemm: return gemm_path(p.d, a, b, out, kt, nthreads);
    case Path::kFused: return fused_path(p.d, p.d2, a, b, c, out, kt, nthreads);
    case Path::kNone: break;
  }
  return p.reason;
}

template std::string run<float>(const Plan&, const float*, const float*, const float*, float*, const KernelTable&, int);
template std::string run<double>(const Plan&, const double*, const double*, const double*, double*,
                                 const KernelTable&, int);

}  // namespace engine
}  // namespace fastconv
