// Reference 2-D convolution (NCHW/OIHW and NHWC/OHWI) and the OIHW -> OHWI weight reorder.
// Direct loops over every output and every tap; out-of-bounds taps read the implicit zero padding.

#include "kernels/ref/ref_kernels.h"

namespace effi::kernels::ref {

namespace {

// Input coordinate of tap k for output o along one axis (may fall outside [0, in) = padding).
inline int64_t tap_coord(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t dil) {
  return o * stride - pad + k * dil;
}

inline bool in_bounds(int64_t i, int64_t size) { return i >= 0 && i < size; }

}  // namespace

void conv2d_nchw_f32(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                     float* y) {
  const int64_t cin_g = p.c_in / p.groups;
  const int64_t cout_g = p.c_out / p.groups;
  for (int64_t n = 0; n < p.n; ++n) {
    for (int64_t oc = 0; oc < p.c_out; ++oc) {
      const int64_t g = oc / cout_g;
      for (int64_t oh = 0; oh < p.h_out; ++oh) {
        for (int64_t ow = 0; ow < p.w_out; ++ow) {
          double acc = bias != nullptr ? bias[oc] : 0.0;
          for (int64_t icg = 0; icg < cin_g; ++icg) {
            const int64_t ic = g * cin_g + icg;
            for (int64_t ky = 0; ky < p.kh; ++ky) {
              const int64_t ih = tap_coord(oh, p.stride_h, p.pad_top, ky, p.dil_h);
              if (!in_bounds(ih, p.h_in)) continue;
              for (int64_t kx = 0; kx < p.kw; ++kx) {
                const int64_t iw = tap_coord(ow, p.stride_w, p.pad_left, kx, p.dil_w);
                if (!in_bounds(iw, p.w_in)) continue;
                const float xv = x[((n * p.c_in + ic) * p.h_in + ih) * p.w_in + iw];
                const float wv = w[((oc * cin_g + icg) * p.kh + ky) * p.kw + kx];
                acc += static_cast<double>(xv) * wv;
              }
            }
          }
          y[((n * p.c_out + oc) * p.h_out + oh) * p.w_out + ow] = static_cast<float>(acc);
        }
      }
    }
  }
}

void conv2d_nhwc_f32(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                     float* y) {
  const int64_t cin_g = p.c_in / p.groups;
  const int64_t cout_g = p.c_out / p.groups;
  for (int64_t n = 0; n < p.n; ++n) {
    for (int64_t oh = 0; oh < p.h_out; ++oh) {
      for (int64_t ow = 0; ow < p.w_out; ++ow) {
        for (int64_t oc = 0; oc < p.c_out; ++oc) {
          const int64_t g = oc / cout_g;
          double acc = bias != nullptr ? bias[oc] : 0.0;
          for (int64_t ky = 0; ky < p.kh; ++ky) {
            const int64_t ih = tap_coord(oh, p.stride_h, p.pad_top, ky, p.dil_h);
            if (!in_bounds(ih, p.h_in)) continue;
            for (int64_t kx = 0; kx < p.kw; ++kx) {
              const int64_t iw = tap_coord(ow, p.stride_w, p.pad_left, kx, p.dil_w);
              if (!in_bounds(iw, p.w_in)) continue;
              const float* xp = x + ((n * p.h_in + ih) * p.w_in + iw) * p.c_in + g * cin_g;
              const float* wp = w + ((oc * p.kh + ky) * p.kw + kx) * cin_g;
              for (int64_t icg = 0; icg < cin_g; ++icg) {
                acc += static_cast<double>(xp[icg]) * wp[icg];
              }
            }
          }
          y[((n * p.h_out + oh) * p.w_out + ow) * p.c_out + oc] = static_cast<float>(acc);
        }
      }
    }
  }
}

void weights_oihw_to_ohwi_f32(int64_t c_out, int64_t c_in_per_group, int64_t kh, int64_t kw,
                              const float* src, float* dst) {
  for (int64_t o = 0; o < c_out; ++o) {
    for (int64_t i = 0; i < c_in_per_group; ++i) {
      for (int64_t y = 0; y < kh; ++y) {
        for (int64_t x = 0; x < kw; ++x) {
          dst[((o * kh + y) * kw + x) * c_in_per_group + i] =
              src[((o * c_in_per_group + i) * kh + y) * kw + x];
        }
      }
    }
  }
}

}  // namespace effi::kernels::ref
