// The packed int8 GEMM against the reference on every target it was compiled for (incl. AVX3_DL,
// compiled only for it) and, on ARM64 CPUs with dot product instructions, also without them:
// int32 accumulators bit-exact, float outputs within 1e-5 relative, u8 outputs within one step;
// with the QDQ layout's epilogue steps (fake quantization, post_bias, post_scale), within one
// fake-quant step.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
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

// Random A, B and A's zero point.
Problem RandomProblem(int64_t m, int64_t n, int64_t k, bool trans_b, std::mt19937& rng) {
  Problem p{m,
            n,
            k,
            trans_b,
            RandomU8(static_cast<size_t>(m * k), rng),
            RandomS8(static_cast<size_t>(k * n), rng),
            0};
  p.za = std::uniform_int_distribution<int>(0, 255)(rng);
  return p;
}

// Per-column multipliers as a calibrated layer has them (activation scale 0.02, weight scales
// max|w| / 127): outputs of order 1.
std::vector<float> LayerMultipliers(int64_t n, int64_t k, std::mt19937& rng) {
  std::vector<float> mult(static_cast<size_t>(n));
  for (auto& x : mult)
    x = 0.02f * std::uniform_real_distribution<float>(0.5f, 2.0f)(rng) / 127.0f /
        std::sqrt(static_cast<float>(k));
  return mult;
}

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

// C (float or u8) of the whole problem in SplitCalls' four calls, into rows padded to ldc = n + 5
// filled with `sentinel`: returns C without the padding, and fails if the padding was written.
template <class T>
std::vector<T> RunPadded(const Problem& p, const PackedBQ8& packed, const QGemmEpilogue& ep,
                         T sentinel) {
  const int64_t ldc = p.n + 5;
  std::vector<T> c(static_cast<size_t>(p.m * ldc), sentinel);
  SplitCalls<T>(p, packed, [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
    QGemmPacked(m0, m1, n0, n1, p.a.data(), p.k, p.za, packed, c.data(), ldc, ep);
  });
  std::vector<T> got(static_cast<size_t>(p.m * p.n));
  int clobbered = 0;
  for (int64_t i = 0; i < p.m; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const T v = c[static_cast<size_t>(i * ldc + j)];
      if (j < p.n)
        got[static_cast<size_t>(i * p.n + j)] = v;
      else
        clobbered += v != sentinel;
    }
  }
  EXPECT_EQ(clobbered, 0);
  return got;
}

// ref::qgemm_epilogue_f32 with every step of ep, over [m][n] accumulators.
std::vector<float> RefEpilogue(const std::vector<int32_t>& acc, int64_t m, int64_t n,
                               const QGemmEpilogue& ep) {
  std::vector<float> y(acc.size());
  ref::qgemm_epilogue_f32(m, n, acc.data(), ep.multiplier, ep.bias, ep.fq_scale, ep.fq_zero_point,
                          ep.post_bias, ep.act, ep.post_scale, ep.residual, ep.ldr, y.data());
  return y;
}

