// attentionInference: fused multi-head self-attention for inference (contract and the exact
// arithmetic: src/engine/kernels.ts). No gradient, so neither the T x T scores nor the
// probabilities are ever materialised beyond a block of query rows.
//
// Work unit: one (sequence b, head h, range of query rows). Units are handed out through an
// atomic counter to the pool's threads (int8.cc: blas.setThreads()'s count); a unit is
// computed by one thread, and what a query row gets depends only on its own inputs (not on the
// unit, the block it shares, or the thread), so results do not depend on the thread count.
//
// Per unit:
//  1. The visible keys (mask not -Infinity; with `causal`, j < the unit's last row + 1) are
//     listed in order, J[0..n). Masked keys are skipped, never weighted by zero: a padded
//     sequence's real rows see exactly the keys, and do exactly the arithmetic, of the same
//     sequence alone.
//  2. Kᵀ of the visible keys goes to a scratch [Dh, nPad] (nPad = n rounded up to the vector
//     width, zero columns beyond n), so that scores are vectorised over keys, and their V rows to
//     a contiguous [n, Dh] (read once per block of rows: from X, 3D apart, they thrash the TLB).
//  3. Per block of R = 4 query rows: scores S[r, c] = Σ_d q_r[d] Kᵀ[d, c], one FMA per d in
//     ascending d (R rows x C = 4 vectors of keys of accumulators, 16 zmm); then per row the
//     scale and mask, the max, e = exp(s - max) (vectorised polynomial, simd::exp's), the sum in
//     double, p = e * fround(1 / sum), in place; then ctx_r[d] = Σ_c p[c] V[J[c], d] with one
//     FMA per key in ascending c, vectorised over d (R rows x up to 4 vectors of d). Causal rows
//     of a block see different key counts: the keys all of them see are done together, then
//     each row finishes its own (same order: a row's sums are those of the row alone).
// AVX-512 when compiled in (-march=native on such a CPU), else simd.h (AVX2 + FMA, or scalar).
//
// Cost: the FMAs (2 T n Dh per head) are the whole of it: on the project machine (one 512-bit FMA
// per cycle) B = 32, T = 128, H = 4, Dh = 64 takes ~10 ms on one thread, about that FMA count at
// the machine's peak, ~6 ms on two (the old path, two grouped GEMMs and the softmax: 13-20 ms).
// The arithmetic is that of OpenBLAS's sgemm + the softmax kernel + sgemm (FMA chains in
// ascending order from 0, alpha applied after), so results usually equal the old path's bit for
// bit (measured up to T = 200; OpenBLAS splits longer sums).

// GCC 12 reports its own _mm512_undefined_* (self-initialised on purpose) as maybe-uninitialized.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "simd512.h"
#include "kernels.h"
#include "simd.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#define PW_ATTN_AVX512 1
#else
#define PW_ATTN_AVX512 0
#endif

