// A thin SIMD layer for the Pathwise kernels: AVX2 + FMA when the compiler targets them
// (-march=native on a machine that has them), otherwise a scalar fallback with the same API, so
// every kernel is written once. W is the number of float lanes.
//
// Conventions:
//  * loadn/storen handle a tail of n < W elements with masked loads/stores (no out-of-bounds
//    access); masked-out lanes of loadn read as 0.
//  * clamp() and the math functions propagate NaN.
//  * DAcc accumulates floats in double precision (row reductions).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define PW_AVX2 1
#else
#define PW_AVX2 0
#endif

namespace pw {
namespace simd {

static inline uint32_t f2u(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
static inline float u2f(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

#if PW_AVX2
constexpr int W = 8;
using F = __m256;
using I = __m256i;

static inline I tailmask(size_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline F load(const float* p) { return _mm256_loadu_ps(p); }
static inline void store(float* p, F v) { _mm256_storeu_ps(p, v); }
static inline F loadn(const float* p, size_t n) { return _mm256_maskload_ps(p, tailmask(n)); }
static inline void storen(float* p, F v, size_t n) { _mm256_maskstore_ps(p, tailmask(n), v); }
static inline F set1(float x) { return _mm256_set1_ps(x); }
static inline F zero() { return _mm256_setzero_ps(); }
static inline F add(F a, F b) { return _mm256_add_ps(a, b); }
static inline F sub(F a, F b) { return _mm256_sub_ps(a, b); }
static inline F mul(F a, F b) { return _mm256_mul_ps(a, b); }
static inline F div(F a, F b) { return _mm256_div_ps(a, b); }
static inline F sqrt(F a) { return _mm256_sqrt_ps(a); }
/** a*b + c (fused) */
static inline F fma(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
/** c - a*b (fused) */
static inline F fnma(F a, F b, F c) { return _mm256_fnmadd_ps(a, b, c); }
/** a*b - c (fused) */
static inline F fms(F a, F b, F c) { return _mm256_fmsub_ps(a, b, c); }
/** max(lo, min(hi, x)); NaN stays NaN. */
static inline F clamp(F x, F lo, F hi) { return _mm256_max_ps(lo, _mm256_min_ps(hi, x)); }
/** Max that ignores NaN in a (accumulator) only when b is a number: max(acc, x). */
static inline F vmax(F a, F b) { return _mm256_max_ps(a, b); }
static inline F abs(F x) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x); }
static inline F signbit(F x) { return _mm256_and_ps(_mm256_set1_ps(-0.0f), x); }
static inline F xor_(F a, F b) { return _mm256_xor_ps(a, b); }
static inline F lt(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
static inline F gt(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
static inline F ne0(F a) { return _mm256_cmp_ps(a, _mm256_setzero_ps(), _CMP_NEQ_UQ); }
/** m ? a : b */
static inline F select(F m, F a, F b) { return _mm256_blendv_ps(b, a, m); }
/** m ? a : 0 */
static inline F andm(F m, F a) { return _mm256_and_ps(m, a); }
static inline F round(F x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
/** Lanes >= n set to zero (n < W). */
static inline F zerotail(F v, size_t n) { return _mm256_and_ps(v, _mm256_castsi256_ps(tailmask(n))); }

static inline float hmax(F v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}
static inline float hsum(F v) {
  __m128 m = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_add_ps(m, _mm_movehl_ps(m, m));
  m = _mm_add_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

/** 2^(n-1) for integer-valued n in [-125, 128] (a normal float). */
static inline F pow2m1(F n) {
  I e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(126));
  return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
}

/** Double-precision accumulator for 8 float lanes. */
struct DAcc {
  __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
  inline void add(F x) {
    lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(x)));
    hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)));
  }
  /** += x*y, product in double. */
  inline void addmul(F x, F y) {
    lo = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x)),
                         _mm256_cvtps_pd(_mm256_castps256_ps128(y)), lo);
    hi = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)),
                         _mm256_cvtps_pd(_mm256_extractf128_ps(y, 1)), hi);
  }
  /** += (x - c)^2 in double. */
  inline void addsqdiff(F x, double c) {
    __m256d cc = _mm256_set1_pd(c);
    __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x)), cc);
    __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)), cc);
    lo = _mm256_fmadd_pd(d0, d0, lo);
    hi = _mm256_fmadd_pd(d1, d1, hi);
  }
  inline void merge(const DAcc& o) { lo = _mm256_add_pd(lo, o.lo); hi = _mm256_add_pd(hi, o.hi); }
  inline double sum() const {
    __m256d s = _mm256_add_pd(lo, hi);
    __m128d t = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    t = _mm_add_sd(t, _mm_unpackhi_pd(t, t));
    return _mm_cvtsd_f64(t);
  }
};