// u8 output q against QuantizeLinear of the reference's float y: elements off by one step, and
// off by more.
struct U8Diff {
  int off = 0, far = 0;
};
U8Diff CompareU8(const std::vector<uint8_t>& q, const std::vector<float>& want,
                 const QGemmEpilogue& ep) {
  std::vector<uint8_t> want_q(want.size());
  ref::quantize_linear_u8(static_cast<int64_t>(want.size()), want.data(), ep.out_scale,
                          ep.out_zero_point, want_q.data());
  U8Diff d;
  for (size_t e = 0; e < q.size(); ++e) {
    d.off += q[e] != want_q[e];
    d.far += std::abs(q[e] - want_q[e]) > 1;
  }
  return d;
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
  ref::qgemm_epilogue_f32(1, 2, acc2, mult, bias, 0.0f, 0, nullptr, ref::Activation::kRelu, nullptr,
                          res, 2, y);
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
        const Problem p = RandomProblem(m, n, k, act == 2, rng);
        SCOPED_TRACE(testing::Message()
                     << "m=" << m << " n=" << n << " k=" << k << " act=" << act << " za=" << p.za);
        const PackedBQ8 packed(p.b.data(), k, n, p.ldb(), p.trans_b);
        const std::vector<float> mult = LayerMultipliers(n, k, rng);
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
        const std::vector<float> want = RefEpilogue(p.Reference(), m, n, ep);
        float max_abs = 1.0f;
        for (float x : want) max_abs = std::max(max_abs, std::fabs(x));
        // Float: C with padded rows (ldc > n) must keep its padding.
        ExpectNear(RunPadded<float>(p, packed, ep, 12345.0f), want, 1e-5, 1e-6 * max_abs, "float");
        // u8: within one step of QuantizeLinear of the reference; padding untouched.
        const U8Diff d = CompareU8(RunPadded<uint8_t>(p, packed, ep, 77), want, ep);
        EXPECT_EQ(d.far, 0);
        EXPECT_LE(d.off, m * n / 100 + 1);  // ties and 1-ulp differences only
        std::vector<uint8_t> want_q(want.size());
        ref::quantize_linear_u8(m * n, want.data(), ep.out_scale, ep.out_zero_point, want_q.data());
        const auto saturated = std::count_if(want_q.begin(), want_q.end(),
                                             [](uint8_t w) { return w == 0 || w == 255; });
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
      const std::vector<float> want = RefEpilogue(p.Reference(), m, n, ep);
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

// The QDQ layout's steps on values chosen so that every result is exact in float: fake
// quantization with ties (2.5 -> 2, 3.5 -> 4, -2.5 -> -2), saturation at both ends and NaN (a NaN
// multiplier) -> the zero point, then post_bias, ReLU, post_scale and the residual in that order.
// 1 / fq_scale is exact, so the kernels must give the reference's values bit for bit.
TEST(OptQGemm, QdqStepsHandComputedAllTargets) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // K = 1 and A - za = 1: acc = B's row.
  const int64_t m = 3, n = 7, k = 1;
  Problem p{m, n, k, false, std::vector<uint8_t>(m, 1), {5, 7, -5, 100, -100, 3, 1}, 0};
  const std::vector<float> mult = {0.25f, 0.25f, 0.25f, 2.5f, 2.5f, 0.25f, nan},
                           post_bias = {0.5f, 0.0f, 0.0f, 0.0f, 0.0f, -3.0f, 1.0f},
                           post_scale = {2.0f, -1.0f, 3.0f, 0.5f, 1.0f, 1.0f, 4.0f};
  std::vector<float> residual(static_cast<size_t>(m * n), 100.0f);
  QGemmEpilogue ep;
  ep.multiplier = mult.data();
  ep.act = ref::Activation::kRelu;
  ep.residual = residual.data();
  ep.ldr = n;
  ep.fq_scale = 0.5f;
  ep.fq_zero_point = 10;  // the grid [-10, 245] x 0.5 = [-5, 122.5]
  ep.post_bias = post_bias.data();
  ep.post_scale = post_scale.data();
  // v = 1.25 1.75 -1.25 250 -250 0.75 NaN; / 0.5 = 2.5 3.5 -2.5 500 -500 1.5 NaN;
  // fake-quantized 1 2 -1 122.5 -5 1 0; + post_bias 1.5 2 -1 122.5 -5 -2 1; ReLU, x post_scale
  // 3 -2 0 61.25 0 0 4; + 100.
  const std::vector<float> row = {103.0f, 98.0f, 100.0f, 161.25f, 100.0f, 100.0f, 104.0f};
  std::vector<float> want;
  for (int64_t i = 0; i < m; ++i) want.insert(want.end(), row.begin(), row.end());
  EXPECT_EQ(RefEpilogue(p.Reference(), m, n, ep), want);
  ep.out_scale = 0.25f;
  ep.out_zero_point = 0;
  std::vector<uint8_t> want_q(want.size());
  ref::quantize_linear_u8(m * n, want.data(), ep.out_scale, ep.out_zero_point, want_q.data());
  ForEachQTarget([&](const std::string&) {
    const PackedBQ8 packed(p.b.data(), k, n, n);
    EXPECT_EQ(RunPadded<float>(p, packed, ep, 12345.0f), want);
    EXPECT_EQ(RunPadded<uint8_t>(p, packed, ep, 77), want_q);
  });
}

