// The descriptors of plans' contractions, planning and running them: the engine's one
// choice of path (engine/paths/paths.h) for run() and describe() alike.
#include "engine/plan.h"

#include <algorithm>

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

// Whether the GEMM path reads A's K in unit-stride runs (the smallest K stride of A is
// 1), its fast kernel path: with a strided K each of a tile's K steps reads a line of
// its own, for a few values of it (a conv's weights as A: K strided by the channels).
bool a_k_unit(const Contraction& d) {
  idx_t least = 0;
  for (const Dim& k : d.k)
    if (k.size > 1 && (least == 0 || std::abs(k.sa) < std::abs(least))) least = k.sa;
  return least == 0 || least == 1;
}

// The fewest rows (M) for which the order whose A reads K unit-stride is taken
// whatever its B packs: fewer rows than this amortise the pack of the larger operand
// no more (docs/tuning.md).
constexpr idx_t kUnitKMinRows = 32;

// Whether path applies d's epilogue as it stores: where the bias varies only along
// axes a tile stores together (N and the groups for the GEMM, the lanes for tap-reduce).
bool epilogue_fused(Path path, const Contraction& d) {
  auto flat = [](const std::vector<Dim>& dims) {
    return std::all_of(dims.begin(), dims.end(), [](const Dim& q) { return q.sbias == 0 || q.size == 1; });
  };
  switch (path) {
    case Path::kGemm:
    case Path::kFused: return flat(d.m);
    case Path::kTapReduce: {
      TapShape s;
      return tap_shape(d, s).empty() && tap_bias_on_lanes(s);
    }
    default: return false;
  }
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

Plan plan(const Operand& a, const Operand* b, const Operand& out, const KernelTable& kt, std::string& err,
          const Operand* bias, int act) {
  Plan p;
  if (!b && !a.windows.empty()) return err = "a padded window view needs a second operand", p;
  if (!b) {
    const Operand ones = ones_for(a, out);
    if (ones.labels.empty()) {
      err = classify(a, nullptr, out, p.d, bias);
      p.d.act = act;
      p.path = Path::kPermute;
      return p;
    }
    Plan q = plan(a, &ones, out, kt, err, bias, act);
    q.ones = true;
    return q;
  }
  // The larger operand first (the GEMM streams it and packs the other; tap-reduce
  // vectorises along it), unless only the other order has a vector path (a dot per
  // output is the fallback of the two), or only the other stores the epilogue in its
  // tiles (below), or, for two GEMMs, only the other reads A's K unit-stride and has
  // kUnitKMinRows rows or more.
  Contraction d1, d2, as1, as2;
  err = classify(a, b, out, d1, bias);
  if (!err.empty()) return p;
  classify(*b, &a, out, d2, bias);
  const Path p1 = choose(d1, as1), p2 = choose(d2, as2);
  as1.act = as2.act = act;
  // Where only one order stores the epilogue in its tiles, that one, unless it packs
  // more than twice the output's elements beyond what the other packs: the other
  // order's separate pass reads and writes the output once more.
  const bool f1 = as1.epilogue() && epilogue_fused(p1, as1), f2 = as2.epilogue() && epilogue_fused(p2, as2);
  const idx_t ea = elements(a), eb = elements(*b), pass = sat_mul(2, elements(out));
  const bool u1 = p1 == Path::kGemm && a_k_unit(as1), u2 = p2 == Path::kGemm && a_k_unit(as2);
  if (!a.windows.empty())  // zero padding is read by the GEMM path, with a streamed
    p.swap = false;
  else if ((p1 == Path::kDot) != (p2 == Path::kDot))
    p.swap = p1 == Path::kDot;
  else if (f1 != f2 && (f1 ? eb - ea : ea - eb) <= pass)
    p.swap = f2;
  else if (p1 == Path::kGemm && p2 == Path::kGemm && u1 != u2 && prod((u1 ? as1 : as2).m) >= kUnitKMinRows)
    p.swap = u2;
  else
    p.swap = eb > ea;
  p.path = p.swap ? p2 : p1;
  p.d = p.swap ? as2 : as1;
  p.epi_fused = p.swap ? f2 : f1;
  if (!a.windows.empty() && p.path != Path::kGemm)
    p.path = Path::kNone, p.reason = "zero padding is read by the GEMM path only";
  return p;
}

Plan plan_chain(const Operand& a, const Operand& b, const std::string& ld, const Operand& c, const Operand& out,
                const KernelTable& kt, std::string& err, const Operand* bias, int act) {
  Plan p;
  const Operand od = virtual_operand(ld, {&a, &b});
  for (const idx_t size : od.shape)
    if (size < 0) return err = "a label of D is in no input", p;
  err = classify(a, &b, od, p.d);
  if (err.empty()) err = classify(od, &c, out, p.d2, bias);
  if (!err.empty()) return p;
  p.d2.act = act;
  p.epi_fused = p.d2.epilogue() && epilogue_fused(Path::kFused, p.d2);
  if (!p.d.n.empty() || reduce_route(p.d) != Reduce::kTap)
    p.reason = "the chain's first stage is not a short tap-reduce";
  else if (p.d2.n.empty() || !p.d2.batch.empty())
    p.reason = "the chain's second stage is not a GEMM without groups";
  else if (gemm_slabs(p.d2, KernelOf<float>::gemms(kt, prod(p.d2.n)).blocking, idx_t(sizeof(double))).size() != 1)
    p.reason = "the chain's 1x1 weights are too large to pack whole";
  else
    p.path = Path::kFused;
  return p;
}

template <class T>
std::string run(const Plan& p, const T* a, const T* b, const T* c, T* out, const KernelTable& kt, int nthreads,
                const T* bias) {
  static const T one = T(1);
  if (p.ones) b = &one;
  if (p.swap) std::swap(a, b);
  const Contraction& od = p.path == Path::kFused ? p.d2 : p.d;  // the outputs' descriptor
  const T* fb = p.epi_fused ? bias : nullptr;                    // the bias a path applies itself
  const bool empty_sum = p.path != Path::kPermute && (prod(p.d.k) == 0 || (p.path == Path::kFused && prod(od.k) == 0));
  if (p.path != Path::kNone && empty_sum && od.epilogue()) {  // act(bias) everywhere
    zero_output(od, out, nthreads);
    epilogue_pass(od, bias, out, kt, nthreads);
    return {};
  }
  // The path sees the epilogue only where it applies it; else the pass below does.
  Contraction d = p.d, d2 = p.d2;
  if (!p.epi_fused) d.bias = d2.bias = false, d.act = d2.act = 0;
  std::string err;
  switch (p.path) {
    case Path::kPermute: err = permute_path(d, a, out, kt, nthreads); break;
    case Path::kTapReduce: err = tapreduce_path(d, a, b, fb, out, kt, nthreads); break;
    case Path::kDot: err = dot_path(d, a, b, out, kt, nthreads); break;
    case Path::kGemm: err = gemm_path(d, a, b, fb, out, kt, nthreads); break;
    case Path::kFused: err = fused_path(d, d2, a, b, c, fb, out, kt, nthreads); break;
    case Path::kNone: return p.reason;
  }
  if (err.empty() && od.epilogue() && !p.epi_fused && !parallel::should_stop())
    epilogue_pass(od, bias, out, kt, nthreads);
  return err;
}

template std::string run<float>(const Plan&, const float*, const float*, const float*, float*, const KernelTable&, int,
                                const float*);
template std::string run<double>(const Plan&, const double*, const double*, const double*, double*,
                                 const KernelTable&, int, const double*);

}  // namespace engine
}  // namespace fastconv
