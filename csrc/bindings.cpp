// fastconv._core: validate, pick the dtype, release the GIL, call the engine.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "arch/fpenv.h"
#include "dispatch.h"
#include "engine.h"
#include "engine/parallel.h"
#include "engine/scratch.h"

namespace py = pybind11;
using namespace fastconv;

namespace {

// The optional second operand: None, or a numpy array (anything else is a TypeError,
// never reinterpreted).
py::array optional_array(const py::object& obj, const char* fn) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(std::string(fn) + ": b must be a numpy.ndarray or None, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  return py::reinterpret_borrow<py::array>(obj);
}

// The engine reads and writes elements in place: each operand's data is aligned to
// its itemsize and its strides are multiples of it (the Python layer copies operands
// that are not, and leaves such an out= to numpy).
engine::Operand describe(const py::array& arr, const std::string& labels, const char* what) {
  engine::Operand op;
  op.labels = labels;
  const auto item = arr.itemsize();
  if (py::ssize_t(labels.size()) != arr.ndim())
    throw py::value_error(std::string("_core.contract: ") + what + " has " + std::to_string(arr.ndim()) +
                          " axes but " + std::to_string(labels.size()) + " labels");
  if (reinterpret_cast<std::uintptr_t>(arr.data()) % std::uintptr_t(item) != 0)
    throw py::value_error(std::string("_core.contract: ") + what + " is not aligned to its itemsize");
  for (py::ssize_t i = 0; i < arr.ndim(); ++i) {
    if (arr.shape(i) == 1) {  // never stepped along: any stride will do
      op.shape.push_back(1);
      op.strides.push_back(0);
      continue;
    }
    if (arr.strides(i) % item != 0)
      throw py::value_error(std::string("_core.contract: ") + what +
                            " has a stride that is not a multiple of its itemsize");
    op.shape.push_back(arr.shape(i));
    op.strides.push_back(arr.strides(i) / item);
  }
  return op;
}

// The itemsize of a float32 or float64 dtype in native byte order; 0 for any other.
int native_float(const py::dtype& dt) {
  const char order = dt.byteorder();
  constexpr char kNative = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? '<' : '>';
  if (dt.kind() != 'f' || (order != '=' && order != '|' && order != kNative)) return 0;
  return dt.itemsize() == 4 || dt.itemsize() == 8 ? int(dt.itemsize()) : 0;
}

bool same_float(const py::dtype& a, const py::dtype& b) {
  const int n = native_float(a);
  return n != 0 && n == native_float(b);
}

// out's dtype: true for float32, false for float64; anything else is a TypeError.
bool out_is_f32(py::array& out, const char* fn) {
  const auto dt = out.dtype();
  const bool f32 = native_float(dt) == 4, f64 = native_float(dt) == 8;
  if (!f32 && !f64)
    throw py::type_error(std::string(fn) + ": out dtype must be float32 or float64, got " + std::string(py::str(dt)));
  if (!out.writeable()) throw py::value_error(std::string(fn) + ": out is read-only");
  return f32;
}

// Polled between blocks of a long call made on the interpreter's main thread (the
// one Python runs signal handlers on): a pending Ctrl-C stops the call. The
// KeyboardInterrupt (or whatever a handler raised) stays set for the caller.
bool poll_signals(void*) {
  py::gil_scoped_acquire gil;
  return PyErr_CheckSignals() != 0;
}

unsigned long g_main_thread = 0;

// Runs an engine call with the GIL released, interruptible from the main thread.
// Interrupted, out is filled with NaN (nothing in it can pass for a result) and the
// handler's exception is raised.
template <class F>
std::string interruptible(py::array& out, F&& call) {
  const bool main = PyThread_get_thread_ident() == g_main_thread;
  std::string err;
  bool interrupted;
  {
    parallel::InterruptScope scope(main ? &poll_signals : nullptr, nullptr);
    {
      py::gil_scoped_release release;
      err = call();
    }
    interrupted = scope.interrupted();
  }
  if (interrupted) {
    py::error_already_set e;  // fetched: numpy's fill must not run with it pending
    out.attr("fill")(std::numeric_limits<double>::quiet_NaN());
    throw e;
  }
  return err;
}

template <class T>
std::string run_typed(const engine::Contraction& d, const py::array& a, const py::array* b, py::array& out) {
  const T* pa = static_cast<const T*>(a.data());
  const T* pb = b ? static_cast<const T*>(b->data()) : nullptr;
  T* po = static_cast<T*>(out.mutable_data());
  const KernelTable& kt = kernels();
  const int nt = parallel::get_num_threads();
  return interruptible(out, [&] { return engine::run<T>(d, pa, pb, po, kt, nt); });
}

// contract(a, a_labels, b, b_labels, out, out_labels): out = sum over the labels
// missing from out of a * b (b may be None: a permutation of a into out).
// Raises NotImplementedError when the engine has no path for the descriptor.
void contract(const py::array& a, const std::string& la, const py::object& b_obj, const std::string& lb,
              py::array& out, const std::string& lo) {
  const bool f32 = out_is_f32(out, "_core.contract");
  const auto dt = out.dtype();
  py::array b;
  const bool has_b = !b_obj.is_none();
  if (has_b) b = optional_array(b_obj, "_core.contract");
  if (!same_float(a.dtype(), dt) || (has_b && !same_float(b.dtype(), dt)))
    throw py::type_error("_core.contract: all operands must have out's dtype " + std::string(py::str(dt)));
  const engine::Operand oa = describe(a, la, "a"), oo = describe(out, lo, "out");
  engine::Operand ob;
  if (has_b) ob = describe(b, lb, "b");
  engine::Contraction d;
  std::string err = engine::classify(oa, has_b ? &ob : nullptr, oo, d);
  if (!err.empty()) throw py::value_error("_core.contract: " + err);
  err = f32 ? run_typed<float>(d, a, has_b ? &b : nullptr, out)
            : run_typed<double>(d, a, has_b ? &b : nullptr, out);
  if (!err.empty()) throw std::invalid_argument("no native path: " + err);
}

// A virtual C-contiguous operand with these labels, sizes taken from the inputs
// (strides only, no memory). A label in no input gets size -1 (classify rejects it).
engine::Operand virtual_operand(const std::string& labels, std::initializer_list<const engine::Operand*> inputs) {
  engine::Operand v;
  v.labels = labels;
  for (const char ch : labels) {
    idx_t size = -1;
    for (const engine::Operand* op : inputs) {
      const size_t i = op->labels.find(ch);
      if (i != std::string::npos) size = op->shape[i];
    }
    v.shape.push_back(size);
  }
  v.strides.assign(v.shape.size(), 1);
  for (size_t i = v.shape.size(); i-- > 1;) v.strides[i - 1] = v.strides[i] * std::max<idx_t>(v.shape[i], 0);
  return v;
}

template <class T>
std::string run_chain_typed(const engine::Contraction& d1, const engine::Contraction& d2, const py::array& a,
                            const py::array& b, const py::array& c, py::array& out) {
  const T* pa = static_cast<const T*>(a.data());
  const T* pb = static_cast<const T*>(b.data());
  const T* pc = static_cast<const T*>(c.data());
  T* po = static_cast<T*>(out.mutable_data());
  const KernelTable& kt = kernels();
  const int nt = parallel::get_num_threads();
  return interruptible(out, [&] { return engine::run_fused<T>(d1, d2, pa, pb, pc, po, kt, nt); });
}

// contract_chain(a, la, b, lb, d_labels, c, lc, out, lo): D = a x b (labels
// d_labels, never stored whole), then out = D x c. Raises NotImplementedError
// when the engine has no fused path for the pair.
void contract_chain(const py::array& a, const std::string& la, const py::array& b, const std::string& lb,
                    const std::string& ld, const py::array& c, const std::string& lc, py::array& out,
                    const std::string& lo) {
  const bool f32 = out_is_f32(out, "_core.contract_chain");
  const auto dt = out.dtype();
  if (!same_float(a.dtype(), dt) || !same_float(b.dtype(), dt) || !same_float(c.dtype(), dt))
    throw py::type_error("_core.contract_chain: all operands must have out's dtype " + std::string(py::str(dt)));
  const engine::Operand oa = describe(a, la, "a"), ob = describe(b, lb, "b"), oc = describe(c, lc, "c"),
                        oo = describe(out, lo, "out");
  // D: a virtual C-contiguous operand, sizes taken from a and b.
  const engine::Operand od = virtual_operand(ld, {&oa, &ob});
  for (const idx_t size : od.shape)
    if (size < 0) throw py::value_error("_core.contract_chain: a label of D is in no input");
  engine::Contraction d1, d2;
  std::string err = engine::classify(oa, &ob, od, d1);
  if (err.empty()) err = engine::classify(od, &oc, oo, d2);
  if (!err.empty()) throw py::value_error("_core.contract_chain: " + err);
  err = f32 ? run_chain_typed<float>(d1, d2, a, b, c, out) : run_chain_typed<double>(d1, d2, a, b, c, out);
  if (!err.empty()) throw std::invalid_argument("no native path: " + err);
}

// explain(a, la, b, lb, lo): how the engine would run a x b -> out (labels lo,
// C-contiguous): {"path", "supported", "reason", "batch", "m", "n", "k"}.
py::dict explain(const py::array& a, const std::string& la, const py::object& b_obj, const std::string& lb,
                 const std::string& lo) {
  const bool has_b = !b_obj.is_none();
  py::array b;
  if (has_b) b = optional_array(b_obj, "_core.explain");
  const engine::Operand oa = describe(a, la, "a");
  engine::Operand ob;
  if (has_b) ob = describe(b, lb, "b");
  const engine::Operand oo = virtual_operand(lo, {&oa, &ob});
  engine::Contraction d;
  const std::string err = engine::classify(oa, has_b ? &ob : nullptr, oo, d);
  if (!err.empty()) throw py::value_error("_core.explain: " + err);
  const auto [path, reason] = engine::explain(d, has_b);
  py::dict r;
  r["path"] = path, r["supported"] = reason.empty(), r["reason"] = reason;
  r["batch"] = d.batch_labels, r["m"] = d.m_labels, r["n"] = d.n_labels, r["k"] = d.k_labels;
  return r;
}

// Large outputs freed by their arrays, kept for the next array of the same size.
// A fresh block of many MiB comes from the OS (glibc maps it or grows the heap,
// and gives it back on free, depending on its history): its first touch costs a
// page fault per 4 KiB, which the kernels' stores then wait on (down2x2_96to192,
// 2 threads, in a process whose 4.8 MB outputs faulted 784 times a call: 9.0 ms,
// 5.7 ms without). A repeated layer reuses its block instead. Bounded: blocks of
// at least kMinBytes, at most kMaxBlocks of them and kMaxHeld bytes, oldest out.
class BlockCache {
 public:
  static constexpr size_t kMinBytes = size_t(1) << 20, kMaxBlocks = 4, kMaxHeld = size_t(256) << 20;
  void* take(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(m_);
      for (size_t i = blocks_.size(); i-- > 0;)
        if (blocks_[i].first == bytes) {
          void* p = blocks_[i].second;
          blocks_.erase(blocks_.begin() + long(i));
          held_ -= bytes;
          return p;
        }
    }
    return std::aligned_alloc(64, bytes);
  }
  void give(void* p, size_t bytes) {
    if (bytes < kMinBytes || bytes > kMaxHeld) return std::free(p);
    std::lock_guard<std::mutex> lock(m_);
    blocks_.emplace_back(bytes, p);
    held_ += bytes;
    while (blocks_.size() > kMaxBlocks || held_ > kMaxHeld) {
      std::free(blocks_.front().second);
      held_ -= blocks_.front().first;
      blocks_.erase(blocks_.begin());
    }
  }
  size_t release() {  // frees every kept block; returns their bytes
    std::lock_guard<std::mutex> lock(m_);
    const size_t freed = held_;
    for (const auto& b : blocks_) std::free(b.second);
    blocks_.clear();
    held_ = 0;
    return freed;
  }
  std::vector<size_t> sizes() {  // oldest first
    std::lock_guard<std::mutex> lock(m_);
    std::vector<size_t> r;
    for (const auto& b : blocks_) r.push_back(b.first);
    return r;
  }
  // Never destroyed: arrays may be freed during interpreter shutdown.
  static BlockCache& instance() {
    static BlockCache* c = new BlockCache;
    return *c;
  }