// Each QDQ step alone and all together (with GELU or ReLU, residual or not), float and u8 out,
// random shapes with M and N tails, every target, against the reference. The kernels fold
// 1 / fq_scale into multiplier and bias and use FMAs, so a value within a rounding of a fake-quant
// tie may land one step away: float outputs then differ by at most one step times |post_scale|
// times the activation's slope (GELU's is at most 1.129), and such elements must be rare; every
// other element agrees to float rounding.
TEST(OptQGemm, QdqStepsOnRandomShapesAllTargets) {
  std::mt19937 rng(21);
  const int64_t shapes[][3] = {{13, 33, 17}, {9, 48, 40},   {21, 50, 99},
                               {4, 7, 8},    {17, 100, 31}, {7, 16, 5}};
  struct Config {
    bool fq, post_bias, post_scale, residual;
    ref::Activation act;
  };
  const Config configs[] = {{true, false, false, false, ref::Activation::kNone},
                            {false, true, false, false, ref::Activation::kNone},
                            {false, false, true, false, ref::Activation::kNone},
                            {true, true, true, true, ref::Activation::kGelu},
                            {true, true, true, false, ref::Activation::kRelu},
                            {false, true, true, true, ref::Activation::kGelu}};
  const float fq_scale = 0.02f;  // outputs of order 1: about +-50 steps, rarely saturated
  ForEachQTarget([&](const std::string&) {
    for (const auto& s : shapes) {
      const int64_t m = s[0], n = s[1], k = s[2];
      const Problem p = RandomProblem(m, n, k, (n & 1) != 0, rng);
      const PackedBQ8 packed(p.b.data(), k, n, p.ldb(), p.trans_b);
      const auto acc = p.Reference();
      const std::vector<float> mult = LayerMultipliers(n, k, rng);
      const auto bias = Random(static_cast<size_t>(n), rng);
      const auto post_bias = Random(static_cast<size_t>(n), rng);
      std::vector<float> post_scale(static_cast<size_t>(n));
      for (auto& x : post_scale) {
        x = std::uniform_real_distribution<float>(0.5f, 1.5f)(rng);
        if (std::uniform_int_distribution<int>(0, 3)(rng) == 0) x = -x;
      }
      const int64_t ldr = n + 3;
      const auto res = Random(static_cast<size_t>(m * ldr), rng);
      for (const Config& cfg : configs) {
        SCOPED_TRACE(testing::Message()
                     << "m=" << m << " n=" << n << " k=" << k << " fq=" << cfg.fq
                     << " post_bias=" << cfg.post_bias << " post_scale=" << cfg.post_scale
                     << " residual=" << cfg.residual << " act=" << static_cast<int>(cfg.act));
        QGemmEpilogue ep;
        ep.multiplier = mult.data();
        ep.bias = bias.data();
        ep.act = cfg.act;
        ep.residual = cfg.residual ? res.data() : nullptr;
        ep.ldr = ldr;
        // One fake-quant step through post_scale and GELU stays below one output step (0.05).
        ep.out_scale = 0.05f;
        ep.out_zero_point = 120;
        ep.fq_scale = cfg.fq ? fq_scale : 0.0f;
        ep.fq_zero_point = std::uniform_int_distribution<int>(60, 190)(rng);
        ep.post_bias = cfg.post_bias ? post_bias.data() : nullptr;
        ep.post_scale = cfg.post_scale ? post_scale.data() : nullptr;
        const std::vector<float> want = RefEpilogue(acc, m, n, ep);
        // The test data must tell each step apart from its absence.
        QGemmEpilogue plain = ep;
        plain.fq_scale = 0.0f;
        plain.post_bias = plain.post_scale = nullptr;
        const std::vector<float> without = RefEpilogue(acc, m, n, plain);
        int changed = 0;
        for (size_t e = 0; e < want.size(); ++e)
          changed += std::fabs(want[e] - without[e]) > 1e-3f * (1.0f + std::fabs(want[e]));
        EXPECT_GT(changed, m * n / (cfg.act == ref::Activation::kRelu ? 4 : 2));  // ReLU: half 0
        float max_abs = 1.0f;
        for (float x : want) max_abs = std::max(max_abs, std::fabs(x));
        const std::vector<float> got = RunPadded<float>(p, packed, ep, 12345.0f);
        int off = 0, far = 0, nans = 0;
        for (size_t e = 0; e < want.size(); ++e) {
          const size_t j = e % static_cast<size_t>(n);
          const float tol = 1e-5f * std::fabs(want[e]) + 1e-6f * max_abs;
          const float step = cfg.fq
                                 ? fq_scale * (cfg.post_scale ? std::fabs(post_scale[j]) : 1.0f) *
                                       (cfg.act == ref::Activation::kGelu ? 1.13f : 1.0f)
                                 : 0.0f;
          const float diff = std::fabs(got[e] - want[e]);
          nans += std::isnan(got[e]);
          off += !(diff <= tol);
          far += !(diff <= step + tol);
        }
        EXPECT_EQ(nans, 0);
        EXPECT_EQ(far, 0);
        EXPECT_LE(off, cfg.fq ? m * n / 100 + 1 : 0);  // near-ties only
        const U8Diff d = CompareU8(RunPadded<uint8_t>(p, packed, ep, 77), want, ep);
        EXPECT_EQ(d.far, 0);
        EXPECT_LE(d.off, m * n / 100 + 1);
      }
    }
  });
}

