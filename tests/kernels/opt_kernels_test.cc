// Optimised kernels against their reference kernels, on every SIMD target compiled into this
// binary and supported by the CPU (Highway's per-target test pattern), random shapes incl. tails.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/isa.h"
#include "kernels/ref/ref_kernels.h"
#include "opt_test_util.h"

namespace effi::kernels {
namespace {

using testing_util::ForEachTarget;
using testing_util::Random;

void ExpectClose(const std::vector<float>& got, const std::vector<float>& want, double rel,
                 const char* what) {
  double max_ref = 0, max_diff = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(want[i])));
    max_diff = std::max(max_diff, std::fabs(static_cast<double>(got[i]) - want[i]));
  }
  EXPECT_LE(max_diff, rel * std::max(max_ref, 1.0))
      << what << ": max diff " << max_diff << " max ref " << max_ref;
}

TEST(OptGemm, MatchesReferenceOnRandomShapesAllTargets) {
  std::mt19937 rng(42);
  // Odd sizes, tails in M (not multiples of 6 or 8; short tails are spread over 7- and 6-row
  // tiles), N (not multiples of 16/32), K (across the 512 K-block), and the model's real shapes.
  const int64_t shapes[][3] = {{1, 1, 1},      {5, 7, 3},       {13, 33, 17},   {8, 32, 256},
                               {9, 31, 257},   {49, 448, 1792}, {37, 100, 515}, {196, 224, 896},
                               {3, 1000, 448}, {17, 65, 1},     {100, 24, 27},  {21, 48, 192},
                               {9, 40, 13},    {2, 8, 5},       {50, 33, 600}};
  ForEachTarget([&](const std::string&) {
    for (const auto& s : shapes) {
      const int64_t m = s[0], n = s[1], k = s[2];
      for (int act = 0; act < 3; ++act) {
        for (bool trans_b : {false, true}) {
          SCOPED_TRACE(testing::Message() << "m=" << m << " n=" << n << " k=" << k << " act=" << act
                                          << " tb=" << trans_b);
          auto a = Random(static_cast<size_t>(m * k), rng);
          auto b = Random(static_cast<size_t>(k * n), rng, 1.0f / std::sqrt(static_cast<float>(k)));
          auto bias = Random(static_cast<size_t>(n), rng);
          auto res = Random(static_cast<size_t>(m * n), rng);
          const auto ract = static_cast<ref::Activation>(act);
          std::vector<float> want(static_cast<size_t>(m * n));
          ref::gemm_f32(false, trans_b, m, n, k, 1.0f, a.data(), k, b.data(), trans_b ? k : n, 0.0f,
                        want.data(), n);
          ref::epilogue_f32(m, n, bias.data(), ract, res.data(), want.data());
          PackedB packed(b.data(), k, n, trans_b ? k : n, trans_b);
          std::vector<float> got(static_cast<size_t>(m * n), NAN);
          GemmEpilogue ep{bias.data(), ract, res.data(), n};
          // Split rows unevenly like the thread pool does; with trans_b also split columns at a
          // panel boundary (the 2-D split used when M is small).
          const int64_t split = m / 3;
          if (!trans_b) {
            GemmPacked(0, split, a.data(), k, packed, got.data(), n, ep);
            GemmPacked(split, m, a.data(), k, packed, got.data(), n, ep);
          } else {
            // Inside a packed panel (read as a narrower tile at the panel's row stride) unless
            // units / 2 is a multiple of the panel's vectors.
            const int64_t nsplit = packed.unit_begin(packed.units() / 2);
            for (auto [m0, m1] : {std::pair{int64_t{0}, split}, std::pair{split, m}}) {
              GemmPacked(m0, m1, 0, nsplit, a.data(), k, packed, got.data(), n, ep);
              GemmPacked(m0, m1, nsplit, n, a.data(), k, packed, got.data(), n, ep);
            }
          }
          ExpectClose(got, want, 2e-5, "gemm");
        }
      }
    }
  });
}

