// Shape and data-movement ops: Reshape/Flatten/Squeeze/Unsqueeze/Identity (aliases: no kernel
// runs), Shape, Size, Transpose, Concat, Split, Slice, Gather, Expand, Tile, ConstantOfShape,
// Range. Shape-computing chains are folded to constants once the input shapes are bound.
#include <fmt/format.h>

#include <cstring>

#include "kernels/layout.h"
#include "kernels/ref/ref_kernels.h"
#include "ops/op.h"

namespace effi::ops {
namespace {

namespace ref = effi::kernels::ref;

// Alias ops normally run no kernel (the planner shares the buffer); this copy is used only when
// the input is a constant the folder left alone.
std::unique_ptr<Kernel> CreateAlias(const Node& n, const Graph& g) {
  const size_t bytes =
      static_cast<size_t>(NumElements(In(g, n, 0).shape)) * DTypeSize(In(g, n, 0).dtype);
  return MakeKernel([bytes](const ExecContext&, const void* const* in, void* const* o, void*) {
    if (bytes) std::memcpy(o[0], in[0], bytes);
  });
}

int64_t CheckedDim(const Node& n, int64_t d) {
  if (d < 0 || d > kMaxTensorElements) Fail(n, fmt::format("invalid dimension {}", d));
  return d;
}

// ---- Reshape ----
void InferReshape(const Node& n, Graph& g) {
  const Value& x = In(g, n, 0);
  std::vector<int64_t> spec = ConstInts(g, n, 1, "shape");
  const bool allowzero = n.GetInt("allowzero", 0) != 0;
  const int64_t total = NumElements(x.shape, n.Describe().c_str());
  Shape out(spec.size());
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < spec.size(); ++i) {
    int64_t d = spec[i];
    if (d == 0 && !allowzero) {
      if (i >= x.shape.size()) Fail(n, "shape has 0 beyond the input rank");
      d = x.shape[i];
    }
    if (d == -1) {
      if (infer >= 0) Fail(n, "more than one -1 in shape");
      infer = static_cast<int>(i);
      out[i] = 1;
      continue;
    }
    out[i] = CheckedDim(n, d);
    known *= std::max<int64_t>(out[i], 1);
    if (known > kMaxTensorElements) Fail(n, "shape too large");
    if (out[i] == 0) known = 0;
  }
  if (infer >= 0) {
    if (known == 0 || total % known)
      Fail(n, fmt::format("cannot reshape {} to {}", ShapeStr(x.shape), ShapeStr(spec)));
    out[infer] = total / known;
  }
  if (NumElements(out) != total)
    Fail(n, fmt::format("cannot reshape {} to {}", ShapeStr(x.shape), ShapeStr(spec)));
  SetOut(g, n, 0, x.dtype, out);
}

void InferFlatten(const Node& n, Graph& g) {
  const Value& x = In(g, n, 0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  int64_t axis = n.GetInt("axis", 1);
  if (axis < -rank || axis > rank) Fail(n, fmt::format("axis {} out of range", axis));
  if (axis < 0) axis += rank;
  NumElements(x.shape, n.Describe().c_str());  // so the products below cannot overflow
  int64_t a = 1, b = 1;
  for (int64_t i = 0; i < rank; ++i) (i < axis ? a : b) *= x.shape[i];
  SetOut(g, n, 0, x.dtype, {a, b});
}

std::vector<int64_t> AxesOf(const Node& n, const Graph& g) {
  if (n.HasInput(1)) return ConstInts(g, n, 1, "axes");
  return n.GetInts("axes", {});
}

void InferSqueeze(const Node& n, Graph& g) {
  const Value& x = In(g, n, 0);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  std::vector<int64_t> axes = AxesOf(n, g);
  std::vector<bool> drop(rank, false);
  if (axes.empty() && !n.HasInput(1) && !n.Has("axes")) {
    for (int64_t i = 0; i < rank; ++i) drop[i] = x.shape[i] == 1;
  }
  for (int64_t a : axes) {
    int64_t ax = NormAxis(n, a, rank);
    if (x.shape[ax] != 1) Fail(n, fmt::format("cannot squeeze axis {} of size {}", a, x.shape[ax]));
    drop[ax] = true;
  }
  Shape out;
  for (int64_t i = 0; i < rank; ++i)
    if (!drop[i]) out.push_back(x.shape[i]);
  SetOut(g, n, 0, x.dtype, out);
}

void InferUnsqueeze(const Node& n, Graph& g) {
  const Value& x = In(g, n, 0);
  std::vector<int64_t> axes = AxesOf(n, g);
  const int64_t out_rank = static_cast<int64_t>(x.shape.size() + axes.size());
  if (out_rank > 32) Fail(n, "rank too large");
  std::vector<bool> ins(out_rank, false);
  for (int64_t a : axes) {
    int64_t ax = NormAxis(n, a, out_rank);
    if (ins[ax]) Fail(n, "repeated axis");
    ins[ax] = true;
  }
  Shape out;
  size_t j = 0;
  for (int64_t i = 0; i < out_rank; ++i) out.push_back(ins[i] ? 1 : x.shape[j++]);
  SetOut(g, n, 0, x.dtype, out);
}

void InferIdentity(const Node& n, Graph& g) {
  SetOut(g, n, 0, In(g, n, 0).dtype, In(g, n, 0).shape);
}

// ---- Shape / Size ----
void InferShape(const Node& n, Graph& g) {
  const int64_t rank = static_cast<int64_t>(In(g, n, 0).shape.size());
  int64_t start = n.GetInt("start", 0), end = n.GetInt("end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  SetOut(g, n, 0, DType::kI64, {std::max<int64_t>(end - start, 0)});
}

std::unique_ptr<Kernel> CreateShape(const Node& n, const Graph& g) {
  const Shape x = In(g, n, 0).shape;
  const int64_t rank = static_cast<int64_t>(x.size());
  int64_t start = n.GetInt("start", 0), end = n.GetInt("end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  return MakeKernel([=](const ExecContext&, const void* const*, void* const* o, void*) {
    for (int64_t i = start; i < end; ++i) static_cast<int64_t*>(o[0])[i - start] = x[i];
  });
}

void InferSize(const Node& n, Graph& g) { SetOut(g, n, 0, DType::kI64, {}); }
std::unique_ptr<Kernel> CreateSize(const Node& n, const Graph& g) {
  const int64_t e = NumElements(In(g, n, 0).shape);
  return MakeKernel([=](const ExecContext&, const void* const*, void* const* o, void*) {
    *static_cast<int64_t*>(o[0]) = e;
  });
}

// ---- Transpose ----
std::vector<int64_t> PermOf(const Node& n, int64_t rank) {
  std::vector<int64_t> perm = n.GetInts("perm", {});
  if (perm.empty())
    for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
  if (static_cast<int64_t>(perm.size()) != rank) Fail(n, "perm length differs from the input rank");
  std::vector<bool> seen(rank, false);
  for (int64_t& p : perm) {
    p = NormAxis(n, p, rank);
    if (seen[p]) Fail(n, "perm repeats an axis");
    seen[p] = true;
  }
  return perm;
}

void InferTranspose(const Node& n, Graph& g) {
  const Value& x = In(g, n, 0);
  auto perm = PermOf(n, static_cast<int64_t>(x.shape.size()));
  Shape out;
  for (int64_t p : perm) out.push_back(x.shape[p]);
  SetOut(g, n, 0, x.dtype, out);
}

std::unique_ptr<Kernel> CreateTranspose(const Node& n, const Graph& g) {
  const Shape x = In(g, n, 0).shape;
  const auto perm = PermOf(n, static_cast<int64_t>(x.size()));
  const int64_t es = static_cast<int64_t>(DTypeSize(In(g, n, 0).dtype));
  kernels::TransposePlan plan;
  if (!UseReferenceKernels() &&
      kernels::PlanTranspose(es, static_cast<int>(x.size()), x.data(), perm.data(), &plan)) {
    // One two-axis swap (NCHW <-> NHWC, attention head permutes): blocked SIMD transpose, split
    // over the outer index when large.
    const int64_t count = NumElements(x);
    return MakeKernel([=](const ExecContext& ctx, const void* const* in, void* const* o, void*) {
      ParallelRows(ctx, plan.outer, count >= (1 << 16), [&](int64_t r0, int64_t r1, int) {
        kernels::TransposeRun(plan, in[0], o[0], r0, r1);
      });
    });
  }
  return MakeKernel([=](const ExecContext&, const void* const* in, void* const* o, void*) {
    ref::transpose(es, static_cast<int>(x.size()), x.data(), perm.data(), in[0], o[0]);
  });
}

// ---- Concat ----
void InferConcat(const Node& n, Graph& g) {
  const Value& x0 = In(g, n, 0);
  const int64_t rank = static_cast<int64_t>(x0.shape.size());
  if (rank == 0) Fail(n, "cannot concatenate scalars");
  const int64_t axis = NormAxis(n, n.GetInt("axis", 0), rank);
  Shape out = x0.shape;
  out[axis] = 0;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    const Value& x = In(g, n, i);
    if (x.dtype != x0.dtype || static_cast<int64_t>(x.shape.size()) != rank)
      Fail(n, "inputs differ in type or rank");
    for (int64_t d = 0; d < rank; ++d)
      if (d != axis && x.shape[d] != x0.shape[d])
        Fail(n, fmt::format("input shapes {} and {} differ off the axis", ShapeStr(x0.shape),
                            ShapeStr(x.shape)));
    out[axis] += x.shape[axis];
  }
  SetOut(g, n, 0, x0.dtype, out);
}

std::unique_ptr<Kernel> CreateConcat(const Node& n, const Graph& g) {
  const Shape out = g.values[n.outputs[0]].shape;
  const int64_t axis = NormAxis(n, n.GetInt("axis", 0), static_cast<int64_t>(out.size()));
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= out[i];
  for (size_t i = axis + 1; i < out.size(); ++i) inner *= out[i];
  const int64_t es = static_cast<int64_t>(DTypeSize(In(g, n, 0).dtype));
  std::vector<int64_t> lens;
  for (size_t i = 0; i < n.inputs.size(); ++i) lens.push_back(In(g, n, i).shape[axis]);
  return MakeKernel([=](const ExecContext&, const void* const* in, void* const* o, void*) {
    char* y = static_cast<char*>(o[0]);
    const int64_t row = out[axis] * inner * es;
    int64_t off = 0;
    for (size_t i = 0; i < lens.size(); ++i) {
      const int64_t chunk = lens[i] * inner * es;
      for (int64_t a = 0; a < outer && chunk; ++a)
        std::memcpy(y + a * row + off, static_cast<const char*>(in[i]) + a * chunk,
                    static_cast<size_t>(chunk));
      off += chunk;
    }
  });
}

// ---- Split ----
std::vector<int64_t> SplitSizes(const Node& n, const Graph& g) {
  const Shape& x = In(g, n, 0).shape;
  const int64_t axis = NormAxis(n, n.GetInt("axis", 0), static_cast<int64_t>(x.size()));
  std::vector<int64_t> sizes;
  if (n.HasInput(1))
    sizes = ConstInts(g, n, 1, "split");
  else
    sizes = n.GetInts("split", {});
  const int64_t parts = static_cast<int64_t>(n.outputs.size());
  if (sizes.empty()) {
    int64_t num = n.GetInt("num_outputs", parts);
    if (num != parts || parts <= 0) Fail(n, "num_outputs differs from the number of outputs");
    int64_t chunk = (x[axis] + parts - 1) / parts;
    for (int64_t i = 0; i < parts; ++i)
      sizes.push_back(std::max<int64_t>(0, std::min(chunk, x[axis] - i * chunk)));
  }
  if (static_cast<int64_t>(sizes.size()) != parts)
    Fail(n, "split sizes differ from the number of outputs");
  int64_t sum = 0;
  for (int64_t s : sizes) {
    if (s < 0) Fail(n, "negative split size");
    if (!CheckedAdd(sum, s, &sum))
      Fail(n, fmt::format("split sizes {} overflow int64", ShapeStr(sizes)));
  }
  if (sum != x[axis]) Fail(n, fmt::format("split sizes sum to {}, axis has {}", sum, x[axis]));
  return sizes;
}

void InferSplit(const Node& n, Graph& g) {
  const Value& x = In(g, n, 0);
  if (x.shape.empty()) Fail(n, "cannot split a scalar");
  auto sizes = SplitSizes(n, g);
  const int64_t axis = NormAxis(n, n.GetInt("axis", 0), static_cast<int64_t>(x.shape.size()));
  for (size_t i = 0; i < sizes.size(); ++i) {
    Shape s = x.shape;
    s[axis] = sizes[i];
    SetOut(g, n, i, x.dtype, s);
  }
}

std::unique_ptr<Kernel> CreateSplit(const Node& n, const Graph& g) {
  const Shape x = In(g, n, 0).shape;
  const auto sizes = SplitSizes(n, g);
  const int64_t axis = NormAxis(n, n.GetInt("axis", 0), static_cast<int64_t>(x.size()));
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x[i];
  for (size_t i = axis + 1; i < x.size(); ++i) inner *= x[i];
  const int64_t es = static_cast<int64_t>(DTypeSize(In(g, n, 0).dtype));
  return MakeKernel([=](const ExecContext&, const void* const* in, void* const* o, void*) {
    const char* src = static_cast<const char*>(in[0]);
    const int64_t row = x[axis] * inner * es;
    int64_t off = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      const int64_t chunk = sizes[i] * inner * es;
      if (o[i])
        for (int64_t a = 0; a < outer && chunk; ++a)
          std::memcpy(static_cast<char*>(o[i]) + a * chunk, src + a * row + off,
                      static_cast<size_t>(chunk));
      off += chunk;
    }
  });
}

