// The QDQ writer (src/onnx/qdq_export) on the tiny models of make_upgrade_models.py: the opset
// 11 -> 13 rewrite gives the same outputs (effi runs both files), an op that cannot be moved is
// refused, and the quantized nodes get the documented layout (checked through the plan, the
// report and by running the QDQ file in effi against the float model).
#include "onnx/qdq_export.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "effi/effi.hpp"

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
  try {
    PlanQdq(ReadFile(kModels + "hardmax_op11.onnx"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("node 'hm' (Hardmax)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("opset 13"), std::string::npos) << e.what();
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

TEST(QdqExport, LinearLayersLayoutAndAccuracy) {
  const std::string bytes = ReadFile(kModels + "linear_op11.onnx");
  const QdqPlan plan = PlanQdq(bytes);
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
  const std::vector<std::string> captured(plan.activations.begin() + 1, plan.activations.end());
  const std::string capture = WithExtraOutputs(bytes, captured);  // "x" is fed, not captured
  auto model = Model::LoadFromMemory(capture.data(), capture.size());
  ASSERT_EQ(model->outputs().size(), 1 + captured.size());
  std::map<std::string, quant::Observer> observers;
  for (const std::string& a : plan.activations) observers.emplace(a, quant::ObserverOptions{});
  Session session(model);
  for (uint32_t seed = 0; seed < 8; ++seed) {
    const Tensor x = Random({1, 2, 4, 4}, seed);
    const std::vector<Tensor> outs = session.Run({{"x", x}});
    observers.at("x").Observe(x.floats(), static_cast<size_t>(x.elements()));
    for (size_t i = 1; i < plan.activations.size(); ++i)
      observers.at(plan.activations[i])
          .Observe(outs[i].floats(), static_cast<size_t>(outs[i].elements()));
  }
  std::map<std::string, quant::QParams> params;
  for (auto& [name, obs] : observers) params[name] = quant::ActivationParams(obs.Compute());
  const std::string out = TempPath("effi_linear_qdq.onnx");
  const QdqReport report = WriteQdq(bytes, plan, params, {}, out);
  EXPECT_EQ(report.quantize_nodes, 6);
  EXPECT_EQ(report.dequantize_nodes, 6 + 4 + 1);  // activations, weights, the one int32 bias
  ASSERT_EQ(report.layers.size(), 5u);
  EXPECT_GT(report.layers[0].weight_scale_min, 0);
  // Quantized and float agree on a calibration-like input (8-bit steps through 5 layers).
  const Tensor x = Random({1, 2, 4, 4}, 3);
  const std::vector<Tensor> f = RunFile(kModels + "linear_op11.onnx", x, "all");
  const std::vector<Tensor> q = RunFile(out, x, "all");
  double dot = 0, nf = 0, nq = 0;
  for (int64_t i = 0; i < f[0].elements(); ++i) {
    dot += f[0].floats()[i] * q[0].floats()[i];
    nf += f[0].floats()[i] * f[0].floats()[i];
    nq += q[0].floats()[i] * q[0].floats()[i];
  }
  EXPECT_GT(dot / std::sqrt(nf * nq), 0.99);
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

}  // namespace
}  // namespace effi::onnx_io
