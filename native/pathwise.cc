// N-API binding for the Pathwise kernels: one exported function per method of the `Kernels`
// interface in src/engine/kernels.ts, with exactly the same argument order.
//
// Arguments are read with the raw N-API calls (one call per argument, typed-array data taken in
// place with no copy; napi_get_typedarray_info accounts for byteOffset), validated cheaply, and
// handed to the compute functions in kernels.cc. Invalid input throws: a TypeError for a wrong
// type or an array too short for the shape, a RangeError for a bad shape, leading dimension,
// op code or index. Nothing is written before validation has passed.

#ifndef NAPI_DISABLE_CPP_EXCEPTIONS
#define NAPI_DISABLE_CPP_EXCEPTIONS
#endif
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>

#include "kernels.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
// OpenBLAS extensions (declared here too, in case cblas.h is not OpenBLAS's own).
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char* openblas_get_config(void);
}

namespace {

constexpr size_t kMaxArgs = 20;
constexpr double kMaxDim = 2147483647.0;         // BLAS ints
constexpr double kMaxOffset = 9007199254740992.0;  // 2^53

/** Saturating products of non-negative counts (a saturated value fails every length check). */
inline uint64_t msat(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}
inline uint64_t mul3(uint64_t a, uint64_t b, uint64_t c) { return msat(msat(a, b), c); }
inline uint64_t asat(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

template <class T>
struct Arr {
  T* p = nullptr;
  size_t len = 0;
};

class Args {
 public:
  Args(napi_env env, napi_callback_info info, const char* kernel, size_t want)
      : env_(env), kernel_(kernel) {
    size_t argc = kMaxArgs;
    napi_get_cb_info(env, info, &argc, v_, nullptr, nullptr);  // missing args read as undefined
    if (argc < want) fail(false, "expected %zu arguments, got %zu", want, argc);
  }

  bool ok() const { return !err_; }

  void fail(bool range, const char* fmt, ...) {
    if (err_) return;
    err_ = true;
    char msg[320];
    int off = std::snprintf(msg, sizeof msg, "pathwise.%s: ", kernel_);
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(msg + off, sizeof msg - off, fmt, ap);
    va_end(ap);
    if (range) napi_throw_range_error(env_, nullptr, msg);
    else napi_throw_type_error(env_, nullptr, msg);
  }

  template <class T>
  Arr<T> array(size_t i, const char* name, napi_typedarray_type want, const char* tname) {
    Arr<T> a;
    if (err_) return a;
    napi_typedarray_type t;
    void* data = nullptr;
    if (napi_get_typedarray_info(env_, v_[i], &t, &a.len, &data, nullptr, nullptr) != napi_ok ||
        t != want) {
      fail(false, "%s must be a %s", name, tname);
      a.len = 0;
      return a;
    }
    a.p = static_cast<T*>(data);
    return a;
  }
  Arr<float> f32(size_t i, const char* name) {
    return array<float>(i, name, napi_float32_array, "Float32Array");
  }
  Arr<int32_t> i32(size_t i, const char* name) {
    return array<int32_t>(i, name, napi_int32_array, "Int32Array");
  }
  Arr<int8_t> i8(size_t i, const char* name) {
    return array<int8_t>(i, name, napi_int8_array, "Int8Array");
  }
  Arr<uint8_t> u8(size_t i, const char* name) {
    return array<uint8_t>(i, name, napi_uint8_array, "Uint8Array");
  }
  /** A Float32Array or Int32Array that may be null; sets *isNull. */
  template <class T>
  Arr<T> nullable(size_t i, const char* name, napi_typedarray_type want, const char* tname, bool* isNull) {
    *isNull = false;
    if (err_) return Arr<T>();
    napi_valuetype vt;
    if (napi_typeof(env_, v_[i], &vt) == napi_ok && vt == napi_null) {
      *isNull = true;
      return Arr<T>();
    }
    return array<T>(i, name, want, tname);
  }

  double num(size_t i, const char* name) {
    double d = 0;
    if (err_) return 0;
    if (napi_get_value_double(env_, v_[i], &d) != napi_ok) fail(false, "%s must be a number", name);
    return d;
  }
  bool flag(size_t i, const char* name) {
    bool b = false;
    if (err_) return false;
    if (napi_get_value_bool(env_, v_[i], &b) != napi_ok) fail(false, "%s must be a boolean", name);
    return b;
  }
  /** A trailing boolean that may be left out (false). */
  bool optFlag(size_t i, const char* name) {
    napi_valuetype t = napi_undefined;
    if (err_ || napi_typeof(env_, v_[i], &t) != napi_ok || t == napi_undefined) return false;
    return flag(i, name);
  }
  /** A non-negative integer <= max. */
  int64_t count(size_t i, const char* name, double max = kMaxDim) {
    double d = num(i, name);
    if (err_) return 0;
    if (!(d >= 0 && d <= max && d == std::floor(d))) {
      fail(true, "%s must be a non-negative integer (<= %.0f), got %g", name, max, d);
      return 0;
    }
    return static_cast<int64_t>(d);
  }
  int op(size_t i, const char* name) {
    int64_t o = count(i, name, 1e9);
    if (ok() && o > 3) fail(true, "%s must be 0..3, got %lld", name, static_cast<long long>(o));
    return static_cast<int>(o);
  }

  /** Throws a TypeError if an array has fewer than `need` elements. */
  void need(const char* name, size_t len, uint64_t need) {
    if (!err_ && need > len)
      fail(false, "%s is too short for the shape: needs %llu elements, has %zu", name,
           static_cast<unsigned long long>(need), len);
  }

  /**
   * A row-major matrix of rows x cols with row stride ld, starting at element `base`:
   * ld >= cols when there is more than one row, and the array must reach the last element.
   */
  void matrix(const char* name, size_t len, int64_t rows, int64_t cols, int64_t ld, uint64_t base) {
    if (err_ || rows == 0 || cols == 0) return;
    if (rows > 1 && ld < cols) {
      fail(true, "leading dimension of %s (%lld) is smaller than its row length (%lld)", name,
           static_cast<long long>(ld), static_cast<long long>(cols));
      return;
    }
    need(name, len, asat(asat(base, msat(rows - 1, ld)), cols));
  }

  napi_value undefined() { return nullptr; }
  napi_value number(double d) {
    napi_value r = nullptr;
    napi_create_double(env_, d, &r);
    return r;
  }

 private:
  napi_env env_;
  const char* kernel_;
  napi_value v_[kMaxArgs];
  bool err_ = false;
};


// -------------------------------------------------------------------------------------- GEMM
napi_value Gemm(napi_env env, napi_callback_info info) {
  Args a(env, info, "gemm", 13);
  bool ta = a.flag(0, "transA"), tb = a.flag(1, "transB");
  int64_t M = a.count(2, "M"), N = a.count(3, "N"), K = a.count(4, "K");
  double alpha = a.num(5, "alpha");
  auto A = a.f32(6, "A");
  int64_t lda = a.count(7, "lda");
  auto B = a.f32(8, "B");
  int64_t ldb = a.count(9, "ldb");
  double beta = a.num(10, "beta");
  auto C = a.f32(11, "C");
  int64_t ldc = a.count(12, "ldc");
  if (M > 0 && N > 0 && K > 0) {
    a.matrix("A", A.len, ta ? K : M, ta ? M : K, lda, 0);
    a.matrix("B", B.len, tb ? N : K, tb ? K : N, ldb, 0);
  }
  a.matrix("C", C.len, M, N, ldc, 0);
  if (!a.ok()) return nullptr;
  pw::gemm(ta, tb, int(M), int(N), int(K), float(alpha), A.p, int(lda), B.p, int(ldb), float(beta), C.p, int(ldc));
  return nullptr;
}

napi_value GemmBatched(napi_env env, napi_callback_info info) {
  Args a(env, info, "gemmBatched", 17);
  bool ta = a.flag(0, "transA"), tb = a.flag(1, "transB");
  int64_t M = a.count(2, "M"), N = a.count(3, "N"), K = a.count(4, "K");
  double alpha = a.num(5, "alpha");
  auto A = a.f32(6, "A");
  int64_t lda = a.count(7, "lda"), sA = a.count(8, "strideA", kMaxOffset);
  auto B = a.f32(9, "B");
  int64_t ldb = a.count(10, "ldb"), sB = a.count(11, "strideB", kMaxOffset);
  double beta = a.num(12, "beta");
  auto C = a.f32(13, "C");
  int64_t ldc = a.count(14, "ldc"), sC = a.count(15, "strideC", kMaxOffset);
  int64_t batch = a.count(16, "batch");
  if (batch > 0) {
    if (M > 0 && N > 0 && K > 0) {
      a.matrix("A", A.len, ta ? K : M, ta ? M : K, lda, msat(batch - 1, sA));
      a.matrix("B", B.len, tb ? N : K, tb ? K : N, ldb, msat(batch - 1, sB));
    }
    a.matrix("C", C.len, M, N, ldc, msat(batch - 1, sC));
  }
  if (!a.ok()) return nullptr;
  pw::gemmEach(size_t(batch), double(M) * double(N) * double(K) * double(batch), [&](size_t i) {
    pw::gemm(ta, tb, int(M), int(N), int(K), float(alpha), A.p + i * sA, int(lda), B.p + i * sB,
             int(ldb), float(beta), C.p + i * sC, int(ldc));
  });
  return nullptr;
}

napi_value GemmGrouped(napi_env env, napi_callback_info info) {
  Args a(env, info, "gemmGrouped", 11);
  bool ta = a.flag(0, "transA"), tb = a.flag(1, "transB");
  auto G = a.i32(2, "groups");
  double alpha = a.num(3, "alpha");
  auto A = a.f32(4, "A");
  int64_t lda = a.count(5, "lda");
  auto B = a.f32(6, "B");
  int64_t ldb = a.count(7, "ldb");
  double beta = a.num(8, "beta");
  auto C = a.f32(9, "C");
  int64_t ldc = a.count(10, "ldc");
  if (a.ok() && G.len % 6 != 0) a.fail(true, "groups length (%zu) must be a multiple of 6", G.len);
  const size_t ng = G.len / 6;
  for (size_t g = 0; g < ng && a.ok(); g++) {
    const int32_t* q = G.p + 6 * g;
    const int64_t M = q[0], N = q[1], K = q[2], oA = q[3], oB = q[4], oC = q[5];
    if (M < 0 || N < 0 || K < 0 || oA < 0 || oB < 0 || oC < 0) {
      a.fail(true, "group %zu has a negative size or offset", g);
      break;
    }
    if (M == 0 || N == 0) continue;
    if (K > 0) {
      a.matrix("A", A.len, ta ? K : M, ta ? M : K, lda, oA);
      a.matrix("B", B.len, tb ? N : K, tb ? K : N, ldb, oB);
    }
    a.matrix("C", C.len, M, N, ldc, oC);
  }
  if (!a.ok()) return nullptr;
  double work = 0;
  for (size_t g = 0; g < ng; g++) work += double(G.p[6 * g]) * double(G.p[6 * g + 1]) * double(G.p[6 * g + 2]);
  pw::gemmEach(ng, work, [&](size_t g) {
    const int32_t* q = G.p + 6 * g;
    if (q[0] == 0 || q[1] == 0) return;
    pw::gemm(ta, tb, q[0], q[1], q[2], float(alpha), A.p + q[3], int(lda), B.p + q[4], int(ldb),
             float(beta), C.p + q[5], int(ldc));
  });
  return nullptr;
}

// ------------------------------------------------------------------------------- elementwise
napi_value Binary(napi_env env, napi_callback_info info) {
  Args a(env, info, "binary", 6);
  int op = a.op(0, "op");
  auto out = a.f32(1, "out"), x = a.f32(2, "a"), b = a.f32(3, "b");
  int64_t n = a.count(4, "n", kMaxOffset), bn = a.count(5, "bn", kMaxOffset);
  if (a.ok() && n > 0 && (bn == 0 || n % bn != 0))
    a.fail(true, "bn (%lld) must divide n (%lld)", static_cast<long long>(bn), static_cast<long long>(n));
  if (n > 0) {
    a.need("out", out.len, n);
    a.need("a", x.len, n);
    a.need("b", b.len, bn);
  }
  if (!a.ok()) return nullptr;
  pw::binary(op, out.p, x.p, b.p, n, bn);
  return nullptr;
}

napi_value BinaryCol(napi_env env, napi_callback_info info) {
  Args a(env, info, "binaryCol", 6);
  int op = a.op(0, "op");
  auto out = a.f32(1, "out"), x = a.f32(2, "a"), b = a.f32(3, "b");
  int64_t rows = a.count(4, "rows", kMaxOffset), cols = a.count(5, "cols", kMaxOffset);
  a.need("out", out.len, msat(rows, cols));
  a.need("a", x.len, msat(rows, cols));
  a.need("b", b.len, rows);
  if (!a.ok()) return nullptr;
  pw::binaryCol(op, out.p, x.p, b.p, rows, cols);
  return nullptr;
}

napi_value Axpby(napi_env env, napi_callback_info info) {
  Args a(env, info, "axpby", 4);
  auto out = a.f32(0, "out");
  double alpha = a.num(1, "alpha");
  auto x = a.f32(2, "a");
  double beta = a.num(3, "beta");
  a.need("out", out.len, x.len);
  if (!a.ok()) return nullptr;
  pw::axpby(out.p, alpha, x.p, beta, x.len);
  return nullptr;
}

napi_value Unary(napi_env env, napi_callback_info info) {
  Args a(env, info, "unary", 3);
  int op = a.op(0, "op");
  auto out = a.f32(1, "out"), x = a.f32(2, "x");
  a.need("out", out.len, x.len);
  if (!a.ok()) return nullptr;
  pw::unary(op, out.p, x.p, x.len);
  return nullptr;
}

napi_value UnaryBackward(napi_env env, napi_callback_info info) {
  Args a(env, info, "unaryBackward", 4);
  int op = a.op(0, "op");
  auto dx = a.f32(1, "dx"), saved = a.f32(2, "saved"), dy = a.f32(3, "dy");
  a.need("dx", dx.len, dy.len);
  a.need("saved", saved.len, dy.len);
  if (!a.ok()) return nullptr;
  pw::unaryBackward(op, dx.p, saved.p, dy.p, dy.len);
  return nullptr;
}

// -------------------------------------------------------------------------- layout & reduce
napi_value SumAxis(napi_env env, napi_callback_info info) {
  Args a(env, info, "sumAxis", 5);
  auto out = a.f32(0, "out"), x = a.f32(1, "a");
  int64_t outer = a.count(2, "outer", kMaxOffset), n = a.count(3, "n", kMaxOffset),
          inner = a.count(4, "inner", kMaxOffset);
  a.need("a", x.len, mul3(outer, n, inner));
  a.need("out", out.len, mul3(outer, 1, inner));
  if (!a.ok()) return nullptr;
  pw::sumAxis(out.p, x.p, outer, n, inner);
  return nullptr;
}

napi_value ExpandAxis(napi_env env, napi_callback_info info) {
  Args a(env, info, "expandAxis", 5);
  auto out = a.f32(0, "out"), x = a.f32(1, "a");
  int64_t outer = a.count(2, "outer", kMaxOffset), n = a.count(3, "n", kMaxOffset),
          inner = a.count(4, "inner", kMaxOffset);
  a.need("a", x.len, mul3(outer, 1, inner));
  a.need("out", out.len, mul3(outer, n, inner));
  if (!a.ok()) return nullptr;
  pw::expandAxis(out.p, x.p, outer, n, inner);
  return nullptr;
}

napi_value Transpose(napi_env env, napi_callback_info info) {
  Args a(env, info, "transpose", 6);
  auto out = a.f32(0, "out"), x = a.f32(1, "a");
  int64_t outer = a.count(2, "outer", kMaxOffset), X = a.count(3, "X", kMaxOffset),
          Y = a.count(4, "Y", kMaxOffset), inner = a.count(5, "inner", kMaxOffset);
  const uint64_t total = msat(mul3(outer, X, Y), inner);
  a.need("a", x.len, total);
  a.need("out", out.len, total);
  if (!a.ok()) return nullptr;
  pw::transpose(out.p, x.p, outer, X, Y, inner);
  return nullptr;
}

napi_value SumSquares(napi_env env, napi_callback_info info) {
  Args a(env, info, "sumSquares", 1);
  auto x = a.f32(0, "a");
  if (!a.ok()) return nullptr;
  return a.number(pw::sumSquares(x.p, x.len));
}

// ------------------------------------------------------------------------------- layer norm
napi_value LayerNorm(napi_env env, napi_callback_info info) {
  Args a(env, info, "layerNorm", 9);
  auto y = a.f32(0, "y"), mean = a.f32(1, "mean"), rstd = a.f32(2, "rstd"), x = a.f32(3, "x"),
       gamma = a.f32(4, "gamma"), beta = a.f32(5, "beta");
  int64_t rows = a.count(6, "rows", kMaxOffset), cols = a.count(7, "cols", kMaxOffset);
  double eps = a.num(8, "eps");
  a.need("x", x.len, msat(rows, cols));
  a.need("y", y.len, msat(rows, cols));
  a.need("mean", mean.len, rows);
  a.need("rstd", rstd.len, rows);
  a.need("gamma", gamma.len, cols);
  a.need("beta", beta.len, cols);
  if (!a.ok()) return nullptr;
  pw::layerNorm(y.p, mean.p, rstd.p, x.p, gamma.p, beta.p, rows, cols, eps);
  return nullptr;
}

napi_value LayerNormBackward(napi_env env, napi_callback_info info) {
  Args a(env, info, "layerNormBackward", 10);
  auto dx = a.f32(0, "dx"), dgamma = a.f32(1, "dgamma"), dbeta = a.f32(2, "dbeta"),
       dy = a.f32(3, "dy"), x = a.f32(4, "x"), mean = a.f32(5, "mean"), rstd = a.f32(6, "rstd"),
       gamma = a.f32(7, "gamma");
  int64_t rows = a.count(8, "rows", kMaxOffset), cols = a.count(9, "cols", kMaxOffset);
  a.need("dx", dx.len, msat(rows, cols));
  a.need("dy", dy.len, msat(rows, cols));
  a.need("x", x.len, msat(rows, cols));
  a.need("mean", mean.len, rows);
  a.need("rstd", rstd.len, rows);
  a.need("gamma", gamma.len, cols);
  a.need("dgamma", dgamma.len, cols);
  a.need("dbeta", dbeta.len, cols);
  if (!a.ok()) return nullptr;
  pw::layerNormBackward(dx.p, dgamma.p, dbeta.p, dy.p, x.p, mean.p, rstd.p, gamma.p, rows, cols);
  return nullptr;
}

// ---------------------------------------------------------------------------------- softmax
napi_value Softmax(napi_env env, napi_callback_info info) {
  Args a(env, info, "softmax", 7);
  auto y = a.f32(0, "y"), x = a.f32(1, "x");
  int64_t rows = a.count(2, "rows", kMaxOffset), cols = a.count(3, "cols", kMaxOffset);
  bool maskNull = false, rowNull = false;
  auto mask = a.nullable<float>(4, "mask", napi_float32_array, "Float32Array or null", &maskNull);
  auto maskRow = a.nullable<int32_t>(5, "maskRow", napi_int32_array, "Int32Array or null", &rowNull);
  bool log = a.flag(6, "log");
  if (a.ok() && maskNull != rowNull) a.fail(false, "mask and maskRow must be both null or both given");
  a.need("x", x.len, msat(rows, cols));
  a.need("y", y.len, msat(rows, cols));
  if (!maskNull && a.ok() && cols > 0) {
    a.need("maskRow", maskRow.len, rows);
    const int64_t maskRows = static_cast<int64_t>(mask.len) / cols;
    for (int64_t r = 0; r < rows && a.ok(); r++) {
      const int32_t m = maskRow.p[r];
      if (m < 0 || m >= maskRows)
        a.fail(true, "maskRow[%lld] = %d is out of range for a mask of %lld rows",
               static_cast<long long>(r), m, static_cast<long long>(maskRows));
    }
  }
  if (!a.ok()) return nullptr;
  pw::softmax(y.p, x.p, rows, cols, maskNull || cols == 0 ? nullptr : mask.p, maskRow.p, log);
  return nullptr;
}

napi_value SoftmaxBackward(napi_env env, napi_callback_info info) {
  Args a(env, info, "softmaxBackward", 6);
  auto dx = a.f32(0, "dx"), y = a.f32(1, "y"), dy = a.f32(2, "dy");
  int64_t rows = a.count(3, "rows", kMaxOffset), cols = a.count(4, "cols", kMaxOffset);
  bool log = a.flag(5, "log");
  a.need("dx", dx.len, msat(rows, cols));
  a.need("y", y.len, msat(rows, cols));
  a.need("dy", dy.len, msat(rows, cols));
  if (!a.ok()) return nullptr;
  pw::softmaxBackward(dx.p, y.p, dy.p, rows, cols, log);
  return nullptr;
}

// ---------------------------------------------------------------------------- cross-entropy
void checkTargets(Args& a, const Arr<int32_t>& t, int64_t rows, int64_t cols, double ignore) {
  a.need("targets", t.len, rows);
  for (int64_t r = 0; r < rows && a.ok(); r++) {
    const int32_t v = t.p[r];
    if (static_cast<double>(v) != ignore && (v < 0 || v >= cols))
      a.fail(true, "targets[%lld] = %d is out of range for %lld classes", static_cast<long long>(r), v,
             static_cast<long long>(cols));
  }
}

napi_value CrossEntropy(napi_env env, napi_callback_info info) {
  Args a(env, info, "crossEntropy", 7);
  auto lse = a.f32(0, "lse"), logits = a.f32(1, "logits");
  auto targets = a.i32(2, "targets");
  int64_t rows = a.count(3, "rows", kMaxOffset), cols = a.count(4, "cols", kMaxOffset);
  double ignore = a.num(5, "ignoreIndex"), eps = a.num(6, "smoothing");
  a.need("logits", logits.len, msat(rows, cols));
  a.need("lse", lse.len, rows);
  checkTargets(a, targets, rows, cols, ignore);
  if (!a.ok()) return nullptr;
  return a.number(pw::crossEntropy(lse.p, logits.p, targets.p, rows, cols, ignore, eps));
}

napi_value CrossEntropyBackward(napi_env env, napi_callback_info info) {
  Args a(env, info, "crossEntropyBackward", 9);
  auto dl = a.f32(0, "dlogits"), logits = a.f32(1, "logits"), lse = a.f32(2, "lse");
  auto targets = a.i32(3, "targets");
  int64_t rows = a.count(4, "rows", kMaxOffset), cols = a.count(5, "cols", kMaxOffset);
  double ignore = a.num(6, "ignoreIndex"), eps = a.num(7, "smoothing"), scale = a.num(8, "scale");
  a.need("dlogits", dl.len, msat(rows, cols));
  a.need("logits", logits.len, msat(rows, cols));
  a.need("lse", lse.len, rows);
  checkTargets(a, targets, rows, cols, ignore);
  if (!a.ok()) return nullptr;
  pw::crossEntropyBackward(dl.p, logits.p, lse.p, targets.p, rows, cols, ignore, eps, scale);
  return nullptr;
}

// ------------------------------------------------------------------------- gather / scatter
void checkIndices(Args& a, const Arr<int32_t>& idx, int64_t limit, const char* what) {
  for (size_t i = 0; i < idx.len && a.ok(); i++) {
    const int32_t v = idx.p[i];
    if (v < 0 || v >= limit)
      a.fail(true, "idx[%zu] = %d is out of range for %s of %lld rows", i, v, what, static_cast<long long>(limit));
  }
}

napi_value GatherRows(napi_env env, napi_callback_info info) {
  Args a(env, info, "gatherRows", 4);
  auto out = a.f32(0, "out"), src = a.f32(1, "src");
  auto idx = a.i32(2, "idx");
  int64_t cols = a.count(3, "cols", kMaxOffset);
  a.need("out", out.len, msat(idx.len, cols));
  if (cols > 0) checkIndices(a, idx, static_cast<int64_t>(src.len) / cols, "src");
  if (!a.ok()) return nullptr;
  pw::gatherRows(out.p, src.p, idx.p, idx.len, cols);
  return nullptr;
}

napi_value ScatterAddRows(napi_env env, napi_callback_info info) {
  Args a(env, info, "scatterAddRows", 4);
  auto out = a.f32(0, "out"), src = a.f32(1, "src");
  auto idx = a.i32(2, "idx");
  int64_t cols = a.count(3, "cols", kMaxOffset);
  bool zeroFirst = a.optFlag(4, "zeroFirst");
  a.need("src", src.len, msat(idx.len, cols));
  if (cols > 0) checkIndices(a, idx, static_cast<int64_t>(out.len) / cols, "out");
  if (!a.ok()) return nullptr;
  // cols = 0: no rows of out to add into; zeroFirst still zeroes all of out (the kernel's tail).
  pw::scatterAddRows(out.p, src.p, idx.p, idx.len, cols, cols > 0 ? out.len / cols : 0, zeroFirst ? out.len : 0);
  return nullptr;
}

napi_value ScatterAddRowsScaled(napi_env env, napi_callback_info info) {
  Args a(env, info, "scatterAddRowsScaled", 5);
  auto out = a.f32(0, "out"), src = a.f32(1, "src"), scale = a.f32(2, "scale");
  auto idx = a.i32(3, "idx");
  int64_t cols = a.count(4, "cols", kMaxOffset);
  bool zeroFirst = a.optFlag(5, "zeroFirst");
  a.need("src", src.len, msat(idx.len, cols));
  a.need("scale", scale.len, idx.len);
  if (cols > 0) checkIndices(a, idx, static_cast<int64_t>(out.len) / cols, "out");
  if (!a.ok()) return nullptr;
  pw::scatterAddRowsScaled(out.p, src.p, scale.p, idx.p, idx.len, cols, cols > 0 ? out.len / cols : 0,
                           zeroFirst ? out.len : 0);
  return nullptr;
}

napi_value ScatterAddRowsScaledBackward(napi_env env, napi_callback_info info) {
  Args a(env, info, "scatterAddRowsScaledBackward", 7);
  auto dsrc = a.f32(0, "dsrc"), dscale = a.f32(1, "dscale"), dout = a.f32(2, "dout"), src = a.f32(3, "src"),
       scale = a.f32(4, "scale");
  auto idx = a.i32(5, "idx");
  int64_t cols = a.count(6, "cols", kMaxOffset);
  a.need("dsrc", dsrc.len, msat(idx.len, cols));
  a.need("src", src.len, msat(idx.len, cols));
  a.need("dscale", dscale.len, idx.len);
  a.need("scale", scale.len, idx.len);
  if (cols > 0) checkIndices(a, idx, static_cast<int64_t>(dout.len) / cols, "dout");
  if (!a.ok()) return nullptr;
  if (cols == 0) {
    for (size_t i = 0; i < idx.len; i++) dscale.p[i] = 0.0f;
    return nullptr;
  }
  pw::scatterAddRowsScaledBackward(dsrc.p, dscale.p, dout.p, src.p, scale.p, idx.p, idx.len, cols);
  return nullptr;
}

// ---------------------------------------------------------------------------------- dropout
/** Argument i as dropout's seed: an integer, taken mod 2^32 (ToUint32, as the TypeScript hash sees it). */
uint32_t dropoutSeed(Args& a, int i) {
  double seed = a.num(i, "seed");
  if (a.ok() && !(std::isfinite(seed) && seed == std::floor(seed)))
    a.fail(true, "seed must be an integer, got %g", seed);
  if (!a.ok()) return 0;
  double s = std::fmod(seed, 4294967296.0);
  if (s < 0) s += 4294967296.0;
  return static_cast<uint32_t>(s);
}

napi_value Dropout(napi_env env, napi_callback_info info) {
  Args a(env, info, "dropout", 5);
  auto y = a.f32(0, "y");
  auto mask = a.u8(1, "mask");
  auto x = a.f32(2, "x");
  double p = a.num(3, "p");
  uint32_t seed = dropoutSeed(a, 4);
  a.need("y", y.len, x.len);
  a.need("mask", mask.len, x.len);
  if (!a.ok()) return nullptr;
  pw::dropout(y.p, mask.p, x.p, x.len, p, seed);
  return nullptr;
}

napi_value DropoutBackward(napi_env env, napi_callback_info info) {
  Args a(env, info, "dropoutBackward", 4);
  auto dx = a.f32(0, "dx"), dy = a.f32(1, "dy");
  auto mask = a.u8(2, "mask");
  double p = a.num(3, "p");
  a.need("dx", dx.len, dy.len);
  a.need("mask", mask.len, dy.len);
  if (!a.ok()) return nullptr;
  pw::dropoutBackward(dx.p, dy.p, mask.p, dy.len, p);
  return nullptr;
}

napi_value UnaryDropout(napi_env env, napi_callback_info info) {
  Args a(env, info, "unaryDropout", 6);
  int op = a.op(0, "op");
  auto y = a.f32(1, "y");
  auto mask = a.u8(2, "mask");
  auto x = a.f32(3, "x");
  double p = a.num(4, "p");
  uint32_t seed = dropoutSeed(a, 5);
  a.need("y", y.len, x.len);
  a.need("mask", mask.len, x.len);
  if (!a.ok()) return nullptr;
  pw::unaryDropout(op, y.p, mask.p, x.p, x.len, p, seed);
  return nullptr;
}

napi_value UnaryDropoutBackward(napi_env env, napi_callback_info info) {
  Args a(env, info, "unaryDropoutBackward", 6);
  int op = a.op(0, "op");
  auto dx = a.f32(1, "dx"), saved = a.f32(2, "saved"), dy = a.f32(3, "dy");
  auto mask = a.u8(4, "mask");
  double p = a.num(5, "p");
  a.need("dx", dx.len, dy.len);
  a.need("saved", saved.len, dy.len);
  a.need("mask", mask.len, dy.len);
  if (!a.ok()) return nullptr;
  pw::unaryDropoutBackward(op, dx.p, saved.p, dy.p, mask.p, dy.len, p);
  return nullptr;
}

// -------------------------------------------------------------------------------- optimizer
napi_value AdamW(napi_env env, napi_callback_info info) {
  Args a(env, info, "adamw", 11);
  auto p = a.f32(0, "p"), g = a.f32(1, "g"), m = a.f32(2, "m"), v = a.f32(3, "v");
  double lr = a.num(4, "lr"), b1 = a.num(5, "beta1"), b2 = a.num(6, "beta2"), eps = a.num(7, "eps"),
         wd = a.num(8, "weightDecay"), bc1 = a.num(9, "bc1"), bc2 = a.num(10, "bc2");
  a.need("g", g.len, p.len);
  a.need("m", m.len, p.len);
  a.need("v", v.len, p.len);
  if (!a.ok()) return nullptr;
  pw::adamw(p.p, g.p, m.p, v.p, p.len, lr, b1, b2, eps, wd, bc1, bc2);
  return nullptr;
}

// -------------------------------------------------------------------------- no-grad helpers
napi_value Argmax(napi_env env, napi_callback_info info) {
  Args a(env, info, "argmax", 4);
  auto out = a.i32(0, "out");
  auto x = a.f32(1, "x");
  int64_t rows = a.count(2, "rows", kMaxOffset), cols = a.count(3, "cols", kMaxOffset);
  if (a.ok() && rows > 0 && cols == 0) a.fail(true, "cols must be positive");
  a.need("x", x.len, msat(rows, cols));
  a.need("out", out.len, rows);
  if (!a.ok()) return nullptr;
  pw::argmax(out.p, x.p, rows, cols);
  return nullptr;
}

napi_value Topk(napi_env env, napi_callback_info info) {
  Args a(env, info, "topk", 6);
  auto values = a.f32(0, "values");
  auto indices = a.i32(1, "indices");
  auto x = a.f32(2, "x");
  int64_t rows = a.count(3, "rows", kMaxOffset), cols = a.count(4, "cols"), k = a.count(5, "k");
  if (a.ok() && k > cols) a.fail(true, "k (%lld) exceeds cols (%lld)", static_cast<long long>(k), static_cast<long long>(cols));
  a.need("x", x.len, msat(rows, cols));
  a.need("values", values.len, msat(rows, k));
  a.need("indices", indices.len, msat(rows, k));
  if (!a.ok()) return nullptr;
  pw::topk(values.p, indices.p, x.p, rows, cols, k);
  return nullptr;
}

// --------------------------------------------------------------------------------- attention
napi_value AttentionInference(napi_env env, napi_callback_info info) {
  Args a(env, info, "attentionInference", 8);
  auto ctx = a.f32(0, "ctx"), X = a.f32(1, "X");
  int64_t batch = a.count(2, "batch"), T = a.count(3, "T"), H = a.count(4, "H"), Dh = a.count(5, "Dh");
  bool maskNull = false;
  auto keyMask = a.nullable<float>(6, "keyMask", napi_float32_array, "Float32Array or null", &maskNull);
  bool causal = a.flag(7, "causal");
  if (a.ok() && (batch < 1 || T < 1 || H < 1 || Dh < 1))
    a.fail(true, "batch, T, H and Dh must be positive, got %lld, %lld, %lld, %lld", static_cast<long long>(batch),
           static_cast<long long>(T), static_cast<long long>(H), static_cast<long long>(Dh));
  const uint64_t D = msat(H, Dh);
  if (a.ok() && D > static_cast<uint64_t>(kMaxDim) / 3)
    a.fail(true, "H * Dh (%llu) is too large", static_cast<unsigned long long>(D));
  const uint64_t rows = msat(batch, T);
  a.need("X", X.len, mul3(rows, 3, D));
  a.need("ctx", ctx.len, msat(rows, D));
  if (!maskNull) a.need("keyMask", keyMask.len, rows);
  if (!a.ok()) return nullptr;
  pw::attentionInference(ctx.p, X.p, int(batch), int(T), int(H), int(Dh), maskNull ? nullptr : keyMask.p, causal);
  return nullptr;
}

// -------------------------------------------------------------------------------------- int8
napi_value QuantizeRowsI8(napi_env env, napi_callback_info info) {
  Args a(env, info, "quantizeRowsI8", 6);
  auto q = a.i8(0, "q");
  auto scale = a.f32(1, "scale"), x = a.f32(2, "x");
  int64_t rows = a.count(3, "rows", kMaxOffset), cols = a.count(4, "cols", kMaxOffset),
          ldq = a.count(5, "ldq", kMaxOffset);
  if (a.ok() && ldq < cols)
    a.fail(true, "ldq (%lld) must be at least cols (%lld)", static_cast<long long>(ldq), static_cast<long long>(cols));
  a.need("x", x.len, msat(rows, cols));
  a.need("scale", scale.len, rows);
  a.need("q", q.len, msat(rows, ldq));
  if (!a.ok()) return nullptr;
  pw::quantizeRowsI8(q.p, scale.p, x.p, rows, cols, ldq);
  return nullptr;
}

/** The shape checks shared by gemmI8 and linearI8 (argument order: M, N, Kp, A, lda, ..., Wp). */
void checkI8Gemm(Args& a, int64_t M, int64_t N, int64_t Kp, const Arr<int8_t>& A, int64_t lda,
                 const Arr<int8_t>& Wp) {
  if (!a.ok()) return;
  if (Kp % 64 != 0) a.fail(true, "Kp (%lld) must be a multiple of 64", static_cast<long long>(Kp));
  else if (lda < Kp) a.fail(true, "lda (%lld) must be at least Kp (%lld)", static_cast<long long>(lda), static_cast<long long>(Kp));
  if (M > 0 && Kp > 0) a.need("A", A.len, asat(msat(M - 1, lda), Kp));
  if (N > 0 && Kp > 0) a.need("Wp", Wp.len, msat((N + 15) / 16 * 16, Kp));
}

/** Throws while PATHWISE_INT8_ISA names a path that is not available. */
void checkI8Isa(Args& a) {
  if (!a.ok()) return;
  if (const char* e = pw::int8IsaError()) a.fail(true, "%s", e);
}

napi_value GemmI8(napi_env env, napi_callback_info info) {
  Args a(env, info, "gemmI8", 7);
  int64_t M = a.count(0, "M"), N = a.count(1, "N"), Kp = a.count(2, "Kp");
  auto A = a.i8(3, "A");
  int64_t lda = a.count(4, "lda", kMaxOffset);
  auto Wp = a.i8(5, "Wp");
  auto acc = a.i32(6, "acc");
  checkI8Gemm(a, M, N, Kp, A, lda, Wp);
  a.need("acc", acc.len, msat(M, N));
  checkI8Isa(a);
  if (!a.ok()) return nullptr;
  pw::gemmI8(int(M), int(N), int(Kp), A.p, size_t(lda), Wp.p, acc.p);
  return nullptr;
}

/** linearI8's and linearI8Requant's shared leading arguments: M, N, Kp, A, lda, sa, Wp, sw, bias. */
struct LinearI8Args {
  int64_t M, N, Kp, lda;
  Arr<int8_t> A, Wp;
  Arr<float> sa, sw, bias;
  bool biasNull = false;

  explicit LinearI8Args(Args& a) {
    M = a.count(0, "M");
    N = a.count(1, "N");
    Kp = a.count(2, "Kp");
    A = a.i8(3, "A");
    lda = a.count(4, "lda", kMaxOffset);
    sa = a.f32(5, "sa");
    Wp = a.i8(6, "Wp");
    sw = a.f32(7, "sw");
    bias = a.nullable<float>(8, "bias", napi_float32_array, "Float32Array or null", &biasNull);
  }
  void check(Args& a, double act) const {
    if (a.ok() && !(act == -1 || act == 0 || act == 1 || act == 2 || act == 3))
      a.fail(true, "act must be -1 (none) or a UnaryOp code 0..3, got %g", act);
    checkI8Gemm(a, M, N, Kp, A, lda, Wp);
    a.need("sa", sa.len, M);
    a.need("sw", sw.len, N);
    if (!biasNull) a.need("bias", bias.len, N);
  }
};

napi_value LinearI8(napi_env env, napi_callback_info info) {
  Args a(env, info, "linearI8", 11);
  const LinearI8Args l(a);
  auto out = a.f32(9, "out");
  double act = a.num(10, "act");
  l.check(a, act);
  a.need("out", out.len, msat(l.M, l.N));
  checkI8Isa(a);
  if (!a.ok()) return nullptr;
  pw::linearI8(int(l.M), int(l.N), int(l.Kp), l.A.p, size_t(l.lda), l.sa.p, l.Wp.p, l.sw.p, l.biasNull ? nullptr : l.bias.p,
               out.p, int(act));
  return nullptr;
}

napi_value LinearI8Requant(napi_env env, napi_callback_info info) {
  Args a(env, info, "linearI8Requant", 13);
  const LinearI8Args l(a);
  double act = a.num(9, "act");
  auto q = a.i8(10, "q");
  auto qscale = a.f32(11, "qscale");
  int64_t ldq = a.count(12, "ldq", kMaxOffset);
  if (a.ok() && ldq < l.N)
    a.fail(true, "ldq (%lld) must be at least N (%lld)", static_cast<long long>(ldq), static_cast<long long>(l.N));
  l.check(a, act);
  a.need("q", q.len, msat(l.M, ldq));
  a.need("qscale", qscale.len, l.M);
  checkI8Isa(a);
  if (!a.ok()) return nullptr;
  pw::linearI8Requant(int(l.M), int(l.N), int(l.Kp), l.A.p, size_t(l.lda), l.sa.p, l.Wp.p, l.sw.p,
                      l.biasNull ? nullptr : l.bias.p, int(act), q.p, qscale.p, size_t(ldq));
  return nullptr;
}

/** The int8 paths available in this process, best first. */
napi_value Int8Isas(napi_env env, napi_callback_info info) {
  const std::vector<const char*> isas = pw::int8Isas();
  napi_value arr;
  napi_create_array_with_length(env, isas.size(), &arr);
  for (size_t i = 0; i < isas.size(); i++) {
    napi_value s;
    napi_create_string_utf8(env, isas[i], NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, arr, static_cast<uint32_t>(i), s);
  }
  return arr;
}

napi_value Int8Isa(napi_env env, napi_callback_info info) {
  Args a(env, info, "int8Isa", 0);
  checkI8Isa(a);
  if (!a.ok()) return nullptr;
  napi_value r;
  napi_create_string_utf8(env, pw::int8Isa(), NAPI_AUTO_LENGTH, &r);
  return r;
}

napi_value SetInt8Isa(napi_env env, napi_callback_info info) {
  Args a(env, info, "setInt8Isa", 1);
  if (!a.ok()) return nullptr;
  size_t argc = 1;
  napi_value v;
  napi_get_cb_info(env, info, &argc, &v, nullptr, nullptr);
  char name[64];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, name, sizeof name, &len) != napi_ok) {
    a.fail(false, "name must be a string");
    return nullptr;
  }
  if (len >= sizeof name - 1 || !pw::setInt8Isa(name)) {
    std::string avail;
    for (const char* s : pw::int8Isas()) avail += std::string(avail.empty() ? "" : ", ") + s;
    a.fail(true, "\"%s\" is not an int8 path of this build and CPU (available: %s)", name, avail.c_str());
  }
  return nullptr;
}

