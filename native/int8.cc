// int8 GEMM kernels for inference: quantizeRowsI8, gemmI8, linearI8 (contract:
// src/engine/kernels.ts; quantization rule and packed weight layout: src/engine/int8.ts).
//
// Every path computes the same exact int32 sums, so the paths differ only in speed:
//  * amx         AMX tiles, _tile_dpbssd (s8 x s8). A 32x32 int32 block per step: 2 A tiles
//                (16 rows x 64 k, loaded straight from A) x 2 B tiles (one packed block each:
//                the I8P block is an AMX B tile) into 4 C tiles. The row tail (< 32 rows) is
//                copied into a zero-padded scratch panel.
//  * avx512vnni  _mm512_dpbusd_epi32 is u8 x s8: A is shifted to u8 (a ^ 0x80 = a + 128) once
//                per row panel, and the accumulators start at -128 * sum_k W[n, k] (column sums
//                computed per call from the packed weights, one dpbusd per 64 bytes), so the
//                sums are exact: sum (a+128) w - 128 sum w = sum a w. 6 rows x 64 columns of
//                zmm accumulators.
//  * avxvnni     the same with _mm256_dpbusd_avx_epi32 (4 rows x 16 columns).
//  * avx2        the sign trick: |a| (u8) x sign(w, a) (s8) with _mm256_maddubs_epi16, whose
//                16-bit pair sums cannot saturate because |a|, |w| <= 127 (2 * 127^2 < 2^15),
//                then _mm256_madd_epi16 with ones to int32.
//  * scalar      plain loops.
// Which paths exist is decided once (compiled in, CPU has it, and for AMX the kernel grants the
// tile data state through arch_prctl); PATHWISE_INT8_ISA picks the initial one, setInt8Isa()
// another.
//
// Threads: the engine's one small persistent pool (not OpenMP, whose idle threads spin for
// milliseconds after each region and would steal the cores the next kernel runs on) of
// blas.setThreads()'s count, the caller being one of them; kernels.cc's GEMMs run on it too.
// Large M is split in row ranges, small M in column ranges; each output element is computed by
// one thread in a fixed order, and integer sums are exact anyway, so results do not depend on the
// thread count.
//
// linearI8's epilogue dequantises each int32 block while it is hot (never a full M x N int32
// buffer): fround(acc) * fround(sa * sw), then + bias, each rounded (an empty asm statement
// between the multiply and the add keeps the compiler from contracting them into an FMA), then
// the activation through pw::unary, i.e. exactly as the `unary` kernel computes it.

// GCC 12 reports its own _mm512_undefined_* (self-initialised on purpose) as maybe-uninitialized.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "simd512.h"
#include "kernels.h"

extern "C" int openblas_get_num_threads(void);
extern "C" void openblas_set_num_threads(int);

#if defined(__AMX_TILE__) && defined(__AMX_INT8__) && defined(__linux__) && defined(__x86_64__)
#define PW_AMX 1
#else
#define PW_AMX 0
#endif
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define PW_AVX512VNNI 1
#else
#define PW_AVX512VNNI 0
#endif
#if defined(__AVX512F__) && defined(__AVX512BW__)
#define PW_AVX512 1
#else
#define PW_AVX512 0
#endif
#if defined(__AVXVNNI__) && defined(__AVX2__)
#define PW_AVXVNNI 1
#else
#define PW_AVXVNNI 0
#endif
#if defined(__AVX2__)
#define PW_I8_AVX2 1
#else
#define PW_I8_AVX2 0
#endif

namespace pw {
namespace {

// -------------------------------------------------------------------------------- ISA choice
enum Isa { kAmx, kAvx512Vnni, kAvxVnni, kAvx2, kScalar, kIsaCount };
const char* const kIsaNames[kIsaCount] = {"amx", "avx512vnni", "avxvnni", "avx2", "scalar"};

struct IsaState {
  bool available[kIsaCount] = {};
  std::atomic<int> current{kScalar};
  std::string envError;  // PATHWISE_INT8_ISA named a path that is not available
  std::mutex mu;
};

#if PW_AMX
bool requestAmx() {
  // CPUID.(EAX=7,ECX=0):EDX bit 24 AMX-TILE, bit 25 AMX-INT8
  unsigned a, b, c, d;
  __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
  if (!((d >> 24) & 1) || !((d >> 25) & 1)) return false;
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}
#endif

IsaState& isaState() {
  static IsaState* s = [] {
    auto* st = new IsaState();
#if PW_AMX
    st->available[kAmx] = requestAmx();
#endif
#if PW_AVX512VNNI
    st->available[kAvx512Vnni] = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw");
#endif
#if PW_AVXVNNI
    st->available[kAvxVnni] = __builtin_cpu_supports("avxvnni") && __builtin_cpu_supports("avx2");
#endif
#if PW_I8_AVX2
    st->available[kAvx2] = __builtin_cpu_supports("avx2");
#endif
    st->available[kScalar] = true;
    int best = kScalar;
    for (int i = kIsaCount - 1; i >= 0; i--)
      if (st->available[i]) best = i;
    st->current = best;
    const char* env = std::getenv("PATHWISE_INT8_ISA");
    if (env != nullptr && *env != '\0') {
      int found = -1;
      for (int i = 0; i < kIsaCount; i++)
        if (st->available[i] && std::strcmp(env, kIsaNames[i]) == 0) found = i;
      if (found >= 0) {
        st->current = found;
      } else {
        st->envError = std::string("PATHWISE_INT8_ISA=") + env + " is not an int8 path of this build and CPU (available:";
        for (int i = 0; i < kIsaCount; i++)
          if (st->available[i]) st->envError += std::string(" ") + kIsaNames[i];
        st->envError += ")";
      }
    }
    return st;
  }();
  return *s;
}

// ------------------------------------------------------------------------------ thread pool
// Set while this thread runs a pool job: a kernel called from inside one (a GEMM of a batch run
// item by item on the pool) then runs on its thread alone, rather than splitting into parts the
// busy pool would run one after another.
thread_local bool tlsInPool = false;

/**
 * Spins (pausing) until done() or about kSpinUs microseconds have passed; returns done(). Kernels
 * come back to back in a forward or backward pass, microseconds apart: waking a thread asleep on
 * a condition variable costs far more than that on a VM (its idle vCPU is halted), so a thread
 * that just finished waits here first. Short, unlike OpenBLAS's ~0.1 s of spinning, so an idle
 * pool gives its core back almost at once.
 */
template <class Done>
bool spinUntil(Done done) {
  constexpr int kSpinUs = 100;
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinUs);
  for (;;) {
    for (int i = 0; i < 64; i++) {
      if (done()) return true;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
    if (std::chrono::steady_clock::now() >= until) return done();
  }
}

class Pool {
 public:
  static Pool& get() {
    static Pool* p = new Pool();  // never destroyed: its threads are detached
    return *p;
  }

