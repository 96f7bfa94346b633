// ONNX quantization ops (issue 12): QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear,
// MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv, so effi runs QDQ files (what ONNX
// Runtime's quantize_static writes) and the integer-op form. They run the reference kernels of
// kernels/quant.h with ONNX Runtime's exact arithmetic; the packed int8 GEMM (kernels/qgemm.h) is
// wired in by the QDQ fusion that comes next.
//
// Scales and zero points may be constants or graph inputs (ONNX's conformance cases feed them as
// inputs): kernels read them at run time. A scale must be positive and finite: 0 maps every value
// to +-inf or NaN, a negative one flips the data's sign, NaN/inf make every result meaningless; no
// quantizer writes one, so such a file is broken or hostile. A constant bad scale fails the load
// (kInvalidModel), a fed one fails Session::Run (kInvalidArgument), each naming the node.
#include <fmt/format.h>

#include <cmath>
#include <memory>
#include <string>

#include "kernels/im2col.h"
#include "kernels/qgemm.h"
#include "kernels/quant.h"
#include "ops/op.h"

namespace effi::ops {
namespace {

namespace ref = effi::kernels::ref;
using kernels::QuantAxis;

bool Is8Bit(DType t) { return t == DType::kU8 || t == DType::kI8; }

// A scalar or a one-element 1-D tensor: ONNX Runtime takes both as per-tensor parameters.
bool Single(const Shape& s) { return s.empty() || (s.size() == 1 && s[0] == 1); }

// Calls f with a value of the C++ type of the 8-bit dtype t (checked by the op's inference).
template <class F>
void With8Bit(DType t, F&& f) {
  if (t == DType::kU8)
    f(uint8_t{});
  else
    f(int8_t{});
}

void CheckScales(const std::string& node, ErrorCode code, const float* s, int64_t count,
                 const char* name) {
  for (int64_t i = 0; i < count; ++i)
    if (!(std::isfinite(s[i]) && s[i] > 0.0f))
      throw Error(code, fmt::format("{}: {}[{}] is {:g}; a scale must be positive and finite", node,
                                    name, i, s[i]));
}

// Input i as an 8-bit integer tensor (or int32 when allow_i32); `same_as` >= 0: of that input's
// type (a zero point has its data's type). Returns the type.
DType RequireInt(const Graph& g, const Node& n, size_t i, const char* name, int same_as = -1,
                 bool allow_i32 = false) {
  const DType t = In(g, n, i).dtype;
  if (same_as >= 0 && t != In(g, n, static_cast<size_t>(same_as)).dtype)
    Fail(n, fmt::format("{} has type {}, unlike input {} ({})", name, DTypeName(t), same_as,
                        DTypeName(In(g, n, static_cast<size_t>(same_as)).dtype)));
  if (!Is8Bit(t) && !(allow_i32 && t == DType::kI32))
    Unsupported(n, fmt::format("{} has type {}; uint8{} and int8 are supported", name, DTypeName(t),
                               allow_i32 ? ", int32" : ""));
  return t;
}

// Checks a scale input (float32; a scalar, or [channels] when channels >= 0) and its optional zero
// point (input zp, the same shape); returns the scale's stride: 0 per tensor, 1 per channel. A
// constant scale is checked here, at load.
int64_t CheckParams(const Node& n, const Graph& g, size_t scale, int zp, int64_t channels,
                    const char* name, const std::string& along = "") {
  const Value& s = In(g, n, scale);
  if (s.dtype != DType::kF32)
    Unsupported(n,
                fmt::format("{} has type {}; only float32 is supported", name, DTypeName(s.dtype)));
  int64_t stride = 0;
  if (!Single(s.shape)) {
    if (channels < 0 && s.shape.size() == 1)
      Unsupported(n, fmt::format("{} of shape {}: only a per-tensor (scalar) {} is supported", name,
                                 ShapeStr(s.shape), name));
    if (channels < 0 || s.shape != Shape{channels})
      Fail(n, fmt::format("{} has shape {}; it must be a scalar{}", name, ShapeStr(s.shape),
                          channels < 0 ? "" : fmt::format(" or [{}] ({})", channels, along)));
    stride = 1;
  }
  if (zp >= 0 && n.HasInput(static_cast<size_t>(zp))) {
    const Shape& z = In(g, n, static_cast<size_t>(zp)).shape;
    if (z != s.shape && !(stride == 0 && Single(z)))
      Fail(n, fmt::format("the zero point of {} has shape {}, the scale {}", name, ShapeStr(z),
                          ShapeStr(s.shape)));
  }
  if (s.is_constant())
    CheckScales(n.Describe(), ErrorCode::kInvalidModel, s.constant->as<float>(),
                stride ? channels : 1, name);
  return stride;
}

// Every output of these ops is required: a file may leave one unnamed (absent), and the kernels
// write every output.
void RequireOutputs(const Node& n) {
  for (size_t i = 0; i < n.outputs.size(); ++i)
    if (n.outputs[i] < 0) Fail(n, fmt::format("output {} is missing", i));
}

// The zero point at input i (null: absent, 0) as int32.
template <class T>
int32_t ZeroPointIn(const void* const* in, size_t i) {
  return in[i] ? static_cast<int32_t>(*static_cast<const T*>(in[i])) : 0;
}

// ---------------- QuantizeLinear / DequantizeLinear ----------------
// Inputs: data, scale, zero point?; attr axis (opset 13+, default 1) for a 1-D scale.
QuantAxis QdqAxis(const Node& n, const Graph& g, const char* scale_name) {
  const Shape& x = In(g, n, 0).shape;
  const int64_t count = NumElements(x, n.Describe().c_str());
  int64_t axis = -1, channels = -1;
  if (!Single(In(g, n, 1).shape) && !x.empty()) {
    axis = NormAxis(n, n.GetInt("axis", 1), static_cast<int64_t>(x.size()));
    channels = x[static_cast<size_t>(axis)];
  }
  const int64_t stride = CheckParams(n, g, 1, 2, channels, scale_name,
                                     fmt::format("axis {} of the input {}", axis, ShapeStr(x)));
  if (stride == 0) return {1, 1, count};
  QuantAxis ax{1, channels, 1};
  for (int64_t d = 0; d < axis; ++d) ax.outer *= x[static_cast<size_t>(d)];
  for (size_t d = static_cast<size_t>(axis) + 1; d < x.size(); ++d) ax.inner *= x[d];
  return ax;
}

void InferQuantize(const Node& n, Graph& g) {
  RequireOutputs(n);
  RequireFloat(g, n, 0);
  if (n.GetInt("block_size", 0) != 0) Unsupported(n, "blocked quantization is not supported");
  // saturate (opset 19) lets float8 outputs wrap; integer outputs always saturate: only its type
  // is checked.
  static_cast<void>(n.GetInt("saturate", 1));
  DType out = n.HasInput(2) ? RequireInt(g, n, 2, "y_zero_point") : DType::kU8;
  if (n.Has("output_dtype") && n.GetInt("output_dtype", 0) != 0) {
    const int64_t t = n.GetInt("output_dtype", 0);  // ONNX TensorProto types: 2 uint8, 3 int8
    const DType want = t == 2 ? DType::kU8 : t == 3 ? DType::kI8 : DType::kUndefined;
    if (want == DType::kUndefined)
      Unsupported(n, fmt::format("output_dtype {} is not supported (uint8, int8 are)", t));
    if (n.HasInput(2) && want != out)
      Fail(n, fmt::format("output_dtype {} differs from y_zero_point's type", DTypeName(want)));
    out = want;
  }
  QdqAxis(n, g, "y_scale");
  SetOut(g, n, 0, out, In(g, n, 0).shape);
}

std::unique_ptr<Kernel> CreateQuantize(const Node& n, const Graph& g) {
  const QuantAxis ax = QdqAxis(n, g, "y_scale");
  const std::string who = n.Describe();
  std::unique_ptr<Kernel> k;
  With8Bit(g.values[n.outputs[0]].dtype, [&](auto type) {
    using T = decltype(type);
    k = MakeKernel([ax, who](const ExecContext&, const void* const* in, void* const* o, void*) {
      const float* scale = static_cast<const float*>(in[1]);
      CheckScales(who, ErrorCode::kInvalidArgument, scale, ax.channels, "y_scale");
      ref::quantize_linear<T>(ax, static_cast<const float*>(in[0]), scale,
                              static_cast<const T*>(in[2]), static_cast<T*>(o[0]));
    });
  });
  return k;
}

void InferDequantize(const Node& n, Graph& g) {
  RequireOutputs(n);
  RequireInt(g, n, 0, "x", -1, true);
  if (n.HasInput(2)) RequireInt(g, n, 2, "x_zero_point", 0, true);
  if (n.GetInt("block_size", 0) != 0) Unsupported(n, "blocked quantization is not supported");
  QdqAxis(n, g, "x_scale");
  SetOut(g, n, 0, DType::kF32, In(g, n, 0).shape);
}

std::unique_ptr<Kernel> CreateDequantize(const Node& n, const Graph& g) {
  const QuantAxis ax = QdqAxis(n, g, "x_scale");
  const std::string who = n.Describe();
  auto make = [&](auto type) {
    using T = decltype(type);
    return MakeKernel([ax, who](const ExecContext&, const void* const* in, void* const* o, void*) {
      const float* scale = static_cast<const float*>(in[1]);
      CheckScales(who, ErrorCode::kInvalidArgument, scale, ax.channels, "x_scale");
      ref::dequantize_linear<T>(ax, static_cast<const T*>(in[0]), scale,
                                static_cast<const T*>(in[2]), static_cast<float*>(o[0]));
    });
  };
  const DType t = In(g, n, 0).dtype;
  if (t == DType::kI32) return make(int32_t{});
  return t == DType::kU8 ? make(uint8_t{}) : make(int8_t{});
}

}  // namespace

ConstTensor FoldInt8Dequantize(const Node& n, const Graph& g) {
  if (!n.Is("DequantizeLinear") || n.outputs.size() != 1 || !In(g, n, 0).is_constant() ||
      !In(g, n, 1).is_constant() || In(g, n, 0).dtype != DType::kI8 ||
      In(g, n, 1).dtype != DType::kF32 || g.values[n.outputs[0]].dtype != DType::kF32)
    return nullptr;
  if (n.HasInput(2)) {  // symmetric weights only: every zero point 0
    if (!In(g, n, 2).is_constant()) return nullptr;
    const TensorData& zp = *In(g, n, 2).constant;
    for (int64_t i = 0; i < zp.elements(); ++i)
      if (zp.as<int8_t>()[i] != 0) return nullptr;
  }
  const QuantAxis ax = QdqAxis(n, g, "x_scale");
  const TensorData& sc = *In(g, n, 1).constant;
  Int8Source src{In(g, n, 0).constant, {}, 0};
  if (ax.channels > 1)
    src.axis = static_cast<int>(
        NormAxis(n, n.GetInt("axis", 1), static_cast<int64_t>(In(g, n, 0).shape.size())));
  const int64_t count = ax.channels > 1 ? ax.channels : 1;
  if (sc.elements() < count) return nullptr;
  src.scale.assign(sc.as<float>(), sc.as<float>() + count);
  for (float v : src.scale)  // what DequantizeLinear's kernel would refuse stays with it
    if (!(std::isfinite(v) && v > 0.0f)) return nullptr;
  return TensorData::FromInt8(std::move(src));
}

std::optional<kernels::Int8Grid> Int8GridOf(const TensorData& w, bool linear) {
  const Shape& ws = w.shape();
  if (w.dtype() != DType::kF32 || ws.empty()) return std::nullopt;
  // Linear W [K, N] has a channel per column; OHWI conv weights one per row of K = kh*kw*Cin.
  const int64_t channels = linear ? ws.back() : ws[0];
  const int64_t k = w.elements() / std::max<int64_t>(channels, 1);
  const int ch_axis = linear ? static_cast<int>(ws.size()) - 1 : 0;
  const Int8Source* src = w.int8_source();
  if (!src || (src->scale.size() > 1 && src->axis != ch_axis))
    return kernels::FindInt8Grid(w.as<float>(), channels, k, linear ? 1 : k, linear ? channels : 1);
  kernels::Int8Grid grid;
  grid.scale.resize(static_cast<size_t>(channels));
  grid.q.resize(static_cast<size_t>(channels * k));
  const int8_t* q = src->q->as<int8_t>();
  for (int64_t c = 0; c < channels; ++c) {
    grid.scale[static_cast<size_t>(c)] = src->ScaleAt(c);
    for (int64_t i = 0; i < k; ++i) {
      const int8_t v = q[linear ? i * channels + c : c * k + i];
      if (v == -128) return std::nullopt;  // the kernels' weights are symmetric: [-127, 127]
      grid.q[static_cast<size_t>(c * k + i)] = v;
    }
  }
  return grid;
}

namespace {

// ---------------- DynamicQuantizeLinear ----------------
void InferDynamicQuantize(const Node& n, Graph& g) {
  RequireOutputs(n);
  RequireFloat(g, n, 0);
  SetOut(g, n, 0, DType::kU8, In(g, n, 0).shape);
  SetOut(g, n, 1, DType::kF32, {});
  SetOut(g, n, 2, DType::kU8, {});
}

std::unique_ptr<Kernel> CreateDynamicQuantize(const Node& n, const Graph& g) {
  const int64_t count = NumElements(In(g, n, 0).shape);
  return MakeKernel([count](const ExecContext&, const void* const* in, void* const* o, void*) {
    ref::dynamic_quantize_linear_u8(count, static_cast<const float*>(in[0]),
                                    static_cast<uint8_t*>(o[0]), static_cast<float*>(o[1]),
                                    static_cast<uint8_t*>(o[2]));
  });
}

// ---------------- integer products: shared checks ----------------
void CheckIntegerK(const Node& n, int64_t k) {
  if (k > kernels::kMaxExactIntegerK)
    Unsupported(n, fmt::format("K = {} products per output exceed {}, beyond which int32 "
                               "accumulators could overflow",
                               k, kernels::kMaxExactIntegerK));
}

// Calls f(TA{}, TB{}) for the 8-bit types of inputs a and b.
template <class F>
void With8BitPair(DType a, DType b, F&& f) {
  With8Bit(a, [&](auto ta) { With8Bit(b, [&](auto tb) { f(ta, tb); }); });
}

// Per-channel float multipliers a_scale * b_scale[c] / y_scale (ONNX Runtime's order of float
// operations), after checking every scale; written to `mult` (channels floats).
void Multipliers(const std::string& who, const float* a_scale, const float* b_scale,
                 int64_t b_stride, const float* y_scale, int64_t channels, float* mult) {
  CheckScales(who, ErrorCode::kInvalidArgument, a_scale, 1, "input scale");
  CheckScales(who, ErrorCode::kInvalidArgument, b_scale, b_stride ? channels : 1, "weight scale");
  CheckScales(who, ErrorCode::kInvalidArgument, y_scale, 1, "y_scale");
  for (int64_t c = 0; c < channels; ++c) mult[c] = a_scale[0] * b_scale[c * b_stride] / y_scale[0];
}

size_t Align64(size_t bytes) { return (bytes + 63) / 64 * 64; }

// The kernel of an integer op given `acc(in, i, out)`, which writes batch i's int32 accumulators
// (`per_batch` elements laid out as `axis` says) to out. MatMulInteger / ConvInteger output them;
// QLinearMatMul / QLinearConv requantize each batch into the output type with the multipliers
// a_scale * b_scale[c] / y_scale (inputs 1, 4, 6; `b_stride` 1 per channel, 0 per tensor), the
// int32 bias (input `bias`, -1 for none) and the output zero point (input 7).
template <class Acc>
std::unique_ptr<Kernel> IntegerOpKernel(bool qlinear, DType out, const std::string& who,
                                        int64_t batches, QuantAxis axis, int64_t b_stride, int bias,
                                        Acc acc) {
  const int64_t per_batch = axis.outer * axis.channels * axis.inner;
  if (!qlinear) {
    return MakeKernel([=](const ExecContext&, const void* const* in, void* const* o, void*) {
      for (int64_t i = 0; i < batches; ++i) acc(in, i, static_cast<int32_t*>(o[0]) + i * per_batch);
    });
  }
  const size_t acc_bytes = Align64(static_cast<size_t>(per_batch) * sizeof(int32_t));
  const size_t scratch = acc_bytes + static_cast<size_t>(axis.channels) * sizeof(float);
  std::unique_ptr<Kernel> k;
  With8Bit(out, [&](auto ty) {
    using TY = decltype(ty);
    k = MakeKernel(
        [=](const ExecContext&, const void* const* in, void* const* o, void* s) {
          auto* accs = static_cast<int32_t*>(s);
          auto* mult = reinterpret_cast<float*>(static_cast<uint8_t*>(s) + acc_bytes);
          Multipliers(who, static_cast<const float*>(in[1]), static_cast<const float*>(in[4]),
                      b_stride, static_cast<const float*>(in[6]), axis.channels, mult);
          for (int64_t i = 0; i < batches; ++i) {
            acc(in, i, accs);
            ref::requantize<TY>(axis, accs,
                                bias >= 0 ? static_cast<const int32_t*>(in[bias]) : nullptr, mult,
                                ZeroPointIn<TY>(in, 7), static_cast<TY*>(o[0]) + i * per_batch);
          }
        },
        scratch);
  });
  return k;
}

// ---------------- MatMulInteger / QLinearMatMul ----------------
// Input indices of A, B and their zero points, and of the scales (QLinearMatMul only).
struct MatMulInputs {
  size_t a, b;
  int a_zp, b_zp;
  bool qlinear;
};

MatMulInputs MatMulIndices(const Node& n) {
  return n.Is("QLinearMatMul") ? MatMulInputs{0, 3, 2, 5, true} : MatMulInputs{0, 1, 2, 3, false};
}

// Checks types and parameter shapes; returns the geometry and the stride of B's per-column zero
// point and scale.
MatMulGeom CheckIntegerMatMul(const Node& n, const Graph& g, int64_t* b_stride) {
  const MatMulInputs ix = MatMulIndices(n);
  RequireInt(g, n, ix.a, "A");
  RequireInt(g, n, ix.b, "B");
  for (int zp : {ix.a_zp, ix.b_zp})
    if (n.HasInput(static_cast<size_t>(zp)))
      RequireInt(g, n, static_cast<size_t>(zp), "zero point",
                 static_cast<int>(zp == ix.a_zp ? ix.a : ix.b));
  MatMulGeom geo = MatMulGeometry(n, In(g, n, ix.a).shape, In(g, n, ix.b).shape);
  CheckIntegerK(n, geo.k);
  if (ix.qlinear) {
    CheckParams(n, g, 1, ix.a_zp, -1, "a_scale");
    *b_stride = CheckParams(n, g, 4, ix.b_zp, geo.n, "b_scale", "per column of B");
    CheckParams(n, g, 6, 7, -1, "y_scale");
    RequireInt(g, n, 7, "y_zero_point");
  } else {
    // No scales: the zero points' shapes alone (a per tensor, b per tensor or per column).
    *b_stride = 0;
    if (n.HasInput(2) && !Single(In(g, n, 2).shape))
      Unsupported(n, fmt::format("a_zero_point of shape {}: only per-tensor is supported",
                                 ShapeStr(In(g, n, 2).shape)));
    if (n.HasInput(3) && !Single(In(g, n, 3).shape)) {
      if (In(g, n, 3).shape != Shape{geo.n})
        Fail(n, fmt::format("b_zero_point has shape {}; it must be a scalar or [{}]",
                            ShapeStr(In(g, n, 3).shape), geo.n));
      *b_stride = 1;
    }
  }
  return geo;
}

void InferIntegerMatMul(const Node& n, Graph& g) {
  RequireOutputs(n);
  int64_t b_stride = 0;
  const MatMulGeom geo = CheckIntegerMatMul(n, g, &b_stride);
  SetOut(g, n, 0, n.Is("QLinearMatMul") ? In(g, n, 7).dtype : DType::kI32, geo.out);
}

std::unique_ptr<Kernel> CreateIntegerMatMul(const Node& n, const Graph& g) {
  int64_t bs = 0;
  const MatMulGeom geo = CheckIntegerMatMul(n, g, &bs);
  const MatMulInputs ix = MatMulIndices(n);
  std::unique_ptr<Kernel> k;
  With8BitPair(In(g, n, ix.a).dtype, In(g, n, ix.b).dtype, [&](auto ta, auto tb) {
    using TA = decltype(ta);
    using TB = decltype(tb);
    // Batch i's int32 [m][n].
    auto gemm = [geo, ix, bs](const void* const* in, int64_t i, int32_t* acc) {
      ref::qgemm_s32<TA, TB>(geo.m, geo.n, geo.k, static_cast<const TA*>(in[ix.a]) + geo.a_off[i],
                             geo.k, ZeroPointIn<TA>(in, static_cast<size_t>(ix.a_zp)),
                             static_cast<const TB*>(in[ix.b]) + geo.b_off[i], geo.n,
                             static_cast<const TB*>(in[ix.b_zp]), bs, acc, geo.n);
    };
    k = IntegerOpKernel(ix.qlinear, g.values[n.outputs[0]].dtype, n.Describe(),
                        static_cast<int64_t>(geo.a_off.size()), QuantAxis{geo.m, geo.n, 1}, bs, -1,
                        gemm);
  });
  return k;
}

// ---------------- ConvInteger / QLinearConv ----------------
struct ConvInputs {
  size_t x, w;
  int x_zp, w_zp, bias;
  bool qlinear;
};

ConvInputs ConvIndices(const Node& n) {
  return n.Is("QLinearConv") ? ConvInputs{0, 3, 2, 5, 8, true} : ConvInputs{0, 1, 2, 3, -1, false};
}

ConvShape CheckIntegerConv(const Node& n, const Graph& g, int64_t* w_stride) {
  const ConvInputs ix = ConvIndices(n);
  RequireInt(g, n, ix.x, "x");
  RequireInt(g, n, ix.w, "w");
  for (int zp : {ix.x_zp, ix.w_zp})
    if (n.HasInput(static_cast<size_t>(zp)))
      RequireInt(g, n, static_cast<size_t>(zp), "zero point",
                 static_cast<int>(zp == ix.x_zp ? ix.x : ix.w));
  const ConvShape cs = ConvGeometry(n, g, ix.x, ix.w, ix.bias);
  int64_t k = 0;
  if (!CheckedMul(cs.p.c_in / cs.p.groups, cs.p.kh * cs.p.kw, &k)) k = INT64_MAX;
  CheckIntegerK(n, k);
  if (ix.qlinear) {
    CheckParams(n, g, 1, ix.x_zp, -1, "x_scale");
    *w_stride = CheckParams(n, g, 4, ix.w_zp, cs.p.c_out, "w_scale", "per output channel");
    CheckParams(n, g, 6, 7, -1, "y_scale");
    RequireInt(g, n, 7, "y_zero_point");
    if (n.HasInput(8) && In(g, n, 8).dtype != DType::kI32)
      Fail(n, fmt::format("bias has type {}; it must be int32", DTypeName(In(g, n, 8).dtype)));
  } else {
    *w_stride = 0;
    if (n.HasInput(2) && !Single(In(g, n, 2).shape))
      Unsupported(n, fmt::format("x_zero_point of shape {}: only per-tensor is supported",
                                 ShapeStr(In(g, n, 2).shape)));
    if (n.HasInput(3) && !Single(In(g, n, 3).shape)) {
      if (In(g, n, 3).shape != Shape{cs.p.c_out})
        Fail(n, fmt::format("w_zero_point has shape {}; it must be a scalar or [{}]",
                            ShapeStr(In(g, n, 3).shape), cs.p.c_out));
      *w_stride = 1;
    }
  }
  return cs;
}

void InferIntegerConv(const Node& n, Graph& g) {
  RequireOutputs(n);
  int64_t ws = 0;
  const ConvShape cs = CheckIntegerConv(n, g, &ws);
  const ref::Conv2dParams& p = cs.p;
  SetOut(g, n, 0, n.Is("QLinearConv") ? In(g, n, 7).dtype : DType::kI32,
         cs.spatial == 2 ? Shape{p.n, p.c_out, p.h_out, p.w_out} : Shape{p.n, p.c_out, p.w_out});
}

std::unique_ptr<Kernel> CreateIntegerConv(const Node& n, const Graph& g) {
  int64_t ws = 0;
  const ref::Conv2dParams p = CheckIntegerConv(n, g, &ws).p;
  const ConvInputs ix = ConvIndices(n);
  // The executor pads the input pointers to 8, so index 8 (the bias) exists only when given.
  const int bias = n.HasInput(8) ? 8 : -1;
  std::unique_ptr<Kernel> k;
  With8BitPair(In(g, n, ix.x).dtype, In(g, n, ix.w).dtype, [&](auto tx, auto tw) {
    using TX = decltype(tx);
    using TW = decltype(tw);
    auto conv = [p, ix, ws](const void* const* in, int64_t, int32_t* acc) {
      ref::qconv2d_nchw_s32<TX, TW>(
          p, static_cast<const TX*>(in[ix.x]), ZeroPointIn<TX>(in, static_cast<size_t>(ix.x_zp)),
          static_cast<const TW*>(in[ix.w]), static_cast<const TW*>(in[ix.w_zp]), ws, acc);
    };
    k = IntegerOpKernel(ix.qlinear, g.values[n.outputs[0]].dtype, n.Describe(), 1,
                        QuantAxis{p.n, p.c_out, p.h_out * p.w_out}, ws, bias, conv);
  });
  return k;
}

}  // namespace

FakeQuantParams FakeQuantAttrs(const Node& n, const char* scale_attr, const char* zp_attr) {
  const float scale = n.GetFloat(scale_attr, 0.0f);
  const int64_t zp = n.GetInt(zp_attr, -1);
  if (!(std::isfinite(scale) && scale > 0.0f))
    Fail(n, fmt::format("{} is {:g}; a scale must be positive and finite", scale_attr, scale));
  if (zp < 0 || zp > 255) Fail(n, fmt::format("{} is {}; it must be in [0, 255]", zp_attr, zp));
  return {scale, static_cast<int32_t>(zp)};
}

namespace {

// ---------------- effi.FakeQuant ----------------
// x -> QuantizeLinear -> DequantizeLinear with one per-tensor scale and zero point (the fuse_qdq
// pass's rewrite of that pair): y = (saturate_0_255(nearbyint(x / scale) + zero_point) -
// zero_point) * scale, in u8 terms (an int8 pair is the same with zero_point + 128). Where an int8
// op consumes it, the fuse_int8 pass moves it into that op; elsewhere (the inputs of attention's
// activation x activation MatMuls, a merged classifier head) it runs as this one pass over x.
void InferFakeQuant(const Node& n, Graph& g) {
  RequireFloatInputs(g, n);
  FakeQuantAttrs(n, "scale", "zero_point");
  SetOut(g, n, 0, DType::kF32, In(g, n, 0).shape);
}

std::unique_ptr<Kernel> CreateFakeQuant(const Node& n, const Graph& g) {
  const FakeQuantParams q = FakeQuantAttrs(n, "scale", "zero_point");
  const int64_t count = NumElements(In(g, n, 0).shape);
  const bool reference = UseReferenceKernels();
  return MakeKernel([=](const ExecContext& ctx, const void* const* in, void* const* o, void*) {
    constexpr int64_t kChunk = 4096;  // tasks of 16 KiB: L1's largest FakeQuant has 37,632 floats
    const float* x = static_cast<const float*>(in[0]);
    float* y = static_cast<float*>(o[0]);
    ParallelRows(ctx, (count + kChunk - 1) / kChunk, count >= 4 * kChunk,
                 [&](int64_t c0, int64_t c1, int) {
                   const int64_t i0 = c0 * kChunk, i1 = std::min(count, c1 * kChunk);
                   kernels::FakeQuantF32(i1 - i0, x + i0, q.scale, q.zero_point, y + i0, reference);
                 });
  });
}

}  // namespace

// ---------------- int8 effi.Conv / effi.Linear ----------------
// Attributes: x_scale, x_zero_point (input 0's quantization, always); x_u8 = 1: input 0 is that
// u8 tensor already (a producing int8 op wrote it), else float and quantized here; y_scale,
// y_zero_point: the result is fake-quantized before post_bias (input 4), the activation and
// post_scale (input 5), ONNX Runtime's QDQ layout (fuse_int8_output); out_scale, out_zero_point:
// output 0 is u8, quantized in the epilogue for int8 consumers (chain_int8).
void CheckInt8Node(const Node& n, const Graph& g) {
  FakeQuantAttrs(n, "x_scale", "x_zero_point");
  if (n.Has("y_scale") || n.Has("y_zero_point")) FakeQuantAttrs(n, "y_scale", "y_zero_point");
  if (n.Has("out_scale") || n.Has("out_zero_point"))
    FakeQuantAttrs(n, "out_scale", "out_zero_point");
  if (!In(g, n, 1).is_constant()) Fail(n, "an int8 op needs constant weights");
  if (n.GetInt("group", 1) != 1 || n.GetInt("nchw_input", 0) != 0)
    Unsupported(n, "int8 convolution with groups or NCHW input");
}

void RequireGemmOpTypes(const Graph& g, const Node& n) {
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    if (!n.HasInput(i)) continue;
    if (i == 0 && n.GetInt("x_u8", 0) != 0) {
      if (In(g, n, 0).dtype != DType::kU8)
        Fail(n, fmt::format("input 0 has type {}; x_u8 says uint8", DTypeName(In(g, n, 0).dtype)));
    } else {
      RequireFloat(g, n, i);
    }
  }
}

