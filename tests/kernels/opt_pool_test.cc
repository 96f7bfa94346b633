// Highway NHWC pooling kernels (fused pool mixer, general average pool) against the reference
// kernels on every compiled target: odd channel counts (tails), borders, uneven row splits.
#include <gtest/gtest.h>

#include <vector>

#include "kernels/pool.h"
#include "kernels/ref/ref_kernels.h"
#include "opt_test_util.h"

namespace effi::kernels {
namespace {

using testing_util::ExpectNear;
using testing_util::ForEachTarget;
using testing_util::Random;

TEST(OptPoolMixer, MatchesReferenceAllTargets) {
  struct Case {
    int64_t n, h, w, c, k;
  };
  // The real L1 shapes (stages 1-4), odd channels, images smaller than the window, k = 1 and 5.
  const Case cases[] = {{1, 56, 56, 48, 3}, {1, 28, 28, 96, 3}, {1, 14, 14, 224, 3},
                        {1, 7, 7, 448, 3},  {2, 5, 6, 17, 3},   {1, 4, 4, 1, 3},
                        {1, 3, 3, 3, 5},    {1, 9, 8, 100, 5},  {1, 1, 1, 3, 3},
                        {1, 6, 5, 33, 1},   {3, 2, 7, 48, 3},   {1, 2, 2, 100, 7}};
  std::mt19937 rng(21);
  ForEachTarget([&](const std::string&) {
    for (const Case& t : cases) {
      for (bool with_scale : {true, false}) {
        SCOPED_TRACE(testing::Message() << t.n << "x" << t.h << "x" << t.w << "x" << t.c
                                        << " k=" << t.k << " scale=" << with_scale);
        const size_t count = static_cast<size_t>(t.n * t.h * t.w * t.c);
        auto x = Random(count, rng);
        auto scale = Random(static_cast<size_t>(t.c), rng, 0.5f);
        const float* s = with_scale ? scale.data() : nullptr;
        std::vector<float> want(count), got(count, NAN);
        ref::pool_mixer_nhwc_f32(t.n, t.h, t.w, t.c, t.k, x.data(), s, want.data());
        // Uneven row split across "threads".
        const int64_t rows = t.n * t.h, split = rows / 3;
        PoolMixerNhwcF32(t.n, t.h, t.w, t.c, t.k, x.data(), s, got.data(), 0, split);
        PoolMixerNhwcF32(t.n, t.h, t.w, t.c, t.k, x.data(), s, got.data(), split, rows);
        ExpectNear(got, want, 1e-6, 1e-6, "pool mixer");
      }
    }
  });
}

TEST(OptAvgPoolNhwc, MatchesReferenceAllTargets) {
  struct Case {
    int64_t n, h, w, c, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
  };
  const Case cases[] = {
      {1, 56, 56, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},  // EfficientFormer's pool (unfused)
      {1, 7, 7, 448, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
      {2, 8, 9, 17, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1},     // 2x2 stride 2
      {1, 9, 11, 3, 3, 3, 2, 2, 1, 1, 2, 2, 1, 1},     // ceil_mode-style extra bottom/right pad
      {1, 10, 10, 100, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2},  // dilation 2
      {1, 7, 7, 1, 7, 7, 1, 1, 3, 3, 3, 3, 1, 1},      // 7x7 on a 7x7 image
      {1, 5, 6, 33, 3, 2, 2, 1, 0, 1, 1, 0, 1, 1},     // asymmetric everything
      {1, 4, 4, 5, 2, 2, 1, 1, 3, 3, 3, 3, 1, 1},      // all-padding windows at the corners
  };
  std::mt19937 rng(22);
  ForEachTarget([&](const std::string&) {
    for (const Case& t : cases) {
      for (bool cip : {false, true}) {
        ref::Pool2dParams p{t.n,  t.c,  t.h,  t.w,  0,    0,    t.kh, t.kw, t.sh,
                            t.sw, t.pt, t.pl, t.pb, t.pr, t.dh, t.dw, cip};
        p.h_out = (t.h + t.pt + t.pb - (t.dh * (t.kh - 1) + 1)) / t.sh + 1;
        p.w_out = (t.w + t.pl + t.pr - (t.dw * (t.kw - 1) + 1)) / t.sw + 1;
        SCOPED_TRACE(testing::Message() << t.h << "x" << t.w << "x" << t.c << " k=" << t.kh << "x"
                                        << t.kw << " cip=" << cip);
        auto x = Random(static_cast<size_t>(t.n * t.h * t.w * t.c), rng);
        const size_t out = static_cast<size_t>(p.n * p.h_out * p.w_out * p.c);
        std::vector<float> want(out), got(out, NAN);
        ref::avgpool2d_nhwc_f32(p, x.data(), want.data());
        const int64_t rows = p.n * p.h_out, split = rows / 2;
        AvgPool2dNhwcF32(p, x.data(), got.data(), 0, split);
        AvgPool2dNhwcF32(p, x.data(), got.data(), split, rows);
        ExpectNear(got, want, 1e-6, 1e-6, "avgpool");
      }
    }
  });
}

}  // namespace
}  // namespace effi::kernels
