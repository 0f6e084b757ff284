// Pathwise compute kernels. See kernels.h; the contract is src/engine/kernels.ts.
//
// Design: GEMMs go to OpenBLAS (its thread pool is the only one in the process). Everything
// else runs single-threaded on the calling thread, vectorised through simd.h (AVX2+FMA when
// compiled with -march=native on such a machine). Row reductions accumulate in double. No
// -ffast-math: -Infinity masks and NaN propagation are part of the contract.

#include "kernels.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "simd512.h"
#include "simd.h"

namespace pw {
using namespace simd;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// ------------------------------------------------------------------------------ loop helpers
// Each helper walks n elements W at a time and finishes a tail with masked loads/stores, so the
// lane functions see full vectors everywhere. Loads happen before stores at the same index, so
// out may alias any input.
template <class Fn>
inline void map1(float* out, const float* a, size_t n, Fn f) {
  size_t i = 0;
  for (; i + W <= n; i += W) store(out + i, f(load(a + i)));
  if (i < n) storen(out + i, f(loadn(a + i, n - i)), n - i);
}
template <class Fn>
inline void map2(float* out, const float* a, const float* b, size_t n, Fn f) {
  size_t i = 0;
  for (; i + W <= n; i += W) store(out + i, f(load(a + i), load(b + i)));
  if (i < n) storen(out + i, f(loadn(a + i, n - i), loadn(b + i, n - i)), n - i);
}
template <class Fn>
inline void map3(float* out, const float* a, const float* b, const float* c, size_t n, Fn f) {
  size_t i = 0;
  for (; i + W <= n; i += W) store(out + i, f(load(a + i), load(b + i), load(c + i)));
  if (i < n) {
    size_t r = n - i;
    storen(out + i, f(loadn(a + i, r), loadn(b + i, r), loadn(c + i, r)), r);
  }
}
inline void fill(float* out, size_t n, float v) { std::fill(out, out + n, v); }

/** v with lanes >= n replaced by fillv (n < W). */
inline F filltail(F v, size_t n, float fillv) {
#if PW_AVX2
  return _mm256_blendv_ps(set1(fillv), v, _mm256_castsi256_ps(tailmask(n)));
#else
  return n ? v : fillv;
#endif
}

/** NaN lanes present? (accumulated as an OR of unordered compares) */
#if PW_AVX2
inline F isnan_(F v) { return _mm256_cmp_ps(v, v, _CMP_UNORD_Q); }
inline F or_(F a, F b) { return _mm256_or_ps(a, b); }
inline bool any(F m) { return _mm256_movemask_ps(m) != 0; }
#else
inline F isnan_(F v) { return u2f(v != v ? 0xFFFFFFFFu : 0u); }
inline F or_(F a, F b) { return u2f(f2u(a) | f2u(b)); }
inline bool any(F m) { return f2u(m) != 0; }
#endif

/**
 * Max of a row of n values produced by `at(j)` / `atn(j, t)` (full vector / masked tail), ignoring
 * NaN, and whether a NaN was seen. With SUM, also the row sum in double (*sum).
 */
template <bool SUM, class At, class AtN>
inline float rowmaxOf(size_t n, At at, AtN atn, bool* hasNaN, double* sum) {
  F mx = set1(-kInf), nan = zero();
  DAcc s;
  size_t j = 0;
  for (; j + W <= n; j += W) {
    F v = at(j);
    mx = vmax(v, mx);  // returns mx when v is NaN: mx never holds a NaN
    nan = or_(nan, isnan_(v));
    if constexpr (SUM) s.add(v);
  }
  if (j < n) {
    F v = atn(j, n - j);  // masked lanes read 0
    if constexpr (SUM) s.add(v);
    v = filltail(v, n - j, -kInf);
    mx = vmax(v, mx);
    nan = or_(nan, isnan_(v));
  }
  *hasNaN = any(nan);
  if constexpr (SUM) *sum = s.sum();
  return hmax(mx);
}

inline float rowmax(const float* x, size_t n, bool* hasNaN) {
  return rowmaxOf<false>(
      n, [x](size_t j) { return load(x + j); }, [x](size_t j, size_t t) { return loadn(x + j, t); }, hasNaN,
      nullptr);
}

/**
 * Sum in double of a row of n values produced by `at(j)` / `atn(j, t)` (full vector / masked tail,
 * masked lanes 0), two accumulators in a fixed order: every row sum that must agree bit for bit
 * with another goes through here.
 */
template <class At, class AtN>
inline double rowsumOf(size_t n, At at, AtN atn) {
  DAcc s0, s1;
  size_t j = 0;
  for (; j + 2 * W <= n; j += 2 * W) {
    s0.add(at(j));
    s1.add(at(j + W));
  }
  for (; j + W <= n; j += W) s0.add(at(j));
  if (j < n) s1.add(atn(j, n - j));
  s0.merge(s1);
  return s0.sum();
}

/** Sum of a row in double. */
inline double rowsum(const float* x, size_t n) {
  return rowsumOf(n, [x](size_t j) { return load(x + j); }, [x](size_t j, size_t t) { return loadn(x + j, t); });
}

template <class T>
T* scratch(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}
thread_local std::vector<double> tlsD;
thread_local std::vector<float> tlsF;
thread_local std::vector<int32_t> tlsI;

// ----------------------------------------------------------------------- element functions
// A compute-heavy loop over cold data (GELU's derivative: an erf, an exp and a division an
// element) keeps few iterations in flight, and with three or four streams the hardware
// prefetchers fell behind: fused with dropout's mask, 2M elements out of cache took 0.73 ns an
// element against 0.43 in cache. Asking for the line 2 KB ahead brought it back to 0.44.
inline void prefetchAhead(const float* p) { __builtin_prefetch(p + 512); }

constexpr float kSqrtHalf = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;
constexpr float kGeluK0 = 0.79788456080286535588f;  // sqrt(2/pi)
constexpr float kGeluK1 = 0.044715f;

inline F geluF(F x) {
  F e = simd::erf(mul(x, set1(kSqrtHalf)));
  return mul(mul(set1(0.5f), x), add(set1(1.0f), e));
}
inline F geluB(F x, F dy) {
  F cdf = mul(set1(0.5f), add(set1(1.0f), simd::erf(mul(x, set1(kSqrtHalf)))));
  F pdf = mul(simd::exp(mul(mul(x, x), set1(-0.5f))), set1(kInvSqrt2Pi));
  return mul(dy, fma(x, pdf, cdf));
}
// GELU-tanh as x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3): the same function as
// 0.5 x (1 + tanh u), one exp and one division, and no cancellation for negative x.
inline F geluTanhF(F x) {
  F u2 = mul(mul(set1(2.0f * kGeluK0), x), fma(set1(kGeluK1), mul(x, x), set1(1.0f)));
  return div(x, add(set1(1.0f), simd::exp(simd::sub(zero(), u2))));
}
inline F geluTanhB(F x, F dy) {
  // y = x s(2u):  dy/dx = s + 2 x s (1 - s) u',  u' = sqrt(2/pi) (1 + 3*0.044715 x^2)
  F x2 = mul(x, x);
  F u2 = mul(mul(set1(2.0f * kGeluK0), x), fma(set1(kGeluK1), x2, set1(1.0f)));
  F e = simd::exp(simd::sub(zero(), u2));
  F s = div(set1(1.0f), add(set1(1.0f), e));
  F oms = select(gt(e, set1(1.0f)), simd::sub(set1(1.0f), s), mul(e, s));  // 1 - s, accurately
  F du2 = mul(set1(2.0f * kGeluK0), fma(set1(3.0f * kGeluK1), x2, set1(1.0f)));
  return mul(dy, fma(mul(mul(x, s), oms), du2, s));
}

// Element-wise and row-wise kernels on large inputs split their range between the threads of
// the pool (native/int8.cc): each element (each row) is computed by one thread with the same
// operations as on one, so the results are bit for bit those of one thread.
constexpr size_t kParallelWork = 1u << 16;  // elements: below this, waking a thread costs more
constexpr double kParallelGemm = 1 << 21;   // multiply-adds: below this, a GEMM runs on one thread
constexpr int kSplitK = 1024;               // A^T B summed over at least this many rows: in two halves (gemm)

/** fn(begin, end) over [0, n) in per-thread ranges whose starts are multiples of `align`. */
template <class Fn>
void parallelFor(size_t n, size_t align, size_t work, Fn fn) {
  const int threads = poolThreadCount();
  const size_t units = align > 0 ? n / align : 0;
  if (threads <= 1 || work < kParallelWork || units < 2) {
    fn(size_t{0}, n);
    return;
  }
  const int nt = static_cast<int>(std::min<size_t>(static_cast<size_t>(threads), units));
  poolRun(nt, [&](int t) {
    const size_t s = units * t / nt * align;
    const size_t e = t == nt - 1 ? n : units * (t + 1) / nt * align;
    if (e > s) fn(s, e);
  });
}

template <int OP>
inline F bop(F a, F b) {
  if constexpr (OP == 0) return add(a, b);
  if constexpr (OP == 1) return sub(a, b);
  if constexpr (OP == 2) return mul(a, b);
  return div(a, b);
}

template <int OP>
void binaryT(float* out, const float* a, const float* b, size_t n, size_t bn) {
  if (bn == n) {
    map2(out, a, b, n, bop<OP>);
  } else if (bn == 1) {
    F s = set1(b[0]);
    map1(out, a, n, [s](F x) { return bop<OP>(x, s); });
  } else {
    for (size_t base = 0; base < n; base += bn) map2(out + base, a + base, b, bn, bop<OP>);
  }
}

template <int OP>
void binaryColT(float* out, const float* a, const float* b, size_t rows, size_t cols) {
  for (size_t r = 0; r < rows; r++) {
    F s = set1(b[r]);
    map1(out + r * cols, a + r * cols, cols, [s](F x) { return bop<OP>(x, s); });
  }
}

// ---------------------------------------------------------------------------- transpose
#if PW_AVX2
inline void tr8x8(const float* src, size_t ls, float* dst, size_t ld) {
  __m256 r0 = _mm256_loadu_ps(src + 0 * ls), r1 = _mm256_loadu_ps(src + 1 * ls);
  __m256 r2 = _mm256_loadu_ps(src + 2 * ls), r3 = _mm256_loadu_ps(src + 3 * ls);
  __m256 r4 = _mm256_loadu_ps(src + 4 * ls), r5 = _mm256_loadu_ps(src + 5 * ls);
  __m256 r6 = _mm256_loadu_ps(src + 6 * ls), r7 = _mm256_loadu_ps(src + 7 * ls);
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  _mm256_storeu_ps(dst + 0 * ld, _mm256_permute2f128_ps(s0, s4, 0x20));
  _mm256_storeu_ps(dst + 1 * ld, _mm256_permute2f128_ps(s1, s5, 0x20));
  _mm256_storeu_ps(dst + 2 * ld, _mm256_permute2f128_ps(s2, s6, 0x20));
  _mm256_storeu_ps(dst + 3 * ld, _mm256_permute2f128_ps(s3, s7, 0x20));
  _mm256_storeu_ps(dst + 4 * ld, _mm256_permute2f128_ps(s0, s4, 0x31));
  _mm256_storeu_ps(dst + 5 * ld, _mm256_permute2f128_ps(s1, s5, 0x31));
  _mm256_storeu_ps(dst + 6 * ld, _mm256_permute2f128_ps(s2, s6, 0x31));
  _mm256_storeu_ps(dst + 7 * ld, _mm256_permute2f128_ps(s3, s7, 0x31));
}
#endif

/**
 * out (Y x X) = a (X x Y)^T, out's rows ldo floats apart and a's lda, cache-blocked: a band of BY
 * output rows is written sequentially while BX source rows are read. When output rows are a
 * multiple of 2 KiB apart, 16 of them collide in the same L1 sets, so the band is 8 rows there
 * and 16 (a full cache line of each source row) otherwise (measured: 2048x256 0.09 ms, 1024x1024
 * 0.27 ms, 256x2048 0.08 ms).
 */
void transposeStrided(float* out, size_t ldo, const float* a, size_t lda, size_t X, size_t Y) {
  const bool pow2ish = ldo % 512 == 0;
  const size_t BX = pow2ish ? 512 : 256;
  const size_t BY = pow2ish ? 8 : 16;
  for (size_t x0 = 0; x0 < X; x0 += BX) {
    size_t x1 = std::min(X, x0 + BX);
    for (size_t y0 = 0; y0 < Y; y0 += BY) {
      size_t y1 = std::min(Y, y0 + BY);
      size_t x = x0;
#if PW_AVX2
      for (; x + 8 <= x1; x += 8) {
        size_t y = y0;
        for (; y + 8 <= y1; y += 8) tr8x8(a + x * lda + y, lda, out + y * ldo + x, ldo);
        for (; y < y1; y++)
          for (size_t xx = x; xx < x + 8; xx++) out[y * ldo + xx] = a[xx * lda + y];
      }
#endif
      for (; x < x1; x++)
        for (size_t y = y0; y < y1; y++) out[y * ldo + x] = a[x * lda + y];
    }
  }
}

/** out (Y x X) = a (X x Y)^T, both contiguous. */
void transpose2d(float* out, const float* a, size_t X, size_t Y) { transposeStrided(out, X, a, Y, X, Y); }

// -------------------------------------------------------------------------------- dropout
inline uint32_t hashScalar(uint32_t seed, uint32_t i) {
  uint32_t h = i * 0x9E3779B1u + seed;
  h ^= h >> 16;
  h *= 0x7FEB352Du;
  h ^= h >> 15;
  h *= 0x846CA68Bu;
  h ^= h >> 16;
  return h >> 8;
}

/** 8 mask bits -> 8 bytes of 0/1 (little endian). */
struct ByteTable {
  uint64_t t[256];
  constexpr ByteTable() : t() {
    for (int m = 0; m < 256; m++) {
      uint64_t v = 0;
      for (int b = 0; b < 8; b++)
        if (m & (1 << b)) v |= uint64_t(1) << (8 * b);
      t[m] = v;
    }
  }
};
constexpr ByteTable kBytes{};

}  // namespace

