// Writing a post-training-quantized QDQ ONNX model (issue 12) from a float one: the standard
// QuantizeLinear/DequantizeLinear layout ONNX Runtime's quantize_static writes (a Q/DQ pair on
// each quantized Conv/Gemm/MatMul's activation inputs and, by default, on its output), so ONNX
// Runtime (and effi) run Conv/Gemm/MatMul on int8 kernels. Three steps, all on the serialized
// model:
//   1. PlanQdq: which nodes are quantized, which activations need a range, refusals (already
//      quantized, an op that cannot be moved to opset 13, unknown --keep-float names);
//   2. WithExtraOutputs: the model with those activations as graph outputs, for calibration
//      through the public effi API;
//   3. WriteQdq: the QDQ model (opset >= 13) written atomically.
// Protobuf stays inside qdq_export.cc; the math lives in src/quant.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "quant/quant.h"

namespace effi::onnx_io {

// One Conv / Gemm / MatMul node of the model.
struct QdqNode {
  int64_t index = 0;   // position in graph.node
  std::string name;    // node name (or its first output when unnamed)
  std::string output;  // its first output (what sensitivity analysis compares against float)
  std::string op;
  bool quantized = false;
  std::string why_float;  // when !quantized: "--keep-float", "weight not constant"...
  std::vector<std::string> activations;  // quantized activation inputs (1, or 2 for act x act)
  std::string weight;                    // constant input quantized per channel ("" for act x act)
  int64_t weight_axis = 0;               // its channel axis
  std::string bias;                      // Conv/Gemm bias quantized to int32 ("" when none)
  // For LayerMacs: the weight's dims, Conv's geometry, Gemm's transposes.
  std::vector<int64_t> weight_dims, strides, pads, dilations;
  std::string auto_pad;
  bool trans_a = false;
};

// Multiply-accumulates of one quantized node given its activation inputs' shapes (as calibration
// saw them); -1 when the shapes do not fit the node.
int64_t LayerMacs(const QdqNode& node, const std::vector<std::vector<int64_t>>& activation_shapes);

struct QdqPlan {
  int64_t opset = 0;           // the model's default-domain opset (written as max(opset, 13))
  std::vector<QdqNode> nodes;  // every Conv/Gemm/MatMul, in graph order
  // A Q/DQ pair on each quantized node's output too (QdqNode::output, read by every consumer):
  // ONNX Runtime's QDQ fusion turns a node into QLinearConv / QLinearMatMul / QGemm only when a
  // QuantizeLinear consumes its output (5 of L1's 41 layers without these pairs, 41 with them).
  bool output_qdq = true;
  // Distinct tensors needing a range, in graph order: the quantized nodes' activation inputs and,
  // with output_qdq, their outputs (a tensor that is both gets one range and one pair).
  std::vector<std::string> activations;
  // Tensors whose rank the opset upgrade needs (Softmax/LogSoftmax inputs at opset < 13).
  std::vector<std::string> rank_probes;
  std::vector<std::string> graph_inputs;  // the model's non-initializer inputs
  std::vector<std::string> outputs;       // the model's outputs
};

// Parses and checks `model` (serialized ModelProto). `keep_float`: node names (or first-output
// names) of Conv/Gemm/MatMul nodes to leave in float; `output_qdq`: QdqPlan::output_qdq. Throws
// effi::Error: kInvalidModel (not ONNX, already quantized:
// QuantizeLinear/DequantizeLinear/QLinear*/...Integer nodes), kUnsupported (opset < 11, external
// data, an op whose opset-13 form cannot be written), kInvalidArgument (a --keep-float name that is
// no Conv/Gemm/MatMul node).
QdqPlan PlanQdq(const std::string& model, const std::vector<std::string>& keep_float = {},
                bool output_qdq = true);

// `plan` with the quantized nodes named in `float_layers` left in float (why_float = `why`) and
// plan.activations reduced to those a still-quantized node reads or (output_qdq) writes: the
// variants the fallback and the sensitivity analysis try. Names that are no quantized node are
// ignored.
QdqPlan WithFloatLayers(const QdqPlan& plan, const std::set<std::string>& float_layers,
                        const std::string& why);

// `model` with `names` appended as float graph outputs (names already outputs are not repeated),
// so that running it through effi::Model returns those activations.
std::string WithExtraOutputs(const std::string& model, const std::vector<std::string>& names);

// What WriteQdq did, per quantized node (for the CLI's table).
struct QdqLayerReport {
  std::string name, op;
  float weight_scale_min = 0, weight_scale_max = 0;  // 0 for act x act MatMul
  int64_t bias_saturated = 0;                        // int32 bias values clipped
};
struct QdqReport {
  int64_t opset_in = 0, opset_out = 0;
  int64_t quantize_nodes = 0, dequantize_nodes = 0;
  std::vector<QdqLayerReport> layers;
  int64_t bytes = 0;  // size of the written file
};

// The QDQ model (opset >= 13), serialized. `activation_params`: u8 parameters per
// plan.activations name; `ranks`: rank per plan.rank_probes name. Throws effi::Error
// (kInvalidModel / kUnsupported for the model, kInvalidArgument for missing parameters). `report`
// gets everything but `bytes`' file (bytes is the serialized size).
std::string SerializeQdq(const std::string& model, const QdqPlan& plan,
                         const std::map<std::string, quant::QParams>& activation_params,
                         const std::map<std::string, int64_t>& ranks, QdqReport* report);
// The same into `out` (resized), whose allocation a caller serializing many variants reuses.
void SerializeQdq(const std::string& model, const QdqPlan& plan,
                  const std::map<std::string, quant::QParams>& activation_params,
                  const std::map<std::string, int64_t>& ranks, QdqReport* report, std::string* out);

// SerializeQdq written to `out_path` (a temp file in the same folder, then rename: nothing half
// written is ever at out_path). Throws effi::Error as SerializeQdq, and kIo for the file.
QdqReport WriteQdq(const std::string& model, const QdqPlan& plan,
                   const std::map<std::string, quant::QParams>& activation_params,
                   const std::map<std::string, int64_t>& ranks, const std::string& out_path);

// Fails as WriteQdq would on `out_path` (a directory, a missing or read-only folder) before any
// calibration work: creates and removes a temp file beside it. Throws Error(kIo).
void CheckWritable(const std::string& out_path);

// Writes `bytes` to `path` through a temp file in the same folder and a rename (mode 0644,
// fsynced). Throws Error(kIo) saying why. Also used for quantize's --report page.
void WriteFileAtomically(const std::string& path, const std::string& bytes);

}  // namespace effi::onnx_io
