// The QDQ writer (src/onnx/qdq_export) on the tiny models of make_upgrade_models.py: the opset
// 11 -> 13 rewrite gives the same outputs (effi runs both files), an op that cannot be moved is
// refused, and the quantized nodes get the documented layout (checked through the plan, the
// report, the written graph read back with onnx.pb.h, and by running the QDQ file in effi against
// the float model).
#include "onnx/qdq_export.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "effi/effi.hpp"
#include "onnx.pb.h"

namespace effi::onnx_io {
namespace {

namespace fs = std::filesystem;

const std::string kModels = std::string(EFFI_SOURCE_DIR) + "/tests/quant/models/";

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string TempPath(const std::string& name) {
  return (fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()))).string();
}

Tensor Random(std::vector<int64_t> shape, uint32_t seed) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> v(static_cast<size_t>(n));
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  for (float& x : v) x = normal(rng);
  return Tensor::Float(std::move(shape), v);
}

std::vector<Tensor> RunFile(const std::string& path, const Tensor& x, const std::string& passes) {
  ModelOptions options;
  options.passes = passes;
  auto model = Model::Load(path, options);
  Session session(model);
  return session.Run({{"x", x}});
}

TEST(QdqExport, OpsetUpgradeKeepsEveryOutput) {
  const std::string bytes = ReadFile(kModels + "upgrade_op11.onnx");
  const QdqPlan plan = PlanQdq(bytes);
  EXPECT_EQ(plan.opset, 11);
  EXPECT_TRUE(plan.nodes.empty());
  EXPECT_TRUE(plan.activations.empty());
  // Softmax over axis 1 needs the rank; LogSoftmax over axis 3 too (3 is last only at rank 4).
  EXPECT_EQ(plan.rank_probes, (std::vector<std::string>{"x"}));
  const std::string out = TempPath("effi_upgrade.onnx");
  const QdqReport report = WriteQdq(bytes, plan, {}, {{"x", 4}}, out);
  EXPECT_EQ(report.opset_in, 11);
  EXPECT_EQ(report.opset_out, 13);
  EXPECT_EQ(PlanQdq(ReadFile(out)).opset, 13);
  EXPECT_TRUE(PlanQdq(ReadFile(out)).rank_probes.empty());  // nothing left to upgrade
  const Tensor x = Random({2, 3, 4, 5}, 3);
  for (const char* passes : {"none", "all"}) {
    const std::vector<Tensor> a = RunFile(kModels + "upgrade_op11.onnx", x, passes);
    const std::vector<Tensor> b = RunFile(out, x, passes);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].shape, b[i].shape) << "output " << i;
      EXPECT_EQ(a[i].bytes, b[i].bytes) << "output " << i << " passes " << passes;
    }
  }
  // EFFI_QDQ_TEST_KEEP=DIR keeps the upgraded file (to check it with onnx.checker / ONNX Runtime).
  if (const char* keep = std::getenv("EFFI_QDQ_TEST_KEEP"))
    fs::copy_file(out, fs::path(keep) / "upgrade_op13.onnx", fs::copy_options::overwrite_existing);
  fs::remove(out);
}

TEST(QdqExport, OpThatCannotBeUpgradedIsRefused) {
  for (const auto& [file, node] :
       {std::pair<std::string, std::string>{"hardmax_op11.onnx", "node 'hm' (Hardmax)"},
        {"tf_nn_resize_op11.onnx", "node 'up' (Resize)"}}) {
    try {
      PlanQdq(ReadFile(kModels + file));
      ADD_FAILURE() << file << ": no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
      EXPECT_NE(std::string(e.what()).find(node), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("opset 13"), std::string::npos) << e.what();
    }
  }
}

TEST(QdqExport, HostileBytesAreOneError) {
  for (const std::string& bytes :
       {std::string(), std::string("\x0a\xff\xff\xff\xff\x0f", 6), std::string(100, '\xff')}) {
    try {
      PlanQdq(bytes);
      // An empty message parses as an empty model: opset 0 is refused.
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_TRUE(e.code() == ErrorCode::kInvalidModel || e.code() == ErrorCode::kUnsupported)
          << e.what();
    }
  }
}