const char* simdPath() { return PW_AVX2 ? "avx2+fma" : "scalar"; }

// ------------------------------------------------------------------------- FMA throughput
// Twelve independent chains of fused multiply-adds held in registers: no loads, no stores, more
// chains than an FMA unit's latency times its units on the CPUs we know (4 cycles x 2 units), so
// the units never wait. What this reaches is the most fp32 arithmetic a core can do, the ceiling
// that every GEMM approaches (bench:engine prints the step's GEMMs against it).
template <int kLanes, class V, class Set, class Fma, class Add, class Lane0>
double fmaChainsOf(int64_t iters, Set set, Fma fma, Add add, Lane0 lane0) {
  constexpr int kChains = 12;
  V acc[kChains];
  const V mul = set(0.999999f), inc = set(1e-7f);
  for (int i = 0; i < kChains; i++) acc[i] = set(float(i));
  for (int64_t n = 0; n < iters; n++)
    for (int i = 0; i < kChains; i++) acc[i] = fma(acc[i], mul, inc);
  V sum = acc[0];
  for (int i = 1; i < kChains; i++) sum = add(sum, acc[i]);
  volatile float sink = lane0(sum);  // the chains' results are used, so they are computed
  (void)sink;
  return double(iters) * kChains * kLanes * 2;
}

double fmaChains(int64_t iters) {
#if defined(__AVX512F__)
  return fmaChainsOf<16, __m512>(
      iters, [](float x) { return _mm512_set1_ps(x); }, [](__m512 a, __m512 b, __m512 c) { return _mm512_fmadd_ps(a, b, c); },
      [](__m512 a, __m512 b) { return _mm512_add_ps(a, b); }, [](__m512 a) { return _mm512_cvtss_f32(a); });
#elif PW_AVX2
  return fmaChainsOf<8, __m256>(
      iters, [](float x) { return _mm256_set1_ps(x); }, [](__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); },
      [](__m256 a, __m256 b) { return _mm256_add_ps(a, b); }, [](__m256 a) { return _mm256_cvtss_f32(a); });
#else
  return fmaChainsOf<1, float>(
      iters, [](float x) { return x; }, [](float a, float b, float c) { return std::fma(a, b, c); }, [](float a, float b) { return a + b; },
      [](float a) { return a; });
#endif
}

