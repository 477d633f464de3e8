// _core.contract, contract_chain, plan, plan_chain: operands checked once, one engine
// Plan that both runs and describes a call.
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "bindings/common.h"
#include "dispatch.h"
#include "engine/paths/window.h"
#include "engine/plan.h"

namespace fastconv {
namespace bindings {

int native_float(const py::dtype& dt) {
  const char order = dt.byteorder();
  constexpr char kNative = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? '<' : '>';
  if (dt.kind() != 'f' || (order != '=' && order != '|' && order != kNative)) return 0;
  return dt.itemsize() == 4 || dt.itemsize() == 8 ? int(dt.itemsize()) : 0;
}

namespace {

// The operand of the array whose data starts at `data`, with this shape and these
// strides (bytes).
template <class Shape, class Strides>
engine::Operand operand_of(const void* data, py::ssize_t item, py::ssize_t ndim, Shape&& shape, Strides&& strides,
                           const std::string& labels, const char* fn, const char* what) {
  engine::Operand op;
  op.labels = labels;
  const auto fail = [&](const std::string& why) {
    throw py::value_error(std::string("_core.") + fn + ": " + what + why);
  };
  if (py::ssize_t(labels.size()) != ndim)
    fail(" has " + std::to_string(ndim) + " axes but " + std::to_string(labels.size()) + " labels");
  if (reinterpret_cast<std::uintptr_t>(data) % std::uintptr_t(item) != 0) fail(" is not aligned to its itemsize");
  op.shape.reserve(size_t(ndim)), op.strides.reserve(size_t(ndim));
  for (py::ssize_t i = 0; i < ndim; ++i) {
    const bool unit = shape(i) == 1;  // never stepped along: any stride will do
    if (shape(i) < 0) fail(" has a negative size");
    if (!unit && strides(i) % item != 0) fail(" has a stride that is not a multiple of its itemsize");
    op.shape.push_back(shape(i));
    op.strides.push_back(unit ? 0 : strides(i) / item);
  }
  return op;
}

}  // namespace

engine::Operand operand(const py::array& arr, const std::string& labels, const char* fn, const char* what) {
  return operand_of(
      arr.data(), arr.itemsize(), arr.ndim(), [&](py::ssize_t i) { return arr.shape(i); },
      [&](py::ssize_t i) { return arr.strides(i); }, labels, fn, what);
}

py::object optional_array(const py::object& obj, const char* fn) {
  if (!obj.is_none() && !py::isinstance<py::array>(obj))
    throw py::type_error(std::string("_core.") + fn + ": b must be a numpy.ndarray or None, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  return obj;
}

namespace {

// Every operand's dtype is out's, float32 or float64; returns the itemsize.
int common_float(const py::array& out, std::initializer_list<const py::array*> ins, const char* fn) {
  const int item = native_float(out.dtype());
  if (!item)
    throw py::type_error(std::string("_core.") + fn + ": out dtype must be float32 or float64, got " +
                         std::string(py::str(out.dtype())));
  for (const py::array* a : ins)
    if (a && native_float(a->dtype()) != item)
      throw py::type_error(std::string("_core.") + fn + ": all operands must have out's dtype " +
                           std::string(py::str(out.dtype())));
  return item;
}

template <class T>
void run_plan(const engine::Plan& p, const py::array& a, const py::array* b, const py::array* c, py::array& out,
              const py::array* bias) {
  const T* pa = static_cast<const T*>(a.data());
  const T* pb = b ? static_cast<const T*>(b->data()) : nullptr;
  const T* pc = c ? static_cast<const T*>(c->data()) : nullptr;
  const T* pbias = bias ? static_cast<const T*>(bias->data()) : nullptr;
  T* po = static_cast<T*>(out.mutable_data());
  const KernelTable& kt = kernels();
  const int nt = parallel::get_num_threads();
  const std::string err = interruptible(out, [&] { return engine::run<T>(p, pa, pb, pc, po, kt, nt, pbias); });
  if (!err.empty()) throw std::invalid_argument("no native path: " + err);
}

void run_plan(const engine::Plan& p, int item, const py::array& a, const py::array* b, const py::array* c,
              py::array& out, const py::array* bias = nullptr) {
  if (p.path == engine::Path::kNone) throw std::invalid_argument("no native path: " + p.reason);
  if (item == 4) return run_plan<float>(p, a, b, c, out, bias);
  run_plan<double>(p, a, b, c, out, bias);
}

// The activation's Act code ("" or "none": none).
int activation_code(const std::string& name, const char* fn) {
  static const char* const names[] = {"none", "relu", "relu6", "silu", "gelu"};
  if (name.empty()) return 0;
  for (int i = 0; i < 5; ++i)
    if (name == names[i]) return i;
  throw py::value_error(std::string("_core.") + fn + ": unknown activation '" + name +
                        "' (expected one of 'relu', 'relu6', 'silu', 'gelu' or none)");
}

// The epilogue's bias operand (None: none), of out's dtype.
struct BiasArg {
  py::array arr;
  engine::Operand op;
  bool has = false;
  BiasArg(const py::object& obj, const std::string& labels, const py::array& out, const char* fn) {
    if (obj.is_none()) return;
    if (!py::isinstance<py::array>(obj))
      throw py::type_error(std::string("_core.") + fn + ": bias must be a numpy.ndarray or None");
    arr = py::reinterpret_borrow<py::array>(obj);
    if (native_float(arr.dtype()) != native_float(out.dtype()))
      throw py::type_error(std::string("_core.") + fn + ": bias must have out's dtype " + std::string(py::str(out.dtype())));
    op = operand(arr, labels, fn, "bias");
    has = true;
  }
  const engine::Operand* operand_or_null() const { return has ? &op : nullptr; }
  const py::array* array_or_null() const { return has ? &arr : nullptr; }
};

// Plans kept by what planning reads: the operands' labels, shapes, strides and windows,
// the epilogue and the kernel table. Planning a call costs ~20k instructions (2-3 us,
// docs/tuning.md); a layer run again finds its plan here. Failed plans are not kept
// (their error is raised again).
class PlanCache {
 public:
  using Key = std::vector<idx_t>;
  static constexpr size_t kEntries = 64;

  static PlanCache& instance() {
    static PlanCache* c = new PlanCache;  // never destroyed: no teardown order at exit
    return *c;
  }
  std::shared_ptr<const engine::Plan> find(const Key& k) {
    std::lock_guard<std::mutex> lock(m_);
    for (const auto& e : entries_)
      if (e.first == k) return e.second;
    return nullptr;
  }
  void put(Key k, std::shared_ptr<const engine::Plan> p) {
    std::lock_guard<std::mutex> lock(m_);
    if (entries_.size() < kEntries) {
      entries_.emplace_back(std::move(k), std::move(p));
      return;
    }
    entries_[next_] = {std::move(k), std::move(p)};  // the oldest entry goes
    next_ = (next_ + 1) % kEntries;
  }

 private:
  std::mutex m_;
  std::vector<std::pair<Key, std::shared_ptr<const engine::Plan>>> entries_;
  size_t next_ = 0;
};

// Appends what planning reads of op (nothing of its data) to a PlanCache key.
void add_to_key(PlanCache::Key& k, const engine::Operand* op) {
  if (!op) return k.push_back(-1);
  k.push_back(idx_t(op->labels.size()));
  for (const char c : op->labels) k.push_back(c);
  k.insert(k.end(), op->shape.begin(), op->shape.end());
  k.insert(k.end(), op->strides.begin(), op->strides.end());
  k.push_back(idx_t(op->windows.size()));
  for (const engine::WindowAxis& w : op->windows)
    k.insert(k.end(), {w.o, w.k, w.lo, w.size, w.step, w.dilation, w.x_stride});
}

// A PlanCache key: what (0: plan, 1: plan_chain), the kernel table, the activation, the
// operands (null: absent) and the chain's D labels.
PlanCache::Key plan_key(int what, const KernelTable& kt, int act, std::initializer_list<const engine::Operand*> ops,
                        const std::string& ld = "") {
  PlanCache::Key key{what, idx_t(reinterpret_cast<std::uintptr_t>(&kt)), act};
  for (const engine::Operand* op : ops) add_to_key(key, op);
  for (const char c : ld) key.push_back(c);
  return key;
}

// make()'s plan, or the one kept for key.
template <class Make>
std::shared_ptr<const engine::Plan> cached_plan(PlanCache::Key key, const std::string& err, Make&& make) {
  PlanCache& cache = PlanCache::instance();
  if (auto p = cache.find(key)) return p;
  auto p = std::make_shared<const engine::Plan>(make());
  if (err.empty()) cache.put(std::move(key), p);
  return p;
}

void groups(py::dict& r, const engine::Contraction& d, const char* prefix = "") {
  const std::string p = prefix;
  r[(p + "batch").c_str()] = d.batch_labels, r[(p + "m").c_str()] = d.m_labels;
  r[(p + "n").c_str()] = d.n_labels, r[(p + "k").c_str()] = d.k_labels;
}

py::dict describe(const engine::Plan& p) {
  py::dict r;
  r["path"] = engine::path_name(p.path), r["supported"] = p.path != engine::Path::kNone, r["reason"] = p.reason;
  r["swapped"] = p.swap, r["ones"] = p.ones;
  const engine::Contraction& od = p.path == engine::Path::kFused ? p.d2 : p.d;
  r["epilogue"] = !od.epilogue() ? "none" : p.epi_fused ? "fused" : "pass";
  groups(r, p.path == engine::Path::kFused ? p.d2 : p.d);
  if (p.path == engine::Path::kFused) groups(r, p.d, "stage_");
  return r;
}

using Window = std::tuple<std::string, std::string, idx_t, idx_t, idx_t, idx_t, idx_t>;
using View = std::pair<std::vector<py::ssize_t>, std::vector<py::ssize_t>>;

// contract(a, a_labels, b, b_labels, out, out_labels): out = sum over the labels missing
// from out of a * b; b None: a permutation of a, or a sum over a's labels missing from
// out. Raises NotImplementedError where the engine has no path.
// bias (labels bias_labels, a subset of out's), activation: out = act(... + bias),
// applied as the outputs are stored.
// windows: a is a conv's window view of an input x, zero-padded along these axes:
// (output label, tap label, lo, x's size, step, dilation, x's stride in elements)
// each, a's element at (o, k) being x's at o*step + k*dilation - lo, a zero outside
// x; a is the view as if every lo were 0 (it starts at x's own data, and its extent
// may pass x's: only elements inside x are read).
// view: (shape, strides in bytes) to read a's data through instead of a's own (a
// window view of a, as numpy's as_strided would make it, without building it: on a
// cold cache that call is most of a conv's Python time, docs/tuning.md). The caller
// guarantees every element the engine reads lies inside a.
void contract(const py::array& a, const std::string& la, const py::object& b_obj, const std::string& lb,
              py::array& out, const std::string& lo, const py::object& bias_obj, const std::string& lbias,
              const std::string& activation, const std::vector<Window>& windows, const std::optional<View>& view) {
  const py::object bo = optional_array(b_obj, "contract");
  const bool has_b = !bo.is_none();
  py::array b = has_b ? py::reinterpret_borrow<py::array>(bo) : py::array();
  const int item = common_float(out, {&a, has_b ? &b : nullptr}, "contract");
  if (view && view->first.size() != view->second.size())
    throw py::value_error("_core.contract: view has " + std::to_string(view->first.size()) + " sizes but " +
                          std::to_string(view->second.size()) + " strides");
  engine::Operand oa =
      view ? operand_of(
                 a.data(), a.itemsize(), py::ssize_t(view->first.size()),
                 [&](py::ssize_t i) { return view->first[size_t(i)]; },
                 [&](py::ssize_t i) { return view->second[size_t(i)]; }, la, "contract", "a (view)")
           : operand(a, la, "contract", "a");
  const engine::Operand oo = operand(out, lo, "contract", "out");
  for (const Window& w : windows) {
    const auto& [o, k, lo_, size, step, dil, xs] = w;
    if (o.size() != 1 || k.size() != 1) throw py::value_error("_core.contract: a window's labels are one character each");
    oa.windows.push_back({o[0], k[0], lo_, size, step, dil, xs});
  }
  engine::Operand ob;
  if (has_b) ob = operand(b, lb, "contract", "b");
  const BiasArg bias(bias_obj, lbias, out, "contract");
  const int act = activation_code(activation, "contract");
  std::string err;
  const KernelTable& kt = kernels();
  const engine::Operand* pb = has_b ? &ob : nullptr;
  const auto p = cached_plan(plan_key(0, kt, act, {&oa, pb, &oo, bias.operand_or_null()}), err,
                             [&] { return engine::plan(oa, pb, oo, kt, err, bias.operand_or_null(), act); });
  if (!err.empty()) throw py::value_error("_core.contract: " + err);
  run_plan(*p, item, a, has_b ? &b : nullptr, nullptr, out, bias.array_or_null());
}

// contract_chain(a, la, b, lb, d_labels, c, lc, out, lo): D = a x b (labels d_labels,
// never stored whole), then out = D x c. NotImplementedError where there is no fused path.
void contract_chain(const py::array& a, const std::string& la, const py::array& b, const std::string& lb,
                    const std::string& ld, const py::array& c, const std::string& lc, py::array& out,
                    const std::string& lo, const py::object& bias_obj, const std::string& lbias,
                    const std::string& activation) {
  const int item = common_float(out, {&a, &b, &c}, "contract_chain");
  const BiasArg bias(bias_obj, lbias, out, "contract_chain");
  const int act = activation_code(activation, "contract_chain");
  std::string err;
  const KernelTable& kt = kernels();
  const char* fn = "contract_chain";
  const engine::Operand oa = operand(a, la, fn, "a"), ob = operand(b, lb, fn, "b"), oc = operand(c, lc, fn, "c"),
                        oo = operand(out, lo, fn, "out");
  const auto p = cached_plan(plan_key(1, kt, act, {&oa, &ob, &oc, &oo, bias.operand_or_null()}, ld), err, [&] {
    return engine::plan_chain(oa, ob, ld, oc, oo, kt, err, bias.operand_or_null(), act);
  });
  if (!err.empty()) throw py::value_error("_core.contract_chain: " + err);
  run_plan(*p, item, a, &b, &c, out, bias.array_or_null());
}

template <class T>
std::string staged_typed(const engine::Operand& oa, const engine::Operand& ob, const std::string& ld,
                         const std::string& ld2, const engine::Operand& oc, const engine::Operand& oo, char block,
                         idx_t bytes, const py::array& a, const py::array& b, const py::array& c, py::array& out) {
  const T* pa = static_cast<const T*>(a.data());
  const T* pb = static_cast<const T*>(b.data());
  const T* pc = static_cast<const T*>(c.data());
  T* po = static_cast<T*>(out.mutable_data());
  const KernelTable& kt = kernels();
  const int nt = parallel::get_num_threads();
  return interruptible(out, [&] {
    return engine::run_staged<T>(oa, ob, ld, ld2, oc, oo, block, bytes, pa, pb, pc, po, kt, nt);
  });
}

// contract_staged(a, la, b, lb, ld, ld2, c, lc, out, lo, block, block_bytes): D = a x b
// (labels ld), then out = D x c reading D as ld2 (a reshape), a block of label `block`
// at a time, D held for one block in at most block_bytes.
void contract_staged(const py::array& a, const std::string& la, const py::array& b, const std::string& lb,
                     const std::string& ld, const std::string& ld2, const py::array& c, const std::string& lc,
                     py::array& out, const std::string& lo, const std::string& block, idx_t block_bytes) {
  const char* fn = "contract_staged";
  const int item = common_float(out, {&a, &b, &c}, fn);
  if (block.size() != 1) throw py::value_error("_core.contract_staged: block must be one label");
  const engine::Operand oa = operand(a, la, fn, "a"), ob = operand(b, lb, fn, "b"), oc = operand(c, lc, fn, "c"),
                        oo = operand(out, lo, fn, "out");
  const std::string err = item == 4 ? staged_typed<float>(oa, ob, ld, ld2, oc, oo, block[0], block_bytes, a, b, c, out)
                                    : staged_typed<double>(oa, ob, ld, ld2, oc, oo, block[0], block_bytes, a, b, c, out);
  if (!err.empty()) throw py::value_error("_core.contract_staged: " + err);
}

// plan(a, la, b, lb, lo): what contract() would run for an out of labels lo: {"path",
// "supported", "reason", "swapped", "ones", "batch", "m", "n", "k"}. Reads no data.
py::dict plan(const py::array& a, const std::string& la, const py::object& b_obj, const std::string& lb,
              const std::string& lo, const py::object& bias_obj, const std::string& lbias,
              const std::string& activation) {
  const py::object bo = optional_array(b_obj, "plan");
  const bool has_b = !bo.is_none();
  const engine::Operand oa = operand(a, la, "plan", "a");
  engine::Operand ob;
  if (has_b) ob = operand(py::reinterpret_borrow<py::array>(bo), lb, "plan", "b");
  std::vector<const engine::Operand*> ins{&oa};
  if (has_b) ins.push_back(&ob);
  const engine::Operand oo = engine::virtual_operand(lo, ins);
  engine::Operand obias;
  if (!bias_obj.is_none()) obias = operand(py::reinterpret_borrow<py::array>(bias_obj), lbias, "plan", "bias");
  const int act = activation_code(activation, "plan");
  std::string err;
  const engine::Plan p =
      engine::plan(oa, has_b ? &ob : nullptr, oo, kernels(), err, bias_obj.is_none() ? nullptr : &obias, act);
  if (!err.empty()) throw py::value_error("_core.plan: " + err);
  return describe(p);
}

// plan_chain(a, la, b, lb, ld, c, lc, lo): what contract_chain() would run; "stage_*": the
// tap-reduce stage's groups.
py::dict plan_chain(const py::array& a, const std::string& la, const py::array& b, const std::string& lb,
                    const std::string& ld, const py::array& c, const std::string& lc, const std::string& lo) {
  const engine::Operand oa = operand(a, la, "plan_chain", "a"), ob = operand(b, lb, "plan_chain", "b"),
                        oc = operand(c, lc, "plan_chain", "c");
  const engine::Operand od = engine::virtual_operand(ld, {&oa, &ob});
  std::string err;
  const engine::Plan p = engine::plan_chain(oa, ob, ld, oc, engine::virtual_operand(lo, {&od, &oc}), kernels(), err);
  if (!err.empty()) throw py::value_error("_core.plan_chain: " + err);
  return describe(p);
}

// depthwise_window(x, w, out, stride, dilation, pad_lo): the padded depthwise conv read
// in place (engine/paths/window.h): x (b, *S, c), w (*K, c), out (b, *O, c), 1 to 3
// spatial axes, channels unit-stride in all three; the taps outside x are zeros.
void depthwise_window(const py::array& x, const py::array& w, py::array& out, const std::vector<idx_t>& stride,
                      const std::vector<idx_t>& dilation, const std::vector<idx_t>& pad_lo, const py::object& bias_obj,
                      const std::string& activation) {
  const char* fn = "depthwise_window";
  const int item = common_float(out, {&x, &w}, fn);
  const py::ssize_t n = x.ndim() - 2;
  const auto fail = [&](const std::string& why) { throw py::value_error(std::string("_core.") + fn + ": " + why); };
  if (n < 1 || n > engine::WindowConv::kMaxAxes) fail("x must have 1 to 3 spatial axes");
  if (w.ndim() != n + 1 || out.ndim() != n + 2) fail("w must be (*K, c) and out (b, *O, c)");
  if (py::ssize_t(stride.size()) != n || py::ssize_t(dilation.size()) != n || py::ssize_t(pad_lo.size()) != n)
    fail("stride, dilation and pad_lo need one value per spatial axis");
  const std::string labels = "abcdefgh";
  const engine::Operand ox = operand(x, labels.substr(0, size_t(n + 2)), fn, "x"),
                        ow = operand(w, labels.substr(0, size_t(n + 1)), fn, "w"),
                        oo = operand(out, labels.substr(0, size_t(n + 2)), fn, "out");
  engine::WindowConv g;
  g.n = int(n), g.batch = ox.shape[0], g.c = ox.shape[size_t(n + 1)];
  if (oo.shape[0] != g.batch || oo.shape[size_t(n + 1)] != g.c || ow.shape[size_t(n)] != g.c)
    fail("x, w and out must agree in batch and channels");
  if (g.c > 1 && (ox.strides[size_t(n + 1)] != 1 || ow.strides[size_t(n)] != 1 || oo.strides[size_t(n + 1)] != 1))
    fail("the channels of x, w and out must be unit-stride");
  g.xb = ox.strides[0], g.ob = oo.strides[0];
  for (py::ssize_t i = 0; i < n; ++i) {
    const size_t s = size_t(i);
    g.S[s] = ox.shape[s + 1], g.K[s] = ow.shape[s], g.O[s] = oo.shape[s + 1];
    g.stride[s] = stride[s], g.dilation[s] = dilation[s], g.lo[s] = pad_lo[s];
    if (g.stride[s] < 1 || g.dilation[s] < 1 || g.lo[s] < 0) fail("stride and dilation must be >= 1, pad_lo >= 0");
    if (g.K[s] < 1) fail("kernel sizes must be >= 1");
    g.xs[s] = ox.strides[s + 1], g.ws[s] = ow.strides[s], g.os[s] = oo.strides[s + 1];
  }
  const BiasArg bias(bias_obj, "a", out, fn);
  if (bias.has && (bias.op.shape[0] != g.c || (g.c > 1 && bias.op.strides[0] != 1)))
    fail("bias must be (c,), unit-stride");
  g.act = activation_code(activation, fn);
  const KernelTable& kt = kernels();
  const int nt = parallel::get_num_threads();
  const void* pb = bias.has ? bias.arr.data() : nullptr;
  void* po = out.mutable_data();
  interruptible(out, [&] {
    if (item == 4)
      engine::depthwise_window<float>(g, static_cast<const float*>(x.data()), static_cast<const float*>(w.data()),
                                      static_cast<const float*>(pb), static_cast<float*>(po), kt, nt);
    else
      engine::depthwise_window<double>(g, static_cast<const double*>(x.data()), static_cast<const double*>(w.data()),
                                       static_cast<const double*>(pb), static_cast<double*>(po), kt, nt);
    return std::string();
  });
}

// out[i, j, :] = a[i, :] * b[j, :] (one rounding: numpy's broadcast product, bit for bit).
template <class T>
void outer_rows_typed(const T* a, const T* b, T* o, idx_t p, idx_t q, idx_t n) {
  for (idx_t i = 0; i < p; ++i)
    for (idx_t j = 0; j < q; ++j, o += n) {
      const T* x = a + i * n;
      const T* y = b + j * n;
      for (idx_t t = 0; t < n; ++t) o[t] = x[t] * y[t];
    }
}

// outer_rows(a, b, out): out[i, j, ...] = a[i, ...] * b[j, ...] for a (p, *S), b (q, *S)
// and out (p, q, *S), C-contiguous, of out's dtype: a separable conv's dense kernel from
// its factors, without numpy's broadcasting set-up (a few us a call on a small kernel).
void outer_rows(const py::array& a, const py::array& b, py::array& out) {
  const char* fn = "outer_rows";
  const int item = common_float(out, {&a, &b}, fn);
  const auto fail = [&](const std::string& why) { throw py::value_error(std::string("_core.") + fn + ": " + why); };
  const py::ssize_t r = a.ndim();
  bool shapes = r >= 1 && b.ndim() == r && out.ndim() == r + 1;
  idx_t n = 1;
  for (py::ssize_t i = 1; shapes && i < r; ++i) {
    shapes = b.shape(i) == a.shape(i) && out.shape(i + 1) == a.shape(i);
    n *= a.shape(i);
  }
  if (!shapes || out.shape(0) != a.shape(0) || out.shape(1) != b.shape(0))
    fail("a, b must be (p, *S), (q, *S) and out (p, q, *S)");
  const idx_t p = a.shape(0), q = b.shape(0);
  constexpr int kC = py::array::c_style | py::detail::npy_api::NPY_ARRAY_ALIGNED_;
  if ((a.flags() & kC) != kC || (b.flags() & kC) != kC || (out.flags() & kC) != kC || !out.writeable())
    fail("a, b and out must be C-contiguous and aligned, and out writeable");
  if (item == 4)
    outer_rows_typed(static_cast<const float*>(a.data()), static_cast<const float*>(b.data()),
                     static_cast<float*>(out.mutable_data()), p, q, n);
  else
    outer_rows_typed(static_cast<const double*>(a.data()), static_cast<const double*>(b.data()),
                     static_cast<double*>(out.mutable_data()), p, q, n);
}

}  // namespace

void def_contract(py::module_& m) {
  py::register_local_exception<std::invalid_argument>(m, "NoNativePath", PyExc_NotImplementedError);
  // The epilogue's and windows' arguments may be given by position: pybind11 looks a
  // keyword argument up by name, ~1.5 us a call of four (docs/tuning.md).
  m.def("contract", &contract, py::arg("a"), py::arg("a_labels"), py::arg("b"), py::arg("b_labels"),
        py::arg("out"), py::arg("out_labels"), py::arg("bias") = py::none(),
        py::arg("bias_labels") = "", py::arg("activation") = "", py::arg("windows") = std::vector<Window>{},
        py::arg("view") = py::none());
  m.def("contract_chain", &contract_chain, py::arg("a"), py::arg("a_labels"), py::arg("b"), py::arg("b_labels"),
        py::arg("d_labels"), py::arg("c"), py::arg("c_labels"), py::arg("out"), py::arg("out_labels"),
        py::arg("bias") = py::none(), py::arg("bias_labels") = "", py::arg("activation") = "");
  m.def("contract_staged", &contract_staged, py::arg("a"), py::arg("a_labels"), py::arg("b"), py::arg("b_labels"),
        py::arg("d_labels"), py::arg("d2_labels"), py::arg("c"), py::arg("c_labels"), py::arg("out"),
        py::arg("out_labels"), py::arg("block"), py::arg("block_bytes"));
  m.def("plan", &plan, py::arg("a"), py::arg("a_labels"), py::arg("b"), py::arg("b_labels"), py::arg("out_labels"),
        py::kw_only(), py::arg("bias") = py::none(), py::arg("bias_labels") = "", py::arg("activation") = "");
  m.def("depthwise_window", &depthwise_window, py::arg("x"), py::arg("w"), py::arg("out"), py::arg("stride"),
        py::arg("dilation"), py::arg("pad_lo"), py::arg("bias") = py::none(),
        py::arg("activation") = "");
  m.def("outer_rows", &outer_rows, py::arg("a"), py::arg("b"), py::arg("out"));
  m.def("plan_chain", &plan_chain, py::arg("a"), py::arg("a_labels"), py::arg("b"), py::arg("b_labels"),
        py::arg("d_labels"), py::arg("c"), py::arg("c_labels"), py::arg("out_labels"));
}

}  // namespace bindings
}  // namespace fastconv
