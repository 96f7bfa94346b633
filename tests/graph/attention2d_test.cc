// EfficientFormerV2's attention: the effi.Attention2d op against plain loops (every optional
// input, odd head counts and sizes, 1-3 threads, batch 2), its hostile attributes and shapes, and
// the fuse_attention2d pass on the exported NCHW chain: it fires on the talking-head block and the
// downsampling one (N != M, no mixing), keeps the results, and leaves a chain alone when an
// intermediate is read elsewhere.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "graph_test_util.h"

namespace effi {
namespace {

using testing::Builder;
using testing::Floats;

// Under qemu one thread only: emulated threads' spin-waits make multi-thread runs take minutes.
#ifdef EFFI_TEST_MAX_THREADS
constexpr int kMaxThreads = EFFI_TEST_MAX_THREADS;
#else
constexpr int kMaxThreads = 3;
#endif

struct Case {
  int64_t batch, heads, hq, wq, hk, wk, d, dv;
  bool bias, mix1, mix1_bias, mix2, mix2_bias;
};

// out = (mix2 softmax(mix1 (scale q k^T + bias) + mix1_bias) + mix2_bias) v per image, in double,
// straight from the definitions (NHWC maps, head h = channels [h*D, (h+1)*D)).
Floats PlainAttention2d(const Case& c, float scale, const Floats& q, const Floats& k,
                        const Floats& v, const float* bias, const float* w1, const float* b1,
                        const float* w2, const float* b2) {
  const int64_t H = c.heads, N = c.hq * c.wq, M = c.hk * c.wk, D = c.d, Dv = c.dv;
  Floats out(static_cast<size_t>(c.batch * N * H * Dv));
  std::vector<double> s(static_cast<size_t>(H * N * M)), t(s.size());
  auto at = [&](std::vector<double>& x, int64_t h, int64_t n, int64_t m) -> double& {
    return x[static_cast<size_t>((h * N + n) * M + m)];
  };
  for (int64_t b = 0; b < c.batch; ++b) {
    for (int64_t h = 0; h < H; ++h)
      for (int64_t n = 0; n < N; ++n)
        for (int64_t m = 0; m < M; ++m) {
          double acc = 0;
          for (int64_t i = 0; i < D; ++i)
            acc += static_cast<double>(q[static_cast<size_t>((b * N + n) * H * D + h * D + i)]) *
                   k[static_cast<size_t>((b * M + m) * H * D + h * D + i)];
          at(s, h, n, m) = scale * acc + (bias ? bias[(h * N + n) * M + m] : 0.0);
        }
    auto mix = [&](std::vector<double>& x, const float* w, const float* wb) {
      if (!w) return;
      for (int64_t g = 0; g < H; ++g)
        for (int64_t n = 0; n < N; ++n)
          for (int64_t m = 0; m < M; ++m) {
            double acc = wb ? wb[g] : 0.0;
            for (int64_t h = 0; h < H; ++h) acc += w[g * H + h] * at(x, h, n, m);
            at(t, g, n, m) = acc;
          }
      x = t;
    };
    mix(s, w1, b1);
    for (int64_t h = 0; h < H; ++h)
      for (int64_t n = 0; n < N; ++n) {
        double mx = -INFINITY, sum = 0;
        for (int64_t m = 0; m < M; ++m) mx = std::max(mx, at(s, h, n, m));
        for (int64_t m = 0; m < M; ++m) sum += (at(s, h, n, m) = std::exp(at(s, h, n, m) - mx));
        for (int64_t m = 0; m < M; ++m) at(s, h, n, m) /= sum;
      }
    mix(s, w2, b2);
    for (int64_t h = 0; h < H; ++h)
      for (int64_t n = 0; n < N; ++n)
        for (int64_t e = 0; e < Dv; ++e) {
          double acc = 0;
          for (int64_t m = 0; m < M; ++m)
            acc += at(s, h, n, m) * v[static_cast<size_t>((b * M + m) * H * Dv + h * Dv + e)];
          out[static_cast<size_t>((b * N + n) * H * Dv + h * Dv + e)] = static_cast<float>(acc);
        }
  }
  return out;
}

TEST(Attention2dOp, MatchesPlainLoops) {
  const Case cases[] = {
      // V2's talking-head block (8 heads, 7x7, D 32, Dv 128) scaled down in D / Dv.
      {1, 8, 7, 7, 7, 7, 5, 9, true, true, true, true, true},
      // The downsampling attention: 7x7 queries over 14x14 keys, no mixing; its 49 query rows
      // exceed one task's scratch bound (41 rows of 8 x 196 scores), so two blocks at 1 thread.
      {1, 8, 7, 7, 14, 14, 16, 20, true, false, false, false, false},
      // Odd everything, batch 2, no attention bias: mix1's bias then stays per head.
      {2, 3, 3, 5, 2, 7, 3, 5, false, true, true, true, false},
      // Mixes without biases.
      {1, 2, 2, 2, 3, 3, 2, 3, false, true, false, true, false},
      {2, 1, 1, 1, 1, 3, 1, 1, true, true, true, false, false},
      // Rows split unevenly across 2 and 3 threads.
      {1, 5, 6, 7, 5, 5, 4, 3, true, false, false, true, true},
  };
  for (const Case& c : cases) {
    const int64_t H = c.heads, N = c.hq * c.wq, M = c.hk * c.wk;
    Builder b;
    const int q = b.Input("q", {c.batch, c.hq, c.wq, H * c.d});
    const int k = b.Input("k", {c.batch, c.hk, c.wk, H * c.d});
    const int v = b.Input("v", {c.batch, c.hk, c.wk, H * c.dv});
    std::vector<int> in{q, k, v, -1, -1, -1, -1, -1};
    if (c.bias) in[3] = b.Random("bias", {H, N, M});
    if (c.mix1) in[4] = b.Random("w1", {H, H}, 0.0f, 0.5f);
    if (c.mix1_bias) in[5] = b.Random("b1", {H});
    if (c.mix2) in[6] = b.Random("w2", {H, H}, 0.0f, 0.5f);
    if (c.mix2_bias) in[7] = b.Random("b2", {H});
    while (in.back() < 0) in.pop_back();
    const float scale = 0.3f;
    b.Output(b.Op("Attention2d", in, {{"heads", AttrValue(H)}, {"scale", AttrValue(scale)}},
                  kEffiDomain));
    const Floats qv = b.RandomFloats(c.batch * N * H * c.d),
                 kv = b.RandomFloats(c.batch * M * H * c.d),
                 vv = b.RandomFloats(c.batch * M * H * c.dv);
    auto cf = [&](size_t i) {
      return i < in.size() && in[i] >= 0 ? b.g.values[in[i]].constant->as<float>() : nullptr;
    };
    const Floats want = PlainAttention2d(c, scale, qv, kv, vv, cf(3), cf(4), cf(5), cf(6), cf(7));
    for (int t = 1; t <= kMaxThreads; ++t) {
      const Floats got = testing::RunNode(b.g, {&qv, &kv, &vv}, t);
      EXPECT_LE(testing::RelDiff(got, want), 2e-6)
          << "heads " << H << " n " << N << " m " << M << " threads " << t;
    }
  }
}

TEST(Attention2dOp, RejectsInconsistentInputs) {
  auto build = [](Shape q, Shape k, Shape v, int64_t heads, Shape bias, bool const_bias) {
    Builder b;
    std::vector<int> in{b.Input("q", q), b.Input("k", k), b.Input("v", v)};
    if (!bias.empty()) in.push_back(const_bias ? b.Random("bias", bias) : b.Input("bias", bias));
    b.Output(b.Op("Attention2d", in, {{"heads", AttrValue(heads)}}, kEffiDomain));
    testing::Prepared(b.g);
  };
  using testing::ExpectError;
  ExpectError(
      [&] {
        build({1, 2, 2, 8}, {1, 2, 2, 8}, {1, 2, 2, 8}, 3, {}, true);
      },
      ErrorCode::kInvalidModel, {"inconsistent"});
  ExpectError(
      [&] {
        build({1, 2, 2, 8}, {1, 2, 2, 8}, {1, 2, 2, 8}, 0, {}, true);
      },
      ErrorCode::kInvalidModel, {"heads"});
  ExpectError(
      [&] {
        build({1, 2, 2, 8}, {1, 2, 2, 8}, {1, 3, 2, 8}, 2, {}, true);
      },
      ErrorCode::kInvalidModel, {"inconsistent"});
  ExpectError(
      [&] {
        build({1, 2, 2, 8}, {1, 2, 2, 4}, {1, 2, 2, 8}, 2, {}, true);
      },
      ErrorCode::kInvalidModel, {"inconsistent"});
  ExpectError(
      [&] {
        build({2, 4, 8}, {2, 4, 8}, {2, 4, 8}, 2, {}, true);
      },
      ErrorCode::kInvalidModel, {"4-D"});
  ExpectError(
      [&] {
        build({1, 2, 2, 8}, {1, 2, 2, 8}, {1, 2, 2, 8}, 2, {2, 4, 5}, true);
      },
      ErrorCode::kInvalidModel, {"bias must have shape [2,4,4]"});
  ExpectError(
      [&] {
        build({1, 2, 2, 8}, {1, 2, 2, 8}, {1, 2, 2, 8}, 2, {2, 4, 4}, false);
      },
      ErrorCode::kInvalidModel, {"bias must be a constant"});
}

// The exported NCHW chain of timm's Attention2d: q4/k4/v4 [B, H*D, Hs, Ws] graph inputs.
struct Chain {
  int64_t heads = 4, d = 3, dv = 5, hq = 3, wq = 4, hk = 3, wk = 4;
  bool talking_heads = true, bias = true, swap_mul = false, extra_reader = false;
  int64_t opset = 11;
};

Graph BuildChain(const Chain& c) {
  const int64_t H = c.heads, N = c.hq * c.wq, M = c.hk * c.wk;
  Builder b(c.opset);
  const int q4 = b.Input("q4", {1, H * c.d, c.hq, c.wq});
  const int k4 = b.Input("k4", {1, H * c.d, c.hk, c.wk});
  const int v4 = b.Input("v4", {1, H * c.dv, c.hk, c.wk});
  auto reshape = [&](int x, int64_t per_head, int64_t len) {
    return b.Op("Reshape", {x, b.Ints(b.g.UniqueName("shape"), {1, H, per_head, len}, {4})});
  };
  auto swap = [&](int x) {
    return b.Op("Transpose", {x}, {{"perm", AttrValue(std::vector<int64_t>{0, 1, 3, 2})}});
  };
  const int qt = swap(reshape(q4, c.d, N));
  const int kr = reshape(k4, c.d, M);
  int s = b.Op("MatMul", {qt, kr});
  const int scale = b.Scalar("scale", 0.4f);
  s = c.swap_mul ? b.Op("Mul", {scale, s}) : b.Op("Mul", {s, scale});
  if (c.bias) s = b.Op("Add", {b.Random("bias", {H, N, M}), s});
  auto mix = [&](int x) {
    return b.Op("Conv",
                {x, b.Random(b.g.UniqueName("w"), {H, H, 1, 1}, 0.0f, 0.5f),
                 b.Random(b.g.UniqueName("wb"), {H})},
                {{"kernel_shape", AttrValue(std::vector<int64_t>{1, 1})}});
  };
  if (c.talking_heads) s = mix(s);
  int p = b.Op("Softmax", {s}, {{"axis", AttrValue(c.opset >= 13 ? int64_t{-1} : int64_t{3})}});
  if (c.talking_heads) p = mix(p);
  const int vt = swap(reshape(v4, c.dv, M));
  const int o = swap(b.Op("MatMul", {p, vt}));
  b.Output(b.Op("Reshape", {o, b.Ints(b.g.UniqueName("shape"), {1, H * c.dv, c.hq, c.wq}, {4})}));
  if (c.extra_reader) b.Output(p);
  return b.g;
}

TEST(FuseAttention2d, FusesTheTalkingHeadBlock) {
  const Graph g = testing::CheckPasses(BuildChain({}), {passes::FuseAttention2d}, 1, 2e-6);
  EXPECT_EQ(testing::Count(g, "effi.Attention2d"), 1) << testing::HistogramStr(g);
  EXPECT_EQ(testing::Count(g, "MatMul"), 0);
  EXPECT_EQ(testing::Count(g, "Conv"), 0);
  const Node* a = testing::FindNode(g, "effi.Attention2d");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->inputs.size(), 8u);
  EXPECT_FLOAT_EQ(a->GetFloat("scale", 0.0f), 0.4f);
}

TEST(FuseAttention2d, FusesTheDownsamplingAttentionAndVariants) {
  Chain down;  // queries at half the keys' resolution, no talking heads
  down.hq = 2;
  down.wq = 2;
  down.hk = 4;
  down.wk = 3;
  down.talking_heads = false;
  down.opset = 13;
  Chain no_bias;
  no_bias.bias = false;
  no_bias.swap_mul = true;
  for (const Chain& c : {down, no_bias}) {
    const Graph g = testing::CheckPasses(BuildChain(c), {passes::FuseAttention2d}, 1, 2e-6);
    EXPECT_EQ(testing::Count(g, "effi.Attention2d"), 1) << testing::HistogramStr(g);
  }
  // With channels_last after it the transposes around the op cancel against nothing here (graph
  // inputs and outputs are NCHW), but the results stay the same.
  testing::CheckPasses(BuildChain({}), {passes::FuseAttention2d, passes::ToChannelsLast},
                       testing::kUnchecked, 2e-6);
}

TEST(FuseAttention2d, LeavesAChainWithAnotherReaderAlone) {
  Chain c;
  c.extra_reader = true;
  const Graph g = testing::CheckPasses(BuildChain(c), {passes::FuseAttention2d}, 0);
  EXPECT_EQ(testing::Count(g, "effi.Attention2d"), 0);
}

}  // namespace
}  // namespace effi
