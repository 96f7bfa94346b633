// Resize (opsets 10-19: nearest and linear, scales or sizes as constants) and Pad (opset 2's
// attribute form and 11+'s input form; constant, reflect, edge, wrap; negative pads crop).
// EfficientFormerV2 needs both: timm's V2 exports upsample by 2 with a bilinear half_pixel Resize
// and pad before strided convolutions. Every size is decided at load from constant operands, so
// a hostile scale or pad is one error naming the node before anything is allocated. A Resize of
// only the last two axes runs on the tap-table kernels of kernels/resize.h (equal to the
// reference); effi.Resize is the same on an NHWC tensor, which the channels_last pass makes of a
// 4-D Resize of H and W (NhwcResizeAttrs) so no transposes surround it.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "effi/error.hpp"
#include "kernels/ref/ref_kernels.h"
#include "kernels/resize.h"
#include "ops/op.h"
#include "util/text.h"

namespace effi::ops {
namespace {

namespace ref = effi::kernels::ref;

// Axes an opset-18 `axes` attribute or input names (normalised, no repeats); all axes if empty.
std::vector<int64_t> ResolveAxes(const Node& n, std::vector<int64_t> axes, int64_t rank) {
  if (axes.empty()) {
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
    return axes;
  }
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t& a : axes) {
    a = NormAxis(n, a, rank);
    if (seen[static_cast<size_t>(a)]) Fail(n, fmt::format("axis {} is repeated", a));
    seen[static_cast<size_t>(a)] = true;
  }
  return axes;
}

// An optional operand counts as given unless it is absent or statically empty (torch's opset-11
// exports pass an empty `scales` constant beside `sizes`).
bool Given(const Graph& g, const Node& n, size_t i) {
  if (!n.HasInput(i)) return false;
  const Value& v = In(g, n, i);
  if (!v.has_shape) return true;
  for (int64_t d : v.shape)
    if (d == 0) return false;
  return true;
}

// ---- Resize ----

// The attribute spellings of the coordinate and nearest modes, both ways (parsing the ONNX node,
// writing effi.Resize's attributes).
constexpr std::pair<ref::ResizeCoord, const char*> kCoordNames[] = {
    {ref::ResizeCoord::kHalfPixel, "half_pixel"},
    {ref::ResizeCoord::kHalfPixelSymmetric, "half_pixel_symmetric"},
    {ref::ResizeCoord::kPytorchHalfPixel, "pytorch_half_pixel"},
    {ref::ResizeCoord::kAlignCorners, "align_corners"},
    {ref::ResizeCoord::kAsymmetric, "asymmetric"},
    {ref::ResizeCoord::kTfHalfPixelForNn, "tf_half_pixel_for_nn"},
    {ref::ResizeCoord::kTfCropAndResize, "tf_crop_and_resize"}};
// kSimple (opset 10's rule) has no nearest_mode name: not expressible as effi.Resize.
constexpr std::pair<ref::ResizeNearest, const char*> kNearestNames[] = {
    {ref::ResizeNearest::kRoundPreferFloor, "round_prefer_floor"},
    {ref::ResizeNearest::kRoundPreferCeil, "round_prefer_ceil"},
    {ref::ResizeNearest::kFloor, "floor"},
    {ref::ResizeNearest::kCeil, "ceil"}};

template <class E, size_t N>
E ParseName(const Node& n, const char* attr, const char* dflt,
            const std::pair<E, const char*> (&names)[N]) {
  const std::string m = n.GetString(attr, dflt);
  for (const auto& [e, name] : names)
    if (m == name) return e;
  Fail(n, fmt::format("unknown {} '{}'", attr, util::EscapeControl(m)));
}

template <class E, size_t N>
const char* NameOf(E e, const std::pair<E, const char*> (&names)[N]) {
  for (const auto& [v, name] : names)
    if (v == e) return name;
  return "";
}

// Attribute `mode`: true for linear, false for nearest; cubic is refused as unsupported.
bool ParseLinear(const Node& n) {
  const std::string mode = n.GetString("mode", "nearest");
  if (mode == "cubic") Unsupported(n, "mode 'cubic' is not supported (nearest and linear are)");
  if (mode != "nearest" && mode != "linear")
    Fail(n, fmt::format("unknown mode '{}'", util::EscapeControl(mode)));
  return mode == "linear";
}

ref::ResizeCoord ParseCoord(const Node& n) {
  return ParseName(n, "coordinate_transformation_mode", "half_pixel", kCoordNames);
}

ref::ResizeNearest ParseNearest(const Node& n) {
  return ParseName(n, "nearest_mode", "round_prefer_floor", kNearestNames);
}

// An output length from a real number of elements, refused before the cast when it is NaN or
// beyond the tensor size limit (a scale of 1e30 would overflow int64).
int64_t CheckedLength(const Node& n, double len, int64_t axis) {
  if (!(len >= 0.0) || len > static_cast<double>(kMaxTensorElements))
    Fail(n, fmt::format("output length {} on axis {} is out of range (0..2^31)", len, axis));
  return static_cast<int64_t>(len);
}

ref::ResizeParams ResizeGeometry(const Node& n, const Graph& g) {
  RequireFloat(g, n, 0);
  const Shape& x = In(g, n, 0).shape;
  const int64_t rank = static_cast<int64_t>(x.size());
  ref::ResizeParams p;
  p.linear = ParseLinear(n);
  if (n.GetInt("antialias", 0) != 0) Unsupported(n, "antialias=1 is not supported");
  // exclude_outside and cubic_coeff_a only change cubic weights: for nearest and linear the
  // neighbours outside the input are edge copies, and renormalising without them gives the same.
  p.extrapolation_value = n.GetFloat("extrapolation_value", 0.0f);
  // Opset 10's Resize is (X, scales) with Upsample's geometry: asymmetric coordinates, and the
  // nearest rounding ONNX Runtime applies to it (floor when upsampling, ceil when downsampling).
  const bool opset10 = g.opset <= 10;
  if (opset10 && n.inputs.size() != 2) Fail(n, "opset-10 Resize takes 2 inputs (X, scales)");
  p.coord = opset10 ? ref::ResizeCoord::kAsymmetric : ParseCoord(n);
  p.nearest = opset10 ? ref::ResizeNearest::kSimple : ParseNearest(n);
  // tf_half_pixel_for_nn shifts every axis by half an input pixel: with linear weights even an
  // axis of scale 1 would blend neighbours. ONNX defines it for nearest (TF's resize_nearest).
  if (p.linear && p.coord == ref::ResizeCoord::kTfHalfPixelForNn)
    Unsupported(n, "coordinate_transformation_mode 'tf_half_pixel_for_nn' with mode 'linear'");
  const std::vector<int64_t> axes = ResolveAxes(n, n.GetInts("axes", {}), rank);
  const size_t scales_in = opset10 ? 1 : 2, sizes_in = 3;
  const bool has_scales = Given(g, n, scales_in), has_sizes = !opset10 && Given(g, n, sizes_in);
  if (has_scales == has_sizes) Fail(n, "exactly one of scales and sizes must be given");
  const size_t which = has_scales ? scales_in : sizes_in;
  if (!In(g, n, which).is_constant())
    Unsupported(n, fmt::format("{} (input {}) must be a constant (shapes are fixed at load)",
                               has_scales ? "scales" : "sizes", which));

  p.axes.resize(static_cast<size_t>(rank));
  for (int64_t d = 0; d < rank; ++d) {
    ref::ResizeAxis& a = p.axes[static_cast<size_t>(d)];
    a.in = a.out = x[static_cast<size_t>(d)];
    a.resized_length = static_cast<double>(a.in);
  }
  if (p.coord == ref::ResizeCoord::kTfCropAndResize && n.HasInput(1) && Given(g, n, 1)) {
    const Value& roi = In(g, n, 1);
    if (!roi.is_constant()) Unsupported(n, "roi (input 1) must be a constant");
    const std::vector<float> r = roi.constant->ToFloatVector();
    if (r.size() != 2 * axes.size())
      Fail(n, fmt::format("roi has {} values, expected {}", r.size(), 2 * axes.size()));
    for (size_t i = 0; i < axes.size(); ++i) {
      if (!std::isfinite(r[i]) || !std::isfinite(r[i + axes.size()]))
        Fail(n, "roi values must be finite");
      p.axes[static_cast<size_t>(axes[i])].roi_start = r[i];
      p.axes[static_cast<size_t>(axes[i])].roi_end = r[i + axes.size()];
    }
  }

  if (has_scales) {
    if (In(g, n, which).dtype != DType::kF32) Fail(n, "scales must be float32");
    const std::vector<float> s = In(g, n, which).constant->ToFloatVector();
    if (s.size() != axes.size())
      Fail(n, fmt::format("scales has {} values for {} axes", s.size(), axes.size()));
    for (size_t i = 0; i < axes.size(); ++i) {
      if (!(s[i] > 0.0f) || !std::isfinite(s[i]))
        Fail(n, fmt::format("scale {} on axis {} must be positive and finite", s[i], axes[i]));
      ref::ResizeAxis& a = p.axes[static_cast<size_t>(axes[i])];
      a.scale = s[i];
      a.resized_length = static_cast<double>(a.in) * a.scale;
      // tf_crop_and_resize scales the cropped length (ONNX's output_dimension formula).
      const double crop =
          p.coord == ref::ResizeCoord::kTfCropAndResize ? a.roi_end - a.roi_start : 1.0;
      a.out = CheckedLength(n, std::floor(a.resized_length * crop), axes[i]);
    }
  } else {
    const std::vector<int64_t> sz = ConstInts(g, n, sizes_in, "sizes");
    if (sz.size() != axes.size())
      Fail(n, fmt::format("sizes has {} values for {} axes", sz.size(), axes.size()));
    for (size_t i = 0; i < axes.size(); ++i)
      if (sz[i] < 0 || sz[i] > kMaxTensorElements)
        Fail(n, fmt::format("size {} on axis {} is out of range (0..2^31)", sz[i], axes[i]));
    const std::string policy = n.GetString("keep_aspect_ratio_policy", "stretch");
    if (policy != "stretch" && policy != "not_larger" && policy != "not_smaller")
      Fail(n, fmt::format("unknown keep_aspect_ratio_policy '{}'", util::EscapeControl(policy)));
    // not_larger / not_smaller: one scale for every listed axis, the smallest / largest ratio,
    // and lengths rounded half to even as ONNX's reference (numpy round) does.
    double common = policy == "not_larger" ? std::numeric_limits<double>::infinity() : 0.0;
    for (size_t i = 0; i < axes.size(); ++i) {
      const int64_t in = p.axes[static_cast<size_t>(axes[i])].in;
      if (in == 0) {
        if (sz[i] != 0) Fail(n, fmt::format("axis {} is empty and cannot grow", axes[i]));
        continue;
      }
      const double r = static_cast<double>(sz[i]) / static_cast<double>(in);
      common = policy == "not_larger" ? std::min(common, r) : std::max(common, r);
    }
    for (size_t i = 0; i < axes.size(); ++i) {
      ref::ResizeAxis& a = p.axes[static_cast<size_t>(axes[i])];
      if (a.in == 0) {
        a.out = 0;
        continue;
      }
      if (policy == "stretch") {
        a.out = sz[i];
        a.scale = static_cast<double>(a.out) / static_cast<double>(a.in);
      } else {
        a.scale = common;
        a.out = CheckedLength(n, std::nearbyint(common * static_cast<double>(a.in)), axes[i]);
      }
      if (a.scale == 0.0) {
        if (a.out != 0) Fail(n, fmt::format("axis {} has scale 0", axes[i]));
        a.scale = 1.0;  // unused: the axis has no output element
      }
      a.resized_length =
          policy == "stretch" ? static_cast<double>(a.out) : a.scale * static_cast<double>(a.in);
    }
  }
  // A source axis of length 0 cannot feed a non-empty output (its coordinates have no element).
  for (int64_t d = 0; d < rank; ++d) {
    const ref::ResizeAxis& a = p.axes[static_cast<size_t>(d)];
    if (a.in == 0 && a.out != 0) Fail(n, fmt::format("axis {} is empty and cannot grow", d));
  }
  // Linear interpolation along the last two axes only: what image upsampling needs (V2's bilinear
  // 2x on H, W), at most 4 taps per output element. An axis resized onto itself (same length,
  // scale 1, an identity grid) is not interpolated.
  if (p.linear) {
    for (int64_t d = 0; d + 2 < rank; ++d) {
      const ref::ResizeAxis& a = p.axes[static_cast<size_t>(d)];
      const bool identity = a.in == a.out && a.scale == 1.0 &&
                            (p.coord != ref::ResizeCoord::kTfCropAndResize ||
                             (a.roi_start == 0.0 && a.roi_end == 1.0));
      if (!identity)
        Unsupported(n,
                    fmt::format("linear resize of axis {} of a rank-{} tensor (only the last two "
                                "axes are interpolated)",
                                d, rank));
    }
  }
  return p;
}

void InferResize(const Node& n, Graph& g) {
  const ref::ResizeParams p = ResizeGeometry(n, g);
  Shape out;
  for (const ref::ResizeAxis& a : p.axes) out.push_back(a.out);
  SetOut(g, n, 0, DType::kF32, out);
}

// Row splits pay from this many output elements on (a fork-join costs a few microseconds; an
// output element costs ~1 ns: half the elementwise ops' 2^16, each element being 2-4 loads and
// up to 6 multiplies).
constexpr int64_t kResizeParallelElems = int64_t{1} << 15;

size_t Round64(size_t bytes) { return (bytes + 63) / 64 * 64; }

// The fast NCHW kernel over `planes` planes of plan.h x plan.w, rows split across threads.
std::unique_ptr<Kernel> NchwResizeKernel(kernels::ResizePlan plan, int64_t planes) {
  auto shared = std::make_shared<const kernels::ResizePlan>(std::move(plan));
  const size_t per_thread = Round64(kernels::ResizeNchwScratchBytes(*shared));
  const int64_t rows = planes * shared->h.out;
  const bool parallel = rows * shared->w.out >= kResizeParallelElems;
  return MakeKernel(
      [shared, per_thread, rows, parallel](const ExecContext& ctx, const void* const* in,
                                           void* const* o, void* scratch) {
        const auto* x = static_cast<const float*>(in[0]);
        auto* y = static_cast<float*>(o[0]);
        ParallelRows(ctx, rows, parallel, [&](int64_t r0, int64_t r1, int thread) {
          kernels::ResizeNchwF32(*shared, x, y, r0, r1,
                                 static_cast<uint8_t*>(scratch) + per_thread * thread);
        });
      },
      0, per_thread);
}

std::unique_ptr<Kernel> CreateResize(const Node& n, const Graph& g) {
  const ref::ResizeParams p = ResizeGeometry(n, g);
  // The fast kernel when only the last two axes are resized (every leading one an identity).
  const size_t rank = p.axes.size();
  if (!UseReferenceKernels() && rank >= 2) {
    bool rest_identity = true;
    int64_t planes = 1;
    for (size_t d = 0; d + 2 < rank; ++d) {
      rest_identity = rest_identity && kernels::ResizeAxisIsIdentity(p, p.axes[d]);
      planes *= p.axes[d].in;
    }
    if (rest_identity)
      if (auto plan = kernels::PlanResize(p, p.axes[rank - 2], p.axes[rank - 1]))
        return NchwResizeKernel(std::move(*plan), planes);
  }
  return MakeKernel([p](const ExecContext&, const void* const* in, void* const* o, void*) {
    ref::resize_f32(p, static_cast<const float*>(in[0]), static_cast<float*>(o[0]));
  });
}

// ---- effi.Resize ----
// X [N,H,W,C] -> Y [N, sizes[0], sizes[1], C]: ONNX Resize of the H and W axes of an NHWC tensor,
// N and C untouched (what the channels_last pass makes of a 4-D NCHW Resize of H and W, so no
// transposes surround it). Attributes: mode (nearest | linear), coordinate_transformation_mode
// (every ONNX mode but tf_crop_and_resize), nearest_mode, sizes (2 ints: the output H and W) and
// scales (2 floats, optional): the scales an ONNX node's coordinates used; absent, the scale of
// an axis is out / in in double with length_resized = out, as ONNX's `sizes` input gives.

// effi.Resize's two resized axes (H, W) from its attributes and the NHWC input shape x.
ref::ResizeParams EffiResizeParams(const Node& n, const Shape& x) {
  if (x.size() != 4) Fail(n, fmt::format("needs X [N,H,W,C], got {}", ShapeStr(x)));
  ref::ResizeParams p;
  p.linear = ParseLinear(n);
  p.coord = ParseCoord(n);
  if (p.coord == ref::ResizeCoord::kTfCropAndResize)
    Unsupported(n, "coordinate_transformation_mode 'tf_crop_and_resize' (effi.Resize has no roi)");
  if (p.linear && p.coord == ref::ResizeCoord::kTfHalfPixelForNn)
    Unsupported(n, "coordinate_transformation_mode 'tf_half_pixel_for_nn' with mode 'linear'");
  p.nearest = ParseNearest(n);
  const std::vector<int64_t> sizes = n.GetInts("sizes", {});
  if (sizes.size() != 2)
    Fail(n, fmt::format("sizes must hold 2 values (output H, W), got {}", sizes.size()));
  const bool has_scales = n.Has("scales");
  const std::vector<float> scales = n.GetFloats("scales", {});
  if (has_scales && scales.size() != 2)
    Fail(n, fmt::format("scales must hold 2 values (H, W), got {}", scales.size()));
  p.axes.resize(2);
  for (size_t i = 0; i < 2; ++i) {
    ref::ResizeAxis& a = p.axes[i];
    a.in = x[1 + i];
    if (a.in < 1) Fail(n, fmt::format("input axis {} is empty", 1 + i));
    if (sizes[i] < 1 || sizes[i] > kMaxTensorElements)
      Fail(n, fmt::format("size {} on axis {} is out of range (1..2^31)", sizes[i], 1 + i));
    a.out = sizes[i];
    if (has_scales) {
      const float s = scales[i];
      if (!(s > 0.0f) || !std::isfinite(s))
        Fail(n, fmt::format("scale {} on axis {} must be positive and finite", s, 1 + i));
      a.scale = s;
      a.resized_length = static_cast<double>(a.in) * a.scale;
      // ONNX's output length for these scales; a scale disagreeing with sizes is refused (also
      // bounds the coordinates: a scale of 1e-30 cannot go with a non-empty output).
      if (std::floor(a.resized_length) != static_cast<double>(a.out))
        Fail(n, fmt::format("scale {} on axis {} of length {} gives {} outputs, sizes says {}", s,
                            1 + i, a.in, std::floor(a.resized_length), a.out));
    } else {
      a.scale = static_cast<double>(a.out) / static_cast<double>(a.in);
      a.resized_length = static_cast<double>(a.out);
    }
  }
  return p;
}

void InferEffiResize(const Node& n, Graph& g) {
  RequireFloat(g, n, 0);
  const Shape& x = In(g, n, 0).shape;
  const ref::ResizeParams p = EffiResizeParams(n, x);
  SetOut(g, n, 0, DType::kF32, {x[0], p.axes[0].out, p.axes[1].out, x[3]});
}

std::unique_ptr<Kernel> CreateEffiResize(const Node& n, const Graph& g) {
  const Shape x = In(g, n, 0).shape;
  const ref::ResizeParams p = EffiResizeParams(n, x);
  const int64_t batch = x[0], c = x[3];
  const int64_t rows = batch * p.axes[0].out, row_elems = p.axes[1].out * c;
  if (!UseReferenceKernels())
    if (auto plan = kernels::PlanResize(p, p.axes[0], p.axes[1])) {
      auto shared = std::make_shared<const kernels::ResizePlan>(std::move(*plan));
      const bool parallel = rows * row_elems >= kResizeParallelElems;
      return MakeKernel([shared, c, rows, parallel](const ExecContext& ctx, const void* const* in,
                                                    void* const* o, void*) {
        const auto* xp = static_cast<const float*>(in[0]);
        auto* y = static_cast<float*>(o[0]);
        ParallelRows(ctx, rows, parallel, [&](int64_t r0, int64_t r1, int) {
          kernels::ResizeNhwcF32(*shared, c, xp, y, r0, r1);
        });
      });
    }
  // The reference: each (n, c) plane gathered into scratch, resized by ref::resize_f32 as a 2-D
  // tensor (an ONNX Resize of that plane) and scattered back.
  const int64_t in_plane = p.axes[0].in * p.axes[1].in, out_plane = p.axes[0].out * p.axes[1].out;
  return MakeKernel(
      [p, batch, c, in_plane, out_plane](const ExecContext&, const void* const* in, void* const* o,
                                         void* scratch) {
        const auto* xp = static_cast<const float*>(in[0]);
        auto* y = static_cast<float*>(o[0]);
        float* src = static_cast<float*>(scratch);
        float* dst = src + in_plane;
        for (int64_t b = 0; b < batch; ++b)
          for (int64_t ch = 0; ch < c; ++ch) {
            for (int64_t i = 0; i < in_plane; ++i) src[i] = xp[(b * in_plane + i) * c + ch];
            ref::resize_f32(p, src, dst);
            for (int64_t i = 0; i < out_plane; ++i) y[(b * out_plane + i) * c + ch] = dst[i];
          }
      },
      static_cast<size_t>(in_plane + out_plane) * sizeof(float));
}

// ---- Pad ----

struct PadGeom {
  Shape in, out;
  std::vector<int64_t> begin, end;
  ref::PadMode mode = ref::PadMode::kConstant;
  std::vector<unsigned char> value;  // the constant, elem_size bytes
  bool value_at_run_time = false;    // input 2, not a constant: read when the kernel runs
};

// `v` stored as one element of `dt`; refused unless exactly representable (opset 2's float
// `value` attribute on an integer tensor).
std::vector<unsigned char> ValueBytes(const Node& n, DType dt, double v) {
  std::vector<unsigned char> b(DTypeSize(dt), 0);
  auto put = [&](auto t) { std::memcpy(b.data(), &t, sizeof(t)); };
  if (dt == DType::kF32) {
    put(static_cast<float>(v));
    return b;
  }
  const bool integral = std::isfinite(v) && v == std::trunc(v) && std::fabs(v) < 0x1p62;
  auto fits = [&](double lo, double hi) { return integral && v >= lo && v <= hi; };
  if (dt == DType::kI64 && fits(-0x1p62, 0x1p62))
    put(static_cast<int64_t>(v));
  else if (dt == DType::kI32 && fits(-2147483648.0, 2147483647.0))
    put(static_cast<int32_t>(v));
  else if (dt == DType::kI8 && fits(-128, 127))
    put(static_cast<int8_t>(v));
  else if (dt == DType::kU8 && fits(0, 255))
    put(static_cast<uint8_t>(v));
  else if (dt == DType::kBool && fits(0, 1))
    put(static_cast<uint8_t>(v));
  else
    Fail(n, fmt::format("value {} does not fit the {} input", v, DTypeName(dt)));
  return b;
}

ref::PadMode ParsePadMode(const Node& n) {
  const std::string m = n.GetString("mode", "constant");
  if (m == "constant") return ref::PadMode::kConstant;
  if (m == "reflect") return ref::PadMode::kReflect;
  if (m == "edge") return ref::PadMode::kEdge;
  if (m == "wrap") return ref::PadMode::kWrap;
  Fail(n, fmt::format("unknown mode '{}'", util::EscapeControl(m)));
}

PadGeom PadGeometry(const Node& n, const Graph& g) {
  const Value& x = In(g, n, 0);
  if (x.dtype == DType::kUndefined) Fail(n, "input 0 has no type");
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  PadGeom geo;
  geo.in = x.shape;
  geo.mode = ParsePadMode(n);
  const size_t es = DTypeSize(x.dtype);
  std::vector<int64_t> pads, axes;
  if (n.HasInput(1)) {  // opset 11+: pads, constant_value, axes as inputs
    if (n.Has("pads") || n.Has("value"))
      Fail(n, "pads/value given both as attributes and as inputs");
    pads = ConstInts(g, n, 1, "pads");
    if (n.HasInput(3)) axes = ConstInts(g, n, 3, "axes");
    if (Given(g, n, 2)) {
      const Value& v = In(g, n, 2);
      if (v.dtype != x.dtype)
        Fail(n, fmt::format("constant_value has type {}, the data {}", DTypeName(v.dtype),
                            DTypeName(x.dtype)));
      if (!v.has_shape || NumElements(v.shape) != 1) Fail(n, "constant_value must be a scalar");
      if (v.is_constant())
        geo.value.assign(static_cast<const unsigned char*>(v.constant->data()),
                         static_cast<const unsigned char*>(v.constant->data()) + es);
      else
        geo.value_at_run_time = true;
    }
  } else if (n.Has("pads")) {  // opset 2: attributes
    pads = n.GetInts("pads", {});
  } else {
    Fail(n, "pads missing (neither input 1 nor the pads attribute)");
  }
  if (geo.value.empty()) geo.value = ValueBytes(n, x.dtype, n.GetFloat("value", 0.0f));
  axes = ResolveAxes(n, axes, rank);
  if (pads.size() != 2 * axes.size())
    Fail(n, fmt::format("pads has {} values, expected {} (2 per padded axis)", pads.size(),
                        2 * axes.size()));
  geo.begin.assign(static_cast<size_t>(rank), 0);
  geo.end.assign(static_cast<size_t>(rank), 0);
  geo.out = geo.in;
  for (size_t i = 0; i < axes.size(); ++i) {
    const size_t d = static_cast<size_t>(axes[i]);
    const int64_t pb = pads[i], pe = pads[i + axes.size()], in = geo.in[d];
    // Bounded first so that the sums below cannot overflow: no output axis exceeds 2^31 elements,
    // and a crop (negative pad) removes at most the axis' own elements.
    for (int64_t p : {pb, pe})
      if (p > kMaxTensorElements || p < -in)
        Fail(n, fmt::format("pad {} on axis {} of length {} is out of range", p, d, in));
    // Negative pads crop first and the rest pads what is left (ONNX Runtime's order, which decides
    // what reflect and wrap read when one end is cropped and the other padded).
    const int64_t kept = in + std::min<int64_t>(pb, 0) + std::min<int64_t>(pe, 0);
    if (kept < 0)
      Fail(n, fmt::format("pads {} and {} crop more than axis {}'s {} elements", pb, pe, d, in));
    const int64_t out = in + pb + pe;
    if (kept == 0 && out > 0 && geo.mode != ref::PadMode::kConstant)
      Fail(n, fmt::format("axis {} is empty after cropping: only mode 'constant' can pad it", d));
    geo.begin[d] = pb;
    geo.end[d] = pe;
    geo.out[d] = out;
  }
  return geo;
}

void InferPad(const Node& n, Graph& g) {
  SetOut(g, n, 0, In(g, n, 0).dtype, PadGeometry(n, g).out);
}

std::unique_ptr<Kernel> CreatePad(const Node& n, const Graph& g) {
  const PadGeom geo = PadGeometry(n, g);
  const int64_t es = static_cast<int64_t>(DTypeSize(In(g, n, 0).dtype));
  return MakeKernel([geo, es](const ExecContext&, const void* const* in, void* const* o, void*) {
    const void* value = geo.value_at_run_time ? in[2] : geo.value.data();
    ref::pad(es, static_cast<int>(geo.in.size()), geo.in.data(), geo.begin.data(), geo.end.data(),
             geo.mode, value, in[0], o[0]);
  });
}

}  // namespace

