// Normalisation ops: BatchNormalization (inference form) and LayerNormalization (ONNX 17; also
// what the LayerNorm fusion pass emits for opset-11 exports, whatever the model's opset).
#include <fmt/format.h>

#include "kernels/norm.h"
#include "kernels/ref/ref_kernels.h"
#include "ops/op.h"

namespace effi::ops {
namespace {

namespace ref = effi::kernels::ref;

void InferBatchNorm(const Node& n, Graph& g) {
  for (size_t i = 0; i < 5; ++i) RequireFloat(g, n, i);
  if (n.GetInt("training_mode", 0) != 0) Unsupported(n, "training_mode=1 is not supported");
  if (n.outputs.size() > 1)
    for (size_t i = 1; i < n.outputs.size(); ++i)
      if (n.outputs[i] >= 0)
        Unsupported(n, "training outputs (running mean/var) are not supported");
  const Shape& x = In(g, n, 0).shape;
  if (x.size() < 2) Fail(n, "input must have rank >= 2");
  for (size_t i = 1; i < 5; ++i)
    if (In(g, n, i).shape != Shape{x[1]})
      Fail(n, fmt::format("input {} must have shape [{}]", i, x[1]));
  SetOut(g, n, 0, DType::kF32, x);
}

std::unique_ptr<Kernel> CreateBatchNorm(const Node& n, const Graph& g) {
  const Shape& x = In(g, n, 0).shape;
  int64_t inner = 1;
  for (size_t i = 2; i < x.size(); ++i) inner *= x[i];
  const int64_t nb = x[0], c = x[1];
  const float eps = n.GetFloat("epsilon", 1e-5f);
  return MakeKernel([=](const ExecContext&, const void* const* in, void* const* o, void*) {
    auto f = [&](int i) { return static_cast<const float*>(in[i]); };
    ref::batchnorm_nchw_f32(nb, c, inner, f(0), f(1), f(2), f(3), f(4), eps,
                            static_cast<float*>(o[0]));
  });
}

struct LnGeom {
  int64_t rows, cols, axis;
};

LnGeom LayerNormGeometry(const Node& n, const Graph& g) {
  const Shape& x = In(g, n, 0).shape;
  const int64_t rank = static_cast<int64_t>(x.size());
  if (rank == 0) Fail(n, "input must have rank >= 1");
  int64_t axis = NormAxis(n, n.GetInt("axis", -1), rank);
  LnGeom geo{1, 1, axis};
  for (int64_t i = 0; i < axis; ++i) geo.rows *= x[i];
  for (int64_t i = axis; i < rank; ++i) geo.cols *= x[i];
  for (size_t i = 1; i < 3; ++i) {
    if (!n.HasInput(i)) continue;
    int64_t e = NumElements(In(g, n, i).shape);
    if (e != geo.cols)
      Fail(n, fmt::format("scale/bias has {} elements, the normalised size is {}", e, geo.cols));
  }
  return geo;
}

void InferLayerNorm(const Node& n, Graph& g) {
  RequireFloatInputs(g, n);
  LnGeom geo = LayerNormGeometry(n, g);
  const Shape& x = In(g, n, 0).shape;
  SetOut(g, n, 0, DType::kF32, x);
  Shape stat = x;
  for (size_t i = static_cast<size_t>(geo.axis); i < stat.size(); ++i) stat[i] = 1;
  SetOut(g, n, 1, DType::kF32, stat);
  SetOut(g, n, 2, DType::kF32, stat);
}

std::unique_ptr<Kernel> CreateLayerNorm(const Node& n, const Graph& g) {
  const LnGeom geo = LayerNormGeometry(n, g);
  const float eps = n.GetFloat("epsilon", 1e-5f);
  const size_t nout = n.outputs.size();
  std::vector<bool> has_out(3, false);
  for (size_t i = 0; i < nout; ++i) has_out[i] = n.outputs[i] >= 0;
  const bool stats = (nout > 1 && has_out[1]) || (nout > 2 && has_out[2]);
  if (!stats && !UseReferenceKernels()) {
    // Vectorised rows; the Mean/InvStdDev outputs (training graphs only) keep the reference.
    return MakeKernel([=](const ExecContext& ctx, const void* const* in, void* const* o, void*) {
      const float* x = static_cast<const float*>(in[0]);
      float* y = static_cast<float*>(o[0]);
      if (geo.rows == 0) return;
      const float* gamma = static_cast<const float*>(in[1]);
      const float* beta = static_cast<const float*>(in[2]);
      const int64_t rows = geo.rows, cols = geo.cols;
      // Split from 4K elements, like pooling: L1's 49x448 LayerNorms read rows whose columns the
      // two cores wrote in a column-split GEMM; on one thread the remote half took 15 us (4 us
      // at 1 thread), split by rows each core fetches half as much.
      ParallelRows(ctx, rows, rows * cols >= (1 << 12), [&](int64_t r0, int64_t r1, int) {
        kernels::LayerNormF32(r1 - r0, cols, x + r0 * cols, gamma, beta, eps, y + r0 * cols);
      });
    });
  }
  return MakeKernel([=](const ExecContext&, const void* const* in, void* const* o, void*) {
    float* mean = nout > 1 && has_out[1] ? static_cast<float*>(o[1]) : nullptr;
    float* inv = nout > 2 && has_out[2] ? static_cast<float*>(o[2]) : nullptr;
    ref::layernorm_f32(geo.rows, geo.cols, static_cast<const float*>(in[0]),
                       static_cast<const float*>(in[1]), static_cast<const float*>(in[2]), eps,
                       static_cast<float*>(o[0]), mean, inv);
  });
}

}  // namespace

void RegisterNormOps(std::vector<OpSchema>& r) {
  r.push_back({"",
               "BatchNormalization",
               5,
               5,
               1,
               3,
               {"epsilon", "momentum", "training_mode", "spatial"},
               InferBatchNorm,
               CreateBatchNorm});
  r.push_back({"",
               "LayerNormalization",
               1,
               3,
               1,
               3,
               {"axis", "epsilon", "stash_type"},
               InferLayerNorm,
               CreateLayerNorm});
}

}  // namespace effi::ops