// ------------------------------------------------------------------------------------ GEMM
void gemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  // K = 0 or alpha = 0: C = beta * C without touching A or B. OpenBLAS's AVX-512 small-matrix
  // path multiplies anyway when alpha = 0, so NaNs in A or B would leak into C.
  if (K <= 0 || alpha == 0.0f) {
    // C = beta * C, and beta = 0 must not read C.
    for (int i = 0; i < M; i++) {
      float* c = C + static_cast<size_t>(i) * ldc;
      if (beta == 0.0f) {
        fill(c, N, 0.0f);
      } else if (beta != 1.0f) {
        F b = set1(beta);
        map1(c, c, N, [b](F v) { return mul(v, b); });
      }
    }
    return;
  }
  // BLAS requires ld >= max(1, cols) even where a single row makes ld irrelevant.
  const int aCols = transA ? M : K, bCols = transB ? K : N;
  lda = std::max(lda, std::max(aCols, 1));
  ldb = std::max(ldb, std::max(bCols, 1));
  ldc = std::max(ldc, std::max(N, 1));
  // A^T B with beta = 0 and a C of at most 2^20 elements: the weight gradients X^T dY, summed over
  // a batch's tokens (K). Split by rows or columns, each thread re-packs the operand it shares in
  // full (X or dY: 4 MB at 4096 tokens), which held 1024 x 256 x 4096 to 1.8x on 2 threads and
  // 256 x 256 x 4096 to 1.7x. With K >= 1024 the sum runs as two fixed halves of K, one a thread,
  // added at the end: 1.9-2.0x (1024 x 256 x 4096 out of cache: 5.8-6.3 ms on 2 threads against
  // 6.0-6.5; 256 x 256 x 4096, 1.57-1.63 against 1.83-1.86). The halves do not depend on the
  // thread count (on one thread they run one after the other), so neither do the bits.
  // When C is wider than tall (fc1's gradient, 256 x 1024), each half runs as the transposed
  // product (dY^T X, taller than wide) and C is its transpose: OpenBLAS ran that orientation
  // faster (256 x 1024 x 4096 on 2 threads, transposed without the halves: 6.1-6.35 ms against
  // 6.8-7.15 split by columns, with them 5.9; 256 x 1024 x 1024, 1.55-1.62 against 1.80-1.84),
  // and each element is the same products summed in the same order either way (test:
  // kernels.test.ts). Below K = 1024 only where the product is shared between threads: on one
  // (a Switch expert's gradient inside a grouped GEMM), 256 x 1024 x 512 ran slower transposed
  // (1.56-1.58 ms against 1.50-1.53). The transpose costs M x N copies against M x N x K
  // multiply-adds, hence the 2^20 bound (256 x 16384 x 614, the masked-LM head's shape, ran
  // slower transposed).
  const int threads = poolThreadCount();
  if (transA && !transB && beta == 0.0f && static_cast<double>(M) * N <= double(1 << 20) &&
      static_cast<double>(M) * N * K >= kParallelGemm && (K >= kSplitK || (M < N && threads >= 2))) {
    const size_t mn = static_cast<size_t>(M) * N;
    const bool wide = M < N;
    const bool split = K >= kSplitK;
    const int K0 = split ? K / 2 : K;
    // wide: D0 (and D1) are N x M; otherwise half 0 goes straight into C and half 1 into D1.
    float* D0 = scratch(tlsF, (wide && split ? 2 : 1) * mn);
    float* D1 = wide ? D0 + mn : D0;
    const auto half = [&](int h) {
      const int k0 = h ? K0 : 0, k1 = h ? K : K0;
      const float* a = A + static_cast<size_t>(k0) * lda;
      const float* b = B + static_cast<size_t>(k0) * ldb;
      if (wide)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, M, k1 - k0, alpha, b, ldb, a, lda, 0.0f, h ? D1 : D0, M);
      else
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, N, k1 - k0, alpha, a, lda, b, ldb, 0.0f, h ? D1 : C, h ? N : ldc);
    };
    if (!split) {
      gemm(true, false, N, M, K, alpha, B, ldb, A, lda, 0.0f, D0, M);  // taller than wide: by rows
    } else if (threads >= 2) {
      poolRun(2, [&](int t) { half(t); });
    } else {
      half(0);
      half(1);
    }
    if (wide) {
      if (split) axpby(D0, 1.0, D1, 1.0, mn);  // D0 + D1, each sum rounded once
      parallelFor(static_cast<size_t>(N), 8, mn, [&](size_t j0, size_t j1) {
        transposeStrided(C + j0, static_cast<size_t>(ldc), D0 + j0 * M, static_cast<size_t>(M), j1 - j0, static_cast<size_t>(M));
      });
    } else {
      parallelFor(static_cast<size_t>(M), 1, mn, [&](size_t i0, size_t i1) {
        for (size_t i = i0; i < i1; i++) {
          float* c = C + i * ldc;
          const float* d = D1 + i * N;
          for (int j = 0; j < N; j++) c[j] += d[j];
        }
      });
    }
    return;
  }
  const auto part = [&](int m0, int m1, int n0, int n1) {
    // op(A) rows m0.., op(B) columns n0..: A is [K, M] when transposed, B is [N, K] when transposed.
    const float* a = A + (transA ? static_cast<size_t>(m0) : static_cast<size_t>(m0) * lda);
    const float* b = B + (transB ? static_cast<size_t>(n0) * ldb : static_cast<size_t>(n0));
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                m1 - m0, n1 - n0, K, alpha, a, lda, b, ldb, beta, C + static_cast<size_t>(m0) * ldc + n0, ldc);
  };
  // OpenBLAS runs single-threaded (see setPoolThreads); a large product is split between the
  // pool's threads instead, by rows of C, or by columns when C has fewer rows than columns and
  // either few rows (under 256) or a B of more than 2^20 elements. Each part re-packs the operand
  // it shares, B for rows and A for columns, yet rows ran faster on 2 threads even where B is the
  // larger of the two, as long as B is at most 4 MB: 544 x 768 x 256 took 0.60 ms by rows against
  // 0.69 by columns, 768 x 1024 x 256 1.11 against 1.32, A^T B 256 x 1024 x 1024 1.64 against
  // 1.90; but 256 x 1024 x 4096 7.2 against 6.5, 384 x 16384 x 256 9.8-10.5 against 9.4-9.6, and
  // 128 x 1024 x 256 0.24 against 0.22. Every element is computed by one single-threaded sgemm
  // over the whole K, in the same order whatever the split, so results do not depend on the
  // thread count.
  const double work = static_cast<double>(M) * N * K;
  const bool byRows = M >= N || (M >= 256 && static_cast<double>(K) * N <= double(1 << 20));
  const int extent = byRows ? M : N;
  const int nt = work < kParallelGemm ? 1 : std::min(threads, extent / 16);
  if (nt <= 1) {
    part(0, M, 0, N);
    return;
  }
  poolRun(nt, [&](int t) {
    const int s = static_cast<int>(static_cast<long>(extent) * t / nt / 16 * 16);
    const int e = t == nt - 1 ? extent : static_cast<int>(static_cast<long>(extent) * (t + 1) / nt / 16 * 16);
    if (e > s) byRows ? part(s, e, 0, N) : part(0, M, s, e);
  });
}

void gemmEach(size_t count, double work, const std::function<void(size_t)>& item) {
  const int threads = poolThreadCount();
  // Enough items: each on one thread, items shared out as they finish (groups differ in size).
  // Few items: one after another, each split between the threads by gemm.
  if (threads <= 1 || count < 2 * static_cast<size_t>(threads) || work < kParallelGemm) {
    for (size_t i = 0; i < count; i++) item(i);
    return;
  }
  // Items are handed out in runs of count / (4 x threads): few enough takes of the shared counter
  // that its cache line does not bounce between the cores on every item (attention over short
  // sequences, 128 products of 20 x 20 x 64, ran slower on 2 threads than on 1 taking one item at
  // a time), enough runs that a thread held up by the other core's work does not hold up the rest.
  const size_t run = std::max<size_t>(1, count / (4 * static_cast<size_t>(threads)));
  std::atomic<size_t> next{0};
  poolRun(threads, [&](int) {
    for (size_t s; (s = next.fetch_add(run, std::memory_order_relaxed)) < count;) {
      const size_t e = std::min(count, s + run);
      for (size_t i = s; i < e; i++) item(i);
    }
  });
}

// ----------------------------------------------------------------------------- elementwise
void binary(int op, float* out, const float* a, const float* b, size_t n, size_t bn) {
  if (n == 0) return;
  // A range starts at a multiple of bn, so b's index restarts with it.
  parallelFor(n, bn == n ? 64 : (bn < 64 ? ((64 + bn - 1) / bn) * bn : bn), n, [&](size_t s, size_t e) {
    const size_t m = e - s;
    const size_t bm = bn == n ? m : bn;
    const float* bb = bn == n ? b + s : b;
    switch (op) {
      case 0: binaryT<0>(out + s, a + s, bb, m, bm); break;
      case 1: binaryT<1>(out + s, a + s, bb, m, bm); break;
      case 2: binaryT<2>(out + s, a + s, bb, m, bm); break;
      default: binaryT<3>(out + s, a + s, bb, m, bm); break;
    }
  });
}

void binaryCol(int op, float* out, const float* a, const float* b, size_t rows, size_t cols) {
  parallelFor(rows, 1, rows * cols, [&](size_t r0, size_t r1) {
    float* o = out + r0 * cols;
    const float* x = a + r0 * cols;
    const float* y = b + r0;
    switch (op) {
      case 0: binaryColT<0>(o, x, y, r1 - r0, cols); break;
      case 1: binaryColT<1>(o, x, y, r1 - r0, cols); break;
      case 2: binaryColT<2>(o, x, y, r1 - r0, cols); break;
      default: binaryColT<3>(o, x, y, r1 - r0, cols); break;
    }
  });
}

void axpby(float* out, double alpha, const float* a, double beta, size_t n) {
  F al = set1(static_cast<float>(alpha));
  F be = set1(static_cast<float>(beta));
  parallelFor(n, 64, n, [&](size_t s, size_t e) {
    if (beta == 0.0) map1(out + s, a + s, e - s, [al](F x) { return mul(al, x); });
    else map2(out + s, a + s, out + s, e - s, [al, be](F x, F o) { return fma(al, x, mul(be, o)); });
  });
}

namespace {
/** unary on one thread. */
void unaryRange(int op, float* out, const float* x, size_t n) {
  switch (op) {
    case 0: {
      size_t i = 0;
#if defined(__AVX512F__)
      // 16 lanes, bit for bit the 8-lane geluF (simd512.h).
      for (; i + 16 <= n; i += 16) {
        prefetchAhead(x + i);
        _mm512_storeu_ps(out + i, simd512::gelu(_mm512_loadu_ps(x + i)));
      }
#endif
      map1(out + i, x + i, n - i, geluF);
      break;
    }
    case 1: map1(out, x, n, [](F v) { return vmax(zero(), v); }); break;  // NaN stays NaN
    case 2: map1(out, x, n, [](F v) { return simd::tanh(v); }); break;
    default: map1(out, x, n, geluTanhF); break;
  }
}
}  // namespace

void unary(int op, float* out, const float* x, size_t n) {
  parallelFor(n, 64, n, [&](size_t s, size_t e) { unaryRange(op, out + s, x + s, e - s); });
}

namespace {
/** unaryBackward on one thread. */
void unaryBackwardRange(int op, float* d, const float* x, const float* g, size_t m) {
  switch (op) {
    case 0: {
      size_t i = 0;
#if defined(__AVX512F__)
      // 16 lanes, bit for bit the 8-lane geluB (simd512.h). On its own only a few per cent faster
      // here (the divisions bound it); the fused backward's single loop is built on it.
      for (; i + 16 <= m; i += 16) {
        prefetchAhead(x + i);
        prefetchAhead(g + i);
        _mm512_storeu_ps(d + i, simd512::geluB(_mm512_loadu_ps(x + i), _mm512_loadu_ps(g + i)));
      }
#endif
      map2(d + i, x + i, g + i, m - i, geluB);
      break;
    }
    case 1: map2(d, x, g, m, [](F v, F w) { return andm(gt(v, zero()), w); }); break;
    case 2: map2(d, x, g, m, [](F y, F w) { return mul(w, fnma(y, y, set1(1.0f))); }); break;
    default: map2(d, x, g, m, geluTanhB); break;
  }
}
}  // namespace

