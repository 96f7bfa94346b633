// Reference 2-D pooling (average NCHW/NHWC, max NCHW) and global average pooling.
// Window and divisor rules follow ONNX / onnxruntime; see Pool2dParams in ref_kernels.h.

#include <cmath>
#include <limits>

#include "kernels/ref/ref_kernels.h"

namespace effi::kernels::ref {

namespace {

// The taps of one pooling window along one axis: tap i sits at start + i * dil for i in [0, k).
struct Window {
  int64_t start;
  int64_t k;
  int64_t dil;
  // Number of taps inside the padded input [-pad_begin, in + pad_end): the count_include_pad
  // divisor. start >= -pad_begin always holds, so only the end can overhang (in ceil_mode).
  int64_t padded_taps;
};

Window make_window(int64_t o, int64_t stride, int64_t pad_begin, int64_t pad_end, int64_t in,
                   int64_t k, int64_t dil) {
  Window win{o * stride - pad_begin, k, dil, 0};
  for (int64_t i = 0; i < k; ++i) {
    const int64_t pos = win.start + i * dil;
    if (pos >= -pad_begin && pos < in + pad_end) ++win.padded_taps;
  }
  return win;
}

inline bool in_bounds(int64_t i, int64_t size) { return i >= 0 && i < size; }

// Average of one window. at(ih, iw) returns the input element at an in-bounds position; the two
// layouts differ only in that addressing.
template <typename At>
float average_window(const Pool2dParams& p, const Window& wh, const Window& ww, At at) {
  double sum = 0.0;
  int64_t valid = 0;
  for (int64_t ky = 0; ky < wh.k; ++ky) {
    const int64_t ih = wh.start + ky * wh.dil;
    if (!in_bounds(ih, p.h_in)) continue;
    for (int64_t kx = 0; kx < ww.k; ++kx) {
      const int64_t iw = ww.start + kx * ww.dil;
      if (!in_bounds(iw, p.w_in)) continue;
      sum += at(ih, iw);
      ++valid;
    }
  }
  // An all-padding window has nothing to average; 0 matches onnxruntime.
  if (valid == 0) return 0.0f;
  const int64_t divisor = p.count_include_pad ? wh.padded_taps * ww.padded_taps : valid;
  return static_cast<float>(sum / static_cast<double>(divisor));
}

}  // namespace

void avgpool2d_nchw_f32(const Pool2dParams& p, const float* x, float* y) {
  for (int64_t nc = 0; nc < p.n * p.c; ++nc) {
    const float* xp = x + nc * p.h_in * p.w_in;
    float* yp = y + nc * p.h_out * p.w_out;
    for (int64_t oh = 0; oh < p.h_out; ++oh) {
      const Window wh = make_window(oh, p.stride_h, p.pad_top, p.pad_bottom, p.h_in, p.kh, p.dil_h);
      for (int64_t ow = 0; ow < p.w_out; ++ow) {
        const Window ww =
            make_window(ow, p.stride_w, p.pad_left, p.pad_right, p.w_in, p.kw, p.dil_w);
        yp[oh * p.w_out + ow] =
            average_window(p, wh, ww, [&](int64_t ih, int64_t iw) { return xp[ih * p.w_in + iw]; });
      }
    }
  }
}

void avgpool2d_nhwc_f32(const Pool2dParams& p, const float* x, float* y) {
  for (int64_t n = 0; n < p.n; ++n) {
    const float* xn = x + n * p.h_in * p.w_in * p.c;
    for (int64_t oh = 0; oh < p.h_out; ++oh) {
      const Window wh = make_window(oh, p.stride_h, p.pad_top, p.pad_bottom, p.h_in, p.kh, p.dil_h);
      for (int64_t ow = 0; ow < p.w_out; ++ow) {
        const Window ww =
            make_window(ow, p.stride_w, p.pad_left, p.pad_right, p.w_in, p.kw, p.dil_w);
        for (int64_t c = 0; c < p.c; ++c) {
          y[((n * p.h_out + oh) * p.w_out + ow) * p.c + c] = average_window(
              p, wh, ww, [&](int64_t ih, int64_t iw) { return xn[(ih * p.w_in + iw) * p.c + c]; });
        }
      }
    }
  }
}

void maxpool2d_nchw_f32(const Pool2dParams& p, const float* x, float* y) {
  for (int64_t nc = 0; nc < p.n * p.c; ++nc) {
    const float* xp = x + nc * p.h_in * p.w_in;
    float* yp = y + nc * p.h_out * p.w_out;
    for (int64_t oh = 0; oh < p.h_out; ++oh) {
      const int64_t h0 = oh * p.stride_h - p.pad_top;
      for (int64_t ow = 0; ow < p.w_out; ++ow) {
        const int64_t w0 = ow * p.stride_w - p.pad_left;
        // Padding never wins a max: only in-bounds taps are considered.
        float m = -std::numeric_limits<float>::infinity();
        for (int64_t ky = 0; ky < p.kh; ++ky) {
          const int64_t ih = h0 + ky * p.dil_h;
          if (!in_bounds(ih, p.h_in)) continue;
          for (int64_t kx = 0; kx < p.kw; ++kx) {
            const int64_t iw = w0 + kx * p.dil_w;
            if (!in_bounds(iw, p.w_in)) continue;
            const float v = xp[ih * p.w_in + iw];
            // Once m is NaN no comparison is true, so NaN sticks.
            if (v > m || std::isnan(v)) m = v;
          }
        }
        yp[oh * p.w_out + ow] = m;
      }
    }
  }
}

void global_avgpool_nchw_f32(int64_t n, int64_t c, int64_t hw, const float* x, float* y) {
  for (int64_t i = 0; i < n * c; ++i) {
    double sum = 0.0;
    for (int64_t s = 0; s < hw; ++s) sum += x[i * hw + s];
    y[i] = static_cast<float>(sum / static_cast<double>(hw));
  }
}

void global_avgpool_nhwc_f32(int64_t n, int64_t hw, int64_t c, const float* x, float* y) {
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t ch = 0; ch < c; ++ch) {
      double sum = 0.0;
      for (int64_t s = 0; s < hw; ++s) sum += x[(b * hw + s) * c + ch];
      y[b * c + ch] = static_cast<float>(sum / static_cast<double>(hw));
    }
  }
}

}  // namespace effi::kernels::ref