  /**
   * fn(t) for t in [0, n), each t once, on the calling thread and the workers. The parts are
   * claimed, not assigned: a worker that is slow to wake (an idle vCPU is halted, and waking it
   * took up to a few hundred microseconds) finds its part already done by the caller, so a split
   * kernel never takes much longer than on one thread. fn(t) depends on t alone, so which thread
   * runs it does not change the result. Serial if another call holds the pool.
   */
  void run(int n, const std::function<void(int)>& fn) {
    if (n <= 1) {
      fn(0);
      return;
    }
    std::unique_lock<std::mutex> busy(runMu_, std::try_to_lock);
    if (!busy.owns_lock()) {
      for (int t = 0; t < n; t++) fn(t);
      return;
    }
    uint32_t g;
    {
      std::lock_guard<std::mutex> lk(mu_);
      while (static_cast<int>(workers_) < n - 1) {
        std::thread(&Pool::worker, this).detach();
        ++workers_;
      }
      job_ = &fn;
      njobs_ = n;
      remaining_.store(n, std::memory_order_relaxed);
      g = static_cast<uint32_t>(gen_.fetch_add(1, std::memory_order_release) + 1);
      claim_.store(static_cast<uint64_t>(g) << 32, std::memory_order_release);
    }
    cv_.notify_all();
    tlsInPool = true;
    for (int t; (t = claim(g, n)) >= 0;) {
      fn(t);
      remaining_.fetch_sub(1, std::memory_order_acq_rel);
    }
    tlsInPool = false;
    const auto finished = [this] { return remaining_.load(std::memory_order_acquire) == 0; };
    if (!spinUntil(finished)) {
      std::unique_lock<std::mutex> lk(mu_);
      done_.wait(lk, finished);
    }
  }

 private:
  /** The next unclaimed part of generation g's n, or -1 when none is left (or g is over). */
  int claim(uint32_t g, int n) {
    uint64_t v = claim_.load(std::memory_order_acquire);
    for (;;) {
      if (static_cast<uint32_t>(v >> 32) != g || static_cast<int>(static_cast<uint32_t>(v)) >= n) return -1;
      if (claim_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel, std::memory_order_acquire))
        return static_cast<int>(static_cast<uint32_t>(v));
    }
  }

  void worker() {
    uint64_t seen = 0;
    const auto posted = [&] { return gen_.load(std::memory_order_acquire) != seen; };
    for (;;) {
      if (!spinUntil(posted)) {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, posted);
      }
      const std::function<void(int)>* job;
      int njobs;
      {
        std::lock_guard<std::mutex> lk(mu_);
        seen = gen_.load(std::memory_order_relaxed);
        job = job_;
        njobs = njobs_;
      }
      // A claimed part of this generation keeps the caller waiting, so job is still alive.
      tlsInPool = true;
      for (int t; (t = claim(static_cast<uint32_t>(seen), njobs)) >= 0;) {
        (*job)(t);
        if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
          std::lock_guard<std::mutex> lk(mu_);
          done_.notify_one();
        }
      }
      tlsInPool = false;
    }
  }

  std::mutex runMu_;
  std::mutex mu_;
  std::condition_variable cv_, done_;
  size_t workers_ = 0;
  const std::function<void(int)>* job_ = nullptr;
  int njobs_ = 0;
  std::atomic<int> remaining_{0};
  std::atomic<uint64_t> gen_{0};
  std::atomic<uint64_t> claim_{0};  // generation << 32 | the next part to claim
};