void unaryBackward(int op, float* dx, const float* saved, const float* dy, size_t n) {
  parallelFor(n, 64, n, [&](size_t s, size_t e) { unaryBackwardRange(op, dx + s, saved + s, dy + s, e - s); });
}

// ------------------------------------------------------------------------ layout & reduce
namespace {
// Column sums over many rows (a bias gradient; LayerNorm's dgamma and dbeta below) add fixed
// chunks of kRowChunk rows into partial sums in double, the chunks in parallel, and then the
// partials in chunk order. The chunks do not depend on the thread count, so neither does the
// result. Splitting the columns between the threads instead (each thread reading part of every
// row) ran slower on 2 threads than on 1 once the data was out of cache: a 4096 x 1024 bias
// gradient took 1.63 ms against 0.60 ms.
constexpr size_t kRowChunk = 128;

size_t rowChunks(size_t n) { return (n + kRowChunk - 1) / kRowChunk; }

/** Adds the column sums of rows [r0, r1) of a (`inner` floats a row) into acc (inner + W doubles). */
void addRows(double* acc, const float* a, size_t r0, size_t r1, size_t inner) {
  for (size_t r = r0; r < r1; r++) {
    const float* row = a + r * inner;
    size_t j = 0;
    for (; j + W <= inner; j += W) dcol_add(acc + j, load(row + j));
    if (j < inner) dcol_add(acc + j, loadn(row + j, inner - j));  // masked lanes add 0
  }
}

/** out[j] = column j of a (n rows of `inner`) summed, by chunks of rows; `split`: chunks in parallel. */
void sumRows(float* out, const float* a, size_t n, size_t inner, bool split) {
  const size_t chunks = rowChunks(n), stride = inner + W;
  std::vector<double> part(std::max<size_t>(chunks, 1) * stride, 0.0);
  const auto range = [&](size_t c0, size_t c1) {
    for (size_t c = c0; c < c1; c++) addRows(part.data() + c * stride, a, c * kRowChunk, std::min(n, (c + 1) * kRowChunk), inner);
  };
  if (split) parallelFor(chunks, 1, n * inner, range);
  else range(0, chunks);
  for (size_t j = 0; j < inner; j++) {
    double sum = 0.0;
    for (size_t c = 0; c < chunks; c++) sum += part[c * stride + j];
    out[j] = static_cast<float>(sum);
  }
}
}  // namespace

// Each output element is summed the same way whatever the thread count: a row sum (inner = 1) in
// row order by one thread; a column sum by chunks of rows (sumRows), slabs in parallel when there
// are enough of them, else each slab's chunks.
void sumAxis(float* out, const float* a, size_t outer, size_t n, size_t inner) {
  if (inner == 1) {
    parallelFor(outer, 1, outer * n, [&](size_t o0, size_t o1) {
      for (size_t o = o0; o < o1; o++) out[o] = static_cast<float>(rowsum(a + o * n, n));
    });
    return;
  }
  if (outer >= 2 * static_cast<size_t>(poolThreadCount())) {
    parallelFor(outer, 1, outer * n * inner, [&](size_t o0, size_t o1) {
      for (size_t o = o0; o < o1; o++) sumRows(out + o * inner, a + o * n * inner, n, inner, false);
    });
    return;
  }
  for (size_t o = 0; o < outer; o++) sumRows(out + o * inner, a + o * n * inner, n, inner, true);
}

namespace {
/**
 * dst[0..n) = src[0..n). On AVX-512, 16-lane loads and stores rather than memcpy: a bias broadcast
 * into 4096 x 1024 (a GEMM's C before beta = 1) took 0.34-0.38 ms on 2 threads against 0.44-0.49
 * with glibc's memcpy of each 4 KB row (0.76-0.80 against 0.84-0.86 on 1).
 */
inline void copyRow(float* dst, const float* src, size_t n) {
#if defined(__AVX512F__)
  size_t j = 0;
  for (; j + 16 <= n; j += 16) _mm512_storeu_ps(dst + j, _mm512_loadu_ps(src + j));
  if (j < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - j)) - 1);
    _mm512_mask_storeu_ps(dst + j, m, _mm512_maskz_loadu_ps(m, src + j));
  }
#else
  std::memcpy(dst, src, n * sizeof(float));
#endif
}
}  // namespace

void expandAxis(float* out, const float* a, size_t outer, size_t n, size_t inner) {
  if (inner == 1) {
    parallelFor(outer, 1, outer * n, [&](size_t o0, size_t o1) {
      for (size_t o = o0; o < o1; o++) fill(out + o * n, n, a[o]);
    });
    return;
  }
  // Rows (o, k) in parallel: row r = o * n + k is a copy of a's row o.
  parallelFor(outer * n, 1, outer * n * inner, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) copyRow(out + r * inner, a + (r / n) * inner, inner);
  });
}

namespace {
void transposePlanes(float* out, const float* a, size_t o0, size_t o1, size_t X, size_t Y, size_t inner) {
  const size_t plane = X * Y * inner;
  for (size_t o = o0; o < o1; o++) {
    const float* src = a + o * plane;
    float* dst = out + o * plane;
    if (inner == 1) {
      transpose2d(dst, src, X, Y);
    } else if (inner >= 8) {
      for (size_t y = 0; y < Y; y++)
        for (size_t x = 0; x < X; x++)
          std::memcpy(dst + (y * X + x) * inner, src + (x * Y + y) * inner, inner * sizeof(float));
    } else {
      for (size_t y = 0; y < Y; y++)
        for (size_t x = 0; x < X; x++) {
          const float* s = src + (x * Y + y) * inner;
          float* d = dst + (y * X + x) * inner;
          for (size_t i = 0; i < inner; i++) d[i] = s[i];
        }
    }
  }
}
}  // namespace

void transpose(float* out, const float* a, size_t outer, size_t X, size_t Y, size_t inner) {
  parallelFor(outer, 1, outer * X * Y * inner, [&](size_t o0, size_t o1) { transposePlanes(out, a, o0, o1, X, Y, inner); });
}

namespace {
double sumSquaresRange(const float* a, size_t n) {
  DAcc s0, s1;
  size_t j = 0;
  for (; j + 2 * W <= n; j += 2 * W) {
    F v0 = load(a + j), v1 = load(a + j + W);
    s0.addmul(v0, v0);
    s1.addmul(v1, v1);
  }
  for (; j + W <= n; j += W) {
    F v = load(a + j);
    s0.addmul(v, v);
  }
  if (j < n) {
    F v = loadn(a + j, n - j);
    s1.addmul(v, v);
  }
  s0.merge(s1);
  return s0.sum();
}
constexpr size_t kSquaresChunk = size_t{1} << 16;
}  // namespace

// Fixed chunks of 65,536 elements, in parallel, then the chunks' sums in order, so the result does
// not depend on the thread count. (Clipping the gradient norm sums every gradient each step; the
// word embedding's alone is 4.2M floats, which one thread took about a millisecond to read.)
double sumSquares(const float* a, size_t n) {
  if (n <= kSquaresChunk) return sumSquaresRange(a, n);
  const size_t chunks = (n + kSquaresChunk - 1) / kSquaresChunk;
  std::vector<double> part(chunks);
  parallelFor(chunks, 1, n, [&](size_t c0, size_t c1) {
    for (size_t c = c0; c < c1; c++) part[c] = sumSquaresRange(a + c * kSquaresChunk, std::min(kSquaresChunk, n - c * kSquaresChunk));
  });
  double sum = 0.0;
  for (size_t c = 0; c < chunks; c++) sum += part[c];
  return sum;
}

// ------------------------------------------------------------------------------ layer norm
void layerNormRows(float* y, float* mean, float* rstd, const float* x, const float* gamma,
                   const float* beta, size_t r0, size_t r1, size_t cols, double eps);

void layerNorm(float* y, float* mean, float* rstd, const float* x, const float* gamma,
               const float* beta, size_t rows, size_t cols, double eps) {
  parallelFor(rows, 1, rows * cols, [&](size_t r0, size_t r1) { layerNormRows(y, mean, rstd, x, gamma, beta, r0, r1, cols, eps); });
}

void layerNormRows(float* y, float* mean, float* rstd, const float* x, const float* gamma,
                   const float* beta, size_t r0, size_t r1, size_t cols, double eps) {
  for (size_t r = r0; r < r1; r++) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    double mu = 0.0, var = 0.0;
    if (cols > 0) {
      mu = rowsum(xr, cols) / static_cast<double>(cols);
      DAcc v0, v1;
      size_t j = 0;
      for (; j + 2 * W <= cols; j += 2 * W) {
        v0.addsqdiff(load(xr + j), mu);
        v1.addsqdiff(load(xr + j + W), mu);
      }
      for (; j + W <= cols; j += W) v0.addsqdiff(load(xr + j), mu);
      v0.merge(v1);
      double s = v0.sum();
      for (; j < cols; j++) {
        double d = xr[j] - mu;
        s += d * d;
      }
      var = s / static_cast<double>(cols);
    }
    const float mf = static_cast<float>(mu);
    const float rf = static_cast<float>(1.0 / std::sqrt(var + eps));
    mean[r] = mf;
    rstd[r] = rf;
    F m = set1(mf), rs = set1(rf);
    map3(yr, xr, gamma, beta, cols, [m, rs](F xv, F g, F b) { return fma(mul(sub(xv, m), rs), g, b); });
  }
}

