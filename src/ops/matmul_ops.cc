// Matrix products: ONNX MatMul (numpy batching and broadcasting), Gemm, and effi.Linear
// (x[...,K] * W[K,N] + bias, activation, residual) that the fusion passes produce.
#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "kernels/attention.h"
#include "kernels/gemm.h"
#include "kernels/norm.h"
#include "kernels/qgemm.h"
#include "kernels/ref/ref_kernels.h"
#include "ops/op.h"

namespace effi::ops {
namespace {

namespace ref = effi::kernels::ref;

}  // namespace

MatMulGeom MatMulGeometry(const Node& n, const Shape& a0, const Shape& b0) {
  if (a0.empty() || b0.empty()) Fail(n, "MatMul inputs must have rank >= 1");
  Shape a = a0, b = b0;
  const bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), 1);
  if (b_vec) b.push_back(1);
  MatMulGeom g{};
  g.m = a[a.size() - 2];
  g.k = a.back();
  g.n = b.back();
  if (b[b.size() - 2] != g.k)
    Fail(n, fmt::format("inner dimensions differ: {} x {}", ShapeStr(a0), ShapeStr(b0)));
  Shape ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
  Shape batch = BroadcastShapes(n, ab, bb);
  std::vector<int64_t> sa(batch.size()), sb(batch.size());
  ref::broadcast_strides(static_cast<int>(ab.size()), ab.data(), static_cast<int>(batch.size()),
                         batch.data(), sa.data());
  ref::broadcast_strides(static_cast<int>(bb.size()), bb.data(), static_cast<int>(batch.size()),
                         batch.data(), sb.data());
  // Bounds every offset below (the products of A's and B's dims are checked too).
  NumElements(a0, n.Describe().c_str());
  NumElements(b0, n.Describe().c_str());
  int64_t nb = NumElements(batch, n.Describe().c_str());
  std::vector<int64_t> idx(batch.size(), 0);
  for (int64_t i = 0; i < nb; ++i) {
    int64_t oa = 0, ob = 0;
    for (size_t d = 0; d < batch.size(); ++d) oa += idx[d] * sa[d], ob += idx[d] * sb[d];
    g.a_off.push_back(oa * g.m * g.k);
    g.b_off.push_back(ob * g.k * g.n);
    for (size_t d = batch.size(); d-- > 0;) {
      if (++idx[d] < batch[d]) break;
      idx[d] = 0;
    }
  }
  g.out = batch;
  if (!a_vec) g.out.push_back(g.m);
  if (!b_vec) g.out.push_back(g.n);
  return g;
}

