// Model tests: effi's logits against ONNX Runtime / PyTorch golden outputs for the generated tiny
// models, the shared EfficientFormer-L1 and the trained Fashion-MNIST L1, with passes "all" and
// "none" (which must also agree with each other to fp32 rounding).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "effi/effi.hpp"
#include "model_test_util.h"
#include "util/npy.h"

namespace effi::testing {
namespace {

// Golden criterion: max |effi - ref| <= kRelTol * max |ref| (and the same argmax).
constexpr double kRelTol = 1e-4;
// Passes on vs off: the rewrites only reorder fp32 arithmetic (folded weights, fused ops).
constexpr double kPassesRelTol = 1e-5;

struct Pair {
  std::shared_ptr<Model> all, none;
};

Pair LoadBoth(const std::string& path) {
  return {Model::Load(path, {.passes = "all"}), Model::Load(path, {.passes = "none"})};
}

// Runs `input` through both models and checks each against the references and each other.
struct Collected {
  Diff ort_all, ort_none, torch_all, torch_none, all_vs_none;
};

void CheckInput(Pair& models, const Tensor& input, const Tensor& ort, const Tensor* torch,
                const std::string& what, Collected& c) {
  Session s_all(models.all), s_none(models.none);
  const Tensor y_all = RunOne(s_all, input);
  const Tensor y_none = RunOne(s_none, input);
  const Diff oa = Compare(y_all, ort), on = Compare(y_none, ort), an = Compare(y_all, y_none);
  ExpectClose(oa, kRelTol, what + " passes=all vs ort");
  ExpectClose(on, kRelTol, what + " passes=none vs ort");
  ExpectClose(an, kPassesRelTol, what + " passes=all vs passes=none");
  c.ort_all.Merge(oa);
  c.ort_none.Merge(on);
  c.all_vs_none.Merge(an);
  if (torch) {
    const Diff ta = Compare(y_all, *torch), tn = Compare(y_none, *torch);
    ExpectClose(ta, kRelTol, what + " passes=all vs torch");
    ExpectClose(tn, kRelTol, what + " passes=none vs torch");
    c.torch_all.Merge(ta);
    c.torch_none.Merge(tn);
  }
}

void ReportAll(const std::string& model, const Collected& c, bool torch) {
  Report(model + " ort   passes=all", c.ort_all);
  Report(model + " ort   passes=none", c.ort_none);
  if (torch) {
    Report(model + " torch passes=all", c.torch_all);
    Report(model + " torch passes=none", c.torch_none);
  }
  Report(model + " all vs none", c.all_vs_none);
}

// The optimised graph uses effi's fused ops; "none" leaves the ONNX ops alone.
void CheckStats(const Pair& m) {
  const ModelStats all = m.all->Stats(), none = m.none->Stats();
  int all_nodes = 0, none_nodes = 0;
  for (const auto& [op, n] : all.ops_optimized) all_nodes += n;
  for (const auto& [op, n] : none.ops_optimized) {
    none_nodes += n;
    EXPECT_NE(op.rfind("effi.", 0), 0u) << "passes=none produced " << op;
  }
  EXPECT_GT(all.ops_optimized.count("effi.Linear"), 0u);
  EXPECT_GT(all.ops_optimized.count("effi.Conv"), 0u);
  EXPECT_LT(all_nodes, none_nodes);
  EXPECT_EQ(all.parameters, none.parameters);
}

// ---------------------------------------------------------------------------------------------
// Tiny generated models (tests/models): every in_K against ort_K and torch_K.

class TinyModelTest : public ::testing::TestWithParam<const char*> {};

TEST_P(TinyModelTest, MatchesOrtAndTorch) {
  const std::string name = GetParam();
  const std::string dir = kModelsDir + "/" + name;
  Pair models = LoadBoth(dir + ".onnx");
  CheckStats(models);
  Collected c;
  int n = 0;
  for (int k = 0; Exists(dir + "/in_" + std::to_string(k) + ".npy"); ++k, ++n) {
    const std::string kk = std::to_string(k);
    const Tensor in = LoadTensor(dir + "/in_" + kk + ".npy");
    const Tensor ort = LoadTensor(dir + "/ort_" + kk + ".npy");
    const Tensor torch = LoadTensor(dir + "/torch_" + kk + ".npy");
    CheckInput(models, in, ort, &torch, name + " in_" + kk, c);
  }
  EXPECT_GE(n, 2);
  ReportAll(name, c, true);
}

INSTANTIATE_TEST_SUITE_P(Models, TinyModelTest,
                         ::testing::Values("tiny_op11", "tiny_op13", "tiny_op17",
                                           "tiny_dynbatch_op13", "tiny_dynbatch_op17",
                                           "tiny_folded_op11", "tiny_l3like_op11",
                                           "tiny_l7like_op11", "tiny_v2_op11", "tiny_v2_op17"),
                         [](const auto& info) { return std::string(info.param); });

// Dynamic batch: declared as -1, batch 1 and batch 3 in one model; a batch-3 run equals three
// batch-1 runs row by row (the batch-3 plan is compiled and cached next to the batch-1 one).
TEST(TinyDynamicBatch, Batch3EqualsRowsAtBatch1) {
  for (const char* name : {"tiny_dynbatch_op13", "tiny_dynbatch_op17"}) {
    SCOPED_TRACE(name);
    const std::string dir = kModelsDir + "/" + name;
    auto model = Model::Load(dir + ".onnx");
    ASSERT_EQ(model->inputs().size(), 1u);
    EXPECT_EQ(model->inputs()[0].shape, (std::vector<int64_t>{-1, 3, 64, 64}));
    EXPECT_EQ(model->outputs()[0].shape, (std::vector<int64_t>{-1, 10}));
    const Tensor in = LoadTensor(dir + "/in_2.npy");
    ASSERT_EQ(in.shape[0], 3);
    Session s(model);
    const Tensor y3 = RunOne(s, in);
    ASSERT_EQ(y3.shape, (std::vector<int64_t>{3, 10}));
    for (int64_t r = 0; r < 3; ++r) {
      const Tensor y1 = RunOne(s, Row(in, r));
      const Diff d = Compare(y1, Row(y3, r));
      EXPECT_LE(d.max_abs, 1e-5 * d.max_ref) << "row " << r;
    }
    EXPECT_EQ(model->Stats(3).bound_inputs[0].shape, (std::vector<int64_t>{3, 3, 64, 64}));
    EXPECT_EQ(model->Stats(3).macs, 3 * model->Stats(1).macs);
  }
}

// Models with the same seed and architecture compute the same function (see README).
TEST(TinyModels, SameWeightsSameFunction) {
  const Tensor in = LoadTensor(kModelsDir + "/tiny_op11/in_0.npy");
  std::vector<Tensor> outs;
  for (const char* name : {"tiny_op11", "tiny_op13", "tiny_op17", "tiny_dynbatch_op13",
                           "tiny_dynbatch_op17", "tiny_folded_op11"}) {
    Session s(Model::Load(kModelsDir + "/" + name + ".onnx"));
    outs.push_back(RunOne(s, in));
  }
  for (size_t i = 1; i < outs.size(); ++i) {
    const Diff d = Compare(outs[i], outs[0]);
    EXPECT_LE(d.max_abs, 1e-5 * d.max_ref) << "model " << i;
  }
}

// ---------------------------------------------------------------------------------------------
// The shared timm export of EfficientFormer-L1 (224x224, 1000 classes): six golden inputs.

TEST(SharedL1, MatchesOrtAndTorch) {
  const std::string model_path = kSharedDir + "/models/efficientformer_l1.op11.onnx";
  const std::string golden = kSharedDir + "/golden/efficientformer_l1";
  if (!Exists(model_path) || !Exists(golden)) GTEST_SKIP() << "../shared not found: " << model_path;
  Pair models = LoadBoth(model_path);
  CheckStats(models);
  EXPECT_EQ(models.all->Stats().parameters, 12258961);
  const std::vector<std::string> all_inputs{"0_randn", "1_randn",   "2_randn",
                                            "3_randn", "4_bittern", "5_goldfish"};
  // Under sanitizers: one random and one photo input.
  const std::vector<std::string> inputs =
      kSanitized ? std::vector<std::string>{"0_randn", "4_bittern"} : all_inputs;
  Collected c;
  for (const std::string& tag : inputs) {
    const Tensor in = LoadTensor(golden + "/input_" + tag + ".npy");
    const Tensor ort = LoadTensor(golden + "/ort_" + tag + ".npy");
    const Tensor torch = LoadTensor(golden + "/torch_" + tag + ".npy");
    CheckInput(models, in, ort, &torch, "L1 " + tag, c);
  }
  ReportAll("shared_l1", c, true);
}

// ---------------------------------------------------------------------------------------------
// The trained Fashion-MNIST L1 (96x96, 10 classes): 64 golden test images vs PyTorch; 55/64 right.

TEST(FashionMnistL1, MatchesTorchAndAccuracy) {
  const std::string model_path = kSharedDir + "/models/efficientformer_l1_fmnist96.onnx";
  const std::string golden = kSharedDir + "/golden/efficientformer_l1_fmnist96";
  if (!Exists(model_path) || !Exists(golden)) GTEST_SKIP() << "../shared not found: " << model_path;
  Pair models = LoadBoth(model_path);
  CheckStats(models);
  EXPECT_EQ(models.all->inputs()[0].shape, (std::vector<int64_t>{1, 3, 96, 96}));
  EXPECT_EQ(models.all->metadata().count("labels"), 1u);
  const Tensor inputs = LoadTensor(golden + "/input_test64.npy");
  const Tensor torch = LoadTensor(golden + "/torch_test64.npy");
  const npy::Array labels = npy::Load(golden + "/labels_test64.npy");
  ASSERT_EQ(inputs.shape, (std::vector<int64_t>{64, 3, 96, 96}));
  ASSERT_EQ(torch.shape, (std::vector<int64_t>{64, 10}));
  ASSERT_EQ(labels.shape, (std::vector<int64_t>{64}));
  auto label = [&](int64_t i) -> int64_t {
    if (labels.dtype == "int64") return reinterpret_cast<const int64_t*>(labels.bytes.data())[i];
    if (labels.dtype == "int32") return reinterpret_cast<const int32_t*>(labels.bytes.data())[i];
    return labels.bytes[i];
  };
  const int64_t count = kSanitized ? 8 : 64;
  Session s_all(models.all), s_none(models.none);
  Diff d_all, d_none, d_an;
  int correct_all = 0, correct_none = 0, correct_torch = 0;
  for (int64_t i = 0; i < count; ++i) {
    const std::string what = "fmnist test " + std::to_string(i);
    const Tensor ref = Row(torch, i);
    const Tensor y_all = RunOne(s_all, Row(inputs, i));
    const Tensor y_none = RunOne(s_none, Row(inputs, i));
    const Diff a = Compare(y_all, ref), n = Compare(y_none, ref), an = Compare(y_all, y_none);
    ExpectClose(a, kRelTol, what + " passes=all vs torch");
    ExpectClose(n, kRelTol, what + " passes=none vs torch");
    ExpectClose(an, kPassesRelTol, what + " all vs none");
    d_all.Merge(a);
    d_none.Merge(n);
    d_an.Merge(an);
    correct_all += ArgMax(y_all.floats(), 10) == label(i);
    correct_none += ArgMax(y_none.floats(), 10) == label(i);
    correct_torch += ArgMax(ref.floats(), 10) == label(i);
  }
  if (count == 64) {
    EXPECT_EQ(correct_torch, 55);
    EXPECT_EQ(correct_all, 55);
    EXPECT_EQ(correct_none, 55);
  } else {
    EXPECT_EQ(correct_all, correct_torch);
    EXPECT_EQ(correct_none, correct_torch);
  }
  Report("fmnist_l1 torch passes=all", d_all);
  Report("fmnist_l1 torch passes=none", d_none);
  Report("fmnist_l1 all vs none", d_an);
}

// The per-ISA ctest runs (tests/models/CMakeLists.txt) set EFFI_MAX_ISA and EFFI_EXPECT_ISA: the
// goldens above must then really run on that path, not silently on the best one.
TEST(IsaPath, IsTheOneRequested) {
  const char* want = std::getenv("EFFI_EXPECT_ISA");
  if (!want) GTEST_SKIP() << "EFFI_EXPECT_ISA not set (only the per-ISA runs set it)";
  // Both the reported ISA and the GEMM kernel that really runs, e.g. "AVX2 (gemm_f32_6x16__AVX2)".
  const std::string isa = ActiveIsa(), kernel_suffix = std::string("__") + want + ")";
  EXPECT_EQ(isa.rfind(want, 0), 0u) << isa << " is not " << want;
  ASSERT_GE(isa.size(), kernel_suffix.size());
  EXPECT_EQ(isa.substr(isa.size() - kernel_suffix.size()), kernel_suffix) << isa;
}

}  // namespace
}  // namespace effi::testing