// ------------------------------------------------------------------------------ BLAS control
napi_value BlasThreads(napi_env env, napi_callback_info info) {
  napi_value r;
  napi_create_int32(env, pw::poolThreadCount(), &r);
  return r;
}

napi_value SetBlasThreads(napi_env env, napi_callback_info info) {
  Args a(env, info, "setBlasThreads", 1);
  int64_t n = a.count(0, "n", 4096);
  if (a.ok() && n < 1) a.fail(true, "n must be at least 1");
  if (!a.ok()) return nullptr;
  pw::setPoolThreads(static_cast<int>(n));
  return nullptr;
}

napi_value BlasConfig(napi_env env, napi_callback_info info) {
  napi_value r;
  napi_create_string_utf8(env, openblas_get_config(), NAPI_AUTO_LENGTH, &r);
  return r;
}

/** The SIMD path the element-wise kernels were compiled for: "avx2+fma" or "scalar". */
napi_value SimdPath(napi_env env, napi_callback_info info) {
  napi_value r;
  napi_create_string_utf8(env, pw::simdPath(), NAPI_AUTO_LENGTH, &r);
  return r;
}

/**
 * fmaPeak(ms): the fp32 arithmetic the pool's threads do together, in GFLOP/s, when they do
 * nothing else (fmaChains, run for about ms milliseconds). The work is cut into many small chunks
 * that the threads claim, so a thread that starts late takes fewer and the figure is what the
 * threads reach together, as a GEMM split between them would.
 */
