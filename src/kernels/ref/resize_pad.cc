// Reference Resize (nearest / linear) and Pad. Plain loops over the output with an odometer; each
// axis' sampling is recomputed when its index moves, never tabulated per output index, so no
// buffer beyond y grows with the output (a [2^31, 1] output would need 16 GiB of int64 tables).

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/ref/ref_kernels.h"

namespace effi::kernels::ref {

double resize_source_coord(const ResizeParams& p, const ResizeAxis& a, int64_t x) {
  const double xd = static_cast<double>(x), in = static_cast<double>(a.in);
  switch (p.coord) {
    case ResizeCoord::kHalfPixel:
      return (xd + 0.5) / a.scale - 0.5;
    case ResizeCoord::kHalfPixelSymmetric: {
      // ONNX opset 19: the half-pixel grid re-centred for the rounding of the output length.
      const double adjustment = static_cast<double>(a.out) / a.resized_length;
      const double center = in / 2.0;
      return center * (1.0 - adjustment) + (xd + 0.5) / a.scale - 0.5;
    }
    case ResizeCoord::kPytorchHalfPixel:
      return a.resized_length > 1.0 ? (xd + 0.5) / a.scale - 0.5 : 0.0;
    case ResizeCoord::kAlignCorners:
      return a.resized_length == 1.0 ? 0.0 : xd * (in - 1.0) / (a.resized_length - 1.0);
    case ResizeCoord::kAsymmetric:
      return xd / a.scale;
    case ResizeCoord::kTfHalfPixelForNn:
      return (xd + 0.5) / a.scale;
    case ResizeCoord::kTfCropAndResize: {
      const double span = (a.roi_end - a.roi_start) * (in - 1.0);
      const double start = a.roi_start * (in - 1.0);
      return a.out == 1 ? start + span / 2.0
                        : start + xd * span / (static_cast<double>(a.out) - 1.0);
    }
  }
  return 0.0;
}

ResizeTap resize_tap(const ResizeParams& p, const ResizeAxis& a, int64_t x) {
  ResizeTap t;
  const double c = resize_source_coord(p, a, x);
  if (p.coord == ResizeCoord::kTfCropAndResize &&
      (c < 0.0 || c > static_cast<double>(a.in) - 1.0)) {
    t.outside = true;
    return t;
  }
  const double fl = std::floor(c);
  const double frac = c - fl;
  // Clamped in double first: a hostile coordinate (huge scale ratio) must not overflow the cast.
  auto clamp_index = [&](double v) {
    return static_cast<int64_t>(std::clamp(v, 0.0, static_cast<double>(a.in - 1)));
  };
  if (p.linear) {
    t.i0 = clamp_index(fl);
    t.i1 = clamp_index(fl + 1.0);
    t.w1 = t.i0 == t.i1 ? 0.0 : frac;
    return t;
  }
  // ONNX's reference picks between floor(c) and floor(c) + 1 by the fraction; an integral
  // coordinate is that index under every rounding.
  bool up = false;
  if (frac != 0.0) {
    switch (p.nearest) {
      case ResizeNearest::kRoundPreferFloor:
        up = frac > 0.5;
        break;
      case ResizeNearest::kRoundPreferCeil:
        up = frac >= 0.5;
        break;
      case ResizeNearest::kFloor:
        break;
      case ResizeNearest::kCeil:
        up = true;
        break;
      case ResizeNearest::kSimple:
        up = a.scale < 1.0;
        break;
    }
  }
  t.i0 = t.i1 = clamp_index(up ? fl + 1.0 : fl);
  return t;
}

void resize_f32(const ResizeParams& p, const float* x, float* y) {
  const int rank = static_cast<int>(p.axes.size());
  int64_t total = 1;
  for (const ResizeAxis& a : p.axes) total *= a.out;
  if (total == 0) return;
  if (rank == 0) {
    y[0] = x[0];
    return;
  }
  std::vector<int64_t> stride(rank, 1);
  for (int d = rank - 2; d >= 0; --d) stride[d] = stride[d + 1] * p.axes[d + 1].in;
  std::vector<int64_t> idx(rank, 0);
  std::vector<ResizeTap> tap(rank);
  for (int d = 0; d < rank; ++d) tap[d] = resize_tap(p, p.axes[d], 0);
  std::vector<int> lin;  // the axes this element interpolates along
  lin.reserve(rank);
  std::vector<double> acc;
  for (int64_t i = 0; i < total; ++i) {
    bool outside = false;
    int64_t base = 0;
    lin.clear();
    for (int d = 0; d < rank; ++d) {
      outside |= tap[d].outside;
      base += tap[d].i0 * stride[d];
      if (tap[d].w1 != 0.0) lin.push_back(d);
    }
    if (outside) {
      y[i] = p.extrapolation_value;
    } else {
      // Corners in binary order of the interpolated axes, the last axis the fastest: a weighted
      // sum per axis from the innermost out, as ONNX's reference (recursive 1-D interpolation)
      // does it, in double.
      const int k = static_cast<int>(lin.size());
      acc.resize(static_cast<size_t>(1) << k);
      for (size_t m = 0; m < acc.size(); ++m) {
        int64_t off = base;
        for (int j = 0; j < k; ++j)
          if (m >> (k - 1 - j) & 1) off += (tap[lin[j]].i1 - tap[lin[j]].i0) * stride[lin[j]];
        acc[m] = static_cast<double>(x[off]);
      }
      for (int j = k - 1; j >= 0; --j) {
        const double w = tap[lin[j]].w1;
        const size_t half = static_cast<size_t>(1) << j;
        for (size_t m = 0; m < half; ++m) acc[m] = (1.0 - w) * acc[2 * m] + w * acc[2 * m + 1];
      }
      y[i] = static_cast<float>(acc[0]);
    }
    for (int d = rank - 1; d >= 0; --d) {
      if (++idx[d] < p.axes[d].out) {
        tap[d] = resize_tap(p, p.axes[d], idx[d]);
        break;
      }
      idx[d] = 0;
      tap[d] = resize_tap(p, p.axes[d], 0);
    }
  }
}

int64_t pad_source_index(PadMode mode, int64_t in, int64_t pad_begin, int64_t o) {
  const int64_t i = o - pad_begin;
  if (i >= 0 && i < in) return i;
  switch (mode) {
    case PadMode::kConstant:
      return -1;
    case PadMode::kEdge:
      return i < 0 ? 0 : in - 1;
    case PadMode::kWrap: {
      const int64_t r = i % in;
      return r < 0 ? r + in : r;
    }
    case PadMode::kReflect: {
      if (in == 1) return 0;
      // Reflection without repeating the edge has period 2 (in - 1): fold into it, then mirror.
      const int64_t period = 2 * (in - 1);
      int64_t r = i % period;
      if (r < 0) r += period;
      return r < in ? r : period - r;
    }
  }
  return -1;
}

void pad(int64_t elem_size, int rank, const int64_t* in_shape, const int64_t* pad_begin,
         const int64_t* pad_end, PadMode mode, const void* value, const void* x, void* y) {
  const auto* src = static_cast<const unsigned char*>(x);
  auto* dst = static_cast<unsigned char*>(y);
  const size_t es = static_cast<size_t>(elem_size);
  if (rank == 0) {
    std::memcpy(dst, src, es);
    return;
  }
  // Per axis: the crop's first index, the cropped length, the (non-negative) pad before it.
  std::vector<int64_t> lo(rank), len(rank), before(rank), out(rank), stride(rank, 1);
  int64_t total = 1;
  for (int d = 0; d < rank; ++d) {
    lo[d] = std::max<int64_t>(0, -pad_begin[d]);
    len[d] = in_shape[d] - lo[d] - std::max<int64_t>(0, -pad_end[d]);
    before[d] = std::max<int64_t>(0, pad_begin[d]);
    out[d] = in_shape[d] + pad_begin[d] + pad_end[d];
    total *= out[d];
  }
  if (total == 0) return;
  for (int d = rank - 2; d >= 0; --d) stride[d] = stride[d + 1] * in_shape[d + 1];
  auto source = [&](int d, int64_t o) {
    const int64_t i = pad_source_index(mode, len[d], before[d], o);
    return i < 0 ? i : lo[d] + i;
  };
  // Row by row over the last axis: the leading axes' source offset (or "constant row") is
  // updated only when the odometer over them moves.
  const int last = rank - 1;
  const int64_t rows = total / out[last];
  std::vector<int64_t> idx(last, 0), srci(last, 0);
  for (int d = 0; d < last; ++d) srci[d] = source(d, 0);
  for (int64_t r = 0; r < rows; ++r) {
    bool constant_row = false;
    int64_t base = 0;
    for (int d = 0; d < last; ++d) {
      constant_row |= srci[d] < 0;
      base += srci[d] * stride[d];
    }
    for (int64_t o = 0; o < out[last]; ++o, dst += es) {
      const int64_t i = constant_row ? -1 : source(last, o);
      std::memcpy(dst, i < 0 ? value : src + (base + i) * elem_size, es);
    }
    for (int d = last - 1; d >= 0; --d) {
      if (++idx[d] < out[d]) {
        srci[d] = source(d, idx[d]);
        break;
      }
      idx[d] = 0;
      srci[d] = source(d, 0);
    }
  }
}

}  // namespace effi::kernels::ref