// ---- Slice (opset >= 10: starts/ends/axes/steps inputs; opset 1-9: attributes) ----
struct SliceGeom {
  Shape out;
  int64_t offset = 0;
  std::vector<int64_t> strides;
};

SliceGeom SliceGeometry(const Node& n, const Graph& g) {
  const Shape& x = In(g, n, 0).shape;
  const int64_t rank = static_cast<int64_t>(x.size());
  std::vector<int64_t> starts, ends, axes, steps;
  if (n.inputs.size() >= 3) {
    starts = ConstInts(g, n, 1, "starts");
    ends = ConstInts(g, n, 2, "ends");
    if (n.HasInput(3)) axes = ConstInts(g, n, 3, "axes");
    if (n.HasInput(4)) steps = ConstInts(g, n, 4, "steps");
  } else {
    starts = n.GetInts("starts", {});
    ends = n.GetInts("ends", {});
    axes = n.GetInts("axes", {});
  }
  if (starts.size() != ends.size()) Fail(n, "starts and ends differ in length");
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (axes.size() != starts.size() || steps.size() != starts.size())
    Fail(n, "axes/steps length differ from starts");
  std::vector<int64_t> b(rank, 0), st(rank, 1);
  SliceGeom geo;
  geo.out = x;
  std::vector<bool> seen(rank, false);
  for (size_t i = 0; i < starts.size(); ++i) {
    int64_t ax = NormAxis(n, axes[i], rank);
    if (seen[ax]) Fail(n, "repeated axis");
    seen[ax] = true;
    // ONNX's rule, exactly: a negative start/end first gets dim added (no overflow: dim >= 0, so
    // INT64_MIN + dim is in range), then both are clamped: to [0, dim] for a positive step, to
    // start in [0, dim-1] and end in [-1, dim-1] for a negative one. The count is
    // ceil((e - s) / step) written so that neither a step of INT64_MAX nor one of INT64_MIN (which
    // cannot be negated) overflows: |e - s| <= dim + 1.
    const int64_t dim = x[ax], step = steps[i];
    if (step == 0) Fail(n, fmt::format("step 0 on axis {}", axes[i]));
    int64_t s = starts[i], e = ends[i];
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      geo.out[ax] = e > s ? (e - s - 1) / step + 1 : 0;
    } else if (dim == 0) {
      s = 0;
      geo.out[ax] = 0;
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      // (e - s + 1) <= 0 and step < 0: C's truncating division gives floor((s - e - 1) / -step).
      geo.out[ax] = s > e ? (e - s + 1) / step + 1 : 0;
    }
    b[ax] = s;
    st[ax] = step;
  }
  NumElements(x, n.Describe().c_str());  // so the products below cannot overflow
  std::vector<int64_t> xs(rank, 1);
  for (int64_t i = rank - 2; i >= 0; --i) xs[i] = xs[i + 1] * x[i + 1];
  geo.strides.resize(rank);
  for (int64_t i = 0; i < rank; ++i) {
    geo.offset += (geo.out[i] ? b[i] : 0) * xs[i];
    // An axis with at most one output element never steps, and its step may be huge (INT64_MAX):
    // only a stepping axis has |step| < dim, which keeps step * stride in range.
    geo.strides[i] = geo.out[i] > 1 ? st[i] * xs[i] : 0;
  }
  return geo;
}

