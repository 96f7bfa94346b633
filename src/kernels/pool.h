// Vectorised NHWC pooling (Highway, every compiled target), vectorised over channels: the fused
// EfficientFormer token mixer x + scale * (avgpool(x) - x) and general average pooling.
#pragma once

#include <cstdint>

#include "kernels/ref/ref_kernels.h"

namespace effi::kernels {

// y = x + scale[c] * (avg_pool(x) - x) on NHWC x/y [n][h][w][c], avg_pool = pool_size x pool_size
// window (pool_size odd), stride 1, pad pool_size / 2, divisor = number of in-image taps
// (count_include_pad = 0). scale is [c] or null (= ones, i.e. y = avg_pool(x)). Computes output
// rows [row_begin, row_end) of the n * h rows; y must not alias x.
void PoolMixerNhwcF32(int64_t n, int64_t h, int64_t w, int64_t c, int64_t pool_size, const float* x,
                      const float* scale, float* y, int64_t row_begin, int64_t row_end);

// Average pooling with ref::avgpool2d_nhwc_f32's semantics (any kernel, stride, pads, dilation,
// count_include_pad either way) for output rows [row_begin, row_end) of the n * h_out rows.
void AvgPool2dNhwcF32(const ref::Pool2dParams& p, const float* x, float* y, int64_t row_begin,
                      int64_t row_end);

}  // namespace effi::kernels
