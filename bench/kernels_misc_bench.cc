// Microbenchmarks of the non-GEMM kernels on EfficientFormer-L1's real shapes: the fused token
// mixer, LayerNorm, softmax, broadcast elementwise, GELU and the layout transposes. These are
// memory-bound, so besides GFLOP/s (counted as the reference kernel's arithmetic) each reports
// GB/s of compulsory traffic (inputs read once + outputs written once).
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <vector>

#include "kernels/attention.h"
#include "kernels/conv_direct.h"
#include "kernels/dwconv.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/isa.h"
#include "kernels/layout.h"
#include "kernels/norm.h"
#include "kernels/pool.h"
#include "kernels/ref/ref_kernels.h"

namespace {

using namespace effi::kernels;  // NOLINT: benchmark file

std::vector<float> Rand(size_t n, float scale = 1.0f) {
  std::mt19937 rng(123);
  std::uniform_real_distribution<float> u(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

void Report(benchmark::State& state, double flops, double bytes, const char* label) {
  const double it = static_cast<double>(state.iterations());
  state.counters["GFLOPs"] = benchmark::Counter(flops * it / 1e9, benchmark::Counter::kIsRate);
  state.counters["GBps"] = benchmark::Counter(bytes * it / 1e9, benchmark::Counter::kIsRate);
  state.SetLabel(std::string(label) + " " + ActiveIsaName());
}

// Token mixer x + s * (avgpool3x3(x) - x) on NHWC [1][hw][hw][c]: 9 adds + 3 ops per element.
void BM_PoolMixer(benchmark::State& state) {
  const int64_t hw = state.range(0), c = state.range(1), n = hw * hw * c;
  auto x = Rand(static_cast<size_t>(n)), s = Rand(static_cast<size_t>(c)), y = x;
  for (auto _ : state) {
    PoolMixerNhwcF32(1, hw, hw, c, 3, x.data(), s.data(), y.data(), 0, hw);
    benchmark::DoNotOptimize(y.data());
  }
  Report(state, 12.0 * n, 8.0 * n, "pool_mixer_f32_3x3");
}
BENCHMARK(BM_PoolMixer)
    ->Args({56, 48})
    ->Args({28, 96})
    ->Args({14, 224})
    ->Args({7, 448})
    ->UseRealTime();

// LayerNorm over the last stage's 49 tokens x 448 channels: ~8 flops per element.
void BM_LayerNorm(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1), n = rows * cols;
  auto x = Rand(static_cast<size_t>(n)), g = Rand(static_cast<size_t>(cols)),
       b = Rand(static_cast<size_t>(cols));
  std::vector<float> y(x.size());
  for (auto _ : state) {
    LayerNormF32(rows, cols, x.data(), g.data(), b.data(), 1e-5f, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  Report(state, 8.0 * n, 8.0 * n, "layernorm_f32");
}
BENCHMARK(BM_LayerNorm)->Args({49, 448})->Args({196, 448})->UseRealTime();

// Attention softmax: 8 heads x 49 queries x 49 keys (exp ~ 20 flops).
void BM_Softmax(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1), n = rows * cols;
  auto x = Rand(static_cast<size_t>(n), 4.0f);
  std::vector<float> y(x.size());
  for (auto _ : state) {
    SoftmaxF32(rows, cols, x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  Report(state, 24.0 * n, 8.0 * n, "softmax_f32");
}
BENCHMARK(BM_Softmax)->Args({8 * 49, 49})->Args({64, 1000})->UseRealTime();

// One attention head of EfficientFormer's last stage as effi.PackedAttention runs it: q, k, v
// strided in the qkv projection [49][H * (2 Dk + Dv)], out strided in [49][H * Dv]. Args: heads,
// Dk, Dv (L1: 8, 32, 64; L3: 8, 32, 128). Counted as the two GEMMs' flops. The parts: the two
// packs (BM_AttentionPack) and the softmax (BM_Softmax above).
void BM_AttentionHead(benchmark::State& state) {
  const int64_t n = 49, h = state.range(0), d = state.range(1), dv = state.range(2);
  const int64_t c = h * (2 * d + dv);
  auto qkv = Rand(static_cast<size_t>(n * c)), bias = Rand(static_cast<size_t>(n * n));
  std::vector<float> out(static_cast<size_t>(n * h * dv));
  AlignedFloats scratch = AllocFloats(static_cast<size_t>(AttentionHeadScratchFloats(n, n, d, dv)));
  for (auto _ : state) {
    AttentionHeadF32(n, n, d, dv, 0.177f, qkv.data(), c, qkv.data() + d, c, qkv.data() + 2 * d, c,
                     bias.data(), out.data(), h * dv, scratch.get());
    benchmark::DoNotOptimize(out.data());
  }
  Report(state, 2.0 * n * n * (d + dv), 4.0 * n * (2 * d + dv + dv), "attention_head_f32");
}
BENCHMARK(BM_AttentionHead)->Args({8, 32, 64})->Args({8, 32, 128})->UseRealTime();

// The packs inside BM_AttentionHead: K^T (d x 49, transposed) and V (49 x dv).
void BM_AttentionPack(benchmark::State& state) {
  const int64_t n = 49, d = state.range(0), dv = state.range(1);
  auto k = Rand(static_cast<size_t>(n * d)), v = Rand(static_cast<size_t>(n * dv));
  AlignedFloats kt = AllocFloats(static_cast<size_t>(PackedBFloats(d, n)));
  AlignedFloats vp = AllocFloats(static_cast<size_t>(PackedBFloats(n, dv)));
  for (auto _ : state) {
    PackBInto(k.data(), d, n, d, true, kt.get());
    PackBInto(v.data(), n, dv, dv, false, vp.get());
    benchmark::DoNotOptimize(kt.get());
    benchmark::DoNotOptimize(vp.get());
  }
  Report(state, 0.0, 8.0 * n * (d + dv), "pack_b_f32");
}
BENCHMARK(BM_AttentionPack)->Args({32, 64})->Args({32, 128})->UseRealTime();

// Broadcast add of a per-channel vector ([rows][cols] + [cols]): the unfused residual/bias shape.
void BM_BroadcastAdd(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1), n = rows * cols;
  auto a = Rand(static_cast<size_t>(n)), b = Rand(static_cast<size_t>(cols));
  std::vector<float> y(a.size());
  for (auto _ : state) {
    BinaryF32(ref::BinaryOp::kAdd, rows, cols, a.data(), cols, 1, b.data(), 0, 1, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  Report(state, 1.0 * n, 8.0 * n, "binary_f32_add_rowbcast");
}
BENCHMARK(BM_BroadcastAdd)->Args({3136, 48})->Args({49, 448})->UseRealTime();

// Standalone exact GELU (the unfused path; the fused one runs in the GEMM epilogue): counted as ~25
// flops per element. 4096 elements stay in L1, so that size shows the compute (latency) bound.
void BM_Gelu(benchmark::State& state) {
  const int64_t n = state.range(0);
  auto x = Rand(static_cast<size_t>(n), 4.0f);
  std::vector<float> y(x.size());
  for (auto _ : state) {
    UnaryF32(ref::UnaryOp::kGelu, x.data(), y.data(), n);
    benchmark::DoNotOptimize(y.data());
  }
  Report(state, 25.0 * n, 8.0 * n, "unary_f32_gelu");
}
BENCHMARK(BM_Gelu)->Arg(4096)->Arg(3136 * 192)->Arg(49 * 1792)->UseRealTime();

// The stem conv, 3x3 stride 2 over RGB 224x224 -> 112x112 x c_out, direct from NCHW (phase rows
// per chunk of output rows + pixel-vector tiles, transposed stores).
void BM_DirectConvStem(benchmark::State& state) {
  const int64_t cout = state.range(0);
  ref::Conv2dParams p{1, 3, 224, 224, cout, 112, 112, 3, 3, 2, 2, 1, 1, 1, 1, 1};
  auto x = Rand(static_cast<size_t>(3 * 224 * 224)), w = Rand(static_cast<size_t>(cout * 27));
  auto bias = Rand(static_cast<size_t>(cout));
  const auto packed = PackDirectConvWeights(p, w.data());
  std::vector<float> scratch(static_cast<size_t>(DirectConvScratchFloats(p)));
  std::vector<float> y(static_cast<size_t>(112 * 112 * cout));
  for (auto _ : state) {
    DirectConvF32(p, x.data(), packed.data(), bias.data(), ref::Activation::kRelu, 0, 112,
                  scratch.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  Report(state, 2.0 * 112 * 112 * cout * 27, 4.0 * (3 * 224 * 224 + 112 * 112 * cout),
         "direct_conv_f32");
}
BENCHMARK(BM_DirectConvStem)->Arg(24)->Arg(32)->UseRealTime();

// NCHW -> NHWC of the 224x224 input and attention's (0,2,1,3) head split.
void BM_Transpose(benchmark::State& state) {
  const int64_t a = state.range(0), b = state.range(1), inner = state.range(2), n = a * b * inner;
  auto x = Rand(static_cast<size_t>(n));
  std::vector<float> y(x.size());
  const int64_t shape[3] = {a, b, inner}, perm[3] = {1, 0, 2};
  TransposePlan plan;
  if (!PlanTranspose(4, 3, shape, perm, &plan)) {
    state.SkipWithError("transpose not planned");
    return;
  }
  for (auto _ : state) {
    TransposeRun(plan, x.data(), y.data(), 0, plan.outer);
    benchmark::DoNotOptimize(y.data());
  }
  Report(state, 0.0, 8.0 * n, inner == 1 ? "transpose_x32" : "transpose_rows");
}
BENCHMARK(BM_Transpose)->Args({3, 224 * 224, 1})->Args({49, 8, 64})->UseRealTime();

// EfficientFormerV2's depthwise 3x3 convs on NHWC, pad 1, BN folded into the bias, one thread:
// stride 1 with GELU fused (the FFN's mid conv), stride 2 without activation (the attention
// downsample's local conv). Args: channels, input height = width, stride. GBps counts x read
// once and y written once (+ weights and bias); BM_DwConvMemcpy moves the same bytes over a
// working set of the same size, so the ratio of the two is the fraction of this machine's
// bandwidth (L2, L3 or DRAM, whichever holds that working set) the kernel reaches. Measured
// 2026-12-05 on the dev VM (AVX-512, 1 thread, CPU time, a loaded machine): 8-20 % (56x56x128:
// 0.18 ms, 17 GB/s against memcpy's 87 GB/s): the kernel is bound by its FMAs and the GELU, not
// by memory.
void V2DwShapes(benchmark::internal::Benchmark* b) {
  for (const auto& [c, hw] :
       {std::pair{128, 56}, {192, 28}, {288, 14}, {384, 14}, {528, 7}, {704, 7}, {1024, 7}})
    b->Args({c, hw, 1});
  b->Args({96, 14, 2})->Args({512, 14, 2});
}

ref::Conv2dParams V2DwParams(const benchmark::State& state) {
  const int64_t c = state.range(0), hw = state.range(1), s = state.range(2), o = (hw - 1) / s + 1;
  return {1, c, hw, hw, c, o, o, 3, 3, s, s, 1, 1, 1, 1, c};
}

double V2DwBytes(const ref::Conv2dParams& p) {
  return 4.0 * (p.h_in * p.w_in * p.c_in + p.h_out * p.w_out * p.c_out + 10 * p.c_out);
}

void BM_DwConv(benchmark::State& state) {
  const ref::Conv2dParams p = V2DwParams(state);
  auto x = Rand(static_cast<size_t>(p.h_in * p.w_in * p.c_in));
  auto w = Rand(static_cast<size_t>(9 * p.c_out)), bias = Rand(static_cast<size_t>(p.c_out));
  const auto packed = PackDepthwiseWeights(p, w.data());
  const auto act = p.stride_h == 1 ? ref::Activation::kGelu : ref::Activation::kNone;
  std::vector<float> y(static_cast<size_t>(p.h_out * p.w_out * p.c_out));
  for (auto _ : state) {
    DepthwiseConvF32(p, x.data(), packed.data(), bias.data(), act, nullptr, 0, p.h_out, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  Report(state, 2.0 * 9 * p.h_out * p.w_out * p.c_out, V2DwBytes(p), DepthwiseConvKernelName());
}
BENCHMARK(BM_DwConv)->Apply(V2DwShapes)->UseRealTime();

// The bandwidth reference for BM_DwConv: memcpy of half its bytes, so as many bytes are read and
// written and the two buffers together are as large as x and y.
void BM_DwConvMemcpy(benchmark::State& state) {
  const size_t half = static_cast<size_t>(V2DwBytes(V2DwParams(state)) / 2);
  std::vector<char> src(half, 1), dst(half);
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), half);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  Report(state, 0.0, 2.0 * static_cast<double>(half), "memcpy");
}
BENCHMARK(BM_DwConvMemcpy)->Apply(V2DwShapes)->UseRealTime();

}  // namespace