 private:
  std::mutex m_;
  std::vector<std::pair<size_t, void*>> blocks_;
  size_t held_ = 0;
};

// An uninitialised C-contiguous array whose data is 64-byte aligned (vector and
// non-temporal stores line up), its block returned to BlockCache with the array.
// The block's first line holds its size; the data starts on the next line.
// Only for float dtypes: uninitialised memory of a dtype that holds references
// (object) would be read as pointers.
py::array aligned_empty(const std::vector<py::ssize_t>& shape, const py::dtype& dt) {
  if (native_float(dt) == 0)
    throw py::type_error("aligned_empty: dtype must be float32 or float64, got " + std::string(py::str(dt)));
  size_t n = size_t(dt.itemsize());
  for (const auto s : shape) {
    if (s < 0) throw py::value_error("aligned_empty: negative dimension");
    if (s != 0 && n > (size_t(1) << 62) / size_t(s)) throw py::value_error("aligned_empty: array is too big");
    n *= size_t(s);
  }
  const size_t bytes = (n + 63) / 64 * 64 + 64;
  auto* block = static_cast<unsigned char*>(BlockCache::instance().take(bytes));
  if (!block) throw std::bad_alloc();
  std::memcpy(block, &bytes, sizeof bytes);
  py::capsule owner(block + 64, [](void* data) {
    unsigned char* b = static_cast<unsigned char*>(data) - 64;
    size_t size;
    std::memcpy(&size, b, sizeof size);
    BlockCache::instance().give(b, size);
  });
  return py::array(dt, shape, {}, block + 64, owner);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastconv native core (private): kernels, dispatch and the contraction engine";
  py::register_local_exception<std::invalid_argument>(m, "NoNativePath", PyExc_NotImplementedError);
  m.def("contract", &contract, py::arg("a"), py::arg("a_labels"), py::arg("b"), py::arg("b_labels"),
        py::arg("out"), py::arg("out_labels"));
  m.def("contract_chain", &contract_chain, py::arg("a"), py::arg("a_labels"), py::arg("b"), py::arg("b_labels"),
        py::arg("d_labels"), py::arg("c"), py::arg("c_labels"), py::arg("out"), py::arg("out_labels"));
  m.def("explain", &explain, py::arg("a"), py::arg("a_labels"), py::arg("b"), py::arg("b_labels"),
        py::arg("out_labels"));
  m.def("aligned_empty", &aligned_empty, py::arg("shape"), py::arg("dtype"));
  m.def("block_cache", [] {
    py::dict d;
    d["sizes"] = BlockCache::instance().sizes();
    d["max_blocks"] = BlockCache::kMaxBlocks, d["max_bytes"] = BlockCache::kMaxHeld;
    d["min_block"] = BlockCache::kMinBytes;
    return d;
  }, "Freed output blocks kept for reuse (their sizes in bytes, oldest first), and the limits.");
  m.def("isa", &current_isa, "The SIMD level in use.");
  m.def("best_isa", &best_isa, "The highest SIMD level this CPU supports.");
  m.def("supported_isas", &supported_isas, "SIMD levels this CPU supports, lowest first.");
  m.def("known_isas", &known_isas, "Every SIMD level of this architecture, lowest first.");
  m.def("set_isa", [](const std::string& name) {
    const std::string err = set_isa(name);
    if (!err.empty()) throw py::value_error(err);
  });
  m.def("gemm_blocking", [](const std::string& dtype) {
    const KernelTable& k = kernels();
    const GemmBlocking& b = dtype == "float64" ? k.gemm_f64.blocking : k.gemm_f32.blocking;
    py::dict d;
    d["mr"] = b.mr, d["nr"] = b.nr, d["w"] = b.w, d["kc"] = b.kc, d["l2"] = b.l2;
    return d;
  }, py::arg("dtype") = "float32", "Register tile and cache blocks of the GEMM kernel in use.");
  m.def("get_num_threads", &parallel::get_num_threads);
  m.def("max_threads", &parallel::max_threads, "The largest thread count set_num_threads accepts.");
  m.def("hardware_threads", &parallel::hardware_threads, "CPUs this process may run on.");
  m.def("pool_workers", &parallel::pool_workers, "Worker threads started so far.");
  m.def("l2_cache_bytes", &l2_cache_bytes, "L2 bytes per core, as detected (outputs streamed past it).");
  m.def("set_num_threads", [](long long n) {
    if (n < 0 || n > parallel::max_threads())
      throw py::value_error("set_num_threads: n must be between 1 and " + std::to_string(parallel::max_threads()) +
                            ", got " + std::to_string(n));
    return parallel::set_num_threads(int(n));
  }, py::arg("n"), "Use n threads (0: follow OpenMP's count again); returns the previous count.");
  m.def("flush_denormal", &parallel::flush_denormal);
  m.def("set_flush_denormal", [](bool on) {
    if (on && !arch::kCanFlushDenormals) return false;
    parallel::set_flush_denormal(on);
    return true;
  }, py::arg("on"), "Flush denormals to zero in the threads of a call; false where the CPU cannot.");
  m.def("release_memory", [] {
    size_t freed = BlockCache::instance().release();
    {
      py::gil_scoped_release release;
      freed += scratch::thread_bytes();
      scratch::release_thread();
      static std::atomic<size_t> worker_bytes;
      worker_bytes = 0;
      parallel::on_every_worker([] {
        worker_bytes += scratch::thread_bytes();
        scratch::release_thread();
      });
      freed += worker_bytes;
    }
    return freed;
  }, "Frees the kept output blocks and every thread's scratch; returns the bytes freed.");
  m.def("scratch_bytes", &scratch::thread_bytes, "Scratch bytes the calling thread keeps between calls.");
  m.attr("version") = FASTCONV_VERSION;
#if defined(__VERSION__)
  m.attr("compiler") = __VERSION__;
#else
  m.attr("compiler") = "unknown";
#endif
  m.attr("openmp") = int(_OPENMP);
  g_main_thread = py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
}
