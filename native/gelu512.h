// Exact GELU on 16 AVX-512 lanes, shared by the kernels that apply it on AVX-512 builds: the
// fp32 `unary` kernel (kernels.cc) and the int8 GEMM's epilogue (int8.cc).
#pragma once

#include "simd.h"

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
  __m512 p = f(simd::kErfP[0]);
  for (int i = 1; i < 7; i++) p = _mm512_fmadd_ps(z2, p, f(simd::kErfP[i]));
  p = _mm512_mul_ps(z, p);
  __m512 q = f(simd::kErfQ[0]);
  for (int i = 1; i < 5; i++) q = _mm512_fmadd_ps(z2, q, f(simd::kErfQ[i]));
  const __m512 e = _mm512_div_ps(p, q);
  return _mm512_mul_ps(_mm512_mul_ps(f(0.5f), x), _mm512_add_ps(f(1.0f), e));
}

}  // namespace simd512
}  // namespace pw
#endif
