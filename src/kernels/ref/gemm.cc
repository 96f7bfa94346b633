// Reference GEMM (double accumulation, it is the oracle) and the fused bias/activation/residual
// epilogue that conv and matmul kernels apply to their output.

#include "kernels/ref/ref_kernels.h"

namespace effi::kernels::ref {

void gemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
              int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0.0;
      for (int64_t p = 0; p < k; ++p) {
        const float av = trans_a ? a[p * lda + i] : a[i * lda + p];
        const float bv = trans_b ? b[j * ldb + p] : b[p * ldb + j];
        acc += static_cast<double>(av) * bv;
      }
      double out = static_cast<double>(alpha) * acc;
      // beta == 0 must not read C: it may be uninitialized or NaN, and 0 * NaN would be NaN.
      if (beta != 0.0f) out += static_cast<double>(beta) * c[i * ldc + j];
      c[i * ldc + j] = static_cast<float>(out);
    }
  }
}

void epilogue_f32(int64_t rows, int64_t cols, const float* bias, Activation act,
                  const float* residual, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t col = 0; col < cols; ++col) {
      const int64_t i = r * cols + col;
      float v = y[i];
      if (bias != nullptr) v += bias[col];
      switch (act) {
        case Activation::kNone:
          break;
        // The activations reuse the unary kernel so the epilogue and a standalone op agree bit
        // for bit.
        case Activation::kRelu:
          unary_f32(UnaryOp::kRelu, &v, &v, 1);
          break;
        case Activation::kGelu:
          unary_f32(UnaryOp::kGelu, &v, &v, 1);
          break;
      }
      if (residual != nullptr) v += residual[i];
      y[i] = v;
    }
  }
}

}  // namespace effi::kernels::ref
