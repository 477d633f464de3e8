// Runtime control: the ISA level, threads, the denormal mode, interrupts, configuration.
#include <pybind11/stl.h>

#include <string>

#include "arch/fpenv.h"
#include "bindings/common.h"
#include "dispatch.h"

namespace fastconv {
namespace bindings {

namespace {
unsigned long g_main_thread = 0;
}  // namespace

void init_main_thread() {
  g_main_thread = py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
}

bool on_main_thread() { return PyThread_get_thread_ident() == g_main_thread; }

bool poll_signals(void*) {
  py::gil_scoped_acquire gil;
  return PyErr_CheckSignals() != 0;
}

void def_runtime(py::module_& m) {
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
}

}  // namespace bindings
}  // namespace fastconv
