// simd.h's math functions on 16 AVX-512 lanes, for the kernels that use them on AVX-512 builds:
// erf, exp, GELU and its derivative (kernels.cc's `unary` and `unaryBackward`, the int8 GEMM's
// epilogue in int8.cc) and exp (attention.cc's softmax). Each mirrors its 8-lane AVX2 twin
// operation for operation, so the bits are the same.
#pragma once

#include "simd.h"

#if defined(__AVX512F__)
#include <immintrin.h>

namespace pw {
namespace simd512 {

inline __m512 set1(float v) { return _mm512_set1_ps(v); }

/** simd.h's erf on 16 lanes: the same polynomials in the same order. */
inline __m512 erf(__m512 z) {
  z = _mm512_max_ps(set1(-4.0f), _mm512_min_ps(set1(4.0f), z));
  const __m512 z2 = _mm512_mul_ps(z, z);
  __m512 p = set1(simd::kErfP[0]);
  for (int i = 1; i < 7; i++) p = _mm512_fmadd_ps(z2, p, set1(simd::kErfP[i]));
  p = _mm512_mul_ps(z, p);
  __m512 q = set1(simd::kErfQ[0]);
  for (int i = 1; i < 5; i++) q = _mm512_fmadd_ps(z2, q, set1(simd::kErfQ[i]));
  return _mm512_div_ps(p, q);
}

/** simd.h's exp on 16 lanes: the same steps (clamp, Cephes polynomial, 2^(n-1) by the exponent bits). */
inline __m512 exp(__m512 x) {
  const __mmask16 tiny = _mm512_cmp_ps_mask(x, set1(-86.5f), _CMP_LT_OQ);
  x = _mm512_max_ps(set1(-86.5f), _mm512_min_ps(set1(88.8f), x));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, set1(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, set1(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, set1(-2.12194440e-4f), r);
  __m512 p = set1(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, set1(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, set1(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, set1(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, set1(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, set1(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
  p = _mm512_add_ps(p, set1(1.0f));
  const __m512i e = _mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(126));
  const __m512 v = _mm512_mul_ps(_mm512_add_ps(p, p), _mm512_castsi512_ps(_mm512_slli_epi32(e, 23)));
  return _mm512_mask_blend_ps(tiny, v, _mm512_setzero_ps());
}

/**
 * Exact GELU on 16 lanes: the same operations, in the same order, as simd.h's erf and
 * kernels.cc's geluF on 8 (each IEEE-rounded per lane), so every lane's bits equal those of the
 * AVX2 path (and of the TypeScript twin's erf, which follows the same steps).
 */
inline __m512 gelu(__m512 x) {
  const __m512 e = erf(_mm512_mul_ps(x, set1(0.70710678118654752440f)));
  return _mm512_mul_ps(_mm512_mul_ps(set1(0.5f), x), _mm512_add_ps(set1(1.0f), e));
}

/** kernels.cc's geluB on 16 lanes, bit for bit: dy · (Φ(x) + x φ(x)). */
inline __m512 geluB(__m512 x, __m512 dy) {
  const __m512 cdf = _mm512_mul_ps(set1(0.5f), _mm512_add_ps(set1(1.0f), erf(_mm512_mul_ps(x, set1(0.70710678118654752440f)))));
  const __m512 pdf = _mm512_mul_ps(exp(_mm512_mul_ps(_mm512_mul_ps(x, x), set1(-0.5f))), set1(0.39894228040143267794f));
  return _mm512_mul_ps(dy, _mm512_fmadd_ps(x, pdf, cdf));
}

}  // namespace simd512
}  // namespace pw
#endif