// The pool's size: every native kernel's threads, GEMMs included. OpenBLAS itself is kept
// single-threaded (its idle workers spin for a while after each call, and spinning next to the
// pool's threads halved the speed of the kernels that ran after a GEMM: attention measured
// 13-15 ms a call inside the fp32 forward, 8-9 ms inside the int8 one); kernels.cc's gemm splits
// large products between the pool's threads instead. Starts at OpenBLAS's own count (its
// OPENBLAS_NUM_THREADS or the cores).
std::atomic<int>& threadsSetting() {
  static std::atomic<int> n{[] {
    const int t = std::max(1, std::min(openblas_get_num_threads(), 256));
    openblas_set_num_threads(1);
    return t;
  }()};
  return n;
}

int poolThreads() { return tlsInPool ? 1 : threadsSetting().load(std::memory_order_relaxed); }

template <class T>
T* scratch(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// -------------------------------------------------------------------------------- problem
struct Problem {
  int M, N, Kp;
  const int8_t* A;
  size_t lda;
  const int8_t* Wp;
  const int32_t* corr;  // VNNI paths: -128 * column sums of W (Np entries)
  int kbs() const { return Kp / 64; }
  /** Packed block (nb, kb). */
  const int8_t* block(int nb, int kb) const { return Wp + (static_cast<size_t>(nb) * kbs() + kb) * 1024; }
};

/**
 * Rows of a macro panel: the loops run column group by column group over a panel of rows (A's
 * panel and a column group of W stay in cache). The panel's output (rows x N) is written in
 * pieces of 64-128 bytes per row, so it is kept small: past ~100 KB of output per panel, time
 * doubled (measured: M = 4096, K = 256, N = 768 on AMX, 192 rows: 8.5 ms, 32 rows: 3.4 ms).
 * A multiple of `unit` (the micro panel's rows), at least one unit, at most 256 rows.
 */
int macroRows(int N, int Kp, int unit) {
  // and A's panel within ~64 KB (K = 1024, N = 256 on AMX: 96 rows 4.9 ms, 64 rows 2.6 ms)
  const int cap = std::min(256, std::min((96 * 1024) / (4 * std::max(N, 1)), 65536 / std::max(Kp, 64)));
  const int rows = std::max(unit, cap);
  return rows / unit * unit;
}

// ------------------------------------------------------------------------------------ scalar
template <class Sink>
void scalarRange(const Problem& p, int m0, int m1, int nb0, int nb1, const Sink& sink) {
  alignas(64) int32_t c[16];
  const int kbs = p.kbs();
  for (int m = m0; m < m1; m++) {
    const int8_t* a = p.A + static_cast<size_t>(m) * p.lda;
    for (int nb = nb0; nb < nb1; nb++) {
      uint32_t s[16] = {};
      for (int kb = 0; kb < kbs; kb++) {
        const int8_t* w = p.block(nb, kb);
        const int8_t* ak = a + kb * 64;
        for (int g = 0; g < 16; g++)
          for (int j = 0; j < 16; j++) {
            int32_t d = 0;
            for (int t = 0; t < 4; t++) d += int32_t(ak[g * 4 + t]) * int32_t(w[g * 64 + j * 4 + t]);
            s[j] += static_cast<uint32_t>(d);
          }
      }
      for (int j = 0; j < 16; j++) c[j] = static_cast<int32_t>(s[j]);
      sink(m, 1, nb * 16, std::min(16, p.N - nb * 16), c, 16);
    }
  }
}

// -------------------------------------------------------------------------------------- AMX
#if PW_AMX
struct TileConfig {
  uint8_t palette;
  uint8_t startRow;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

/** Tiles 0-3: C (16 x 16 int32), 4-5: A (16 rows x 64 bytes), 6-7: B (one packed block each). */
void amxConfigure() {
  TileConfig cfg;
  std::memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int t = 0; t < 8; t++) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  _tile_loadconfig(&cfg);
}

/** c (32 x 32, ld 32) = A rows [0, 16*MT) x W blocks w0 (, w1), over kbs blocks of 64 k. */
template <int MT, int NT>
inline void amxBlock(const int8_t* a, size_t lda, const int8_t* w0, const int8_t* w1, int kbs, int32_t* c) {
  _tile_zero(0);
  if (NT == 2) _tile_zero(1);
  if (MT == 2) _tile_zero(2);
  if (MT == 2 && NT == 2) _tile_zero(3);
  for (int kb = 0; kb < kbs; kb++) {
    _tile_loadd(4, a + kb * 64, lda);
    _tile_loadd(6, w0 + kb * 1024, 64);
    _tile_dpbssd(0, 4, 6);
    if (NT == 2) {
      _tile_loadd(7, w1 + kb * 1024, 64);
      _tile_dpbssd(1, 4, 7);
    }
    if (MT == 2) {
      _tile_loadd(5, a + 16 * lda + kb * 64, lda);
      _tile_dpbssd(2, 5, 6);
      if (NT == 2) _tile_dpbssd(3, 5, 7);
    }
  }
  _tile_stored(0, c, 128);
  if (NT == 2) _tile_stored(1, c + 16, 128);
  if (MT == 2) _tile_stored(2, c + 16 * 32, 128);
  if (MT == 2 && NT == 2) _tile_stored(3, c + 16 * 32 + 16, 128);
}

thread_local std::vector<int8_t> tlsTail;

template <class Sink>
void amxRange(const Problem& p, int m0, int m1, int nb0, int nb1, const Sink& sink) {
  amxConfigure();
  alignas(64) int32_t c[32 * 32];
  const int kbs = p.kbs();
  const int kMC = macroRows(p.N, p.Kp, 32);
  for (int mc = m0; mc < m1; mc += kMC) {
    const int mcEnd = std::min(m1, mc + kMC);
    // A partial last panel (< 32 rows) is copied once into a zero-padded panel of 16 or 32 rows.
    const int tailRows = (mcEnd - mc) % 32;
    const int8_t* tail = nullptr;
    if (tailRows != 0) {
      const int padded = tailRows <= 16 ? 16 : 32;
      int8_t* t = scratch(tlsTail, static_cast<size_t>(32) * p.Kp);
      const int8_t* a = p.A + static_cast<size_t>(mcEnd - tailRows) * p.lda;
      for (int r = 0; r < tailRows; r++) std::memcpy(t + static_cast<size_t>(r) * p.Kp, a + r * p.lda, p.Kp);
      std::memset(t + static_cast<size_t>(tailRows) * p.Kp, 0, static_cast<size_t>(padded - tailRows) * p.Kp);
      tail = t;
    }
    for (int nb = nb0; nb < nb1; nb += 2) {
      const bool two = nb + 1 < nb1;
      const int8_t* w0 = p.block(nb, 0);
      const int8_t* w1 = two ? p.block(nb + 1, 0) : w0;
      const int cols = std::min(two ? 32 : 16, p.N - nb * 16);
      for (int m = mc; m < mcEnd; m += 32) {
        const int rows = std::min(32, mcEnd - m);
        const int8_t* a = rows < 32 ? tail : p.A + static_cast<size_t>(m) * p.lda;
        const size_t lda = rows < 32 ? static_cast<size_t>(p.Kp) : p.lda;
        if (rows > 16) {
          if (two) amxBlock<2, 2>(a, lda, w0, w1, kbs, c);
          else amxBlock<2, 1>(a, lda, w0, w1, kbs, c);
        } else {
          if (two) amxBlock<1, 2>(a, lda, w0, w1, kbs, c);
          else amxBlock<1, 1>(a, lda, w0, w1, kbs, c);
        }
        sink(m, rows, nb * 16, cols, c, 32);
      }
    }
  }
  _tile_release();
}
#endif

// ----------------------------------------------------------------------- VNNI: shared parts
thread_local std::vector<uint8_t> tlsAu;

/** Rows [m, m+rows) of A shifted to u8 (a + 128) into a panel with row stride Kp. */
inline const uint8_t* toU8(const Problem& p, int m, int rows) {
  uint8_t* u = scratch(tlsAu, static_cast<size_t>(rows) * p.Kp);
  for (int r = 0; r < rows; r++) {
    const int8_t* a = p.A + static_cast<size_t>(m + r) * p.lda;
    uint8_t* d = u + static_cast<size_t>(r) * p.Kp;
    int k = 0;
#if PW_AVX512
    const __m512i x80 = _mm512_set1_epi8(static_cast<char>(0x80));
    for (; k < p.Kp; k += 64) _mm512_storeu_si512(d + k, _mm512_xor_si512(_mm512_loadu_si512(a + k), x80));
#elif PW_I8_AVX2
    const __m256i x80 = _mm256_set1_epi8(static_cast<char>(0x80));
    for (; k < p.Kp; k += 32)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + k),
                          _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + k)), x80));
