// Vectorised fp32 row kernels (Highway, every compiled target): LayerNorm and Softmax over the
// contiguous last dimension of a [rows][cols] tensor. Callers split rows across threads by
// offsetting the pointers.
#pragma once

#include <cstdint>

namespace effi::kernels {

// y = (x - mean) / sqrt(var + eps) * gamma + beta per row; gamma/beta nullable [cols]. Statistics
// in float vectors: the mean of (x - x[0]) (shifted so a large common offset does not cost
// precision), then the centred sum of squares; within 1e-6 relative of ref::layernorm_f32.
void LayerNormF32(int64_t rows, int64_t cols, const float* x, const float* gamma, const float* beta,
                  float eps, float* y);

// y = exp(x - max) / sum(exp(x - max)) per row (Highway contrib Exp, 1 ulp). y may alias x. As in
// the reference, a row holding a NaN (or a +inf, or only -inf) comes out all NaN.
void SoftmaxF32(int64_t rows, int64_t cols, const float* x, float* y);

}  // namespace effi::kernels