// The QDQ steps run outside the register tiles (QdqEpilogue, on the tile's int32 accumulators):
// with post_bias 0 and post_scale 1 (present, so that path runs) C must equal the plain epilogue's
// bit for bit (y + 0 and y x 1 are exact), float and u8, with several row tiles and row tails,
// column tails inside a chunk, SplitCalls' split chunks, padded C rows and a residual with its own
// stride: any slip in how that path addresses the block, C or the residual shows here.
TEST(OptQGemm, QdqPathMatchesPlainEpilogueAllTargets) {
  std::mt19937 rng(41);
  const int64_t shapes[][3] = {{37, 100, 45}, {8, 48, 16}, {50, 53, 9}, {3, 17, 200}, {26, 7, 4}};
  ForEachQTarget([&](const std::string&) {
    for (const auto& s : shapes) {
      const int64_t m = s[0], n = s[1], k = s[2];
      const Problem p = RandomProblem(m, n, k, (m & 1) != 0, rng);
      const PackedBQ8 packed(p.b.data(), k, n, p.ldb(), p.trans_b);
      const std::vector<float> mult = LayerMultipliers(n, k, rng);
      const auto bias = Random(static_cast<size_t>(n), rng);
      const std::vector<float> zeros(static_cast<size_t>(n), 0.0f),
          ones(static_cast<size_t>(n), 1.0f);
      const int64_t ldr = n + 6;
      const auto res = Random(static_cast<size_t>(m * ldr), rng);
      for (int act = 0; act < 3; ++act) {
        for (bool with_res : {false, true}) {
          SCOPED_TRACE(testing::Message() << "m=" << m << " n=" << n << " k=" << k << " act=" << act
                                          << " residual=" << with_res);
          QGemmEpilogue plain{mult.data(),
                              bias.data(),
                              static_cast<ref::Activation>(act),
                              with_res ? res.data() : nullptr,
                              ldr,
                              0.03f,
                              90};
          QGemmEpilogue neutral = plain;
          neutral.post_bias = zeros.data();
          neutral.post_scale = ones.data();
          const std::vector<float> want = RunPadded<float>(p, packed, plain, 12345.0f);
          const std::vector<float> got = RunPadded<float>(p, packed, neutral, 12345.0f);
          EXPECT_EQ(got, want);
          // The data tells rows and columns apart: no two rows of C are equal.
          int equal_rows = 0;
          for (int64_t i = 1; i < m; ++i)
            equal_rows +=
                std::equal(want.begin() + (i - 1) * n, want.begin() + i * n, want.begin() + i * n);
          EXPECT_EQ(equal_rows, 0);
          EXPECT_EQ(RunPadded<uint8_t>(p, packed, neutral, 77),
                    RunPadded<uint8_t>(p, packed, plain, 77));
        }
      }
    }
  });
}

