// kernels::FindInt8Grid (qgemm.h): int8 weights recovered from dequantized float ones, exactly,
// per channel or per tensor, through the scalings the fp32 passes apply (BatchNorm and layer
// scales, negative ones included), and nothing found for float weights, NaN, inf or subnormal
// scales. FakeQuantF32 against QuantizeLinear then DequantizeLinear by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/qgemm.h"
#include "kernels/ref/ref_kernels.h"

namespace effi::kernels {
namespace {

struct Weights {
  std::vector<int8_t> q;  // [channels][k]
  std::vector<float> scale, w;
};

// w[c][i] = q * scale[c] (or one scale), max |q| = 127 per channel (or only in channel 0).
Weights MakeGrid(int64_t channels, int64_t k, bool per_tensor, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> qd(-126, 126);
  std::uniform_real_distribution<float> sd(1e-4f, 0.1f);
  Weights r;
  r.q.resize(static_cast<size_t>(channels * k));
  for (auto& v : r.q) v = static_cast<int8_t>(qd(rng));
  r.scale.resize(static_cast<size_t>(channels));
  const float one = sd(rng);
  for (int64_t c = 0; c < channels; ++c) {
    r.scale[c] = per_tensor ? one : sd(rng);
    if (!per_tensor || c == 0) r.q[c * k + (c % k)] = c % 2 ? -127 : 127;
  }
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t i = 0; i < k; ++i) r.w.push_back(static_cast<float>(r.q[c * k + i]) * r.scale[c]);
  return r;
}

TEST(FindInt8Grid, RecoversPerChannelAndPerTensorWeightsExactly) {
  for (const bool per_tensor : {false, true}) {
    for (const int64_t k : {1, 7, 64, 300}) {
      // One weight per channel is its own per-channel grid (q = +-127), whatever the scale.
      if (per_tensor && k == 1) continue;
      const Weights w = MakeGrid(13, k, per_tensor, static_cast<uint32_t>(k));
      const auto g = FindInt8Grid(w.w.data(), 13, k, k, 1);
      ASSERT_TRUE(g) << "k " << k << " per_tensor " << per_tensor;
      EXPECT_EQ(g->q, w.q);
      for (int64_t c = 0; c < 13; ++c) EXPECT_FLOAT_EQ(g->scale[c], w.scale[c]);
      // The same weights stored transposed ([k][channels], a Linear's layout).
      std::vector<float> t(w.w.size());
      for (int64_t c = 0; c < 13; ++c)
        for (int64_t i = 0; i < k; ++i) t[i * 13 + c] = w.w[c * k + i];
      const auto gt = FindInt8Grid(t.data(), 13, k, 1, 13);
      ASSERT_TRUE(gt);
      EXPECT_EQ(gt->q, w.q);
    }
  }
}

TEST(FindInt8Grid, SurvivesPerChannelScalingAsFoldsDo) {
  Weights w = MakeGrid(6, 50, false, 3);
  const float factor[6] = {0.37f, -1.9f, 3.3e-3f, 41.0f, -0.5f, 1.0f};
  for (int64_t c = 0; c < 6; ++c)
    for (int64_t i = 0; i < 50; ++i) w.w[c * 50 + i] *= factor[c];
  const auto g = FindInt8Grid(w.w.data(), 6, 50, 50, 1);
  ASSERT_TRUE(g);
  for (int64_t c = 0; c < 6; ++c)
    for (int64_t i = 0; i < 50; ++i)
      EXPECT_EQ(g->q[c * 50 + i], factor[c] < 0 ? -w.q[c * 50 + i] : w.q[c * 50 + i]);
}

TEST(FindInt8Grid, RejectsFloatWeightsAndSpecialValues) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> f(8 * 27);
  for (float& v : f) v = nd(rng);
  EXPECT_FALSE(FindInt8Grid(f.data(), 8, 27, 27, 1));
  // One element off the grid by 1 % of a step.
  Weights w = MakeGrid(4, 9, false, 6);
  w.w[20] += 0.01f * w.scale[2];
  EXPECT_FALSE(FindInt8Grid(w.w.data(), 4, 9, 9, 1));
  for (const float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    Weights x = MakeGrid(4, 9, false, 7);
    x.w[13] = bad;
    EXPECT_FALSE(FindInt8Grid(x.w.data(), 4, 9, 9, 1)) << bad;
  }
  // A grid whose scale would be subnormal: w / scale no longer recovers q.
  std::vector<float> tiny = {127 * 1e-42f, 3 * 1e-42f};
  EXPECT_FALSE(FindInt8Grid(tiny.data(), 1, 2, 2, 1));
}

TEST(FindInt8Grid, AllZeroChannelHasScaleZero) {
  Weights w = MakeGrid(3, 5, false, 8);
  for (int i = 5; i < 10; ++i) w.w[i] = 0.0f;
  const auto g = FindInt8Grid(w.w.data(), 3, 5, 5, 1);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->scale[1], 0.0f);
  for (int i = 5; i < 10; ++i) EXPECT_EQ(g->q[i], 0);
}

TEST(FakeQuantF32, IsQuantizeThenDequantize) {
  std::mt19937 rng(9);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  for (const int64_t n : {0, 1, 17, 1023, 1024, 1025, 3000}) {
    std::vector<float> x(static_cast<size_t>(n)), y(x.size()), yr(x.size());
    for (float& v : x) v = nd(rng);
    if (n > 3) x[2] = std::numeric_limits<float>::quiet_NaN();
    for (const bool reference : {false, true}) {
      FakeQuantF32(n, x.data(), 0.05f, 100, reference ? yr.data() : y.data(), reference);
    }
    std::vector<uint8_t> q(x.size());
    ref::quantize_linear_u8(n, x.data(), 0.05f, 100, q.data());
    for (int64_t i = 0; i < n; ++i) {
      const float want = static_cast<float>(q[i] - 100) * 0.05f;
      EXPECT_EQ(y[i], want) << i;
      EXPECT_EQ(yr[i], want) << i;
    }
    // In place.
    FakeQuantF32(n, x.data(), 0.05f, 100, x.data());
    EXPECT_EQ(x, y);
  }
}

}  // namespace
}  // namespace effi::kernels
