// The staged chain (plan.h: run_staged): two contractions computed a block of one label
// at a time, the intermediate held for one block in a buffer, never whole. The
// spatially separable and flattened convolutions' "fused-staged" strategy.
#include <algorithm>

#include "engine/buffer.h"
#include "engine/dims.h"
#include "engine/plan.h"

namespace fastconv {
namespace engine {

template <class T>
std::string run_staged(const Operand& a, const Operand& b, const std::string& ld, const std::string& ld2,
                       const Operand& c, const Operand& out, char block, idx_t block_bytes, const T* pa,
                       const T* pb, const T* pc, T* po, const KernelTable& kt, int nthreads) {
  const size_t ia = a.labels.find(block), io = out.labels.find(block);
  if (ia == std::string::npos || io == std::string::npos || ld.find(block) == std::string::npos ||
      ld2.find(block) == std::string::npos)
    return "the block label must be in a, D (both views) and out";
  const idx_t S = a.shape[ia];
  const Operand whole = virtual_operand(ld, {&a, &b});
  for (const idx_t s : whole.shape)
    if (s < 0) return "a label of D is in no input";
  if (S == 0 || elements(out) == 0) return {};
  const idx_t per = std::max<idx_t>(1, elements(whole) / S);  // D's elements per block index
  const idx_t nb = std::clamp<idx_t>(block_bytes / (per * idx_t(sizeof(T))), 1, S);
  Buffer<T> dbuf(size_t(nb * per));
  for (idx_t r0 = 0; r0 < S && !parallel::should_stop(); r0 += nb) {
    const idx_t n = std::min(nb, S - r0);
    Operand sa = a, so = out;
    sa.shape[ia] = n, so.shape[io] = n;
    const Operand sd = virtual_operand(ld, {&sa, &b});
    const Operand sd2 = virtual_operand(ld2, {&sd, &c, &so});
    if (elements(sd2) != elements(sd)) return "the second view of D is not a reshape of the first";
    std::string err;
    const Plan p1 = plan(sa, &b, sd, kt, err);
    if (err.empty()) err = run<T>(p1, pa + r0 * a.strides[ia], pb, nullptr, dbuf.data(), kt, nthreads);
    if (!err.empty()) return err;
    const Plan p2 = plan(sd2, &c, so, kt, err);
    if (err.empty()) err = run<T>(p2, dbuf.data(), pc, nullptr, po + r0 * out.strides[io], kt, nthreads);
    if (!err.empty()) return err;
  }
  return {};
}

template std::string run_staged<float>(const Operand&, const Operand&, const std::string&, const std::string&,
                                       const Operand&, const Operand&, char, idx_t, const float*, const float*,
                                       const float*, float*, const KernelTable&, int);
template std::string run_staged<double>(const Operand&, const Operand&, const std::string&, const std::string&,
                                        const Operand&, const Operand&, char, idx_t, const double*, const double*,
                                        const double*, double*, const KernelTable&, int);

}  // namespace engine
}  // namespace fastconv