DType GemmOpOutputType(const Node& n) { return n.Has("out_scale") ? DType::kU8 : DType::kF32; }

void CheckPostChannelInputs(const Node& n, const Graph& g, int64_t channels) {
  for (size_t i : {size_t{4}, size_t{5}}) {
    if (!n.HasInput(i)) continue;
    if (!IsInt8Node(n)) Fail(n, "post_bias / post_scale inputs (4, 5) need an int8 op");
    if (In(g, n, i).shape != Shape{channels})
      Fail(n,
           fmt::format("input {} must be [{}], got {}", i, channels, ShapeStr(In(g, n, i).shape)));
  }
}

namespace {

// Quantizes rows [r0, r1) of x ([rows][k] floats) to u8.
void QuantizeRows(bool reference, const FakeQuantParams& q, const float* x, int64_t k, int64_t r0,
                  int64_t r1, uint8_t* y) {
  const int64_t off = r0 * k, len = (r1 - r0) * k;
  if (reference)
    ref::quantize_linear_u8(len, x + off, q.scale, q.zero_point, y + off);
  else
    kernels::QuantizeU8(len, x + off, q.scale, q.zero_point, y + off);
}

size_t Round64(size_t bytes) { return (bytes + 63) / 64 * 64; }

}  // namespace

std::unique_ptr<Kernel> CreateInt8Gemm(const Node& n, const Graph& g, const ref::Conv2dParams* conv,
                                       int64_t m, int64_t k, int64_t nn, ref::Activation act) {
  CheckInt8Node(n, g);
  const FakeQuantParams q = FakeQuantAttrs(n, "x_scale", "x_zero_point");
  const bool x_u8 = n.GetInt("x_u8", 0) != 0, y_u8 = n.Has("out_scale");
  const FakeQuantParams yq =
      y_u8 ? FakeQuantAttrs(n, "out_scale", "out_zero_point") : FakeQuantParams{1.0f, 0};
  const FakeQuantParams fq =
      n.Has("y_scale") ? FakeQuantAttrs(n, "y_scale", "y_zero_point") : FakeQuantParams{0.0f, 0};
  if (k > kernels::kMaxExactIntegerK)
    Unsupported(n, fmt::format("int8 product over K = {} (at most {} is exact in int32)", k,
                               kernels::kMaxExactIntegerK));
  // Linear weights are [k][nn] (channel = column), OHWI conv weights [nn][k] (channel = row).
  auto grid = Int8GridOf(*In(g, n, 1).constant, n.IsEffi("Linear"));
  if (!grid) Fail(n, "int8 op whose weights are not on an int8 grid (q * scale per channel)");
  auto multiplier = std::make_shared<std::vector<float>>(grid->scale);
  for (float& v : *multiplier) v *= q.scale;
  const bool reference = UseReferenceKernels();
  const bool pointwise = !conv || IsPointwiseConv(*conv);
  const ref::Conv2dParams p = conv ? *conv : ref::Conv2dParams{};
  // The quantized input: [m][k] for a pointwise product, the whole NHWC input for im2col (none
  // when it arrives as u8).
  const int64_t in_elems = pointwise ? m * k : p.n * p.h_in * p.w_in * p.c_in;
  const size_t qx_bytes = x_u8 ? 0 : Round64(static_cast<size_t>(in_elems));
  // Input 0 as u8: the input itself, or its quantization into the scratch's first qx_bytes.
  auto quantized_input = [=](const ExecContext& ctx, const void* in0, void* scratch) {
    if (x_u8) return static_cast<const uint8_t*>(in0);
    uint8_t* qx = static_cast<uint8_t*>(scratch);
    const float* x = static_cast<const float*>(in0);
    const int64_t rows = pointwise ? m : p.n * p.h_in * p.w_in, cols = in_elems / rows;
    ParallelRows(ctx, rows, !reference && rows >= 64, [&](int64_t r0, int64_t r1, int) {
      QuantizeRows(reference, q, x, cols, r0, r1, qx);
    });
    return static_cast<const uint8_t*>(qx);
  };
  if (reference) {
    // The plain integer path: ref quantize, whole im2col, ref::qgemm_u8s8_s32, float epilogue,
    // ref quantize of a u8 output.
    auto qw = std::make_shared<std::vector<int8_t>>(std::move(grid->q));
    const size_t col_bytes = pointwise ? 0 : Round64(static_cast<size_t>(m * k));
    const size_t acc_bytes = Round64(static_cast<size_t>(m * nn) * sizeof(int32_t));
    const size_t yf_bytes = y_u8 ? static_cast<size_t>(m * nn) * sizeof(float) : 0;
    return Prepacked(
        MakeKernel(
            [=](const ExecContext& ctx, const void* const* in, void* const* o, void* scratch) {
              uint8_t* col = static_cast<uint8_t*>(scratch) + qx_bytes;
              int32_t* acc = reinterpret_cast<int32_t*>(col + col_bytes);
              float* yf = y_u8 ? reinterpret_cast<float*>(col + col_bytes + acc_bytes)
                               : static_cast<float*>(o[0]);
              const uint8_t* qx = quantized_input(ctx, in[0], scratch);
              if (!pointwise) kernels::Im2colNhwc<uint8_t>(p, qx, 0, m, q.zero_point, col);
              ref::qgemm_u8s8_s32(true, m, nn, k, pointwise ? qx : col, k, q.zero_point, qw->data(),
                                  k, acc, nn);
              ref::qgemm_epilogue_f32(
                  m, nn, acc, multiplier->data(), static_cast<const float*>(in[2]), fq.scale,
                  fq.zero_point, static_cast<const float*>(in[4]), act,
                  static_cast<const float*>(in[5]), static_cast<const float*>(in[3]), nn, yf);
              if (y_u8)
                ref::quantize_linear_u8(m * nn, yf, yq.scale, yq.zero_point,
                                        static_cast<uint8_t*>(o[0]));
            },
            qx_bytes + col_bytes + acc_bytes + yf_bytes),
        {1});
  }
  // Weights packed once per plan (q is [nn][k]: B^T), shared read-only by every session.
  auto packed = std::make_shared<const kernels::PackedBQ8>(grid->q.data(), k, nn, k, true);
  // Fake quantization, then only the activation before the u8 output (the QDQ layout's fc1:
  // Conv -> Q -> DQ -> GELU -> Q): the output is a function of the fake-quant code alone, so the
  // epilogue quantizes to the fake-quant grid and maps the code through a 256-byte table that the
  // reference fills here (exact erf GELU and QuantizeLinear per code). L1 224 on the output-pair
  // QDQ file: GELU's ~25 vector ops per 16 outputs become one table lookup per 64.
  const bool code_map =
      y_u8 && fq.scale != 0.0f && !n.HasInput(3) && !n.HasInput(4) && !n.HasInput(5);
  std::shared_ptr<const std::vector<uint8_t>> lut;
  if (code_map) {
    std::vector<float> v(256);
    for (int c = 0; c < 256; ++c)
      v[static_cast<size_t>(c)] =
          (static_cast<float>(c) - static_cast<float>(fq.zero_point)) * fq.scale;
    ref::epilogue_f32(1, 256, nullptr, act, nullptr, v.data());
    auto table = std::make_shared<std::vector<uint8_t>>(256);
    ref::quantize_linear_u8(256, v.data(), yq.scale, yq.zero_point, table->data());
    lut = std::move(table);
  }
  auto epilogue = [multiplier, act, nn, yq, fq, lut](const void* const* in) {
    kernels::QGemmEpilogue ep;
    ep.multiplier = multiplier->data();
    ep.bias = static_cast<const float*>(in[2]);
    ep.fq_scale = fq.scale;
    ep.fq_zero_point = fq.zero_point;
    ep.post_bias = static_cast<const float*>(in[4]);
    ep.post_scale = static_cast<const float*>(in[5]);
    ep.act = act;
    ep.residual = static_cast<const float*>(in[3]);
    ep.ldr = nn;
    ep.out_scale = yq.scale;
    ep.out_zero_point = yq.zero_point;
    if (lut) {
      ep.fq_scale = 0.0f;
      ep.act = ref::Activation::kNone;
      ep.out_scale = fq.scale;
      ep.out_zero_point = fq.zero_point;
      ep.lut = lut->data();
    }
    return ep;
  };
  if (pointwise) {
    // Quantize A by rows, then one 2-D split GEMM over it (the quantized copy is a quarter of the
    // float input and stays in cache for the product).
    return Prepacked(
        MakeKernel(
            [=](const ExecContext& ctx, const void* const* in, void* const* o, void* scratch) {
              const uint8_t* qa = quantized_input(ctx, in[0], scratch);
              if (y_u8)
                ParallelQGemm(ctx, m, qa, k, q.zero_point, *packed, static_cast<uint8_t*>(o[0]), nn,
                              epilogue(in));
              else
                ParallelQGemm(ctx, m, qa, k, q.zero_point, *packed, static_cast<float*>(o[0]), nn,
                              epilogue(in));
            },
            qx_bytes),
        {1});
  }
  // KxK: quantize the whole input once (padding taps then read the zero point), then im2col +
  // GEMM as the fp32 convolution schedules it.
  const Im2colGemmPlan plan = PlanIm2colGemm(m, k, 1);
  return Prepacked(
      MakeKernel(
          [=](const ExecContext& ctx, const void* const* in, void* const* o, void* scratch) {
            const uint8_t* qx = quantized_input(ctx, in[0], scratch);
            const kernels::QGemmEpilogue ep = epilogue(in);
            ParallelIm2colGemm<uint8_t>(
                ctx, plan, *packed, static_cast<uint8_t*>(scratch) + qx_bytes,
                [&](int64_t m0, int64_t m1, uint8_t* col) {
                  kernels::Im2colNhwc<uint8_t>(p, qx, m0, m1, static_cast<uint8_t>(q.zero_point),
                                               col);
                },
                [&](const uint8_t* a, int64_t r0, int64_t r1, int64_t n0, int64_t n1) {
                  kernels::QGemmEpilogue e = ep;
                  if (e.residual) e.residual += r0 * nn;
                  if (y_u8)
                    kernels::QGemmPacked(0, r1 - r0, n0, n1, a, k, q.zero_point, *packed,
                                         static_cast<uint8_t*>(o[0]) + r0 * nn, nn, e);
                  else
                    kernels::QGemmPacked(0, r1 - r0, n0, n1, a, k, q.zero_point, *packed,
                                         static_cast<float*>(o[0]) + r0 * nn, nn, e);
                });
          },
          qx_bytes + plan.scratch_shared, plan.scratch_per_thread),
      {1});
}