// Calibrates plan.activations on 8 random inputs x [1, 2, 4, 4] of linear_op11.onnx through the
// capture model (the graph input "x" is observed as it is fed), as `effi quantize` does.
std::map<std::string, quant::QParams> Calibrate(const std::string& bytes, const QdqPlan& plan) {
  std::vector<std::string> captured;
  for (const std::string& a : plan.activations)
    if (a != "x") captured.push_back(a);
  const std::string capture = WithExtraOutputs(bytes, captured);
  auto model = Model::LoadFromMemory(capture.data(), capture.size());
  std::map<std::string, size_t> slot;
  for (size_t i = 0; i < model->outputs().size(); ++i) slot[model->outputs()[i].name] = i;
  std::map<std::string, quant::Observer> observers;
  for (const std::string& a : plan.activations) observers.emplace(a, quant::ObserverOptions{});
  Session session(model);
  for (uint32_t seed = 0; seed < 8; ++seed) {
    const Tensor x = Random({1, 2, 4, 4}, seed);
    const std::vector<Tensor> outs = session.Run({{"x", x}});
    for (auto& [name, obs] : observers) {
      const Tensor& t = name == "x" ? x : outs.at(slot.at(name));
      obs.Observe(t.floats(), static_cast<size_t>(t.elements()));
    }
  }
  std::map<std::string, quant::QParams> params;
  for (auto& [name, obs] : observers) params[name] = quant::ActivationParams(obs.Compute());
  return params;
}

double Cosine(const Tensor& a, const Tensor& b) {
  double dot = 0, na = 0, nb = 0;
  for (int64_t i = 0; i < a.elements(); ++i) {
    dot += a.floats()[i] * b.floats()[i];
    na += a.floats()[i] * a.floats()[i];
    nb += b.floats()[i] * b.floats()[i];
  }
  return dot / std::sqrt(na * nb);
}

// A written QDQ model read back: who produces and who reads each tensor.
struct Graph {
  explicit Graph(const std::string& bytes) {
    EXPECT_TRUE(proto.ParseFromString(bytes));
    for (int i = 0; i < proto.graph().node_size(); ++i) {
      const onnx::NodeProto& n = proto.graph().node(i);
      by_name[n.name()] = i;
      for (const std::string& o : n.output()) producer[o] = i;
      for (const std::string& in : n.input()) readers[in].push_back(i);
    }
    for (const auto& o : proto.graph().output()) outputs.insert(o.name());
  }
  const onnx::NodeProto& node(int i) const { return proto.graph().node(i); }
  const onnx::NodeProto& Named(const std::string& name) const { return node(by_name.at(name)); }
  // The op type producing `t` ("" for a graph input or initializer).
  std::string ProducerOp(const std::string& t) const {
    auto it = producer.find(t);
    return it == producer.end() ? "" : node(it->second).op_type();
  }
  std::vector<std::string> ReaderOps(const std::string& t) const {
    std::vector<std::string> ops;
    if (auto it = readers.find(t); it != readers.end())
      for (int i : it->second) ops.push_back(node(i).op_type());
    return ops;
  }
  int Count(const std::string& op) const {
    int k = 0;
    for (const auto& n : proto.graph().node()) k += n.op_type() == op;
    return k;
  }

  onnx::ModelProto proto;
  std::map<std::string, int> by_name, producer;
  std::map<std::string, std::vector<int>> readers;
  std::set<std::string> outputs;
};

// Every value of `t` is a u8 step of its pair: (q - zp) * scale for some q in [0, 255].
void ExpectOnGrid(const Tensor& t, const quant::QParams& qp, const std::string& what) {
  int off = 0;
  for (int64_t i = 0; i < t.elements(); ++i) {
    const float v = t.floats()[i];
    const float q = std::nearbyint(v / qp.scale) + static_cast<float>(qp.zero_point);
    const float back = (q - static_cast<float>(qp.zero_point)) * qp.scale;
    off += !(q >= 0 && q <= 255 && std::fabs(back - v) <= 1e-5f * qp.scale);
  }
  EXPECT_EQ(off, 0) << what << ": " << off << " of " << t.elements() << " values off the grid";
}

