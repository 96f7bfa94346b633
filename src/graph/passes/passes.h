// Graph passes. Mandatory: binding input shapes, shape inference and constant folding (which turns
// torch's Shape->Gather->Concat chains into constants). Optional ones (each its own file, each
// switchable) rewrite the ONNX-level graph into effi's fused ops without changing results beyond
// fp32 rounding.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace effi::passes {

// Memory budget of one compilation, in bytes: what loading and running a model may allocate beyond
// the weights stored in its file (activation arena, kernel scratch, constants computed by folding,
// weight copies made by kernels). 512 MiB: an edge box has 1-8 GiB, and what a model needs is tiny
// next to it: EfficientFormer-L1 at 224x224 takes a 3.4 MiB arena + 0.65 MiB scratch per image
// (L3/L7 about 1.3x/2x, by their stage widths), so L1 fits up to batch ~120 and L7 ~60, while a
// 100-byte file can no longer ask for gigabytes (ConstantOfShape/Expand/Tile to 2^30 elements).
// See ModelOptions::memory_limit_bytes.
inline constexpr int64_t kDefaultMemoryLimit = int64_t{512} << 20;
inline constexpr int64_t kUnlimitedMemory = -1;

struct PassOptions {
  bool fuse_qdq = true;          // QuantizeLinear -> DequantizeLinear pair -> effi.FakeQuant
  bool fold_batchnorm = true;    // BatchNormalization after Conv -> Conv weights
  bool fuse_linear = true;       // MatMul/Gemm with constant weights (+bias) -> effi.Linear
  bool fold_layer_scale = true;  // per-channel Mul after Conv/Linear -> weights
  bool merge_heads = true;       // (head(x) + head_dist(x)) / 2 -> one effi.Linear
  bool fuse_layernorm = true;    // ReduceMean/Sub/Pow/.../Add pattern -> LayerNormalization
  bool fuse_gelu = true;         // x*0.5*(1+erf(x/sqrt2)) -> effi.Gelu
  bool fuse_attention2d = true;  // V2's MatMul/Softmax/talking-head chain -> effi.Attention2d
  bool channels_last = true;     // Conv/pool -> NHWC effi ops with transposes cancelled
  bool fuse_pool_mixer = true;   // x + ls * (AvgPool(x) - x) on NHWC -> effi.PoolMixer
  bool fuse_attention = true;    // softmax(q k^T * s + bias) v -> effi.Attention
  bool fuse_int8 = true;         // effi.FakeQuant -> effi.Conv / Linear on int8 weights -> int8 op
  bool fuse_int8_output = true;  // int8 op -> effi.FakeQuant: fake-quantized in its epilogue
  bool fuse_epilogue = true;     // activation / residual Add into effi.Conv / effi.Linear
  bool chain_int8 = true;        // int8 op -> int8 ops only: u8 output, u8 inputs
  // Not a pass: the budget constant folding counts against (kUnlimitedMemory: none). Parse and
  // None() keep the default.
  int64_t memory_limit_bytes = kDefaultMemoryLimit;

  static PassOptions None();
  // Parses "all", "none" or a comma list like "none,fold_batchnorm" / "all,-fuse_gelu".
  static PassOptions Parse(const std::string& spec);
  std::string ToString() const;
};

// Fixes graph input shapes: `shapes` by input name; unspecified dims that are symbolic default
// to 1. Throws kInvalidArgument when a given shape contradicts a fixed declared dim.
void BindInputShapes(Graph& g, const std::map<std::string, Shape>& shapes);

// Validates every node against its schema, infers all shapes, and evaluates nodes whose inputs
// are all constant. Idempotent; passes call it after rewriting. Folded bytes count against the
// budget Optimize installed (else a fresh one at the default limit); a fold over it throws
// kInvalidModel naming the node.
void InferShapesAndFold(Graph& g);

// Installs a folding budget for this thread while it lives (Optimize makes one; the previous one is
// restored after): the running total of bytes folded so far must stay within `limit` (bytes,
// kUnlimitedMemory: none) plus `credit` (the file's weights, which re-laid-out copies replace).
class ScopedFoldBudget {
 public:
  ScopedFoldBudget(int64_t limit, int64_t credit);
  ~ScopedFoldBudget();
  ScopedFoldBudget(const ScopedFoldBudget&) = delete;
  ScopedFoldBudget& operator=(const ScopedFoldBudget&) = delete;
  int64_t folded() const { return folded_; }
  // The budget in force on this thread (null outside any scope).
  static ScopedFoldBudget* Current();
  // Throws kInvalidModel naming `n` unless folding it (`bytes` kept, `scratch` transient) fits.
  void Check(const Node& n, const Graph& g, int64_t bytes, int64_t scratch) const;
  void Add(int64_t bytes) { folded_ += bytes; }

 private:
  int64_t limit_, credit_, folded_ = 0;
  ScopedFoldBudget* previous_;
};

// Bytes of the distinct constant tensors of `g` (before passes: the weights stored in the file,
// which the memory budget does not count).
int64_t ConstantBytes(const Graph& g);
// "512 MiB", "1.5 MiB", "3 KiB", "12 bytes".
std::string FormatBytes(int64_t bytes);
// ", over the memory limit of 512 MiB (raise it with --memory-limit or EFFI_MEMORY_LIMIT)": the end
// of every over-budget message.
std::string OverLimit(int64_t limit);

// The optional passes. Each returns the number of rewrites it made.
int FuseQdq(Graph& g);
int FoldBatchNorm(Graph& g);
int FuseLinear(Graph& g);
int FoldLayerScale(Graph& g);
int MergeHeads(Graph& g);
int FuseLayerNorm(Graph& g);
int FuseGelu(Graph& g);
int FuseAttention2d(Graph& g);
int ToChannelsLast(Graph& g);
int FusePoolMixer(Graph& g);
int FuseAttention(Graph& g);
int FuseInt8(Graph& g);
int FuseInt8Output(Graph& g);
int FuseEpilogue(Graph& g);
int ChainInt8(Graph& g);

struct PassReport {
  std::vector<std::pair<std::string, int>> rewrites;  // pass name, count
};

// Runs the mandatory steps then the enabled passes in their fixed order; every fold on the way
// (also those inside passes) counts against one budget of opts.memory_limit_bytes plus the bytes
// of the constants `g` holds on entry.
PassReport Optimize(Graph& g, const PassOptions& opts);

}  // namespace effi::passes