// Constant folding (passes/infer_fold.cc) folds these like every op whose inputs are all constant,
// with these same kernels, so a folded value is bit for bit what running the node would give:
// DequantizeLinear of constant int8 weights becomes a float32 constant, and the float op after it
// runs on exactly the weights the QDQ graph defines (4x the weight bytes, counted against the
// memory limit like any folded constant). The int8 path recovers the int8 weights from those
// floats (kernels::FindInt8Grid) rather than keeping DequantizeLinear unfolded: every fp32 pass
// (BatchNorm and layer-scale folds, the NHWC re-layout, Linear fusion) then works on QDQ models
// unchanged, and whether a weight runs in int8 depends only on its values, not on how it was
// written. QuantizeLinear of a constant folds too (a bias or weight quantized in the graph).
void RegisterQuantOps(std::vector<OpSchema>& r) {
  r.push_back({"",
               "QuantizeLinear",
               2,
               3,
               1,
               1,
               {"axis", "saturate", "block_size", "output_dtype"},
               InferQuantize,
               CreateQuantize});
  r.push_back({"",
               "DequantizeLinear",
               2,
               3,
               1,
               1,
               {"axis", "block_size"},
               InferDequantize,
               CreateDequantize});
  r.push_back(
      {"", "DynamicQuantizeLinear", 1, 1, 3, 3, {}, InferDynamicQuantize, CreateDynamicQuantize});
  r.push_back({"", "MatMulInteger", 2, 4, 1, 1, {}, InferIntegerMatMul, CreateIntegerMatMul});
  r.push_back({"", "QLinearMatMul", 8, 8, 1, 1, {}, InferIntegerMatMul, CreateIntegerMatMul});
  const std::vector<std::string> conv_attrs = {"auto_pad",     "dilations", "group",
                                               "kernel_shape", "pads",      "strides"};
  r.push_back({"", "ConvInteger", 2, 4, 1, 1, conv_attrs, InferIntegerConv, CreateIntegerConv});
  r.push_back({"", "QLinearConv", 8, 9, 1, 1, conv_attrs, InferIntegerConv, CreateIntegerConv});
  r.push_back({kEffiDomain,
               "FakeQuant",
               1,
               1,
               1,
               1,
               {"scale", "zero_point"},
               InferFakeQuant,
               CreateFakeQuant});
}

}  // namespace effi::ops