// The input-only layout (output pairs off): what `--output-qdq off` writes.
TEST(QdqExport, LinearLayersLayoutAndAccuracy) {
  const std::string bytes = ReadFile(kModels + "linear_op11.onnx");
  const QdqPlan plan = PlanQdq(bytes, {}, /*output_qdq=*/false);
  EXPECT_FALSE(plan.output_qdq);
  ASSERT_EQ(plan.nodes.size(), 5u);
  // conv: axis 0, no bias; matmul [K, N]: axis 1; gemm transB=0: axis 1 with an int32 bias;
  // gemm alpha=2: axis 0 (transB=1), bias left float; act_matmul: two activations, no weight.
  const QdqNode &conv = plan.nodes[0], &mm = plan.nodes[1], &gemm = plan.nodes[2],
                &gemm2 = plan.nodes[3], &act = plan.nodes[4];
  EXPECT_EQ(conv.weight_axis, 0);
  EXPECT_EQ(conv.bias, "");
  EXPECT_EQ(mm.weight_axis, 1);
  EXPECT_EQ(gemm.weight_axis, 1);
  EXPECT_EQ(gemm.bias, "gemm_b");
  EXPECT_EQ(gemm2.weight_axis, 0);
  EXPECT_EQ(gemm2.bias, "");
  EXPECT_EQ(act.weight, "");
  EXPECT_EQ(act.activations, (std::vector<std::string>{"g2t", "g2"}));
  for (const QdqNode& q : plan.nodes) EXPECT_TRUE(q.quantized) << q.name;
  EXPECT_EQ(plan.activations, (std::vector<std::string>{"x", "r", "m", "g", "g2t", "g2"}));
  EXPECT_EQ(LayerMacs(conv, {{1, 2, 4, 4}}), 3 * 16 * 2 * 9);
  EXPECT_EQ(LayerMacs(mm, {{1, 16}}), 16 * 5);
  EXPECT_EQ(LayerMacs(act, {{4, 1}, {1, 4}}), 4 * 1 * 4);

  // Calibrate on a few inputs through the capture model, write, run the QDQ file in effi.
  EXPECT_EQ(plan.graph_inputs, (std::vector<std::string>{"x"}));
  std::map<std::string, quant::QParams> params = Calibrate(bytes, plan);
  const std::string out = TempPath("effi_linear_qdq.onnx");
  const QdqReport report = WriteQdq(bytes, plan, params, {}, out);
  EXPECT_EQ(report.quantize_nodes, 6);
  {
    // Each layer writes its own output name, read in float: a Q/DQ pair follows it only where a
    // quantized layer reads it (m, g, g2), and then only the quantized reader takes the DQ.
    const Graph g(ReadFile(out));
    const std::map<std::string, std::string> writes = {
        {"conv", "c"}, {"matmul", "m"}, {"gemm", "g"}, {"gemm_alpha", "g2"}, {"act_matmul", "y"}};
    for (const auto& [node, t] : writes) EXPECT_EQ(g.Named(node).output(0), t) << node;
    EXPECT_EQ(g.ReaderOps("c"), (std::vector<std::string>{"Flatten"}));
    EXPECT_EQ(g.ReaderOps("g2"), (std::vector<std::string>{"QuantizeLinear", "Transpose"}));
    EXPECT_EQ(g.Named("gemm").input(0), "m_DequantizeLinear_Output");
    EXPECT_EQ(g.ProducerOp("y"), "MatMul");
  }
  EXPECT_EQ(report.dequantize_nodes, 6 + 4 + 1);  // activations, weights, the one int32 bias
  ASSERT_EQ(report.layers.size(), 5u);
  EXPECT_GT(report.layers[0].weight_scale_min, 0);
  // Quantized and float agree on a calibration-like input (8-bit steps through 5 layers).
  const Tensor x = Random({1, 2, 4, 4}, 3);
  const std::vector<Tensor> f = RunFile(kModels + "linear_op11.onnx", x, "all");
  const std::vector<Tensor> q = RunFile(out, x, "all");
  EXPECT_GT(Cosine(f[0], q[0]), 0.99);
  fs::remove(out);

  // In memory: the bytes WriteQdq wrote. A variant with the conv left float drops the graph
  // input's Q/DQ (nothing quantized reads x any more) and keeps the rest.
  QdqReport same;
  EXPECT_EQ(SerializeQdq(bytes, plan, params, {}, &same).size(), static_cast<size_t>(report.bytes));
  const QdqPlan partial = WithFloatLayers(plan, {conv.name, "no such node"}, "auto");
  ASSERT_EQ(partial.nodes.size(), 5u);
  EXPECT_FALSE(partial.nodes[0].quantized);
  EXPECT_EQ(partial.nodes[0].why_float, "auto");
  for (size_t i = 1; i < partial.nodes.size(); ++i) EXPECT_TRUE(partial.nodes[i].quantized);
  EXPECT_EQ(partial.activations, (std::vector<std::string>{"r", "m", "g", "g2t", "g2"}));
  QdqReport pr;
  const std::string pbytes = SerializeQdq(bytes, partial, params, {}, &pr);
  EXPECT_EQ(pr.quantize_nodes, 5);
  EXPECT_EQ(pr.layers.size(), 4u);
  EXPECT_EQ(pr.bytes, static_cast<int64_t>(pbytes.size()));
  auto pm = Model::LoadFromMemory(pbytes.data(), pbytes.size());
  Session ps(pm);
  const std::vector<Tensor> pq = ps.Run({{"x", x}});
  ASSERT_EQ(pq[0].elements(), f[0].elements());
  // Every layer float: only the opset upgrade is left, the float model's outputs exactly.
  std::set<std::string> all;
  for (const QdqNode& n : plan.nodes) all.insert(n.name);
  const QdqPlan none = WithFloatLayers(plan, all, "auto");
  EXPECT_TRUE(none.activations.empty());
  QdqReport nr;
  const std::string nbytes = SerializeQdq(bytes, none, params, {}, &nr);
  EXPECT_EQ(nr.quantize_nodes, 0);
  auto nm = Model::LoadFromMemory(nbytes.data(), nbytes.size());
  Session ns(nm);
  const std::vector<Tensor> nf_out = ns.Run({{"x", x}});
  ASSERT_EQ(nf_out[0].elements(), f[0].elements());
  for (int64_t i = 0; i < f[0].elements(); ++i)
    EXPECT_EQ(nf_out[0].floats()[i], f[0].floats()[i]) << i;

  // A missing activation parameter is an error, and nothing is written.
  params.erase("g");
  EXPECT_THROW(WriteQdq(bytes, plan, params, {}, out), Error);
  EXPECT_FALSE(fs::exists(out));
}

