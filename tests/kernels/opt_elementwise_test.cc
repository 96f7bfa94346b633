// Highway elementwise kernels (unary math, broadcast binary ops, the broadcast planner) against
// ref::unary_f32 / ref::binary_broadcast on every compiled target, incl. tails and special values.
#include <gtest/gtest.h>

#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/elementwise.h"
#include "kernels/ref/ref_kernels.h"
#include "opt_test_util.h"

namespace effi::kernels {
namespace {

using ref::BinaryOp;
using ref::UnaryOp;
using testing_util::ExpectNear;
using testing_util::ForEachTarget;
using testing_util::Random;

using Shape = std::vector<int64_t>;

std::string ShapeStr(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? "," : "") << s[i];
  os << "]";
  return os.str();
}

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

struct UnaryCase {
  UnaryOp op;
  const char* name;
  double rtol, atol;
  bool specials;  // inf/NaN inputs have a defined result the kernel must reproduce
};

TEST(OptUnary, MatchesReferenceAllTargets) {
  const UnaryCase cases[] = {
      {UnaryOp::kRelu, "relu", 0, 0, true},
      {UnaryOp::kNeg, "neg", 0, 0, true},
      {UnaryOp::kAbs, "abs", 0, 0, true},
      {UnaryOp::kSqrt, "sqrt", 0, 0, true},
      {UnaryOp::kReciprocal, "reciprocal", 0, 0, true},
      {UnaryOp::kFloor, "floor", 0, 0, true},
      {UnaryOp::kCeil, "ceil", 0, 0, true},
      {UnaryOp::kIdentity, "identity", 0, 0, true},
      // Exp: 1 ulp vs the correctly rounded double result, i.e. <= 2 float ulps.
      {UnaryOp::kExp, "exp", 2.5e-7, 0, true},
      {UnaryOp::kSigmoid, "sigmoid", 4e-7, 0, true},
      {UnaryOp::kTanh, "tanh", 6e-7, 1e-30, false},
      // The fitted erf: 3.6e-7 absolute; GELU = 0.5 x (1 + erf) scales that by |x| / 2 (|x| <= 12
      // here).
      {UnaryOp::kErf, "erf", 0, 5e-7, false},
      {UnaryOp::kGelu, "gelu", 3e-7, 2.5e-6, false},
  };
  std::mt19937 rng(11);
  ForEachTarget([&](const std::string&) {
    for (const UnaryCase& uc : cases) {
      ASSERT_TRUE(HasUnaryF32(uc.op)) << uc.name;
      for (int64_t n : {1, 3, 17, 48, 100, 1000, 4099}) {
        SCOPED_TRACE(testing::Message() << uc.name << " n=" << n);
        auto x = Random(static_cast<size_t>(n), rng, 3.0f);
        // Extremes (underflow / overflow of exp, saturation) and signed zeros.
        const float extremes[] = {0.0f,   -0.0f,  100.0f,  -100.0f, 88.5f,
                                  -87.5f, 1e-30f, -1e-30f, 1e6f,    -1e6f};
        for (size_t i = 0; i < std::size(extremes) && i < x.size(); i += 2)
          x[i * 7 % x.size()] = extremes[i];
        if (uc.specials && n >= 17) {
          x[1] = kInf;
          x[2] = -kInf;
          x[16] = kNaN;
        }
        if (uc.op == UnaryOp::kSqrt || uc.op == UnaryOp::kReciprocal)
          for (float& v : x) v = std::fabs(v) + (uc.op == UnaryOp::kReciprocal ? 1e-3f : 0.0f);
        std::vector<float> want(x.size()), got(x.size(), kNaN);
        ref::unary_f32(uc.op, x.data(), want.data(), n);
        UnaryF32(uc.op, x.data(), got.data(), n);
        ExpectNear(got, want, uc.rtol, uc.atol, uc.name);
        // In place.
        auto inplace = x;
        UnaryF32(uc.op, inplace.data(), inplace.data(), n);
        ExpectNear(inplace, want, uc.rtol, uc.atol, std::string(uc.name) + " in place");
      }
    }
  });
}

TEST(OptUnary, LogStaysOnReference) {
  EXPECT_FALSE(HasUnaryF32(UnaryOp::kLog));
  std::vector<float> x{0.5f, 1.0f, 2.0f}, y(3), want(3);
  UnaryF32(UnaryOp::kLog, x.data(), y.data(), 3);  // falls back internally
  ref::unary_f32(UnaryOp::kLog, x.data(), want.data(), 3);
  EXPECT_EQ(y, want);
}

// Runs a numpy broadcast of a (shape sa) and b (shape sb) through PlanBinary + BinaryF32 and the
// reference; returns false when the planner declines.
bool RunBinaryCase(BinaryOp op, const Shape& sa, const Shape& sb, std::mt19937& rng) {
  const size_t rank = std::max(sa.size(), sb.size());
  Shape out(rank, 1);
  for (size_t d = 0; d < rank; ++d) {
    const int64_t da = d + sa.size() >= rank ? sa[d + sa.size() - rank] : 1;
    const int64_t db = d + sb.size() >= rank ? sb[d + sb.size() - rank] : 1;
    out[d] = std::max(da, db);
  }
  int64_t na = 1, nb = 1, no = 1;
  for (int64_t v : sa) na *= v;
  for (int64_t v : sb) nb *= v;
  for (int64_t v : out) no *= v;
  auto a = Random(static_cast<size_t>(na), rng, 2.0f);
  auto b = Random(static_cast<size_t>(nb), rng, 2.0f);
  if (na > 5) a[3] = kNaN;  // NaN propagation (Max/Min keep numpy semantics)
  if (nb > 6) b[5] = kNaN;
  if (nb > 2) b[1] = 0.0f;  // x / 0
  std::vector<int64_t> stra(rank), strb(rank);
  ref::broadcast_strides(static_cast<int>(sa.size()), sa.data(), static_cast<int>(rank), out.data(),
                         stra.data());
  ref::broadcast_strides(static_cast<int>(sb.size()), sb.data(), static_cast<int>(rank), out.data(),
                         strb.data());
  std::vector<float> want(static_cast<size_t>(no)), got(static_cast<size_t>(no), -7.0f);
  ref::binary_broadcast<float>(op, static_cast<int>(rank), out.data(), a.data(), stra.data(),
                               b.data(), strb.data(), want.data());
  BinaryPlan plan;
  if (!PlanBinary(static_cast<int>(rank), out.data(), stra.data(), strb.data(), &plan))
    return false;
  EXPECT_EQ(plan.outer * plan.rows * plan.cols, no);
  for (int64_t o = 0; o < plan.outer; ++o) {
    // Split rows in two calls like the op layer's threads do.
    const int64_t split = plan.rows / 2;
    for (auto [r0, r1] : {std::pair<int64_t, int64_t>{0, split}, {split, plan.rows}}) {
      BinaryF32(op, r1 - r0, plan.cols, a.data() + o * plan.a_os + r0 * plan.a_rs, plan.a_rs,
                plan.a_cs, b.data() + o * plan.b_os + r0 * plan.b_rs, plan.b_rs, plan.b_cs,
                got.data() + (o * plan.rows + r0) * plan.cols);
    }
  }
  ExpectNear(got, want, 0, 0, "binary");
  return true;
}

TEST(OptBinary, BroadcastPatternsMatchReferenceAllTargets) {
  std::mt19937 rng(5);
  const BinaryOp ops[] = {BinaryOp::kAdd, BinaryOp::kSub, BinaryOp::kMul,
                          BinaryOp::kDiv, BinaryOp::kMax, BinaryOp::kMin};
  ForEachTarget([&](const std::string&) {
    for (BinaryOp op : ops) {
      ASSERT_TRUE(HasBinaryF32(op));
      for (int64_t c : {1, 3, 17, 48, 100}) {
        const std::vector<std::pair<Shape, Shape>> cases = {
            {{7, c}, {7, c}},              // same shape
            {{5, c}, {c}},                 // row vector on the right ...
            {{c}, {5, c}},                 // ... and on the left (Sub/Div order matters)
            {{1, 1, 1, c}, {1, 4, 3, c}},  // [1,1,1,C] against NHWC
            {{2, 3, 5, c}, {}},            // scalar
            {{}, {2, 3, c}},
            {{6, 1}, {6, c}},  // per-row column
            {{6, c}, {6, 1}},
            {{3, 1, c}, {3, 4, c}},  // one outer loop
            {{4, 5, 1}, {1, 1, c}},  // column x row vector
            {{1}, {1}},
        };
        for (const auto& [sa, sb] : cases) {
          SCOPED_TRACE(testing::Message() << "op=" << static_cast<int>(op) << " a=" << ShapeStr(sa)
                                          << " b=" << ShapeStr(sb));
          EXPECT_TRUE(RunBinaryCase(op, sa, sb, rng));
        }
      }
      // The real EfficientFormer shapes: residual add, layer scale, bias.
      EXPECT_TRUE(RunBinaryCase(op, {1, 56, 56, 48}, {1, 56, 56, 48}, rng));
      EXPECT_TRUE(RunBinaryCase(op, {1, 7, 7, 448}, {448}, rng));
      EXPECT_TRUE(RunBinaryCase(op, {1, 49, 448}, {1, 49, 448}, rng));
    }
  });
}

TEST(OptBinary, PlannerDeclinesTwoOuterLoops) {
  std::mt19937 rng(9);
  // [A,1,C,1] x [1,B,1,D]: alternating broadcasts need more than one loop around a row kernel.
  EXPECT_FALSE(RunBinaryCase(BinaryOp::kAdd, {3, 1, 5, 1}, {1, 4, 1, 6}, rng));
  // Three levels of alternation inside a larger rank still plan when they coalesce.
  EXPECT_TRUE(RunBinaryCase(BinaryOp::kAdd, {2, 3, 4, 5}, {1, 1, 4, 5}, rng));
}

// The talking-head mix on strided rows, every target: head counts around V2's 8 (1, 3, 8, 9),
// lengths with vector tails, with and without bias / add rows, NaN and inf carried per element.
// Tolerance: the kernel sums in the reference's order but with FMAs (one rounding fewer per head),
// so 1e-5 relative to the magnitude of the terms (|w| |x| ~ 1 here, up to 9 of them).
TEST(OptHeadMix, MatchesReferenceAllTargets) {
  std::mt19937 rng(11);
  for (int64_t heads : {1, 3, 8, 9})
    for (int64_t n : {1, 7, 16, 17, 49 * 5})
      for (int variant = 0; variant < 4; ++variant) {
        const bool with_bias = variant & 1, with_add = variant & 2;
        const int64_t xs = n + 3, as = n + 5, ys = n + 1;
        const std::vector<float> w = Random(static_cast<size_t>(heads * heads), rng);
        const std::vector<float> bias = Random(static_cast<size_t>(heads), rng);
        std::vector<float> x = Random(static_cast<size_t>(heads * xs), rng);
        const std::vector<float> add = Random(static_cast<size_t>(heads * as), rng);
        if (n > 3) x[2] = kNaN;
        if (n > 3 && heads > 1) x[static_cast<size_t>(xs + 1)] = kInf;
        std::vector<float> want(static_cast<size_t>(heads * ys), -3.0f);
        ref::head_mix_f32(heads, n, w.data(), with_bias ? bias.data() : nullptr, x.data(), xs,
                          with_add ? add.data() : nullptr, as, want.data(), ys);
        ForEachTarget([&](const std::string&) {
          std::vector<float> got(want.size(), -3.0f);
          HeadMixF32(heads, n, w.data(), with_bias ? bias.data() : nullptr, x.data(), xs,
                     with_add ? add.data() : nullptr, as, got.data(), ys);
          std::ostringstream what;
          what << "heads " << heads << " n " << n << " variant " << variant;
          ExpectNear(got, want, 1e-5, 1e-5, what.str());
        });
      }
}

}  // namespace
}  // namespace effi::kernels
