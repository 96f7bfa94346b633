// QDQ model writer (see qdq_export.h). Layout, as ONNX Runtime's quantize_static (QDQ format,
// per_channel=True) writes it, so that its QDQ fusions turn each DQ->op->Q group into its
// integer kernels (QLinearConv / QLinearMatMul / QGemm):
//   activation input t of a quantized node, produced by anything else:
//                  t -> QuantizeLinear(t_scale, t_zero_point u8) -> DequantizeLinear -> consumers
//                  (one pair per tensor, shared by every quantized consumer; float consumers keep
//                  t)
//   output t of a quantized node (QdqPlan::output_qdq):
//                  node -> t_unquantized -> QuantizeLinear -> DequantizeLinear -> t -> consumers
//                  (the node's output renamed, so every consumer and a graph output named t read
//                  the dequantized values; a quantized consumer of t reads it as its input pair:
//                  one rounding per tensor)
//   weight w:      w_quantized (s8 initializer) -> DequantizeLinear(w_scale [C], zero point s8 [C],
//                  axis) -> the node
//   bias b:        b_quantized (s32, scale s_x * s_w[c], zero point 0) -> DequantizeLinear(axis 0)
// Per-axis DequantizeLinear needs opset 13, so the default-domain opset is raised to 13 and the
// ops whose form changed between 11 and 13 are rewritten.
#include "onnx/qdq_export.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <system_error>

#include "effi/error.hpp"
#include "onnx.pb.h"
#include "util/text.h"

