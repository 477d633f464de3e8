// The epilogue as a pass of its own (paths.h: epilogue_pass): for the paths that store
// outputs one at a time (the dot path, permutations) and for biases that vary along
// axes a path's tiles do not store together. Runs of the innermost output axis are
// gathered (with their biases) into a buffer the ISA's epilogue kernel works on.
#include <algorithm>

#include "engine/dims.h"
#include "engine/paths/paths.h"
#include "engine/scratch.h"

namespace fastconv {
namespace engine {

template <class T>
void epilogue_pass(const Contraction& d, const T* bias, T* out, const KernelTable& kt, int nthreads) {
  if (!d.epilogue()) return;
  std::vector<Dim> dims = without_units(output_dims(d));
  for (Dim& q : dims) q.sa = q.sbias;  // parallel_rows' "a" offsets: the bias's
  Dim inner{1, 0, 0, 0};
  if (!dims.empty()) {
    const size_t q = innermost(dims);
    inner = dims[q];
    dims.erase(dims.begin() + long(q));
  }
  constexpr idx_t kRun = 256;
  const auto epi = KernelOf<T>::mem(kt).epilogue;
  const int act = d.act;
  const idx_t bytes = sat_mul(2 * prod(dims), sat_mul(inner.size, idx_t(sizeof(T))));
  parallel_rows(dims, inner, parallel::threads_for(bytes, nthreads), 4, [&](idx_t off_b, idx_t off_o, idx_t i0, idx_t len) {
    T* o = out + off_o + i0 * inner.so;
    const T* bb = bias ? bias + off_b + i0 * inner.sa : nullptr;
    if (inner.so == 1 && (!bb || inner.sa == 1)) return epi(o, len, bb, act);
    T* buf = scratch::get<T>(scratch::kReduce, size_t(2 * kRun));
    for (idx_t i = 0; i < len; i += kRun) {
      const idx_t n = std::min(kRun, len - i);
      for (idx_t j = 0; j < n; ++j) buf[j] = o[(i + j) * inner.so];
      if (bb)
        for (idx_t j = 0; j < n; ++j) buf[kRun + j] = bb[(i + j) * inner.sa];
      epi(buf, n, bb ? buf + kRun : nullptr, act);
      for (idx_t j = 0; j < n; ++j) o[(i + j) * inner.so] = buf[j];
    }
  });
}

template void epilogue_pass<float>(const Contraction&, const float*, float*, const KernelTable&, int);
template void epilogue_pass<double>(const Contraction&, const double*, double*, const KernelTable&, int);

}  // namespace engine
}  // namespace fastconv