napi_value FmaPeak(napi_env env, napi_callback_info info) {
  Args a(env, info, "fmaPeak", 1);
  int64_t ms = a.count(0, "ms", 600000);
  if (a.ok() && ms < 1) a.fail(true, "ms must be at least 1");
  if (!a.ok()) return nullptr;
  using Clock = std::chrono::steady_clock;
  constexpr int64_t kIters = 1 << 16;  // one chunk: about 0.1-0.3 ms on a current core
  const int threads = pw::poolThreadCount();
  // Calibrate on this thread: how many chunks fill the time asked for at this thread count.
  auto t0 = Clock::now();
  int64_t calib = 0;
  while (std::chrono::duration<double, std::milli>(Clock::now() - t0).count() < 20.0) {
    pw::fmaChains(kIters);
    calib++;
  }
  const double partMs = 20.0 / double(calib);
  const int parts = int(std::max<double>(threads, std::min<double>(1e6, double(ms) * threads / partMs)));
  // One pool job of `threads` parts (the pool starts a thread per part), each thread claiming
  // chunks until none are left.
  std::vector<double> flops(threads, 0.0);
  std::atomic<int> next{0};
  t0 = Clock::now();
  pw::poolRun(threads, [&](int t) {
    while (next.fetch_add(1, std::memory_order_relaxed) < parts) flops[t] += pw::fmaChains(kIters);
  });
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  double total = 0;
  for (double f : flops) total += f;
  napi_value r;
  napi_create_double(env, total / s / 1e9, &r);
  return r;
}