// Values far outside the fake-quant range (at both ends, up to +-inf from a huge multiplier) and a
// NaN one: saturated elements are exact ((255 - zp) x scale and -zp x scale), NaN gives 0, so the
// outputs hold no NaN after GELU and post_scale, float and u8 alike.
TEST(OptQGemm, QdqFakeQuantSaturatesAllTargets) {
  std::mt19937 rng(33);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  ForEachQTarget([&](const std::string&) {
    for (int64_t n : {int64_t{5}, int64_t{16}, int64_t{53}}) {
      const int64_t m = 11, k = 9;
      Problem p{m,
                n,
                k,
                false,
                RandomU8(static_cast<size_t>(m * k), rng),
                RandomS8(static_cast<size_t>(k * n), rng),
                128};
      const PackedBQ8 packed(p.b.data(), k, n, n);
      // acc ~ +-1000: v of order 10 on a grid [-77, 178] x 0.001 = [-0.077, 0.178].
      std::vector<float> mult(static_cast<size_t>(n), 0.01f);
      mult[0] = 1e38f;  // +-inf, or NaN where acc = 0
      mult[static_cast<size_t>(n / 2)] = nan;
      const auto post_bias = Random(static_cast<size_t>(n), rng, 0.1f);
      const auto post_scale = Random(static_cast<size_t>(n), rng);
      const auto res = Random(static_cast<size_t>(m * n), rng);
      QGemmEpilogue ep;
      ep.multiplier = mult.data();
      ep.act = ref::Activation::kGelu;
      ep.residual = res.data();
      ep.ldr = n;
      ep.out_scale = 0.05f;
      ep.out_zero_point = 128;
      ep.fq_scale = 0.001f;
      ep.fq_zero_point = 77;
      ep.post_bias = post_bias.data();
      ep.post_scale = post_scale.data();
      const auto acc = p.Reference();
      // The reference's fake-quantized values: saturated at both ends, many times each.
      QGemmEpilogue fq_only;
      fq_only.multiplier = ep.multiplier;
      fq_only.fq_scale = ep.fq_scale;
      fq_only.fq_zero_point = ep.fq_zero_point;
      const std::vector<float> fq = RefEpilogue(acc, m, n, fq_only);
      const float top = 178 * 0.001f, bottom = -77 * 0.001f;
      EXPECT_GT(std::count(fq.begin(), fq.end(), top), m * n / 4);
      EXPECT_GT(std::count(fq.begin(), fq.end(), bottom), m * n / 4);
      for (int64_t i = 0; i < m; ++i)
        EXPECT_EQ(fq[static_cast<size_t>(i * n + n / 2)], 0.0f);  // NaN -> the zero point
      EXPECT_EQ(RunPadded<float>(p, packed, fq_only, 12345.0f), fq);
      const std::vector<float> want = RefEpilogue(acc, m, n, ep);
      const std::vector<float> got = RunPadded<float>(p, packed, ep, 12345.0f);
      EXPECT_EQ(std::count_if(got.begin(), got.end(), [](float x) { return !std::isfinite(x); }),
                0);
      // Saturated inputs to GELU are exact, so only float rounding separates got from want.
      ExpectNear(got, want, 1e-5, 1e-6, "float");
      const U8Diff d = CompareU8(RunPadded<uint8_t>(p, packed, ep, 77), want, ep);
      EXPECT_EQ(d.far, 0);
      EXPECT_LE(d.off, m * n / 100 + 1);
    }
  });
}

