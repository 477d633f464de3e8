// The AVX-512 (F/BW/DQ/VL) SIMD traits (16 float / 8 double lanes); for TUs compiled
// with the AVX-512 flags.
#pragma once
// GCC 12's _mm512_undefined_ps/pd() initialise a variable from itself, which
// -Wuninitialized reports at every inlined permutexvar (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include "kernels/contracts.h"

namespace fastconv {
namespace avx512 {

template <class T> struct Vec;

template <>
struct Vec<float> {
  static constexpr int W = 16;
  using reg = __m512;
  using Perm = __m512i;
  using Mask = __mmask16;
  static reg zero() { return _mm512_setzero_ps(); }
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
  static reg broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static void stream(float* p, reg v) { _mm512_stream_ps(p, v); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  // v kept in a register: the compiler may not fold its load into each instruction that
  // reads it (impl/tapreduce.h: slide_pixels).
  static reg pin(reg v) {
    asm("" : "+v"(v));
    return v;
  }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg set1(float v) { return _mm512_set1_ps(v); }
  static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm512_sub_ps(a, b); }
  static reg div(reg a, reg b) { return _mm512_div_ps(a, b); }
  static reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
  static reg min(reg a, reg b) { return _mm512_min_ps(a, b); }
  static reg round(reg a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static reg ldexp(reg p, reg n) { return _mm512_scalef_ps(p, n); }  // p 2^n, n integral
  static constexpr bool kLdexpSaturates = true;  // inf or 0 past float's range
  static Mask lt(reg a, reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static __mmask16 lanes(idx_t n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1u); }
  static reg maskload(const float* p, idx_t n) { return _mm512_maskz_loadu_ps(lanes(n), p); }
  static void maskstore(float* p, idx_t n, reg v) { _mm512_mask_storeu_ps(p, lanes(n), v); }
  static float hsum(reg v) { return _mm512_reduce_add_ps(v); }
  static Perm make_perm(const int* src) { return _mm512_loadu_si512(src); }
  static Mask make_mask(const bool* s) {
    unsigned m = 0;
    for (int l = 0; l < 16; ++l) m |= unsigned(s[l]) << l;
    return __mmask16(m);
  }
  static reg blend(reg a, reg b, Mask m) { return _mm512_mask_blend_ps(m, a, b); }
  template <int M> static reg blend_imm(reg a, reg b) { return _mm512_mask_blend_ps(__mmask16(M), a, b); }
  static reg permute(Perm p, reg v) { return _mm512_permutexvar_ps(p, v); }
  static reg permute_merge(reg acc, Mask m, Perm p, reg v) { return _mm512_mask_permutexvar_ps(acc, m, p, v); }
};

template <>
struct Vec<double> {
  static constexpr int W = 8;
  using reg = __m512d;
  using Perm = __m512i;
  using Mask = __mmask8;
  static reg zero() { return _mm512_setzero_pd(); }
  static reg load(const double* p) { return _mm512_loadu_pd(p); }
  static void store(double* p, reg v) { _mm512_storeu_pd(p, v); }
  static reg broadcast(const double* p) { return _mm512_set1_pd(*p); }
  static void stream(double* p, reg v) { _mm512_stream_pd(p, v); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_pd(a, b, c); }
  static reg pin(reg v) {  // as Vec<float>::pin
    asm("" : "+v"(v));
    return v;
  }
  static reg add(reg a, reg b) { return _mm512_add_pd(a, b); }
  static reg set1(double v) { return _mm512_set1_pd(v); }
  static reg mul(reg a, reg b) { return _mm512_mul_pd(a, b); }
  static reg sub(reg a, reg b) { return _mm512_sub_pd(a, b); }
  static reg div(reg a, reg b) { return _mm512_div_pd(a, b); }
  static reg max(reg a, reg b) { return _mm512_max_pd(a, b); }
  static reg min(reg a, reg b) { return _mm512_min_pd(a, b); }
  static reg round(reg a) { return _mm512_roundscale_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static reg ldexp(reg p, reg n) { return _mm512_scalef_pd(p, n); }  // p 2^n, n integral
  static constexpr bool kLdexpSaturates = true;
  static Mask lt(reg a, reg b) { return _mm512_cmp_pd_mask(a, b, _CMP_LT_OQ); }
  static __mmask8 lanes(idx_t n) { return n >= 8 ? __mmask8(0xFF) : __mmask8((1u << n) - 1u); }
  static reg maskload(const double* p, idx_t n) { return _mm512_maskz_loadu_pd(lanes(n), p); }
  static void maskstore(double* p, idx_t n, reg v) { _mm512_mask_storeu_pd(p, lanes(n), v); }
  static double hsum(reg v) { return _mm512_reduce_add_pd(v); }
  static Perm make_perm(const int* src) {
    long long m[8];
    for (int l = 0; l < 8; ++l) m[l] = src[l];
    return _mm512_loadu_si512(m);
  }
  static Mask make_mask(const bool* s) {
    unsigned m = 0;
    for (int l = 0; l < 8; ++l) m |= unsigned(s[l]) << l;
    return __mmask8(m);
  }
  static reg blend(reg a, reg b, Mask m) { return _mm512_mask_blend_pd(m, a, b); }
  template <int M> static reg blend_imm(reg a, reg b) { return _mm512_mask_blend_pd(__mmask8(M), a, b); }
  static reg permute(Perm p, reg v) { return _mm512_permutexvar_pd(p, v); }
  static reg permute_merge(reg acc, Mask m, Perm p, reg v) { return _mm512_mask_permutexvar_pd(acc, m, p, v); }
};

}  // namespace avx512
}  // namespace fastconv