struct Export {
  const char* name;
  napi_callback fn;
};

const Export kExports[] = {
    {"gemm", Gemm},
    {"gemmBatched", GemmBatched},
    {"gemmGrouped", GemmGrouped},
    {"binary", Binary},
    {"binaryCol", BinaryCol},
    {"axpby", Axpby},
    {"unary", Unary},
    {"unaryBackward", UnaryBackward},
    {"sumAxis", SumAxis},
    {"expandAxis", ExpandAxis},
    {"transpose", Transpose},
    {"sumSquares", SumSquares},
    {"layerNorm", LayerNorm},
    {"layerNormBackward", LayerNormBackward},
    {"softmax", Softmax},
    {"softmaxBackward", SoftmaxBackward},
    {"crossEntropy", CrossEntropy},
    {"crossEntropyBackward", CrossEntropyBackward},
    {"gatherRows", GatherRows},
    {"scatterAddRows", ScatterAddRows},
    {"scatterAddRowsScaled", ScatterAddRowsScaled},
    {"scatterAddRowsScaledBackward", ScatterAddRowsScaledBackward},
    {"dropout", Dropout},
    {"dropoutBackward", DropoutBackward},
    {"unaryDropout", UnaryDropout},
    {"unaryDropoutBackward", UnaryDropoutBackward},
    {"adamw", AdamW},
    {"argmax", Argmax},
    {"topk", Topk},
    {"quantizeRowsI8", QuantizeRowsI8},
    {"gemmI8", GemmI8},
    {"linearI8", LinearI8},
    {"linearI8Requant", LinearI8Requant},
    {"attentionInference", AttentionInference},
    {"int8Isas", Int8Isas},
    {"int8Isa", Int8Isa},
    {"setInt8Isa", SetInt8Isa},
    {"blasThreads", BlasThreads},
    {"setBlasThreads", SetBlasThreads},
    {"blasConfig", BlasConfig},
    {"simdPath", SimdPath},
    {"fmaPeak", FmaPeak},
};

