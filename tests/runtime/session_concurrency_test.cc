// Runtime concurrency: the per-model plan cache under threads running many batch sizes (more than
// the cache keeps, so plans are evicted while other sessions still use them), and intra-op threads
// (SessionOptions::threads) giving the single-thread results.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "effi/effi.hpp"

namespace effi {
namespace {

const std::string kModels = EFFI_TEST_MODELS_DIR;

#ifdef EFFI_TEST_SANITIZED
constexpr int kRounds = 1;
#else
constexpr int kRounds = 3;
#endif

Tensor RandomInput(int64_t batch, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist;
  std::vector<float> v(static_cast<size_t>(batch * 3 * 64 * 64));
  for (float& x : v) x = dist(rng);
  return Tensor::Float({batch, 3, 64, 64}, v);
}

bool SameBits(const Tensor& a, const Tensor& b) { return a.shape == b.shape && a.bytes == b.bytes; }

double MaxRelDiff(const Tensor& a, const Tensor& b) {
  double d = 0, m = 0;
  for (int64_t i = 0; i < a.elements(); ++i) {
    d = std::max(d, std::fabs(static_cast<double>(a.floats()[i]) - b.floats()[i]));
    m = std::max(m, std::fabs(static_cast<double>(b.floats()[i])));
  }
  return m > 0 ? d / m : d;
}

TEST(PlanCache, ManyBatchSizesAcrossThreads) {
  const std::string path = kModels + "/tiny_dynbatch_op13.onnx";
  std::shared_ptr<const Model> model = Model::Load(path);
  // Batch sizes 1..11: more shapes than the cache holds (8).
  std::vector<Tensor> inputs, expected;
  {
    auto reference = Model::Load(path);
    Session s(reference);
    for (int64_t b = 1; b <= 11; ++b) {
      inputs.push_back(RandomInput(b, static_cast<uint32_t>(b)));
      expected.push_back(s.Run({{"data", inputs.back()}})[0]);
    }
  }
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      try {
        Session s(model);
        for (int r = 0; r < kRounds; ++r)
          for (size_t k = 0; k < inputs.size(); ++k) {
            const size_t i = (k * 3 + t) % inputs.size();
            if (!SameBits(s.Run({{"data", inputs[i]}})[0], expected[i])) ++bad;
            if (t == 0 && k % 4 == 0)
              (void)model->Stats(static_cast<int64_t>(i) + 1);  // compiles under the lock too
          }
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
        ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

// Intra-op parallelism splits rows / output tiles between threads; each element is computed the
// same way, so the results should match one thread to fp32 rounding at most.
TEST(IntraOpThreads, MatchSingleThread) {
  for (const char* name : {"tiny_l3like_op11", "tiny_dynbatch_op17"}) {
    SCOPED_TRACE(name);
    std::shared_ptr<const Model> model = Model::Load(kModels + "/" + name + ".onnx");
    const std::vector<int64_t> shape = model->inputs()[0].shape;
    const int64_t batch = shape[0] < 0 ? 3 : 1;
    std::mt19937 rng(3);
    std::normal_distribution<float> dist;
    std::vector<float> v(static_cast<size_t>(batch * 3 * shape[2] * shape[3]));
    for (float& x : v) x = dist(rng);
    const Tensor in = Tensor::Float({batch, 3, shape[2], shape[3]}, v);
    Session one(model);
    const Tensor want = one.Run({{"data", in}})[0];
    for (int threads : {2, 3, 4}) {
      Session s(model, {.threads = threads});
      for (int r = 0; r < 2; ++r) {
        const Tensor got = s.Run({{"data", in}})[0];
        EXPECT_LE(MaxRelDiff(got, want), 1e-6) << threads << " threads";
        if (!SameBits(got, want))
          std::printf("[threads] %s: %d threads not bit-identical\n", name, threads);
      }
    }
  }
}

// Sessions are movable and independent: a moved-to session keeps working, a moved-from one is not
// used; many short-lived sessions on one model do not leak plan state between each other.
TEST(Sessions, MoveAndManyShortLived) {
  std::shared_ptr<const Model> model = Model::Load(kModels + "/tiny_op17.onnx");
  const Tensor in = RandomInput(1, 9);
  Session a(model);
  const Tensor want = a.Run({{"data", in}})[0];
  Session b = std::move(a);
  EXPECT_TRUE(SameBits(b.Run({{"data", in}})[0], want));
  for (int i = 0; i < 20; ++i) {
    Session s(model);
    EXPECT_TRUE(SameBits(s.Run({{"data", in}})[0], want));
  }
}

// The model outlives nothing it needs: sessions keep it alive after the caller drops it.
TEST(Sessions, KeepModelAlive) {
  auto model = Model::Load(kModels + "/tiny_op11.onnx");
  const Tensor in = RandomInput(1, 11);
  const Tensor want = Session(model).Run({{"data", in}})[0];
  Session s(model);
  model.reset();
  EXPECT_TRUE(SameBits(s.Run({{"data", in}})[0], want));
}

}  // namespace
}  // namespace effi