namespace {
/** dx for rows [r0, r1). */
void layerNormDx(float* dx, const float* dy, const float* x, const float* mean, const float* rstd,
                 const float* gamma, size_t r0, size_t r1, size_t cols) {
  const double invC = cols ? 1.0 / static_cast<double>(cols) : 0.0;
  for (size_t r = r0; r < r1; r++) {
    const float* xr = x + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    F m = set1(mean[r]), rs = set1(rstd[r]);
    DAcc sa, sb;
    size_t j = 0;
    for (; j + W <= cols; j += W) {
      F g = mul(load(dyr + j), load(gamma + j));
      F xh = mul(sub(load(xr + j), m), rs);
      sa.add(g);
      sb.addmul(g, xh);
    }
    if (j < cols) {
      // masked lanes have dy = 0, hence g = 0: they add nothing
      size_t t = cols - j;
      F g = mul(loadn(dyr + j, t), loadn(gamma + j, t));
      F xh = mul(sub(loadn(xr + j, t), m), rs);
      sa.add(g);
      sb.addmul(g, xh);
    }
    F a = set1(static_cast<float>(sa.sum() * invC));
    F b = set1(static_cast<float>(sb.sum() * invC));
    j = 0;
    for (; j + W <= cols; j += W) {
      F xh = mul(sub(load(xr + j), m), rs);
      F g = mul(load(dyr + j), load(gamma + j));
      store(dxr + j, mul(rs, sub(fnma(xh, b, g), a)));
    }
    if (j < cols) {
      size_t t = cols - j;
      F xh = mul(sub(loadn(xr + j, t), m), rs);
      F g = mul(loadn(dyr + j, t), loadn(gamma + j, t));
      storen(dxr + j, mul(rs, sub(fnma(xh, b, g), a)), t);
    }
  }
}

/** Adds rows [r0, r1)'s terms of dgamma and dbeta into dg and db (cols + W doubles each). */
void layerNormDParams(double* dg, double* db, const float* dy, const float* x, const float* mean,
                      const float* rstd, size_t r0, size_t r1, size_t cols) {
  for (size_t r = r0; r < r1; r++) {
    const float* xr = x + r * cols;
    const float* dyr = dy + r * cols;
    F m = set1(mean[r]), rs = set1(rstd[r]);
    size_t j = 0;
    for (; j + W <= cols; j += W) {
      F d = load(dyr + j);
      dcol_add(dg + j, mul(d, mul(sub(load(xr + j), m), rs)));
      dcol_add(db + j, d);
    }
    if (j < cols) {
      size_t t = cols - j;
      F d = loadn(dyr + j, t);
      dcol_add(dg + j, mul(d, mul(sub(loadn(xr + j, t), m), rs)));
      dcol_add(db + j, d);
    }
  }
}
}  // namespace

// One pass over chunks of rows (kRowChunk, as in sumAxis), in parallel: each chunk's dx, and its
// partial dgamma and dbeta in double while its rows are in cache; then the partials added in
// chunk order. Every output is computed the same way whatever the thread count.
void layerNormBackward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                       const float* mean, const float* rstd, const float* gamma, size_t rows,
                       size_t cols) {
  const size_t chunks = rowChunks(rows), padded = cols + W, stride = 2 * padded;
  std::vector<double> part(std::max<size_t>(chunks, 1) * stride, 0.0);
  parallelFor(chunks, 1, rows * cols, [&](size_t c0, size_t c1) {
    for (size_t c = c0; c < c1; c++) {
      const size_t r0 = c * kRowChunk, r1 = std::min(rows, r0 + kRowChunk);
      layerNormDx(dx, dy, x, mean, rstd, gamma, r0, r1, cols);
      double* dg = part.data() + c * stride;
      layerNormDParams(dg, dg + padded, dy, x, mean, rstd, r0, r1, cols);
    }
  });
  for (size_t j = 0; j < cols; j++) {
    double g = 0.0, b = 0.0;
    for (size_t c = 0; c < chunks; c++) {
      g += part[c * stride + j];
      b += part[c * stride + padded + j];
    }
    dgamma[j] = static_cast<float>(static_cast<double>(dgamma[j]) + g);
    dbeta[j] = static_cast<float>(static_cast<double>(dbeta[j]) + b);
  }
}

// -------------------------------------------------------------------------------- softmax
namespace {
/** One softmax row; z = x (+ mask row) is recomputed on the fly rather than stored. */
template <bool MASK, bool LOG>
void softmaxRow(float* yr, const float* xr, const float* mr, size_t cols) {
  auto at = [xr, mr](size_t j) {
    if constexpr (MASK) return add(load(xr + j), load(mr + j));
    else return load(xr + j);
  };
  auto atn = [xr, mr](size_t j, size_t t) {
    if constexpr (MASK) return add(loadn(xr + j, t), loadn(mr + j, t));
    else return loadn(xr + j, t);
  };
  bool hasNaN;
  float mx = rowmaxOf<false>(cols, at, atn, &hasNaN, nullptr);
  if (hasNaN) {
    mx = kNaN;  // the whole row becomes NaN, as in the TS twin
  } else if (mx == -kInf) {
    fill(yr, cols, LOG ? -kInf : 0.0f);  // a fully masked row: zeros (log-softmax: log 0 = -inf)
    return;
  }
  const F M = set1(mx);
  DAcc s0, s1;
  size_t j = 0;
  for (; j + 2 * W <= cols; j += 2 * W) {
    F e0 = simd::exp(sub(at(j), M));
    F e1 = simd::exp(sub(at(j + W), M));
    if constexpr (!LOG) {
      store(yr + j, e0);
      store(yr + j + W, e1);
    }
    s0.add(e0);
    s1.add(e1);
  }
  for (; j + W <= cols; j += W) {
    F e = simd::exp(sub(at(j), M));
    if constexpr (!LOG) store(yr + j, e);
    s0.add(e);
  }
  if (j < cols) {
    F e = zerotail(simd::exp(sub(atn(j, cols - j), M)), cols - j);
    if constexpr (!LOG) storen(yr + j, e, cols - j);
    s1.add(e);
  }
  s0.merge(s1);
  if constexpr (!LOG) {
    const F inv = set1(static_cast<float>(1.0 / s0.sum()));
    map1(yr, yr, cols, [inv](F v) { return mul(v, inv); });
  } else {
    const F ls = set1(static_cast<float>(std::log(s0.sum())));
    j = 0;
    for (; j + W <= cols; j += W) store(yr + j, sub(sub(at(j), M), ls));
    if (j < cols) storen(yr + j, sub(sub(atn(j, cols - j), M), ls), cols - j);
  }
}
}  // namespace

namespace {
void softmaxRows(float* y, const float* x, size_t r0, size_t r1, size_t cols, const float* mask,
                 const int32_t* maskRow, bool log) {
  for (size_t r = r0; r < r1; r++) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    if (mask) {
      const float* mr = mask + static_cast<size_t>(maskRow[r]) * cols;
      if (log) softmaxRow<true, true>(yr, xr, mr, cols);
      else softmaxRow<true, false>(yr, xr, mr, cols);
    } else {
      if (log) softmaxRow<false, true>(yr, xr, nullptr, cols);
      else softmaxRow<false, false>(yr, xr, nullptr, cols);
    }
  }
}

void softmaxBackwardRows(float* dx, const float* y, const float* dy, size_t r0, size_t r1, size_t cols, bool log) {
  for (size_t r = r0; r < r1; r++) {
    const float* yr = y + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    DAcc s0, s1;
    size_t j = 0;
    if (!log) {
      for (; j + 2 * W <= cols; j += 2 * W) {
        s0.addmul(load(dyr + j), load(yr + j));
        s1.addmul(load(dyr + j + W), load(yr + j + W));
      }
      for (; j + W <= cols; j += W) s0.addmul(load(dyr + j), load(yr + j));
      if (j < cols) s1.addmul(loadn(dyr + j, cols - j), loadn(yr + j, cols - j));
      s0.merge(s1);
      F S = set1(static_cast<float>(s0.sum()));
      map2(dxr, yr, dyr, cols, [S](F yv, F g) { return mul(yv, sub(g, S)); });
    } else {
      double s = rowsum(dyr, cols);
      F S = set1(static_cast<float>(s));
      map2(dxr, yr, dyr, cols, [S](F yv, F g) { return fnma(simd::exp(yv), S, g); });
    }
  }
}
}  // namespace

// Rows in parallel: each row is one thread's, computed as on one thread.
void softmax(float* y, const float* x, size_t rows, size_t cols, const float* mask,
             const int32_t* maskRow, bool log) {
  parallelFor(rows, 1, rows * cols, [&](size_t r0, size_t r1) { softmaxRows(y, x, r0, r1, cols, mask, maskRow, log); });
}

void softmaxBackward(float* dx, const float* y, const float* dy, size_t rows, size_t cols, bool log) {
  parallelFor(rows, 1, rows * cols, [&](size_t r0, size_t r1) { softmaxBackwardRows(dx, y, dy, r0, r1, cols, log); });
}