// LookupU8 (QGemmEpilogue::lut's lookup) against the plain loop on every target: every length up
// to 3 vectors of the widest target plus tails, in place and not, and a table that tells every
// entry apart (a permutation), so a slice or half picked wrongly shows.
TEST(OptLookupU8, EqualsReferenceAllTargets) {
  std::mt19937 rng(12);
  std::vector<uint8_t> lut(256);
  for (int i = 0; i < 256; ++i) lut[static_cast<size_t>(i)] = static_cast<uint8_t>(i);
  std::shuffle(lut.begin(), lut.end(), rng);
  ForEachQTarget([&](const std::string&) {
    for (int64_t n : {0, 1, 15, 16, 17, 63, 64, 65, 127, 130, 192, 200, 256, 300}) {
      SCOPED_TRACE(testing::Message() << "n=" << n);
      auto x = RandomU8(static_cast<size_t>(n) + 8, rng);
      for (int64_t i = 0; i < n && i < 256; ++i)
        x[static_cast<size_t>(i)] = static_cast<uint8_t>(i);
      std::vector<uint8_t> want(x.size(), 9), got(x.size(), 9);
      LookupU8(n, x.data(), lut.data(), want.data(), true);
      LookupU8(n, x.data(), lut.data(), got.data());
      EXPECT_EQ(got, want);  // the 8 bytes past n stay 9 in both
      std::vector<uint8_t> in_place = x;
      LookupU8(n, in_place.data(), lut.data(), in_place.data());
      EXPECT_TRUE(std::equal(want.begin(), want.begin() + n, in_place.begin()));
      EXPECT_TRUE(std::equal(x.begin() + n, x.end(), in_place.begin() + n));
    }
  });
}

// QGemmEpilogue::lut: C = lut[the u8 output without it], bit for bit, over row tiles, row and
// column tails, split calls and padded C rows (RunPadded checks the padding), with and without the
// QDQ steps before it; ignored for a float output.
TEST(OptQGemm, U8TableEqualsLookupOfPlainOutputAllTargets) {
  std::mt19937 rng(29);
  std::vector<uint8_t> lut(256);
  for (int i = 0; i < 256; ++i) lut[static_cast<size_t>(i)] = static_cast<uint8_t>(i);
  std::shuffle(lut.begin(), lut.end(), rng);
  const int64_t shapes[][3] = {{37, 100, 45}, {8, 48, 16}, {50, 53, 9},
                               {3, 17, 200},  {26, 7, 4},  {70, 192, 48}};
  ForEachQTarget([&](const std::string&) {
    for (const auto& s : shapes) {
      const int64_t m = s[0], n = s[1], k = s[2];
      SCOPED_TRACE(testing::Message() << "m=" << m << " n=" << n << " k=" << k);
      const Problem p = RandomProblem(m, n, k, (m & 1) != 0, rng);
      const PackedBQ8 packed(p.b.data(), k, n, p.ldb(), p.trans_b);
      const std::vector<float> mult = LayerMultipliers(n, k, rng);
      const auto bias = Random(static_cast<size_t>(n), rng);
      for (bool fq : {false, true}) {
        QGemmEpilogue plain{mult.data(), bias.data(), ref::Activation::kGelu, nullptr, 0,
                            0.01f,       60};
        if (fq) plain.fq_scale = 0.02f, plain.fq_zero_point = 100;
        QGemmEpilogue mapped = plain;
        mapped.lut = lut.data();
        const std::vector<uint8_t> q = RunPadded<uint8_t>(p, packed, plain, 77);
        std::vector<uint8_t> want(q.size());
        for (size_t e = 0; e < q.size(); ++e) want[e] = lut[q[e]];
        EXPECT_EQ(RunPadded<uint8_t>(p, packed, mapped, 77), want) << "fq=" << fq;
        // Many codes exercised (51 elements of 3x17 take ~25-30 distinct ones).
        EXPECT_GT(std::set<uint8_t>(q.begin(), q.end()).size(), std::min<size_t>(32, q.size() / 3));
        EXPECT_EQ(RunPadded<float>(p, packed, mapped, 1.0f),
                  RunPadded<float>(p, packed, plain, 1.0f));
      }
    }
  });
}

}  // namespace
}  // namespace effi::kernels
