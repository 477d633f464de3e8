// The AVX2 + FMA SIMD traits (8 float / 4 double lanes); for TUs compiled with -mavx2 -mfma.
#pragma once
#include <immintrin.h>

#include "kernels/contracts.h"

namespace fastconv {
namespace avx2 {

template <class T> struct Vec;

template <>
struct Vec<float> {
  static constexpr int W = 8;
  using reg = __m256;
  using Perm = __m256i;
  using Mask = __m256;
  static reg zero() { return _mm256_setzero_ps(); }
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
  static reg broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static void stream(float* p, reg v) { _mm256_stream_ps(p, v); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  // v kept in a register: the compiler may not fold its load into each instruction that
  // reads it (impl/tapreduce.h: slide_pixels).
  static reg pin(reg v) {
    asm("" : "+v"(v));
    return v;
  }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg set1(float v) { return _mm256_set1_ps(v); }
  static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  static reg sub(reg a, reg b) { return _mm256_sub_ps(a, b); }
  static reg div(reg a, reg b) { return _mm256_div_ps(a, b); }
  static reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
  static reg min(reg a, reg b) { return _mm256_min_ps(a, b); }
  static reg round(reg a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static reg ldexp(reg p, reg n) {  // p 2^n, n integral, 2^n a normal number
    return _mm256_mul_ps(
        p, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23)));
  }
  static Mask lt(reg a, reg b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static __m256i lanes(idx_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static reg maskload(const float* p, idx_t n) { return _mm256_maskload_ps(p, lanes(n)); }
  static void maskstore(float* p, idx_t n, reg v) { _mm256_maskstore_ps(p, lanes(n), v); }
  static float hsum(reg v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static Perm make_perm(const int* src) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src)); }
  static Mask make_mask(const bool* s) {
    alignas(32) int m[8];
    for (int l = 0; l < 8; ++l) m[l] = s[l] ? -1 : 0;
    return _mm256_castsi256_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(m)));
  }
  static reg blend(reg a, reg b, Mask m) { return _mm256_blendv_ps(a, b, m); }
  template <int M> static reg blend_imm(reg a, reg b) { return _mm256_blend_ps(a, b, M); }
  static reg permute(Perm p, reg v) { return _mm256_permutevar8x32_ps(v, p); }
  static reg permute_merge(reg acc, Mask m, Perm p, reg v) {
    return _mm256_blendv_ps(acc, _mm256_permutevar8x32_ps(v, p), m);
  }
};

template <>
struct Vec<double> {
  static constexpr int W = 4;
  using reg = __m256d;
  using Perm = __m256i;  // 32-bit lane pairs
  using Mask = __m256d;
  static reg zero() { return _mm256_setzero_pd(); }
  static reg load(const double* p) { return _mm256_loadu_pd(p); }
  static void store(double* p, reg v) { _mm256_storeu_pd(p, v); }
  static reg broadcast(const double* p) { return _mm256_broadcast_sd(p); }
  static void stream(double* p, reg v) { _mm256_stream_pd(p, v); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_pd(a, b, c); }
  static reg pin(reg v) {  // as Vec<float>::pin
    asm("" : "+v"(v));
    return v;
  }
  static reg add(reg a, reg b) { return _mm256_add_pd(a, b); }
  static reg set1(double v) { return _mm256_set1_pd(v); }
  static reg mul(reg a, reg b) { return _mm256_mul_pd(a, b); }
  static reg sub(reg a, reg b) { return _mm256_sub_pd(a, b); }
  static reg div(reg a, reg b) { return _mm256_div_pd(a, b); }
  static reg max(reg a, reg b) { return _mm256_max_pd(a, b); }
  static reg min(reg a, reg b) { return _mm256_min_pd(a, b); }
  static reg round(reg a) { return _mm256_round_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static reg ldexp(reg p, reg n) {  // p 2^n, n integral, 2^n a normal number
    const __m256i e = _mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_cvtpd_epi32(n)), _mm256_set1_epi64x(1023));
    return _mm256_mul_pd(p, _mm256_castsi256_pd(_mm256_slli_epi64(e, 52)));
  }
  static Mask lt(reg a, reg b) { return _mm256_cmp_pd(a, b, _CMP_LT_OQ); }
  static __m256i lanes(idx_t n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static reg maskload(const double* p, idx_t n) { return _mm256_maskload_pd(p, lanes(n)); }
  static void maskstore(double* p, idx_t n, reg v) { _mm256_maskstore_pd(p, lanes(n), v); }
  static double hsum(reg v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
  }
  static Perm make_perm(const int* src) {
    alignas(32) int m[8];
    for (int l = 0; l < 4; ++l) { m[2 * l] = 2 * src[l]; m[2 * l + 1] = 2 * src[l] + 1; }
    return _mm256_load_si256(reinterpret_cast<const __m256i*>(m));
  }
  static Mask make_mask(const bool* s) {
    alignas(32) long long m[4];
    for (int l = 0; l < 4; ++l) m[l] = s[l] ? -1 : 0;
    return _mm256_castsi256_pd(_mm256_load_si256(reinterpret_cast<const __m256i*>(m)));
  }
  static reg blend(reg a, reg b, Mask m) { return _mm256_blendv_pd(a, b, m); }
  template <int M> static reg blend_imm(reg a, reg b) { return _mm256_blend_pd(a, b, M); }
  static reg permute(Perm p, reg v) {
    return _mm256_castps_pd(_mm256_permutevar8x32_ps(_mm256_castpd_ps(v), p));
  }
  static reg permute_merge(reg acc, Mask m, Perm p, reg v) { return _mm256_blendv_pd(acc, permute(p, v), m); }
};

}  // namespace avx2
}  // namespace fastconv
