// Direct convolution for few input channels (the stem conv over RGB), read straight from NCHW input
// and written NHWC with the GEMM epilogue. Vectors run along output pixels, so a 3-channel input
// needs no im2col and 24 output channels waste no lanes (the GEMM path pads N = 24 to 32).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/ref/ref_kernels.h"

namespace effi::kernels {

// The geometries this kernel takes: groups 1, dilation 1, c_in <= 4, stride_w 1 or 2, kw <= 8.
bool DirectConvSupported(const ref::Conv2dParams& p);

// OHWI weights [c_out][kh][kw][c_in] -> the kernel's layout: groups of 8 output channels, each
// [c_in][kh][kw][8] (channels past c_out zero).
std::vector<float> PackDirectConvWeights(const ref::Conv2dParams& p, const float* ohwi);

// Floats of per-thread scratch DirectConvF32 needs: the phase rows of one chunk of output rows
// (per input row and phase q < stride_w, row[j] = x[..][stride_w * j + q - pad_left], zero
// outside the image).
int64_t DirectConvScratchFloats(const ref::Conv2dParams& p);

// y NHWC = act(conv(x NCHW) + bias) for output rows [r0, r1) of the n * h_out rows; bias
// nullable; scratch holds DirectConvScratchFloats(p) floats.
void DirectConvF32(const ref::Conv2dParams& p, const float* x, const float* packed_w,
                   const float* bias, ref::Activation act, int64_t r0, int64_t r1, float* scratch,
                   float* y);

}  // namespace effi::kernels