namespace pw {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// --------------------------------------------------------------------------- vector layer
namespace av {
#if PW_ATTN_AVX512
constexpr int L = 16;
using V = __m512;
inline __mmask16 tm(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
inline V load(const float* p) { return _mm512_loadu_ps(p); }
/** Lanes [0, n) of p, the rest 0; 1 <= n <= L. */
inline V loadn(const float* p, int n) { return _mm512_maskz_loadu_ps(tm(n), p); }
inline void store(float* p, V v) { _mm512_storeu_ps(p, v); }
inline void storen(float* p, V v, int n) { _mm512_mask_storeu_ps(p, tm(n), v); }
inline V set1(float x) { return _mm512_set1_ps(x); }
inline V zero() { return _mm512_setzero_ps(); }
inline V add(V a, V b) { return _mm512_add_ps(a, b); }
inline V sub(V a, V b) { return _mm512_sub_ps(a, b); }
inline V mul(V a, V b) { return _mm512_mul_ps(a, b); }
inline V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
inline V vmax(V a, V b) { return _mm512_max_ps(a, b); }
/** Lanes >= n (n < L) replaced by f. */
inline V fillTail(V v, int n, float f) { return _mm512_mask_mov_ps(_mm512_set1_ps(f), tm(n), v); }
inline float hmax(V v) { return _mm512_reduce_max_ps(v); }

/** simd::exp on 16 lanes (simd512.h): e^x, ~1 ulp, 0 below -86.5 (and for -inf), NaN -> NaN. */
inline V exp(V x) { return simd512::exp(x); }

/** Sum of float lanes in double. */
struct DSum {
  __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
  inline void add(V x) {
    lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(x)));
    hi = _mm512_add_pd(hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1))));
  }
  inline double sum() const { return _mm512_reduce_add_pd(_mm512_add_pd(lo, hi)); }
};
constexpr int kC = 4;   // score block: kC vectors of keys
constexpr int kNV = 4;  // context block: kNV vectors of d
#else
constexpr int L = simd::W;
using V = simd::F;
inline V load(const float* p) { return simd::load(p); }
inline V loadn(const float* p, int n) { return n >= L ? simd::load(p) : simd::loadn(p, n); }
inline void store(float* p, V v) { simd::store(p, v); }
inline void storen(float* p, V v, int n) {
  if (n >= L) simd::store(p, v);
  else simd::storen(p, v, n);
}
inline V set1(float x) { return simd::set1(x); }
inline V zero() { return simd::zero(); }
inline V add(V a, V b) { return simd::add(a, b); }
inline V sub(V a, V b) { return simd::sub(a, b); }
inline V mul(V a, V b) { return simd::mul(a, b); }
inline V fma(V a, V b, V c) { return simd::fma(a, b, c); }
inline V vmax(V a, V b) { return simd::vmax(a, b); }
inline V fillTail(V v, int n, float f) {
#if PW_AVX2
  return _mm256_blendv_ps(_mm256_set1_ps(f), v, _mm256_castsi256_ps(simd::tailmask(n)));
#else
  return n ? v : f;
#endif
}
inline float hmax(V v) { return simd::hmax(v); }
inline V exp(V x) { return simd::exp(x); }
struct DSum {
  simd::DAcc a;
  inline void add(V x) { a.add(x); }
  inline double sum() const { return a.sum(); }
};
constexpr int kC = L == 1 ? 4 : 2;
constexpr int kNV = L == 1 ? 4 : 2;
#endif
}  // namespace av

using av::L;
using av::V;
constexpr int kR = 4;      // query rows per block
constexpr int kAhead = 4;  // keys prefetched ahead while copying K and V

// ------------------------------------------------------------------------------- scratch
struct Scratch {
  std::vector<int> J;        // visible keys
  std::vector<float> mk;     // their mask values
  std::vector<float> kt;     // Kᵀ [Dh, nPad]
  std::vector<float> vc;     // V of the visible keys [n, Dh]
  std::vector<float> s;      // scores / probabilities [kR, nPad]
};
thread_local Scratch tls;

