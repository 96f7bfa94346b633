// Concurrency: one Model shared by several threads, each with its own Session running different
// inputs (and, for the dynamic-batch model, different batch sizes) repeatedly; every result must be
// bit-identical to the single-threaded one.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "effi/effi.hpp"
#include "model_test_util.h"

namespace effi::testing {
namespace {

bool SameBits(const Tensor& a, const Tensor& b) {
  return a.shape == b.shape && a.bytes.size() == b.bytes.size() &&
         std::memcmp(a.bytes.data(), b.bytes.data(), a.bytes.size()) == 0;
}

// Runs `inputs` on `threads` threads (thread t starts at input t and cycles through all of them,
// `rounds` times) and checks every output against `expected`.
void Hammer(const std::shared_ptr<const Model>& model, const std::vector<Tensor>& inputs,
            const std::vector<Tensor>& expected, int threads, int rounds) {
  std::atomic<int> mismatches{0}, errors{0}, runs{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      try {
        Session s(model);
        for (int r = 0; r < rounds; ++r) {
          for (size_t k = 0; k < inputs.size(); ++k) {
            const size_t i = (k + t) % inputs.size();
            if (!SameBits(RunOne(s, inputs[i]), expected[i])) ++mismatches;
            ++runs;
          }
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << "thread " << t << ": " << e.what();
        ++errors;
      }
    });
  }
  for (std::thread& th : pool) th.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(runs.load(), threads * rounds * static_cast<int>(inputs.size()));
}

std::vector<Tensor> SingleThread(const std::shared_ptr<const Model>& model,
                                 const std::vector<Tensor>& inputs) {
  Session s(model);
  std::vector<Tensor> out;
  for (const Tensor& in : inputs) out.push_back(RunOne(s, in));
  return out;
}

TEST(Concurrency, TinyModelFourThreads) {
  for (const char* passes : {"all", "none"}) {
    SCOPED_TRACE(passes);
    const std::string dir = kModelsDir + "/tiny_l3like_op11";
    std::shared_ptr<const Model> model = Model::Load(dir + ".onnx", {.passes = passes});
    std::vector<Tensor> inputs{LoadTensor(dir + "/in_0.npy"), LoadTensor(dir + "/in_1.npy")};
    // Two more distinct inputs derived from the golden ones.
    for (int k = 0; k < 2; ++k) {
      Tensor t = inputs[k];
      for (int64_t i = 0; i < t.elements(); ++i) t.floats()[i] = -0.5f * t.floats()[i] + 0.1f;
      inputs.push_back(std::move(t));
    }
    const std::vector<Tensor> expected = SingleThread(model, inputs);
    Hammer(model, inputs, expected, 4, kSanitized ? 3 : 10);
  }
}

// Batch 1 and batch 3 interleaved across threads: plans for both shapes are compiled on first use
// (under the model's lock) and then shared; the first runs race on compiling them.
TEST(Concurrency, DynamicBatchMixedShapes) {
  const std::string dir = kModelsDir + "/tiny_dynbatch_op17";
  std::shared_ptr<const Model> model = Model::Load(dir + ".onnx");
  std::vector<Tensor> inputs{LoadTensor(dir + "/in_0.npy"), LoadTensor(dir + "/in_2.npy"),
                             LoadTensor(dir + "/in_1.npy")};
  // Expected values from a separate model instance, so the shared one starts with no batch-3 plan.
  const std::vector<Tensor> expected = SingleThread(Model::Load(dir + ".onnx"), inputs);
  Hammer(model, inputs, expected, 3, kSanitized ? 3 : 8);
}

TEST(Concurrency, FashionMnistTwoThreads) {
  const std::string model_path = kSharedDir + "/models/efficientformer_l1_fmnist96.onnx";
  const std::string golden = kSharedDir + "/golden/efficientformer_l1_fmnist96/input_test64.npy";
  if (!Exists(model_path) || !Exists(golden)) GTEST_SKIP() << "../shared not found: " << model_path;
  std::shared_ptr<const Model> model = Model::Load(model_path);
  const Tensor all = LoadTensor(golden);
  std::vector<Tensor> inputs;
  for (int64_t i = 0; i < (kSanitized ? 2 : 4); ++i) inputs.push_back(Row(all, i));
  const std::vector<Tensor> expected = SingleThread(model, inputs);
  Hammer(model, inputs, expected, 2, kSanitized ? 1 : 2);
}

}  // namespace
}  // namespace effi::testing
