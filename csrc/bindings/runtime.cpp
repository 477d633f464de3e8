// Runtime control: the ISA level, threads, the denormal mode, interrupts, configuration.
#include <pybind11/stl.h>

#include <algorithm>
#include <limits>
#include <string>

#include "arch/fpenv.h"
#include "bindings/common.h"
#include "dispatch.h"
#include "engine/paths/paths.h"

// threadpoolctl's controller for fastconv (python/fastconv/_config.py) calls these
// through ctypes, as its OpenMP controller calls omp_get_max_threads and
// omp_set_num_threads, and finds the library by them: with PyInit__core, the only
// symbols the module exports.
extern "C" {
__attribute__((visibility("default"))) int fastconv_default_threads() {
  return fastconv::parallel::default_threads();
}
__attribute__((visibility("default"))) void fastconv_set_default_threads(int n) {
  fastconv::parallel::set_default_threads(n);
}
}

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
  m.def("gemm_blocking", [](const std::string& dtype, long long n) {
    const KernelTable& k = kernels();
    const GemmBlocking& b = dtype == "float64" ? KernelOf<double>::gemms(k, idx_t(n)).blocking
                                               : KernelOf<float>::gemms(k, idx_t(n)).blocking;
    py::dict d;
    d["mr"] = b.mr, d["nr"] = b.nr, d["w"] = b.w, d["kc"] = b.kc, d["l2"] = b.l2, d["in_place_tiles"] = b.in_place_tiles;
    return d;
  }, py::arg("dtype") = "float32", py::arg("n") = 0,
     "Register tile and cache blocks of the GEMM kernel in use for a GEMM of n columns (0: the ISA's default tile).");
  m.def("set_gemm_b_in_place", [](const std::string& mode) {
    static const char* const names[] = {"tuned", "never", "always"};  // engine::BInPlace's order
    const std::string prev = names[int(engine::b_in_place())];
    for (int i = 0; i < 3; ++i)
      if (mode == names[i]) {
        engine::set_b_in_place(engine::BInPlace(i));
        return prev;
      }
    throw py::value_error("mode must be 'tuned', 'never' or 'always', not '" + mode + "'");
  }, py::arg("mode"),
     "For tests: where the GEMM path reads B in place instead of packing it ('tuned': per the tile's "
     "in_place_tiles; 'never'; 'always', where B's layout allows). Returns the previous mode.");
  m.def("gemm_b_in_place_runs", &engine::b_in_place_runs,
        "For tests: GEMM regions that have read B in place since the module loaded.");
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
  }, py::arg("n"), "Use n threads (0: follow default_threads() again); returns the previous count.");
  m.def("default_threads", &parallel::default_threads,
        "The calling thread's default count (OMP_NUM_THREADS, else the CPUs), as omp_get_max_threads().");
  m.def("set_default_threads", [](long long n) {
    parallel::set_default_threads(int(std::clamp<long long>(n, 0, std::numeric_limits<int>::max())));
  }, py::arg("n"), "Set the calling thread's default count (0: the initial one), as omp_set_num_threads().");
  m.def("flush_denormal", &parallel::flush_denormal);
  m.def("set_flush_denormal", [](bool on) {
    if (on && !arch::kCanFlushDenormals) return false;
    parallel::set_flush_denormal(on);
    return true;
  }, py::arg("on"), "Flush denormals to zero in the threads of a call; false where the CPU cannot.");
}

}  // namespace bindings
}  // namespace fastconv
