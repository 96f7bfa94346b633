// Graph passes. Mandatory: binding input shapes, shape inference and constant folding (which turns
// torch's Shape->Gather->Concat chains into constants). Optional ones (each its own file, each
// switchable) rewrite the ONNX-level graph into effi's fused ops without changing results beyond
// fp32 rounding.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace effi::passes {

struct PassOptions {
  bool fold_batchnorm = true;    // BatchNormalization after Conv -> Conv weights
  bool fuse_linear = true;       // MatMul/Gemm with constant weights (+bias) -> effi.Linear
  bool fold_layer_scale = true;  // per-channel Mul after Conv/Linear -> weights
  bool merge_heads = true;       // (head(x) + head_dist(x)) / 2 -> one effi.Linear
  bool fuse_layernorm = true;    // ReduceMean/Sub/Pow/.../Add pattern -> LayerNormalization
  bool fuse_gelu = true;         // x*0.5*(1+erf(x/sqrt2)) -> effi.Gelu
  bool channels_last = true;     // Conv/pool -> NHWC effi ops with transposes cancelled
  bool fuse_pool_mixer = true;   // x + ls * (AvgPool(x) - x) on NHWC -> effi.PoolMixer
  bool fuse_attention = true;    // softmax(q k^T * s + bias) v -> effi.Attention
  bool fuse_epilogue = true;     // activation / residual Add into effi.Conv / effi.Linear

  static PassOptions None();
  // Parses "all", "none" or a comma list like "none,fold_batchnorm" / "all,-fuse_gelu".
  static PassOptions Parse(const std::string& spec);
  std::string ToString() const;
};

// Fixes graph input shapes: `shapes` by input name; unspecified dims that are symbolic default
// to 1. Throws kInvalidArgument when a given shape contradicts a fixed declared dim.
void BindInputShapes(Graph& g, const std::map<std::string, Shape>& shapes);

// Validates every node against its schema, infers all shapes, and evaluates nodes whose inputs
// are all constant. Idempotent; passes call it after rewriting.
void InferShapesAndFold(Graph& g);

// The optional passes. Each returns the number of rewrites it made.
int FoldBatchNorm(Graph& g);
int FuseLinear(Graph& g);
int FoldLayerScale(Graph& g);
int MergeHeads(Graph& g);
int FuseLayerNorm(Graph& g);
int FuseGelu(Graph& g);
int ToChannelsLast(Graph& g);
int FusePoolMixer(Graph& g);
int FuseAttention(Graph& g);
int FuseEpilogue(Graph& g);

struct PassReport {
  std::vector<std::pair<std::string, int>> rewrites;  // pass name, count
};

// Runs the mandatory steps then the enabled passes in their fixed order.
PassReport Optimize(Graph& g, const PassOptions& opts);

}  // namespace effi::passes