void InferSlice(const Node& n, Graph& g) {
  SetOut(g, n, 0, In(g, n, 0).dtype, SliceGeometry(n, g).out);
}

std::unique_ptr<Kernel> CreateSlice(const Node& n, const Graph& g) {
  const SliceGeom geo = SliceGeometry(n, g);
  const int64_t es = static_cast<int64_t>(DTypeSize(In(g, n, 0).dtype));
  return MakeKernel([=](const ExecContext&, const void* const* in, void* const* o, void*) {
    if (NumElements(geo.out) == 0) return;
    ref::strided_copy(es, static_cast<int>(geo.out.size()), geo.out.data(), in[0], geo.offset,
                      geo.strides.data(), o[0]);
  });
}

// ---- Gather ----
void InferGather(const Node& n, Graph& g) {
  const Value& x = In(g, n, 0);
  const Value& idx = In(g, n, 1);
  if (idx.dtype != DType::kI64 && idx.dtype != DType::kI32) Fail(n, "indices must be int32/int64");
  CheckInputSizes(n, g);
  const int64_t rank = static_cast<int64_t>(x.shape.size());
  if (rank == 0) Fail(n, "cannot gather from a scalar");
  const int64_t axis = NormAxis(n, n.GetInt("axis", 0), rank);
  Shape out(x.shape.begin(), x.shape.begin() + axis);
  out.insert(out.end(), idx.shape.begin(), idx.shape.end());
  out.insert(out.end(), x.shape.begin() + axis + 1, x.shape.end());
  if (idx.is_constant()) {
    for (int64_t v : idx.constant->ToInt64Vector())
      if (v < -x.shape[axis] || v >= x.shape[axis])
        Fail(n, fmt::format("index {} out of range [0,{})", v, x.shape[axis]));
  }
  SetOut(g, n, 0, x.dtype, out);
}

