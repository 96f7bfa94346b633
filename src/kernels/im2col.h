// im2col for convolutions lowered to a GEMM, on NHWC activations: one row per output pixel
// (n, oy, ox), columns ordered (ky, kx, c) to match OHWI weights ([c_out][kh][kw][c_in], packed as
// B^T). Shared by the fp32 path (T = float, padding 0) and the int8 path (T = uint8_t, padding the
// activation zero point, so a padded tap contributes (zp - zp) * w = 0 like a real zero).
#pragma once

#include <cstdint>

#include "kernels/ref/ref_kernels.h"

namespace effi::kernels {

// Rows [m0, m1) of the im2col of x (NHWC, p.groups == 1) into col ([m1 - m0][kh * kw * c_in]);
// out-of-image taps are `pad`. Instantiated for float and uint8_t.
template <class T>
void Im2colNhwc(const ref::Conv2dParams& p, const T* x, int64_t m0, int64_t m1, T pad, T* col);

}  // namespace effi::kernels