namespace {

void InferMatMul(const Node& n, Graph& g) {
  RequireFloat(g, n, 0);
  RequireFloat(g, n, 1);
  SetOut(g, n, 0, DType::kF32, MatMulGeometry(n, In(g, n, 0).shape, In(g, n, 1).shape).out);
}

// MatMul whose B is computed at run time (EfficientFormerV2's attention: [1,8,49,196] x
// [1,8,196,64] took 3.2 ms on ref::gemm_f32, 1.5 GFLOP/s): each task packs its batch's B (or its
// column block of it) into the thread's scratch, as attention packs K and V, and runs the packed
// GEMM on it. Tasks: whole batches when there are at least as many as threads, else each batch
// split in 2-D by ChooseGemmSplit (a column block is packed once per task, a row block re-packs
// its block: the chooser takes row splits only for tall A, where packing is cheap beside the
// product). A thread keeps what it packed last, so consecutive tasks on the same B (row blocks,
// or batches broadcast over one B) pack it once.
std::unique_ptr<Kernel> RuntimeBMatMul(const MatMulGeom& geo) {
  const int64_t m = geo.m, nn = geo.n, k = geo.k, nb = static_cast<int64_t>(geo.a_off.size());
  // The packed layout's column unit (one vector): the 2-D split's column blocks start at multiples
  // of it, as ParallelPackedGemm's do.
  const int64_t lanes = kernels::PackedBLanes();
  // Per thread: a 64-byte header (the key of the B block it holds), then the packed block; a
  // block is at most the whole B (the packed width is the width rounded up to the vector).
  constexpr size_t kHeader = 64;
  const size_t per_thread =
      kHeader + (static_cast<size_t>(kernels::PackedBFloats(k, nn)) * sizeof(float) + 63) / 64 * 64;
  return MakeKernel(
      [geo, m, nn, k, nb, lanes, per_thread](const ExecContext& ctx, const void* const* in,
                                             void* const* o, void* scratch) {
        const auto* a = static_cast<const float*>(in[0]);
        const auto* b = static_cast<const float*>(in[1]);
        auto* y = static_cast<float*>(o[0]);
        const int threads = ctx.threads();
        auto slice = [&](int t) { return static_cast<uint8_t*>(scratch) + per_thread * t; };
        struct Key {
          int64_t b_off, n0, n1;
        };
        for (int t = 0; t < threads; ++t) *reinterpret_cast<Key*>(slice(t)) = Key{-1, 0, 0};
        // Batches spread over the threads; per batch a split for the threads left to it.
        const GemmSplit s =
            nb >= threads
                ? GemmSplit{}
                : ChooseGemmSplit(static_cast<int>((threads + nb - 1) / nb), m, nn, k, 2 * lanes);
        const int64_t mu = (m + 7) / 8, np = (nn + lanes - 1) / lanes;
        // Task order: batch, then column block, then row block, so a thread's consecutive tasks
        // share a B block.
        ParallelFor(ctx, nb * s.tasks(), [&](int64_t task, int thread) {
          const int64_t batch = task / s.tasks(), j = task % s.tasks() / s.tm,
                        i = task % s.tasks() % s.tm;
          const int64_t r0 = SplitBegin(mu, s.tm, i) * 8,
                        r1 = std::min(m, SplitBegin(mu, s.tm, i + 1) * 8);
          const int64_t n0 = std::min(nn, SplitBegin(np, s.tn, j) * lanes),
                        n1 = std::min(nn, SplitBegin(np, s.tn, j + 1) * lanes);
          if (r0 >= r1 || n0 >= n1) return;
          uint8_t* mine = slice(thread);
          Key& held = *reinterpret_cast<Key*>(mine);
          float* packed = reinterpret_cast<float*>(mine + kHeader);
          const int64_t b_off = geo.b_off[static_cast<size_t>(batch)];
          if (held.b_off != b_off || held.n0 != n0 || held.n1 != n1) {
            kernels::PackBInto(b + b_off + n0, k, n1 - n0, nn, false, packed);
            held = Key{b_off, n0, n1};
          }
          kernels::GemmPackedRaw(r0, r1, a + geo.a_off[static_cast<size_t>(batch)], k, packed, k,
                                 n1 - n0, y + batch * m * nn + n0, nn, kernels::GemmEpilogue{});
        });
      },
      0, per_thread);
}

std::unique_ptr<Kernel> CreateMatMul(const Node& n, const Graph& g) {
  const MatMulGeom geo = MatMulGeometry(n, In(g, n, 0).shape, In(g, n, 1).shape);
  const int64_t m = geo.m, nn = geo.n, k = geo.k, nb = static_cast<int64_t>(geo.a_off.size());
  if (UseReferenceKernels() || m == 0 || nn == 0 || nb == 0 || k == 0) {
    // Also every empty product: K = 0 gives zeros, which the packed GEMM (it skips K = 0) does
    // not write.
    return MakeKernel([geo](const ExecContext&, const void* const* in, void* const* o, void*) {
      const float* a = static_cast<const float*>(in[0]);
      const float* b = static_cast<const float*>(in[1]);
      float* y = static_cast<float*>(o[0]);
      for (size_t i = 0; i < geo.a_off.size(); ++i)
        ref::gemm_f32(false, false, geo.m, geo.n, geo.k, 1.0f, a + geo.a_off[i], geo.k,
                      b + geo.b_off[i], geo.n, 0.0f, y + static_cast<int64_t>(i) * geo.m * geo.n,
                      geo.n);
    });
  }
  const Value& bv = In(g, n, 1);
  if (bv.is_constant() && bv.shape.size() <= 2) {
    // A constant 2-D B (a weight the fusions did not take, e.g. under --passes none): packed once
    // per plan, as effi.Linear does. Its batch is A's, whose [M, K] blocks follow each other, so
    // the whole product is one [nb * M, K] x [K, N] GEMM.
    auto packed = std::make_shared<const kernels::PackedB>(bv.constant->as<float>(), k, nn, nn);
    return Prepacked(
        MakeKernel([packed, rows = nb * m, k, nn](const ExecContext& ctx, const void* const* in,
                                                  void* const* o, void*) {
          ParallelGemm(ctx, rows, static_cast<const float*>(in[0]), k, *packed,
                       static_cast<float*>(o[0]), nn, kernels::GemmEpilogue{});
        }),
        {1});
  }
  return RuntimeBMatMul(geo);
}

// ---------------- Gemm ----------------
void InferGemm(const Node& n, Graph& g) {
  RequireFloatInputs(g, n);
  const Shape& a = In(g, n, 0).shape;
  const Shape& b = In(g, n, 1).shape;
  if (a.size() != 2 || b.size() != 2) Fail(n, "Gemm inputs must be 2-D");
  CheckInputSizes(n, g);
  const bool ta = n.GetInt("transA", 0), tb = n.GetInt("transB", 0);
  int64_t m = ta ? a[1] : a[0], k = ta ? a[0] : a[1];
  int64_t kb = tb ? b[1] : b[0], nn = tb ? b[0] : b[1];
  if (k != kb) Fail(n, fmt::format("inner dimensions differ: {} x {}", ShapeStr(a), ShapeStr(b)));
  if (n.HasInput(2)) BroadcastShapes(n, In(g, n, 2).shape, {m, nn});
  if (n.HasInput(2) && BroadcastShapes(n, In(g, n, 2).shape, {m, nn}) != Shape{m, nn})
    Fail(n, "C does not broadcast to the output");
  SetOut(g, n, 0, DType::kF32, {m, nn});
}

std::unique_ptr<Kernel> CreateGemm(const Node& n, const Graph& g) {
  const Shape& a = In(g, n, 0).shape;
  const Shape& b = In(g, n, 1).shape;
  const bool ta = n.GetInt("transA", 0), tb = n.GetInt("transB", 0);
  const float alpha = n.GetFloat("alpha", 1.0f), beta = n.GetFloat("beta", 1.0f);
  const int64_t m = ta ? a[1] : a[0], k = ta ? a[0] : a[1], nn = tb ? b[0] : b[1];
  const bool has_c = n.HasInput(2);
  Shape cs = has_c ? In(g, n, 2).shape : Shape{};
  std::vector<int64_t> cst(2, 0);
  Shape out{m, nn};
  if (has_c)
    ref::broadcast_strides(static_cast<int>(cs.size()), cs.data(), 2, out.data(), cst.data());
  return MakeKernel([=](const ExecContext&, const void* const* in, void* const* o, void*) {
    float* y = static_cast<float*>(o[0]);
    const float* c = static_cast<const float*>(in[2]);
    if (has_c && beta != 0.0f) {
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < nn; ++j) y[i * nn + j] = c[i * cst[0] + j * cst[1]];
    }
    ref::gemm_f32(ta, tb, m, nn, k, alpha, static_cast<const float*>(in[0]), a[1],
                  static_cast<const float*>(in[1]), b[1], has_c ? beta : 0.0f, y, nn);
  });
}

