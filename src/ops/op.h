// Op layer: for every op the IR can hold, its schema (arity, allowed attributes), static shape
// inference, and a factory binding a node with known shapes to an executable Kernel that calls
// src/kernels. The graph knows no kernels; kernels know no graph: this layer joins them.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "kernels/qgemm.h"
#include "kernels/ref/ref_kernels.h"
#include "runtime/parallel.h"

namespace effi::ops {

// The intra-op scheduling lives below the ops (runtime/parallel.h) so the int8 ops share it;
// these names keep the ops:: spelling the executor, tests and fuzzers use.
using effi::ChooseGemmSplit;
using effi::ExecContext;
using effi::GemmSplit;
using effi::ParallelFor;
using effi::ParallelGemm;
using effi::ParallelRows;
using effi::RowsPerTask;
using effi::SplitBegin;

// An executable node. Shapes are fixed when it is created; Run is const and touches only the
// buffers it is given, so one Kernel serves any number of concurrent sessions.
class Kernel {
 public:
  virtual ~Kernel() = default;
  // Scratch = shared part + one slice per thread (thread t's slice starts at
  // scratch + ScratchShared() + t * ScratchPerThread()).
  virtual size_t ScratchShared() const { return 0; }
  virtual size_t ScratchPerThread() const { return 0; }
  size_t ScratchBytes(int threads) const {
    return ScratchShared() + ScratchPerThread() * static_cast<size_t>(threads);
  }
  // inputs[i] is null for an absent optional input. Output buffers never alias inputs unless the
  // schema says so (alias ops do not run at all).
  virtual void Run(const ExecContext& ctx, const void* const* inputs, void* const* outputs,
                   void* scratch) const = 0;
  // Constant inputs this kernel copied (packed) when it was created and never reads at run time:
  // the plan frees an original once every consumer's kernel has said so.
  const std::vector<int>& prepacked_inputs() const { return prepacked_inputs_; }
  void set_prepacked_inputs(std::vector<int> inputs) { prepacked_inputs_ = std::move(inputs); }

