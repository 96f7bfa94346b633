// Observers and quantization parameters (src/quant) on small hand-made data with exact expected
// numbers: each value below follows from the definitions in quant.h (worked out in the comments),
// except the entropy threshold, which tests/quant/entropy_reference.py computes independently.
#include "quant/quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "effi/error.hpp"

namespace effi::quant {
namespace {

ErrorCode CodeOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  return ErrorCode::kOk;
}

TEST(ActivationParams, RangeWidenedToZeroAndZeroPointRounded) {
  // [-1, 3]: scale 4/255, zero point round(1 / (4/255)) = round(63.75) = 64.
  QParams p = ActivationParams({-1.0f, 3.0f});
  EXPECT_FLOAT_EQ(p.scale, 4.0f / 255.0f);
  EXPECT_EQ(p.zero_point, 64);
  // [0.5, 2] is widened to [0, 2] (0 must be exact): zero point 0.
  p = ActivationParams({0.5f, 2.0f});
  EXPECT_FLOAT_EQ(p.scale, 2.0f / 255.0f);
  EXPECT_EQ(p.zero_point, 0);
  // [-2, -0.5] is widened to [-2, 0]: zero point 255.
  p = ActivationParams({-2.0f, -0.5f});
  EXPECT_FLOAT_EQ(p.scale, 2.0f / 255.0f);
  EXPECT_EQ(p.zero_point, 255);
  // All zero: scale 1, zero point 0 (a zero scale would make QuantizeLinear divide by 0).
  p = ActivationParams({0.0f, 0.0f});
  EXPECT_EQ(p.scale, 1.0f);
  EXPECT_EQ(p.zero_point, 0);
}

TEST(RoundHalfEven, TiesGoToEven) {
  EXPECT_EQ(RoundHalfEven(0.5f), 0.0f);
  EXPECT_EQ(RoundHalfEven(1.5f), 2.0f);
  EXPECT_EQ(RoundHalfEven(2.5f), 2.0f);
  EXPECT_EQ(RoundHalfEven(-2.5f), -2.0f);
  EXPECT_EQ(RoundHalfEven(-3.5f), -4.0f);
}

TEST(QuantizeWeightPerChannel, ConvLayoutSymmetricInt8) {
  // [O=2, 4] (Conv: outer 1, inner 4). Channel 0: max |w| = 254 -> scale 2; 127/2 = 63.5 -> 64,
  // -63/2 = -31.5 -> -32, 1/2 = 0.5 -> 0 (ties to even), 254/2 = 127. Channel 1 is all zero:
  // scale 1, values 0.
  const std::vector<float> w = {127, -63, 254, 1, 0, 0, 0, 0};
  const QuantizedWeight q = QuantizeWeightPerChannel(w.data(), 1, 2, 4);
  EXPECT_EQ(q.scales, (std::vector<float>{2.0f, 1.0f}));
  EXPECT_EQ(q.values, (std::vector<int8_t>{64, -32, 127, 0, 0, 0, 0, 0}));
}

TEST(QuantizeWeightPerChannel, MatMulLayoutChannelsAreColumns) {
  // B [K=2, N=2] (MatMul: outer K, inner 1): channel 0 = column {127, -63.5} -> scale 1,
  // values {127, -64}; channel 1 = column {-254, 127} -> scale 2, values {-127, 64}. -128 never
  // appears: the grid is [-127, 127].
  const std::vector<float> w = {127, -254, -63.5f, 127};
  const QuantizedWeight q = QuantizeWeightPerChannel(w.data(), 2, 2, 1);
  EXPECT_EQ(q.scales, (std::vector<float>{1.0f, 2.0f}));
  EXPECT_EQ(q.values, (std::vector<int8_t>{127, -127, -64, 64}));
}

TEST(QuantizeWeightPerChannel, NonFiniteWeightIsAnError) {
  const std::vector<float> w = {1, std::numeric_limits<float>::quiet_NaN()};
  EXPECT_EQ(CodeOf([&] { QuantizeWeightPerChannel(w.data(), 1, 1, 2); }), ErrorCode::kInvalidModel);
  const std::vector<float> inf = {std::numeric_limits<float>::infinity(), 1};
  EXPECT_EQ(CodeOf([&] { QuantizeWeightPerChannel(inf.data(), 1, 2, 1); }),
            ErrorCode::kInvalidModel);
}

TEST(QuantizeBias, ScaleIsInputTimesWeightScaleAndSaturates) {
  // s_x = 0.5; s_w = {0.25, 2, 1e-3, 0.25} -> bias scales {0.125, 1, 5e-4, 0.125}:
  // 1 / 0.125 = 8; -3 / 1 = -3; 1e12 / 5e-4 = 2e15 saturates to INT32_MAX; 0.1875 / 0.125 = 1.5
  // -> 2 (half to even).
  const std::vector<float> b = {1.0f, -3.0f, 1e12f, 0.1875f};
  int64_t saturated = 0;
  const std::vector<int32_t> q =
      QuantizeBias(b.data(), 4, 0.5f, {0.25f, 2.0f, 1e-3f, 0.25f}, &saturated);
  EXPECT_EQ(q, (std::vector<int32_t>{8, -3, std::numeric_limits<int32_t>::max(), 2}));
  EXPECT_EQ(saturated, 1);
  const std::vector<float> nan = {std::nanf("")};
  EXPECT_EQ(CodeOf([&] { QuantizeBias(nan.data(), 1, 1.0f, {1.0f}); }), ErrorCode::kInvalidModel);
}

TEST(Histogram, GrowsByMergingPairsExactly) {
  Histogram h;
  const std::vector<float> first = {1.0f, -1.0f, 0.5f};
  h.Add(first.data(), first.size());
  // R = 1, bin width 2/4096: -1 -> bin 0, 0.5 -> bin 3072, 1 (= R) -> the last bin, 4095.
  EXPECT_EQ(h.limit(), 1.0);
  EXPECT_EQ(h.counts()[0], 1);
  EXPECT_EQ(h.counts()[3072], 1);
  EXPECT_EQ(h.counts()[4095], 1);
  const std::vector<float> second = {3.0f};
  h.Add(second.data(), second.size());
  // 3 > R: R doubles twice to 4 (bin width 1/512); old bin i -> 1024 + i/2 each time:
  // 0 -> 1024 -> 1536 (-1 = -4 + 1536/512), 3072 -> 2560 -> 2304 (0.5), 4095 -> 3071 -> 2559
  // (whose upper edge is 1); 3 lands in (3 + 4) * 512 = 3584.
  EXPECT_EQ(h.limit(), 4.0);
  EXPECT_EQ(h.total(), 4);
  double sum = 0;
  for (double c : h.counts()) sum += c;
  EXPECT_EQ(sum, 4);
  EXPECT_EQ(h.counts()[1536], 1);
  EXPECT_EQ(h.counts()[2304], 1);
  EXPECT_EQ(h.counts()[2559], 1);
  EXPECT_EQ(h.counts()[3584], 1);
}

TEST(Histogram, ZerosBeforeAnyScaleLandInTheZeroBin) {
  Histogram h;
  const std::vector<float> zeros(5, 0.0f), later = {2.0f};
  h.Add(zeros.data(), zeros.size());
  EXPECT_EQ(h.limit(), 0);
  EXPECT_EQ(h.zeros_before_limit(), 5);
  h.Add(later.data(), later.size());
  EXPECT_EQ(h.counts()[2048], 5);  // [0, w)
  EXPECT_EQ(h.counts()[4095], 1);
}

TEST(Observer, MinMaxOverBatchesSkipsNonFinite) {
  Observer o;
  const std::vector<float> a = {-1.0f, 2.0f};
  const std::vector<float> b = {0.5f, std::nanf(""), std::numeric_limits<float>::infinity(), -3.0f};
  o.Observe(a.data(), a.size());
  o.Observe(b.data(), b.size());
  EXPECT_EQ(o.finite_count(), 4);
  EXPECT_EQ(o.skipped_count(), 2);
  const Range r = o.Compute();
  EXPECT_EQ(r.min, -3.0f);
  EXPECT_EQ(r.max, 2.0f);
}

TEST(Observer, NothingFiniteIsAnError) {
  Observer o;
  EXPECT_EQ(CodeOf([&] { o.Compute(); }), ErrorCode::kInvalidArgument);
  const std::vector<float> nan(3, std::nanf(""));
  o.Observe(nan.data(), nan.size());
  EXPECT_EQ(CodeOf([&] { o.Compute(); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ParseObserverKind("minmax"), ObserverKind::kMinMax);
  EXPECT_EQ(CodeOf([] { ParseObserverKind("kl"); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(CodeOf([] {
              Observer bad({ObserverKind::kPercentile, 0.0});
            }),
            ErrorCode::kInvalidArgument);
}

// 2000 values k + 0.5 (k = 0..1999) and one outlier 2048: R = 2048, bin width exactly 1, value
// k + 0.5 in bin 2048 + k, the outlier (= R) in the last bin 4095.
std::vector<float> PercentileData() {
  std::vector<float> x;
  for (int k = 0; k < 2000; ++k) x.push_back(static_cast<float>(k) + 0.5f);
  x.push_back(2048.0f);
  return x;
}

TEST(Observer, PercentileCutsBothTails) {
  const std::vector<float> x = PercentileData();
  Observer o({ObserverKind::kPercentile, 99.9});
  o.Observe(x.data(), x.size());
  // Cut per tail: 2001 * 0.1 % / 2 = 1.0005 values. Low side: bins 2048 and 2049 hold 2 > 1.0005
  // values, so bin 2049 is the first kept: its lower edge -2048 + 2049 = 1. High side: the
  // outlier alone (1 value) is cut; bin 4047 (1999.5) is kept: upper edge -2048 + 4048 = 2000.
  const Range r = o.Compute();
  EXPECT_EQ(r.min, 1.0f);
  EXPECT_EQ(r.max, 2000.0f);
  // 100 %: nothing is cut; the edges (0 and 2048) are clamped to what was seen (0.5 and 2048).
  Observer all({ObserverKind::kPercentile, 100.0});
  all.Observe(x.data(), x.size());
  EXPECT_EQ(all.Compute().min, 0.5f);
  EXPECT_EQ(all.Compute().max, 2048.0f);
}

TEST(Observer, MseClipsAnOutlierWhenTheBulkGains) {
  // 31250 copies of each bin centre (j + 0.5) / 32, j = 0..31 (1e6 values spread over [0, 1))
  // and one value 64: R = 64, bin width 1/32. Keeping the outlier costs the bulk a step of
  // 64/255 (error ~ 1e6 * step^2 / 12 = 5250); clipping at k % of the range costs the outlier
  // (64 - 0.64 k)^2. Over the 100 candidates the sum is least at k = 50 (2264.19 against 2277.14
  // at k = 48, the next best): range [0.015625 * 0.5, 64 * 0.5].
  std::vector<float> x;
  for (int j = 0; j < 32; ++j) x.insert(x.end(), 31250, (static_cast<float>(j) + 0.5f) / 32);
  x.push_back(64.0f);
  Observer o({ObserverKind::kMse});
  o.Observe(x.data(), x.size());
  const Range r = o.Compute();
  EXPECT_EQ(r.min, 0.0078125f);
  EXPECT_EQ(r.max, 32.0f);
  // A tensor without outliers keeps its whole range: 0..255 levels of 1/255 are exact here.
  std::vector<float> grid;
  for (int k = 0; k <= 255; ++k) grid.push_back(static_cast<float>(k) / 4);
  Observer exact({ObserverKind::kMse});
  exact.Observe(grid.data(), grid.size());
  EXPECT_EQ(exact.Compute().max, 63.75f);
}

TEST(Observer, EntropyClipsTheOutlierOfALaplaceTail) {
  // |x| histogram (bin width 1/32, R = 64): bin j holds round(1e5 exp(-j / 100)) values at its
  // centre for j < 1000, plus one value 64. entropy_reference.py finds the least KL at 1000 bins:
  // threshold 1000 / 32 = 31.25 (the outlier clipped, the whole tail kept).
  std::vector<float> x;
  for (int j = 0; j < 1000; ++j)
    x.insert(x.end(), static_cast<size_t>(std::lround(1e5 * std::exp(-j / 100.0))),
             (static_cast<float>(j) + 0.5f) / 32);
  x.push_back(64.0f);
  Observer o({ObserverKind::kEntropy});
  o.Observe(x.data(), x.size());
  const Range r = o.Compute();
  EXPECT_EQ(r.min, 0.015625f);
  EXPECT_EQ(r.max, 31.25f);
}

TEST(ErrorStats, CosineAndSqnrOverItems) {
  ErrorStats none;
  EXPECT_EQ(none.mean_cosine(), 1.0);  // nothing compared: no error
  ErrorStats s;
  // Item 1: equal -> cosine 1, no noise. Item 2: x = -ref -> cosine -1, noise (2 ref)^2.
  // Signal 3^2 + 4^2 twice = 50, noise 4 * 25 = 100: SQNR 10 log10(0.5) = -3.0103 dB.
  const std::vector<float> ref = {3, 4}, same = {3, 4}, neg = {-3, -4};
  s.Add(ref.data(), same.data(), 2);
  EXPECT_EQ(s.sqnr_db(), std::numeric_limits<double>::infinity());
  s.Add(ref.data(), neg.data(), 2);
  EXPECT_EQ(s.items(), 2);
  EXPECT_DOUBLE_EQ(s.mean_cosine(), 0.0);
  EXPECT_NEAR(s.sqnr_db(), 10 * std::log10(0.5), 1e-12);
  // x = ref + 1% of ref: cosine 1, SQNR 40 dB.
  ErrorStats t;
  const std::vector<float> close = {3.03f, 4.04f};
  t.Add(ref.data(), close.data(), 2);
  EXPECT_NEAR(t.mean_cosine(), 1.0, 1e-12);
  EXPECT_NEAR(t.sqnr_db(), 40.0, 1e-4);
  // All-zero tensors: both zero is a match (cosine 1), one zero is none (cosine 0).
  ErrorStats z;
  const std::vector<float> zero = {0, 0};
  z.Add(zero.data(), zero.data(), 2);
  z.Add(zero.data(), ref.data(), 2);
  EXPECT_DOUBLE_EQ(z.mean_cosine(), 0.5);
  EXPECT_EQ(z.sqnr_db(), -std::numeric_limits<double>::infinity());  // no signal, some noise
  // A NaN in the quantized run shows as NaN, never as a good score.
  ErrorStats n;
  const std::vector<float> nan = {std::nanf(""), 4};
  n.Add(ref.data(), nan.data(), 2);
  EXPECT_TRUE(std::isnan(n.mean_cosine()));
  EXPECT_TRUE(std::isnan(n.sqnr_db()));
}

}  // namespace
}  // namespace effi::quant