// ---------------- effi.Linear ----------------
// inputs: X [..., K], W [K, N] (constant), B [N]?, R [..., N]?, post_bias [N]?, post_scale [N]?
// (int8 only, see CheckInt8Node); attr activation (0/1/2).
void InferLinear(const Node& n, Graph& g) {
  RequireGemmOpTypes(g, n);
  const Shape& x = In(g, n, 0).shape;
  const Shape& w = In(g, n, 1).shape;
  if (x.empty() || w.size() != 2 || x.back() != w[0])
    Fail(n, fmt::format("cannot multiply {} by {}", ShapeStr(x), ShapeStr(w)));
  CheckInputSizes(n, g);
  Shape out = x;
  out.back() = w[1];
  if (n.HasInput(2) && In(g, n, 2).shape != Shape{w[1]}) Fail(n, "bias must be [N]");
  if (n.HasInput(3) && In(g, n, 3).shape != out) Fail(n, "residual shape differs from the output");
  CheckPostChannelInputs(n, g, w[1]);
  if (IsInt8Node(n)) CheckInt8Node(n, g);
  SetOut(g, n, 0, GemmOpOutputType(n), out);
}

std::unique_ptr<Kernel> CreateLinear(const Node& n, const Graph& g) {
  const Shape& x = In(g, n, 0).shape;
  const Shape& w = In(g, n, 1).shape;
  const int64_t k = w[0], nn = w[1], m = NumElements(x) / std::max<int64_t>(k, 1);
  int64_t act_i = n.GetInt("activation", 0);
  if (act_i < 0 || act_i > 2) Fail(n, "unknown activation");
  const ref::Activation act = static_cast<ref::Activation>(act_i);
  if (IsInt8Node(n)) return CreateInt8Gemm(n, g, nullptr, m, k, nn, act);
  if (UseReferenceKernels() || !In(g, n, 1).is_constant()) {
    return MakeKernel([=](const ExecContext&, const void* const* in, void* const* o, void*) {
      float* y = static_cast<float*>(o[0]);
      ref::gemm_f32(false, false, m, nn, k, 1.0f, static_cast<const float*>(in[0]), k,
                    static_cast<const float*>(in[1]), nn, 0.0f, y, nn);
      ref::epilogue_f32(m, nn, static_cast<const float*>(in[2]), act,
                        static_cast<const float*>(in[3]), y);
    });
  }
  // Weights packed once per plan; shared read-only by every session.
  auto packed =
      std::make_shared<const kernels::PackedB>(In(g, n, 1).constant->as<float>(), k, nn, nn);
  return Prepacked(
      MakeKernel([=](const ExecContext& ctx, const void* const* in, void* const* o, void*) {
        const float* a = static_cast<const float*>(in[0]);
        float* y = static_cast<float*>(o[0]);
        kernels::GemmEpilogue ep{static_cast<const float*>(in[2]), act,
                                 static_cast<const float*>(in[3]), nn};
        ParallelGemm(ctx, m, a, k, *packed, y, nn, ep);
      }),
      {1});
}