 private:
  std::vector<int> prepacked_inputs_;
};

using RunFn = std::function<void(const ExecContext&, const void* const*, void* const*, void*)>;
// A kernel from a closure (most ops need no more).
std::unique_ptr<Kernel> MakeKernel(RunFn fn, size_t scratch_shared = 0,
                                   size_t scratch_per_thread = 0);
// `kernel`, marked as having packed `inputs` at creation (see Kernel::prepacked_inputs).
std::unique_ptr<Kernel> Prepacked(std::unique_ptr<Kernel> kernel, std::vector<int> inputs);

struct OpSchema {
  std::string domain;  // "" = ONNX
  std::string op;
  int min_inputs = 1, max_inputs = 1;
  int min_outputs = 1, max_outputs = 1;
  std::vector<std::string> attrs;  // allowed attribute names; anything else is an error
  // Sets dtype/shape of every output from the inputs (all input shapes are known). Throws
  // kInvalidModel/kUnsupported naming the node.
  std::function<void(const Node&, Graph&)> infer;
  // Binds to a kernel. Constant inputs may be captured (and repacked) here.
  std::function<std::unique_ptr<Kernel>(const Node&, const Graph&)> create;
  // Output 0 is input 0's bytes reinterpreted (Reshape, Flatten, Squeeze, Unsqueeze, Identity):
  // the planner aliases the buffers and no kernel runs.
  bool alias = false;
  // False for ops whose results must not be folded even with constant inputs (none yet).
  bool foldable = true;
};

// Null when the op is unknown.
const OpSchema* FindOp(const std::string& domain, const std::string& op);
// Checks arity and attribute names against the schema; throws kUnsupported/kInvalidModel.
const OpSchema& CheckNode(const Node& n);
// All registered op types (for docs/tests).
std::vector<const OpSchema*> AllOps();

// True when EFFI_KERNELS=ref: every op runs its plain reference kernel (debugging, A/B tests).
bool UseReferenceKernels();
// Whether the ONNX Conv `conv` (shapes inferred) should become an effi.Conv that reads its input
// in NCHW (nchw_input = 1, the direct small-c_in kernel: the stem conv over RGB) instead of
// behind a transpose to NHWC. The channels-last pass asks; the op then has a fast kernel for it.
bool PreferNchwInputConv(const Node& conv, const Graph& g);
// ONNX MatMul's numpy semantics for A and B shapes: [M,K] x [K,N] per broadcast batch index,
// with the element offsets of each batch's A and B; throws naming the node (shared by MatMul and
// the integer MatMuls).
struct MatMulGeom {
  int64_t m, n, k;
  Shape out;
  // Per output batch index: element offsets into A and B.
  std::vector<int64_t> a_off, b_off;
};
MatMulGeom MatMulGeometry(const Node& n, const Shape& a, const Shape& b);
// ONNX Conv's geometry (1-D or 2-D; group, kernel_shape, pads, strides, dilations, auto_pad) for a
// node whose input x_index is X [N,C,(H,)W], w_index is W [M,C/group,(kh,)kw] and bias_index (-1:
// none) is B [M]; a 1-D conv has H = 1. Throws naming the node (shared by Conv and the integer
// convolutions, whose inputs sit at other indices).
struct ConvShape {
  kernels::ref::Conv2dParams p;
  int spatial;
};
ConvShape ConvGeometry(const Node& n, const Graph& g, size_t x_index = 0, size_t w_index = 1,
                       int bias_index = 2);

// ---- int8 execution of effi.Conv / effi.Linear (quant_ops.cc) ----
// A per-tensor u8 quantization named by two attributes (effi.FakeQuant's scale / zero_point, an
// int8 op's x_ / out_ ones, attention's p_ ones): the scale positive and finite, the zero point in
// [0, 255]; otherwise one error naming the node and the attribute.
struct FakeQuantParams {
  float scale;
  int32_t zero_point;
};
FakeQuantParams FakeQuantAttrs(const Node& n, const char* scale_attr, const char* zp_attr);
// True for a 1x1, stride-1, unpadded convolution: on NHWC data a plain [N*H*W, Cin] x [Cin, Cout]
// product (no im2col).
inline bool IsPointwiseConv(const kernels::ref::Conv2dParams& p) {
  return p.kh == 1 && p.kw == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_top == 0 &&
         p.pad_left == 0 && p.h_out == p.h_in && p.w_out == p.w_in;
}
// A node the fuse_int8 pass marked with attrs x_scale / x_zero_point takes a float input 0 that
// it quantizes to u8 with them (exactly what the QDQ pair the pass removed did) and multiplies by
// its constant weights' int8 grid (kernels::FindInt8Grid) on the int8 GEMM.
inline bool IsInt8Node(const Node& n) {
  for (const char* a : {"x_scale", "x_zero_point", "x_u8", "y_scale", "y_zero_point", "out_scale",
                        "out_zero_point"})
    if (n.Has(a)) return true;
  return false;
}
// Input types of an effi.Conv / effi.Linear (float; input 0 u8 with attr x_u8) and its output
// type (u8 with attr out_scale, else float).
void RequireGemmOpTypes(const Graph& g, const Node& n);
DType GemmOpOutputType(const Node& n);
// DequantizeLinear of constant int8 weights with zero zero points and positive finite scales,
// folded without computing the floats: TensorData::FromInt8 (null when the node is not such).
ConstTensor FoldInt8Dequantize(const Node& n, const Graph& g);
// The int8 grid of float weights w (Linear [K, N]: a channel per column; OHWI conv: per row): the
// int8 source's q and scales when w has one along that axis (values in [-127, 127]), else
// kernels::FindInt8Grid of its values. q is returned [channels][K].
std::optional<kernels::Int8Grid> Int8GridOf(const TensorData& w, bool linear);
// Inputs 4 (post_bias) and 5 (post_scale) of an effi.Conv / effi.Linear: [channels] each, and only
// on an int8 op (the fp32 kernels have no such epilogue step); otherwise one error naming it.
void CheckPostChannelInputs(const Node& n, const Graph& g, int64_t channels);
// Load-time checks of such a node (attrs, constant weights, no group / NCHW input); names it.
void CheckInt8Node(const Node& n, const Graph& g);
// Its kernel: A = input 0 quantized ([m][k]; for a KxK `conv`, the im2col of it), B = input 1
// (Linear [k][nn], Conv OHWI [nn][k]) on its int8 grid, C = float y = act(A*B * x_scale *
// w_scale + bias) + residual (inputs 2 and 3), as the fp32 op's epilogue.
std::unique_ptr<Kernel> CreateInt8Gemm(const Node& n, const Graph& g,
                                       const kernels::ref::Conv2dParams* conv, int64_t m, int64_t k,
                                       int64_t nn, kernels::ref::Activation act);

// ---- helpers shared by the op files ----
const Value& In(const Graph& g, const Node& n, size_t i);
Value& Out(Graph& g, const Node& n, size_t i);
void SetOut(Graph& g, const Node& n, size_t i, DType dt, Shape shape);
// Normalises a possibly negative axis for `rank`; throws naming the node if out of range.
int64_t NormAxis(const Node& n, int64_t axis, int64_t rank);
// Numpy broadcast of shapes; throws naming the node when incompatible.
Shape BroadcastShapes(const Node& n, const Shape& a, const Shape& b);
// Checks every input's size (NumElements names the node): a declared graph input's dims are each
// <= 2^31 but were never multiplied, and an op whose output drops some of them (a reduced axis, a
// contracted K, a gathered axis) would otherwise compute their products unchecked.
void CheckInputSizes(const Node& n, const Graph& g);
// Constant input i as int64 values (for shape-like inputs); throws if not constant.
std::vector<int64_t> ConstInts(const Graph& g, const Node& n, size_t i, const char* what);
[[noreturn]] void Fail(const Node& n, const std::string& msg);
[[noreturn]] void Unsupported(const Node& n, const std::string& msg);
void RequireFloat(const Graph& g, const Node& n, size_t i);
// RequireFloat for every input the node has (absent optional inputs skipped).
void RequireFloatInputs(const Graph& g, const Node& n);

// Whether the ONNX Resize `resize` (shapes inferred) on a 4-D NCHW float tensor resizes only H and
// W (N and C identity; not tf_crop_and_resize, not opset 10's nearest rule, a non-empty output),
// so that an effi.Resize of the NHWC tensor computes exactly what it does; if so, sets *attrs to
// that effi.Resize's attributes (resize_pad_ops.cc). The channels_last pass asks.
bool NhwcResizeAttrs(const Node& resize, const Graph& g, std::map<std::string, AttrValue>* attrs);

// Registration entry points (one per op family file).
void RegisterElementwiseOps(std::vector<OpSchema>& r);
void RegisterConvPoolOps(std::vector<OpSchema>& r);
void RegisterMatMulOps(std::vector<OpSchema>& r);
void RegisterNormOps(std::vector<OpSchema>& r);
void RegisterReduceOps(std::vector<OpSchema>& r);
void RegisterShapeOps(std::vector<OpSchema>& r);
void RegisterQuantOps(std::vector<OpSchema>& r);
void RegisterResizePadOps(std::vector<OpSchema>& r);
void RegisterAttention2dOps(std::vector<OpSchema>& r);

}  // namespace effi::ops
