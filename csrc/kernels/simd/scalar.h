// The scalar SIMD traits (one lane): the portable baseline, compiled without ISA flags.
#pragma once
#include <cmath>

#include "kernels/contracts.h"

namespace fastconv {
namespace scalar {

template <class T>
struct Vec {
  static constexpr int W = 1;
  using reg = T;
  using Perm = int;
  using Mask = bool;
  static reg zero() { return T(0); }
  static reg load(const T* p) { return *p; }
  static void store(T* p, reg v) { *p = v; }
  static reg broadcast(const T* p) { return *p; }
  static void stream(T* p, reg v) { *p = v; }
  static reg fmadd(reg a, reg b, reg c) { return a * b + c; }
  static reg pin(reg v) { return v; }  // (simd/avx2.h)
  static reg add(reg a, reg b) { return a + b; }
  // For the activations (impl/activation.h).
  static reg set1(T v) { return v; }
  static reg mul(reg a, reg b) { return a * b; }
  static reg sub(reg a, reg b) { return a - b; }
  static reg div(reg a, reg b) { return a / b; }
  static reg max(reg a, reg b) { return a > b ? a : b; }
  static reg min(reg a, reg b) { return a < b ? a : b; }
  static reg round(reg a) { return std::nearbyint(a); }
  static reg ldexp(reg p, reg n) { return std::ldexp(p, int(n)); }  // n integral
  static constexpr bool kLdexpSaturates = true;  // inf or 0 past T's range
  static Mask lt(reg a, reg b) { return a < b; }
  static reg maskload(const T* p, idx_t n) { return n > 0 ? *p : T(0); }
  static void maskstore(T* p, idx_t n, reg v) { if (n > 0) *p = v; }
  static T hsum(reg v) { return v; }
  static Perm make_perm(const int*) { return 0; }
  static Mask make_mask(const bool* s) { return s[0]; }
  static reg blend(reg a, reg b, Mask m) { return m ? b : a; }
  template <int M> static reg blend_imm(reg a, reg b) { return M & 1 ? b : a; }
  static reg permute(Perm, reg v) { return v; }
  static reg permute_merge(reg acc, Mask m, Perm, reg v) { return m ? v : acc; }
};

}  // namespace scalar
}  // namespace fastconv