namespace effi::onnx_io {
namespace {

namespace fs = std::filesystem;
using onnx::TensorProto;

// Per-axis DequantizeLinear (the per-channel weights) exists from opset 13.
constexpr int64_t kQdqOpset = 13;
// IR version 7 is the one that introduced opset 13 (ONNX 1.8).
constexpr int64_t kQdqIrVersion = 7;

std::string Q(const std::string& s) { return util::EscapeControl(s, util::kMaxQuoted); }

[[noreturn]] void BadModel(const std::string& msg) { throw Error(ErrorCode::kInvalidModel, msg); }

onnx::ModelProto Parse(const std::string& bytes) {
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
    throw Error(ErrorCode::kUnsupported, "model larger than 2 GiB");
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  in.SetRecursionLimit(64);  // as the importer: hostile nesting fails instead of overflowing
  onnx::ModelProto m;
  if (!m.ParseFromCodedStream(&in) || !in.ConsumedEntireMessage())
    BadModel("not a valid ONNX model (protobuf parse failed)");
  return m;
}

int64_t DefaultOpset(const onnx::ModelProto& m) {
  int64_t v = 0;
  for (const auto& op : m.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") v = op.version();
  return v;
}

std::string NodeName(const onnx::NodeProto& n) {
  if (!n.name().empty()) return n.name();
  return n.output_size() ? n.output(0) : std::string();
}

std::string Describe(const onnx::NodeProto& n) {
  return fmt::format("node '{}' ({})", Q(NodeName(n)), Q(n.op_type()));
}

const onnx::AttributeProto* FindAttr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

int64_t IntAttr(const onnx::NodeProto& n, const std::string& name, int64_t dflt) {
  const onnx::AttributeProto* a = FindAttr(n, name);
  return a && a->type() == onnx::AttributeProto::INT ? a->i() : dflt;
}

float FloatAttr(const onnx::NodeProto& n, const std::string& name, float dflt) {
  const onnx::AttributeProto* a = FindAttr(n, name);
  return a && a->type() == onnx::AttributeProto::FLOAT ? a->f() : dflt;
}

bool IsQuantizedOp(const std::string& op) {
  return op == "QuantizeLinear" || op == "DequantizeLinear" || op == "DynamicQuantizeLinear" ||
         op.rfind("QLinear", 0) == 0 || op == "MatMulInteger" || op == "ConvInteger";
}

// The ops effi runs (src/ops) whose opset-11 form is valid at opset 13 as it is, or after the
// rewrite Upgrade() does (Softmax/LogSoftmax, Split, Squeeze, Unsqueeze, ReduceSum, Dropout).
const std::set<std::string>& UpgradableOps() {
  // Packed by hand: clang-format puts one op per line (70 lines).
  // clang-format off
  static const std::set<std::string> ops = {
      "Conv", "Relu", "AveragePool", "MaxPool", "GlobalAveragePool", "BatchNormalization", "Add",
      "Sub", "Mul", "Div", "Pow", "Sqrt", "Erf", "Exp", "Log", "Neg", "Abs", "Sigmoid", "Tanh",
      "Reciprocal", "Floor", "Ceil", "Clip", "Max", "Min", "Sum", "Mean", "ReduceMean",
      "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare", "ReduceL2",
      "MatMul", "Gemm", "Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Softmax",
      "LogSoftmax", "ArgMax", "Split", "Slice", "Gather", "Concat", "Identity", "Dropout",
      "Constant", "Shape", "Size", "Cast", "Expand", "Tile", "ConstantOfShape", "Range", "Equal",
      "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "Where", "Pad", "Resize"};
  // clang-format on
  return ops;
}

// Resize-13 dropped opset 11's tf_half_pixel_for_nn coordinate mode; everything else about
// Resize (and Pad) reads the same at 13 (EfficientFormerV2 has both).
bool Upgradable(const onnx::NodeProto& n) {
  if ((!n.domain().empty() && n.domain() != "ai.onnx") || !UpgradableOps().count(n.op_type()))
    return false;
  const onnx::AttributeProto* mode = FindAttr(n, "coordinate_transformation_mode");
  return !(n.op_type() == "Resize" && mode && mode->s() == "tf_half_pixel_for_nn");
}

// Softmax/LogSoftmax before opset 13 normalise over the input flattened to 2-D at `axis`; from 13
// over that one axis. Equal when the axis is the last one; else the rewrite needs the rank.
bool NeedsRank(const onnx::NodeProto& n) {
  return (n.op_type() == "Softmax" || n.op_type() == "LogSoftmax") && IntAttr(n, "axis", 1) != -1;
}

struct Model {
  onnx::ModelProto proto;
  std::map<std::string, int> initializers;  // name -> index in graph.initializer
  std::set<std::string> constant_outputs;   // outputs of Constant nodes
  // Identity outputs of initializers (torch exports a tensor shared by two layers, like the two
  // classifier heads' equal biases, as one initializer and an Identity): name -> initializer.
  std::map<std::string, std::string> aliases;
};

Model Load(const std::string& bytes) {
  Model m;
  m.proto = Parse(bytes);
  const onnx::GraphProto& g = m.proto.graph();
  for (int i = 0; i < g.initializer_size(); ++i) {
    const TensorProto& t = g.initializer(i);
    if (t.data_location() == TensorProto::EXTERNAL)
      throw Error(ErrorCode::kUnsupported,
                  fmt::format("initializer '{}' uses external data, which quantize does not "
                              "read yet (save the model as one file)",
                              Q(t.name())));
    m.initializers[t.name()] = i;
  }
  for (const auto& n : g.node()) {
    if (n.op_type() == "Constant")
      for (const auto& o : n.output()) m.constant_outputs.insert(o);
    if (n.op_type() == "Identity" && n.input_size() == 1 && n.output_size() == 1) {
      auto a = m.aliases.find(n.input(0));
      const std::string& target = a != m.aliases.end() ? a->second : n.input(0);
      if (m.initializers.count(target)) m.aliases[n.output(0)] = target;
    }
  }
  return m;
}

bool IsConstant(const Model& m, const std::string& name) {
  return m.initializers.count(name) || m.constant_outputs.count(name) || m.aliases.count(name);
}

const TensorProto* FloatInitializer(const Model& m, const std::string& name) {
  auto alias = m.aliases.find(name);
  auto it = m.initializers.find(alias != m.aliases.end() ? alias->second : name);
  if (it == m.initializers.end()) return nullptr;
  const TensorProto& t = m.proto.graph().initializer(it->second);
  return t.data_type() == TensorProto::FLOAT ? &t : nullptr;
}

// The float values of an initializer, checked against its dims.
std::vector<float> ReadFloats(const TensorProto& t) {
  int64_t n = 1;
  for (int64_t d : t.dims()) {
    if (d < 0 || (d > 0 && n > std::numeric_limits<int32_t>::max() / d))
      BadModel(fmt::format("initializer '{}': bad dims", Q(t.name())));
    n *= d;
  }
  std::vector<float> v(static_cast<size_t>(n));
  if (t.has_raw_data()) {
    if (t.raw_data().size() != v.size() * sizeof(float))
      BadModel(fmt::format("initializer '{}': {} bytes of data for {} floats", Q(t.name()),
                           t.raw_data().size(), n));
    std::memcpy(v.data(), t.raw_data().data(), t.raw_data().size());
  } else {
    if (t.float_data_size() != n)
      BadModel(fmt::format("initializer '{}': {} values for {} elements", Q(t.name()),
                           t.float_data_size(), n));
    std::copy(t.float_data().begin(), t.float_data().end(), v.begin());
  }
  return v;
}

// The tensors the quantized nodes of `plan` read as activations and, with plan.output_qdq, write,
// each once, in graph order: the ones needing a range and a Q/DQ pair.
std::vector<std::string> QuantizedTensors(const QdqPlan& plan) {
  std::vector<std::string> tensors;
  std::set<std::string> seen;
  for (const QdqNode& q : plan.nodes) {
    if (!q.quantized) continue;
    for (const std::string& t : q.activations)
      if (seen.insert(t).second) tensors.push_back(t);
    if (plan.output_qdq && !q.output.empty() && seen.insert(q.output).second)
      tensors.push_back(q.output);
  }
  return tensors;
}

}  // namespace

QdqPlan PlanQdq(const std::string& bytes, const std::vector<std::string>& keep_float,
                bool output_qdq) {
  const Model m = Load(bytes);
  const onnx::GraphProto& g = m.proto.graph();
  QdqPlan plan;
  plan.output_qdq = output_qdq;
  plan.opset = DefaultOpset(m.proto);
  if (plan.opset < 11)
    throw Error(ErrorCode::kUnsupported,
                fmt::format("default-domain opset {}: quantize upgrades models from opset 11 on "
                            "(re-export with opset_version >= 11)",
                            plan.opset));
  for (const auto& in : g.input())
    if (!m.initializers.count(in.name())) plan.graph_inputs.push_back(in.name());
  for (const auto& out : g.output()) plan.outputs.push_back(out.name());
  for (const auto& n : g.node()) {
    if (IsQuantizedOp(n.op_type()))
      BadModel(fmt::format("the model is already quantized ({})", Describe(n)));
    if (plan.opset < kQdqOpset) {
      if (!Upgradable(n))
        throw Error(ErrorCode::kUnsupported,
                    fmt::format("{} in domain '{}': cannot be moved from opset {} to opset {}, "
                                "which per-channel quantization needs",
                                Describe(n), Q(n.domain()), plan.opset, kQdqOpset));
      if (NeedsRank(n) && n.input_size() > 0 &&
          std::find(plan.rank_probes.begin(), plan.rank_probes.end(), n.input(0)) ==
              plan.rank_probes.end())
        plan.rank_probes.push_back(n.input(0));
    }
  }

  std::set<std::string> keep(keep_float.begin(), keep_float.end()), matched;
  for (int index = 0; index < g.node_size(); ++index) {
    const onnx::NodeProto& n = g.node(index);
    const std::string& op = n.op_type();
    if (!(op == "Conv" || op == "Gemm" || op == "MatMul") || n.input_size() < 2) continue;
    if (!n.domain().empty() && n.domain() != "ai.onnx") continue;
    QdqNode q;
    q.index = index;
    q.name = NodeName(n);
    if (n.output_size()) q.output = n.output(0);
    q.op = op;
    const bool kept = keep.count(q.name) || (n.output_size() && keep.count(n.output(0)));
    if (kept) {
      matched.insert(q.name);
      if (n.output_size()) matched.insert(n.output(0));
    }
    const std::string& a = n.input(0);
    const std::string& b = n.input(1);
    if (kept) {
      q.why_float = "--keep-float";
    } else if (b.empty()) {
      q.why_float = "no second input";
    } else if (a.empty() || IsConstant(m, a)) {
      q.why_float = "constant first input";
    } else if (!IsConstant(m, b)) {
      if (op == "Conv") {
        q.why_float = "weight not constant";
      } else {  // activation x activation (attention's q k^T and attn v): both u8
        q.activations = {a, b};
      }
    } else {
      const TensorProto* w = FloatInitializer(m, b);
      const int rank = w ? w->dims_size() : 0;
      if (!w) {
        q.why_float = "weight not a float initializer";
      } else if (op == "Conv" && rank >= 3) {
        q.weight_axis = 0;  // [O, I/group, k...]
      } else if (op == "Gemm" && rank == 2) {
        q.weight_axis = IntAttr(n, "transB", 0) ? 0 : 1;  // B [N, K] or [K, N]
      } else if (op == "MatMul" && rank >= 2) {
        q.weight_axis = rank - 1;  // B [..., K, N]: one scale per output column
      } else {
        q.why_float = fmt::format("weight of rank {}", rank);
      }
      if (q.why_float.empty()) {
        q.activations = {a};
        q.weight = b;
        q.weight_dims.assign(w->dims().begin(), w->dims().end());
        const int64_t channels = w->dims(static_cast<int>(q.weight_axis));
        if (n.input_size() > 2 && !n.input(2).empty()) {
          const TensorProto* bias = FloatInitializer(m, n.input(2));
          const bool unit_gemm =
              op != "Gemm" || (FloatAttr(n, "alpha", 1) == 1 && FloatAttr(n, "beta", 1) == 1);
          // Only a per-channel vector can take the per-channel scale s_x * s_w[c]; anything
          // else (a broadcast Gemm C, alpha/beta != 1) stays float.
          if (bias && unit_gemm && bias->dims_size() == 1 && bias->dims(0) == channels)
            q.bias = n.input(2);
        }
      }
    }
    auto ints = [&](const char* name) {
      const onnx::AttributeProto* attr = FindAttr(n, name);
      return attr ? std::vector<int64_t>(attr->ints().begin(), attr->ints().end())
                  : std::vector<int64_t>();
    };
    q.strides = ints("strides");
    q.pads = ints("pads");
    q.dilations = ints("dilations");
    if (const onnx::AttributeProto* ap = FindAttr(n, "auto_pad")) q.auto_pad = ap->s();
    q.trans_a = IntAttr(n, "transA", 0) != 0;
    if (q.why_float.empty()) q.quantized = true;
    plan.nodes.push_back(std::move(q));
  }
  plan.activations = QuantizedTensors(plan);
  for (const std::string& name : keep_float)
    if (!matched.count(name))
      throw Error(
          ErrorCode::kInvalidArgument,
          fmt::format("--keep-float '{}': no Conv, Gemm or MatMul node has that name", Q(name)));
  return plan;
}

int64_t LayerMacs(const QdqNode& q, const std::vector<std::vector<int64_t>>& shapes) {
  if (shapes.empty()) return -1;
  const std::vector<int64_t>& a = shapes[0];
  for (const auto& s : shapes)
    for (int64_t d : s)
      if (d < 0) return -1;
  auto prod = [](auto begin, auto end) {
    int64_t p = 1;
    for (auto it = begin; it != end; ++it) p *= *it;
    return p;
  };
  const std::vector<int64_t>& w = q.weight_dims;
  if (q.op == "Conv") {
    // out = N * O * prod(out spatial) MACs of (I / group) * prod(kernel) each.
    if (w.size() < 3 || a.size() != w.size()) return -1;
    const size_t sp = w.size() - 2;
    int64_t out = a[0] * w[0];
    for (size_t i = 0; i < sp; ++i) {
      const int64_t stride = i < q.strides.size() ? q.strides[i] : 1;
      const int64_t dil = i < q.dilations.size() ? q.dilations[i] : 1;
      const int64_t pad = q.pads.size() == 2 * sp ? q.pads[i] + q.pads[i + sp] : 0;
      if (stride <= 0) return -1;
      const int64_t in = a[2 + i];
      const int64_t o = q.auto_pad.rfind("SAME", 0) == 0
                            ? (in + stride - 1) / stride
                            : (in + pad - dil * (w[2 + i] - 1) - 1) / stride + 1;
      if (o <= 0) return -1;
      out *= o;
    }
    return out * prod(w.begin() + 1, w.end());
  }
  if (a.size() < 2) return -1;
  if (q.op == "Gemm") {
    if (w.size() != 2) return -1;
    const int64_t n = q.weight_axis == 0 ? w[0] : w[1];
    return a[0] * a[1] * n;  // M * K * N whichever way A is transposed
  }
  // MatMul: rows of A (every leading dim) x K x N.
  const int64_t rows_k = prod(a.begin(), a.end());
  if (!w.empty()) return rows_k * w.back();
  if (shapes.size() < 2 || shapes[1].empty()) return -1;
  return rows_k * shapes[1].back();
}

std::string WithExtraOutputs(const std::string& bytes, const std::vector<std::string>& names) {
  onnx::ModelProto m = Parse(bytes);
  std::set<std::string> have;
  for (const auto& o : m.graph().output()) have.insert(o.name());
  for (const std::string& name : names) {
    if (!have.insert(name).second) continue;
    onnx::ValueInfoProto* vi = m.mutable_graph()->add_output();
    vi->set_name(name);
    vi->mutable_type()->mutable_tensor_type()->set_elem_type(TensorProto::FLOAT);
  }
  std::string out;
  if (!m.SerializeToString(&out)) throw Error(ErrorCode::kInternal, "cannot serialize the model");
  return out;
}

namespace {

// Builds the new model: names made unique against everything already in the graph.
class Writer {
 public:
  explicit Writer(Model& m) : m_(m), g_(*m.proto.mutable_graph()) {
    for (const auto& t : g_.initializer()) used_.insert(t.name());
    for (const auto& v : g_.input()) used_.insert(v.name());
    for (const auto& n : g_.node()) {
      used_.insert(n.name());
      for (const auto& o : n.output()) used_.insert(o);
    }
  }

  std::string Unique(const std::string& base) {
    std::string name = base;
    for (int k = 1; used_.count(name); ++k) name = fmt::format("{}_{}", base, k);
    used_.insert(name);
    return name;
  }

  template <typename T>
  std::string AddInitializer(const std::string& base, int type, const std::vector<int64_t>& dims,
                             const std::vector<T>& values) {
    TensorProto* t = g_.add_initializer();
    t->set_name(Unique(base));
    t->set_data_type(type);
    for (int64_t d : dims) t->add_dims(d);
    t->set_raw_data(
        std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T)));
    return t->name();
  }

  onnx::NodeProto MakeNode(const std::string& op, const std::string& name,
                           std::vector<std::string> inputs, const std::string& output) {
    onnx::NodeProto n;
    n.set_op_type(op);
    n.set_name(Unique(name));
    for (auto& i : inputs) n.add_input(i);
    n.add_output(output);
    return n;
  }

  static void SetInt(onnx::NodeProto& n, const std::string& name, int64_t v) {
    for (auto& a : *n.mutable_attribute())
      if (a.name() == name) {
        a.set_type(onnx::AttributeProto::INT);
        a.set_i(v);
        return;
      }
    onnx::AttributeProto* a = n.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }

  static std::vector<int64_t> TakeInts(onnx::NodeProto& n, const std::string& name, bool* found) {
    std::vector<int64_t> v;
    *found = false;
    auto* attrs = n.mutable_attribute();
    for (int i = 0; i < attrs->size(); ++i)
      if (attrs->Get(i).name() == name) {
        v.assign(attrs->Get(i).ints().begin(), attrs->Get(i).ints().end());
        attrs->DeleteSubrange(i, 1);
        *found = true;
        break;
      }
    return v;
  }

  // Rewrites node `n` into its opset-13 form; `before` / `after` receive nodes to put around it.
  void Upgrade(onnx::NodeProto& n, const std::map<std::string, int64_t>& ranks,
               std::vector<onnx::NodeProto>& before, std::vector<onnx::NodeProto>& after) {
    const std::string& op = n.op_type();
    auto attr_to_input = [&](const char* attr, size_t index) {
      bool found = false;
      const std::vector<int64_t> v = TakeInts(n, attr, &found);
      if (!found) return;
      const std::string name = AddInitializer(NodeName(n) + "_" + attr, TensorProto::INT64,
                                              {static_cast<int64_t>(v.size())}, v);
      while (static_cast<size_t>(n.input_size()) < index) n.add_input("");
      if (static_cast<size_t>(n.input_size()) == index)
        n.add_input(name);
      else
        n.set_input(static_cast<int>(index), name);
    };
    if (op == "Split") {
      attr_to_input("split", 1);
    } else if (op == "Squeeze" || op == "Unsqueeze" || op == "ReduceSum") {
      attr_to_input("axes", 1);
    } else if (op == "Dropout") {
      // Opset 12 made `ratio` an input; at inference Dropout is the identity either way.
      auto* attrs = n.mutable_attribute();
      for (int i = attrs->size() - 1; i >= 0; --i)
        if (attrs->Get(i).name() == "ratio") attrs->DeleteSubrange(i, 1);
    } else if (NeedsRank(n)) {
      auto it = ranks.find(n.input(0));
      if (it == ranks.end())
        throw Error(
            ErrorCode::kInvalidArgument,
            fmt::format("{}: the rank of its input is needed to move it to opset 13", Describe(n)));
      const int64_t rank = it->second;
      int64_t axis = IntAttr(n, "axis", 1);
      if (axis < -rank || axis >= std::max<int64_t>(rank, 1))
        BadModel(fmt::format("{}: axis {} out of range for rank {}", Describe(n), axis, rank));
      if (axis < 0) axis += rank;
      if (axis == rank - 1) {
        SetInt(n, "axis", -1);  // the last axis: the same result in both forms
        return;
      }
      // The opset-11 meaning spelled out: Flatten at axis, normalise rows, restore the shape.
      const std::string base = NodeName(n);
      const std::string x = n.input(0), y = n.output(0);
      const std::string shape = Unique(base + "_shape"), flat = Unique(base + "_flat"),
                        norm = Unique(base + "_2d");
      before.push_back(MakeNode("Shape", base + "_Shape", {x}, shape));
      onnx::NodeProto flatten = MakeNode("Flatten", base + "_Flatten", {x}, flat);
      SetInt(flatten, "axis", axis);
      before.push_back(flatten);
      n.set_input(0, flat);
      n.set_output(0, norm);
      SetInt(n, "axis", -1);
      after.push_back(MakeNode("Reshape", base + "_Reshape", {norm, shape}, y));
    }
  }

  Model& m_;
  onnx::GraphProto& g_;
  std::set<std::string> used_;
};

// Creates the temp file `path` is written through (same folder, so the rename is atomic);
// returns its descriptor and sets *tmp_path. Throws Error(kIo) saying why `path` cannot be written.
int CreateTemp(const std::string& path, std::string* tmp_path) {
  const std::string shown = util::EscapeControl(path, util::kMaxQuotedPath);
  if (path.empty() || path.find('\0') != std::string::npos)
    throw Error(ErrorCode::kIo, fmt::format("cannot write '{}': bad file name", shown));
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    throw Error(ErrorCode::kIo, fmt::format("cannot write '{}': it is a directory", shown));
  fs::path p(path);
  std::string dir = p.parent_path().string();
  if (dir.empty()) dir = ".";
  std::string tmpl = (fs::path(dir) / ("." + p.filename().string() + ".tmpXXXXXX")).string();
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) {
    const int err = errno;
    throw Error(ErrorCode::kIo,
                fmt::format("cannot write '{}': {}", shown,
                            err == EACCES || err == EPERM || err == EROFS
                                ? "permission denied in its folder"
                            : err == ENOENT  ? "its folder does not exist"
                            : err == ENOTDIR ? "its folder is not a directory"
                                             : std::generic_category().message(err)));
  }
  *tmp_path = tmpl;
  return fd;
}

}  // namespace

