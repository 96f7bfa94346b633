// The intra-op scheduling of runtime/parallel.h driving the int8 GEMM: ParallelQGemm (int32, float
// and u8 outputs) and ParallelIm2colGemm with u8 columns padded by the zero point (both its whole
// and its chunked schedule) give exactly the single-threaded result on 1, 2 and 3 threads, on odd
// shapes whose splits cut rows mid-tile and columns inside a packed panel. Suite ParallelOps, as
// the parallel op tests, so the ThreadSanitizer preset's filter runs these too.
#include "runtime/parallel.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "kernels/im2col.h"
#include "kernels/qgemm.h"
#include "kernels/ref/ref_kernels.h"
#include "runtime/thread_pool.h"

namespace effi {
namespace {

namespace ref = kernels::ref;

template <class T>
std::vector<T> RandomInts(size_t n, int lo, int hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> u(lo, hi);
  std::vector<T> v(n);
  for (T& x : v) x = static_cast<T>(u(rng));
  return v;
}

// ctx for `threads` (the pool lives as long as the returned holder).
struct Threads {
  explicit Threads(int t) : pool(t > 1 ? std::make_unique<ThreadPool>(t) : nullptr) {
    ctx.pool = pool.get();
  }
  std::unique_ptr<ThreadPool> pool;
  ExecContext ctx;
};

TEST(ParallelOps, QGemmExactlyTheSingleThreadedResult) {
  constexpr int32_t kZp = 131;
  bool row_split = false, col_split = false;
  for (int64_t k : {3, 37, 130}) {
    for (int64_t n : {1, 17, 33, 100, 449}) {
      const auto w = RandomInts<int8_t>(static_cast<size_t>(k * n), -128, 127, 5);
      auto mult = RandomInts<float>(static_cast<size_t>(n), 1, 9, 6);
      for (float& f : mult) f *= 1e-3f;
      const auto bias = RandomInts<float>(static_cast<size_t>(n), -500, 500, 7);
      const kernels::PackedBQ8 b(w.data(), k, n, n);
      for (int64_t m : {1, 7, 9, 49, 197}) {
        const auto a = RandomInts<uint8_t>(static_cast<size_t>(m * k), 0, 255, 8);
        const auto res = RandomInts<float>(static_cast<size_t>(m * n), -3, 3, 9);
        kernels::QGemmEpilogue ep;
        ep.multiplier = mult.data(), ep.bias = bias.data(), ep.act = ref::Activation::kRelu;
        ep.residual = res.data(), ep.ldr = n, ep.out_scale = 0.25f, ep.out_zero_point = 3;
        const size_t mn = static_cast<size_t>(m * n);
        std::vector<int32_t> want_i(mn);
        std::vector<float> want_f(mn);
        std::vector<uint8_t> want_u(mn);
        kernels::QGemmPacked(0, m, 0, n, a.data(), k, kZp, b, want_i.data(), n);
        kernels::QGemmPacked(0, m, 0, n, a.data(), k, kZp, b, want_f.data(), n, ep);
        kernels::QGemmPacked(0, m, 0, n, a.data(), k, kZp, b, want_u.data(), n, ep);
        for (int t : {1, 2, 3}) {
          SCOPED_TRACE(::testing::Message() << "t=" << t << " m=" << m << " n=" << n << " k=" << k);
          const GemmSplit s = ChooseGemmSplit(t, m, n, k, 2 * b.lanes());
          row_split |= s.tm > 1, col_split |= s.tn > 1;
          Threads th(t);
          std::vector<int32_t> got_i(mn, -1);
          std::vector<float> got_f(mn, -1.0f);
          std::vector<uint8_t> got_u(mn, 1);
          ParallelQGemm(th.ctx, m, a.data(), k, kZp, b, got_i.data(), n);
          ParallelQGemm(th.ctx, m, a.data(), k, kZp, b, got_f.data(), n, ep);
          ParallelQGemm(th.ctx, m, a.data(), k, kZp, b, got_u.data(), n, ep);
          ASSERT_EQ(got_i, want_i);
          ASSERT_EQ(got_f, want_f);
          ASSERT_EQ(got_u, want_u);
        }
      }
    }
  }
  // The shapes exercised both kinds of split (else the test would prove little).
  EXPECT_TRUE(row_split);
  EXPECT_TRUE(col_split);
}

// A 3x3 stride-2 padded u8 convolution as the int8 conv ops will run it: im2col padded with the
// activation zero point, then the int8 GEMM, scheduled by ParallelIm2colGemm.
TEST(ParallelOps, Im2colGemmU8ConvExactlyTheSingleThreadedResult) {
  constexpr uint8_t kZp = 77;
  // 14x14 -> whole im2col (49 rows); 112x112 -> 3136 rows x 432 bytes = 1.35 MB: chunked.
  for (int64_t hw : {14, 112}) {
    const int64_t c_in = 48, c_out = 37;
    ref::Conv2dParams p{1, c_in, hw, hw, c_out, 0, 0, 3, 3, 2, 2, 1, 1, 1, 1, 1};
    p.h_out = (hw + 2 - 3) / 2 + 1, p.w_out = p.h_out;
    const int64_t m = p.h_out * p.w_out, kdim = 9 * c_in;
    const Im2colGemmPlan plan = PlanIm2colGemm(m, kdim, 1);
    EXPECT_EQ(plan.whole, hw == 14);
    const auto x = RandomInts<uint8_t>(static_cast<size_t>(hw * hw * c_in), 0, 255, 1);
    const auto w = RandomInts<int8_t>(static_cast<size_t>(c_out * kdim), -128, 127, 2);
    const kernels::PackedBQ8 b(w.data(), kdim, c_out, kdim, true);  // OHWI = B^T
    std::vector<uint8_t> col(static_cast<size_t>(m * kdim));
    kernels::Im2colNhwc<uint8_t>(p, x.data(), 0, m, kZp, col.data());
    std::vector<int32_t> want(static_cast<size_t>(m * c_out));
    kernels::QGemmPacked(0, m, 0, c_out, col.data(), kdim, kZp, b, want.data(), c_out);
    for (int t : {1, 2, 3}) {
      SCOPED_TRACE(::testing::Message() << "t=" << t << " hw=" << hw);
      Threads th(t);
      std::vector<uint8_t> scratch(plan.scratch_shared + plan.scratch_per_thread * t);
      std::vector<int32_t> got(want.size(), -1);
      ParallelIm2colGemm<uint8_t>(
          th.ctx, plan, b, scratch.data(),
          [&](int64_t m0, int64_t m1, uint8_t* dst) {
            kernels::Im2colNhwc<uint8_t>(p, x.data(), m0, m1, kZp, dst);
          },
          [&](const uint8_t* a, int64_t r0, int64_t r1, int64_t n0, int64_t n1) {
            kernels::QGemmPacked(0, r1 - r0, n0, n1, a, kdim, kZp, b, got.data() + r0 * c_out,
                                 c_out);
          });
      ASSERT_EQ(got, want);
    }
  }
}

}  // namespace
}  // namespace effi