// The default layout: a Q/DQ pair on each quantized layer's output too (ONNX Runtime fuses a
// layer into QLinearConv / QLinearMatMul / QGemm only then), directly on the layer's output, one
// pair per tensor.
TEST(QdqExport, OutputPairsOnEveryQuantizedLayer) {
  const std::string bytes = ReadFile(kModels + "linear_op11.onnx");
  const QdqPlan plan = PlanQdq(bytes);
  EXPECT_TRUE(plan.output_qdq);
  // Inputs and outputs in graph order, once each: m, g and g2 are written by one quantized layer
  // and read by the next.
  EXPECT_EQ(plan.activations,
            (std::vector<std::string>{"x", "c", "r", "m", "g", "g2", "g2t", "y"}));
  const std::map<std::string, quant::QParams> params = Calibrate(bytes, plan);
  QdqReport report;
  const std::string qdq = SerializeQdq(bytes, plan, params, {}, &report);
  EXPECT_EQ(report.quantize_nodes, 8);
  EXPECT_EQ(report.dequantize_nodes, 8 + 4 + 1);  // tensors, weights, the one int32 bias
  const Graph g(qdq);
  EXPECT_EQ(g.Count("QuantizeLinear"), 8);
  const std::map<std::string, std::string> writes = {
      {"conv", "c"}, {"matmul", "m"}, {"gemm", "g"}, {"gemm_alpha", "g2"}, {"act_matmul", "y"}};
  for (const auto& [node, t] : writes) {
    // layer -> (renamed output) -> QuantizeLinear -> DequantizeLinear -> t, nothing in between
    // and nobody else reading the layer's own output.
    const onnx::NodeProto& n = g.Named(node);
    const std::vector<int>& readers = g.readers.at(n.output(0));
    ASSERT_EQ(readers.size(), 1u) << node;
    const onnx::NodeProto& q = g.node(readers[0]);
    ASSERT_EQ(q.op_type(), "QuantizeLinear") << node;
    ASSERT_EQ(g.readers.at(q.output(0)).size(), 1u) << node;
    const onnx::NodeProto& dq = g.node(g.readers.at(q.output(0))[0]);
    EXPECT_EQ(dq.op_type(), "DequantizeLinear") << node;
    EXPECT_EQ(dq.output(0), t) << node;
    EXPECT_EQ(std::vector<std::string>(q.input().begin() + 1, q.input().end()),
              std::vector<std::string>(dq.input().begin() + 1, dq.input().end()))
        << node << ": one scale and zero point";
    // Every quantized layer reads its activations from a DequantizeLinear.
    for (int k = 0; k < (node == "act_matmul" ? 2 : 1); ++k)
      EXPECT_EQ(g.ProducerOp(n.input(k)), "DequantizeLinear") << node << " input " << k;
  }
  // Shared pairs: the next quantized layer reads the output pair's tensor itself, and so does a
  // float reader (Flatten reads c, Transpose reads g2): one rounding per tensor, never a Q of a DQ.
  EXPECT_EQ(g.Named("gemm").input(0), "m");
  EXPECT_EQ(g.Named("gemm_alpha").input(0), "g");
  EXPECT_EQ(g.Named("act_matmul").input(1), "g2");
  EXPECT_EQ(g.Named("flatten").input(0), "c");
  EXPECT_EQ(g.Named("transpose").input(0), "g2");
  std::set<std::string> quantized_tensors;
  for (const auto& n : g.proto.graph().node()) {
    if (n.op_type() != "QuantizeLinear") continue;
    EXPECT_NE(g.ProducerOp(n.input(0)), "DequantizeLinear") << n.name() << ": double rounding";
    EXPECT_TRUE(quantized_tensors.insert(n.input(0)).second) << n.input(0) << " quantized twice";
  }
  EXPECT_TRUE(g.outputs.count("y"));
  EXPECT_EQ(g.ProducerOp("y"), "DequantizeLinear");  // the graph output keeps its name

  // effi runs it: the model output is on y's u8 grid (passes none: the QDQ ops run literally;
  // all: through FakeQuant and the int8 kernels), and close to float.
  const std::string out = TempPath("effi_linear_outq.onnx");
  WriteQdq(bytes, plan, params, {}, out);
  const Tensor x = Random({1, 2, 4, 4}, 3);
  const std::vector<Tensor> f = RunFile(kModels + "linear_op11.onnx", x, "all");
  for (const char* passes : {"none", "all"}) {
    const std::vector<Tensor> q = RunFile(out, x, passes);
    ASSERT_EQ(q[0].elements(), f[0].elements());
    ExpectOnGrid(q[0], params.at("y"), passes);
    EXPECT_GT(Cosine(f[0], q[0]), 0.99) << passes;
  }
  fs::remove(out);
}

