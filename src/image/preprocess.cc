// Resize/crop/normalise for classifier inputs. Two resamplers: Pillow's uint8 convolution (what
// timm's PIL pipeline feeds models) and torch interpolate()'s float one. Both were checked bit for
// bit against Pillow 9.4 / torch 1.13, so the operation order below is deliberate.
#include "image/preprocess.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "effi/error.hpp"
#include "image/labels.h"
#include "util/text.h"

namespace effi::image {
namespace {

[[noreturn]] void Fail(const std::string& what) {
  throw Error(ErrorCode::kInvalidArgument, fmt::format("preprocess: {}", what));
}

// ---------------------------------------------------------------------------------------------
// Pillow (libImaging/Resample.c, Geometry.c), 8 bits per channel.

// Fractional bits of Pillow's fixed-point coefficients: 32 - 8 (pixel) - 2 (headroom for kernels
// whose partial sums leave [0, 1]).
constexpr int kPilPrecisionBits = 22;

double PilBilinear(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

double PilBicubic(double x) {
  constexpr double a = -0.5;  // Pillow's choice; torch's non-antialiased bicubic uses -0.75
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// One 1-D resampling pass: for output i, `count[i]` source samples from `start[i]` with fixed-point
// weights coeffs[i * ksize + j].
struct PilTaps {
  int ksize = 0;
  std::vector<int> start;
  std::vector<int> count;
  std::vector<int32_t> coeffs;
};

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for the whole-image box, same expressions in
// the same order (the rounding of `center +- support` decides which taps exist).
PilTaps PilCoefficients(int in_size, int out_size, Interpolation interp) {
  double (*filter)(double) = interp == Interpolation::kBicubic ? PilBicubic : PilBilinear;
  const double filter_support = interp == Interpolation::kBicubic ? 2.0 : 1.0;
  const double scale = static_cast<double>(static_cast<float>(in_size)) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = filter_support * filterscale;
  PilTaps t;
  t.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.start.resize(out_size);
  t.count.resize(out_size);
  t.coeffs.assign(static_cast<size_t>(out_size) * t.ksize, 0);
  std::vector<double> k(t.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = 0.0 + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = filter((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x) {
      if (ww != 0.0) k[x] /= ww;
      const double scaled = k[x] * (1 << kPilPrecisionBits);
      t.coeffs[static_cast<size_t>(xx) * t.ksize + x] =
          static_cast<int32_t>(k[x] < 0 ? -0.5 + scaled : 0.5 + scaled);
    }
    t.start[xx] = xmin;
    t.count[xx] = xmax;
  }
  return t;
}

// Pillow's clip8: arithmetic shift, then clamp. 64-bit sums cannot overflow (Pillow's int32 ones
// are sized not to for its own kernels, and the results agree whenever they do not).
inline uint8_t PilClip8(int64_t v) {
  const int64_t s = v >> kPilPrecisionBits;
  return static_cast<uint8_t>(s < 0 ? 0 : (s > 255 ? 255 : s));
}

// Horizontal pass over source rows [y0, y1) into a (y1 - y0)-row image.
std::vector<uint8_t> PilHorizontal(const uint8_t* src, int src_w, int y0, int y1, int out_w,
                                   const PilTaps& t) {
  std::vector<uint8_t> out(static_cast<size_t>(y1 - y0) * out_w * 3);
  constexpr int64_t kHalf = int64_t{1} << (kPilPrecisionBits - 1);
  for (int y = y0; y < y1; ++y) {
    const uint8_t* row = src + static_cast<size_t>(y) * src_w * 3;
    uint8_t* dst = out.data() + static_cast<size_t>(y - y0) * out_w * 3;
    for (int xx = 0; xx < out_w; ++xx) {
      const int32_t* k = &t.coeffs[static_cast<size_t>(xx) * t.ksize];
      const uint8_t* p = row + static_cast<size_t>(t.start[xx]) * 3;
      int64_t s0 = kHalf, s1 = kHalf, s2 = kHalf;
      for (int x = 0; x < t.count[xx]; ++x) {
        s0 += p[3 * x + 0] * k[x];
        s1 += p[3 * x + 1] * k[x];
        s2 += p[3 * x + 2] * k[x];
      }
      dst[3 * xx + 0] = PilClip8(s0);
      dst[3 * xx + 1] = PilClip8(s1);
      dst[3 * xx + 2] = PilClip8(s2);
    }
  }
  return out;
}

// Vertical pass; `src` row 0 is source row `row_offset` of the taps' coordinate system.
std::vector<uint8_t> PilVertical(const uint8_t* src, int w, int row_offset, int out_h,
                                 const PilTaps& t) {
  std::vector<uint8_t> out(static_cast<size_t>(out_h) * w * 3);
  constexpr int64_t kHalf = int64_t{1} << (kPilPrecisionBits - 1);
  const size_t stride = static_cast<size_t>(w) * 3;
  for (int yy = 0; yy < out_h; ++yy) {
    const int32_t* k = &t.coeffs[static_cast<size_t>(yy) * t.ksize];
    const uint8_t* base = src + static_cast<size_t>(t.start[yy] - row_offset) * stride;
    uint8_t* dst = out.data() + static_cast<size_t>(yy) * stride;
    for (size_t i = 0; i < stride; ++i) {
      int64_t s = kHalf;
      for (int y = 0; y < t.count[yy]; ++y) s += base[y * stride + i] * k[y];
      dst[i] = PilClip8(s);
    }
  }
  return out;
}

// PIL NEAREST resize = ImagingScaleAffine: the source coordinate is accumulated in double
// (x0 = 0.5 * step, then += step), not recomputed per pixel; accumulation decides ties.
Image PilNearest(const Image& in, int out_w, int out_h) {
  const double ax = static_cast<double>(static_cast<float>(in.width)) / out_w;
  const double ay = static_cast<double>(static_cast<float>(in.height)) / out_h;
  std::vector<int> xin(out_w, -1);
  double xo = 0.0 + ax * 0.5;
  for (int x = 0; x < out_w; ++x) {
    const int xi = xo < 0.0 ? -1 : static_cast<int>(xo);
    if (xi >= 0 && xi < in.width) xin[x] = xi;
    xo += ax;
  }
  Image out;
  out.width = out_w;
  out.height = out_h;
  out.rgb.assign(static_cast<size_t>(out_w) * out_h * 3, 0);  // PIL fills misses with 0
  double yo = 0.0 + ay * 0.5;
  for (int y = 0; y < out_h; ++y) {
    const int yi = yo < 0.0 ? -1 : static_cast<int>(yo);
    if (yi >= 0 && yi < in.height) {
      const uint8_t* row = in.rgb.data() + static_cast<size_t>(yi) * in.width * 3;
      uint8_t* dst = out.rgb.data() + static_cast<size_t>(y) * out_w * 3;
      for (int x = 0; x < out_w; ++x) {
        if (xin[x] < 0) continue;
        std::copy_n(row + static_cast<size_t>(xin[x]) * 3, 3, dst + static_cast<size_t>(x) * 3);
      }
    }
    yo += ay;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// torch.nn.functional.interpolate (ATen UpSampleKernel.cpp, align_corners=False, float32) on a
// contiguous NCHW tensor, as torch 1.13's CPU build computes it; pinned down against it on random
// inputs until every output bit matched (bilinear, bicubic, nearest):
//  - source coordinates are formed in double from a float scale; weights are float;
//  - its AVX2 kernels were compiled with FMA contraction: a k-tap sum is fma(x0, w0, x1 * w1),
//    then fma(xj, wj, sum) for further taps, first along W (per source row), then along H;
//  - the cubic polynomials are partly fused the same way (see cc1/cc2 below).
// A channels-last tensor takes another ATen kernel (combined 2-D weights, double sums) whose
// results differ by about one float ulp; NCHW is what ToTensor() and model inputs use.

struct FloatTaps {
  int taps = 0;
  std::vector<int> index;  // out_size * taps
  std::vector<float> weight;
};

// ATen's area_pixel_compute_source_index with a float scale and a double accumulator type.
inline double TorchSourceIndex(float scale, int dst) {
  return static_cast<double>(scale) * (dst + 0.5) - 0.5;
}

FloatTaps TorchCoefficients(int in_size, int out_size, Interpolation interp) {
  FloatTaps t;
  const float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
  if (interp == Interpolation::kNearest) {
    // Legacy 'nearest': floor(dst * scale) in float, no half-pixel offset.
    t.taps = 1;
    for (int i = 0; i < out_size; ++i) {
      int src;
      if (out_size == in_size) {
        src = i;
      } else if (out_size == 2 * in_size) {
        src = i >> 1;
      } else {
        src = std::min(static_cast<int>(std::floor(static_cast<float>(i) * scale)), in_size - 1);
      }
      t.index.push_back(src);
      t.weight.push_back(1.0f);
    }
  } else if (interp == Interpolation::kBilinear) {
    t.taps = 2;
    for (int i = 0; i < out_size; ++i) {
      if (out_size == in_size) {  // ATen copies when the sizes match
        t.index.insert(t.index.end(), {i, i});
        t.weight.insert(t.weight.end(), {1.0f, 0.0f});
        continue;
      }
      double src = TorchSourceIndex(scale, i);
      if (src < 0) src = 0;
      const int i0 = static_cast<int>(src);
      const int i1 = i0 + (i0 < in_size - 1 ? 1 : 0);
      const float l1 = static_cast<float>(std::min(std::max(src - i0, 0.0), 1.0));
      t.index.insert(t.index.end(), {i0, i1});
      t.weight.insert(t.weight.end(), {1.0f - l1, l1});
    }
  } else {
    // Keys cubic convolution, A = -0.75; taps clamped to the border, source index not clamped.
    constexpr float A = -0.75f;
    // ATen's ((A+2)*x - (A+3))*x*x + 1 and ((A*x - 5A)*x + 8A)*x - 4A with the contractions its
    // build made; cc2 cancels almost to 0 near x = 2, so each rounding step shows in the weights.
    auto cc1 = [](float x) { return std::fma(A + 2, x, -(A + 3)) * x * x + 1; };
    auto cc2 = [](float x) { return std::fma(std::fma(A, x, -5 * A), x, 8 * A) * x - 4 * A; };
    t.taps = 4;
    for (int i = 0; i < out_size; ++i) {
      const double src = TorchSourceIndex(scale, i);
      const int i0 = static_cast<int>(std::floor(static_cast<float>(src)));  // floorf(double)
      const float x1 = static_cast<float>(src - i0);
      const float x2 = 1.0f - x1;
      const float w[4] = {cc2(x1 + 1.0f), cc1(x1), cc1(x2), cc2(x2 + 1.0f)};
      for (int j = 0; j < 4; ++j) {
        t.index.push_back(std::clamp(i0 - 1 + j, 0, in_size - 1));
        t.weight.push_back(w[j]);
      }
    }
  }
  return t;
}

// ATen's k-tap sum (see above): fma(x0, w0, x1 * w1), then fma(xj, wj, sum); get(i) = x_i.
template <typename Get>
inline float TorchTapSum(Get get, const int* idx, const float* w, int taps) {
  if (taps == 1) return get(idx[0]) * w[0];
  float s = std::fma(get(idx[0]), w[0], get(idx[1]) * w[1]);
  for (int j = 2; j < taps; ++j) s = std::fma(get(idx[j]), w[j], s);
  return s;
}

// Resizes image / 255 (as float, planar) to rw x rh but evaluates only the window [x0, x0 + ow) x
// [y0, y0 + oh) of the result (the centre crop); window pixels outside the resized image are 0,
// torchvision CenterCrop's padding. Returns [3][oh][ow]. Only the source rows the window needs
// are touched, and u8 / 255 comes from a table (the same float ToTensor computes).
std::vector<float> TorchResizeWindow(const Image& image, int rw, int rh, Interpolation interp,
                                     int x0, int y0, int ow, int oh) {
  const int w = image.width, h = image.height;
  const FloatTaps tx = TorchCoefficients(w, rw, interp);
  const FloatTaps ty = TorchCoefficients(h, rh, interp);
  std::array<float, 256> unit{};
  for (int v = 0; v < 256; ++v) unit[v] = static_cast<float>(v) / 255.0f;

  const int ry0 = std::max(y0, 0), ry1 = std::min(y0 + oh, rh);
  std::vector<float> out(static_cast<size_t>(3) * oh * ow, 0.0f);
  if (ry0 >= ry1) return out;
  const auto rows = std::minmax_element(ty.index.begin() + static_cast<ptrdiff_t>(ry0) * ty.taps,
                                        ty.index.begin() + static_cast<ptrdiff_t>(ry1) * ty.taps);
  const int r0 = *rows.first, r1 = *rows.second + 1;  // source rows [r0, r1)

  // Pass 1, along W: needed source rows, window columns only.
  const size_t nr = static_cast<size_t>(r1 - r0);
  std::vector<float> tmp(3 * nr * ow, 0.0f);
  for (int r = r0; r < r1; ++r) {
    const uint8_t* row = image.rgb.data() + static_cast<size_t>(r) * w * 3;
    for (int x = 0; x < ow; ++x) {
      const int rx = x + x0;
      if (rx < 0 || rx >= rw) continue;
      const size_t k = static_cast<size_t>(rx) * tx.taps;
      for (int c = 0; c < 3; ++c) {
        auto get = [&](int i) { return unit[row[3 * static_cast<size_t>(i) + c]]; };
        tmp[(c * nr + (r - r0)) * ow + x] = TorchTapSum(get, &tx.index[k], &tx.weight[k], tx.taps);
      }
    }
  }
  // Pass 2, along H.
  for (int c = 0; c < 3; ++c) {
    const float* plane = tmp.data() + c * nr * ow;
    for (int ry = ry0; ry < ry1; ++ry) {
      const size_t k = static_cast<size_t>(ry) * ty.taps;
      float* dst = out.data() + (static_cast<size_t>(c) * oh + (ry - y0)) * ow;
      for (int x = 0; x < ow; ++x) {
        const int rx = x + x0;
        if (rx < 0 || rx >= rw) continue;
        auto get = [&](int i) { return plane[static_cast<size_t>(i - r0) * ow + x]; };
        dst[x] = TorchTapSum(get, &ty.index[k], &ty.weight[k], ty.taps);
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Geometry helpers.

// crop_pct as the double Python would hold: timm configs write it as a decimal literal (0.95), and
// floor(224 / 0.95f) could differ from floor(224 / 0.95) near integers. The shortest decimal that
// round-trips the float recovers the literal.
double CropPctAsPython(float crop_pct) {
  return std::strtod(fmt::format("{}", crop_pct).c_str(), nullptr);
}

// Python's round() on x.5 values: half to even.
int RoundHalfEven(double v) { return static_cast<int>(std::nearbyint(v)); }

// torchvision CenterCrop: pad (left = (crop - size) // 2) when the crop is larger, otherwise
// int(round((size - crop) / 2.0)).
int CropOffset(int size, int crop) {
  if (crop > size) return -((crop - size) / 2);
  return RoundHalfEven((size - crop) / 2.0);
}

void ValidateImage(const Image& image) {
  if (image.width <= 0 || image.height <= 0) {
    Fail(fmt::format("empty image {}x{}", image.width, image.height));
  }
  if (image.width > kMaxSide || image.height > kMaxSide ||
      image.rgb.size() != static_cast<size_t>(image.width) * image.height * 3) {
    Fail(fmt::format("image {}x{} has {} bytes of RGB data, expected {}", image.width, image.height,
                     image.rgb.size(), static_cast<size_t>(image.width) * image.height * 3));
  }
}

void ValidateConfig(const PreprocessConfig& c) {
  constexpr int kMaxInput = 16384;
  if (c.input_h <= 0 || c.input_w <= 0 || c.input_h > kMaxInput || c.input_w > kMaxInput) {
    Fail(fmt::format("input size {}x{} out of range", c.input_h, c.input_w));
  }
  if (!(c.crop_pct > 0.0f) || !std::isfinite(c.crop_pct)) {
    Fail(fmt::format("crop_pct {} must be a positive number", c.crop_pct));
  }
  if ((c.resize_h > 0) != (c.resize_w > 0) || c.resize_h < 0 || c.resize_w < 0) {
    Fail(fmt::format("resize {}x{} must have both sides positive (or both 0)", c.resize_h,
                     c.resize_w));
  }
  for (int i = 0; i < 3; ++i) {
    if (!std::isfinite(c.mean[i]) || !std::isfinite(c.std[i]) || c.std[i] == 0.0f) {
      Fail(
          fmt::format("mean/std[{}] = {}/{} must be finite with std != 0", i, c.mean[i], c.std[i]));
    }
  }
}

}  // namespace

ResizePlan PlanResize(int src_w, int src_h, const PreprocessConfig& config) {
  ValidateConfig(config);
  if (src_w <= 0 || src_h <= 0) Fail(fmt::format("empty image {}x{}", src_w, src_h));
  int64_t rw = 0, rh = 0;
  if (config.resize_h > 0) {
    rw = config.resize_w;
    rh = config.resize_h;
  } else {
    const double crop_pct = CropPctAsPython(config.crop_pct);
    const double scale_h = std::floor(config.input_h / crop_pct);
    const double scale_w = std::floor(config.input_w / crop_pct);
    if (!(scale_h >= 1.0 && scale_w >= 1.0 && scale_h <= kMaxSide && scale_w <= kMaxSide)) {
      Fail(fmt::format("crop_pct {} gives resize size {}x{}", config.crop_pct, scale_w, scale_h));
    }
    if (config.input_h == config.input_w) {
      // torchvision Resize(int): shorter side to `s`, longer to int(s * long / short).
      const int64_t s = static_cast<int64_t>(scale_h);
      if (src_w <= src_h) {
        rw = s;
        rh = s * src_h / src_w;
      } else {
        rh = s;
        rw = s * src_w / src_h;
      }
    } else {
      // timm ResizeKeepRatio(longest=0): scale by the smaller of the two ratios, round().
      const double ratio = std::min(src_h / scale_h, src_w / scale_w);
      rh = RoundHalfEven(src_h / ratio);
      rw = RoundHalfEven(src_w / ratio);
    }
  }
  if (rw < 1 || rh < 1 || rw > kMaxSide || rh > kMaxSide || rw * rh > kMaxPixels) {
    Fail(fmt::format("resized size {}x{} (from {}x{}) out of range", rw, rh, src_w, src_h));
  }
  ResizePlan plan;
  plan.resize_w = static_cast<int>(rw);
  plan.resize_h = static_cast<int>(rh);
  plan.crop_x = CropOffset(plan.resize_w, config.input_w);
  plan.crop_y = CropOffset(plan.resize_h, config.input_h);
  return plan;
}

Image ResizePil(const Image& image, int out_w, int out_h, Interpolation interp) {
  ValidateImage(image);
  if (out_w <= 0 || out_h <= 0 || out_w > kMaxSide || out_h > kMaxSide ||
      static_cast<int64_t>(out_w) * out_h > kMaxPixels) {
    Fail(fmt::format("resize target {}x{} out of range", out_w, out_h));
  }
  if (out_w == image.width && out_h == image.height) return image;  // PIL returns a copy
  if (interp == Interpolation::kNearest) return PilNearest(image, out_w, out_h);

  const bool need_h = out_w != image.width;
  const bool need_v = out_h != image.height;
  const PilTaps th = PilCoefficients(image.width, out_w, interp);
  const PilTaps tv = PilCoefficients(image.height, out_h, interp);
  Image out;
  out.width = out_w;
  out.height = out_h;
  if (need_h) {
    // Like Pillow, run the horizontal pass only on the rows the vertical pass will read.
    const int y0 = tv.start.front();
    const int y1 = tv.start.back() + tv.count.back();
    std::vector<uint8_t> tmp = PilHorizontal(image.rgb.data(), image.width, y0, y1, out_w, th);
    out.rgb = need_v ? PilVertical(tmp.data(), out_w, y0, out_h, tv) : std::move(tmp);
  } else {
    out.rgb = PilVertical(image.rgb.data(), image.width, 0, out_h, tv);
  }
  return out;
}

std::vector<float> Preprocess(const Image& image, const PreprocessConfig& config) {
  ValidateImage(image);
  const ResizePlan plan = PlanResize(image.width, image.height, config);
  const int rw = plan.resize_w, rh = plan.resize_h;
  const int oh = config.input_h, ow = config.input_w;

  // antialias=true: uint8 PIL resize, then crop. antialias=false: /255 first, then torch's float
  // resize evaluated only inside the crop window (already cropped: planar [3][oh][ow]).
  Image resized;
  std::vector<float> window;
  if (config.antialias) {
    resized = ResizePil(image, rw, rh, config.interp);
  } else {
    window = TorchResizeWindow(image, rw, rh, config.interp, plan.crop_x, plan.crop_y, ow, oh);
  }

  std::vector<float> out(static_cast<size_t>(3) * oh * ow);
  for (int oc = 0; oc < 3; ++oc) {
    const int c = config.bgr ? 2 - oc : oc;  // source channel (RGB) for output plane oc
    const float mean = config.mean[oc];
    const float stdv = config.std[oc];
    float* dst = out.data() + static_cast<size_t>(oc) * oh * ow;
    for (int y = 0; y < oh; ++y) {
      const int sy = y + plan.crop_y;
      for (int x = 0; x < ow; ++x) {
        const int sx = x + plan.crop_x;
        float v = 0.0f;  // torchvision pads with 0 where the crop exceeds the image
        if (!config.antialias) {
          v = window[(static_cast<size_t>(c) * oh + y) * ow + x];
        } else if (sy >= 0 && sy < rh && sx >= 0 && sx < rw) {
          v = static_cast<float>(resized.rgb[(static_cast<size_t>(sy) * rw + sx) * 3 + c]) / 255.0f;
        }
        // torchvision: ToTensor divides by 255, Normalize subtracts then divides (float32).
        dst[static_cast<size_t>(y) * ow + x] = (v - mean) / stdv;
      }
    }
  }
  return out;
}

PreprocessConfig FromMetadataJson(const std::string& json, PreprocessConfig base) {
  auto bad = [](const std::string& what) -> Error {
    return Error(ErrorCode::kInvalidModel, fmt::format("model metadata 'preprocess': {}", what));
  };
  // A value quoted in a message: escaped and bounded (a hostile model's 1 MB list would otherwise
  // become the error line).
  auto shown = [](const nlohmann::json& v) { return util::EscapeControl(v.dump(), 80); };
  // Checked before the JSON library sees it: its error messages dump values recursively, so a
  // deeply nested value would overflow the stack and a huge one fill the error line.
  if (json.size() > kMaxPreprocessJsonBytes)
    throw bad(
        fmt::format("{} bytes, over the {} byte limit", json.size(), kMaxPreprocessJsonBytes));
  if (!JsonDepthWithin(json, kMaxJsonDepth))
    throw bad(fmt::format("JSON nested deeper than {} levels", kMaxJsonDepth));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(json);
  } catch (const nlohmann::json::exception& e) {
    throw bad(fmt::format("invalid JSON ({})", util::EscapeControl(e.what())));
  }
  if (!j.is_object()) throw bad("not a JSON object");

  auto positive_ints = [&](const nlohmann::json& v, const char* key) {
    if (!v.is_array()) throw bad(fmt::format("'{}' must be a list of integers", key));
    std::vector<int> out;
    for (const auto& e : v) {
      if (!e.is_number_integer() || e.get<int64_t>() <= 0 || e.get<int64_t>() > kMaxSide) {
        throw bad(fmt::format("'{}' must hold positive integers, got {}", key, shown(v)));
      }
      out.push_back(static_cast<int>(e.get<int64_t>()));
    }
    return out;
  };
  auto number = [&](const nlohmann::json& v, const char* key) {
    // Bounded so the later float conversion is defined (a 1e300 would be UB to narrow).
    if (!v.is_number() || !(std::fabs(v.get<double>()) <= 1e30)) {
      throw bad(fmt::format("'{}' must be a number of sensible size, got {}", key, shown(v)));
    }
    return v.get<double>();
  };
  auto triple = [&](const nlohmann::json& v, const char* key) {
    if (!v.is_array() || v.size() != 3) {
      throw bad(fmt::format("'{}' must be a list of 3 numbers, got {}", key, shown(v)));
    }
    std::array<float, 3> out{};
    for (size_t i = 0; i < 3; ++i) out[i] = static_cast<float>(number(v[i], key));
    return out;
  };
  auto boolean = [&](const nlohmann::json& v, const char* key) {
    if (!v.is_boolean()) throw bad(fmt::format("'{}' must be true/false, got {}", key, shown(v)));
    return v.get<bool>();
  };
  auto field = [&](const char* key) -> const nlohmann::json* {
    auto it = j.find(key);
    return it == j.end() || it->is_null() ? nullptr : &*it;
  };

  if (const auto* v = field("input_size")) {
    const std::vector<int> s = positive_ints(*v, "input_size");
    if (s.size() == 3 && s[0] == 3) {
      base.input_h = s[1];
      base.input_w = s[2];
    } else if (s.size() == 2) {
      base.input_h = s[0];
      base.input_w = s[1];
    } else {
      throw bad(fmt::format("'input_size' must be [3, H, W] or [H, W], got {}", shown(*v)));
    }
  }
  if (const auto* v = field("resize")) {
    const std::vector<int> s = positive_ints(*v, "resize");
    if (s.size() != 2) throw bad(fmt::format("'resize' must be [H, W], got {}", shown(*v)));
    base.resize_h = s[0];
    base.resize_w = s[1];
  }
  if (const auto* v = field("crop_pct")) {
    const double c = number(*v, "crop_pct");
    if (!(c > 0.0 && c <= 16.0)) throw bad(fmt::format("'crop_pct' {} out of range", c));
    base.crop_pct = static_cast<float>(c);
  }
  if (const auto* v = field("interpolation")) {
    if (!v->is_string()) throw bad("'interpolation' must be a string");
    const std::string s = v->get<std::string>();
    if (s == "bicubic") {
      base.interp = Interpolation::kBicubic;
    } else if (s == "bilinear") {
      base.interp = Interpolation::kBilinear;
    } else if (s == "nearest") {
      base.interp = Interpolation::kNearest;
    } else {
      throw bad(fmt::format("unknown interpolation '{}' (bicubic, bilinear, nearest)",
                            util::EscapeControl(s)));
    }
  }
  if (const auto* v = field("antialias")) base.antialias = boolean(*v, "antialias");
  if (const auto* v = field("bgr")) base.bgr = boolean(*v, "bgr");
  if (const auto* v = field("mean")) base.mean = triple(*v, "mean");
  if (const auto* v = field("std")) {
    base.std = triple(*v, "std");
    for (float s : base.std) {
      if (!(s != 0.0f) || !std::isfinite(s)) throw bad(fmt::format("'std' {} invalid", shown(*v)));
    }
  }
  return base;
}

}  // namespace effi::image
