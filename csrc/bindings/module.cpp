// fastconv._core: the native core's Python module (private): contractions, runtime
// control, outputs' memory.
#include "bindings/common.h"

PYBIND11_MODULE(_core, m) {
  namespace b = fastconv::bindings;
  m.doc() = "fastconv native core (private): kernels, dispatch and the contraction engine";
  b::def_contract(m);
  b::def_runtime(m);
  b::def_memory(m);
  m.attr("version") = FASTCONV_VERSION;
#if defined(__VERSION__)
  m.attr("compiler") = __VERSION__;
#else
  m.attr("compiler") = "unknown";
#endif
  b::init_main_thread();
}