#endif
    for (; k < p.Kp; k++) d[k] = static_cast<uint8_t>(a[k]) ^ 0x80u;
  }
  return u;
}

/** corr[n] = -128 * sum_k W[n, k] for n < Np (wrapping int32 arithmetic, as the sums). */
void columnCorrections(const Problem& p, int32_t* corr) {
  const int nbs = (p.N + 15) / 16, kbs = p.kbs();
  for (int nb = 0; nb < nbs; nb++) {
    const int8_t* w = p.block(nb, 0);
    const size_t bytes = static_cast<size_t>(kbs) * 1024;
#if PW_AVX512VNNI
    __m512i s = _mm512_setzero_si512();
    const __m512i ones = _mm512_set1_epi8(1);
    for (size_t i = 0; i < bytes; i += 64) s = _mm512_dpbusd_epi32(s, ones, _mm512_loadu_si512(w + i));
    _mm512_storeu_si512(corr + nb * 16, _mm512_mullo_epi32(s, _mm512_set1_epi32(-128)));
#else
    uint32_t s[16] = {};
    for (size_t i = 0; i < bytes; i += 64)
      for (int j = 0; j < 16; j++)
        for (int t = 0; t < 4; t++) s[j] += static_cast<uint32_t>(int32_t(w[i + j * 4 + t]));
    for (int j = 0; j < 16; j++) corr[nb * 16 + j] = static_cast<int32_t>(s[j] * static_cast<uint32_t>(-128));
#endif
  }
}

// ------------------------------------------------------------------------------ AVX-512 VNNI
#if PW_AVX512VNNI
constexpr int kVnniMR = 6, kVnniNR = 4;