std::unique_ptr<Kernel> CreateGather(const Node& n, const Graph& g) {
  const Shape x = In(g, n, 0).shape;
  const int64_t axis = NormAxis(n, n.GetInt("axis", 0), static_cast<int64_t>(x.size()));
  const int64_t nidx = NumElements(In(g, n, 1).shape);
  const bool i32 = In(g, n, 1).dtype == DType::kI32;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= x[i];
  for (size_t i = axis + 1; i < x.size(); ++i) inner *= x[i];
  const int64_t es = static_cast<int64_t>(DTypeSize(In(g, n, 0).dtype)), dim = x[axis];
  return MakeKernel([=](const ExecContext&, const void* const* in, void* const* o, void*) {
    const char* src = static_cast<const char*>(in[0]);
    char* y = static_cast<char*>(o[0]);
    const int64_t chunk = inner * es;
    for (int64_t a = 0; a < outer; ++a)
      for (int64_t j = 0; j < nidx; ++j) {
        int64_t k =
            i32 ? static_cast<const int32_t*>(in[1])[j] : static_cast<const int64_t*>(in[1])[j];
        if (k < 0) k += dim;
        if (k < 0 || k >= dim)
          throw Error(ErrorCode::kInvalidArgument, fmt::format("Gather index {} out of range", k));
        std::memcpy(y + (a * nidx + j) * chunk, src + (a * dim + k) * chunk,
                    static_cast<size_t>(chunk));
      }
  });
}