// -------------------------------------------------------------------------- cross-entropy
namespace {
/**
 * log-sum-exp of a row in double (max + log sum exp(x - max)); with SUM also the row sum of x
 * (taken in the max pass).
 */
template <bool SUM>
inline double rowLse(const float* xr, size_t cols, double* rowSum) {
  bool hasNaN;
  float mx = rowmaxOf<SUM>(
      cols, [xr](size_t j) { return load(xr + j); }, [xr](size_t j, size_t t) { return loadn(xr + j, t); },
      &hasNaN, rowSum);
  if (hasNaN) return std::numeric_limits<double>::quiet_NaN();
  if (mx == -kInf) return -std::numeric_limits<double>::infinity();
  F M = set1(mx);
  DAcc s0, s1;
  size_t j = 0;
  for (; j + 2 * W <= cols; j += 2 * W) {
    s0.add(simd::exp(sub(load(xr + j), M)));
    s1.add(simd::exp(sub(load(xr + j + W), M)));
  }
  for (; j + W <= cols; j += W) s0.add(simd::exp(sub(load(xr + j), M)));
  if (j < cols) s1.add(zerotail(simd::exp(sub(loadn(xr + j, cols - j), M)), cols - j));
  s0.merge(s1);
  return static_cast<double>(mx) + std::log(s0.sum());
}
}  // namespace

// Rows in parallel, each row's loss kept; the total is then summed in row order on the calling
// thread, so it does not depend on the thread count.
double crossEntropy(float* lse, const float* logits, const int32_t* targets, size_t rows,
                    size_t cols, double ignoreIndex, double smoothing) {
  double* losses = scratch(tlsD, rows);
  parallelFor(rows, 1, rows * cols, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
      const float* xr = logits + r * cols;
      const int32_t t = targets[r];
      const bool ignored = static_cast<double>(t) == ignoreIndex;
      double sx = 0.0;
      const double l = smoothing != 0.0 && !ignored ? rowLse<true>(xr, cols, &sx) : rowLse<false>(xr, cols, nullptr);
      lse[r] = static_cast<float>(l);
      if (ignored) {
        losses[r] = 0.0;
        continue;
      }
      double loss = (1.0 - smoothing) * (l - static_cast<double>(xr[t]));
      if (smoothing != 0.0) loss += smoothing * (l - sx / static_cast<double>(cols));
      losses[r] = loss;
    }
  });
  double total = 0.0;
  for (size_t r = 0; r < rows; r++)
    if (static_cast<double>(targets[r]) != ignoreIndex) total += losses[r];
  return total;
}

void crossEntropyBackward(float* dlogits, const float* logits, const float* lse,
                          const int32_t* targets, size_t rows, size_t cols, double ignoreIndex,
                          double smoothing, double scale) {
  const double off = cols ? smoothing / static_cast<double>(cols) : 0.0;
  const F sc = set1(static_cast<float>(scale));
  const F so = set1(static_cast<float>(scale * off));
  parallelFor(rows, 1, rows * cols, [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
      const float* xr = logits + r * cols;
      float* dr = dlogits + r * cols;
      const int32_t t = targets[r];
      if (static_cast<double>(t) == ignoreIndex) {
        fill(dr, cols, 0.0f);
        continue;
      }
      F L = set1(lse[r]);
      // dl = scale * p - scale * eps / cols
      map1(dr, xr, cols, [L, sc, so](F v) { return fms(simd::exp(sub(v, L)), sc, so); });
      const double pt = std::exp(static_cast<double>(xr[t]) - static_cast<double>(lse[r]));
      dr[t] = static_cast<float>(scale * (pt - (1.0 - smoothing) - off));
    }
  });
}

// ---------------------------------------------------------------------- gather / scatter
void gatherRows(float* out, const float* src, const int32_t* idx, size_t nidx, size_t cols) {
  parallelFor(nidx, 1, nidx * cols, [&](size_t i0, size_t i1) {
    if (cols == 1) {
      for (size_t i = i0; i < i1; i++) out[i] = src[idx[i]];
      return;
    }
    for (size_t i = i0; i < i1; i++) copyRow(out + i * cols, src + static_cast<size_t>(idx[i]) * cols, cols);
  });
}

namespace {
/** Whether every value of idx (all below outRows) comes in one run of equal values: sorted, or all distinct. */
bool indexRuns(const int32_t* idx, size_t nidx, size_t outRows) {
  std::vector<uint8_t> seen(outRows, 0);
  for (size_t i = 0; i < nidx; i++) {
    if (i > 0 && idx[i] == idx[i - 1]) continue;
    if (seen[static_cast<size_t>(idx[i])]++) return false;
  }
  return true;
}

/**
 * The split of a scatter-add, out[idx[i]] += f(src[i]), between the threads: fn(i0, i1, j0, j1,
 * fresh) adds rows [i0, i1) over columns [j0, j1), each in i order; with `fresh`, the first row of
 * each run of equal indices writes 0 + f(src[i]) (the sum onto the zeroed row, bit for bit)
 * without reading out. Rows that land on the same row of out must be added in order. When each row
 * of out gets its rows from one run of idx (sorted, as the experts' rows for their bias gradient,
 * or all distinct, as a top-1 dispatch), the threads split out's rows, and one thread adds a whole
 * run. Otherwise (the word embedding's gradient) they split the columns, each thread adding every
 * row's slice of its columns: reading part of every row, which ran slower on 2 threads than on 1
 * out of cache (see sumAxis). Either way each element gets its additions in i order, so the result
 * does not depend on the split.
 */
template <class Fn>
void scatterSplit(const int32_t* idx, size_t nidx, size_t cols, size_t outRows, float* zero, Fn fn) {
  if (poolThreadCount() > 1 && nidx * cols >= kParallelWork && indexRuns(idx, nidx, outRows)) {
    // Each thread owns a range of out's rows and adds, in i order, the rows of src that land there
    // (scanning the whole index: a few thousand integers). Splitting src's rows instead had both
    // threads writing rows all over out for a shuffled index (a top-1 dispatch's gradient): 2048 x
    // 256 took 0.12-0.14 ms on 2 threads against 0.06 on 1, the cores pulling each other's
    // neighbouring lines; split by out's rows it is 0.045 ms.
    // Into a fresh out, each run's first row writes its row and only the rows no run reaches are
    // zeroed: the Switch layer's combine (2048 x 256, top-1) had zeroed all of out and then read
    // it back.
    parallelFor(outRows, 1, nidx * cols, [&](size_t o0, size_t o1) {
      std::vector<uint8_t> reached(zero ? o1 - o0 : 0, 0);
      size_t start = nidx;  // the first of the current stretch of consecutive rows that land here
      for (size_t i = 0; i < nidx; i++) {
        const size_t r = static_cast<size_t>(idx[i]);
        const bool mine = r >= o0 && r < o1;
        if (mine && zero) reached[r - o0] = 1;
        if (mine && start == nidx) start = i;
        if (!mine && start != nidx) {
          fn(start, i, size_t{0}, cols, zero != nullptr);
          start = nidx;
        }
      }
      if (start != nidx) fn(start, nidx, size_t{0}, cols, zero != nullptr);
      if (zero)
        for (size_t r = o0; r < o1; r++)
          if (!reached[r - o0]) std::memset(zero + r * cols, 0, cols * sizeof(float));
    });
    return;
  }
  // Zeroed first by rows, each thread a contiguous range. Zeroing each thread's columns of every
  // row instead ran slower on 2 threads than on 1: the word embedding's 16 MB gradient
  // (16,384 x 256, 4,096 rows added) took 0.90 ms on 2 threads against 0.75 on 1; by rows, 0.58-0.71.
  if (zero)
    parallelFor(outRows, 1, outRows * cols, [&](size_t r0, size_t r1) {
      std::memset(zero + r0 * cols, 0, (r1 - r0) * cols * sizeof(float));
    });
  parallelFor(cols, 4 * W, std::max(nidx, outRows) * cols, [&](size_t j0, size_t j1) {
    fn(size_t{0}, nidx, j0, j1, false);
  });
}

/** Whether row i of a scatter-add starts a run of equal indices (with `fresh`, it writes its row). */
inline bool startsRun(const int32_t* idx, size_t i) { return i == 0 || idx[i - 1] != idx[i]; }

/** With zeroLen > 0, out[0, zeroLen) is zeroed first: each thread its own part (scatterSplit), the
 *  part past outRows whole rows here. */
float* zeroTail(float* out, size_t outRows, size_t cols, size_t zeroLen) {
  if (zeroLen == 0) return nullptr;
  if (zeroLen > outRows * cols) std::memset(out + outRows * cols, 0, (zeroLen - outRows * cols) * sizeof(float));
  return out;
}
}  // namespace

void scatterAddRows(float* out, const float* src, const int32_t* idx, size_t nidx, size_t cols, size_t outRows, size_t zeroLen) {
  scatterSplit(idx, nidx, cols, outRows, zeroTail(out, outRows, cols, zeroLen), [&](size_t i0, size_t i1, size_t j0, size_t j1, bool fresh) {
    const F z = zero();
    for (size_t i = i0; i < i1; i++) {
      float* o = out + static_cast<size_t>(idx[i]) * cols + j0;
      if (fresh && startsRun(idx, i))
        map1(o, src + i * cols + j0, j1 - j0, [z](F b) { return add(z, b); });  // 0 + b: -0 becomes +0, as on a zeroed row
      else
        map2(o, o, src + i * cols + j0, j1 - j0, [](F a, F b) { return add(a, b); });
    }
  });
}