/** c (MR x 16*NR, ld ldc) for u8 rows au (stride lau) and column blocks from nb (stride bstride). */
template <int MR, int NR>
inline void vnniBlock(const uint8_t* au, size_t lau, const int8_t* w, size_t bstride, int kbs,
                      const int32_t* corr, int32_t* c, int ldc) {
  __m512i acc[MR][NR];
  for (int j = 0; j < NR; j++) {
    const __m512i c0 = _mm512_loadu_si512(corr + 16 * j);
    for (int i = 0; i < MR; i++) acc[i][j] = c0;
  }
  for (int kb = 0; kb < kbs; kb++) {
    const int8_t* wk = w + static_cast<size_t>(kb) * 1024;
    const uint8_t* ak = au + kb * 64;
#pragma GCC unroll 4
    for (int g = 0; g < 16; g++) {
      __m512i wv[NR];
      for (int j = 0; j < NR; j++) wv[j] = _mm512_loadu_si512(wk + j * bstride + g * 64);
      for (int i = 0; i < MR; i++) {
        int32_t a4;
        std::memcpy(&a4, ak + i * lau + g * 4, 4);
        const __m512i av = _mm512_set1_epi32(a4);
        for (int j = 0; j < NR; j++) acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], av, wv[j]);
      }
    }
  }
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NR; j++) _mm512_storeu_si512(c + i * ldc + 16 * j, acc[i][j]);
}

template <int MR>
inline void vnniRows(int nr, const uint8_t* au, size_t lau, const int8_t* w, size_t bstride, int kbs,
                     const int32_t* corr, int32_t* c, int ldc) {
  switch (nr) {
    case 1: vnniBlock<MR, 1>(au, lau, w, bstride, kbs, corr, c, ldc); break;
    case 2: vnniBlock<MR, 2>(au, lau, w, bstride, kbs, corr, c, ldc); break;
    case 3: vnniBlock<MR, 3>(au, lau, w, bstride, kbs, corr, c, ldc); break;
    default: vnniBlock<MR, 4>(au, lau, w, bstride, kbs, corr, c, ldc); break;
  }
}

template <class Sink>
void avx512VnniRange(const Problem& p, int m0, int m1, int nb0, int nb1, const Sink& sink) {
  alignas(64) int32_t c[kVnniMR * 16 * kVnniNR];
  const int kbs = p.kbs();
  const size_t bstride = static_cast<size_t>(kbs) * 1024;
  constexpr int ldc = 16 * kVnniNR;
  const int kMC = macroRows(p.N, p.Kp, kVnniMR);
  for (int mc = m0; mc < m1; mc += kMC) {
    const int mcRows = std::min(m1 - mc, kMC);
    const uint8_t* au = toU8(p, mc, mcRows);
    for (int nb = nb0; nb < nb1; nb += kVnniNR) {
      const int nr = std::min(kVnniNR, nb1 - nb);
      const int8_t* w = p.block(nb, 0);
      const int32_t* corr = p.corr + nb * 16;
      const int cols = std::min(16 * nr, p.N - nb * 16);
      for (int r = 0; r < mcRows; r += kVnniMR) {
        const int rows = std::min(kVnniMR, mcRows - r);
        const uint8_t* a = au + static_cast<size_t>(r) * p.Kp;
        switch (rows) {
          case 1: vnniRows<1>(nr, a, p.Kp, w, bstride, kbs, corr, c, ldc); break;
          case 2: vnniRows<2>(nr, a, p.Kp, w, bstride, kbs, corr, c, ldc); break;
          case 3: vnniRows<3>(nr, a, p.Kp, w, bstride, kbs, corr, c, ldc); break;
          case 4: vnniRows<4>(nr, a, p.Kp, w, bstride, kbs, corr, c, ldc); break;
          case 5: vnniRows<5>(nr, a, p.Kp, w, bstride, kbs, corr, c, ldc); break;
          default: vnniRows<6>(nr, a, p.Kp, w, bstride, kbs, corr, c, ldc); break;
        }
        sink(mc + r, rows, nb * 16, cols, c, ldc);
      }
    }
  }
}
#endif

// -------------------------------------------------------------------- AVX2 and AVX-VNNI (ymm)
#if PW_I8_AVX2
constexpr int kYmmMR = 4;

/**
 * c (MR x 16, ld 16) for one column block. VNNI: rows are u8 (a + 128) and the accumulators
 * start at corr; otherwise rows are s8 and the sign trick is used.
 */
