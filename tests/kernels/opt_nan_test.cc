// NaN and infinity propagation (issue 15): every optimised kernel, on every compiled target, gives
// NaN exactly where its reference kernel does. The semantics, defined by the reference kernels:
// arithmetic follows IEEE-754, and max / min / ReLU / Clip / max pooling / ReduceMax propagate a
// NaN operand (IEEE-754 2019 maximum, numpy.maximum, PyTorch), so a NaN in a softmax row makes the
// whole row NaN. Inputs are tiny (the suite runs under qemu for NEON) with NaN / +-inf at the first
// element, in the middle and in the tail lanes of odd sizes; non-NaN outputs are compared with the
// usual tolerances (testing_util::ExpectNear also requires NaN exactly where the reference has it).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/conv_direct.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/norm.h"
#include "kernels/pool.h"
#include "kernels/ref/ref_kernels.h"
#include "opt_test_util.h"

namespace effi::kernels {
namespace {

using testing_util::ExpectNear;
using testing_util::ForEachTarget;
using testing_util::Random;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kSpecials[] = {kNaN, kInf, -kInf};

// First, middle and last index of a buffer of n elements (the last one sits in a tail lane when n
// is not a multiple of the vector length).
std::vector<size_t> Positions(size_t n) {
  std::vector<size_t> p = {0};
  if (n > 2) p.push_back(n / 2);
  if (n > 1) p.push_back(n - 1);
  return p;
}

std::string Name(float v) { return std::isnan(v) ? "nan" : v > 0 ? "+inf" : "-inf"; }

// ---- the reference semantics ----------------------------------------------------------------

TEST(RefNaN, MaxMinReluPoolReduceSoftmaxPropagate) {
  std::vector<float> y(2);
  const float a[] = {kNaN, 1.0f}, b[] = {1.0f, kNaN};
  const int64_t shape[] = {2}, s1[] = {1};
  for (auto op : {ref::BinaryOp::kMax, ref::BinaryOp::kMin}) {
    ref::binary_broadcast<float>(op, 1, shape, a, s1, b, s1, y.data());
    EXPECT_TRUE(std::isnan(y[0]) && std::isnan(y[1]));
  }
  float r = kNaN;
  ref::unary_f32(ref::UnaryOp::kRelu, &r, &r, 1);
  EXPECT_TRUE(std::isnan(r));
  float e = kNaN;
  ref::epilogue_f32(1, 1, nullptr, ref::Activation::kRelu, nullptr, &e);
  EXPECT_TRUE(std::isnan(e));
  // Max pool over a 1x3 window whose NaN is neither first nor last.
  const float x[] = {1.0f, kNaN, 2.0f};
  ref::Pool2dParams p{1, 1, 1, 3, 1, 1, 1, 3, 1, 1, 0, 0, 0, 0};
  float m = 0.0f;
  ref::maxpool2d_nchw_f32(p, x, &m);
  EXPECT_TRUE(std::isnan(m));
  const int64_t in_shape[] = {3};
  const bool mask[] = {true};
  for (auto op : {ref::ReduceOp::kMax, ref::ReduceOp::kMin}) {
    float out = 0.0f;
    ref::reduce_f32(op, 1, in_shape, mask, x, &out);
    EXPECT_TRUE(std::isnan(out));
  }
  std::vector<float> sm(3);
  ref::softmax_f32(1, 3, 1, x, sm.data());
  for (float v : sm) EXPECT_TRUE(std::isnan(v));
}

// ---- GEMM and its fused epilogue -------------------------------------------------------------

// One special value at one position of A, B, bias or residual, every activation, through
// GemmPacked (whole range and a 2-D split inside the N range) and GemmPackedRaw.
TEST(OptNaN, GemmAllOperandsAllTargets) {
  struct Shape {
    int64_t m, n, k;
  };
  // Tails everywhere; N = 53 is a 3-vector AVX-512 panel plus a 1-vector tail; K = 515 crosses
  // the 512 K block (the accumulate-onto-C path).
  const Shape shapes[] = {{5, 19, 7}, {9, 53, 13}, {3, 5, 515}};
  std::mt19937 rng(151);
  ForEachTarget([&](const std::string&) {
    for (const Shape& s : shapes) {
      const auto a0 = Random(static_cast<size_t>(s.m * s.k), rng);
      const auto b0 = Random(static_cast<size_t>(s.k * s.n), rng);
      const auto bias0 = Random(static_cast<size_t>(s.n), rng);
      const auto res0 = Random(static_cast<size_t>(s.m * s.n), rng);
      for (int operand = 0; operand < 4; ++operand) {
        const size_t size = operand == 0   ? a0.size()
                            : operand == 1 ? b0.size()
                            : operand == 2 ? bias0.size()
                                           : res0.size();
        for (size_t pos : Positions(size)) {
          for (float special : kSpecials) {
            auto a = a0, b = b0, bias = bias0, res = res0;
            (operand == 0 ? a : operand == 1 ? b : operand == 2 ? bias : res)[pos] = special;
            PackedB packed(b.data(), s.k, s.n, s.n);
            std::vector<float> raw(static_cast<size_t>(PackedBFloats(s.k, s.n)) + 16);
            float* packed_raw =
                raw.data() +
                (16 - (reinterpret_cast<uintptr_t>(raw.data()) / sizeof(float)) % 16) % 16;
            PackBInto(b.data(), s.k, s.n, s.n, false, packed_raw);
            for (int act = 0; act < 3; ++act) {
              SCOPED_TRACE(testing::Message()
                           << s.m << "x" << s.n << "x" << s.k << " operand " << operand << "["
                           << pos << "]=" << Name(special) << " act=" << act);
              const auto ract = static_cast<ref::Activation>(act);
              std::vector<float> want(static_cast<size_t>(s.m * s.n));
              ref::gemm_f32(false, false, s.m, s.n, s.k, 1.0f, a.data(), s.k, b.data(), s.n, 0.0f,
                            want.data(), s.n);
              ref::epilogue_f32(s.m, s.n, bias.data(), ract, res.data(), want.data());
              const GemmEpilogue ep{bias.data(), ract, res.data(), s.n};
              std::vector<float> got(want.size(), -7.0f);
              GemmPacked(0, s.m, a.data(), s.k, packed, got.data(), s.n, ep);
              ExpectNear(got, want, 1e-4, 1e-4, "gemm");
              std::fill(got.begin(), got.end(), -7.0f);
              const int64_t nsplit = packed.unit_begin(packed.units() / 2);
              GemmPacked(0, s.m, 0, nsplit, a.data(), s.k, packed, got.data(), s.n, ep);
              GemmPacked(0, s.m, nsplit, s.n, a.data(), s.k, packed, got.data(), s.n, ep);
              ExpectNear(got, want, 1e-4, 1e-4, "gemm 2-D split");
              std::fill(got.begin(), got.end(), -7.0f);
              GemmPackedRaw(0, s.m, a.data(), s.k, packed_raw, s.k, s.n, got.data(), s.n, ep);
              ExpectNear(got, want, 1e-4, 1e-4, "gemm raw");
            }
          }
        }
      }
    }
  });
}

TEST(OptNaN, EpilogueAllTargets) {
  std::mt19937 rng(152);
  ForEachTarget([&](const std::string&) {
    for (int64_t cols : {1, 7, 17, 33}) {
      const int64_t rows = 3;
      const auto y0 = Random(static_cast<size_t>(rows * cols), rng, 3.0f);
      const auto bias0 = Random(static_cast<size_t>(cols), rng);
      const auto res0 = Random(static_cast<size_t>(rows * cols), rng);
      for (int operand = 0; operand < 3; ++operand) {
        const size_t size = operand == 1 ? bias0.size() : y0.size();
        for (size_t pos : Positions(size)) {
          for (float special : kSpecials) {
            auto y = y0, bias = bias0, res = res0;
            (operand == 0 ? y : operand == 1 ? bias : res)[pos] = special;
            for (int act = 0; act < 3; ++act) {
              SCOPED_TRACE(testing::Message() << "cols=" << cols << " operand " << operand << "["
                                              << pos << "]=" << Name(special) << " act=" << act);
              const auto ract = static_cast<ref::Activation>(act);
              auto want = y, got = y;
              ref::epilogue_f32(rows, cols, bias.data(), ract, res.data(), want.data());
              EpilogueF32(rows, cols, bias.data(), ract, res.data(), got.data());
              ExpectNear(got, want, 2e-6, 3e-6, "epilogue");
            }
          }
        }
      }
    }
  });
}

// ---- elementwise -----------------------------------------------------------------------------

TEST(OptNaN, UnaryAllOpsAllTargets) {
  std::mt19937 rng(153);
  ForEachTarget([&](const std::string&) {
    for (int o = 0; o <= static_cast<int>(ref::UnaryOp::kCeil); ++o) {
      const auto op = static_cast<ref::UnaryOp>(o);
      for (int64_t n : {1, 5, 17, 33}) {
        const auto x0 = Random(static_cast<size_t>(n), rng, 3.0f);
        for (size_t pos : Positions(x0.size())) {
          for (float special : kSpecials) {
            SCOPED_TRACE(testing::Message()
                         << "op " << o << " n=" << n << " x[" << pos << "]=" << Name(special));
            auto x = x0;
            x[pos] = special;
            std::vector<float> want(x.size()), got(x.size(), -7.0f);
            ref::unary_f32(op, x.data(), want.data(), n);
            UnaryF32(op, x.data(), got.data(), n);
            // Accuracy is opt_elementwise_test's business; this tolerance covers every op (Tanh
            // 4 ulp, GELU 2.5e-6 absolute at |x| ~ 10).
            ExpectNear(got, want, 1e-6, 3e-6, "unary");
          }
        }
      }
    }
  });
}

TEST(OptNaN, BinaryMaxMinAllTargets) {
  std::mt19937 rng(154);
  const ref::BinaryOp ops[] = {ref::BinaryOp::kMax, ref::BinaryOp::kMin, ref::BinaryOp::kAdd,
                               ref::BinaryOp::kMul};
  ForEachTarget([&](const std::string&) {
    for (ref::BinaryOp op : ops) {
      for (int64_t cols : {1, 5, 17, 33}) {
        const int64_t rows = 2;
        const auto a0 = Random(static_cast<size_t>(rows * cols), rng);
        const auto b0 = Random(static_cast<size_t>(cols), rng);
        // b as a full operand, a row vector and a scalar (splatted).
        for (int bkind = 0; bkind < 3; ++bkind) {
          const int64_t b_rs = bkind == 0 ? cols : 0, b_cs = bkind == 2 ? 0 : 1;
          const auto bfull = bkind == 0 ? Random(static_cast<size_t>(rows * cols), rng) : b0;
          for (int operand = 0; operand < 3; ++operand) {  // a, b, both at the same place
            for (size_t pos : Positions(a0.size())) {
              for (float special : kSpecials) {
                auto a = a0, b = bfull;
                const size_t bpos = bkind == 0 ? pos : bkind == 1 ? pos % cols : 0;
                if (operand != 1) a[pos] = special;
                if (operand != 0) b[bpos] = operand == 2 ? -special : special;
                SCOPED_TRACE(testing::Message() << "op " << static_cast<int>(op) << " cols=" << cols
                                                << " b kind " << bkind << " operand " << operand
                                                << " at " << pos << " " << Name(special));
                const int64_t out_shape[] = {rows, cols};
                const int64_t sa[] = {cols, 1}, sb[] = {b_rs, b_cs};
                std::vector<float> want(a.size()), got(a.size(), -7.0f);
                ref::binary_broadcast<float>(op, 2, out_shape, a.data(), sa, b.data(), sb,
                                             want.data());
                BinaryF32(op, rows, cols, a.data(), cols, 1, b.data(), b_rs, b_cs, got.data());
                ExpectNear(got, want, 0, 0, "binary");
              }
            }
          }
        }
      }
    }
  });
}

// ---- row kernels -----------------------------------------------------------------------------

TEST(OptNaN, SoftmaxAllTargets) {
  std::mt19937 rng(155);
  ForEachTarget([&](const std::string&) {
    for (int64_t cols : {1, 5, 17, 49}) {
      const int64_t rows = 3;
      const auto x0 = Random(static_cast<size_t>(rows * cols), rng, 2.0f);
      // One special in the middle row (the others must stay finite), and whole rows of -inf.
      for (size_t pos : Positions(static_cast<size_t>(cols))) {
        for (float special : kSpecials) {
          for (bool whole_row : {false, true}) {
            SCOPED_TRACE(testing::Message() << "cols=" << cols << " x[1][" << pos
                                            << "]=" << Name(special) << " row=" << whole_row);
            auto x = x0;
            for (size_t j = 0; j < static_cast<size_t>(cols); ++j)
              if (j == pos || whole_row) x[static_cast<size_t>(cols) + j] = special;
            std::vector<float> want(x.size()), got(x.size(), -7.0f);
            ref::softmax_f32(rows, cols, 1, x.data(), want.data());
            SoftmaxF32(rows, cols, x.data(), got.data());
            ExpectNear(got, want, 2e-6, 1e-30, "softmax");
            SoftmaxF32(rows, cols, x.data(), x.data());
            ExpectNear(x, want, 2e-6, 1e-30, "softmax in place");
          }
        }
      }
    }
  });
}

TEST(OptNaN, LayerNormAllTargets) {
  std::mt19937 rng(156);
  ForEachTarget([&](const std::string&) {
    for (int64_t cols : {1, 7, 17, 49}) {
      const int64_t rows = 3;
      const auto x0 = Random(static_cast<size_t>(rows * cols), rng);
      const auto gamma0 = Random(static_cast<size_t>(cols), rng, 1.0f, 1.0f);
      const auto beta0 = Random(static_cast<size_t>(cols), rng);
      for (int operand = 0; operand < 3; ++operand) {  // x (middle row), gamma, beta
        for (size_t pos : Positions(static_cast<size_t>(cols))) {
          for (float special : kSpecials) {
            SCOPED_TRACE(testing::Message() << "cols=" << cols << " operand " << operand << "["
                                            << pos << "]=" << Name(special));
            auto x = x0, gamma = gamma0, beta = beta0;
            if (operand == 0) x[static_cast<size_t>(cols) + pos] = special;
            if (operand == 1) gamma[pos] = special;
            if (operand == 2) beta[pos] = special;
            std::vector<float> want(x.size()), got(x.size(), -7.0f);
            ref::layernorm_f32(rows, cols, x.data(), gamma.data(), beta.data(), 1e-5f, want.data(),
                               nullptr, nullptr);
            LayerNormF32(rows, cols, x.data(), gamma.data(), beta.data(), 1e-5f, got.data());
            ExpectNear(got, want, 1e-5, 1e-5, "layernorm");
          }
        }
      }
    }
  });
}

// ---- pooling ---------------------------------------------------------------------------------

TEST(OptNaN, PoolMixerAllTargets) {
  struct Case {
    int64_t h, w, c, k;
  };
  // 3x3 (the register-walking path) and 5x5 (separable), channel tails.
  const Case cases[] = {{4, 5, 17, 3}, {3, 3, 5, 3}, {4, 5, 7, 5}};
  std::mt19937 rng(157);
  ForEachTarget([&](const std::string&) {
    for (const Case& t : cases) {
      const size_t count = static_cast<size_t>(t.h * t.w * t.c);
      const auto x0 = Random(count, rng);
      const auto scale0 = Random(static_cast<size_t>(t.c), rng, 0.5f);
      for (bool in_scale : {false, true}) {
        for (size_t pos : Positions(in_scale ? scale0.size() : count)) {
          for (float special : kSpecials) {
            SCOPED_TRACE(testing::Message()
                         << t.h << "x" << t.w << "x" << t.c << " k=" << t.k
                         << (in_scale ? " scale[" : " x[") << pos << "]=" << Name(special));
            auto x = x0, scale = scale0;
            (in_scale ? scale : x)[pos] = special;
            std::vector<float> want(count), got(count, -7.0f);
            ref::pool_mixer_nhwc_f32(1, t.h, t.w, t.c, t.k, x.data(), scale.data(), want.data());
            PoolMixerNhwcF32(1, t.h, t.w, t.c, t.k, x.data(), scale.data(), got.data(), 0, t.h);
            ExpectNear(got, want, 1e-5, 1e-5, "pool mixer");
          }
        }
      }
    }
  });
}

TEST(OptNaN, AvgPoolAllTargets) {
  std::mt19937 rng(158);
  // 3x3 stride 1 pad 1 and 2x2 stride 2, odd channel counts.
  const ref::Pool2dParams params[] = {{1, 5, 4, 5, 4, 5, 3, 3, 1, 1, 1, 1, 1, 1},
                                      {1, 17, 5, 4, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0}};
  ForEachTarget([&](const std::string&) {
    for (const ref::Pool2dParams& p : params) {
      const size_t count = static_cast<size_t>(p.n * p.h_in * p.w_in * p.c);
      const auto x0 = Random(count, rng);
      for (size_t pos : Positions(count)) {
        for (float special : kSpecials) {
          SCOPED_TRACE(testing::Message() << "c=" << p.c << " x[" << pos << "]=" << Name(special));
          auto x = x0;
          x[pos] = special;
          std::vector<float> want(static_cast<size_t>(p.n * p.h_out * p.w_out * p.c)),
              got(want.size(), -7.0f);
          ref::avgpool2d_nhwc_f32(p, x.data(), want.data());
          AvgPool2dNhwcF32(p, x.data(), got.data(), 0, p.n * p.h_out);
          ExpectNear(got, want, 1e-6, 1e-6, "avgpool");
        }
      }
    }
  });
}

// ---- composed kernels ------------------------------------------------------------------------

// softmax(scale Q K^T + bias) V from the reference GEMM and softmax.
std::vector<float> RefAttention(int64_t n, int64_t m, int64_t d, int64_t dv, float scale,
                                const std::vector<float>& q, const std::vector<float>& k,
                                const std::vector<float>& v, const std::vector<float>& bias) {
  std::vector<float> s(static_cast<size_t>(n * m)), out(static_cast<size_t>(n * dv));
  ref::gemm_f32(false, true, n, m, d, scale, q.data(), d, k.data(), d, 0.0f, s.data(), m);
  ref::epilogue_f32(n, m, nullptr, ref::Activation::kNone, bias.data(), s.data());
  ref::softmax_f32(n, m, 1, s.data(), s.data());
  ref::gemm_f32(false, false, n, dv, m, 1.0f, s.data(), m, v.data(), dv, 0.0f, out.data(), dv);
  return out;
}

TEST(OptNaN, AttentionHeadAllTargets) {
  const int64_t n = 5, m = 7, d = 3, dv = 9;
  const float scale = 0.5f;
  std::mt19937 rng(159);
  const auto q0 = Random(static_cast<size_t>(n * d), rng);
  const auto k0 = Random(static_cast<size_t>(m * d), rng);
  const auto v0 = Random(static_cast<size_t>(m * dv), rng);
  const auto bias0 = Random(static_cast<size_t>(n * m), rng);
  ForEachTarget([&](const std::string&) {
    for (int operand = 0; operand < 4; ++operand) {  // q, k, v, bias
      const size_t size = operand == 0   ? q0.size()
                          : operand == 1 ? k0.size()
                          : operand == 2 ? v0.size()
                                         : bias0.size();
      for (size_t pos : Positions(size)) {
        for (float special : kSpecials) {
          SCOPED_TRACE(testing::Message()
                       << "operand " << operand << "[" << pos << "]=" << Name(special));
          auto q = q0, k = k0, v = v0, bias = bias0;
          (operand == 0 ? q : operand == 1 ? k : operand == 2 ? v : bias)[pos] = special;
          const auto want = RefAttention(n, m, d, dv, scale, q, k, v, bias);
          std::vector<float> scratch(static_cast<size_t>(AttentionHeadScratchFloats(n, m, d, dv)) +
                                     16);
          float* sp =
              scratch.data() +
              (16 - (reinterpret_cast<uintptr_t>(scratch.data()) / sizeof(float)) % 16) % 16;
          std::vector<float> got(want.size(), -7.0f);
          AttentionHeadF32(n, m, d, dv, scale, q.data(), d, k.data(), d, v.data(), dv, bias.data(),
                           got.data(), dv, sp);
          ExpectNear(got, want, 1e-5, 1e-5, "attention");
        }
      }
    }
  });
}

// The stem conv: specials in the image and the bias (NaN weights are a broken model: the reference
// skips padding taps while SIMD kernels multiply the zero padding, so 0 * NaN differs at borders).
TEST(OptNaN, DirectConvAllTargets) {
  ref::Conv2dParams p{1, 3, 9, 11, 13, 0, 0, 3, 3, 2, 2, 1, 1};
  p.h_out = (p.h_in + 2 - 3) / 2 + 1;
  p.w_out = (p.w_in + 2 - 3) / 2 + 1;
  std::mt19937 rng(160);
  const auto x0 = Random(static_cast<size_t>(p.c_in * p.h_in * p.w_in), rng);
  const auto oihw = Random(static_cast<size_t>(p.c_out * p.c_in * 9), rng, 0.5f);
  const auto bias0 = Random(static_cast<size_t>(p.c_out), rng);
  std::vector<float> ohwi(oihw.size());
  ref::weights_oihw_to_ohwi_f32(p.c_out, p.c_in, 3, 3, oihw.data(), ohwi.data());
  ForEachTarget([&](const std::string&) {
    const auto packed = PackDirectConvWeights(p, ohwi.data());
    std::vector<float> scratch(static_cast<size_t>(DirectConvScratchFloats(p)));
    for (bool in_bias : {false, true}) {
      for (size_t pos : Positions(in_bias ? bias0.size() : x0.size())) {
        for (float special : kSpecials) {
          auto x = x0, bias = bias0;
          (in_bias ? bias : x)[pos] = special;
          for (int act = 0; act < 3; ++act) {
            SCOPED_TRACE(testing::Message() << (in_bias ? "bias[" : "x[") << pos
                                            << "]=" << Name(special) << " act=" << act);
            const auto ract = static_cast<ref::Activation>(act);
            std::vector<float> nchw(static_cast<size_t>(p.c_out * p.h_out * p.w_out));
            ref::conv2d_nchw_f32(p, x.data(), oihw.data(), nullptr, nchw.data());
            const int64_t hw = p.h_out * p.w_out;
            std::vector<float> want(nchw.size());
            ref::nchw_to_nhwc_f32(1, p.c_out, hw, nchw.data(), want.data());
            ref::epilogue_f32(hw, p.c_out, bias.data(), ract, nullptr, want.data());
            std::vector<float> got(want.size(), -7.0f);
            DirectConvF32(p, x.data(), packed.data(), bias.data(), ract, 0, p.h_out, scratch.data(),
                          got.data());
            ExpectNear(got, want, 1e-5, 1e-5, "direct conv");
          }
        }
      }
    }
  });
}

}  // namespace
}  // namespace effi::kernels
