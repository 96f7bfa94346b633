// Highway row kernels (LayerNorm, Softmax) against the double-accumulating reference kernels on
// every compiled target: tails, large offsets, long rows, the real EfficientFormer shapes.
#include <gtest/gtest.h>

#include <limits>
#include <vector>

#include "kernels/norm.h"
#include "kernels/ref/ref_kernels.h"
#include "opt_test_util.h"

namespace effi::kernels {
namespace {

using testing_util::ExpectNear;
using testing_util::ForEachTarget;
using testing_util::Random;

TEST(OptLayerNorm, MatchesReferenceAllTargets) {
  const std::pair<int64_t, int64_t> shapes[] = {{49, 448}, {1, 1},    {3, 7},    {5, 17},
                                                {2, 100},  {4, 4096}, {3, 4095}, {196, 48}};
  std::mt19937 rng(31);
  ForEachTarget([&](const std::string&) {
    for (const auto& [rows, cols] : shapes) {
      for (float offset : {0.0f, 100.0f}) {
        for (int affine = 0; affine < 3; ++affine) {  // none, gamma only, gamma + beta
          SCOPED_TRACE(testing::Message()
                       << rows << "x" << cols << " offset=" << offset << " affine=" << affine);
          const size_t count = static_cast<size_t>(rows * cols);
          auto x = Random(count, rng, 1.0f, offset);
          auto gamma = Random(static_cast<size_t>(cols), rng, 1.0f, 1.0f);
          auto beta = Random(static_cast<size_t>(cols), rng);
          const float* g = affine >= 1 ? gamma.data() : nullptr;
          const float* b = affine >= 2 ? beta.data() : nullptr;
          std::vector<float> want(count), got(count, NAN);
          ref::layernorm_f32(rows, cols, x.data(), g, b, 1e-5f, want.data(), nullptr, nullptr);
          LayerNormF32(rows, cols, x.data(), g, b, 1e-5f, got.data());
          ExpectNear(got, want, 1e-5, 1e-5, "layernorm");
        }
      }
    }
  });
}

TEST(OptSoftmax, MatchesReferenceAllTargets) {
  const std::pair<int64_t, int64_t> shapes[] = {{8 * 49, 49}, {1, 1},    {3, 7},
                                                {5, 17},      {2, 1000}, {4, 48}};
  std::mt19937 rng(32);
  ForEachTarget([&](const std::string&) {
    for (const auto& [rows, cols] : shapes) {
      for (float scale : {1.0f, 30.0f}) {
        SCOPED_TRACE(testing::Message() << rows << "x" << cols << " scale=" << scale);
        const size_t count = static_cast<size_t>(rows * cols);
        auto x = Random(count, rng, scale, 50.0f);
        if (cols > 3) x[2] = -std::numeric_limits<float>::infinity();  // a masked logit
        std::vector<float> want(count), got(count, NAN);
        ref::softmax_f32(rows, cols, 1, x.data(), want.data());
        SoftmaxF32(rows, cols, x.data(), got.data());
        // x - max rounds in float (the reference subtracts in double): exp's relative error grows
        // by |x - max| * 2^-24, up to ~1e-5 for the spread logits.
        const double rtol = scale > 1.0f ? 1e-5 : 2e-6;
        ExpectNear(got, want, rtol, 1e-30, "softmax");
        SoftmaxF32(rows, cols, x.data(), x.data());  // in place
        ExpectNear(x, want, rtol, 1e-30, "softmax in place");
      }
    }
  });
}

}  // namespace
}  // namespace effi::kernels