void RegisterResizePadOps(std::vector<OpSchema>& r) {
  r.push_back(
      {"",
       "Resize",
       1,
       4,
       1,
       1,
       {"mode", "coordinate_transformation_mode", "nearest_mode", "cubic_coeff_a",
        "exclude_outside", "extrapolation_value", "antialias", "axes", "keep_aspect_ratio_policy"},
       InferResize,
       CreateResize});
  r.push_back({"", "Pad", 1, 4, 1, 1, {"mode", "pads", "value"}, InferPad, CreatePad});
  r.push_back({kEffiDomain,
               "Resize",
               1,
               1,
               1,
               1,
               {"mode", "coordinate_transformation_mode", "nearest_mode", "scales", "sizes"},
               InferEffiResize,
               CreateEffiResize});
}

bool NhwcResizeAttrs(const Node& resize, const Graph& g, std::map<std::string, AttrValue>* attrs) {
  if (!resize.Is("Resize") || !resize.HasInput(0) || resize.outputs.empty()) return false;
  const Value& x = In(g, resize, 0);
  if (!x.has_shape || x.shape.size() != 4 || x.dtype != DType::kF32) return false;
  ref::ResizeParams p;
  try {
    p = ResizeGeometry(resize, g);
  } catch (const Error&) {
    return false;  // the ONNX op reports it
  }
  if (p.coord == ref::ResizeCoord::kTfCropAndResize) return false;
  if (!p.linear && p.nearest == ref::ResizeNearest::kSimple) return false;
  if (!kernels::ResizeAxisIsIdentity(p, p.axes[0]) || !kernels::ResizeAxisIsIdentity(p, p.axes[1]))
    return false;
  const ref::ResizeAxis &h = p.axes[2], &w = p.axes[3];
  std::map<std::string, AttrValue> a;
  a["mode"] = std::string(p.linear ? "linear" : "nearest");
  a["coordinate_transformation_mode"] = std::string(NameOf(p.coord, kCoordNames));
  if (!p.linear) a["nearest_mode"] = std::string(NameOf(p.nearest, kNearestNames));
  a["sizes"] = std::vector<int64_t>{h.out, w.out};
  // The scales as ONNX's own (float) `scales` gave them, unless out / in reproduces the node's
  // coordinates exactly (its `sizes` input, or scales that are such ratios).
  auto from_sizes = [](const ref::ResizeAxis& ax) {
    return ax.in > 0 && ax.scale == static_cast<double>(ax.out) / static_cast<double>(ax.in) &&
           ax.resized_length == static_cast<double>(ax.out);
  };
  if (!from_sizes(h) || !from_sizes(w))
    a["scales"] = std::vector<float>{static_cast<float>(h.scale), static_cast<float>(w.scale)};
  // Accepted only if effi.Resize reads back exactly the node's geometry (a policy-scaled `sizes`
  // or a scale that is not a float is not expressible: the ONNX op stays, behind transposes).
  Node probe = resize;
  probe.domain = kEffiDomain;
  probe.attrs = a;
  try {
    const ref::ResizeParams q =
        EffiResizeParams(probe, {x.shape[0], x.shape[2], x.shape[3], x.shape[1]});
    if (q.linear != p.linear || q.coord != p.coord || (!p.linear && q.nearest != p.nearest))
      return false;
    for (size_t i = 0; i < 2; ++i) {
      const ref::ResizeAxis &want = p.axes[2 + i], &got = q.axes[i];
      if (got.in != want.in || got.out != want.out || got.scale != want.scale ||
          got.resized_length != want.resized_length)
        return false;
    }
  } catch (const Error&) {
    return false;  // e.g. an empty output, which effi.Resize refuses
  }
  *attrs = std::move(a);
  return true;
}

}  // namespace effi::ops
