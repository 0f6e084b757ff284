// Pathwise compute kernels (no N-API here: pointers and sizes only; validation lives in the
// binding, pathwise.cc). Semantics are those documented in src/engine/kernels.ts.
// Kernels run on the calling thread, and large inputs on the pool of int8.cc as well (GEMMs,
// attention, the element-wise and row-wise kernels); OpenBLAS computes the GEMMs, single-threaded
// inside each of the pool's parts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace pw {

void gemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc);

void binary(int op, float* out, const float* a, const float* b, size_t n, size_t bn);
void binaryCol(int op, float* out, const float* a, const float* b, size_t rows, size_t cols);
void axpby(float* out, double alpha, const float* a, double beta, size_t n);
/** item(i) for i in [0, count): independent GEMMs (`work` multiply-adds in all), shared out
 *  between the pool's threads when there are enough of them, else one after another. */
void gemmEach(size_t count, double work, const std::function<void(size_t)>& item);
void unary(int op, float* out, const float* x, size_t n);
void unaryBackward(int op, float* dx, const float* saved, const float* dy, size_t n);

void sumAxis(float* out, const float* a, size_t outer, size_t n, size_t inner);
void expandAxis(float* out, const float* a, size_t outer, size_t n, size_t inner);
void transpose(float* out, const float* a, size_t outer, size_t X, size_t Y, size_t inner);
double sumSquares(const float* a, size_t n);

void layerNorm(float* y, float* mean, float* rstd, const float* x, const float* gamma,
               const float* beta, size_t rows, size_t cols, double eps);
void layerNormBackward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                       const float* mean, const float* rstd, const float* gamma, size_t rows,
                       size_t cols);

void softmax(float* y, const float* x, size_t rows, size_t cols, const float* mask,
             const int32_t* maskRow, bool log);
void softmaxBackward(float* dx, const float* y, const float* dy, size_t rows, size_t cols, bool log);

double crossEntropy(float* lse, const float* logits, const int32_t* targets, size_t rows,
                    size_t cols, double ignoreIndex, double smoothing);
void crossEntropyBackward(float* dlogits, const float* logits, const float* lse,
                          const int32_t* targets, size_t rows, size_t cols, double ignoreIndex,
                          double smoothing, double scale);

void gatherRows(float* out, const float* src, const int32_t* idx, size_t nidx, size_t cols);
// zeroLen > 0: out[0, zeroLen) is set to 0 first, each thread zeroing the part it then adds into.
void scatterAddRows(float* out, const float* src, const int32_t* idx, size_t nidx, size_t cols, size_t outRows, size_t zeroLen);
void scatterAddRowsScaled(float* out, const float* src, const float* scale, const int32_t* idx, size_t nidx,
                          size_t cols, size_t outRows, size_t zeroLen);
void scatterAddRowsScaledBackward(float* dsrc, float* dscale, const float* dout, const float* src, const float* scale,
                                  const int32_t* idx, size_t nidx, size_t cols);

void dropout(float* y, uint8_t* mask, const float* x, size_t n, double p, uint32_t seed);
void dropoutBackward(float* dx, const float* dy, const uint8_t* mask, size_t n, double p);
void unaryDropout(int op, float* y, uint8_t* mask, const float* x, size_t n, double p, uint32_t seed);
void unaryDropoutBackward(int op, float* dx, const float* saved, const float* dy, const uint8_t* mask, size_t n, double p);

void adamw(float* p, const float* g, float* m, float* v, size_t n, double lr, double beta1,
           double beta2, double eps, double weightDecay, double bc1, double bc2);

void argmax(int32_t* out, const float* x, size_t rows, size_t cols);
void topk(float* values, int32_t* indices, const float* x, size_t rows, size_t cols, size_t k);

// int8 inference GEMMs (int8.cc). gemmI8/linearI8 run on the selected int8 path, threaded over
// openblas_get_num_threads() threads; quantizeRowsI8 too for large inputs.
void quantizeRowsI8(int8_t* q, float* scale, const float* x, size_t rows, size_t cols, size_t ldq);
void gemmI8(int M, int N, int Kp, const int8_t* A, size_t lda, const int8_t* Wp, int32_t* acc);
void linearI8(int M, int N, int Kp, const int8_t* A, size_t lda, const float* sa, const int8_t* Wp,
              const float* sw, const float* bias, float* out, int act);
/** linearI8, then quantizeRowsI8 of its output into q [M, ldq] and qscale [M], bit for bit, without
 *  the float32 output in memory (each chunk of rows is quantized from the thread's scratch). */
void linearI8Requant(int M, int N, int Kp, const int8_t* A, size_t lda, const float* sa, const int8_t* Wp,
                     const float* sw, const float* bias, int act, int8_t* q, float* qscale, size_t ldq);
/** The int8 paths available in this process, best first ("amx", "avx512vnni", "avxvnni", "avx2", "scalar"). */
std::vector<const char*> int8Isas();
/** The selected int8 path. */
const char* int8Isa();
/** Selects an available int8 path; false if `name` is not one. */
bool setInt8Isa(const char* name);
/** Non-null while PATHWISE_INT8_ISA names a path that is not available (until setInt8Isa). */
const char* int8IsaError();

// The persistent worker pool of int8.cc, shared by the threaded kernels (int8 GEMMs, attention).
/** Threads a pooled kernel uses: setPoolThreads's (at first OpenBLAS's own count); 1 inside a pool job. */
int poolThreadCount();
/** Sets the pool's size (1..256); OpenBLAS stays single-threaded. */
void setPoolThreads(int n);
/** fn(t) for t in [0, n), t = 0 on the calling thread; serial when another call holds the pool. */
void poolRun(int n, const std::function<void(int)>& fn);

/**
 * Fused multi-head self-attention for inference (attention.cc; contract: kernels.ts,
 * attentionInference): X [batch, T, 3 H Dh] -> ctx [batch, T, H Dh], keyMask null or
 * [batch, T]. Threaded over the pool; results do not depend on the thread count.
 */
void attentionInference(float* ctx, const float* X, int batch, int T, int H, int Dh,
                        const float* keyMask, bool causal);

/** Which SIMD path was compiled ("avx2+fma" or "scalar"). */
const char* simdPath();

/** Runs `iters` rounds of independent register-only FMA chains on the calling thread; returns the
 *  floating-point operations done (a fused multiply-add counts two). */
double fmaChains(int64_t iters);

}  // namespace pw
