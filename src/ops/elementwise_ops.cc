// Elementwise ops: ONNX unary/binary/variadic arithmetic with numpy broadcasting, comparisons,
// Where, Cast, Clip, and effi.Gelu (the fused exact-GELU pattern).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "kernels/elementwise.h"
#include "kernels/ref/ref_kernels.h"
#include "ops/op.h"

namespace effi::ops {
namespace {

namespace ref = effi::kernels::ref;

struct BroadcastGeom {
  Shape out;
  std::vector<int64_t> sa, sb;
};

BroadcastGeom Geometry(const Shape& a, const Shape& b, const Shape& out) {
  BroadcastGeom geo{out, std::vector<int64_t>(out.size()), std::vector<int64_t>(out.size())};
  ref::broadcast_strides(static_cast<int>(a.size()), a.data(), static_cast<int>(out.size()),
                         out.data(), geo.sa.data());
  ref::broadcast_strides(static_cast<int>(b.size()), b.data(), static_cast<int>(out.size()),
                         out.data(), geo.sb.data());
  return geo;
}

// Generic strided broadcast loop for the few ops the reference kernel family does not cover
// (comparisons, Where). f(out_index, a_offset, b_offset).
template <typename F>
void ForEachBroadcast(const Shape& out, const std::vector<int64_t>& sa,
                      const std::vector<int64_t>& sb, F&& f) {
  const int r = static_cast<int>(out.size());
  int64_t total = 1;
  for (int64_t d : out) total *= d;
  std::vector<int64_t> idx(r, 0);
  int64_t oa = 0, ob = 0;
  for (int64_t i = 0; i < total; ++i) {
    f(i, oa, ob);
    for (int d = r - 1; d >= 0; --d) {
      if (++idx[d] < out[d]) {
        oa += sa[d];
        ob += sb[d];
        break;
      }
      oa -= sa[d] * (out[d] - 1);
      ob -= sb[d] * (out[d] - 1);
      idx[d] = 0;
    }
  }
}

ref::BinaryOp BinaryFor(const std::string& op) {
  if (op == "Add" || op == "Sum" || op == "Mean") return ref::BinaryOp::kAdd;  // Mean: sum / n
  if (op == "Sub") return ref::BinaryOp::kSub;
  if (op == "Mul") return ref::BinaryOp::kMul;
  if (op == "Div") return ref::BinaryOp::kDiv;
  if (op == "Pow") return ref::BinaryOp::kPow;
  if (op == "Max") return ref::BinaryOp::kMax;
  return ref::BinaryOp::kMin;
}

void InferBinary(const Node& n, Graph& g) {
  const Value& a = In(g, n, 0);
  Shape s = a.shape;
  for (size_t i = 1; i < n.inputs.size(); ++i) {
    const Value& b = In(g, n, i);
    if (b.dtype != a.dtype && !n.Is("Pow"))
      Fail(n, fmt::format("input types differ ({} vs {})", DTypeName(a.dtype), DTypeName(b.dtype)));
    s = BroadcastShapes(n, s, b.shape);
  }
  for (size_t i = 0; i < n.inputs.size(); ++i) {  // Pow's exponent may differ in type (opset 12+)
    const DType t = In(g, n, i).dtype;
    if (t != DType::kF32 && t != DType::kI64 && t != DType::kI32)
      Unsupported(n, fmt::format("type {} is not supported", DTypeName(t)));
  }
  // ONNX defines Mean for floating types only; an integer Mean would need a rounding rule the spec
  // does not give, so it is refused here rather than computed one way or another.
  if (n.Is("Mean") && a.dtype != DType::kF32)
    Unsupported(n, fmt::format("Mean of {} (ONNX defines Mean for floating types only)",
                               DTypeName(a.dtype)));
  SetOut(g, n, 0, a.dtype, s);
}

template <typename T>
void RunBinaryChain(ref::BinaryOp op, const std::vector<Shape>& in_shapes, const Shape& out,
                    const void* const* in, void* o, void* scratch) {
  // Variadic (Sum/Max/Min/Mean) fold left-to-right: first into out, then in place.
  // An empty output has nothing to compute, and its intermediates may not be empty (Max of [4],
  // [4] and [0,3,4,4]: the first step is [4]) while the scratch is sized by the output: found by
  // fuzz_graph, a 16-byte write past the scratch.
  if (NumElements(out) == 0) return;
  T* y = static_cast<T*>(o);
  Shape acc_shape = in_shapes[0];
  const T* acc = static_cast<const T*>(in[0]);
  if (in_shapes.size() == 1) {
    std::memcpy(y, acc, sizeof(T) * static_cast<size_t>(NumElements(out)));
    return;
  }
  for (size_t i = 1; i < in_shapes.size(); ++i) {
    Shape step_out = out;
    if (i + 1 < in_shapes.size()) {
      // Intermediate result has the broadcast shape so far; right-align inside `out`.
      Shape s = acc_shape;
      size_t r = std::max(s.size(), in_shapes[i].size());
      step_out.assign(r, 1);
      for (size_t d = 0; d < r; ++d) {
        int64_t da = d < r - s.size() ? 1 : s[d - (r - s.size())];
        int64_t db = d < r - in_shapes[i].size() ? 1 : in_shapes[i][d - (r - in_shapes[i].size())];
        step_out[d] = std::max(da, db);
      }
    }
    BroadcastGeom geo = Geometry(acc_shape, in_shapes[i], step_out);
    T* dst = i + 1 < in_shapes.size() ? static_cast<T*>(scratch) + (i % 2) * NumElements(out) : y;
    ref::binary_broadcast<T>(op, static_cast<int>(step_out.size()), step_out.data(), acc,
                             geo.sa.data(), static_cast<const T*>(in[i]), geo.sb.data(), dst);
    acc = dst;
    acc_shape = step_out;
  }
}

// Below this many output elements an op runs on the calling thread: a task handoff costs a few
// microseconds, about what 64K floats take to stream.
constexpr int64_t kParallelElems = 1 << 16;

// Runs a planned float binary op, split over threads by rows (by column ranges when the plan is one
// flat row) once the output is large enough.
void RunBinaryPlan(const ExecContext& ctx, ref::BinaryOp op, const kernels::BinaryPlan& p,
                   const float* a, const float* b, float* y) {
  const int64_t total = p.outer * p.rows * p.cols;
  if (total == 0) return;
  const bool parallel = total >= kParallelElems && ctx.threads() > 1;
  if (p.outer == 1 && p.rows == 1) {
    const int64_t chunk = parallel ? RowsPerTask(ctx, p.cols, 64) : p.cols;
    ParallelFor(ctx, (p.cols + chunk - 1) / chunk, [&](int64_t t, int) {
      const int64_t c0 = t * chunk, c1 = std::min(p.cols, c0 + chunk);
      kernels::BinaryF32(op, 1, c1 - c0, a + c0 * p.a_cs, 0, p.a_cs, b + c0 * p.b_cs, 0, p.b_cs,
                         y + c0);
    });
    return;
  }
  const int64_t rows = p.outer * p.rows;
  ParallelRows(ctx, rows, parallel, [&](int64_t r0, int64_t end, int) {
    for (int64_t g = r0; g < end;) {
      const int64_t o = g / p.rows, r = g % p.rows, cnt = std::min(end - g, p.rows - r);
      kernels::BinaryF32(op, cnt, p.cols, a + o * p.a_os + r * p.a_rs, p.a_rs, p.a_cs,
                         b + o * p.b_os + r * p.b_rs, p.b_rs, p.b_cs, y + g * p.cols);
      g += cnt;
    }
  });
}

// Pow whose exponent has another type than the base: like numpy, computed in double and converted
// to the base type (integers truncate; results outside the type's range become 0).
double ElementAsDouble(DType t, const void* p, int64_t i) {
  if (t == DType::kF32) return static_cast<const float*>(p)[i];
  if (t == DType::kI64) return static_cast<double>(static_cast<const int64_t*>(p)[i]);
  return static_cast<const int32_t*>(p)[i];
}

template <typename T>
void PowMixed(const BroadcastGeom& geo, const void* a, const void* b, DType bt, void* y) {
  const T* pa = static_cast<const T*>(a);
  T* py = static_cast<T*>(y);
  ForEachBroadcast(geo.out, geo.sa, geo.sb, [&](int64_t i, int64_t ia, int64_t ib) {
    const double r = std::pow(static_cast<double>(pa[ia]), ElementAsDouble(bt, b, ib));
    if constexpr (std::is_floating_point_v<T>) {
      py[i] = static_cast<T>(r);
    } else {
      const bool fits = r > static_cast<double>(std::numeric_limits<T>::min()) - 1.0 &&
                        r < static_cast<double>(std::numeric_limits<T>::max());
      py[i] = fits ? static_cast<T>(r) : T{0};
    }
  });
}

std::unique_ptr<Kernel> CreateBinary(const Node& n, const Graph& g) {
  std::vector<Shape> shapes;
  for (size_t i = 0; i < n.inputs.size(); ++i) shapes.push_back(In(g, n, i).shape);
  const Shape out = g.values[n.outputs[0]].shape;
  const DType dt = In(g, n, 0).dtype;
  const ref::BinaryOp op = BinaryFor(n.op);
  const bool mean = n.Is("Mean");
  const int64_t count = static_cast<int64_t>(shapes.size());
  const size_t scratch = shapes.size() > 2 ? 2 * NumElements(out) * DTypeSize(dt) : 0;
  if (n.Is("Pow") && In(g, n, 1).dtype != dt) {
    const BroadcastGeom geo = Geometry(shapes[0], shapes[1], out);
    const DType et = In(g, n, 1).dtype;
    return MakeKernel([=](const ExecContext&, const void* const* in, void* const* o, void*) {
      if (dt == DType::kF32)
        PowMixed<float>(geo, in[0], in[1], et, o[0]);
      else if (dt == DType::kI64)
        PowMixed<int64_t>(geo, in[0], in[1], et, o[0]);
      else
        PowMixed<int32_t>(geo, in[0], in[1], et, o[0]);
    });
  }
  if (dt == DType::kF32 && shapes.size() == 2 && !mean && kernels::HasBinaryF32(op) &&
      !UseReferenceKernels()) {
    // Same shape, [C] / [1,1,1,C] rows, scalars, [rows,1] columns, and one outer loop around
    // those: vectorised. Anything else keeps the generic strided loop.
    const BroadcastGeom geo = Geometry(shapes[0], shapes[1], out);
    kernels::BinaryPlan plan;
    if (kernels::PlanBinary(static_cast<int>(out.size()), out.data(), geo.sa.data(), geo.sb.data(),
                            &plan)) {
      return MakeKernel([=](const ExecContext& ctx, const void* const* in, void* const* o, void*) {
        RunBinaryPlan(ctx, op, plan, static_cast<const float*>(in[0]),
                      static_cast<const float*>(in[1]), static_cast<float*>(o[0]));
      });
    }
  }
  return MakeKernel(
      [=](const ExecContext&, const void* const* in, void* const* o, void* s) {
        if (dt == DType::kF32) {
          RunBinaryChain<float>(op, shapes, out, in, o[0], s);
          if (mean) {
            float* y = static_cast<float*>(o[0]);
            for (int64_t i = 0, e = NumElements(out); i < e; ++i) y[i] /= static_cast<float>(count);
          }
        } else if (dt == DType::kI64) {
          RunBinaryChain<int64_t>(op, shapes, out, in, o[0], s);
        } else {
          RunBinaryChain<int32_t>(op, shapes, out, in, o[0], s);
        }
      },
      scratch);
}

ref::UnaryOp UnaryFor(const Node& n) {
  const std::string& op = n.op;
  if (n.IsEffi("Gelu")) return ref::UnaryOp::kGelu;
  if (op == "Relu") return ref::UnaryOp::kRelu;
  if (op == "Neg") return ref::UnaryOp::kNeg;
  if (op == "Abs") return ref::UnaryOp::kAbs;
  if (op == "Sqrt") return ref::UnaryOp::kSqrt;
  if (op == "Exp") return ref::UnaryOp::kExp;
  if (op == "Log") return ref::UnaryOp::kLog;
  if (op == "Erf") return ref::UnaryOp::kErf;
  if (op == "Sigmoid") return ref::UnaryOp::kSigmoid;
  if (op == "Tanh") return ref::UnaryOp::kTanh;
  if (op == "Reciprocal") return ref::UnaryOp::kReciprocal;
  if (op == "Floor") return ref::UnaryOp::kFloor;
  if (op == "Ceil") return ref::UnaryOp::kCeil;
  return ref::UnaryOp::kIdentity;
}

void InferUnary(const Node& n, Graph& g) {
  const Value& x = In(g, n, 0);
  const bool int_ok = n.Is("Neg") || n.Is("Abs") || n.Is("Relu");
  if (x.dtype != DType::kF32 && !(int_ok && (x.dtype == DType::kI64 || x.dtype == DType::kI32)))
    Unsupported(n, fmt::format("type {} is not supported", DTypeName(x.dtype)));
  SetOut(g, n, 0, x.dtype, x.shape);
}

std::unique_ptr<Kernel> CreateUnary(const Node& n, const Graph& g) {
  const int64_t count = NumElements(In(g, n, 0).shape);
  const DType dt = In(g, n, 0).dtype;
  const ref::UnaryOp op = UnaryFor(n);
  if (dt == DType::kF32 && kernels::HasUnaryF32(op) && !UseReferenceKernels()) {
    return MakeKernel([=](const ExecContext& ctx, const void* const* in, void* const* o, void*) {
      const float* x = static_cast<const float*>(in[0]);
      float* y = static_cast<float*>(o[0]);
      if (count == 0) return;
      const int64_t chunk =
          count >= kParallelElems && ctx.threads() > 1 ? RowsPerTask(ctx, count, 64) : count;
      ParallelFor(ctx, (count + chunk - 1) / chunk, [&](int64_t t, int) {
        const int64_t i0 = t * chunk;
        kernels::UnaryF32(op, x + i0, y + i0, std::min(count, i0 + chunk) - i0);
      });
    });
  }
  return MakeKernel([=](const ExecContext&, const void* const* in, void* const* o, void*) {
    if (dt == DType::kF32) {
      ref::unary_f32(op, static_cast<const float*>(in[0]), static_cast<float*>(o[0]), count);
      return;
    }
    // Integers: negation in the unsigned type, so it wraps like numpy instead of overflowing
    // (UB): Neg(INT64_MIN) == Abs(INT64_MIN) == INT64_MIN.
    auto apply = [&](auto* y, const auto* x) {
      using T = std::remove_cvref_t<decltype(*x)>;
      using U = std::make_unsigned_t<T>;
      for (int64_t i = 0; i < count; ++i) {
        T v = x[i];
        const T neg = static_cast<T>(static_cast<U>(U{0} - static_cast<U>(v)));
        if (op == ref::UnaryOp::kNeg)
          v = neg;
        else if (op == ref::UnaryOp::kAbs)
          v = v < 0 ? neg : v;
        else if (op == ref::UnaryOp::kRelu)
          v = v < 0 ? 0 : v;
        y[i] = v;
      }
    };
    if (dt == DType::kI64)
      apply(static_cast<int64_t*>(o[0]), static_cast<const int64_t*>(in[0]));
    else
      apply(static_cast<int32_t*>(o[0]), static_cast<const int32_t*>(in[0]));
  });
}

// ---- Clip (min/max as attributes before opset 11, optional inputs after) ----
void InferClip(const Node& n, Graph& g) {
  RequireFloat(g, n, 0);
  for (size_t i = 1; i < n.inputs.size(); ++i)
    if (n.inputs[i] >= 0) {
      if (!In(g, n, i).is_constant()) Unsupported(n, "non-constant min/max");
      // ONNX: min and max are scalars (found by fuzz_graph: an empty one was read past its end).
      if (NumElements(In(g, n, i).shape) != 1)
        Fail(n, fmt::format("{} must be a scalar, got shape {}", i == 1 ? "min" : "max",
                            ShapeStr(In(g, n, i).shape)));
    }
  SetOut(g, n, 0, DType::kF32, In(g, n, 0).shape);
}

std::unique_ptr<Kernel> CreateClip(const Node& n, const Graph& g) {
  float lo = n.GetFloat("min", -INFINITY), hi = n.GetFloat("max", INFINITY);
  if (n.HasInput(1)) lo = In(g, n, 1).constant->ToFloatVector().at(0);
  if (n.HasInput(2)) hi = In(g, n, 2).constant->ToFloatVector().at(0);
  const int64_t count = NumElements(In(g, n, 0).shape);
  return MakeKernel([=](const ExecContext&, const void* const* in, void* const* o, void*) {
    const float* x = static_cast<const float*>(in[0]);
    float* y = static_cast<float*>(o[0]);
    for (int64_t i = 0; i < count; ++i) y[i] = std::min(std::max(x[i], lo), hi);
  });
}

// ---- comparisons -> bool ----
void InferCompare(const Node& n, Graph& g) {
  const Value& a = In(g, n, 0);
  const Value& b = In(g, n, 1);
  if (a.dtype != b.dtype) Fail(n, "input types differ");
  if (a.dtype != DType::kF32 && a.dtype != DType::kI64 && a.dtype != DType::kI32)
    Unsupported(n, fmt::format("type {} is not supported", DTypeName(a.dtype)));
  SetOut(g, n, 0, DType::kBool, BroadcastShapes(n, a.shape, b.shape));
}

template <typename T>
void Compare(const std::string& op, const BroadcastGeom& geo, const void* a, const void* b,
             void* y) {
  const T* pa = static_cast<const T*>(a);
  const T* pb = static_cast<const T*>(b);
  uint8_t* py = static_cast<uint8_t*>(y);
  const int kind = op == "Equal"         ? 0
                   : op == "Less"        ? 1
                   : op == "Greater"     ? 2
                   : op == "LessOrEqual" ? 3
                                         : 4;
  ForEachBroadcast(geo.out, geo.sa, geo.sb, [&](int64_t i, int64_t ia, int64_t ib) {
    T x = pa[ia], z = pb[ib];
    bool r = kind == 0   ? x == z
             : kind == 1 ? x < z
             : kind == 2 ? x > z
             : kind == 3 ? x <= z
                         : x >= z;
    py[i] = r ? 1 : 0;
  });
}

std::unique_ptr<Kernel> CreateCompare(const Node& n, const Graph& g) {
  BroadcastGeom geo = Geometry(In(g, n, 0).shape, In(g, n, 1).shape, g.values[n.outputs[0]].shape);
  const DType dt = In(g, n, 0).dtype;
  const std::string op = n.op;
  return MakeKernel([=](const ExecContext&, const void* const* in, void* const* o, void*) {
    if (dt == DType::kF32)
      Compare<float>(op, geo, in[0], in[1], o[0]);
    else if (dt == DType::kI64)
      Compare<int64_t>(op, geo, in[0], in[1], o[0]);
    else
      Compare<int32_t>(op, geo, in[0], in[1], o[0]);
  });
}

// ---- Not / And / Or on bool ----
void InferNot(const Node& n, Graph& g) {
  if (In(g, n, 0).dtype != DType::kBool) Unsupported(n, "Not needs a bool input");
  SetOut(g, n, 0, DType::kBool, In(g, n, 0).shape);
}

// ---- Where ----
void InferWhere(const Node& n, Graph& g) {
  const Value& c = In(g, n, 0);
  const Value& a = In(g, n, 1);
  const Value& b = In(g, n, 2);
  if (c.dtype != DType::kBool) Fail(n, "condition must be bool");
  if (a.dtype != b.dtype) Fail(n, "X and Y types differ");
  SetOut(g, n, 0, a.dtype, BroadcastShapes(n, BroadcastShapes(n, c.shape, a.shape), b.shape));
}

std::unique_ptr<Kernel> CreateWhere(const Node& n, const Graph& g) {
  const Shape out = g.values[n.outputs[0]].shape;
  BroadcastGeom ca = Geometry(In(g, n, 0).shape, In(g, n, 1).shape, out);
  BroadcastGeom cb = Geometry(In(g, n, 2).shape, In(g, n, 2).shape, out);
  const size_t es = DTypeSize(In(g, n, 1).dtype);
  return MakeKernel([=](const ExecContext&, const void* const* in, void* const* o, void*) {
    const uint8_t* c = static_cast<const uint8_t*>(in[0]);
    const char* x = static_cast<const char*>(in[1]);
    const char* y = static_cast<const char*>(in[2]);
    char* dst = static_cast<char*>(o[0]);
    // Walk cond/X with one geometry and Y with another (same output order).
    std::vector<int64_t> yoff;
    yoff.reserve(static_cast<size_t>(NumElements(out)));
    ForEachBroadcast(out, cb.sa, cb.sb, [&](int64_t, int64_t iy, int64_t) { yoff.push_back(iy); });
    ForEachBroadcast(out, ca.sa, ca.sb, [&](int64_t i, int64_t ic, int64_t ix) {
      const char* src = c[ic] ? x + ix * es : y + yoff[i] * es;
      std::memcpy(dst + i * es, src, es);
    });
  });
}

// ---- Cast ----
DType CastTarget(const Node& n) {
  int64_t to = n.GetInt("to", 0);
  switch (to) {
    case 1:
      return DType::kF32;
    case 7:
      return DType::kI64;
    case 6:
      return DType::kI32;
    case 3:
      return DType::kI8;
    case 2:
      return DType::kU8;
    case 9:
      return DType::kBool;
    default:
      Unsupported(n, fmt::format("cast to ONNX type {} is not supported", to));
  }
}

void InferCast(const Node& n, Graph& g) {
  if (In(g, n, 0).dtype == DType::kUndefined) Fail(n, "input type unknown");
  SetOut(g, n, 0, CastTarget(n), In(g, n, 0).shape);
}

// Integer -> integer wraps modulo 2^bits (numpy's astype; well defined in C++20). Float ->
// integer truncates toward zero and saturates, NaN -> 0: SaturatingFloatToInt (graph/tensor.h)
// says why; shape-like constants read with ToInt64Vector follow the same rule. D = uint8_t is the
// uint8 target (the bool target goes through float in CreateCast: nonzero and NaN -> true).
template <typename D>
void CastTo(DType from, const void* x, D* y, int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    switch (from) {
      case DType::kF32: {
        float v = static_cast<const float*>(x)[i];
        if constexpr (std::is_same_v<D, float>)
          y[i] = v;
        else
          y[i] = SaturatingFloatToInt<D>(v);
        break;
      }
      case DType::kI64:
        y[i] = static_cast<D>(static_cast<const int64_t*>(x)[i]);
        break;
      case DType::kI32:
        y[i] = static_cast<D>(static_cast<const int32_t*>(x)[i]);
        break;
      case DType::kI8:
        y[i] = static_cast<D>(static_cast<const int8_t*>(x)[i]);
        break;
      default:
        y[i] = static_cast<D>(static_cast<const uint8_t*>(x)[i]);
        break;
    }
  }
}

std::unique_ptr<Kernel> CreateCast(const Node& n, const Graph& g) {
  const DType from = In(g, n, 0).dtype, to = CastTarget(n);
  const int64_t count = NumElements(In(g, n, 0).shape);
  return MakeKernel([=](const ExecContext&, const void* const* in, void* const* o, void*) {
    switch (to) {
      case DType::kF32:
        CastTo(from, in[0], static_cast<float*>(o[0]), count);
        break;
      case DType::kI64:
        CastTo(from, in[0], static_cast<int64_t*>(o[0]), count);
        break;
      case DType::kI32:
        CastTo(from, in[0], static_cast<int32_t*>(o[0]), count);
        break;
      case DType::kI8:
        CastTo(from, in[0], static_cast<int8_t*>(o[0]), count);
        break;
      case DType::kBool: {
        uint8_t* y = static_cast<uint8_t*>(o[0]);
        std::vector<float> tmp(static_cast<size_t>(count));
        CastTo(from, in[0], tmp.data(), count);
        for (int64_t i = 0; i < count; ++i) y[i] = tmp[i] != 0.0f;
        break;
      }
      default:
        CastTo(from, in[0], static_cast<uint8_t*>(o[0]), count);
        break;
    }
  });
}

}  // namespace