TEST(OptGemm, ColumnTailsStayInsideCAllTargets) {
  // Every column-tail case of every target: N below, at and just above one vector (4/8/16 lanes)
  // and one panel (2 vectors), single-vector last panels (48 = 32 + 16 on AVX-512, the head's
  // 1000), the stem conv's 24 x 27. C and the residual have padded rows (ldc, ldr > n) filled with
  // a sentinel: masked/buffered tail stores must not write past column n, and the tail must not
  // pick up padding from the residual.
  std::mt19937 rng(11);
  const int64_t ns[] = {1,  3,  4,  5,  7,  8,  9,  12, 15, 16, 17,  20,
                        24, 31, 32, 33, 40, 47, 48, 49, 63, 65, 1000};
  ForEachTarget([&](const std::string&) {
    for (int64_t n : ns) {
      for (int64_t k : {int64_t{27}, int64_t{300}}) {
        const int64_t m = 11, ldc = n + 5, ldr = n + 3;
        const float kSentinel = 12345.0f;
        SCOPED_TRACE(testing::Message() << "n=" << n << " k=" << k);
        auto a = Random(static_cast<size_t>(m * k), rng);
        auto b = Random(static_cast<size_t>(k * n), rng, 1.0f / std::sqrt(static_cast<float>(k)));
        auto bias = Random(static_cast<size_t>(n), rng);
        std::vector<float> res(static_cast<size_t>(m * ldr), kSentinel);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) res[static_cast<size_t>(i * ldr + j)] = Random(1, rng)[0];
        std::vector<float> want(static_cast<size_t>(m * n));
        ref::gemm_f32(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, want.data(), n);
        std::vector<float> res_dense(static_cast<size_t>(m * n));
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j)
            res_dense[static_cast<size_t>(i * n + j)] = res[static_cast<size_t>(i * ldr + j)];
        ref::epilogue_f32(m, n, bias.data(), ref::Activation::kGelu, res_dense.data(), want.data());
        PackedB packed(b.data(), k, n, n);
        std::vector<float> c(static_cast<size_t>(m * ldc), kSentinel);
        GemmEpilogue ep{bias.data(), ref::Activation::kGelu, res.data(), ldr};
        GemmPacked(0, 5, a.data(), k, packed, c.data(), ldc, ep);
        GemmPacked(5, m, a.data(), k, packed, c.data(), ldc, ep);
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
        ExpectClose(got, want, 2e-5, "gemm tail");
        // The raw interface (attention) packs into PackedBFloats(k, n) caller-owned floats.
        std::vector<float> raw(static_cast<size_t>(PackedBFloats(k, n)) + 16);
        float* packed_raw =
            raw.data() + (16 - (reinterpret_cast<uintptr_t>(raw.data()) / sizeof(float)) % 16) % 16;
        PackBInto(b.data(), k, n, n, false, packed_raw);
        std::vector<float> got_raw(static_cast<size_t>(m * n)),
            want_raw(static_cast<size_t>(m * n));
        ref::gemm_f32(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, want_raw.data(),
                      n);
        GemmPackedRaw(0, m, a.data(), k, packed_raw, k, n, got_raw.data(), n, GemmEpilogue{});
        ExpectClose(got_raw, want_raw, 2e-5, "gemm raw");
      }
    }
  });
}

TEST(OptGemm, NoBiasNoResidualAndKernelName) {
  std::mt19937 rng(7);
  ForEachTarget([&](const std::string& target) {
    const int64_t m = 23, n = 45, k = 61;
    auto a = Random(static_cast<size_t>(m * k), rng);
    auto b = Random(static_cast<size_t>(k * n), rng);
    std::vector<float> want(static_cast<size_t>(m * n)), got(static_cast<size_t>(m * n));
    ref::gemm_f32(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, want.data(), n);
    PackedB packed(b.data(), k, n, n);
    GemmPacked(0, m, a.data(), k, packed, got.data(), n, GemmEpilogue{});
    ExpectClose(got, want, 2e-5, "gemm");
    EXPECT_NE(std::string(GemmKernelName()).find(target), std::string::npos) << GemmKernelName();
  });
}