// ---- Expand / Tile ----
void InferExpand(const Node& n, Graph& g) {
  const Value& x = In(g, n, 0);
  auto target = ConstInts(g, n, 1, "shape");
  for (int64_t d : target) CheckedDim(n, d);
  SetOut(g, n, 0, x.dtype, BroadcastShapes(n, x.shape, target));
}

std::unique_ptr<Kernel> CreateExpand(const Node& n, const Graph& g) {
  const Shape x = In(g, n, 0).shape;
  const Shape out = g.values[n.outputs[0]].shape;
  std::vector<int64_t> st(out.size());
  ref::broadcast_strides(static_cast<int>(x.size()), x.data(), static_cast<int>(out.size()),
                         out.data(), st.data());
  const int64_t es = static_cast<int64_t>(DTypeSize(In(g, n, 0).dtype));
  return MakeKernel([=](const ExecContext&, const void* const* in, void* const* o, void*) {
    if (NumElements(out) == 0) return;
    ref::strided_copy(es, static_cast<int>(out.size()), out.data(), in[0], 0, st.data(), o[0]);
  });
}

void InferTile(const Node& n, Graph& g) {
  const Value& x = In(g, n, 0);
  auto reps = ConstInts(g, n, 1, "repeats");
  if (reps.size() != x.shape.size()) Fail(n, "repeats length differs from the input rank");
  CheckInputSizes(n, g);
  Shape out = x.shape;
  for (size_t i = 0; i < out.size(); ++i) {
    if (reps[i] < 0) Fail(n, "negative repeat");
    if (!CheckedMul(out[i], reps[i], &out[i]))
      Fail(n,
           fmt::format("repeats {} of input {} overflow int64", ShapeStr(reps), ShapeStr(x.shape)));
  }
  SetOut(g, n, 0, x.dtype, out);
}