// The weighted combine of mixture-of-experts: out[idx[i]] += scale[i] * src[i], one fused
// multiply-add per element, split as scatterAddRows is (by rows when no row of out is named twice,
// as in top-1 routing).
void scatterAddRowsScaled(float* out, const float* src, const float* scale, const int32_t* idx, size_t nidx,
                          size_t cols, size_t outRows, size_t zeroLen) {
  scatterSplit(idx, nidx, cols, outRows, zeroTail(out, outRows, cols, zeroLen), [&](size_t i0, size_t i1, size_t j0, size_t j1, bool fresh) {
    const F z = zero();
    for (size_t i = i0; i < i1; i++) {
      float* o = out + static_cast<size_t>(idx[i]) * cols + j0;
      const F s = set1(scale[i]);
      if (fresh && startsRun(idx, i))
        map1(o, src + i * cols + j0, j1 - j0, [s, z](F b) { return fma(s, b, z); });  // onto 0, as on a zeroed row
      else
        map2(o, o, src + i * cols + j0, j1 - j0, [s](F a, F b) { return fma(s, b, a); });
    }
  });
}

// Its backward, one pass over the rows: dsrc[i] = scale[i] * dout[idx[i]] and
// dscale[i] = sum_j dout[idx[i], j] * src[i, j], each product rounded to float and summed by rowsumOf,
// as rowsum sums a row, so the gates' gradient is bit for bit the row product and sumAxis it replaces.
void scatterAddRowsScaledBackward(float* dsrc, float* dscale, const float* dout, const float* src, const float* scale,
                                  const int32_t* idx, size_t nidx, size_t cols) {
  parallelFor(nidx, 1, nidx * cols, [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; i++) {
      const float* g = dout + static_cast<size_t>(idx[i]) * cols;
      const float* x = src + i * cols;
      float* d = dsrc + i * cols;
      const F s = set1(scale[i]);
      // Each vector of dout is read once: scaled into dsrc, and its products with src summed.
      dscale[i] = static_cast<float>(rowsumOf(
          cols,
          [&](size_t j) {
            const F gv = load(g + j);
            store(d + j, mul(s, gv));
            return mul(gv, load(x + j));
          },
          [&](size_t j, size_t r) {
            const F gv = loadn(g + j, r);
            storen(d + j, mul(s, gv), r);
            return mul(gv, loadn(x + j, r));
          }));
    }
  });
}

// -------------------------------------------------------------------------------- dropout
namespace {
void dropoutRange(float* y, uint8_t* mask, const float* x, size_t i, size_t n, int64_t thr, float scale, uint32_t seed);

/** The 24-bit draw a kept element must reach. */
int64_t dropoutThreshold(double p) {
  // keep iff u >= p with u = k * 2^-24 (k a 24-bit integer)  <=>  k >= ceil(p * 2^24)
  if (!(p == p)) return int64_t(1) << 24;  // NaN: u >= NaN is false, nothing kept
  if (p <= 0.0) return 0;
  if (p >= 1.0) return int64_t(1) << 24;
  return static_cast<int64_t>(std::ceil(p * 16777216.0));
}
}  // namespace

// Element i's draw is a hash of (seed, i): ranges of elements split between the threads draw
// exactly what one thread draws.
void dropout(float* y, uint8_t* mask, const float* x, size_t n, double p, uint32_t seed) {
  const int64_t thr = dropoutThreshold(p);
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  parallelFor(n, 64, n, [&](size_t s, size_t e) { dropoutRange(y, mask, x, s, e, thr, scale, seed); });
}

namespace {
/** dropout over elements [i, n). */
void dropoutRange(float* y, uint8_t* mask, const float* x, size_t i, size_t n, int64_t thr, float scale, uint32_t seed) {
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
  {
    // 16 lanes: the hash's three 32-bit multiplies are most of the cost. Same integers, same keep
    // test, and a dropped element is +0 as on 8 lanes.
    const __m512i vthr = _mm512_set1_epi32(static_cast<int32_t>(thr - 1));
    const __m512i vseed = _mm512_set1_epi32(static_cast<int32_t>(seed));
    const __m512i c0 = _mm512_set1_epi32(static_cast<int32_t>(0x9E3779B1u));
    const __m512i c1 = _mm512_set1_epi32(static_cast<int32_t>(0x7FEB352Du));
    const __m512i c2 = _mm512_set1_epi32(static_cast<int32_t>(0x846CA68Bu));
    const __m512 vs = _mm512_set1_ps(scale);
    __m512i idx = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(i)),
                                   _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    const __m512i step = _mm512_set1_epi32(16);
    for (; i + 16 <= n; i += 16) {
      prefetchAhead(x + i);
      __m512i h = _mm512_add_epi32(_mm512_mullo_epi32(idx, c0), vseed);
      h = _mm512_xor_si512(h, _mm512_srli_epi32(h, 16));
      h = _mm512_mullo_epi32(h, c1);
      h = _mm512_xor_si512(h, _mm512_srli_epi32(h, 15));
      h = _mm512_mullo_epi32(h, c2);
      h = _mm512_xor_si512(h, _mm512_srli_epi32(h, 16));
      const __mmask16 keep = _mm512_cmpgt_epi32_mask(_mm512_srli_epi32(h, 8), vthr);
      _mm512_storeu_ps(y + i, _mm512_maskz_mul_ps(keep, _mm512_loadu_ps(x + i), vs));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(mask + i), _mm_maskz_set1_epi8(keep, 1));
      idx = _mm512_add_epi32(idx, step);
    }
  }
#endif
#if PW_AVX2
  const __m256i vthr = _mm256_set1_epi32(static_cast<int32_t>(thr - 1));  // k > thr-1
  const __m256i vseed = _mm256_set1_epi32(static_cast<int32_t>(seed));
  const __m256i c0 = _mm256_set1_epi32(static_cast<int32_t>(0x9E3779B1u));
  const __m256i c1 = _mm256_set1_epi32(static_cast<int32_t>(0x7FEB352Du));
  const __m256i c2 = _mm256_set1_epi32(static_cast<int32_t>(0x846CA68Bu));
  const __m256 vs = set1(scale);
  __m256i idx = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int32_t>(i)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const __m256i step = _mm256_set1_epi32(8);
  for (; i + 8 <= n; i += 8) {
    __m256i h = _mm256_add_epi32(_mm256_mullo_epi32(idx, c0), vseed);
    h = _mm256_xor_si256(h, _mm256_srli_epi32(h, 16));
    h = _mm256_mullo_epi32(h, c1);
    h = _mm256_xor_si256(h, _mm256_srli_epi32(h, 15));
    h = _mm256_mullo_epi32(h, c2);
    h = _mm256_xor_si256(h, _mm256_srli_epi32(h, 16));
    __m256i k = _mm256_srli_epi32(h, 8);
    __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(k, vthr));
    _mm256_storeu_ps(y + i, _mm256_and_ps(keep, _mm256_mul_ps(_mm256_loadu_ps(x + i), vs)));
    uint64_t bytes = kBytes.t[_mm256_movemask_ps(keep)];
    std::memcpy(mask + i, &bytes, 8);
    idx = _mm256_add_epi32(idx, step);
  }
#endif
  for (; i < n; i++) {
    const bool keep = static_cast<int64_t>(hashScalar(seed, static_cast<uint32_t>(i))) >= thr;
    y[i] = keep ? x[i] * scale : 0.0f;
    mask[i] = keep ? 1 : 0;
  }
}
}  // namespace

namespace {
void dropoutBackwardRange(float* dx, const float* dy, const uint8_t* mask, size_t i, size_t n, float scale) {
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
  {
    const __m512 vs = _mm512_set1_ps(scale);
    for (; i + 16 <= n; i += 16) {
      const __m128i mb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(mask + i));
      _mm512_storeu_ps(dx + i, _mm512_maskz_mul_ps(_mm_test_epi8_mask(mb, mb), _mm512_loadu_ps(dy + i), vs));
    }
  }
#endif
#if PW_AVX2
  const __m256 vs = set1(scale);
  for (; i + 8 <= n; i += 8) {
    __m256i mb = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(mask + i)));
    __m256 keep = _mm256_castsi256_ps(_mm256_cmpgt_epi32(mb, _mm256_setzero_si256()));
    _mm256_storeu_ps(dx + i, _mm256_and_ps(keep, _mm256_mul_ps(_mm256_loadu_ps(dy + i), vs)));
  }
#endif
  for (; i < n; i++) dx[i] = mask[i] ? dy[i] * scale : 0.0f;
}
}  // namespace

void dropoutBackward(float* dx, const float* dy, const uint8_t* mask, size_t n, double p) {
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  parallelFor(n, 64, n, [&](size_t s, size_t e) { dropoutBackwardRange(dx, dy, mask, s, e, scale); });
}

// ------------------------------------------------------------------ activation + dropout
// An FFN's hidden layer, dropout(act(x)), in one pass over memory instead of two: each block of
// kFuseBlock elements gets the activation and then the dropout while it sits in L1, through the
// same range functions as `unary` then `dropout` (and `dropoutBackward` then `unaryBackward`),
// so the bits are those of the two kernels one after the other.
namespace {
constexpr size_t kFuseBlock = 512;
}  // namespace

void unaryDropout(int op, float* y, uint8_t* mask, const float* x, size_t n, double p, uint32_t seed) {
  const int64_t thr = dropoutThreshold(p);
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  parallelFor(n, 64, n, [&](size_t s, size_t e) {
    for (size_t b = s; b < e; b += kFuseBlock) {
      const size_t be = std::min(e, b + kFuseBlock);
      unaryRange(op, y + b, x + b, be - b);
      dropoutRange(y, mask, y, b, be, thr, scale, seed);
    }
  });
}

