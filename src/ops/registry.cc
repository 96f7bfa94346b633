// Op registry: built once from the per-family registration functions (explicit calls, not static
// initialisers, so nothing is dropped when linking the static library).
#include <fmt/format.h>

#include <algorithm>
#include <mutex>

#include "kernels/isa.h"
#include "ops/op.h"

namespace effi::ops {
namespace {

class FnKernel final : public Kernel {
 public:
  FnKernel(RunFn fn, size_t shared, size_t per_thread)
      : fn_(std::move(fn)), scratch_(shared), per_thread_(per_thread) {}
  size_t ScratchShared() const override { return scratch_; }
  size_t ScratchPerThread() const override { return per_thread_; }
  void Run(const ExecContext& ctx, const void* const* in, void* const* out,
           void* scratch) const override {
    fn_(ctx, in, out, scratch);
  }

 private:
  RunFn fn_;
  size_t scratch_;
  size_t per_thread_;
};

const std::vector<OpSchema>& Registry() {
  static const std::vector<OpSchema> reg = [] {
    std::vector<OpSchema> r;
    RegisterElementwiseOps(r);
    RegisterConvPoolOps(r);
    RegisterMatMulOps(r);
    RegisterNormOps(r);
    RegisterReduceOps(r);
    RegisterShapeOps(r);
    RegisterQuantOps(r);
    RegisterResizePadOps(r);
    RegisterAttention2dOps(r);
    return r;
  }();
  return reg;
}

}  // namespace

std::unique_ptr<Kernel> MakeKernel(RunFn fn, size_t scratch_shared, size_t scratch_per_thread) {
  return std::make_unique<FnKernel>(std::move(fn), (scratch_shared + 63) / 64 * 64,
                                    (scratch_per_thread + 63) / 64 * 64);
}

std::unique_ptr<Kernel> Prepacked(std::unique_ptr<Kernel> kernel, std::vector<int> inputs) {
  kernel->set_prepacked_inputs(std::move(inputs));
  return kernel;
}

bool UseReferenceKernels() {
  // Validated (kernels/isa.h: a bad value throws, and is re-read until it is good).
  static const bool ref = kernels::ReferenceKernelsRequested();
  return ref;
}

const OpSchema* FindOp(const std::string& domain, const std::string& op) {
  for (const OpSchema& s : Registry())
    if (s.domain == domain && s.op == op) return &s;
  return nullptr;
}

std::vector<const OpSchema*> AllOps() {
  std::vector<const OpSchema*> v;
  for (const OpSchema& s : Registry()) v.push_back(&s);
  return v;
}

const OpSchema& CheckNode(const Node& n) {
  const OpSchema* s = FindOp(n.domain, n.op);
  if (!s)
    throw Error(ErrorCode::kUnsupported,
                fmt::format("unsupported op: node '{}' has op type '{}' in domain '{}'", n.name,
                            n.op, n.domain.empty() ? "ai.onnx" : n.domain));
  int ni = static_cast<int>(n.inputs.size()), no = static_cast<int>(n.outputs.size());
  if (ni < s->min_inputs || ni > s->max_inputs)
    Fail(n, fmt::format("has {} inputs, expected {}..{}", ni, s->min_inputs, s->max_inputs));
  if (no < s->min_outputs || no > s->max_outputs)
    Fail(n, fmt::format("has {} outputs, expected {}..{}", no, s->min_outputs, s->max_outputs));
  for (int i = 0; i < s->min_inputs && i < ni; ++i)
    if (n.inputs[i] < 0) Fail(n, fmt::format("required input {} is missing", i));
  for (const auto& [key, v] : n.attrs) {
    if (std::find(s->attrs.begin(), s->attrs.end(), key) == s->attrs.end())
      throw Error(ErrorCode::kUnsupported,
                  fmt::format("{}: unsupported attribute '{}'", n.Describe(), key));
  }
  return *s;
}

const Value& In(const Graph& g, const Node& n, size_t i) {
  if (i >= n.inputs.size() || n.inputs[i] < 0) Fail(n, fmt::format("input {} is missing", i));
  return g.values[n.inputs[i]];
}

Value& Out(Graph& g, const Node& n, size_t i) { return g.values[n.outputs[i]]; }

void SetOut(Graph& g, const Node& n, size_t i, DType dt, Shape shape) {
  if (i >= n.outputs.size() || n.outputs[i] < 0) return;
  NumElements(shape, fmt::format("output {} of {}", i, n.Describe()).c_str());
  Value& v = g.values[n.outputs[i]];
  v.dtype = dt;
  v.shape = std::move(shape);
  v.has_shape = true;
}

int64_t NormAxis(const Node& n, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    Fail(n, fmt::format("axis {} out of range for rank {}", axis, rank));
  return axis < 0 ? axis + rank : axis;
}

Shape BroadcastShapes(const Node& n, const Shape& a, const Shape& b) {
  size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da == db || db == 1)
      out[i] = da;
    else if (da == 1)
      out[i] = db;
    else
      Fail(n, fmt::format("cannot broadcast shapes {} and {}", ShapeStr(a), ShapeStr(b)));
  }
  return out;
}

void CheckInputSizes(const Node& n, const Graph& g) {
  for (size_t i = 0; i < n.inputs.size(); ++i)
    if (n.HasInput(i)) NumElements(In(g, n, i).shape, n.Describe().c_str());
}

std::vector<int64_t> ConstInts(const Graph& g, const Node& n, size_t i, const char* what) {
  const Value& v = In(g, n, i);
  if (!v.is_constant())
    throw Error(ErrorCode::kUnsupported,
                fmt::format("{}: {} (input {}) must be a constant or computable from shapes",
                            n.Describe(), what, i));
  if (v.dtype != DType::kI64 && v.dtype != DType::kI32)
    Fail(n, fmt::format("{} must be int64", what));
  // Shape-like inputs hold one value per axis (or per output, for Split): a hostile one with
  // millions of values (fuzz_graph: an Expand to a rank of 14.6 million) took seconds of shape
  // arithmetic before any other check. No real tensor has a rank near this bound.
  constexpr int64_t kMaxShapeValues = 1024;
  if (v.constant->elements() > kMaxShapeValues)
    Unsupported(n, fmt::format("{} (input {}) has {} values; at most {} are supported", what, i,
                               v.constant->elements(), kMaxShapeValues));
  return v.constant->ToInt64Vector();
}

void Fail(const Node& n, const std::string& msg) {
  throw Error(ErrorCode::kInvalidModel, fmt::format("{}: {}", n.Describe(), msg));
}
void Unsupported(const Node& n, const std::string& msg) {
  throw Error(ErrorCode::kUnsupported, fmt::format("{}: {}", n.Describe(), msg));
}
void RequireFloat(const Graph& g, const Node& n, size_t i) {
  const Value& v = In(g, n, i);
  if (v.dtype != DType::kF32)
    Unsupported(
        n, fmt::format("input {} has type {}, only float32 is supported", i, DTypeName(v.dtype)));
}
void RequireFloatInputs(const Graph& g, const Node& n) {
  for (size_t i = 0; i < n.inputs.size(); ++i)
    if (n.HasInput(i)) RequireFloat(g, n, i);
}

}  // namespace effi::ops
