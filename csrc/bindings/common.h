// What the binding files share: the operand check the engine needs, and an engine call
// made with the GIL released and interruptible by Ctrl-C.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <limits>
#include <string>

#include "engine/contraction.h"
#include "engine/parallel.h"

namespace fastconv {
namespace bindings {

namespace py = pybind11;

// The itemsize of a float32 or float64 dtype in native byte order; 0 for any other.
int native_float(const py::dtype& dt);

// An operand as the engine reads it, checked for what the engine itself needs: labels
// for every axis, data aligned to the itemsize, strides in whole elements (the Python
// layer copies operands that are not, and leaves such an out= to numpy). fn: the
// caller's name, what: "a", "b", ...
engine::Operand operand(const py::array& arr, const std::string& labels, const char* fn, const char* what);

// The optional second operand: None, or a numpy array (anything else is a TypeError).
py::object optional_array(const py::object& obj, const char* fn);

// Whether this is the interpreter's main thread (the one Python runs signal handlers on).
bool on_main_thread();
void init_main_thread();

// Polled between blocks of a long call made on the main thread: a pending Ctrl-C
// stops it. The KeyboardInterrupt (or whatever a handler raised) stays set.
bool poll_signals(void*);

// Runs call() (an engine call returning an error string) with the GIL released,
// interruptible from the main thread. Interrupted, out is filled with NaN (nothing in
// it can pass for a result) and the handler's exception is raised.
template <class F>
std::string interruptible(py::array& out, F&& call) {
  std::string err;
  bool interrupted;
  {
    parallel::InterruptScope scope(on_main_thread() ? &poll_signals : nullptr, nullptr);
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

void def_contract(py::module_& m);
void def_runtime(py::module_& m);
void def_memory(py::module_& m);

}  // namespace bindings
}  // namespace fastconv
