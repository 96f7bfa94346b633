// QuantizeU8 (the int8 ops' activation quantizer) against ref::quantize_linear<uint8_t> on every
// compiled target: byte equality, never a tolerance, on random counts (tails), scales and zero
// points, exact ties, saturation, +-inf, NaN in any lane, denormals and -0.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/isa.h"
#include "kernels/quant.h"
#include "opt_test_util.h"

namespace effi::kernels {
namespace {

using testing_util::ForEachTarget;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kDenorm = std::numeric_limits<float>::denorm_min();

std::vector<uint8_t> Reference(const std::vector<float>& x, float scale, int32_t zero_point) {
  std::vector<uint8_t> y(x.size());
  const uint8_t zp = static_cast<uint8_t>(zero_point);
  const QuantAxis ax{1, 1, static_cast<int64_t>(x.size())};
  ref::quantize_linear<uint8_t>(ax, x.data(), &scale, &zp, y.data());
  return y;
}

// QuantizeU8 == the reference byte for byte, and nothing written past x.size() (guard bytes).
void ExpectExact(const std::vector<float>& x, float scale, int32_t zero_point) {
  constexpr size_t kGuard = 64;
  constexpr uint8_t kSentinel = 0xA5;
  std::vector<uint8_t> y(x.size() + kGuard, kSentinel);
  QuantizeU8(static_cast<int64_t>(x.size()), x.data(), scale, zero_point, y.data());
  const std::vector<uint8_t> want = Reference(x, scale, zero_point);
  int bad = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (y[i] != want[i] && ++bad <= 5) {
      ADD_FAILURE() << "count " << x.size() << " scale " << scale << " zp " << zero_point << " ["
                    << i << "] x=" << x[i] << " got " << int{y[i]} << " want " << int{want[i]};
    }
  }
  EXPECT_EQ(bad, 0);
  for (size_t i = x.size(); i < y.size(); ++i)
    ASSERT_EQ(y[i], kSentinel) << "wrote past count " << x.size() << " at " << i;
}

// Values whose quotient by `scale` sits on or next to a tie (k + 0.5) for k covering the whole
// u8 range around zero_point and past it: the float product and its 2 neighbours each way.
std::vector<float> TieProbes(float scale, int32_t zero_point) {
  std::vector<float> v;
  for (int k = -zero_point - 3; k <= 258 - zero_point; ++k) {
    float x = (static_cast<float>(k) + 0.5f) * scale;
    x = std::nextafter(std::nextafter(x, -kInf), -kInf);
    for (int step = 0; step < 5; ++step, x = std::nextafter(x, kInf)) v.push_back(x);
  }
  return v;
}

// The tempting wrong formulation: multiply by the reciprocal instead of dividing.
uint8_t QuantizeByReciprocal(float x, float scale, int32_t zero_point) {
  return SaturateRound<uint8_t>(x * (1.0f / scale), zero_point);
}

std::vector<float> Specials() {
  const float big = std::numeric_limits<float>::max();
  const float min_normal = std::numeric_limits<float>::min();
  return {kInf,        -kInf,  kNaN,    -kNaN,      0.0f,        -0.0f, kDenorm,
          -kDenorm,    big,    -big,    min_normal, -min_normal, 1e30f, -1e30f,
          16777216.0f, 4.2e9f, -2.2e9f, 0.5f,       -0.5f,       1.5f,  2.5f};
}

float RandomScale(std::mt19937& rng) {
  std::uniform_real_distribution<float> log10(-3.0f, 1.0f);  // 1e-3 .. 10
  return std::pow(10.0f, log10(rng));
}

int32_t PickZeroPoint(std::mt19937& rng, int trial) {
  static constexpr int32_t kFixed[] = {0, 1, 128, 255};
  if (trial % 5 < 4) return kFixed[trial % 5];
  return std::uniform_int_distribution<int32_t>(0, 255)(rng);
}

TEST(OptQuant, KernelNameAndEmpty) {
  ForEachTarget([&](const std::string& target) {
    const std::string name = QuantizeU8KernelName();
    EXPECT_EQ(name, "quantize_f32_u8__" + target);
    QuantizeU8(0, nullptr, 1.0f, 0, nullptr);  // count 0 touches nothing
    uint8_t y = 7;
    const float x = 3.0f;
    QuantizeU8(0, &x, 1.0f, 0, &y);
    EXPECT_EQ(y, 7);
  });
}

// Random counts 0..300 (every tail length on every vector width), random scales and zero points;
// the values mix quotients spread over and past [0, 255], tie probes and the special values.
TEST(OptQuant, RandomMatchesReferenceExactly) {
  ForEachTarget([&](const std::string&) {
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int> count_dist(0, 300);
    for (int trial = 0; trial < 400; ++trial) {
      const float scale = RandomScale(rng);
      const int32_t zp = PickZeroPoint(rng, trial);
      const size_t count = static_cast<size_t>(trial < 301 ? trial : count_dist(rng));
      const std::vector<float> ties = TieProbes(scale, zp), specials = Specials();
      // Quotients mostly in [-300, 300]: both saturations and the interior.
      std::normal_distribution<float> spread(0.0f, 150.0f * scale);
      std::uniform_int_distribution<size_t> pick(0, 2);
      std::vector<float> x(count);
      for (float& v : x) {
        switch (pick(rng)) {
          case 0:
            v = spread(rng);
            break;
          case 1:
            v = ties[std::uniform_int_distribution<size_t>(0, ties.size() - 1)(rng)];
            break;
          default:
            v = specials[std::uniform_int_distribution<size_t>(0, specials.size() - 1)(rng)];
        }
      }
      ExpectExact(x, scale, zp);
    }
  });
}

// Every tie probe for a spread of scales and every zero point class; also checks that the tie
// probes do tell division from multiplication by the reciprocal (else this test could not catch
// a kernel that multiplies).
TEST(OptQuant, TiesMatchDivisionNotReciprocal) {
  std::mt19937 rng(77);
  int reciprocal_differs = 0;
  std::vector<std::pair<float, int32_t>> cases;
  // Powers of two make (k + 0.5) * scale an exact tie, so both parities of k are hit exactly.
  const std::vector<float> fixed = {0.25f, 1.0f, 2.0f, 1e-3f, 0.1f, 0.3f, 10.0f};
  for (size_t trial = 0; trial < 60; ++trial) {
    const float scale = trial < fixed.size() ? fixed[trial] : RandomScale(rng);
    const int32_t zp = PickZeroPoint(rng, static_cast<int>(trial));
    const std::vector<float> x = TieProbes(scale, zp);
    const std::vector<uint8_t> want = Reference(x, scale, zp);
    for (size_t i = 0; i < x.size(); ++i)
      reciprocal_differs += QuantizeByReciprocal(x[i], scale, zp) != want[i];
    cases.emplace_back(scale, zp);
  }
  EXPECT_GT(reciprocal_differs, 0) << "no tie probe separates x / scale from x * (1 / scale)";
  ForEachTarget([&](const std::string&) {
    for (const auto& [scale, zp] : cases) ExpectExact(TieProbes(scale, zp), scale, zp);
  });
}

// NaN (both signs) and +-inf at the first, a middle and the last lane of every count up to 70
// (covers one to four vectors of every width, plus tails), among in-range values.
TEST(OptQuant, SpecialValuesInEveryLanePosition) {
  ForEachTarget([&](const std::string&) {
    for (const float special : {kNaN, -kNaN, kInf, -kInf, -0.0f, kDenorm, -kDenorm}) {
      for (size_t count = 1; count <= 70; ++count) {
        for (const size_t at : {size_t{0}, count / 2, count - 1}) {
          std::vector<float> x(count);
          for (size_t i = 0; i < count; ++i) x[i] = 0.37f * static_cast<float>(i) - 9.0f;
          x[at] = special;
          for (const int32_t zp : {0, 1, 128, 255}) ExpectExact(x, 0.25f, zp);
        }
      }
    }
  });
}

// Quotients that saturate on both ends (and just inside), tiny scales that overflow the quotient
// to inf, and the reference behaving as documented on a few hand-computed values.
TEST(OptQuant, SaturationAndHandComputed) {
  const std::vector<uint8_t> want =
      Reference({-1e30f, -3.0f, 0.5f, 1.5f, 2.5f, 63.9f, 64.0f, 1e30f, kNaN}, 0.25f, 1);
  // -12 + 1 -> 0; 2 + 1 = 3; 6 + 1 = 7; 10 + 1 = 11; 255.6 + 1 -> 255; NaN -> zero point.
  EXPECT_EQ(want, (std::vector<uint8_t>{0, 0, 3, 7, 11, 255, 255, 255, 1}));
  ForEachTarget([&](const std::string&) {
    for (const int32_t zp : {0, 1, 128, 255}) {
      std::vector<float> x;
      for (int q = -300; q <= 300; ++q) x.push_back(static_cast<float>(q) * 0.75f);
      ExpectExact(x, 0.75f, zp);
      ExpectExact(x, 1e-38f, zp);  // every nonzero quotient is huge or inf
      ExpectExact(x, 1e-45f, zp);  // denormal scale
    }
  });
}

}  // namespace
}  // namespace effi::kernels