std::unique_ptr<Kernel> CreateTile(const Node& n, const Graph& g) {
  const Shape x = In(g, n, 0).shape;
  const Shape out = g.values[n.outputs[0]].shape;
  const int64_t es = static_cast<int64_t>(DTypeSize(In(g, n, 0).dtype));
  // Row by row: each output row (the last axis) is its source row copied reps times, so a tile is
  // a few large memcpys. Element by element (a div/mod per element) took 18 s under ASan to fold
  // a 512 MiB chain of Tiles (a hostile model within the memory budget).
  return MakeKernel([=](const ExecContext&, const void* const* in, void* const* o, void*) {
    const int r = static_cast<int>(out.size());
    const int64_t total = NumElements(out);
    if (total == 0) return;
    auto* dst = static_cast<char*>(o[0]);
    const auto* src = static_cast<const char*>(in[0]);
    if (r == 0) {
      std::memcpy(dst, src, static_cast<size_t>(es));
      return;
    }
    std::vector<int64_t> xs(r, 1);
    for (int i = r - 2; i >= 0; --i) xs[i] = xs[i + 1] * x[i + 1];
    const size_t row_bytes = static_cast<size_t>(x[r - 1] * es);
    const int64_t reps = out[r - 1] / x[r - 1], rows = total / out[r - 1];
    std::vector<int64_t> idx(r, 0);  // output index over the leading r - 1 axes
    for (int64_t row = 0; row < rows; ++row) {
      int64_t off = 0;
      for (int d = 0; d + 1 < r; ++d) off += (idx[d] % x[d]) * xs[d];
      for (int64_t k = 0; k < reps; ++k, dst += row_bytes)
        std::memcpy(dst, src + off * es, row_bytes);
      for (int d = r - 2; d >= 0; --d) {
        if (++idx[d] < out[d]) break;
        idx[d] = 0;
      }
    }
  });
}

// ---- ConstantOfShape / Range ----
void InferConstantOfShape(const Node& n, Graph& g) {
  auto shape = ConstInts(g, n, 0, "shape");
  for (int64_t d : shape) CheckedDim(n, d);
  ConstTensor v = n.GetTensor("value");
  SetOut(g, n, 0, v ? v->dtype() : DType::kF32, shape);
}

std::unique_ptr<Kernel> CreateConstantOfShape(const Node& n, const Graph& g) {
  ConstTensor v = n.GetTensor("value");
  if (v && v->elements() != 1) Fail(n, "value must have one element");
  const Value& out = g.values[n.outputs[0]];
  const int64_t count = NumElements(out.shape);
  const size_t es = DTypeSize(out.dtype);
  std::vector<char> fill(es, 0);
  if (v) std::memcpy(fill.data(), v->data(), es);
  return MakeKernel([=](const ExecContext&, const void* const*, void* const* o, void*) {
    for (int64_t i = 0; i < count; ++i)
      std::memcpy(static_cast<char*>(o[0]) + i * es, fill.data(), es);
  });
}