// ---------------- effi.Attention, effi.PackedAttention ----------------
// out = softmax(scale * Q K^T + bias) V per (batch, head). Both ops run the same kernel over
// strided views: AttentionLayout says where head (b, h)'s rows of Q, K, V and out start and how far
// apart consecutive rows are.
struct AttentionLayout {
  int64_t B, H, N, M, D, Dv;
  struct View {
    int64_t offset, batch_stride, head_stride, ld;
    int64_t At(int64_t b, int64_t h) const { return offset + b * batch_stride + h * head_stride; }
  };
  View q, k, v, out;
};

// The fake quantizations of a QDQ model's attention (attrs s_ / p_ / o_scale and _zero_point:
// raw scores, probabilities, output; absent: none).
kernels::AttentionQuant AttentionQuantOf(const Node& n) {
  kernels::AttentionQuant aq;
  auto read = [&](const char* scale, const char* zp, float& s, int32_t& z) {
    if (!n.Has(scale) && !n.Has(zp)) return;
    const FakeQuantParams p = FakeQuantAttrs(n, scale, zp);
    s = p.scale;
    z = p.zero_point;
  };
  read("s_scale", "s_zero_point", aq.s_scale, aq.s_zero_point);
  read("p_scale", "p_zero_point", aq.p_scale, aq.p_zero_point);
  read("o_scale", "o_zero_point", aq.o_scale, aq.o_zero_point);
  return aq;
}