void WriteFileAtomically(const std::string& path, const std::string& bytes) {
  const std::string shown = util::EscapeControl(path, util::kMaxQuotedPath);
  std::string tmpl;
  const int fd = CreateTemp(path, &tmpl);
  auto fail = [&](int err) {
    ::close(fd);
    ::unlink(tmpl.c_str());
    throw Error(ErrorCode::kIo,
                fmt::format("cannot write '{}': {}", shown, std::generic_category().message(err)));
  };
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail(w < 0 ? errno : EIO);
    done += static_cast<size_t>(w);
  }
  if (::fchmod(fd, 0644) != 0 || ::fsync(fd) != 0) fail(errno);
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmpl.c_str());
    throw Error(ErrorCode::kIo,
                fmt::format("cannot write '{}': {}", shown, std::generic_category().message(err)));
  }
  if (::rename(tmpl.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmpl.c_str());
    throw Error(ErrorCode::kIo,
                fmt::format("cannot write '{}': {}", shown, std::generic_category().message(err)));
  }
}

void CheckWritable(const std::string& out_path) {
  std::string tmp;
  ::close(CreateTemp(out_path, &tmp));
  ::unlink(tmp.c_str());
}

QdqPlan WithFloatLayers(const QdqPlan& plan, const std::set<std::string>& float_layers,
                        const std::string& why) {
  QdqPlan out = plan;
  for (QdqNode& q : out.nodes)
    if (q.quantized && float_layers.count(q.name)) {
      q.quantized = false;
      q.why_float = why;
    }
  out.activations = QuantizedTensors(out);
  return out;
}