// max(ceil((limit - start) / delta), 0) in exact integer arithmetic (the spec's count; a double
// quotient is off for large operands: Range(INT64_MIN, INT64_MAX, INT64_MAX) has 3 elements, not
// 2). |limit - start| and |delta| are taken in uint64, where they always fit.
uint64_t IntRangeCount(int64_t start, int64_t limit, int64_t delta) {
  if (delta > 0 ? limit <= start : limit >= start) return 0;
  const uint64_t span = delta > 0 ? static_cast<uint64_t>(limit) - static_cast<uint64_t>(start)
                                  : static_cast<uint64_t>(start) - static_cast<uint64_t>(limit);
  const uint64_t step = delta > 0 ? static_cast<uint64_t>(delta) : 0 - static_cast<uint64_t>(delta);
  return span / step + (span % step != 0);
}

void InferRange(const Node& n, Graph& g) {
  const Value& s = In(g, n, 0);
  for (size_t i = 0; i < 3; ++i)
    if (!In(g, n, i).is_constant() || In(g, n, i).dtype != s.dtype)
      Unsupported(n, "Range needs constant inputs of one type");
  for (size_t i = 0; i < 3; ++i)
    if (In(g, n, i).constant->elements() != 1) Fail(n, fmt::format("input {} must be a scalar", i));
  int64_t count = 0;
  if (s.dtype == DType::kF32) {
    // Float Range stays float math, as the spec's reference computes it; the count in double.
    float a = s.constant->ToFloatVector().at(0), b = In(g, n, 1).constant->ToFloatVector().at(0),
          d = In(g, n, 2).constant->ToFloatVector().at(0);
    if (d == 0) Fail(n, "delta 0");
    double c = std::ceil((static_cast<double>(b) - a) / d);
    if (!(c < static_cast<double>(kMaxTensorElements)))  // also NaN (inf or NaN operands)
      Fail(n, fmt::format("Range({}, {}, {}) has too many elements (or a NaN count)", a, b, d));
    count = c > 0 ? static_cast<int64_t>(c) : 0;
  } else if (s.dtype == DType::kI64 || s.dtype == DType::kI32) {
    int64_t a = s.constant->ToInt64Vector().at(0), b = In(g, n, 1).constant->ToInt64Vector().at(0),
            d = In(g, n, 2).constant->ToInt64Vector().at(0);
    if (d == 0) Fail(n, "delta 0");
    const uint64_t c = IntRangeCount(a, b, d);
    if (c > static_cast<uint64_t>(kMaxTensorElements))
      Fail(n, fmt::format("Range({}, {}, {}) has {} elements (more than 2^31)", a, b, d, c));
    count = static_cast<int64_t>(c);
  } else {
    Unsupported(n, "type not supported");
  }
  SetOut(g, n, 0, s.dtype, {count});
}

std::unique_ptr<Kernel> CreateRange(const Node& n, const Graph& g) {
  const DType dt = In(g, n, 0).dtype;
  const int64_t count = g.values[n.outputs[0]].shape[0];
  return MakeKernel([=](const ExecContext&, const void* const* in, void* const* o, void*) {
    if (dt == DType::kF32) {
      float a = *static_cast<const float*>(in[0]), d = *static_cast<const float*>(in[2]);
      for (int64_t i = 0; i < count; ++i)
        static_cast<float*>(o[0])[i] = a + static_cast<float>(i) * d;
    } else if (dt == DType::kI64) {
      // start + i * delta in uint64: an intermediate i * delta may leave int64 (it wraps), but
      // every element lies between start and limit, so the wrapped sum is exact.
      const uint64_t a = static_cast<uint64_t>(*static_cast<const int64_t*>(in[0])),
                     d = static_cast<uint64_t>(*static_cast<const int64_t*>(in[2]));
      for (int64_t i = 0; i < count; ++i)
        static_cast<int64_t*>(o[0])[i] = static_cast<int64_t>(a + static_cast<uint64_t>(i) * d);
    } else {
      const uint64_t a = static_cast<uint64_t>(int64_t{*static_cast<const int32_t*>(in[0])}),
                     d = static_cast<uint64_t>(int64_t{*static_cast<const int32_t*>(in[2])});
      for (int64_t i = 0; i < count; ++i)
        static_cast<int32_t*>(o[0])[i] = static_cast<int32_t>(a + static_cast<uint64_t>(i) * d);
    }
  });
}

}  // namespace

