// The permutation path (paths.h): one operand, nothing summed. Contiguous runs are
// copied, the interleave of a channel shuffle goes to the zip kernel, the rest is an
// element by element strided copy.
#include <cstring>

#include "engine/dims.h"
#include "engine/paths/paths.h"

namespace fastconv {
namespace engine {

template <class T>
std::string permute_path(const Contraction& d, const T* a, T* out, const KernelTable& kt, int nthreads) {
  if (!d.k.empty()) return "one-operand reductions take a second operand of ones";
  if (prod(d.m) == 0) return {};
  std::vector<Dim> dims = without_units(d.m);
  auto take = [&](auto pred) {
    for (size_t i = 0; i < dims.size(); ++i)
      if (pred(dims[i])) {
        Dim r = dims[i];
        dims.erase(dims.begin() + long(i));
        return r;
      }
    return Dim{0, 0, 0, 0};
  };
  const int nt = parallel::threads_for(sat_mul(2 * prod(dims), idx_t(sizeof(T))), nthreads);
  const Dim run = take([](const Dim& x) { return x.so == 1 && x.sa == 1; });
  if (run.size) {  // contiguous runs
    const Dim inner = dims.empty() ? Dim{1, 0, 0, 0} : take([](const Dim&) { return true; });
    parallel_rows(dims, inner, nt, run.size, [&](idx_t off_a, idx_t off_o, idx_t i0, idx_t len) {
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
        dims.erase(dims.begin() + long(q));
      }
      auto kernel = KernelOf<T>::zip(kt);
      parallel_rows(dims, inner, nt, rows.size * cols.size, [&](idx_t off_a, idx_t off_o, idx_t i0, idx_t len) {
        ZipArgs<T> args{a + off_a + i0 * inner.sa, rows.sa, rows.size, cols.size,
                        out + off_o + i0 * inner.so, len, inner.sa, inner.so, false};
        kernel(args);
      });
      return {};
    }
    dims.push_back(rows);
  }
  strided_copy(dims, a, out, nthreads);
  return {};
}

template std::string permute_path<float>(const Contraction&, const float*, float*, const KernelTable&, int);
template std::string permute_path<double>(const Contraction&, const double*, double*, const KernelTable&, int);

}  // namespace engine
}  // namespace fastconv
