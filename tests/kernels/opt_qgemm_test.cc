// The packed int8 GEMM against the reference on every target it was compiled for (incl. AVX3_DL,
// compiled only for it) and, on ARM64 CPUs with dot product instructions, also without them:
// int32 accumulators bit-exact, float outputs within 1e-5 relative, u8 outputs within one step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/isa.h"
#include "kernels/qgemm.h"
#include "kernels/ref/ref_kernels.h"
#include "opt_test_util.h"

namespace effi::kernels {
namespace {

using testing_util::ExpectNear;
using testing_util::Random;

// body(name) per target, and on NEON and AVX2 per kernel (dot product and widening) where the CPU
// has the dot product (sdot, AVX-VNNI).
template <class F>
void ForEachQTarget(F&& body) {
  const auto targets = QGemmTargets();
  ASSERT_FALSE(targets.empty());
  const bool dot = HasInt8DotProd();
  for (int64_t t : targets) {
    ForceTargetForTest(t);
    for (bool allow_dot : {true, false}) {
      if (!allow_dot && !dot) continue;
      AllowInt8DotProdForTest(allow_dot);
      const std::string name = QGemmKernelName();
      SCOPED_TRACE(name);
      // The dot-product kernels really run where the CPU has them (this machine: AVX-VNNI).
      if (dot && allow_dot && (TargetName(t) == "AVX2" || TargetName(t) == "NEON")) {
        EXPECT_TRUE(name.ends_with("_VNNI") || name.ends_with("_DOTPROD")) << name;
      }
      body(TargetName(t));
    }
  }
  AllowInt8DotProdForTest(true);
  ForceTargetForTest(0);
}

std::vector<uint8_t> RandomU8(size_t n, std::mt19937& rng) {
  std::uniform_int_distribution<int> u(0, 255);
  std::vector<uint8_t> v(n);
  for (auto& x : v) x = static_cast<uint8_t>(u(rng));
  return v;
}

std::vector<int8_t> RandomS8(size_t n, std::mt19937& rng) {
  std::uniform_int_distribution<int> u(-128, 127);
  std::vector<int8_t> v(n);
  for (auto& x : v) x = static_cast<int8_t>(u(rng));
  return v;
}

struct Problem {
  int64_t m, n, k;
  bool trans_b;
  std::vector<uint8_t> a;  // [m][k]
  std::vector<int8_t> b;   // [k][n], or [n][k] when trans_b
  int32_t za;
  int64_t ldb() const { return trans_b ? k : n; }
  std::vector<int32_t> Reference() const {
    std::vector<int32_t> acc(static_cast<size_t>(m * n));
    ref::qgemm_u8s8_s32(trans_b, m, n, k, a.data(), k, za, b.data(), ldb(), acc.data(), n);
    return acc;
  }
};

// Runs out = C over the whole problem in four calls: rows split unevenly, columns split at the
// middle unit (inside a packed panel unless it is a multiple of the panel's vectors).
template <class T, class Call>
void SplitCalls(const Problem& p, const PackedBQ8& packed, Call&& call) {
  const int64_t msplit = p.m / 3;
  const int64_t nsplit = packed.unit_begin(packed.units() / 2);
  for (auto [m0, m1] : {std::pair{int64_t{0}, msplit}, std::pair{msplit, p.m}}) {
    call(m0, m1, int64_t{0}, nsplit);
    call(m0, m1, nsplit, p.n);
  }
}

std::vector<int32_t> RunInt32(const Problem& p, const PackedBQ8& packed) {
  std::vector<int32_t> c(static_cast<size_t>(p.m * p.n), -7);
  SplitCalls<int32_t>(p, packed, [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
    QGemmPacked(m0, m1, n0, n1, p.a.data(), p.k, p.za, packed, c.data(), p.n);
  });
  return c;
}

TEST(RefQGemm, HandComputedCases) {
  // a = [[1, 255], [0, 7]], za = 3, b = [[-128, 2], [127, -1]] (trans_b: b^T given).
  const uint8_t a[] = {1, 255, 0, 7};
  const int8_t b[] = {-128, 2, 127, -1}, bt[] = {-128, 127, 2, -1};
  const std::vector<int32_t> want = {(1 - 3) * -128 + (255 - 3) * 127, (1 - 3) * 2 + (255 - 3) * -1,
                                     (0 - 3) * -128 + (7 - 3) * 127, (0 - 3) * 2 + (7 - 3) * -1};
  std::vector<int32_t> acc(4), acc_t(4);
  ref::qgemm_u8s8_s32(false, 2, 2, 2, a, 2, 3, b, 2, acc.data(), 2);
  ref::qgemm_u8s8_s32(true, 2, 2, 2, a, 2, 3, bt, 2, acc_t.data(), 2);
  EXPECT_EQ(acc, want);
  EXPECT_EQ(acc_t, want);
  // y = act(acc * mult + bias) + residual.
  const int32_t acc2[] = {10, -10};
  const float mult[] = {0.5f, 0.25f}, bias[] = {1.0f, 0.0f}, res[] = {100.0f, 200.0f};
  float y[2];
  ref::qgemm_epilogue_f32(1, 2, acc2, mult, bias, ref::Activation::kRelu, res, 2, y);
  EXPECT_EQ(y[0], 106.0f);
  EXPECT_EQ(y[1], 200.0f);
  // QuantizeLinear: ties to even before the zero point, saturation, NaN to the zero point.
  const float x[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 1000.0f, -1000.0f, NAN};
  uint8_t q[8];
  ref::quantize_linear_u8(8, x, 0.5f, 11, q);  // x / 0.5 = 1, 3, 5, -1, -3, ...
  EXPECT_EQ(std::vector<uint8_t>(q, q + 8), (std::vector<uint8_t>{12, 14, 16, 10, 8, 255, 0, 11}));
  ref::quantize_linear_u8(8, x, 1.0f, 11, q);  // ties: 0, 2, 2, -0, -2
  EXPECT_EQ(std::vector<uint8_t>(q, q + 8), (std::vector<uint8_t>{11, 13, 13, 11, 9, 255, 0, 11}));
}

TEST(OptQGemm, Int32ExactOnRandomShapesAllTargets) {
  std::mt19937 rng(42);
  // Tails in M (not multiples of 4/6/8), N (not multiples of 4/8/16 or of a 2-3 vector panel), K
  // (not multiples of 2/4/16), L1-like shapes scaled down.
  const int64_t shapes[][3] = {{1, 1, 1},   {5, 7, 3},    {13, 33, 17}, {8, 48, 64},  {9, 31, 257},
                               {17, 65, 2}, {49, 64, 96}, {3, 100, 45}, {21, 48, 19}, {7, 40, 13},
                               {2, 8, 5},   {11, 17, 30}, {16, 96, 48}};
  ForEachQTarget([&](const std::string&) {
    for (const auto& s : shapes) {
      for (bool trans_b : {false, true}) {
        Problem p{s[0], s[1], s[2], trans_b, {}, {}, 0};
        p.a = RandomU8(static_cast<size_t>(p.m * p.k), rng);
        p.b = RandomS8(static_cast<size_t>(p.k * p.n), rng);
        p.za = std::uniform_int_distribution<int>(0, 255)(rng);
        SCOPED_TRACE(testing::Message() << "m=" << p.m << " n=" << p.n << " k=" << p.k
                                        << " tb=" << trans_b << " za=" << p.za);
        const PackedBQ8 packed(p.b.data(), p.k, p.n, p.ldb(), trans_b);
        EXPECT_EQ(RunInt32(p, packed), p.Reference());
      }
    }
  });
}

TEST(OptQGemmInt32, ExtremeValuesAllTargets) {
  // |sum| up to 255 * 128 * K: any int16 intermediate (vpmaddubsw-style pair sums) would
  // saturate, and partial sums of a * w exceed what (a - za) * w reaches.
  std::mt19937 rng(5);
  ForEachQTarget([&](const std::string&) {
    for (int64_t k : {int64_t{4}, int64_t{515}, int64_t{1501}}) {
      for (int a_val : {0, 255, -1}) {
        for (int w_val : {-128, 127, 0}) {
          for (int32_t za : {0, 255, 128}) {
            Problem p{9, 20, k, (k & 1) != 0, {}, {}, za};
            p.a = a_val < 0 ? RandomU8(static_cast<size_t>(p.m * k), rng)
                            : std::vector<uint8_t>(static_cast<size_t>(p.m * k),
                                                   static_cast<uint8_t>(a_val));
            p.b = w_val == 0 ? RandomS8(static_cast<size_t>(k * p.n), rng)
                             : std::vector<int8_t>(static_cast<size_t>(k * p.n),
                                                   static_cast<int8_t>(w_val));
            SCOPED_TRACE(testing::Message()
                         << "k=" << k << " a=" << a_val << " w=" << w_val << " za=" << za);
            const PackedBQ8 packed(p.b.data(), k, p.n, p.ldb(), p.trans_b);
            EXPECT_EQ(RunInt32(p, packed), p.Reference());
          }
        }
      }
    }
  });
}

TEST(OptQGemm, FloatAndU8EpiloguesAllTargets) {
  std::mt19937 rng(7);
  const int64_t shapes[][3] = {{13, 33, 17}, {9, 48, 40}, {21, 50, 99}, {4, 7, 8}, {17, 100, 31}};
  ForEachQTarget([&](const std::string&) {
    for (const auto& s : shapes) {
      for (int act = 0; act < 3; ++act) {
        const int64_t m = s[0], n = s[1], k = s[2];
        const bool with_res = act != 1;
        Problem p{m, n, k, act == 2, {}, {}, 0};
        p.a = RandomU8(static_cast<size_t>(m * k), rng);
        p.b = RandomS8(static_cast<size_t>(k * n), rng);
        p.za = std::uniform_int_distribution<int>(0, 255)(rng);
        SCOPED_TRACE(testing::Message()
                     << "m=" << m << " n=" << n << " k=" << k << " act=" << act << " za=" << p.za);
        const PackedBQ8 packed(p.b.data(), k, n, p.ldb(), p.trans_b);
        // Scales as a calibrated layer has them: outputs of order 1.
        const float a_scale = 0.02f;
        std::vector<float> mult(static_cast<size_t>(n));
        for (auto& x : mult)
          x = a_scale * std::uniform_real_distribution<float>(0.5f, 2.0f)(rng) / 127.0f /
              std::sqrt(static_cast<float>(k));
        const auto bias = Random(static_cast<size_t>(n), rng);
        const int64_t ldr = n + 3;
        const auto res = Random(static_cast<size_t>(m * ldr), rng);
        QGemmEpilogue ep{mult.data(),
                         bias.data(),
                         static_cast<ref::Activation>(act),
                         with_res ? res.data() : nullptr,
                         ldr,
                         0.05f,
                         100};
        std::vector<float> want(static_cast<size_t>(m * n));
        ref::qgemm_epilogue_f32(m, n, p.Reference().data(), mult.data(), bias.data(), ep.act,
                                ep.residual, ldr, want.data());
        float max_abs = 1.0f;
        for (float x : want) max_abs = std::max(max_abs, std::fabs(x));
        // Float: C with padded rows (ldc > n) must keep its padding.
        const int64_t ldc = n + 5;
        const float kSentinel = 12345.0f;
        std::vector<float> c(static_cast<size_t>(m * ldc), kSentinel);
        SplitCalls<float>(p, packed, [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
          QGemmPacked(m0, m1, n0, n1, p.a.data(), k, p.za, packed, c.data(), ldc, ep);
        });
        std::vector<float> got(static_cast<size_t>(m * n));
        int clobbered = 0;
        for (int64_t i = 0; i < m; ++i) {
          for (int64_t j = 0; j < ldc; ++j) {
            const float v = c[static_cast<size_t>(i * ldc + j)];
            if (j < n)
              got[static_cast<size_t>(i * n + j)] = v;
            else
              clobbered += v != kSentinel;
          }
        }
        EXPECT_EQ(clobbered, 0);
        ExpectNear(got, want, 1e-5, 1e-6 * max_abs, "float");
        // u8: within one step of QuantizeLinear of the reference; padding untouched.
        std::vector<uint8_t> want_q(want.size());
        ref::quantize_linear_u8(m * n, want.data(), ep.out_scale, ep.out_zero_point, want_q.data());
        std::vector<uint8_t> q(static_cast<size_t>(m * ldc), 77);
        SplitCalls<uint8_t>(p, packed, [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
          QGemmPacked(m0, m1, n0, n1, p.a.data(), k, p.za, packed, q.data(), ldc, ep);
        });
        int off = 0, far = 0, saturated = 0;
        clobbered = 0;
        for (int64_t i = 0; i < m; ++i) {
          for (int64_t j = 0; j < ldc; ++j) {
            const int g = q[static_cast<size_t>(i * ldc + j)];
            if (j >= n) {
              clobbered += g != 77;
              continue;
            }
            const int w = want_q[static_cast<size_t>(i * n + j)];
            off += g != w;
            far += std::abs(g - w) > 1;
            saturated += w == 0 || w == 255;
          }
        }
        EXPECT_EQ(clobbered, 0);
        EXPECT_EQ(far, 0);
        EXPECT_LE(off, m * n / 100 + 1);  // ties and 1-ulp differences only
        EXPECT_LT(saturated, m * n / 4);  // the scales exercise rounding, not just the clamps
      }
    }
  });
}

TEST(OptQGemm, SaturationNoBiasEmptyKAndKernelName) {
  std::mt19937 rng(9);
  ForEachQTarget([&](const std::string& target) {
    EXPECT_NE(std::string(QGemmKernelName()).find(target), std::string::npos) << QGemmKernelName();
    // u8 saturation both ways, no multiplier/bias (acc converted as is).
    const int64_t m = 6, n = 19, k = 11;
    Problem p{m,
              n,
              k,
              false,
              RandomU8(static_cast<size_t>(m * k), rng),
              RandomS8(static_cast<size_t>(k * n), rng),
              3};
    const PackedBQ8 packed(p.b.data(), k, n, n);
    const auto acc = p.Reference();
    std::vector<float> want(acc.begin(), acc.end());
    QGemmEpilogue ep;
    ep.out_scale = 0.5f;
    ep.out_zero_point = 128;
    std::vector<uint8_t> want_q(want.size()), q(want.size());
    ref::quantize_linear_u8(m * n, want.data(), ep.out_scale, ep.out_zero_point, want_q.data());
    QGemmPacked(0, m, 0, n, p.a.data(), k, p.za, packed, q.data(), n, ep);
    EXPECT_EQ(q, want_q);
    std::vector<float> c(want.size());
    QGemmPacked(0, m, 0, n, p.a.data(), k, p.za, packed, c.data(), n, QGemmEpilogue{});
    EXPECT_EQ(c, want);
    // K = 0: the epilogue of a zero product (bias, activation, residual).
    const PackedBQ8 empty(p.b.data(), 0, n, n);
    const auto bias = Random(static_cast<size_t>(n), rng);
    std::vector<float> e(static_cast<size_t>(2 * n), 1.0f), want_e(e.size());
    QGemmPacked(0, 2, 0, n, p.a.data(), 0, 0, empty, e.data(), n,
                QGemmEpilogue{nullptr, bias.data(), ref::Activation::kRelu});
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < n; ++j)
        want_e[static_cast<size_t>(i * n + j)] = std::max(bias[j], 0.0f);
    EXPECT_EQ(e, want_e);
  });
}

// NaN and infinity reaching the epilogue (through the residual, at the first, a middle and the
// last column of tails and full vectors): float output keeps them as the reference does, u8 output
// gives the reference's values (NaN -> the zero point, +-inf -> 255 / 0) on every ISA, whose
// Min/Max differ on NaN.
TEST(OptQGemm, NonFiniteResidualAllTargets) {
  std::mt19937 rng(12);
  const float nan = std::numeric_limits<float>::quiet_NaN(),
              inf = std::numeric_limits<float>::infinity();
  ForEachQTarget([&](const std::string&) {
    for (int64_t n : {int64_t{5}, int64_t{16}, int64_t{53}}) {
      const int64_t m = 9, k = 13;
      Problem p{m,
                n,
                k,
                false,
                RandomU8(static_cast<size_t>(m * k), rng),
                RandomS8(static_cast<size_t>(k * n), rng),
                7};
      const PackedBQ8 packed(p.b.data(), k, n, n);
      auto residual = Random(static_cast<size_t>(m * n), rng);
      const float specials[] = {nan, inf, -inf};
      int s = 0;
      for (int64_t i = 0; i < m; i += 2)
        for (int64_t j : {int64_t{0}, n / 2, n - 1})
          residual[static_cast<size_t>(i * n + j)] = specials[s++ % 3];
      const auto mult = Random(static_cast<size_t>(n), rng);
      QGemmEpilogue ep{mult.data(), nullptr, ref::Activation::kRelu, residual.data(), n};
      ep.out_scale = 0.25f;
      ep.out_zero_point = 100;
      const auto acc = p.Reference();
      std::vector<float> want(acc.size());
      ref::qgemm_epilogue_f32(m, n, acc.data(), ep.multiplier, nullptr, ep.act, ep.residual, n,
                              want.data());
      std::vector<float> c(want.size());
      QGemmPacked(0, m, 0, n, p.a.data(), k, p.za, packed, c.data(), n, ep);
      for (size_t e = 0; e < want.size(); ++e) {
        if (std::isnan(want[e])) {
          EXPECT_TRUE(std::isnan(c[e])) << "element " << e;
        } else if (std::isinf(want[e])) {
          EXPECT_EQ(c[e], want[e]) << "element " << e;
        }
      }
      std::vector<uint8_t> want_q(want.size()), q(want.size());
      ref::quantize_linear_u8(m * n, want.data(), ep.out_scale, ep.out_zero_point, want_q.data());
      QGemmPacked(0, m, 0, n, p.a.data(), k, p.za, packed, q.data(), n, ep);
      for (size_t e = 0; e < want.size(); ++e) {
        if (!std::isfinite(want[e])) {
          EXPECT_EQ(q[e], want_q[e]) << "element " << e;
        }
      }
      EXPECT_EQ(want_q[0], ep.out_zero_point);  // the first special is NaN
    }
  });
}

}  // namespace
}  // namespace effi::kernels
