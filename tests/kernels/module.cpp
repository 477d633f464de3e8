// fastconv._kernel_tests: every microkernel of registry.inc, for every table this CPU
// runs (dispatch's levels) and the emulated AVX-512 one, listed, checked against naive
// loops (testers.h) and timed in cache (bench/kernels.py). Built beside _core from the
// same kernel objects (CMakeLists.txt).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "dispatch.h"
#include "tests/kernels/testers.h"

namespace py = pybind11;
using namespace fastconv;

namespace fastconv {
namespace emu {
const IsaKernels& kernels();
}
}  // namespace fastconv

namespace {

// One registry line of one table: its memory-bound kernels or one GEMM tile, per dtype.
struct Entry {
  std::string name, isa, dtype, family;
  bool emulated;
  const MemKernels<float>* mem_f32 = nullptr;
  const MemKernels<double>* mem_f64 = nullptr;
  const GemmKernels<float>* gemm_f32 = nullptr;
  const GemmKernels<double>* gemm_f64 = nullptr;
};

void add(std::vector<Entry>& v, const IsaKernels& k, bool emulated) {
  const std::string pre = emulated ? "emulated " : "", isa = emulated ? "avx512" : k.isa;
  v.push_back({pre + isa + " float membound", isa, "float32", "membound", emulated, &k.mem_f32});
  v.push_back({pre + isa + " double membound", isa, "float64", "membound", emulated, nullptr, &k.mem_f64});
  for (const auto& g : k.gemm_f32) v.push_back({pre + g.name, isa, "float32", "gemm", emulated, nullptr, nullptr, &g});
  for (const auto& g : k.gemm_f64)
    v.push_back({pre + g.name, isa, "float64", "gemm", emulated, nullptr, nullptr, nullptr, &g});
}

const std::vector<Entry>& entries() {
  static const std::vector<Entry> v = [] {
    std::vector<Entry> e;
    for (const IsaKernels* k : supported_kernels()) add(e, *k, false);
    add(e, emu::kernels(), true);
    return e;
  }();
  return v;
}

const Entry& find(const std::string& name) {
  for (const Entry& e : entries())
    if (e.name == name) return e;
  throw py::key_error("no kernel named '" + name + "'");
}

std::vector<std::string> check(const std::string& name) {
  const Entry& e = find(name);
  testers::Report r;
  py::gil_scoped_release release;
  if (e.mem_f32) testers::check_membound(r, *e.mem_f32);
  if (e.mem_f64) testers::check_membound(r, *e.mem_f64);
  if (e.gemm_f32) testers::check_gemm_kernels(r, *e.gemm_f32);
  if (e.gemm_f64) testers::check_gemm_kernels(r, *e.gemm_f64);
  if (r.count > testers::Report::kKept) r.failures.push_back(std::to_string(r.count) + " failures in all");
  return r.failures;
}

// Median seconds of a call, over blocks of calls for about `seconds` in all.
template <class F>
double median_call(F&& f, double seconds) {
  using Clock = std::chrono::steady_clock;
  f();
  std::vector<double> blocks;
  const auto end = Clock::now() + std::chrono::duration<double>(seconds);
  do {
    const auto t0 = Clock::now();
    for (int i = 0; i < 64; ++i) f();
    blocks.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / 64);
  } while (Clock::now() < end || blocks.size() < 5);
  std::nth_element(blocks.begin(), blocks.begin() + long(blocks.size() / 2), blocks.end());
  return blocks[blocks.size() / 2];
}

