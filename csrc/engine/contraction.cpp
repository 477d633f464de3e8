// classify(): labelled operands into index groups, with every size product checked.
#include "engine/contraction.h"

#include <cstdlib>

#include "engine/dims.h"

namespace fastconv {
namespace engine {

std::string classify(const Operand& a, const Operand* b, const Operand& out, Contraction& d, const Operand* bias) {
  d = Contraction{};
  d.bias = bias != nullptr;
  const Operand* ops[3] = {&a, b, &out};
  if (bias) {  // over some of out's labels, of out's sizes
    if (bias->labels.size() != bias->shape.size() || bias->shape.size() != bias->strides.size())
      return "labels do not match the bias's rank";
    for (size_t i = 0; i < bias->labels.size(); ++i) {
      const size_t j = out.labels.find(bias->labels[i]);
      if (j == std::string::npos) return std::string("bias label '") + bias->labels[i] + "' is not an output label";
      if (bias->shape[i] != out.shape[j]) return std::string("bias label '") + bias->labels[i] + "' has another size";
    }
  }
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
    if (bias) {
      const size_t i = bias->labels.find(c);
      if (i != std::string::npos) dim.sbias = bias->strides[i];
    }
    empty = empty || dim.size == 0;
    overflow = overflow || __builtin_mul_overflow(space, dim.size, &space);
    if (!in[2]) d.k.push_back(dim), d.k_labels += c;
    else if (in[0] && in[1]) d.batch.push_back(dim), d.batch_labels += c;
    else if (in[0]) d.m.push_back(dim), d.m_labels += c;
    else d.n.push_back(dim), d.n_labels += c;
  }
  if (overflow && !empty) return "the contraction's index space (the product of every label's size) exceeds 2^63";
  if (a.windows.size() > size_t(kMaxWindowAxes)) return "more padded window axes than the engine takes";
  for (size_t w = 0; w < a.windows.size(); ++w) {
    const WindowAxis& x = a.windows[w];
    const size_t o = d.m_labels.find(x.o), k = d.k_labels.find(x.k);
    if (o == std::string::npos || k == std::string::npos || x.o == x.k)
      return "a padded window's labels must be an output position of a alone and a summed tap";
    if (x.lo < 0 || x.size < 0 || x.step < 1 || x.dilation < 1) return "a padded window's geometry is invalid";
    d.m[o].sw[w] = x.step, d.k[k].sw[w] = x.dilation;
    d.pad.push_back({x.lo, x.size});
    d.pad_origin += x.lo * x.x_stride;
  }
  return {};
}

Operand virtual_operand(const std::string& labels, const std::vector<const Operand*>& inputs) {
  Operand v;
  v.labels = labels;
  for (const char ch : labels) {
    idx_t size = -1;
    for (const Operand* op : inputs) {
      const size_t i = op->labels.find(ch);
      if (i != std::string::npos) size = op->shape[i];
    }
    v.shape.push_back(size);
  }
  v.strides.assign(v.shape.size(), 1);
  for (size_t i = v.shape.size(); i-- > 1;) v.strides[i - 1] = v.strides[i] * std::max<idx_t>(v.shape[i], 0);
  return v;
}

idx_t elements(const Operand& op) {
  idx_t n = 1;
  for (const idx_t s : op.shape) n = sat_mul(n, s);
  return n;
}

}  // namespace engine
}  // namespace fastconv