/** Column accumulators in double: acc[0..8) += x lanes. */
static inline void dcol_add(double* acc, F x) {
  _mm256_storeu_pd(acc, _mm256_add_pd(_mm256_loadu_pd(acc), _mm256_cvtps_pd(_mm256_castps256_ps128(x))));
  _mm256_storeu_pd(acc + 4, _mm256_add_pd(_mm256_loadu_pd(acc + 4), _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1))));
}
/** 8 doubles -> 8 floats */
static inline F dcol_load(const double* acc) {
  __m128 lo = _mm256_cvtpd_ps(_mm256_loadu_pd(acc));
  __m128 hi = _mm256_cvtpd_ps(_mm256_loadu_pd(acc + 4));
  return _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
}

#else  // ------------------------------------------------------------------ scalar fallback
constexpr int W = 1;
using F = float;

static inline F load(const float* p) { return *p; }
static inline void store(float* p, F v) { *p = v; }
static inline F loadn(const float* p, size_t n) { return n ? *p : 0.0f; }
static inline void storen(float* p, F v, size_t n) { if (n) *p = v; }
static inline F set1(float x) { return x; }
static inline F zero() { return 0.0f; }
static inline F add(F a, F b) { return a + b; }
static inline F sub(F a, F b) { return a - b; }
static inline F mul(F a, F b) { return a * b; }
static inline F div(F a, F b) { return a / b; }
static inline F sqrt(F a) { return std::sqrt(a); }
static inline F fma(F a, F b, F c) { return a * b + c; }
static inline F fnma(F a, F b, F c) { return c - a * b; }
static inline F fms(F a, F b, F c) { return a * b - c; }
static inline F clamp(F x, F lo, F hi) { return x != x ? x : (x < lo ? lo : (x > hi ? hi : x)); }
static inline F vmax(F a, F b) { return a > b ? a : b; }
static inline F abs(F x) { return std::fabs(x); }
static inline F signbit(F x) { return u2f(f2u(x) & 0x80000000u); }
static inline F xor_(F a, F b) { return u2f(f2u(a) ^ f2u(b)); }
// Masks are floats with all bits set (true) or zero (false), as on AVX.
static inline F mask_(bool b) { return u2f(b ? 0xFFFFFFFFu : 0u); }
static inline F lt(F a, F b) { return mask_(a < b); }
static inline F gt(F a, F b) { return mask_(a > b); }
static inline F ne0(F a) { return mask_(!(a == 0.0f)); }
static inline F select(F m, F a, F b) { return f2u(m) ? a : b; }
static inline F andm(F m, F a) { return f2u(m) ? a : 0.0f; }
static inline F round(F x) { return std::nearbyint(x); }
static inline F zerotail(F v, size_t n) { return n ? v : 0.0f; }
static inline float hmax(F v) { return v; }
static inline float hsum(F v) { return v; }
static inline F pow2m1(F n) { return u2f(static_cast<uint32_t>(static_cast<int>(n) + 126) << 23); }
struct DAcc {
  double s = 0.0;
  inline void add(F x) { s += x; }
  inline void addmul(F x, F y) { s += static_cast<double>(x) * y; }
  inline void addsqdiff(F x, double c) { double d = x - c; s += d * d; }
  inline void merge(const DAcc& o) { s += o.s; }
  inline double sum() const { return s; }
};
static inline void dcol_add(double* acc, F x) { *acc += x; }
static inline F dcol_load(const double* acc) { return static_cast<float>(*acc); }
#endif