template <int MR, bool VNNI>
inline void ymmBlock(const void* arows, size_t lar, const int8_t* w, int kbs, const int32_t* corr, int32_t* c) {
  __m256i acc[MR][2];
  for (int i = 0; i < MR; i++) {
    if (VNNI) {
      acc[i][0] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(corr));
      acc[i][1] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(corr + 8));
    } else {
      acc[i][0] = acc[i][1] = _mm256_setzero_si256();
    }
  }
  const __m256i ones = _mm256_set1_epi16(1);
  const uint8_t* ar = static_cast<const uint8_t*>(arows);
  for (int kb = 0; kb < kbs; kb++) {
    const int8_t* wk = w + static_cast<size_t>(kb) * 1024;
    const uint8_t* ak = ar + kb * 64;
#pragma GCC unroll 2
    for (int g = 0; g < 16; g++) {
      const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wk + g * 64));
      const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wk + g * 64 + 32));
      for (int i = 0; i < MR; i++) {
        int32_t a4;
        std::memcpy(&a4, ak + i * lar + g * 4, 4);
        const __m256i av = _mm256_set1_epi32(a4);
#if PW_AVXVNNI
        if constexpr (VNNI) {
          acc[i][0] = _mm256_dpbusd_avx_epi32(acc[i][0], av, w0);
          acc[i][1] = _mm256_dpbusd_avx_epi32(acc[i][1], av, w1);
          continue;
        }
#endif
        if constexpr (!VNNI) {
          const __m256i aa = _mm256_abs_epi8(av);  // |a| <= 127, as u8
          const __m256i p0 = _mm256_maddubs_epi16(aa, _mm256_sign_epi8(w0, av));
          const __m256i p1 = _mm256_maddubs_epi16(aa, _mm256_sign_epi8(w1, av));
          acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(p0, ones));
          acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(p1, ones));
        }
      }
    }
  }
  for (int i = 0; i < MR; i++) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + i * 16), acc[i][0]);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + i * 16 + 8), acc[i][1]);
  }
}

template <bool VNNI, class Sink>
void ymmRange(const Problem& p, int m0, int m1, int nb0, int nb1, const Sink& sink) {
  alignas(64) int32_t c[kYmmMR * 16];
  const int kbs = p.kbs();
  const int kMC = macroRows(p.N, p.Kp, kYmmMR);
  for (int mc = m0; mc < m1; mc += kMC) {
    const int mcRows = std::min(m1 - mc, kMC);
    const void* arows;
    size_t lar;
    if (VNNI) {
      arows = toU8(p, mc, mcRows);
      lar = p.Kp;
    } else {
      arows = p.A + static_cast<size_t>(mc) * p.lda;
      lar = p.lda;
    }
    for (int nb = nb0; nb < nb1; nb++) {
      const int8_t* w = p.block(nb, 0);
      const int32_t* corr = VNNI ? p.corr + nb * 16 : nullptr;
      const int cols = std::min(16, p.N - nb * 16);
      for (int r = 0; r < mcRows; r += kYmmMR) {
        const int rows = std::min(kYmmMR, mcRows - r);
        const uint8_t* a = static_cast<const uint8_t*>(arows) + static_cast<size_t>(r) * lar;
        switch (rows) {
          case 1: ymmBlock<1, VNNI>(a, lar, w, kbs, corr, c); break;
          case 2: ymmBlock<2, VNNI>(a, lar, w, kbs, corr, c); break;
          case 3: ymmBlock<3, VNNI>(a, lar, w, kbs, corr, c); break;
          default: ymmBlock<4, VNNI>(a, lar, w, kbs, corr, c); break;
        }
        sink(mc + r, rows, nb * 16, cols, c, 16);
      }
    }
  }
}
#endif

// ------------------------------------------------------------------------------------ sinks
struct GemmSink {
  int32_t* acc;
  int N;
  void operator()(int m0, int rows, int n0, int cols, const int32_t* c, int ldc) const {
    for (int r = 0; r < rows; r++)
      std::memcpy(acc + static_cast<size_t>(m0 + r) * N + n0, c + r * ldc, sizeof(int32_t) * cols);
  }
};

/** Keeps the compiler from fusing the multiply and the add around it into an FMA. */
template <class T>
inline void opaque(T& v) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  __asm__("" : "+x"(v));
#else
  volatile T t = v;
  v = t;
#endif
}
#if PW_AVX512
inline void opaque512(__m512& v) { __asm__("" : "+v"(v)); }
#endif


struct LinearSink {
  float* out;
  const float* sa;
  const float* sw;
  const float* bias;  // or null
  int N;
  int act;          // -1 or a UnaryOp code
  int rowBase = 0;  // out holds rows rowBase.. (a chunk's scratch) instead of row 0..
  void operator()(int m0, int rows, int n0, int cols, const int32_t* c, int ldc) const {
    for (int r = 0; r < rows; r++) {
      const int m = m0 + r;
      float* o = out + static_cast<size_t>(m - rowBase) * N + n0;
      const int32_t* cr = c + r * ldc;
      const float a = sa[m];
      int j = 0;
#if PW_AVX512
      const __m512 av = _mm512_set1_ps(a);
      for (; j < cols; j += 16) {
        const __mmask16 k = cols - j >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (cols - j)) - 1);
        const __m512 acc = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(k, cr + j));
        const __m512 s = _mm512_mul_ps(av, _mm512_maskz_loadu_ps(k, sw + n0 + j));
        __m512 y = _mm512_mul_ps(acc, s);
        if (bias != nullptr) {
          opaque512(y);
          y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(k, bias + n0 + j));
        }
        if (act == 0) y = simd512::gelu(y);
        _mm512_mask_storeu_ps(o + j, k, y);
      }
#endif
      for (; j < cols; j++) {
        float s = a * sw[n0 + j];
        float y = static_cast<float>(cr[j]) * s;
        if (bias != nullptr) {
          opaque(y);
          y = y + bias[n0 + j];
        }
        o[j] = y;
      }
#if PW_AVX512
      if (act > 0) unary(act, o, o, static_cast<size_t>(cols));  // GELU (0) was applied above