// A tile kernel on data in L1/L2: runs of 8 tiles over KC of packed B.
template <class T>
py::dict bench_gemm(const GemmKernels<T>& k, double seconds) {
  const GemmBlocking& bl = k.blocking;
  const idx_t MR = bl.mr, NR = bl.nr, KC = bl.kc, ntiles = 8;
  std::vector<T> a(size_t(ntiles * MR * KC), T(1e-3)), b(size_t(KC * NR), T(1e-3)), c(size_t(ntiles * MR * NR));
  std::vector<const T*> rows;
  for (idx_t i = 0; i < ntiles * MR; ++i) rows.push_back(a.data() + i * KC);
  const idx_t off = 0;
  GemmArgs<T> g{rows.data(), &off, &KC, 1, 1, b.data(), c.data(), NR, 1, MR, NR, false, false, false, ntiles};
  const double s = median_call([&] { k.gemm(g); }, seconds);
  py::dict d;
  d["gflops"] = 2.0 * double(ntiles * MR * NR * KC) / s / 1e9;
  d["tile"] = std::to_string(MR) + "x" + std::to_string(NR);
  return d;
}

// The memory-bound kernels on data in L2: GB/s of the bytes each reads and writes.
template <class T>
py::dict bench_mem(const MemKernels<T>& k, double seconds) {
  const idx_t L = 64, ntaps = 4, npix = 256, n = 16384;
  std::vector<T> x(size_t(npix * L * ntaps + 64), T(1)), w(size_t(ntaps * L), T(1)), out(size_t(npix * L));
  std::vector<idx_t> taps;
  for (idx_t t = 0; t < ntaps; ++t) taps.push_back(t * L);
  std::vector<T> scratch(static_cast<size_t>(L));
  TapReduceArgs<T> ta{x.data(), L * ntaps, npix, taps.data(), ntaps, w.data(), L, 1, out.data(), L, scratch.data()};
  const double st = median_call([&] { k.tapreduce(ta); }, seconds / 3);
  std::vector<T> u(size_t(n), T(1)), v(size_t(n), T(1));
  volatile T sink = 0;
  const double sd = median_call([&] { sink = sink + k.dot(u.data(), v.data(), n, 1); }, seconds / 3);
  const idx_t R = 3, C = 80, count = 64;
  std::vector<T> src(size_t(R * C * count)), dst(size_t(R * C * count));
  ZipArgs<T> za{src.data(), C, R, C, dst.data(), count, R * C, R * C, false};
  const double sz = median_call([&] { k.zip(za); }, seconds / 3);
  const double item = double(sizeof(T));
  py::dict d;
  d["tapreduce_gbps"] = double(npix * L * (ntaps + 1)) * item / st / 1e9;
  d["dot_gbps"] = 2.0 * double(n) * item / sd / 1e9;
  d["zip_gbps"] = 2.0 * double(R * C * count) * item / sz / 1e9;
  return d;
}

py::dict bench(const std::string& name, double seconds) {
  const Entry& e = find(name);
  if (e.gemm_f32) return bench_gemm(*e.gemm_f32, seconds);
  if (e.gemm_f64) return bench_gemm(*e.gemm_f64, seconds);
  if (e.mem_f32) return bench_mem(*e.mem_f32, seconds);
  return bench_mem(*e.mem_f64, seconds);
}

}  // namespace

PYBIND11_MODULE(_kernel_tests, m) {
  m.doc() = "fastconv's microkernels, every registry line of every table this CPU runs and the emulated one";
  m.def("kernels", [] {
    py::list l;
    for (const Entry& e : entries()) {
      py::dict d;
      d["name"] = e.name, d["isa"] = e.isa, d["dtype"] = e.dtype, d["family"] = e.family, d["emulated"] = e.emulated;
      const GemmBlocking* bl = e.gemm_f32 ? &e.gemm_f32->blocking : e.gemm_f64 ? &e.gemm_f64->blocking : nullptr;
      if (bl) d["mr"] = bl->mr, d["nr"] = bl->nr, d["w"] = bl->w, d["kc"] = bl->kc;
      l.append(d);
    }
    return l;
  }, "Every kernel entry: its name, ISA, dtype, family and (GEMM) tile.");
  m.def("check", &check, py::arg("name"), "The failures of one entry's kernels against naive loops (empty: none).");
  m.def("bench", &bench, py::arg("name"), py::arg("seconds") = 0.2, "One entry's kernels timed in cache.");
}
