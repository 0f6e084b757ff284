// Exact GELU on 16 AVX-512 lanes, shared by the kernels that apply it on AVX-512 builds: the
// fp32 `unary` kernel (kernels.cc) and the int8 GEMM's epilogue (int8.cc).
#pragma once

#if defined(__AVX512F__)
#include <immintrin.h>

namespace pw {
namespace simd512 {

/**
 * Exact GELU on 16 lanes: the same operations, in the same order, as simd.h's erf and
 * kernels.cc's geluF on 8 (each IEEE-rounded per lane), so every lane's bits equal those of the
 * AVX2 path (and of the TypeScript twin's erf, which follows the same steps).
 */
inline __m512 gelu(__m512 x) {
  const auto f = [](float v) { return _mm512_set1_ps(v); };
  __m512 z = _mm512_mul_ps(x, f(0.70710678118654752440f));
  z = _mm512_max_ps(f(-4.0f), _mm512_min_ps(f(4.0f), z));
  const __m512 z2 = _mm512_mul_ps(z, z);
  __m512 p = f(-2.72614225801306e-10f);
  p = _mm512_fmadd_ps(z2, p, f(2.77068142495902e-08f));
  p = _mm512_fmadd_ps(z2, p, f(-2.10102402082508e-06f));
  p = _mm512_fmadd_ps(z2, p, f(-5.69250639462346e-05f));
  p = _mm512_fmadd_ps(z2, p, f(-7.34990630326855e-04f));
  p = _mm512_fmadd_ps(z2, p, f(-2.95459980854025e-03f));
  p = _mm512_fmadd_ps(z2, p, f(-1.60960333262415e-02f));
  p = _mm512_mul_ps(z, p);
  __m512 q = f(-1.45660718464996e-05f);
  q = _mm512_fmadd_ps(z2, q, f(-2.13374055278905e-04f));
  q = _mm512_fmadd_ps(z2, q, f(-1.68282697438203e-03f));
  q = _mm512_fmadd_ps(z2, q, f(-7.37332916720468e-03f));
  q = _mm512_fmadd_ps(z2, q, f(-1.42647390514189e-02f));
  const __m512 e = _mm512_div_ps(p, q);
  return _mm512_mul_ps(_mm512_mul_ps(f(0.5f), x), _mm512_add_ps(f(1.0f), e));
}

}  // namespace simd512
}  // namespace pw
#endif