std::unique_ptr<Kernel> AttentionKernel(const AttentionLayout& L, float scale, int bias_input,
                                        const kernels::AttentionQuant& aq) {
  const int64_t N = L.N, M = L.M, D = L.D, Dv = L.Dv, H = L.H;
  // q, k, v come from inputs 0, 1, 2 (effi.Attention) or all from input 0 (effi.PackedAttention).
  const bool packed = bias_input == 1;
  if (UseReferenceKernels()) {
    return MakeKernel(
        [=](const ExecContext&, const void* const* in, void* const* o, void* scratch) {
          float* s = static_cast<float*>(scratch);
          const auto* qx = static_cast<const float*>(in[0]);
          const auto* kx = static_cast<const float*>(in[packed ? 0 : 1]);
          const auto* vx = static_cast<const float*>(in[packed ? 0 : 2]);
          const auto* bias = static_cast<const float*>(in[bias_input]);
          for (int64_t b = 0; b < L.B; ++b)
            for (int64_t h = 0; h < H; ++h) {
              // The raw scores q . k^T, fake-quantized, then scaled: the QDQ graph's order.
              ref::gemm_f32(false, true, N, M, D, 1.0f, qx + L.q.At(b, h), L.q.ld,
                            kx + L.k.At(b, h), L.k.ld, 0.0f, s, M);
              if (aq.s_scale > 0.0f)
                kernels::FakeQuantF32(N * M, s, aq.s_scale, aq.s_zero_point, s, true);
              for (int64_t i = 0; i < N * M; ++i)
                s[i] = s[i] * scale + (bias ? bias[h * N * M + i] : 0.0f);
              ref::softmax_f32(N, M, 1, s, s);
              if (aq.p_scale > 0.0f)
                kernels::FakeQuantF32(N * M, s, aq.p_scale, aq.p_zero_point, s, true);
              float* out = static_cast<float*>(o[0]) + L.out.At(b, h);
              ref::gemm_f32(false, false, N, Dv, M, 1.0f, s, M, vx + L.v.At(b, h), L.v.ld, 0.0f,
                            out, L.out.ld);
              if (aq.o_scale > 0.0f)
                for (int64_t i = 0; i < N; ++i)
                  kernels::FakeQuantF32(Dv, out + i * L.out.ld, aq.o_scale, aq.o_zero_point,
                                        out + i * L.out.ld, true);
            }
        },
        static_cast<size_t>(N * M) * sizeof(float));
  }
  const size_t per_thread =
      static_cast<size_t>(kernels::AttentionHeadScratchFloats(N, M, D, Dv)) * sizeof(float);
  return MakeKernel(
      [=](const ExecContext& ctx, const void* const* in, void* const* o, void* scratch) {
        const auto* qx = static_cast<const float*>(in[0]);
        const auto* kx = static_cast<const float*>(in[packed ? 0 : 1]);
        const auto* vx = static_cast<const float*>(in[packed ? 0 : 2]);
        const auto* bias = static_cast<const float*>(in[bias_input]);
        ParallelFor(ctx, L.B * H, [&](int64_t bh, int thread) {
          const int64_t b = bh / H, h = bh % H;
          float* mine = reinterpret_cast<float*>(static_cast<uint8_t*>(scratch) +
                                                 per_thread * static_cast<size_t>(thread));
          kernels::AttentionHeadF32(N, M, D, Dv, scale, qx + L.q.At(b, h), L.q.ld,
                                    kx + L.k.At(b, h), L.k.ld, vx + L.v.At(b, h), L.v.ld,
                                    bias ? bias + h * N * M : nullptr,
                                    static_cast<float*>(o[0]) + L.out.At(b, h), L.out.ld, mine, aq);
        });
      },
      0, per_thread);
}

// effi.Attention: Q [B,H,N,Dk], K [B,H,M,Dk], V [B,H,M,Dv], bias [H,N,M]?; attr scale.
// out [B,H,N,Dv].
void InferAttention(const Node& n, Graph& g) {
  for (size_t i = 0; i < n.inputs.size(); ++i) RequireFloat(g, n, i);
  const Shape& q = In(g, n, 0).shape;
  const Shape& k = In(g, n, 1).shape;
  const Shape& v = In(g, n, 2).shape;
  if (q.size() != 4 || k.size() != 4 || v.size() != 4 || k[0] != q[0] || k[1] != q[1] ||
      k[3] != q[3] || v[0] != q[0] || v[1] != q[1] || v[2] != k[2])
    Fail(n, "inconsistent Q/K/V shapes");
  CheckInputSizes(n, g);
  if (n.HasInput(3) && In(g, n, 3).shape != Shape{q[1], q[2], k[2]})
    Fail(n, "bias must be [H, N, M]");
  SetOut(g, n, 0, DType::kF32, {q[0], q[1], q[2], v[3]});
}