TEST(OptEpilogue, GeluMatchesReferenceIncludingTails) {
  std::mt19937 rng(3);
  ForEachTarget([&](const std::string&) {
    for (int64_t cols : {1, 7, 16, 33, 100}) {
      const int64_t rows = 5;
      auto y = Random(static_cast<size_t>(rows * cols), rng, 3.0f);
      auto bias = Random(static_cast<size_t>(cols), rng);
      auto res = Random(static_cast<size_t>(rows * cols), rng);
      for (int act = 0; act < 3; ++act) {
        auto want = y, got = y;
        ref::epilogue_f32(rows, cols, bias.data(), static_cast<ref::Activation>(act), res.data(),
                          want.data());
        EpilogueF32(rows, cols, bias.data(), static_cast<ref::Activation>(act), res.data(),
                    got.data());
        ExpectClose(got, want, 2e-6, "epilogue");
      }
    }
  });
}

TEST(OptEpilogue, GeluErfAccuracyOverWideRange) {
  // The fitted erf must stay within 1e-6 absolute of std::erf-based GELU / |x| over [-12, 12].
  ForEachTarget([&](const std::string&) {
    std::vector<float> x;
    for (int i = -120000; i <= 120000; ++i) x.push_back(static_cast<float>(i) * 1e-4f);
    auto want = x, got = x;
    ref::unary_f32(ref::UnaryOp::kGelu, x.data(), want.data(), static_cast<int64_t>(x.size()));
    EpilogueF32(1, static_cast<int64_t>(x.size()), nullptr, ref::Activation::kGelu, nullptr,
                got.data());
    double worst = 0;
    for (size_t i = 0; i < x.size(); ++i)
      worst = std::max(worst, std::fabs(static_cast<double>(got[i]) - want[i]) /
                                  std::max(1.0f, std::fabs(x[i])));
    EXPECT_LT(worst, 1e-6);
  });
}

TEST(OptEpilogue, GeluSpecialValuesLikeReference) {
  // Infinities, NaN, huge and tiny inputs take the clamped ends of the fitted GELU: same results as
  // the reference (NaN stays NaN; -inf gives NaN there too, as 0.5 x (1 + erf) = -inf * 0).
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = {inf,     -inf,     std::numeric_limits<float>::quiet_NaN(),
                                3.4e38f, -3.4e38f, 1e30f,
                                -1e30f,  5.5f,     -5.5f,
                                5.4999f, 6.0f,     1e-30f,
                                -1e-30f, 0.0f,     -0.0f,
                                1e-8f,   -7.0f};
  ForEachTarget([&](const std::string& target) {
    auto want = x, got = x;
    ref::unary_f32(ref::UnaryOp::kGelu, x.data(), want.data(), static_cast<int64_t>(x.size()));
    EpilogueF32(1, static_cast<int64_t>(x.size()), nullptr, ref::Activation::kGelu, nullptr,
                got.data());
    for (size_t i = 0; i < x.size(); ++i) {
      if (std::isnan(want[i])) {
        EXPECT_TRUE(std::isnan(got[i])) << target << " x=" << x[i] << " got " << got[i];
      } else if (std::isinf(want[i])) {
        EXPECT_EQ(got[i], want[i]) << target << " x=" << x[i];
      } else {
        EXPECT_LE(std::fabs(static_cast<double>(got[i]) - want[i]),
                  1e-6 * std::max(1.0, std::fabs(static_cast<double>(x[i]))))
            << target << " x=" << x[i] << " got " << got[i] << " want " << want[i];
      }
    }
  });
}

}  // namespace
}  // namespace effi::kernels