template <class T>
T* grow(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// ------------------------------------------------------------------------------- kernels
/** S[r, c0 .. c0 + C L) = Σ_d q_r[d] Kᵀ[d, c], d ascending, one FMA each. */
template <int R, int C>
inline void scoreBlock(const float* const* q, const float* kt, size_t ldk, int Dh, float* S, size_t ldS, int c0) {
  V acc[R][C];
#pragma GCC unroll 4
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int c = 0; c < C; c++) acc[r][c] = av::zero();
  const float* k = kt + c0;
  for (int d = 0; d < Dh; d++, k += ldk) {
    V kv[C];
#pragma GCC unroll 4
    for (int c = 0; c < C; c++) kv[c] = av::load(k + c * L);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      const V qb = av::set1(q[r][d]);
#pragma GCC unroll 4
      for (int c = 0; c < C; c++) acc[r][c] = av::fma(qb, kv[c], acc[r][c]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int c = 0; c < C; c++) av::store(S + r * ldS + c0 + c * L, acc[r][c]);
}

template <int R>
void scores(const float* const* q, const float* kt, size_t ldk, int Dh, float* S, size_t ldS, int chunks) {
  int c = 0;
  for (; c + av::kC <= chunks; c += av::kC) scoreBlock<R, av::kC>(q, kt, ldk, Dh, S, ldS, c * L);
  switch (chunks - c) {
    case 3:
      if constexpr (av::kC > 3) scoreBlock<R, 3>(q, kt, ldk, Dh, S, ldS, c * L);
      break;
    case 2:
      if constexpr (av::kC > 2) scoreBlock<R, 2>(q, kt, ldk, Dh, S, ldS, c * L);
      break;
    case 1:
      scoreBlock<R, 1>(q, kt, ldk, Dh, S, ldS, c * L);
      break;
    default:
      break;
  }
}

/**
 * Row softmax in place over s[0, m) (m >= 1): x = fround(s * scale) (+ mask), max, e = exp(x - max),
 * sum in double, p = e * fround(1 / sum). Lanes in [m, nPad) become 0. Returns 0 normally, 1 when
 * every x is -Infinity (the row's context is zeros), 2 when additionally some x is NaN (NaN row).
 */
inline int softmaxRow(float* s, int m, const float* mk, float scale) {
  const V sc = av::set1(scale);
  V mx = av::set1(-kInf);
  int c = 0;
  for (; c + L <= m; c += L) {
    V x = av::mul(av::load(s + c), sc);
    if (mk) x = av::add(x, av::load(mk + c));
    av::store(s + c, x);
    mx = av::vmax(mx, x);
  }
  if (c < m) {
    V x = av::mul(av::load(s + c), sc);
    if (mk) x = av::add(x, av::load(mk + c));
    x = av::fillTail(x, m - c, -kInf);
    av::store(s + c, x);
    mx = av::vmax(mx, x);
  }
  const int end = c < m ? c + L : c;
  const float M = av::hmax(mx);
  if (M == -kInf) {
    for (int j = 0; j < m; j++)
      if (s[j] != s[j]) return 2;
    return 1;
  }
  const V Mv = av::set1(M);
  av::DSum sum;
  for (c = 0; c < end; c += L) {
    const V e = av::exp(av::sub(av::load(s + c), Mv));
    av::store(s + c, e);
    sum.add(e);
  }
  const V inv = av::set1(static_cast<float>(1.0 / sum.sum()));
  for (c = 0; c < end; c += L) av::store(s + c, av::mul(av::load(s + c), inv));
  return 0;
}

/**
 * out_r[d0 .. d0 + (NV-1) L + tail) = Σ_{c < m[r]} P[r][c] V[c, d] (V: the visible keys' rows), c ascending, one FMA
 * each; rows share the keys below m[0] (m ascending), then finish alone.
 */
template <int R, int NV>
inline void pvBlock(const float* const* P, const int* m, const float* vbase, size_t ldv, float* const* out, int d0,
                    int tail) {
  V acc[R][NV];
#pragma GCC unroll 4
  for (int r = 0; r < R; r++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[r][v] = av::zero();
  auto row = [&](int c, V* vv) __attribute__((always_inline)) {
    const float* vr = vbase + static_cast<size_t>(c) * ldv + d0;
#pragma GCC unroll 4
    for (int v = 0; v < NV - 1; v++) vv[v] = av::load(vr + v * L);
    vv[NV - 1] = av::loadn(vr + (NV - 1) * L, tail);
  };
  const int m0 = m[0];
  for (int c = 0; c < m0; c++) {
    V vv[NV];
    row(c, vv);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
      const V p = av::set1(P[r][c]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[r][v] = av::fma(p, vv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 4
  for (int r = 1; r < R; r++) {
    for (int c = m0; c < m[r]; c++) {
      V vv[NV];
      row(c, vv);
      const V p = av::set1(P[r][c]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[r][v] = av::fma(p, vv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < R; r++) {
#pragma GCC unroll 4
    for (int v = 0; v < NV - 1; v++) av::store(out[r] + d0 + v * L, acc[r][v]);
    av::storen(out[r] + d0 + (NV - 1) * L, acc[r][NV - 1], tail);
  }
}

template <int R>
void pv(const float* const* P, const int* m, const float* vbase, size_t ldv, float* const* out, int Dh) {
  for (int d0 = 0; d0 < Dh; d0 += av::kNV * L) {
    const int left = Dh - d0;
    const int nv = std::min(av::kNV, (left + L - 1) / L);
    const int tail = std::min(L, left - (nv - 1) * L);  // lanes of the last vector, 1..L
    switch (nv) {
      case 4:
        if constexpr (av::kNV >= 4) pvBlock<R, 4>(P, m, vbase, ldv, out, d0, tail);
        break;
      case 3:
        if constexpr (av::kNV >= 3) pvBlock<R, 3>(P, m, vbase, ldv, out, d0, tail);
        break;
      case 2:
        pvBlock<R, 2>(P, m, vbase, ldv, out, d0, tail);
        break;
      default:
        pvBlock<R, 1>(P, m, vbase, ldv, out, d0, tail);
        break;
    }
  }
}

struct Problem {
  float* ctx;
  const float* X;
  int batch, T, H, Dh;
  const float* keyMask;
  bool causal;
  float scale;
};

/** Rows [i0, i1) of sequence b, head h. */
void unit(const Problem& pb, int b, int h, int i0, int i1) {
  const int T = pb.T, Dh = pb.Dh;
  const size_t D = static_cast<size_t>(pb.H) * Dh, D3 = 3 * D;
  const float* Xb = pb.X + static_cast<size_t>(b) * T * D3;
  const float* mrow = pb.keyMask ? pb.keyMask + static_cast<size_t>(b) * T : nullptr;
  float* cb = pb.ctx + static_cast<size_t>(b) * T * D + static_cast<size_t>(h) * Dh;

  // 1. visible keys
  const int kmax = pb.causal ? i1 : T;
  Scratch& sc = tls;
  int* J = grow(sc.J, static_cast<size_t>(T));
  float* mk = grow(sc.mk, static_cast<size_t>(T + L));
  int n = 0;
  for (int j = 0; j < kmax; j++) {
    if (mrow && mrow[j] == -kInf) continue;
    J[n] = j;
    mk[n] = mrow ? mrow[j] : 0.0f;
    n++;
  }
  const int nPad = (n + L - 1) / L * L;
  for (int c = n; c < nPad; c++) mk[c] = 0.0f;

  // 2. Kᵀ [Dh, nPad]
  float* kt = grow(sc.kt, static_cast<size_t>(Dh) * std::max(nPad, L));
  const float* kb = Xb + D + static_cast<size_t>(h) * Dh;
  float* vc = grow(sc.vc, static_cast<size_t>(std::max(n, 1)) * Dh);
  for (int c0 = 0; c0 < nPad; c0 += L) {
    const int cn = std::min(L, n - c0);
    for (int c = 0; c < cn; c++) {
      if (c0 + c + kAhead < n) {  // the rows come from memory (first touch of X): ask early
        const char* nk = reinterpret_cast<const char*>(kb + static_cast<size_t>(J[c0 + c + kAhead]) * D3);
        for (size_t o = 0; o < sizeof(float) * Dh; o += 64) {
          __builtin_prefetch(nk + o);
          __builtin_prefetch(nk + sizeof(float) * D + o);
        }
      }
      const float* kr = kb + static_cast<size_t>(J[c0 + c]) * D3;
      for (int d = 0; d < Dh; d++) kt[static_cast<size_t>(d) * nPad + c0 + c] = kr[d];
      std::memcpy(vc + static_cast<size_t>(c0 + c) * Dh, kr + D, sizeof(float) * Dh);
    }
    for (int c = cn; c < L; c++)
      for (int d = 0; d < Dh; d++) kt[static_cast<size_t>(d) * nPad + c0 + c] = 0.0f;
  }

  // 3. query blocks
  float* S = grow(sc.s, static_cast<size_t>(kR) * std::max(nPad, L));
  const float* qb = Xb + static_cast<size_t>(h) * Dh;
  const float* mkUse = mrow ? mk : nullptr;
  int seen = 0;  // causal: visible keys <= the current row
  for (int i = i0; i < i1; i += kR) {
    const int R = std::min(kR, i1 - i);
    int m[kR];
    const float* q[kR];
    float* out[kR];
    for (int r = 0; r < R; r++) {
      if (pb.causal) {
        while (seen < n && J[seen] <= i + r) seen++;
        m[r] = seen;
      } else {
        m[r] = n;
      }
      q[r] = qb + static_cast<size_t>(i + r) * D3;
      out[r] = cb + static_cast<size_t>(i + r) * D;
    }
    const int chunks = (m[R - 1] + L - 1) / L;
    if (chunks > 0) {
      switch (R) {
        case 4: scores<4>(q, kt, nPad, Dh, S, nPad, chunks); break;
        case 3: scores<3>(q, kt, nPad, Dh, S, nPad, chunks); break;
        case 2: scores<2>(q, kt, nPad, Dh, S, nPad, chunks); break;
        default: scores<1>(q, kt, nPad, Dh, S, nPad, chunks); break;
      }
    }
    // softmax; rows without a visible key (or all -inf) are written here and dropped from the block
    int keep = 0;
    int mm[kR];
    const float* pr[kR];
    float* oo[kR];
    for (int r = 0; r < R; r++) {
      const int st = m[r] == 0 ? 1 : softmaxRow(S + r * nPad, m[r], mkUse, pb.scale);
      if (st != 0) {
        std::fill(out[r], out[r] + Dh, st == 2 ? std::numeric_limits<float>::quiet_NaN() : 0.0f);
        continue;
      }
      mm[keep] = m[r];
      pr[keep] = S + r * nPad;
      oo[keep] = out[r];
      keep++;
    }
    switch (keep) {
      case 4: pv<4>(pr, mm, vc, Dh, oo, Dh); break;
      case 3: pv<3>(pr, mm, vc, Dh, oo, Dh); break;
      case 2: pv<2>(pr, mm, vc, Dh, oo, Dh); break;
      case 1: pv<1>(pr, mm, vc, Dh, oo, Dh); break;
      default: break;
    }
  }
}

}  // namespace

void attentionInference(float* ctx, const float* X, int batch, int T, int H, int Dh, const float* keyMask,
                        bool causal) {
  if (batch <= 0 || T <= 0 || H <= 0 || Dh <= 0) return;
  const Problem pb{ctx, X, batch, T, H, Dh, keyMask, causal,
                   static_cast<float>(1.0 / std::sqrt(static_cast<double>(Dh)))};
  const int threads = poolThreadCount();
  const long pairs = static_cast<long>(batch) * H;
  // Few (b, h) pairs: split each pair's query rows too, so that every thread has work.
  int splits = 1;
  if (threads > 1 && pairs < 4L * threads) {
    const long want = (4L * threads + pairs - 1) / pairs;
    splits = static_cast<int>(std::max(1L, std::min<long>(want, (T + 15) / 16)));
  }
  const long units = pairs * splits;
  const double work = static_cast<double>(pairs) * T * T * Dh;
  const int nt = work < 262144.0 ? 1 : static_cast<int>(std::min<long>(threads, units));
  std::atomic<long> next{0};
  auto fn = [&](int) {
    for (;;) {
      const long u = next.fetch_add(1, std::memory_order_relaxed);
      if (u >= units) return;
      const long bh = u / splits;
      const int part = static_cast<int>(u % splits);
      const int i0 = static_cast<int>(static_cast<long>(T) * part / splits);
      const int i1 = static_cast<int>(static_cast<long>(T) * (part + 1) / splits);
      if (i1 > i0) unit(pb, static_cast<int>(bh / H), static_cast<int>(bh % H), i0, i1);
    }
  };
  poolRun(nt, fn);
}

}  // namespace pw