void RegisterShapeOps(std::vector<OpSchema>& r) {
  OpSchema alias;
  alias.create = CreateAlias;
  alias.alias = true;
  auto add_alias = [&](const char* op, int min_in, int max_in, std::vector<std::string> attrs,
                       auto infer) {
    OpSchema s = alias;
    s.op = op;
    s.min_inputs = min_in;
    s.max_inputs = max_in;
    s.attrs = std::move(attrs);
    s.infer = infer;
    r.push_back(std::move(s));
  };
  add_alias("Reshape", 2, 2, {"allowzero"}, InferReshape);
  add_alias("Flatten", 1, 1, {"axis"}, InferFlatten);
  add_alias("Squeeze", 1, 2, {"axes"}, InferSqueeze);
  add_alias("Unsqueeze", 1, 2, {"axes"}, InferUnsqueeze);
  add_alias("Identity", 1, 1, {}, InferIdentity);
  {
    OpSchema s = alias;
    s.op = "Dropout";  // inference: identity; the optional mask output is not supported
    s.min_inputs = 1;
    s.max_inputs = 3;
    s.max_outputs = 2;  // so that a mask output is reported as unsupported, not as malformed
    s.attrs = {"ratio", "seed", "is_test"};
    s.infer = [](const Node& n, Graph& g) {
      if (n.outputs.size() > 1 && n.outputs[1] >= 0)
        Unsupported(n, "the mask output is not supported");
      // training_mode (opset 12+) drops random elements unless the ratio is 0.
      if (n.HasInput(2)) {
        const Value& t = In(g, n, 2);
        if (!t.is_constant() || t.constant->elements() != 1)
          Unsupported(n, "training_mode must be a constant scalar");
        if (static_cast<const uint8_t*>(t.constant->data())[0] != 0) {
          // (fuzz_graph: an empty ratio was read with .at(0))
          if (n.HasInput(1) &&
              (!In(g, n, 1).is_constant() || In(g, n, 1).constant->elements() != 1))
            Unsupported(n, "ratio must be a constant scalar");
          const float ratio = n.HasInput(1) ? In(g, n, 1).constant->ToFloatVector().at(0) : 0.5f;
          if (ratio != 0.0f)
            Unsupported(n, "training_mode=true with ratio > 0 (random dropout) is not supported");
        }
      }
      InferIdentity(n, g);
    };
    r.push_back(std::move(s));
  }
  r.push_back({"", "Shape", 1, 1, 1, 1, {"start", "end"}, InferShape, CreateShape});
  r.push_back({"", "Size", 1, 1, 1, 1, {}, InferSize, CreateSize});
  r.push_back({"", "Transpose", 1, 1, 1, 1, {"perm"}, InferTranspose, CreateTranspose});
  r.push_back({"", "Concat", 1, 1024, 1, 1, {"axis"}, InferConcat, CreateConcat});
  r.push_back(
      {"", "Split", 1, 2, 1, 1024, {"axis", "split", "num_outputs"}, InferSplit, CreateSplit});
  r.push_back({"", "Slice", 1, 5, 1, 1, {"starts", "ends", "axes"}, InferSlice, CreateSlice});
  r.push_back({"", "Gather", 2, 2, 1, 1, {"axis"}, InferGather, CreateGather});
  r.push_back({"", "Expand", 2, 2, 1, 1, {}, InferExpand, CreateExpand});
  r.push_back({"", "Tile", 2, 2, 1, 1, {}, InferTile, CreateTile});
  r.push_back(
      {"", "ConstantOfShape", 1, 1, 1, 1, {"value"}, InferConstantOfShape, CreateConstantOfShape});
  r.push_back({"", "Range", 3, 3, 1, 1, {}, InferRange, CreateRange});
}

}  // namespace effi::ops
