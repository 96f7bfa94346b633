// Convolution and pooling: ONNX Conv/AveragePool/MaxPool/GlobalAveragePool (NCHW, 1-D or 2-D) and
// effi's channels-last versions (effi.Conv with fused epilogue, effi.AvgPool, effi.GlobalAvgPool),
// which the layout pass produces.
#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "kernels/conv_direct.h"
#include "kernels/dwconv.h"
#include "kernels/gemm.h"
#include "kernels/im2col.h"
#include "kernels/pool.h"
#include "kernels/ref/ref_kernels.h"
#include "ops/op.h"

namespace effi::ops {
namespace {

namespace ref = effi::kernels::ref;

struct Geom2d {
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t pt = 0, pl = 0, pb = 0, pr = 0;
  int64_t ho = 1, wo = 1;
};

// Resolves kernel/stride/dilation/pads (incl. auto_pad and ceil_mode) for a 1-D or 2-D window op
// whose spatial input is (h, w). `spatial` = 1 or 2.
Geom2d ResolveGeometry(const Node& n, int spatial, int64_t h, int64_t w,
                       std::vector<int64_t> kernel) {
  Geom2d g;
  auto strides = n.GetInts("strides", std::vector<int64_t>(spatial, 1));
  auto dil = n.GetInts("dilations", std::vector<int64_t>(spatial, 1));
  auto pads = n.GetInts("pads", std::vector<int64_t>(2 * spatial, 0));
  if (static_cast<int>(kernel.size()) != spatial || static_cast<int>(strides.size()) != spatial ||
      static_cast<int>(dil.size()) != spatial || static_cast<int>(pads.size()) != 2 * spatial)
    Fail(n, "kernel_shape/strides/dilations/pads do not match the input rank");
  for (int i = 0; i < spatial; ++i) {
    if (kernel[i] < 1 || strides[i] < 1 || dil[i] < 1 || kernel[i] > (1 << 20) ||
        strides[i] > (1 << 20) || dil[i] > (1 << 20))
      Fail(n, "kernel, strides and dilations must be positive");
    if (pads[i] < 0 || pads[i + spatial] < 0 || pads[i] > (1 << 20) ||
        pads[i + spatial] > (1 << 20))
      Fail(n, "pads must be non-negative");
  }
  const std::string auto_pad = n.GetString("auto_pad", "NOTSET");
  const bool ceil_mode = n.GetInt("ceil_mode", 0) != 0;
  int64_t in[2] = {spatial == 2 ? h : 1, spatial == 2 ? w : h};
  int64_t k[2], s[2], d[2], pb[2], pe[2], out[2];
  for (int i = 0; i < 2; ++i) {
    int j = spatial == 2 ? i : 0;
    bool real = spatial == 2 || i == 1;
    k[i] = real ? kernel[j] : 1;
    s[i] = real ? strides[j] : 1;
    d[i] = real ? dil[j] : 1;
    pb[i] = real ? pads[j] : 0;
    pe[i] = real ? pads[j + spatial] : 0;
    const int64_t ext = d[i] * (k[i] - 1) + 1;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      out[i] = (in[i] + s[i] - 1) / s[i];
      int64_t total = std::max<int64_t>(0, (out[i] - 1) * s[i] + ext - in[i]);
      pb[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pe[i] = total - pb[i];
    } else if (auto_pad == "VALID") {
      pb[i] = pe[i] = 0;
      out[i] = in[i] >= ext ? (in[i] - ext) / s[i] + 1 : 0;
    } else if (auto_pad == "NOTSET" || auto_pad.empty()) {
      int64_t span = in[i] + pb[i] + pe[i] - ext;
      if (span < 0) Fail(n, "kernel is larger than the padded input");
      out[i] = (ceil_mode ? (span + s[i] - 1) / s[i] : span / s[i]) + 1;
      // PyTorch/ONNX rule: the last window must start inside the input or the left padding.
      if (ceil_mode && (out[i] - 1) * s[i] >= in[i] + pb[i]) --out[i];
    } else {
      Fail(n, fmt::format("unknown auto_pad '{}'", auto_pad));
    }
  }
  g.kh = k[0], g.kw = k[1], g.sh = s[0], g.sw = s[1], g.dh = d[0], g.dw = d[1];
  g.pt = pb[0], g.pl = pb[1], g.pb = pe[0], g.pr = pe[1];
  g.ho = out[0], g.wo = out[1];
  return g;
}

}  // namespace

// ---------------- ONNX Conv (NCHW) ----------------
ConvShape ConvGeometry(const Node& n, const Graph& gr, size_t x_index, size_t w_index,
                       int bias_index) {
  const Value& x = In(gr, n, x_index);
  const Value& w = In(gr, n, w_index);
  CheckInputSizes(n, gr);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  if (rank != 3 && rank != 4)
    Unsupported(
        n, fmt::format("only 1-D and 2-D convolution is supported (input {})", ShapeStr(x.shape)));
  if (w.shape.size() != x.shape.size())
    Fail(n, fmt::format("weight rank {} does not match input rank {}", w.shape.size(), rank));
  const int spatial = static_cast<int>(rank) - 2;
  const int64_t group = n.GetInt("group", 1);
  if (group < 1 || x.shape[1] % group != 0 || w.shape[0] % group != 0)
    Fail(n, fmt::format("group {} does not divide channels {} / filters {}", group, x.shape[1],
                        w.shape[0]));
  // group divides x.shape[1], so this is w.shape[1] * group == x.shape[1] without the product
  // (group comes from an attribute and may be anything up to INT64_MAX).
  if (w.shape[1] != x.shape[1] / group)
    Fail(n, fmt::format("weight {} with group {} does not match {} input channels",
                        ShapeStr(w.shape), group, x.shape[1]));
  std::vector<int64_t> kshape(w.shape.begin() + 2, w.shape.end());
  if (n.Has("kernel_shape") && n.GetInts("kernel_shape", {}) != kshape)
    Fail(n, "kernel_shape does not match the weight");
  Geom2d g = ResolveGeometry(n, spatial, x.shape[2], spatial == 2 ? x.shape[3] : 1, kshape);
  ConvShape cs{};
  cs.spatial = spatial;
  cs.p = {x.shape[0],
          x.shape[1],
          spatial == 2 ? x.shape[2] : 1,
          spatial == 2 ? x.shape[3] : x.shape[2],
          w.shape[0],
          g.ho,
          g.wo,
          g.kh,
          g.kw,
          g.sh,
          g.sw,
          g.pt,
          g.pl,
          g.dh,
          g.dw,
          group};
  if (bias_index >= 0 && n.HasInput(static_cast<size_t>(bias_index))) {
    const Value& b = In(gr, n, static_cast<size_t>(bias_index));
    if (b.shape != Shape{w.shape[0]})
      Fail(n, fmt::format("bias shape {} must be [{}]", ShapeStr(b.shape), w.shape[0]));
  }
  return cs;
}

namespace {

void InferConv(const Node& n, Graph& g) {
  RequireFloatInputs(g, n);
  ConvShape cs = ConvGeometry(n, g);
  Shape out = cs.spatial == 2 ? Shape{cs.p.n, cs.p.c_out, cs.p.h_out, cs.p.w_out}
                              : Shape{cs.p.n, cs.p.c_out, cs.p.w_out};
  SetOut(g, n, 0, DType::kF32, out);
}

std::unique_ptr<Kernel> CreateConv(const Node& n, const Graph& g) {
  ref::Conv2dParams p = ConvGeometry(n, g).p;
  return MakeKernel([p](const ExecContext&, const void* const* in, void* const* o, void*) {
    ref::conv2d_nchw_f32(p, static_cast<const float*>(in[0]), static_cast<const float*>(in[1]),
                         static_cast<const float*>(in[2]), static_cast<float*>(o[0]));
  });
}

// Pooling and depthwise conv kernels below this many output elements run on the calling thread.
// Low, because the pool gives each thread the same rows op after op (see ThreadPool): splitting
// even a 14x14x224 token mixer keeps its reads core-local (2-thread L1 PoolMixer total 0.29 ->
// 0.21 ms).
constexpr int64_t kPoolParallelElems = 1 << 12;

// Runs fn(row_begin, row_end) over `rows` output rows of `row_elems` elements each, split across
// threads when the output is large enough.
template <class F>
void ForRowRanges(const ExecContext& ctx, int64_t rows, int64_t row_elems, F&& fn) {
  ParallelRows(ctx, rows, rows * row_elems >= kPoolParallelElems,
               [&](int64_t r0, int64_t r1, int) { fn(r0, r1); });
}

// ---------------- effi.Conv (NHWC, OHWI weights, epilogue) ----------------
// inputs: X [N,H,W,C] (or [N,C,H,W] with nchw_input = 1), W [O,kh,kw,C/g], B [O]?, R [N,Ho,Wo,O]?;
// attrs: strides, pads (t,l,b,r), dilations, group, activation (0 none, 1 relu, 2 gelu),
// nchw_input. The output is always NHWC.
ref::Conv2dParams NhwcConvParams(const Node& n, const Graph& g) {
  const Shape& xs = In(g, n, 0).shape;
  const Shape& w = In(g, n, 1).shape;
  if (xs.size() != 4 || w.size() != 4) Fail(n, "effi.Conv needs 4-D input and weight");
  CheckInputSizes(n, g);
  const bool nchw = n.GetInt("nchw_input", 0) != 0;
  const Shape x = nchw ? Shape{xs[0], xs[2], xs[3], xs[1]} : xs;  // as NHWC
  auto s = n.GetInts("strides", {1, 1});
  auto d = n.GetInts("dilations", {1, 1});
  auto pads = n.GetInts("pads", {0, 0, 0, 0});
  const int64_t group = n.GetInt("group", 1);
  // The same bounds as ONNX Conv's (ResolveGeometry): a model file may hold effi.Conv too.
  auto in_range = [](const std::vector<int64_t>& v, int64_t lo) {
    return std::all_of(v.begin(), v.end(), [lo](int64_t e) { return e >= lo && e <= (1 << 20); });
  };
  if (s.size() != 2 || d.size() != 2 || pads.size() != 4 || !in_range(s, 1) || !in_range(d, 1) ||
      !in_range(pads, 0) || group < 1 || w[0] % group || x[3] % group || w[3] != x[3] / group)
    Fail(n, "inconsistent effi.Conv attributes");
  ref::Conv2dParams p{x[0], x[3], x[1], x[2],    w[0],    0,    0,    w[1],
                      w[2], s[0], s[1], pads[0], pads[1], d[0], d[1], group};
  p.h_out = (x[1] + pads[0] + pads[2] - d[0] * (w[1] - 1) - 1) / s[0] + 1;
  p.w_out = (x[2] + pads[1] + pads[3] - d[1] * (w[2] - 1) - 1) / s[1] + 1;
  if (p.h_out < 1 || p.w_out < 1) Fail(n, "kernel is larger than the padded input");
  return p;
}

ref::Activation ActivationOf(const Node& n) {
  int64_t a = n.GetInt("activation", 0);
  if (a == 1) return ref::Activation::kRelu;
  if (a == 2) return ref::Activation::kGelu;
  if (a != 0) Fail(n, fmt::format("unknown activation {}", a));
  return ref::Activation::kNone;
}

void InferNhwcConv(const Node& n, Graph& g) {
  // Passes only build effi.Conv from checked ONNX Convs, but a model file may hold one too
  // (fuzz_graph: bool input and weights with a [2,3,4,5] bias were read as floats past their end).
  RequireGemmOpTypes(g, n);
  ref::Conv2dParams p = NhwcConvParams(n, g);
  Shape out{p.n, p.h_out, p.w_out, p.c_out};
  if (n.HasInput(2) && In(g, n, 2).shape != Shape{p.c_out}) Fail(n, "bias must be [C_out]");
  if (n.HasInput(3) && In(g, n, 3).shape != out) Fail(n, "residual shape differs from the output");
  CheckPostChannelInputs(n, g, p.c_out);
  if (IsInt8Node(n)) CheckInt8Node(n, g);
  SetOut(g, n, 0, GemmOpOutputType(n), out);
}

std::unique_ptr<Kernel> CreatePackedNhwcConv(const Node& n, const Graph& g,
                                             const ref::Conv2dParams& p, ref::Activation act);

std::unique_ptr<Kernel> CreateNchwInputConv(const Node& n, const Graph& g,
                                            const ref::Conv2dParams& p, ref::Activation act);

std::unique_ptr<Kernel> CreateDepthwiseNhwcConv(const Node& n, const Graph& g,
                                                const ref::Conv2dParams& p, ref::Activation act);

std::unique_ptr<Kernel> CreateNhwcConv(const Node& n, const Graph& g) {
  const ref::Conv2dParams p = NhwcConvParams(n, g);
  const ref::Activation act = ActivationOf(n);
  if (IsInt8Node(n))
    return CreateInt8Gemm(n, g, &p, p.n * p.h_out * p.w_out, p.kh * p.kw * p.c_in, p.c_out, act);
  // The layout pass gives nchw_input only to convs the direct kernel takes (groups 1), so a
  // depthwise conv reaches it only from a model file holding effi.Conv: the reference path there.
  if (n.GetInt("nchw_input", 0) != 0) return CreateNchwInputConv(n, g, p, act);
  if (!UseReferenceKernels() && kernels::DepthwiseConvSupported(p) && In(g, n, 1).is_constant())
    return Prepacked(CreateDepthwiseNhwcConv(n, g, p, act), {1});
  if (UseReferenceKernels() || p.groups != 1 || !In(g, n, 1).is_constant()) {
    return MakeKernel([p, act](const ExecContext&, const void* const* in, void* const* o, void*) {
      float* y = static_cast<float*>(o[0]);
      ref::conv2d_nhwc_f32(p, static_cast<const float*>(in[0]), static_cast<const float*>(in[1]),
                           nullptr, y);
      ref::epilogue_f32(p.n * p.h_out * p.w_out, p.c_out, static_cast<const float*>(in[2]), act,
                        static_cast<const float*>(in[3]), y);
    });
  }
  return Prepacked(CreatePackedNhwcConv(n, g, p, act), {1});
}

// The GEMM paths: weights (input 1) packed here, never read again at run time.
std::unique_ptr<Kernel> CreatePackedNhwcConv(const Node& n, const Graph& g,
                                             const ref::Conv2dParams& p, ref::Activation act) {
  // OHWI weights are [O][K] with K = kh*kw*Cin: pack as B^T.
  const int64_t kdim = p.kh * p.kw * p.c_in, m = p.n * p.h_out * p.w_out, cout = p.c_out;
  auto packed = std::make_shared<const kernels::PackedB>(In(g, n, 1).constant->as<float>(), kdim,
                                                         cout, kdim, true);
  if (IsPointwiseConv(p)) {
    // 1x1 conv on NHWC is a plain [N*H*W, Cin] x [Cin, Cout] GEMM: no copy at all.
    return MakeKernel([=](const ExecContext& ctx, const void* const* in, void* const* o, void*) {
      const float* x = static_cast<const float*>(in[0]);
      float* y = static_cast<float*>(o[0]);
      kernels::GemmEpilogue ep{static_cast<const float*>(in[2]), act,
                               static_cast<const float*>(in[3]), cout};
      ParallelGemm(ctx, m, x, kdim, *packed, y, cout, ep);
    });
  }
  // KxK: im2col + GEMM, whole or in per-thread chunks as PlanIm2colGemm decides.
  const Im2colGemmPlan plan = PlanIm2colGemm(m, kdim, sizeof(float));
  return MakeKernel(
      [=](const ExecContext& ctx, const void* const* in, void* const* o, void* scratch) {
        const float* x = static_cast<const float*>(in[0]);
        float* y = static_cast<float*>(o[0]);
        const float* res = static_cast<const float*>(in[3]);
        const kernels::GemmEpilogue ep{static_cast<const float*>(in[2]), act, nullptr, cout};
        ParallelIm2colGemm<float>(
            ctx, plan, *packed, scratch,
            [&](int64_t m0, int64_t m1, float* col) {
              kernels::Im2colNhwc(p, x, m0, m1, 0.0f, col);
            },
            [&](const float* a, int64_t r0, int64_t r1, int64_t n0, int64_t n1) {
              kernels::GemmEpilogue e = ep;
              if (res) e.residual = res + r0 * cout;
              kernels::GemmPacked(0, r1 - r0, n0, n1, a, kdim, *packed, y + r0 * cout, cout, e);
            });
      },
      plan.scratch_shared, plan.scratch_per_thread);
}

// Depthwise effi.Conv (groups == c_in == c_out: EfficientFormerV2's 3x3 convs with their BN
// folded): weights repacked here to [kh * kw][C], output rows split across threads, the bias,
// activation and residual applied by the kernel as it writes each output vector. On the reference
// path (conv, then the epilogue as a second pass) V2-S0's 56x56x128 conv took 15 ms.
std::unique_ptr<Kernel> CreateDepthwiseNhwcConv(const Node& n, const Graph& g,
                                                const ref::Conv2dParams& p, ref::Activation act) {
  auto packed = std::make_shared<const std::vector<float>>(
      kernels::PackDepthwiseWeights(p, In(g, n, 1).constant->as<float>()));
  return MakeKernel([=](const ExecContext& ctx, const void* const* in, void* const* o, void*) {
    const float* x = static_cast<const float*>(in[0]);
    const float* bias = static_cast<const float*>(in[2]);
    const float* res = static_cast<const float*>(in[3]);
    float* y = static_cast<float*>(o[0]);
    ForRowRanges(ctx, p.n * p.h_out, p.w_out * p.c_out, [&](int64_t r0, int64_t r1) {
      kernels::DepthwiseConvF32(p, x, packed->data(), bias, act, res, r0, r1, y);
    });
  });
}

// effi.Conv with nchw_input = 1: the direct kernel (phase rows of the input, then output rows,
// each split across threads) when it takes the geometry and the weights are constant, else the
// reference convolution behind a transpose to NHWC.
std::unique_ptr<Kernel> CreateNchwInputConv(const Node& n, const Graph& g,
                                            const ref::Conv2dParams& p, ref::Activation act) {
  if (!UseReferenceKernels() && kernels::DirectConvSupported(p) && In(g, n, 1).is_constant()) {
    auto packed = std::make_shared<const std::vector<float>>(
        kernels::PackDirectConvWeights(p, In(g, n, 1).constant->as<float>()));
    const size_t per_thread =
        static_cast<size_t>(kernels::DirectConvScratchFloats(p)) * sizeof(float);
    return Prepacked(
        MakeKernel(
            [=](const ExecContext& ctx, const void* const* in, void* const* o, void* scratch) {
              const float* x = static_cast<const float*>(in[0]);
              float* y = static_cast<float*>(o[0]);
              const float* bias = static_cast<const float*>(in[2]);
              const float* res = static_cast<const float*>(in[3]);
              ParallelRows(ctx, p.n * p.h_out, true, [&](int64_t r0, int64_t r1, int thread) {
                float* mine = reinterpret_cast<float*>(static_cast<uint8_t*>(scratch) +
                                                       per_thread * static_cast<size_t>(thread));
                kernels::DirectConvF32(p, x, packed->data(), bias, act, r0, r1, mine, y);
                if (res) {  // y += residual (after the activation, as effi.Conv defines it)
                  const int64_t off = r0 * p.w_out * p.c_out;
                  kernels::EpilogueF32((r1 - r0) * p.w_out, p.c_out, nullptr,
                                       ref::Activation::kNone, res + off, y + off);
                }
              });
            },
            0, per_thread),
        {1});
  }
  const size_t nhwc_bytes = static_cast<size_t>(p.n * p.h_in * p.w_in * p.c_in) * sizeof(float);
  return MakeKernel(
      [p, act](const ExecContext&, const void* const* in, void* const* o, void* scratch) {
        float* xt = static_cast<float*>(scratch);
        ref::nchw_to_nhwc_f32(p.n, p.c_in, p.h_in * p.w_in, static_cast<const float*>(in[0]), xt);
        float* y = static_cast<float*>(o[0]);
        ref::conv2d_nhwc_f32(p, xt, static_cast<const float*>(in[1]), nullptr, y);
        ref::epilogue_f32(p.n * p.h_out * p.w_out, p.c_out, static_cast<const float*>(in[2]), act,
                          static_cast<const float*>(in[3]), y);
      },
      nhwc_bytes, 0);
}

}  // namespace

bool PreferNchwInputConv(const Node& conv, const Graph& g) {
  const ConvShape cs = ConvGeometry(conv, g);
  return cs.spatial == 2 && kernels::DirectConvSupported(cs.p);
}

namespace {

// ---------------- pooling ----------------
ref::Pool2dParams PoolParams(const Node& n, int64_t batch, int64_t c, int64_t h, int64_t w,
                             const Geom2d& g) {
  // clang-format off
  return {batch, c, h, w, g.ho, g.wo, g.kh, g.kw, g.sh, g.sw, g.pt, g.pl, g.pb, g.pr, g.dh, g.dw,
          n.GetInt("count_include_pad", 0) != 0};
  // clang-format on
}

// ONNX Runtime's rule for pooling (pool_attributes.h): each explicit pad must be smaller than the
// kernel along its axis, else whole windows lie in the padding (MaxPool would output -inf there).
// auto_pad's computed pads are not checked (ORT does not either; without dilation they are < k).
void CheckPoolPads(const Node& n, const Geom2d& g) {
  const std::string auto_pad = n.GetString("auto_pad", "NOTSET");
  if (auto_pad != "NOTSET" && !auto_pad.empty()) return;
  const std::pair<int64_t, int64_t> pad_kernel[] = {
      {g.pt, g.kh}, {g.pb, g.kh}, {g.pl, g.kw}, {g.pr, g.kw}};
  for (const auto& [pad, k] : pad_kernel)
    if (pad >= k)
      Fail(n, fmt::format("pad {} >= kernel {} (pads must be smaller than the kernel)", pad, k));
}

ref::Pool2dParams PoolGeometry(const Node& n, const Graph& gr, bool nhwc) {
  const Shape& x = In(gr, n, 0).shape;
  CheckInputSizes(n, gr);
  if (nhwc) {
    if (x.size() != 4) Fail(n, "needs a 4-D input");
    const Geom2d g = ResolveGeometry(n, 2, x[1], x[2], n.GetInts("kernel_shape", {}));
    CheckPoolPads(n, g);
    return PoolParams(n, x[0], x[3], x[1], x[2], g);
  }
  if (x.size() != 3 && x.size() != 4)
    Unsupported(n, fmt::format("only 1-D and 2-D pooling is supported (input {})", ShapeStr(x)));
  const int spatial = static_cast<int>(x.size()) - 2;
  if (!n.Has("kernel_shape")) Fail(n, "kernel_shape is required");
  const int64_t h = spatial == 2 ? x[2] : 1, w = spatial == 2 ? x[3] : x[2];
  const Geom2d g =
      ResolveGeometry(n, spatial, x[2], spatial == 2 ? x[3] : 1, n.GetInts("kernel_shape", {}));
  CheckPoolPads(n, g);
  return PoolParams(n, x[0], x[1], h, w, g);
}

void InferPool(const Node& n, Graph& g) {
  RequireFloat(g, n, 0);
  const bool nhwc = n.domain == kEffiDomain;
  if (n.GetInt("storage_order", 0) != 0) Unsupported(n, "storage_order=1 is not supported");
  if (n.Is("MaxPool") && n.outputs.size() > 1 && n.outputs[1] >= 0)
    Unsupported(n, "the Indices output is not supported");
  ref::Pool2dParams p = PoolGeometry(n, g, nhwc);
  const Shape& x = In(g, n, 0).shape;
  Shape out = nhwc ? Shape{p.n, p.h_out, p.w_out, p.c}
                   : (x.size() == 4 ? Shape{p.n, p.c, p.h_out, p.w_out} : Shape{p.n, p.c, p.w_out});
  SetOut(g, n, 0, DType::kF32, out);
}

std::unique_ptr<Kernel> CreatePool(const Node& n, const Graph& g) {
  const bool nhwc = n.domain == kEffiDomain;
  const bool max = n.Is("MaxPool");
  const ref::Pool2dParams p = PoolGeometry(n, g, nhwc);
  if (nhwc && !max && !UseReferenceKernels()) {
    return MakeKernel([=](const ExecContext& ctx, const void* const* in, void* const* o, void*) {
      const float* x = static_cast<const float*>(in[0]);
      float* y = static_cast<float*>(o[0]);
      ForRowRanges(ctx, p.n * p.h_out, p.w_out * p.c,
                   [&](int64_t r0, int64_t r1) { kernels::AvgPool2dNhwcF32(p, x, y, r0, r1); });
    });
  }
  return MakeKernel([=](const ExecContext&, const void* const* in, void* const* o, void*) {
    const float* x = static_cast<const float*>(in[0]);
    float* y = static_cast<float*>(o[0]);
    if (max)
      ref::maxpool2d_nchw_f32(p, x, y);
    else if (nhwc)
      ref::avgpool2d_nhwc_f32(p, x, y);
    else
      ref::avgpool2d_nchw_f32(p, x, y);
  });
}

// ---------------- effi.PoolMixer (NHWC) ----------------
// EfficientFormer's token mixer as the pool-mixer pass fuses it: Y = X + scale * (AvgPool(X) - X)
// with a pool_size x pool_size window, stride 1, pad pool_size / 2, count_include_pad = 0.
// inputs: X [N,H,W,C], scale [C]? (absent = ones); attrs: pool_size (odd, default 3).
void InferPoolMixer(const Node& n, Graph& g) {
  RequireFloatInputs(g, n);
  const Shape& x = In(g, n, 0).shape;
  if (x.size() != 4) Fail(n, fmt::format("needs a 4-D NHWC input, got {}", ShapeStr(x)));
  const int64_t k = n.GetInt("pool_size", 3);
  if (k < 1 || k % 2 == 0 || k > (1 << 20))
    Fail(n, fmt::format("pool_size must be odd and positive (got {})", k));
  if (n.HasInput(1) && NumElements(In(g, n, 1).shape) != x[3])
    Fail(n, fmt::format("scale {} must have {} elements", ShapeStr(In(g, n, 1).shape), x[3]));
  SetOut(g, n, 0, DType::kF32, x);
}

std::unique_ptr<Kernel> CreatePoolMixer(const Node& n, const Graph& g) {
  const Shape& x = In(g, n, 0).shape;
  const int64_t nb = x[0], h = x[1], w = x[2], c = x[3], k = n.GetInt("pool_size", 3);
  const bool ref_kernels = UseReferenceKernels();
  return MakeKernel([=](const ExecContext& ctx, const void* const* in, void* const* o, void*) {
    const float* xp = static_cast<const float*>(in[0]);
    const float* scale = static_cast<const float*>(in[1]);
    float* y = static_cast<float*>(o[0]);
    if (ref_kernels) {
      ref::pool_mixer_nhwc_f32(nb, h, w, c, k, xp, scale, y);
      return;
    }
    ForRowRanges(ctx, nb * h, w * c, [&](int64_t r0, int64_t r1) {
      kernels::PoolMixerNhwcF32(nb, h, w, c, k, xp, scale, y, r0, r1);
    });
  });
}

void InferGlobalPool(const Node& n, Graph& g) {
  RequireFloat(g, n, 0);
  const Shape& x = In(g, n, 0).shape;
  if (x.size() < 3) Fail(n, "needs an input of rank >= 3");
  CheckInputSizes(n, g);
  Shape out = x;
  if (n.domain == kEffiDomain) {
    if (x.size() != 4) Fail(n, "needs a 4-D NHWC input");
    out[1] = out[2] = 1;
  } else {
    for (size_t i = 2; i < out.size(); ++i) out[i] = 1;
  }
  SetOut(g, n, 0, DType::kF32, out);
}

std::unique_ptr<Kernel> CreateGlobalPool(const Node& n, const Graph& g) {
  const Shape& x = In(g, n, 0).shape;
  const bool nhwc = n.domain == kEffiDomain;
  int64_t hw = 1;
  if (nhwc)
    hw = x[1] * x[2];
  else
    for (size_t i = 2; i < x.size(); ++i) hw *= x[i];
  const int64_t nb = x[0], c = nhwc ? x[3] : x[1];
  return MakeKernel([=](const ExecContext&, const void* const* in, void* const* o, void*) {
    if (nhwc)
      ref::global_avgpool_nhwc_f32(nb, hw, c, static_cast<const float*>(in[0]),
                                   static_cast<float*>(o[0]));
    else
      ref::global_avgpool_nchw_f32(nb, c, hw, static_cast<const float*>(in[0]),
                                   static_cast<float*>(o[0]));
  });
}

}  // namespace

void RegisterConvPoolOps(std::vector<OpSchema>& r) {
  r.push_back({"",
               "Conv",
               2,
               3,
               1,
               1,
               {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"},
               InferConv,
               CreateConv});
  r.push_back({kEffiDomain,
               "Conv",
               2,
               6,
               1,
               1,
               {"dilations", "group", "pads", "strides", "activation", "nchw_input", "x_scale",
                "x_zero_point", "x_u8", "y_scale", "y_zero_point", "out_scale", "out_zero_point"},
               InferNhwcConv,
               CreateNhwcConv});
  r.push_back({"",
               "AveragePool",
               1,
               1,
               1,
               1,
               {"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides",
                "dilations"},
               InferPool,
               CreatePool});
  r.push_back(
      {"",
       "MaxPool",
       1,
       1,
       1,
       2,
       {"auto_pad", "ceil_mode", "kernel_shape", "pads", "strides", "dilations", "storage_order"},
       InferPool,
       CreatePool});
  r.push_back({kEffiDomain,
               "AvgPool",
               1,
               1,
               1,
               1,
               {"count_include_pad", "kernel_shape", "pads", "strides"},
               InferPool,
               CreatePool});
  r.push_back({"", "GlobalAveragePool", 1, 1, 1, 1, {}, InferGlobalPool, CreateGlobalPool});
  r.push_back({kEffiDomain, "GlobalAvgPool", 1, 1, 1, 1, {}, InferGlobalPool, CreateGlobalPool});
  r.push_back(
      {kEffiDomain, "PoolMixer", 1, 2, 1, 1, {"pool_size"}, InferPoolMixer, CreatePoolMixer});
}

}  // namespace effi::ops
