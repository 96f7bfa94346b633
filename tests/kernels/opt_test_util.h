// Helpers shared by the optimised-kernel tests: run a body once per compiled SIMD target, random
// data, and tolerance checks against the reference kernels.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/isa.h"

namespace effi::kernels::testing_util {

inline std::vector<float> Random(size_t n, std::mt19937& rng, float scale = 1.0f,
                                 float offset = 0.0f) {
  std::normal_distribution<float> dist(offset, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Runs `body(target_name)` once per available target, forcing dispatch to it.
template <class F>
void ForEachTarget(F&& body) {
  const auto targets = AvailableTargets();
  ASSERT_FALSE(targets.empty());
  for (int64_t t : targets) {
    ForceTargetForTest(t);
    SCOPED_TRACE(TargetName(t));
    body(TargetName(t));
  }
  ForceTargetForTest(0);
}

// Element-wise |got[i] - want[i]| <= tol(i); NaN must match NaN, inf must match exactly.
template <class Tol>
void ExpectWithin(const std::vector<float>& got, const std::vector<float>& want, const Tol& tol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double g = got[i], w = want[i];
    bool ok;
    if (std::isnan(w))
      ok = std::isnan(g);
    else if (std::isinf(w))
      ok = g == w;
    else
      ok = std::fabs(g - w) <= tol(i);
    if (!ok && ++bad <= 5) ADD_FAILURE() << what << " [" << i << "]: got " << g << " want " << w;
  }
  EXPECT_EQ(bad, 0) << what;
}

// Element-wise |got - want| <= atol + rtol * |want|; NaN must match NaN, inf must match exactly.
inline void ExpectNear(const std::vector<float>& got, const std::vector<float>& want, double rtol,
                       double atol, const std::string& what) {
  ExpectWithin(
      got, want, [&](size_t i) { return atol + rtol * std::fabs(static_cast<double>(want[i])); },
      what);
}

}  // namespace effi::kernels::testing_util