std::unique_ptr<Kernel> CreateAttention(const Node& n, const Graph& g) {
  const Shape q = In(g, n, 0).shape;
  const int64_t B = q[0], H = q[1], N = q[2], D = q[3], M = In(g, n, 1).shape[2],
                Dv = In(g, n, 2).shape[3];
  AttentionLayout L{B, H, N, M, D, Dv, {}, {}, {}, {}};
  L.q = {0, H * N * D, N * D, D};
  L.k = {0, H * M * D, M * D, D};
  L.v = {0, H * M * Dv, M * Dv, Dv};
  L.out = {0, H * N * Dv, N * Dv, Dv};
  return AttentionKernel(L, n.GetFloat("scale", 1.0f), 3, AttentionQuantOf(n));
}

// effi.PackedAttention: timm's attention straight from the qkv projection, without the head
// split/merge transposes. X [B,N,H,2*Dk+Dv] (per token and head: q, k, v), bias [H,N,N]?; attrs
// key_dim (Dk), scale. out [B,N,H,Dv]: what Transpose(0,2,1,3) of effi.Attention's output gives.
// Each head's q/k/v are strided views of X, so a thread that wrote a head's columns of X in the
// qkv GEMM (split by columns at 49 tokens) reads them back itself.
void InferPackedAttention(const Node& n, Graph& g) {
  for (size_t i = 0; i < n.inputs.size(); ++i) RequireFloat(g, n, i);
  const Shape& x = In(g, n, 0).shape;
  const int64_t dk = n.GetInt("key_dim", 0);
  CheckInputSizes(n, g);
  if (x.size() != 4 || dk <= 0 || dk >= x[3] || x[3] - dk <= dk)  // i.e. x[3] > 2 * dk
    Fail(n, fmt::format("needs X [B,N,H,2*key_dim+Dv] with key_dim > 0, got {} and key_dim {}",
                        ShapeStr(x), dk));
  if (n.HasInput(1) && In(g, n, 1).shape != Shape{x[2], x[1], x[1]})
    Fail(n, "bias must be [H, N, N]");
  SetOut(g, n, 0, DType::kF32, {x[0], x[1], x[2], x[3] - 2 * dk});
}

std::unique_ptr<Kernel> CreatePackedAttention(const Node& n, const Graph& g) {
  const Shape x = In(g, n, 0).shape;
  const int64_t B = x[0], N = x[1], H = x[2], C = x[3], D = n.GetInt("key_dim", 0), Dv = C - 2 * D;
  AttentionLayout L{B, H, N, N, D, Dv, {}, {}, {}, {}};
  L.q = {0, N * H * C, C, H * C};
  L.k = {D, N * H * C, C, H * C};
  L.v = {2 * D, N * H * C, C, H * C};
  L.out = {0, N * H * Dv, Dv, H * Dv};
  return AttentionKernel(L, n.GetFloat("scale", 1.0f), 1, AttentionQuantOf(n));
}

}  // namespace

void RegisterMatMulOps(std::vector<OpSchema>& r) {
  r.push_back({"", "MatMul", 2, 2, 1, 1, {}, InferMatMul, CreateMatMul});
  r.push_back(
      {"", "Gemm", 2, 3, 1, 1, {"alpha", "beta", "transA", "transB"}, InferGemm, CreateGemm});
  r.push_back({kEffiDomain,
               "Linear",
               2,
               6,
               1,
               1,
               {"activation", "x_scale", "x_zero_point", "x_u8", "y_scale", "y_zero_point",
                "out_scale", "out_zero_point"},
               InferLinear,
               CreateLinear});
  r.push_back(
      {kEffiDomain,
       "Attention",
       3,
       4,
       1,
       1,
       {"scale", "s_scale", "s_zero_point", "p_scale", "p_zero_point", "o_scale", "o_zero_point"},
       InferAttention,
       CreateAttention});
  r.push_back({kEffiDomain,
               "PackedAttention",
               1,
               2,
               1,
               1,
               {"key_dim", "scale", "s_scale", "s_zero_point", "p_scale", "p_zero_point", "o_scale",
                "o_zero_point"},
               InferPackedAttention,
               CreatePackedAttention});
}

}  // namespace effi::ops
