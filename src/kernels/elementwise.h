// Vectorised fp32 elementwise kernels (Highway, every compiled target): unary math, and binary ops
// on a [rows][cols] output whose operands are each full, row-broadcast ([cols]), column-broadcast
// ([rows, 1]) or scalar. Semantics match ref::unary_f32 / ref::binary_broadcast.
#pragma once

#include <cstdint>

#include "kernels/ref/ref_kernels.h"

namespace effi::kernels {

// True for the ops UnaryF32 implements: Identity Relu Neg Abs Sqrt Exp Erf Gelu Sigmoid Tanh
// Reciprocal Floor Ceil (Log stays on ref::unary_f32).
bool HasUnaryF32(ref::UnaryOp op);
// y[i] = op(x[i]) for i < n; y may alias x. Exact: Relu Neg Abs Sqrt Reciprocal Floor Ceil;
// Exp 1 ulp (Highway contrib), Sigmoid ~2 ulp, Tanh 4 ulp, Erf/Gelu 3.6e-7 absolute (the fitted
// erf in vec_math-inl.h). NaN and +-inf give what the reference gives (NaN in -> NaN out), on
// every target.
void UnaryF32(ref::UnaryOp op, const float* x, float* y, int64_t n);

// True for Add Sub Mul Div Max Min (Pow stays on ref::binary_broadcast).
bool HasBinaryF32(ref::BinaryOp op);
// y[r * cols + c] = op(a[r * a_rs + c * a_cs], b[r * b_rs + c * b_cs]) for r < rows, c < cols.
// a_cs and b_cs must be 0 or 1; a_rs / b_rs are any element strides (0 = broadcast over rows).
// Max/Min propagate NaN (numpy.maximum). y may alias a full operand.
void BinaryF32(ref::BinaryOp op, int64_t rows, int64_t cols, const float* a, int64_t a_rs,
               int64_t a_cs, const float* b, int64_t b_rs, int64_t b_cs, float* y);

// A numpy broadcast of two operands to `out` reduced to at most one outer loop around BinaryF32:
// y[o][r][c] = op(a[o * a_os + ...], b[o * b_os + ...]). Built once at kernel creation.
struct BinaryPlan {
  int64_t outer = 1, rows = 1, cols = 1;
  int64_t a_os = 0, a_rs = 0, a_cs = 0;
  int64_t b_os = 0, b_rs = 0, b_cs = 0;
};
// Coalesces the broadcast (a_strides / b_strides from ref::broadcast_strides, in elements) into a
// BinaryPlan; false when the pattern needs more than one outer loop (caller keeps the generic ref).
bool PlanBinary(int rank, const int64_t* out_shape, const int64_t* a_strides,
                const int64_t* b_strides, BinaryPlan* plan);

// ref::head_mix_f32, vectorised over i (one FMA per head and output row per vector); sums in the
// reference's order, so results differ from it only where the FMA skips a rounding.
void HeadMixF32(int64_t heads, int64_t n, const float* w, const float* bias, const float* x,
                int64_t x_stride, const float* add, int64_t add_stride, float* y, int64_t y_stride);

}  // namespace effi::kernels