// Tensor memory policy. Activations and gradients are large, short-lived malloc'd buffers
// (storage.ts). With glibc's defaults, freed memory at the top of the heap is handed back to the
// kernel and every step page-faults it in again: measured on the encoder-block step, 10x the
// minor faults and about 25% of the step time. So: serve every buffer from the heap (no mmap:
// glibc caps the mmap threshold at 32 MiB, and a 40 MB logits buffer would otherwise be mapped
// and faulted in afresh each step: 530 -> 445 ms per pretraining step), and keep freed memory
// for reuse, as a caching allocator does. PATHWISE_MALLOC_TUNE=0 opts out.
bool g_mallocTuned = false;

void TuneMalloc() {
#if defined(__GLIBC__)
  const char* env = std::getenv("PATHWISE_MALLOC_TUNE");
  if (env != nullptr && std::strcmp(env, "0") == 0) return;
  g_mallocTuned = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 &&
                  mallopt(M_MMAP_MAX, 0) == 1 &&
                  mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 &&
                  mallopt(M_TOP_PAD, 64 << 20) == 1;
#endif
}

napi_value MallocTuned(napi_env env, napi_callback_info) {
  napi_value v;
  napi_get_boolean(env, g_mallocTuned, &v);
  return v;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  TuneMalloc();
  {
    napi_value fn;
    napi_create_function(env, "mallocTuned", NAPI_AUTO_LENGTH, MallocTuned, nullptr, &fn);
    exports.Set("mallocTuned", Napi::Value(env, fn));
  }
  for (const Export& e : kExports) {
    napi_value fn;
    if (napi_create_function(env, e.name, NAPI_AUTO_LENGTH, e.fn, nullptr, &fn) != napi_ok) {
      Napi::Error::New(env, "pathwise: failed to create the native functions").ThrowAsJavaScriptException();
      return exports;
    }
    exports.Set(e.name, Napi::Value(env, fn));
  }
  return exports;
}

NODE_API_MODULE(pathwise, Init)
