// Depthwise convolution (groups == c_in == c_out, channel multiplier 1) on NHWC, vectorised over
// channels, with the GEMM's fused epilogue (bias, activation, residual) in the same pass over the
// output. EfficientFormerV2's 3x3 depthwise convs (stride 1 and 2, pad 1) are the hot case; any
// kernel size, stride, dilation and (asymmetric) padding is computed correctly.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/ref/ref_kernels.h"

namespace effi::kernels {

// The geometries this kernel takes: groups == c_in == c_out >= 1, positive sizes, non-negative
// pads (the bottom/right pads are implied by h_out / w_out).
bool DepthwiseConvSupported(const ref::Conv2dParams& p);

// Floats between two taps of the packed weights: c_out rounded up to 16 (the widest vector), so
// every channel vector, the tail included, loads whole vectors of weights.
int64_t DepthwisePackedStride(int64_t channels);

// OHWI weights [c][kh][kw][1] -> [kh * kw][DepthwisePackedStride(c)] (channels past c zero).
std::vector<float> PackDepthwiseWeights(const ref::Conv2dParams& p, const float* ohwi);

// y NHWC = act(depthwise_conv(x NHWC) + bias) + residual for output rows [r0, r1) of the
// n * h_out rows; bias [c] and residual (y's shape) nullable. The sum is in float, taps in
// row-major order (ky, then kx), from zero; bias, activation and residual as EpilogueF32 applies
// them. residual may alias y; x may not.
void DepthwiseConvF32(const ref::Conv2dParams& p, const float* x, const float* packed_w,
                      const float* bias, ref::Activation act, const float* residual, int64_t r0,
                      int64_t r1, float* y);

// Name of the 3x3 register tile for the active ISA, e.g. "dwconv_f32_3x3_4x16__AVX3" (3x3 taps,
// 4 output pixels x 16 channels).
const char* DepthwiseConvKernelName();

}  // namespace effi::kernels