QdqReport WriteQdq(const std::string& bytes, const QdqPlan& plan,
                   const std::map<std::string, quant::QParams>& activation_params,
                   const std::map<std::string, int64_t>& ranks, const std::string& out_path) {
  QdqReport report;
  WriteFileAtomically(out_path, SerializeQdq(bytes, plan, activation_params, ranks, &report));
  return report;
}

void SerializeQdq(const std::string& bytes, const QdqPlan& plan,
                  const std::map<std::string, quant::QParams>& activation_params,
                  const std::map<std::string, int64_t>& ranks, QdqReport* report_out,
                  std::string* out) {
  Model m = Load(bytes);
  Writer w(m);
  onnx::GraphProto& g = w.g_;
  QdqReport& report = *report_out;
  report = QdqReport{};
  report.opset_in = DefaultOpset(m.proto);
  report.opset_out = std::max(report.opset_in, kQdqOpset);

  std::vector<onnx::NodeProto> head;  // weight/bias DQs and the graph inputs' Q/DQ
  std::map<std::string, std::vector<onnx::NodeProto>> after_producer;
  std::map<std::string, std::string> dq_of;  // activation -> its DequantizeLinear output
  // Output pairs: a quantized node's output t -> the name the node writes instead (t itself
  // becomes the DequantizeLinear's output).
  std::set<std::string> quantized_outputs;
  if (plan.output_qdq)
    for (const QdqNode& q : plan.nodes)
      if (q.quantized && !q.output.empty()) quantized_outputs.insert(q.output);
  std::map<std::string, std::string> renamed_output;

  // Activations: one Q -> DQ pair each, placed right after the producer.
  std::set<std::string> graph_inputs(plan.graph_inputs.begin(), plan.graph_inputs.end());
  for (const std::string& t : plan.activations) {
    auto it = activation_params.find(t);
    if (it == activation_params.end())
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("no calibrated range for activation '{}'", Q(t)));
    const quant::QParams qp = it->second;
    const std::string scale =
        w.AddInitializer<float>(t + "_scale", TensorProto::FLOAT, {}, {qp.scale});
    const std::string zp = w.AddInitializer<uint8_t>(t + "_zero_point", TensorProto::UINT8, {},
                                                     {static_cast<uint8_t>(qp.zero_point)});
    const std::string qout = w.Unique(t + "_quantized");
    const bool output_pair = quantized_outputs.count(t) > 0;
    const std::string qin = output_pair ? w.Unique(t + "_unquantized") : t;
    if (output_pair) renamed_output[t] = qin;
    const std::string dqout = output_pair ? t : w.Unique(t + "_DequantizeLinear_Output");
    std::vector<onnx::NodeProto>& dst = output_pair             ? after_producer[qin]
                                        : graph_inputs.count(t) ? head
                                                                : after_producer[t];
    dst.push_back(w.MakeNode("QuantizeLinear", t + "_QuantizeLinear", {qin, scale, zp}, qout));
    dst.push_back(
        w.MakeNode("DequantizeLinear", t + "_DequantizeLinear", {qout, scale, zp}, dqout));
    dq_of[t] = dqout;
    report.quantize_nodes++;
    report.dequantize_nodes++;
  }

  // Weights (once per tensor and axis) and biases (per node: the scale depends on its input).
  std::map<std::string, std::pair<std::string, std::vector<float>>> weight_dq;  // -> (out, scales)
  std::map<int64_t, const QdqNode*> by_index;
  for (const QdqNode& q : plan.nodes)
    if (q.quantized) by_index[q.index] = &q;
  auto dequantize = [&](const std::string& base, const std::string& values,
                        const std::string& scale, const std::string& zp, int64_t axis) {
    const std::string out = w.Unique(base + "_DequantizeLinear_Output");
    onnx::NodeProto dq =
        w.MakeNode("DequantizeLinear", base + "_DequantizeLinear", {values, scale, zp}, out);
    Writer::SetInt(dq, "axis", axis);
    head.push_back(dq);
    report.dequantize_nodes++;
    return out;
  };

  std::vector<onnx::NodeProto> nodes;
  for (int i = 0; i < g.node_size(); ++i) {
    onnx::NodeProto n = g.node(i);
    std::vector<onnx::NodeProto> before, after;
    if (report.opset_in < kQdqOpset) w.Upgrade(n, ranks, before, after);
    auto q_it = by_index.find(i);
    if (q_it != by_index.end() &&
        (q_it->second->op != n.op_type() || q_it->second->name != NodeName(n)))
      throw Error(ErrorCode::kInvalidArgument, "the plan was made for another model");
    if (q_it != by_index.end()) {
      const QdqNode& q = *q_it->second;
      QdqLayerReport layer{q.name, q.op};
      if (auto r = renamed_output.find(q.output); r != renamed_output.end()) {
        if (n.output_size() < 1 || n.output(0) != q.output)
          throw Error(ErrorCode::kInvalidArgument, "the plan was made for another model");
        n.set_output(0, r->second);
      }
      for (size_t k = 0; k < q.activations.size(); ++k)
        n.set_input(static_cast<int>(k), dq_of.at(q.activations[k]));
      if (!q.weight.empty()) {
        const std::string key = fmt::format("{}/{}", q.weight, q.weight_axis);
        auto wit = weight_dq.find(key);
        if (wit == weight_dq.end()) {
          const TensorProto* t = FloatInitializer(m, q.weight);
          if (!t) BadModel(fmt::format("weight '{}' is not a float initializer", Q(q.weight)));
          const std::vector<float> values = ReadFloats(*t);
          std::vector<int64_t> dims(t->dims().begin(), t->dims().end());
          if (q.weight_axis < 0 || static_cast<size_t>(q.weight_axis) >= dims.size())
            throw Error(ErrorCode::kInvalidArgument, "the plan was made for another model");
          int64_t outer = 1, inner = 1;
          for (int64_t d = 0; d < q.weight_axis; ++d) outer *= dims[d];
          for (size_t d = static_cast<size_t>(q.weight_axis) + 1; d < dims.size(); ++d)
            inner *= dims[d];
          const int64_t channels = dims[static_cast<size_t>(q.weight_axis)];
          quant::QuantizedWeight qw;
          try {
            qw = quant::QuantizeWeightPerChannel(values.data(), outer, channels, inner);
          } catch (const Error& e) {
            BadModel(fmt::format("weight '{}': {}", Q(q.weight), e.what()));
          }
          const std::string vals =
              w.AddInitializer(q.weight + "_quantized", TensorProto::INT8, dims, qw.values);
          const std::string scale =
              w.AddInitializer(q.weight + "_scale", TensorProto::FLOAT, {channels}, qw.scales);
          const std::string zp =
              w.AddInitializer(q.weight + "_zero_point", TensorProto::INT8, {channels},
                               std::vector<int8_t>(static_cast<size_t>(channels), 0));
          const std::string out = dequantize(q.weight, vals, scale, zp, q.weight_axis);
          wit = weight_dq.emplace(key, std::make_pair(out, qw.scales)).first;
        }
        const std::vector<float>& scales = wit->second.second;
        n.set_input(1, wit->second.first);
        layer.weight_scale_min = *std::min_element(scales.begin(), scales.end());
        layer.weight_scale_max = *std::max_element(scales.begin(), scales.end());
        if (!q.bias.empty()) {
          const TensorProto* t = FloatInitializer(m, q.bias);
          if (!t) BadModel(fmt::format("bias '{}' is not a float initializer", Q(q.bias)));
          const std::vector<float> b = ReadFloats(*t);
          if (b.size() != scales.size())
            throw Error(ErrorCode::kInvalidArgument, "the plan was made for another model");
          const float s_x = activation_params.at(q.activations[0]).scale;
          std::vector<int32_t> qb;
          try {
            qb = quant::QuantizeBias(b.data(), static_cast<int64_t>(b.size()), s_x, scales,
                                     &layer.bias_saturated);
          } catch (const Error& e) {
            BadModel(fmt::format("bias '{}': {}", Q(q.bias), e.what()));
          }
          std::vector<float> bias_scales(b.size());
          for (size_t c = 0; c < b.size(); ++c) bias_scales[c] = s_x * scales[c];
          const int64_t c = static_cast<int64_t>(b.size());
          const std::string vals =
              w.AddInitializer(q.bias + "_quantized", TensorProto::INT32, {c}, qb);
          const std::string scale =
              w.AddInitializer(q.bias + "_quantized_scale", TensorProto::FLOAT, {c}, bias_scales);
          const std::string zp =
              w.AddInitializer(q.bias + "_quantized_zero_point", TensorProto::INT32, {c},
                               std::vector<int32_t>(static_cast<size_t>(c), 0));
          n.set_input(2, dequantize(q.bias + "_quantized", vals, scale, zp, 0));
        }
      }
      report.layers.push_back(std::move(layer));
    }
    // The node (with what an upgrade put around it), each output followed by its Q/DQ pair.
    before.push_back(std::move(n));
    for (auto& a : after) before.push_back(std::move(a));
    for (auto& x : before) {
      const std::vector<std::string> outs(x.output().begin(), x.output().end());
      nodes.push_back(std::move(x));
      for (const std::string& o : outs) {
        auto it = after_producer.find(o);
        if (it == after_producer.end()) continue;
        for (auto& qdq : it->second) nodes.push_back(std::move(qdq));
        after_producer.erase(it);
      }
    }
  }
  if (!after_producer.empty())
    BadModel(
        fmt::format("activation '{}' is produced by no node", Q(after_producer.begin()->first)));

  g.clear_node();
  for (auto& n : head) *g.add_node() = std::move(n);
  for (auto& n : nodes) *g.add_node() = std::move(n);

  // Identity nodes whose output nothing reads any more (the aliases of quantized weights and
  // biases) are dropped, then the float initializers no node reads (the quantized weights and
  // biases), with their graph-input entries (old exports list initializers as inputs).
  std::set<std::string> read;
  for (const auto& n : g.node())
    for (const auto& in : n.input()) read.insert(in);
  for (const auto& o : g.output()) read.insert(o.name());
  auto* all_nodes = g.mutable_node();
  for (int i = all_nodes->size() - 1; i >= 0; --i) {
    const onnx::NodeProto& n = all_nodes->Get(i);
    if (n.op_type() == "Identity" && n.output_size() == 1 && !read.count(n.output(0))) {
      all_nodes->DeleteSubrange(i, 1);
      read.clear();  // recount: the Identity's input may be unread now
      for (const auto& k : g.node())
        for (const auto& in : k.input()) read.insert(in);
      for (const auto& o : g.output()) read.insert(o.name());
    }
  }
  std::set<std::string> dropped;
  auto* inits = g.mutable_initializer();
  for (int i = inits->size() - 1; i >= 0; --i)
    if (!read.count(inits->Get(i).name())) {
      dropped.insert(inits->Get(i).name());
      inits->DeleteSubrange(i, 1);
    }
  auto* inputs = g.mutable_input();
  for (int i = inputs->size() - 1; i >= 0; --i)
    if (dropped.count(inputs->Get(i).name())) inputs->DeleteSubrange(i, 1);

  bool set = false;
  for (auto& op : *m.proto.mutable_opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") {
      op.set_version(report.opset_out);
      set = true;
    }
  if (!set) {
    auto* op = m.proto.add_opset_import();
    op->set_domain("");
    op->set_version(report.opset_out);
  }
  m.proto.set_ir_version(std::max<int64_t>(m.proto.ir_version(), kQdqIrVersion));

  // Into the caller's buffer: the sensitivity analysis serializes ~45 variants of a 12 MB model,
  // and a fresh string's first touch of each page cost 55 % of that time on the dev VM (page
  // faults under a paravirtualized kernel); a reused buffer keeps its pages.
  const size_t size = m.proto.ByteSizeLong();
  if (size > static_cast<size_t>(INT_MAX))
    throw Error(ErrorCode::kUnsupported, "the quantized model is larger than 2 GB");
  out->resize(size);
  if (!m.proto.SerializeToArray(out->data(), static_cast<int>(size)))
    throw Error(ErrorCode::kInternal, "cannot serialize the quantized model");
  report.bytes = static_cast<int64_t>(size);
}

std::string SerializeQdq(const std::string& bytes, const QdqPlan& plan,
                         const std::map<std::string, quant::QParams>& activation_params,
                         const std::map<std::string, int64_t>& ranks, QdqReport* report) {
  std::string out;
  SerializeQdq(bytes, plan, activation_params, ranks, report, &out);
  return out;
}

}  // namespace effi::onnx_io