#else
      if (act >= 0) unary(act, o, o, static_cast<size_t>(cols));
#endif
    }
  }
};

// ----------------------------------------------------------------------------------- driver
/** MACs per cycle, roughly: below ~60k cycles of work one thread is used (waking costs more). */
double isaRate(int isa) {
  switch (isa) {
    case kAmx: return 600;
    case kAvx512Vnni: return 100;
    case kAvxVnni: return 50;
    case kAvx2: return 25;
    default: return 4;
  }
}

thread_local std::vector<int32_t> tlsCorr;

template <class Sink>
void runRange(int isa, const Problem& p, int m0, int m1, int nb0, int nb1, const Sink& sink) {
  if (m0 >= m1 || nb0 >= nb1) return;
  switch (isa) {
#if PW_AMX
    case kAmx: amxRange(p, m0, m1, nb0, nb1, sink); return;
#endif
#if PW_AVX512VNNI
    case kAvx512Vnni: avx512VnniRange(p, m0, m1, nb0, nb1, sink); return;
#endif
#if PW_AVXVNNI
    case kAvxVnni: ymmRange<true>(p, m0, m1, nb0, nb1, sink); return;
#endif
#if PW_I8_AVX2
    case kAvx2: ymmRange<false>(p, m0, m1, nb0, nb1, sink); return;
#endif
    default: scalarRange(p, m0, m1, nb0, nb1, sink); return;
  }
}

/** The problem on `isa`, with the column corrections the VNNI paths need (this thread's scratch). */
Problem problemFor(int isa, int M, int N, int Kp, const int8_t* A, size_t lda, const int8_t* Wp) {
  Problem p{M, N, Kp, A, lda, Wp, nullptr};
  if (isa == kAvx512Vnni || isa == kAvxVnni) {
    int32_t* corr = scratch(tlsCorr, static_cast<size_t>((N + 15) / 16) * 16);
    columnCorrections(p, corr);
    p.corr = corr;
  }
  return p;
}

template <class Sink>
void gemmI8Run(int isa, int M, int N, int Kp, const int8_t* A, size_t lda, const int8_t* Wp, const Sink& sink) {
  if (M <= 0 || N <= 0) return;
  const int nbs = (N + 15) / 16;
  const Problem p = problemFor(isa, M, N, Kp, A, lda, Wp);
  const double work = double(M) * nbs * 16 * std::max(Kp, 64) / isaRate(isa);
  int T = poolThreads();
  if (work < 60000.0) T = 1;
  // Large M: row ranges (multiples of 32 rows); small M: column ranges (multiples of 4 blocks).
  const int rowUnits = (M + 31) / 32, colUnits = (nbs + 3) / 4;
  const bool byRows = rowUnits >= 2 * T || rowUnits >= colUnits;
  T = std::min(T, byRows ? rowUnits : colUnits);
  if (T <= 1) {
    runRange(isa, p, 0, M, 0, nbs, sink);
    return;
  }
  const int units = byRows ? rowUnits : colUnits;
  Pool::get().run(T, [&](int t) {
    const int u0 = static_cast<int>(int64_t(units) * t / T), u1 = static_cast<int>(int64_t(units) * (t + 1) / T);
    if (byRows) runRange(isa, p, std::min(M, u0 * 32), std::min(M, u1 * 32), 0, nbs, sink);
    else runRange(isa, p, 0, M, std::min(nbs, u0 * 4), std::min(nbs, u1 * 4), sink);
  });
}

// ---------------------------------------------------------------------------- quantization
constexpr float kFltMax = std::numeric_limits<float>::max();

void quantizeRow(int8_t* q, float* scale, const float* x, size_t cols, size_t ldq) {
  float absmax = 0.0f;
  bool bad = false;
  size_t j = 0;
#if PW_AVX512
  __m512 mx = _mm512_setzero_ps();
  __mmask16 nf = 0;
  const __m512 big = _mm512_set1_ps(kFltMax);
  for (; j + 16 <= cols; j += 16) {
    const __m512 ax = _mm512_abs_ps(_mm512_loadu_ps(x + j));
    mx = _mm512_max_ps(mx, ax);
    nf |= _mm512_cmp_ps_mask(ax, big, _CMP_NLE_UQ);  // > FLT_MAX or NaN
  }
  if (j < cols) {
    const __mmask16 k = __mmask16((1u << (cols - j)) - 1);
    const __m512 ax = _mm512_abs_ps(_mm512_maskz_loadu_ps(k, x + j));
    mx = _mm512_max_ps(mx, ax);
    nf |= _mm512_cmp_ps_mask(ax, big, _CMP_NLE_UQ);
    j = cols;
  }
  absmax = _mm512_reduce_max_ps(mx);
  bad = nf != 0;
#endif
  for (; j < cols; j++) {
    const float ax = std::fabs(x[j]);
    if (!(ax <= kFltMax)) bad = true;
    else if (ax > absmax) absmax = ax;
  }
  const float inv = 127.0f / absmax;
  if (bad || absmax == 0.0f || std::isinf(inv)) {
    *scale = bad ? std::numeric_limits<float>::quiet_NaN() : 0.0f;
    std::memset(q, 0, ldq);
    return;
  }
  *scale = absmax / 127.0f;
  j = 0;
#if PW_AVX512
  const __m512 iv = _mm512_set1_ps(inv);
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  for (; j < cols; j += 16) {
    const __mmask16 k = cols - j >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (cols - j)) - 1);
    const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + j), iv);
    __m512i r = _mm512_cvt_roundps_epi32(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm512_min_epi32(_mm512_max_epi32(r, lo), hi);
    _mm512_mask_cvtepi32_storeu_epi8(q + j, k, r);
  }
  j = cols;