// ------------------------------------------------------------------------------ math functions

/**
 * e^x, about 1 ulp (Cephes expf polynomial); inf above 88.72, NaN -> NaN. Results below
 * e^-86.5 ~ 2.7e-38 (including x = -inf) are flushed to 0: producing subnormals costs a
 * microcode assist (~4x slower on the masked entries of a softmax).
 */
static inline F exp(F x) {
  const F tiny = lt(x, set1(-86.5f));
  x = clamp(x, set1(-86.5f), set1(88.8f));
  F n = round(mul(x, set1(1.44269504088896341f)));
  F r = fnma(n, set1(0.693359375f), x);
  r = fnma(n, set1(-2.12194440e-4f), r);
  F p = set1(1.9875691500e-4f);
  p = fma(p, r, set1(1.3981999507e-3f));
  p = fma(p, r, set1(8.3334519073e-3f));
  p = fma(p, r, set1(4.1665795894e-2f));
  p = fma(p, r, set1(1.6666665459e-1f));
  p = fma(p, r, set1(5.0000001201e-1f));
  p = fma(p, mul(r, r), r);
  p = add(p, set1(1.0f));
  // p * 2^n as (2p) * 2^(n-1): n <= 128 here, and 2^128 is not a float (overflow -> inf is right)
  return select(tiny, zero(), mul(add(p, p), pow2m1(n)));
}

/** Eigen's erf on [-4, 4]: x·P(x²) / Q(x²), coefficients from the highest power down. The AVX-512
 *  functions (simd512.h) evaluate the same polynomials in the same order. */
constexpr float kErfP[7] = {-2.72614225801306e-10f, 2.77068142495902e-08f,  -2.10102402082508e-06f, -5.69250639462346e-05f,
                            -7.34990630326855e-04f, -2.95459980854025e-03f, -1.60960333262415e-02f};
constexpr float kErfQ[5] = {-1.45660718464996e-05f, -2.13374055278905e-04f, -1.68282697438203e-03f, -7.37332916720468e-03f,
                            -1.42647390514189e-02f};

/** erf(x): Eigen's rational approximation (odd numerator / even denominator in x^2). */
static inline F erf(F x) {
  x = clamp(x, set1(-4.0f), set1(4.0f));
  F x2 = mul(x, x);
  F p = set1(kErfP[0]);
  for (int i = 1; i < 7; i++) p = fma(x2, p, set1(kErfP[i]));
  p = mul(x, p);
  F q = set1(kErfQ[0]);
  for (int i = 1; i < 5; i++) q = fma(x2, q, set1(kErfQ[i]));
  return div(p, q);
}

/** tanh(x): Cephes tanhf (odd polynomial for |x| < 0.625, 1 - 2/(e^{2|x|}+1) above). */
static inline F tanh(F x) {
  F ax = abs(x);
  F z = mul(x, x);
  F s = set1(-5.70498872745e-3f);
  s = fma(s, z, set1(2.06390887954e-2f));
  s = fma(s, z, set1(-5.37397155531e-2f));
  s = fma(s, z, set1(1.33314422036e-1f));
  s = fma(s, z, set1(-3.33332819422e-1f));
  F small = fma(mul(s, z), x, x);
  F e = exp(add(ax, ax));
  F big = sub(set1(1.0f), div(set1(2.0f), add(e, set1(1.0f))));
  big = xor_(big, signbit(x));
  return select(lt(ax, set1(0.625f)), small, big);
}

}  // namespace simd
}  // namespace pw
