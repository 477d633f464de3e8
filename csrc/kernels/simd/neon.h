// The NEON SIMD traits (AArch64 Advanced SIMD: 4 float / 2 double lanes, 32 vector
// registers). Lane permutes are byte table lookups (TBL); masks are all-ones lanes
// (BSL); partial loads and stores go through a lane buffer, never past the data.
#pragma once
#include <arm_neon.h>

#include <cstring>

#include "kernels/contracts.h"

namespace fastconv {
namespace neon {

template <class T> struct Vec;

template <>
struct Vec<float> {
  static constexpr int W = 4;
  // The GEMM multiplies a vector of B by one lane of a vector of A's row (FMLA by
  // element): one load of A serves W steps of K (impl/gemm.h).
  static constexpr bool kLaneFma = true;
  using reg = float32x4_t;
  using Perm = uint8x16_t;
  using Mask = uint32x4_t;
  static reg zero() { return vdupq_n_f32(0.0f); }
  static reg load(const float* p) { return vld1q_f32(p); }
  static void store(float* p, reg v) { vst1q_f32(p, v); }
  static reg broadcast(const float* p) { return vld1q_dup_f32(p); }
  static void stream(float* p, reg v) { vst1q_f32(p, v); }
  static reg fmadd(reg a, reg b, reg c) { return vfmaq_f32(c, a, b); }
  static reg pin(reg v) { return v; }  // (simd/avx2.h) AArch64's arithmetic reads registers only
  template <int L> static reg fmadd_lane(reg b, reg a, reg c) { return vfmaq_laneq_f32(c, b, a, L); }
  static reg add(reg a, reg b) { return vaddq_f32(a, b); }
  static reg set1(float v) { return vdupq_n_f32(v); }
  static reg mul(reg a, reg b) { return vmulq_f32(a, b); }
  static reg sub(reg a, reg b) { return vsubq_f32(a, b); }
  static reg div(reg a, reg b) { return vdivq_f32(a, b); }
  static reg max(reg a, reg b) { return vmaxq_f32(a, b); }
  static reg min(reg a, reg b) { return vminq_f32(a, b); }
  static reg round(reg a) { return vrndnq_f32(a); }
  static reg ldexp(reg p, reg n) {  // p 2^n, n integral, 2^n a normal number
    return vmulq_f32(p, vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23)));
  }
  static Mask lt(reg a, reg b) { return vcltq_f32(a, b); }
  static reg maskload(const float* p, idx_t n) {
    if (n >= W) return load(p);
    float t[W] = {};
    if (n > 0) std::memcpy(t, p, size_t(n) * sizeof(float));
    return load(t);
  }
  static void maskstore(float* p, idx_t n, reg v) {
    if (n >= W) return store(p, v);
    float t[W];
    store(t, v);
    if (n > 0) std::memcpy(p, t, size_t(n) * sizeof(float));
  }
  // ST2, ST3, ST4: p[j*R + i] = rows[i][j] (impl/zip.h).
  static constexpr int kInterleave = 4;
  template <int R> static void store_interleaved(float* p, const reg (&r)[R]) {
    static_assert(R >= 2 && R <= 4, "ST2 .. ST4");
    if constexpr (R == 2) vst2q_f32(p, (float32x4x2_t{{r[0], r[1]}}));
    else if constexpr (R == 3) vst3q_f32(p, (float32x4x3_t{{r[0], r[1], r[2]}}));
    else vst4q_f32(p, (float32x4x4_t{{r[0], r[1], r[2], r[3]}}));
  }
  static float hsum(reg v) { return vaddvq_f32(v); }
  static Perm make_perm(const int* src) {
    alignas(16) unsigned char b[16];
    for (int l = 0; l < W; ++l)
      for (int i = 0; i < 4; ++i) b[4 * l + i] = static_cast<unsigned char>(4 * src[l] + i);
    return vld1q_u8(b);
  }
  static Mask make_mask(const bool* s) {
    alignas(16) uint32_t m[W];
    for (int l = 0; l < W; ++l) m[l] = s[l] ? ~uint32_t(0) : 0;
    return vld1q_u32(m);
  }
  static reg blend(reg a, reg b, Mask m) { return vbslq_f32(m, b, a); }
  template <int M> static reg blend_imm(reg a, reg b) {
    const uint32_t m[W] = {M & 1 ? ~0u : 0u, M & 2 ? ~0u : 0u, M & 4 ? ~0u : 0u, M & 8 ? ~0u : 0u};
    return vbslq_f32(vld1q_u32(m), b, a);
  }
  static reg permute(Perm p, reg v) { return vreinterpretq_f32_u8(vqtbl1q_u8(vreinterpretq_u8_f32(v), p)); }
  static reg permute_merge(reg acc, Mask m, Perm p, reg v) { return blend(acc, permute(p, v), m); }
};