#endif
  for (; j < cols; j++) {
    const float v = x[j] * inv;
    float r = std::nearbyint(v);  // ties to even in the default rounding mode
    r = std::min(127.0f, std::max(-127.0f, r));
    q[j] = static_cast<int8_t>(r);
  }
  if (ldq > cols) std::memset(q + cols, 0, ldq - cols);
}

}  // namespace

// ------------------------------------------------------------------------------- public API
void quantizeRowsI8(int8_t* q, float* scale, const float* x, size_t rows, size_t cols, size_t ldq) {
  if (rows == 0) return;
  const auto part = [&](size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) quantizeRow(q + r * ldq, scale + r, x + r * cols, cols, ldq);
  };
  int T = poolThreads();
  if (static_cast<double>(rows) * std::max(cols, ldq) < 262144.0 || rows < 2) T = 1;
  T = static_cast<int>(std::min<size_t>(T, rows));
  if (T <= 1) {
    part(0, rows);
    return;
  }
  Pool::get().run(T, [&](int t) { part(rows * t / T, rows * (t + 1) / T); });
}

namespace {
thread_local std::vector<float> tlsRows;
}

void linearI8Requant(int M, int N, int Kp, const int8_t* A, size_t lda, const float* sa, const int8_t* Wp,
                     const float* sw, const float* bias, int act, int8_t* q, float* qscale, size_t ldq) {
  if (M <= 0 || N <= 0) return;
  const int isa = isaState().current.load();
  const int nbs = (N + 15) / 16;
  const Problem p = problemFor(isa, M, N, Kp, A, lda, Wp);
  // Chunks of 16 rows, each computed over all N columns into the thread's scratch (16 x N floats,
  // in L2) and quantized from there: the M x N float32 output linearI8 would write, and
  // quantizeRowsI8 read back, never exists.
  constexpr int kChunk = 16;
  const int chunks = (M + kChunk - 1) / kChunk;
  const auto range = [&](int c0, int c1) {
    float* buf = scratch(tlsRows, static_cast<size_t>(kChunk) * N);
    for (int c = c0; c < c1; c++) {
      const int r0 = c * kChunk, r1 = std::min(M, r0 + kChunk);
      runRange(isa, p, r0, r1, 0, nbs, LinearSink{buf, sa, sw, bias, N, act, r0});
      for (int m = r0; m < r1; m++)
        quantizeRow(q + static_cast<size_t>(m) * ldq, qscale + m, buf + static_cast<size_t>(m - r0) * N, N, ldq);
    }
  };
  const double work = double(M) * nbs * 16 * std::max(Kp, 64) / isaRate(isa);
  int T = work < 60000.0 ? 1 : std::min(poolThreads(), chunks);
  if (T <= 1) {
    range(0, chunks);
    return;
  }
  Pool::get().run(T, [&](int t) { range(static_cast<int>(int64_t(chunks) * t / T), static_cast<int>(int64_t(chunks) * (t + 1) / T)); });
}

const char* int8IsaError() {
  IsaState& s = isaState();
  std::lock_guard<std::mutex> lk(s.mu);
  return s.envError.empty() ? nullptr : s.envError.c_str();
}

void gemmI8(int M, int N, int Kp, const int8_t* A, size_t lda, const int8_t* Wp, int32_t* acc) {
  gemmI8Run(isaState().current.load(), M, N, Kp, A, lda, Wp, GemmSink{acc, N});
}

void linearI8(int M, int N, int Kp, const int8_t* A, size_t lda, const float* sa, const int8_t* Wp,
              const float* sw, const float* bias, float* out, int act) {
  gemmI8Run(isaState().current.load(), M, N, Kp, A, lda, Wp, LinearSink{out, sa, sw, bias, N, act});
}

std::vector<const char*> int8Isas() {
  IsaState& s = isaState();
  std::vector<const char*> r;
  for (int i = 0; i < kIsaCount; i++)
    if (s.available[i]) r.push_back(kIsaNames[i]);
  return r;
}

const char* int8Isa() { return kIsaNames[isaState().current.load()]; }

int poolThreadCount() { return poolThreads(); }

void setPoolThreads(int n) {
  threadsSetting().store(std::max(1, std::min(n, 256)), std::memory_order_relaxed);
  openblas_set_num_threads(1);
}

void poolRun(int n, const std::function<void(int)>& fn) { Pool::get().run(n, fn); }

bool setInt8Isa(const char* name) {
  IsaState& s = isaState();
  for (int i = 0; i < kIsaCount; i++) {
    if (s.available[i] && std::strcmp(name, kIsaNames[i]) == 0) {
      std::lock_guard<std::mutex> lk(s.mu);
      s.current = i;
      s.envError.clear();
      return true;
    }
  }
  return false;
}

}  // namespace pw
