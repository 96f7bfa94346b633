// effi.Attention2d: EfficientFormerV2's attention (timm Attention2d and Attention2dDownsample) on
// channels-last maps, built by the fuse_attention2d pass from the exported MatMul / Mul / Add /
// talking-head Conv / Softmax chain (see kernels/attention.h for the formula).
//   inputs: Q [B,Hq,Wq,H*D], K [B,Hk,Wk,H*D], V [B,Hk,Wk,H*Dv], then constants: bias [H,N,M]?,
//           mix1 [H,H]?, mix1_bias [H]?, mix2 [H,H]?, mix2_bias [H]? (N = Hq*Wq, M = Hk*Wk)
//   attrs:  heads, scale
//   output: [B,Hq,Wq,H*Dv]
// s_h = scale * q_h k_h^T + bias_h; t = mix1 s + mix1_bias; softmax over M; u = mix2 p +
// mix2_bias; out_h = u_h v_h. The reference runs exactly that order; the fast kernel folds scale
// into K and bias through mix1 at load.
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "kernels/attention.h"
#include "kernels/ref/ref_kernels.h"
#include "ops/op.h"
#include "runtime/parallel.h"

namespace effi::ops {
namespace {

namespace ref = effi::kernels::ref;

struct Attention2dGeom {
  int64_t batch, heads, n, m, d, dv;
};

// Optional constant input i as floats (null when absent).
const float* ConstFloats(const Graph& g, const Node& n, size_t i) {
  return n.HasInput(i) ? In(g, n, i).constant->as<float>() : nullptr;
}

Attention2dGeom Attention2dGeometry(const Node& n, const Graph& g) {
  const Shape& q = In(g, n, 0).shape;
  const Shape& k = In(g, n, 1).shape;
  const Shape& v = In(g, n, 2).shape;
  if (q.size() != 4 || k.size() != 4 || v.size() != 4)
    Fail(n, "Q, K and V must be 4-D channels-last maps");
  CheckInputSizes(n, g);
  const int64_t heads = n.GetInt("heads", 0);
  if (heads < 1 || heads > 4096) Fail(n, fmt::format("heads {} is out of range", heads));
  if (k[0] != q[0] || v[0] != q[0] || v[1] != k[1] || v[2] != k[2] || k[3] != q[3] ||
      q[3] % heads != 0 || v[3] % heads != 0 || q[3] == 0 || v[3] == 0)
    Fail(n, fmt::format("inconsistent Q {} / K {} / V {} shapes for {} heads", ShapeStr(q),
                        ShapeStr(k), ShapeStr(v), heads));
  Attention2dGeom geo{q[0], heads, q[1] * q[2], k[1] * k[2], q[3] / heads, v[3] / heads};
  auto expect = [&](size_t i, const Shape& s, const char* what) {
    if (!n.HasInput(i)) return;
    if (!In(g, n, i).is_constant()) Fail(n, fmt::format("{} must be a constant", what));
    if (In(g, n, i).shape != s) Fail(n, fmt::format("{} must have shape {}", what, ShapeStr(s)));
  };
  expect(3, {heads, geo.n, geo.m}, "bias");
  expect(4, {heads, heads}, "mix1");
  expect(5, {heads}, "mix1_bias");
  expect(6, {heads, heads}, "mix2");
  expect(7, {heads}, "mix2_bias");
  if ((n.HasInput(5) && !n.HasInput(4)) || (n.HasInput(7) && !n.HasInput(6)))
    Fail(n, "a mix bias needs its mix matrix");
  return geo;
}

void InferAttention2d(const Node& n, Graph& g) {
  RequireFloatInputs(g, n);
  const Attention2dGeom geo = Attention2dGeometry(n, g);
  const Shape& q = In(g, n, 0).shape;
  SetOut(g, n, 0, DType::kF32, {q[0], q[1], q[2], geo.heads * geo.dv});
}

// Scores, mixed scores and probabilities of one image: 2 x [heads][n][m].
std::unique_ptr<Kernel> ReferenceAttention2d(const Node& n, const Graph& g,
                                             const Attention2dGeom& geo) {
  const float scale = n.GetFloat("scale", 1.0f);
  const float* bias = ConstFloats(g, n, 3);
  const float *mix1 = ConstFloats(g, n, 4), *mix1_b = ConstFloats(g, n, 5);
  const float *mix2 = ConstFloats(g, n, 6), *mix2_b = ConstFloats(g, n, 7);
  const size_t bytes = static_cast<size_t>(2 * geo.heads * geo.n * geo.m) * sizeof(float);
  return MakeKernel(
      [=](const ExecContext&, const void* const* in, void* const* o, void* scratch) {
        const int64_t H = geo.heads, N = geo.n, M = geo.m, D = geo.d, Dv = geo.dv;
        const int64_t cq = H * D, cv = H * Dv, nm = N * M;
        float* s = static_cast<float*>(scratch);
        float* t = s + H * nm;
        for (int64_t b = 0; b < geo.batch; ++b) {
          const float* q = static_cast<const float*>(in[0]) + b * N * cq;
          const float* k = static_cast<const float*>(in[1]) + b * M * cq;
          const float* v = static_cast<const float*>(in[2]) + b * M * cv;
          float* out = static_cast<float*>(o[0]) + b * N * cv;
          for (int64_t h = 0; h < H; ++h) {
            ref::gemm_f32(false, true, N, M, D, scale, q + h * D, cq, k + h * D, cq, 0.0f,
                          s + h * nm, M);
            if (bias)
              for (int64_t i = 0; i < nm; ++i) s[h * nm + i] += bias[h * nm + i];
          }
          float* p = s;
          if (mix1) {
            ref::head_mix_f32(H, nm, mix1, mix1_b, s, nm, nullptr, 0, t, nm);
            p = t;
          }
          ref::softmax_f32(H * N, M, 1, p, p);
          float* u = p;
          if (mix2) {
            u = p == s ? t : s;
            ref::head_mix_f32(H, nm, mix2, mix2_b, p, nm, nullptr, 0, u, nm);
          }
          for (int64_t h = 0; h < H; ++h)
            ref::gemm_f32(false, false, N, Dv, M, 1.0f, u + h * nm, M, v + h * Dv, cv, 0.0f,
                          out + h * Dv, cv);
        }
      },
      bytes);
}

// Query rows per task: as many as the threads allow (one task per thread: fewer, fuller GEMM
// tiles; V2's 7x7 block at 1 thread 0.13 -> 0.10 ms with all 49 rows in one task instead of 4 of
// ~12), up to what keeps a task's 2 x heads x rows x M floats of scores within 512 KB of L2.
int64_t MaxRowsPerTask(const Attention2dGeom& geo) {
  const int64_t per_row = 2 * geo.heads * geo.m * static_cast<int64_t>(sizeof(float));
  return std::clamp<int64_t>((int64_t{512} << 10) / std::max<int64_t>(per_row, 1), 8, geo.n);
}

std::unique_ptr<Kernel> CreateAttention2d(const Node& n, const Graph& g) {
  const Attention2dGeom geo = Attention2dGeometry(n, g);
  if (UseReferenceKernels()) return ReferenceAttention2d(n, g, geo);
  const int64_t H = geo.heads, nm = geo.n * geo.m;
  const float* bias = ConstFloats(g, n, 3);
  const float *mix1 = ConstFloats(g, n, 4), *mix1_b = ConstFloats(g, n, 5);
  // add1 = mix1 . bias + mix1_bias (or the bias alone without mix1), computed once here: the size
  // of the bias constant. Without a bias mix1_bias stays a per-head term of the kernel's mix
  // (materialising it over [H, N, M] would allocate what the model never stored).
  auto add1 = std::make_shared<std::vector<float>>();
  if (mix1 && bias) {
    add1->resize(static_cast<size_t>(H * nm));
    ref::head_mix_f32(H, nm, mix1, mix1_b, bias, nm, nullptr, 0, add1->data(), nm);
  } else if (!mix1 && bias) {
    add1->assign(bias, bias + H * nm);
  }
  // The per-head constants the kernel reads: mix1, mix1_bias (only without a bias), mix2,
  // mix2_bias, each present or not.
  const bool has_mix1 = mix1 != nullptr, has_mix1_b = mix1_b && !bias, has_mix2 = n.HasInput(6),
             has_mix2_b = n.HasInput(7);
  auto mixes = std::make_shared<std::vector<float>>();
  for (auto [i, used] :
       {std::pair<size_t, bool>{4, has_mix1}, {5, has_mix1_b}, {6, has_mix2}, {7, has_mix2_b}})
    if (used) {
      const float* f = ConstFloats(g, n, i);
      mixes->insert(mixes->end(), f, f + NumElements(In(g, n, i).shape));
    }
  kernels::Attention2dParams p;
  p.heads = H;
  p.n = geo.n;
  p.m = geo.m;
  p.d = geo.d;
  p.dv = geo.dv;
  p.k_scale = n.GetFloat("scale", 1.0f);
  const size_t shared = static_cast<size_t>(kernels::Attention2dPackedFloats(p)) * sizeof(float);
  const int64_t max_rows = MaxRowsPerTask(geo);
  const size_t per_thread =
      static_cast<size_t>(kernels::Attention2dScratchFloats(p, max_rows)) * sizeof(float);
  return Prepacked(
      MakeKernel(
          [=](const ExecContext& ctx, const void* const* in, void* const* o, void* scratch) {
            kernels::Attention2dParams kp = p;
            kp.add1 = add1->empty() ? nullptr : add1->data();
            const float* mx = mixes->data();
            if (has_mix1) kp.mix1 = mx, mx += H * H;
            if (has_mix1_b) kp.mix1_bias = mx, mx += H;
            if (has_mix2) kp.mix2 = mx, mx += H * H;
            if (has_mix2_b) kp.mix2_bias = mx;
            const int64_t cq = H * p.d, cv = H * p.dv;
            float* packed = static_cast<float*>(scratch);
            auto mine = [&](int thread) {
              return reinterpret_cast<float*>(static_cast<uint8_t*>(scratch) + shared +
                                              per_thread * static_cast<size_t>(thread));
            };
            const int64_t threads = ctx.threads();
            int64_t tasks = (p.n + max_rows - 1) / max_rows;
            tasks = std::min(p.n, (tasks + threads - 1) / threads * threads);
            for (int64_t b = 0; b < geo.batch; ++b) {
              const float* q = static_cast<const float*>(in[0]) + b * p.n * cq;
              const float* k = static_cast<const float*>(in[1]) + b * p.m * cq;
              const float* v = static_cast<const float*>(in[2]) + b * p.m * cv;
              float* out = static_cast<float*>(o[0]) + b * p.n * cv;
              ParallelFor(ctx, H, [&](int64_t h, int thread) {
                kernels::Attention2dPackHeadF32(kp, h, k, cq, v, cv, packed, mine(thread));
              });
              ParallelFor(ctx, tasks, [&](int64_t t, int thread) {
                kernels::Attention2dRowsF32(kp, SplitBegin(p.n, tasks, t),
                                            SplitBegin(p.n, tasks, t + 1), q, cq, packed, out, cv,
                                            mine(thread));
              });
            }
          },
          shared, per_thread),
      {3, 4, 5, 6, 7});
}

}  // namespace

void RegisterAttention2dOps(std::vector<OpSchema>& r) {
  r.push_back({kEffiDomain,
               "Attention2d",
               3,
               8,
               1,
               1,
               {"heads", "scale"},
               InferAttention2d,
               CreateAttention2d});
}

}  // namespace effi::ops