template <>
struct Vec<double> {
  static constexpr int W = 2;
  static constexpr bool kLaneFma = true;
  using reg = float64x2_t;
  using Perm = uint8x16_t;
  using Mask = uint64x2_t;
  static reg zero() { return vdupq_n_f64(0.0); }
  static reg load(const double* p) { return vld1q_f64(p); }
  static void store(double* p, reg v) { vst1q_f64(p, v); }
  static reg broadcast(const double* p) { return vld1q_dup_f64(p); }
  static void stream(double* p, reg v) { vst1q_f64(p, v); }
  static reg fmadd(reg a, reg b, reg c) { return vfmaq_f64(c, a, b); }
  static reg pin(reg v) { return v; }  // (simd/avx2.h) AArch64's arithmetic reads registers only
  template <int L> static reg fmadd_lane(reg b, reg a, reg c) { return vfmaq_laneq_f64(c, b, a, L); }
  static reg add(reg a, reg b) { return vaddq_f64(a, b); }
  static reg set1(double v) { return vdupq_n_f64(v); }
  static reg mul(reg a, reg b) { return vmulq_f64(a, b); }
  static reg sub(reg a, reg b) { return vsubq_f64(a, b); }
  static reg div(reg a, reg b) { return vdivq_f64(a, b); }
  static reg max(reg a, reg b) { return vmaxq_f64(a, b); }
  static reg min(reg a, reg b) { return vminq_f64(a, b); }
  static reg round(reg a) { return vrndnq_f64(a); }
  static reg ldexp(reg p, reg n) {  // p 2^n, n integral, 2^n a normal number
    return vmulq_f64(p, vreinterpretq_f64_s64(vshlq_n_s64(vaddq_s64(vcvtq_s64_f64(n), vdupq_n_s64(1023)), 52)));
  }
  static Mask lt(reg a, reg b) { return vcltq_f64(a, b); }
  static reg maskload(const double* p, idx_t n) {
    if (n >= W) return load(p);
    return n > 0 ? vsetq_lane_f64(*p, vdupq_n_f64(0.0), 0) : zero();
  }
  static void maskstore(double* p, idx_t n, reg v) {
    if (n >= W) return store(p, v);
    if (n > 0) *p = vgetq_lane_f64(v, 0);
  }
  static constexpr int kInterleave = 4;
  template <int R> static void store_interleaved(double* p, const reg (&r)[R]) {
    static_assert(R >= 2 && R <= 4, "ST2 .. ST4");
    if constexpr (R == 2) vst2q_f64(p, (float64x2x2_t{{r[0], r[1]}}));
    else if constexpr (R == 3) vst3q_f64(p, (float64x2x3_t{{r[0], r[1], r[2]}}));
    else vst4q_f64(p, (float64x2x4_t{{r[0], r[1], r[2], r[3]}}));
  }
  static double hsum(reg v) { return vaddvq_f64(v); }
  static Perm make_perm(const int* src) {
    alignas(16) unsigned char b[16];
    for (int l = 0; l < W; ++l)
      for (int i = 0; i < 8; ++i) b[8 * l + i] = static_cast<unsigned char>(8 * src[l] + i);
    return vld1q_u8(b);
  }
  static Mask make_mask(const bool* s) {
    alignas(16) uint64_t m[W];
    for (int l = 0; l < W; ++l) m[l] = s[l] ? ~uint64_t(0) : 0;
    return vld1q_u64(m);
  }
  static reg blend(reg a, reg b, Mask m) { return vbslq_f64(m, b, a); }
  template <int M> static reg blend_imm(reg a, reg b) {
    const uint64_t m[W] = {M & 1 ? ~uint64_t(0) : 0, M & 2 ? ~uint64_t(0) : 0};
    return vbslq_f64(vld1q_u64(m), b, a);
  }
  static reg permute(Perm p, reg v) { return vreinterpretq_f64_u8(vqtbl1q_u8(vreinterpretq_u8_f64(v), p)); }
  static reg permute_merge(reg acc, Mask m, Perm p, reg v) { return blend(acc, permute(p, v), m); }
};

}  // namespace neon
}  // namespace fastconv