TEST(QdqExport, FloatKeptLayersGetNoOutputPair) {
  const std::string bytes = ReadFile(kModels + "linear_op11.onnx");
  const QdqPlan plan = PlanQdq(bytes);
  const std::map<std::string, quant::QParams> params = Calibrate(bytes, plan);
  // conv and gemm float: c is quantized nowhere; g only as gemm_alpha's input (an input pair, read
  // by gemm_alpha alone); m keeps matmul's output pair, which the float gemm reads too.
  const QdqPlan partial = WithFloatLayers(plan, {"conv", "gemm"}, "auto");
  EXPECT_EQ(partial.activations, (std::vector<std::string>{"r", "m", "g", "g2", "g2t", "y"}));
  QdqReport report;
  const Graph g(SerializeQdq(bytes, partial, params, {}, &report));
  EXPECT_EQ(report.quantize_nodes, 6);
  EXPECT_EQ(g.Named("conv").output(0), "c");
  EXPECT_EQ(g.ReaderOps("c"), (std::vector<std::string>{"Flatten"}));
  EXPECT_EQ(g.Named("gemm").output(0), "g");
  EXPECT_EQ(g.ReaderOps("g"), (std::vector<std::string>{"QuantizeLinear"}));
  EXPECT_EQ(g.Named("gemm_alpha").input(0), "g_DequantizeLinear_Output");
  EXPECT_EQ(g.Named("gemm").input(0), "m");
  EXPECT_EQ(g.ProducerOp("m"), "DequantizeLinear");
  EXPECT_NE(g.Named("matmul").output(0), "m");
  // Every layer float: no pair at all, as with output pairs off.
  std::set<std::string> all;
  for (const QdqNode& n : plan.nodes) all.insert(n.name);
  EXPECT_TRUE(WithFloatLayers(plan, all, "auto").activations.empty());
}

TEST(QdqExport, OutputPairForAnotherModelIsRefused) {
  const std::string bytes = ReadFile(kModels + "linear_op11.onnx");
  const QdqPlan plan = PlanQdq(bytes);
  std::map<std::string, quant::QParams> params = Calibrate(bytes, plan);
  // A plan whose conv writes another tensor than the model's conv: one error, no half graph.
  QdqPlan bad = plan;
  bad.nodes[0].output = "elsewhere";
  std::replace(bad.activations.begin(), bad.activations.end(), std::string("c"),
               std::string("elsewhere"));
  params["elsewhere"] = params.at("c");
  QdqReport report;
  try {
    SerializeQdq(bytes, bad, params, {}, &report);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("another model"), std::string::npos) << e.what();
  }
  // An output without a calibrated range is refused like an input without one.
  params.erase("y");
  try {
    SerializeQdq(bytes, plan, params, {}, &report);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("'y'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace effi::onnx_io