void RegisterElementwiseOps(std::vector<OpSchema>& r) {
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Pow"})
    r.push_back({"", op, 2, 2, 1, 1, {}, InferBinary, CreateBinary});
  for (const char* op : {"Max", "Min", "Sum", "Mean"})
    r.push_back({"", op, 1, 64, 1, 1, {}, InferBinary, CreateBinary});
  for (const char* op : {"Relu", "Neg", "Abs", "Sqrt", "Exp", "Log", "Erf", "Sigmoid", "Tanh",
                         "Reciprocal", "Floor", "Ceil"})
    r.push_back({"", op, 1, 1, 1, 1, {}, InferUnary, CreateUnary});
  r.push_back({kEffiDomain, "Gelu", 1, 1, 1, 1, {}, InferUnary, CreateUnary});
  r.push_back({"", "Clip", 1, 3, 1, 1, {"min", "max"}, InferClip, CreateClip});
  for (const char* op : {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"})
    r.push_back({"", op, 2, 2, 1, 1, {}, InferCompare, CreateCompare});
  r.push_back({"", "Not", 1, 1, 1, 1, {}, InferNot, [](const Node& n, const Graph& g) {
                 const int64_t count = NumElements(In(g, n, 0).shape);
                 return MakeKernel(
                     [=](const ExecContext&, const void* const* in, void* const* o, void*) {
                       for (int64_t i = 0; i < count; ++i)
                         static_cast<uint8_t*>(o[0])[i] = !static_cast<const uint8_t*>(in[0])[i];
                     });
               }});
  r.push_back({"", "Where", 3, 3, 1, 1, {}, InferWhere, CreateWhere});
  r.push_back({"", "Cast", 1, 1, 1, 1, {"to", "saturate"}, InferCast, CreateCast});
}

}  // namespace effi::ops
