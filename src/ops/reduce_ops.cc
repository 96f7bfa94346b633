// Reductions (ReduceMean & co., axes as attribute before opset 18 and as input after), Softmax and
// LogSoftmax (with the opset < 13 "coerce to 2-D" semantics), ArgMax.
#include <fmt/format.h>

#include <algorithm>

#include "kernels/gemm.h"
#include "kernels/norm.h"
#include "kernels/ref/ref_kernels.h"
#include "ops/op.h"

namespace effi::ops {
namespace {

namespace ref = effi::kernels::ref;

struct ReduceGeom {
  std::vector<bool> mask;  // std::vector<bool> has no data(); copied into a plain array at run time
  Shape out;
};

ReduceGeom ReduceGeometry(const Node& n, const Graph& g) {
  const Shape& x = In(g, n, 0).shape;
  const int64_t rank = static_cast<int64_t>(x.size());
  std::vector<int64_t> axes;
  if (n.HasInput(1))
    axes = ConstInts(g, n, 1, "axes");
  else
    axes = n.GetInts("axes", {});
  const bool keep = n.GetInt("keepdims", 1) != 0;
  const bool noop_empty = n.GetInt("noop_with_empty_axes", 0) != 0;
  ReduceGeom geo{std::vector<bool>(rank, axes.empty() && !noop_empty), {}};
  for (int64_t a : axes) {
    int64_t ax = NormAxis(n, a, rank);
    geo.mask[ax] = true;
  }
  for (int64_t i = 0; i < rank; ++i) {
    if (geo.mask[i]) {
      if (keep) geo.out.push_back(1);
    } else {
      geo.out.push_back(x[i]);
    }
  }
  return geo;
}

ref::ReduceOp ReduceFor(const std::string& op) {
  if (op == "ReduceMean") return ref::ReduceOp::kMean;
  if (op == "ReduceSum") return ref::ReduceOp::kSum;
  if (op == "ReduceMax") return ref::ReduceOp::kMax;
  if (op == "ReduceMin") return ref::ReduceOp::kMin;
  if (op == "ReduceProd") return ref::ReduceOp::kProd;
  if (op == "ReduceSumSquare") return ref::ReduceOp::kSumSquare;
  return ref::ReduceOp::kL2;
}

void InferReduce(const Node& n, Graph& g) {
  RequireFloat(g, n, 0);
  if (In(g, n, 0).shape.size() > 16) Unsupported(n, "rank above 16");
  CheckInputSizes(n, g);
  ReduceGeom geo = ReduceGeometry(n, g);
  const Shape& x = In(g, n, 0).shape;
  for (size_t i = 0; i < x.size(); ++i)
    if (geo.mask[i] && x[i] == 0 && (n.Is("ReduceMax") || n.Is("ReduceMin")))
      Unsupported(n, "reducing an empty axis with max/min");
  SetOut(g, n, 0, DType::kF32, geo.out);
}

std::unique_ptr<Kernel> CreateReduce(const Node& n, const Graph& g) {
  ReduceGeom geo = ReduceGeometry(n, g);
  const Shape x = In(g, n, 0).shape;
  const ref::ReduceOp op = ReduceFor(n.op);
  const int64_t count = NumElements(x);
  std::vector<uint8_t> mask(geo.mask.begin(), geo.mask.end());
  bool any = false;
  for (bool b : geo.mask) any |= b;
  // Fast path: ReduceMean/ReduceSum over one contiguous run of axes followed by >= 16 contiguous
  // elements, i.e. row sums of an [outer][len][inner] view (EfficientFormer's final mean over the
  // 49 tokens of [1, 49, 448]: 32 us in the odometer reference, ~2.4 us here). Each row is added
  // by the GEMM's dispatched epilogue kernel (y += residual), so the sum runs on the chosen ISA.
  // Float accumulators (the reference sums in double): at most len roundings, and len is capped
  // so the difference stays ~1e-5 relative at worst.
  int64_t first = -1, last = -1;
  for (size_t i = 0; i < geo.mask.size(); ++i) {
    if (!geo.mask[i]) continue;
    if (first < 0) first = static_cast<int64_t>(i);
    last = static_cast<int64_t>(i);
  }
  bool run = first >= 0;
  for (int64_t i = first; run && i <= last; ++i) run = geo.mask[static_cast<size_t>(i)];
  int64_t outer = 1, len = 1, inner = 1;
  for (int64_t i = 0; run && i < static_cast<int64_t>(x.size()); ++i)
    (i < first ? outer : i <= last ? len : inner) *= x[static_cast<size_t>(i)];
  if (run && (op == ref::ReduceOp::kMean || op == ref::ReduceOp::kSum) && inner >= 16 && len > 0 &&
      len <= 256 && !UseReferenceKernels()) {
    const float scale = op == ref::ReduceOp::kMean ? 1.0f / static_cast<float>(len) : 1.0f;
    return MakeKernel([=](const ExecContext&, const void* const* in, void* const* o, void*) {
      const float* src = static_cast<const float*>(in[0]);
      float* y = static_cast<float*>(o[0]);
      for (int64_t b = 0; b < outer; ++b) {
        float* yb = y + b * inner;
        const float* xb = src + b * len * inner;
        std::copy(xb, xb + inner, yb);
        for (int64_t j = 1; j < len; ++j)
          kernels::EpilogueF32(1, inner, nullptr, ref::Activation::kNone, xb + j * inner, yb);
        for (int64_t i = 0; i < inner; ++i) yb[i] *= scale;
      }
    });
  }
  return MakeKernel([=](const ExecContext&, const void* const* in, void* const* o, void*) {
    const float* src = static_cast<const float*>(in[0]);
    float* y = static_cast<float*>(o[0]);
    if (!any) {  // noop_with_empty_axes: identity
      for (int64_t i = 0; i < count; ++i) y[i] = src[i];
      return;
    }
    bool m[16] = {};
    for (size_t i = 0; i < mask.size() && i < 16; ++i) m[i] = mask[i];
    ref::reduce_f32(op, static_cast<int>(x.size()), x.data(), m, src, y);
  });
}

// ---------------- Softmax / LogSoftmax ----------------
struct SoftmaxGeom {
  int64_t outer, axis_len, inner;
};

SoftmaxGeom SoftmaxGeometry(const Node& n, const Graph& g) {
  const Shape& x = In(g, n, 0).shape;
  const int64_t rank = static_cast<int64_t>(x.size());
  const int64_t axis =
      NormAxis(n, n.GetInt("axis", g.opset >= 13 ? -1 : 1), std::max<int64_t>(rank, 1));
  SoftmaxGeom geo{1, 1, 1};
  if (g.opset < 13 && n.domain.empty()) {
    // Opset 1-12: input coerced to 2-D [prod(:axis), prod(axis:)], softmax over the second dim.
    for (int64_t i = 0; i < axis; ++i) geo.outer *= x[i];
    for (int64_t i = axis; i < rank; ++i) geo.axis_len *= x[i];
  } else {
    for (int64_t i = 0; i < axis; ++i) geo.outer *= x[i];
    geo.axis_len = rank ? x[axis] : 1;
    for (int64_t i = axis + 1; i < rank; ++i) geo.inner *= x[i];
  }
  return geo;
}

void InferSoftmax(const Node& n, Graph& g) {
  RequireFloat(g, n, 0);
  if (In(g, n, 0).shape.size() > 16) Unsupported(n, "rank above 16");
  // SetOut checks the shape's size first, so the geometry's products of its dims cannot overflow.
  SetOut(g, n, 0, DType::kF32, In(g, n, 0).shape);
  SoftmaxGeometry(n, g);
}

std::unique_ptr<Kernel> CreateSoftmax(const Node& n, const Graph& g) {
  const SoftmaxGeom geo = SoftmaxGeometry(n, g);
  const bool log = n.Is("LogSoftmax");
  if (!log && geo.inner == 1 && !UseReferenceKernels()) {
    // Softmax over the contiguous last axis: vectorised rows.
    return MakeKernel([=](const ExecContext& ctx, const void* const* in, void* const* o, void*) {
      const float* x = static_cast<const float*>(in[0]);
      float* y = static_cast<float*>(o[0]);
      const int64_t rows = geo.outer, cols = geo.axis_len;
      if (rows == 0) return;
      ParallelRows(ctx, rows, rows * cols >= (1 << 16), [&](int64_t r0, int64_t r1, int) {
        kernels::SoftmaxF32(r1 - r0, cols, x + r0 * cols, y + r0 * cols);
      });
    });
  }
  return MakeKernel([=](const ExecContext&, const void* const* in, void* const* o, void*) {
    if (log)
      ref::log_softmax_f32(geo.outer, geo.axis_len, geo.inner, static_cast<const float*>(in[0]),
                           static_cast<float*>(o[0]));
    else
      ref::softmax_f32(geo.outer, geo.axis_len, geo.inner, static_cast<const float*>(in[0]),
                       static_cast<float*>(o[0]));
  });
}

// ---------------- ArgMax ----------------
void InferArgMax(const Node& n, Graph& g) {
  RequireFloat(g, n, 0);
  const Shape& x = In(g, n, 0).shape;
  CheckInputSizes(n, g);
  const int64_t axis = NormAxis(n, n.GetInt("axis", 0), static_cast<int64_t>(x.size()));
  if (x[axis] == 0) Fail(n, "ArgMax over an empty axis");
  Shape out = x;
  if (n.GetInt("keepdims", 1))
    out[axis] = 1;
  else
    out.erase(out.begin() + axis);
  SetOut(g, n, 0, DType::kI64, out);
}

std::unique_ptr<Kernel> CreateArgMax(const Node& n, const Graph& g) {
  const Shape x = In(g, n, 0).shape;
  const int64_t axis = NormAxis(n, n.GetInt("axis", 0), static_cast<int64_t>(x.size()));
  const bool last = n.GetInt("select_last_index", 0) != 0;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x[i];
  for (size_t i = axis + 1; i < x.size(); ++i) inner *= x[i];
  const int64_t len = x[axis];
  return MakeKernel([=](const ExecContext&, const void* const* in, void* const* o, void*) {
    const float* src = static_cast<const float*>(in[0]);
    int64_t* y = static_cast<int64_t*>(o[0]);
    for (int64_t a = 0; a < outer; ++a)
      for (int64_t b = 0; b < inner; ++b) {
        int64_t best = 0;
        for (int64_t i = 1; i < len; ++i) {
          float v = src[(a * len + i) * inner + b], bv = src[(a * len + best) * inner + b];
          if (v > bv || (last && v == bv)) best = i;
        }
        y[a * inner + b] = best;
      }
  });
}

}  // namespace

void RegisterReduceOps(std::vector<OpSchema>& r) {
  for (const char* op : {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd",
                         "ReduceSumSquare", "ReduceL2"})
    r.push_back({"",
                 op,
                 1,
                 2,
                 1,
                 1,
                 {"axes", "keepdims", "noop_with_empty_axes"},
                 InferReduce,
                 CreateReduce});
  r.push_back({"", "Softmax", 1, 1, 1, 1, {"axis"}, InferSoftmax, CreateSoftmax});
  r.push_back({"", "LogSoftmax", 1, 1, 1, 1, {"axis"}, InferSoftmax, CreateSoftmax});
  r.push_back({"",
               "ArgMax",
               1,
               1,
               1,
               1,
               {"axis", "keepdims", "select_last_index"},
               InferArgMax,
               CreateArgMax});
}

}  // namespace effi::ops