void unaryDropoutBackward(int op, float* dx, const float* saved, const float* dy, const uint8_t* mask, size_t n, double p) {
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  parallelFor(n, 64, n, [&](size_t s, size_t e) {
    // GELU (the FFNs' activation) in one 16-lane loop that prefetches its streams: through the
    // blocks below, whose dropout pass does not prefetch, 2M elements out of cache took 0.36 ns an
    // element on 2 threads, slower than the two kernels apart (0.29); this loop, 0.26. The other
    // activations take the blocks: each block's dropout gradient into a small buffer, then
    // through the derivative while it is in L1.
    size_t b = s;
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
    if (op == 0) {
      const __m512 vs = _mm512_set1_ps(scale);
      for (; b + 16 <= e; b += 16) {
        prefetchAhead(saved + b);
        prefetchAhead(dy + b);
        const __m128i mb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(mask + b));
        const __m512 g = _mm512_maskz_mul_ps(_mm_test_epi8_mask(mb, mb), _mm512_loadu_ps(dy + b), vs);
        _mm512_storeu_ps(dx + b, simd512::geluB(_mm512_loadu_ps(saved + b), g));
      }
    }
#endif
    alignas(64) float tmp[kFuseBlock];
    for (; b < e; b += kFuseBlock) {
      const size_t len = std::min(e, b + kFuseBlock) - b;
      dropoutBackwardRange(tmp, dy + b, mask + b, 0, len, scale);
      unaryBackwardRange(op, dx + b, saved + b, tmp, len);
    }
  });
}

// ------------------------------------------------------------------------------ optimizer
void adamw(float* p, const float* g, float* m, float* v, size_t n, double lr, double beta1,
           double beta2, double eps, double weightDecay, double bc1, double bc2) {
  // decay, step, 1/sqrt(bc2), beta1, 1 - beta1, beta2, 1 - beta2, eps: one rounding to float for both loops
  const float c[8] = {static_cast<float>(1.0 - lr * weightDecay), static_cast<float>(lr / bc1),
                      static_cast<float>(1.0 / std::sqrt(bc2)),  static_cast<float>(beta1),
                      static_cast<float>(1.0 - beta1),           static_cast<float>(beta2),
                      static_cast<float>(1.0 - beta2),           static_cast<float>(eps)};
  const F decay = set1(c[0]), step = set1(c[1]), ib2 = set1(c[2]), b1 = set1(c[3]), ob1 = set1(c[4]), b2 = set1(c[5]),
          ob2 = set1(c[6]), ep = set1(c[7]);
  auto body = [&](F pv, F gv, F mv, F vv, F* po, F* mo, F* vo) {
    mv = fma(b1, mv, mul(ob1, gv));
    vv = fma(b2, vv, mul(mul(ob2, gv), gv));
    F den = fma(simd::sqrt(vv), ib2, ep);
    *po = fnma(step, div(mv, den), mul(pv, decay));
    *mo = mv;
    *vo = vv;
  };
  parallelFor(n, 64, n, [&](size_t s, size_t e) {
    size_t i = s;
#if defined(__AVX512F__)
    // 16 lanes with the four input streams prefetched 2 KB ahead. On 8 lanes the division and
    // square root kept too few loads in flight for seven streams; with neither change, the 4.2M
    // word-embedding update took 2.4-3.7 ms on 1 thread and 1.74-2.03 on 2 (out of cache), 16 lanes
    // alone 2.5-2.8 and 1.38-1.52, both 2.0-2.35 and 1.03-1.22. The same operations on each lane as
    // the 8-lane loop below (each IEEE-rounded), so the same bits.
    {
      const __m512 decay16 = _mm512_set1_ps(c[0]), step16 = _mm512_set1_ps(c[1]), ib216 = _mm512_set1_ps(c[2]),
                   b116 = _mm512_set1_ps(c[3]), ob116 = _mm512_set1_ps(c[4]), b216 = _mm512_set1_ps(c[5]),
                   ob216 = _mm512_set1_ps(c[6]), ep16 = _mm512_set1_ps(c[7]);
      for (; i + 16 <= e; i += 16) {
        prefetchAhead(p + i);
        prefetchAhead(g + i);
        prefetchAhead(m + i);
        prefetchAhead(v + i);
        const __m512 gv = _mm512_loadu_ps(g + i);
        const __m512 mv = _mm512_fmadd_ps(b116, _mm512_loadu_ps(m + i), _mm512_mul_ps(ob116, gv));
        const __m512 vv = _mm512_fmadd_ps(b216, _mm512_loadu_ps(v + i), _mm512_mul_ps(_mm512_mul_ps(ob216, gv), gv));
        const __m512 den = _mm512_fmadd_ps(_mm512_sqrt_ps(vv), ib216, ep16);
        const __m512 pv = _mm512_mul_ps(_mm512_loadu_ps(p + i), decay16);
        _mm512_storeu_ps(p + i, _mm512_fnmadd_ps(step16, _mm512_div_ps(mv, den), pv));
        _mm512_storeu_ps(m + i, mv);
        _mm512_storeu_ps(v + i, vv);
      }
    }
#endif
    for (; i + W <= e; i += W) {
      F po, mo, vo;
      body(load(p + i), load(g + i), load(m + i), load(v + i), &po, &mo, &vo);
      store(p + i, po);
      store(m + i, mo);
      store(v + i, vo);
    }
    if (i < e) {
      size_t t = e - i;
      F po, mo, vo;
      body(loadn(p + i, t), loadn(g + i, t), loadn(m + i, t), loadn(v + i, t), &po, &mo, &vo);
      storen(p + i, po, t);
      storen(m + i, mo, t);
      storen(v + i, vo, t);
    }
  });
}

// ------------------------------------------------------------------------ no-grad helpers
namespace {
/** Ranking used by argmax and topk: NaN above everything, then larger value, then lower index. */
inline bool ranksBefore(const float* row, int32_t a, int32_t b) {
  const float va = row[a], vb = row[b];
  const bool na = va != va, nb = vb != vb;
  if (na != nb) return na;
  if (!na && va != vb) return va > vb;
  return a < b;
}
}  // namespace

namespace {
/** Index of the first NaN of a row if any, else of the first maximum (the argmax ranking). */
inline size_t argmaxRow(const float* xr, size_t cols) {
  bool hasNaN;
  const float m = rowmax(xr, cols, &hasNaN);
  size_t j = 0;
  if (hasNaN) {
    while (xr[j] == xr[j]) j++;
    return j;
  }
#if PW_AVX2
  const F M = set1(m);
  for (; j + W <= cols; j += W) {
    const int bits = _mm256_movemask_ps(_mm256_cmp_ps(load(xr + j), M, _CMP_EQ_OQ));
    if (bits) return j + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(bits)));
  }
#endif
  while (j < cols && !(xr[j] == m)) j++;
  return j < cols ? j : 0;  // j < cols always holds for a NaN-free row
}
}  // namespace

void argmax(int32_t* out, const float* x, size_t rows, size_t cols) {
  for (size_t r = 0; r < rows; r++) out[r] = static_cast<int32_t>(argmaxRow(x + r * cols, cols));
}

void topk(float* values, int32_t* indices, const float* x, size_t rows, size_t cols, size_t k) {
  if (k == 0) return;
  int32_t* buf = scratch(tlsI, std::max(cols, k));
  for (size_t r = 0; r < rows; r++) {
    const float* xr = x + r * cols;
    if (k == 1) {
      buf[0] = static_cast<int32_t>(argmaxRow(xr, cols));
    } else if (k <= 16) {
      // Bounded insertion: buf[0..c) holds the best so far, in rank order. Scanning in index
      // order, an element can only enter if it ranks above the current k-th, i.e. is larger
      // (a tie loses on index) or NaN.
      size_t c = 0;
      auto consider = [&](size_t j) {
        const int32_t jj = static_cast<int32_t>(j);
        if (c == k && !ranksBefore(xr, jj, buf[k - 1])) return;
        size_t pos = c < k ? c++ : k - 1;
        while (pos > 0 && ranksBefore(xr, jj, buf[pos - 1])) {
          buf[pos] = buf[pos - 1];
          pos--;
        }
        buf[pos] = jj;
      };
      size_t j = 0;
      for (; j < cols && c < k; j++) consider(j);
#if PW_AVX2
      F thr = set1(c == k ? xr[buf[k - 1]] : 0.0f);
      for (; j + W <= cols; j += W) {
        const F v = load(xr + j);
        unsigned bits = static_cast<unsigned>(_mm256_movemask_ps(or_(gt(v, thr), isnan_(v))));
        if (!bits) continue;
        // the k-th only rises, so lanes not above the old one stay out
        for (; bits; bits &= bits - 1) consider(j + static_cast<size_t>(__builtin_ctz(bits)));
        thr = set1(xr[buf[k - 1]]);
      }
#endif
      for (; j < cols; j++) consider(j);
    } else {
      for (size_t j = 0; j < cols; j++) buf[j] = static_cast<int32_t>(j);
      std::partial_sort(buf, buf + k, buf + cols,
                        [xr](int32_t a, int32_t b) { return ranksBefore(xr, a, b); });
    }
    for (size_t i = 0; i < k; i++) {
      values[r * k + i] = xr[buf[i]];
      indices[r * k + i] = buf[i];
    }
  }
}

}  // namespace pw
