// Kernel microbenchmarks: the packed GEMM on EfficientFormer-L1's real shapes (M = tokens,
// N = output channels, K = input channels) and this core's fp32 FMA peak, so every kernel can be
// reported as a fraction of it (counter "peak_frac").
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/isa.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace {

// Peak: 12 independent FMA chains (enough to cover 4-cycle latency on 2 ports) on 16-float
// vectors, measured once. Compiled for AVX-512 only when the CPU has it.
#if defined(__x86_64__)
__attribute__((target("avx512f"))) double PeakAvx512(int64_t iters) {
  __m512 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Reduce through memory: GCC 12's _mm512_reduce_add_ps (via _mm512_extractf64x4_pd) warns
  // "'__Y' is used uninitialized" from inside its own header.
  float sink = 0;
  alignas(64) float t[16];
  for (int i = 0; i < 12; ++i) {
    _mm512_store_ps(t, acc[i]);
    sink += t[0];
  }
  benchmark::DoNotOptimize(sink);
  return static_cast<double>(iters) * 12 * 16 * 2 / s;
}
__attribute__((target("avx2,fma"))) double PeakAvx2(int64_t iters) {
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  float sink = 0;
  alignas(32) float t[8];
  for (int i = 0; i < 12; ++i) {
    _mm256_store_ps(t, acc[i]);
    sink += t[0];
  }
  benchmark::DoNotOptimize(sink);
  return static_cast<double>(iters) * 12 * 8 * 2 / s;
}
#endif

double PeakFlops() {
  static const double peak = [] {
#if defined(__x86_64__)
    __builtin_cpu_init();
    double best = 0;
    for (int rep = 0; rep < 5; ++rep)
      best = std::max(
          best, __builtin_cpu_supports("avx512f") ? PeakAvx512(20'000'000) : PeakAvx2(20'000'000));
    return best;
#else
    return 0.0;
#endif
  }();
  return peak;
}

void BM_FmaPeak(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(PeakFlops());
  state.counters["GFLOPs"] = PeakFlops() / 1e9;
  state.SetLabel(effi::kernels::ActiveIsaName());
}
BENCHMARK(BM_FmaPeak)->Iterations(1)->UseRealTime();

// GFLOP/s and fraction of the FMA peak of an m x n x k GEMM per iteration. Rates are over wall
// time (UseRealTime): on a shared VM CPU time under-counts stolen cycles.
void ReportGemm(benchmark::State& state, int64_t m, int64_t n, int64_t k) {
  const double flops = 2.0 * static_cast<double>(m * n * k);
  state.counters["GFLOPs"] =
      benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  const double peak = PeakFlops();
  if (peak > 0)
    state.counters["peak_frac"] =
        benchmark::Counter(flops / peak, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(effi::kernels::GemmKernelName());
}

// Random A and B, zero C and bias for an m x n x k GEMM.
struct GemmOperands {
  std::vector<float> a, b, c, bias;
  GemmOperands(int64_t m, int64_t n, int64_t k)
      : a(static_cast<size_t>(m * k)),
        b(static_cast<size_t>(k * n)),
        c(static_cast<size_t>(m * n)),
        bias(static_cast<size_t>(n)) {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(-1, 1);
    for (float& x : a) x = u(rng);
    for (float& x : b) x = u(rng);
  }
};

void RunGemmPacked(benchmark::State& state, effi::kernels::ref::Activation act) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  GemmOperands g(m, n, k);
  auto& [a, b, c, bias] = g;
  effi::kernels::PackedB packed(b.data(), k, n, n);
  effi::kernels::GemmEpilogue ep{bias.data(), act, nullptr, 0};
  for (auto _ : state) {
    effi::kernels::GemmPacked(0, m, a.data(), k, packed, c.data(), n, ep);
    benchmark::ClobberMemory();
  }
  ReportGemm(state, m, n, k);
}
void BM_GemmPacked(benchmark::State& state) {
  RunGemmPacked(state, effi::kernels::ref::Activation::kNone);
}
// L1 @224: stage tokens 3136/784/196/49; 1x1 conv MLPs C->4C and 4C->C; the last stage's Linear.
BENCHMARK(BM_GemmPacked)
    ->Args({3136, 192, 48})
    ->Args({3136, 48, 192})
    ->Args({784, 384, 96})
    ->Args({784, 96, 384})
    ->Args({196, 896, 224})
    ->Args({196, 224, 896})
    ->Args({49, 1792, 448})
    ->Args({49, 448, 1792})
    ->Args({3136, 48, 216})
    ->Args({256, 256, 256})
    ->Args({12544, 24, 27})   // stem conv (3x3 s2, im2col K = 27): column tail in the only panel
    ->Args({1, 1000, 448})    // head: N = 1000 ends in a partial panel
    ->Args({196, 1280, 320})  // L3's stage-2 MLP (half of L3's time)
    ->Args({196, 320, 1280})
    ->Args({49, 2048, 512})  // L3's stage-3 MLP
    ->Args({49, 512, 2048})
    ->Args({3136, 192, 16})  // K this small shows the per-output cost (epilogue, stores)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// fc1 layers: the GEMM with its fused bias + GELU epilogue, whose cost shows most on the shallow
// (small K) early stages: L1 / L3 stage 0 and 1, L3 stage 2.
void BM_GemmPackedGelu(benchmark::State& state) {
  RunGemmPacked(state, effi::kernels::ref::Activation::kGelu);
}
BENCHMARK(BM_GemmPackedGelu)
    ->Args({3136, 192, 48})
    ->Args({3136, 256, 64})
    ->Args({784, 512, 128})
    ->Args({196, 1280, 320})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Cold weights: in the model each layer's packed B is read once per inference among ~49 MB of
// weights, so it comes from DRAM, unlike BM_GemmPacked where it stays in L2/L3. Cycles through
// enough distinct packed matrices (> 64 MiB) that each one has been evicted before its next use.
void BM_GemmPackedCold(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  GemmOperands g(m, n, k);
  auto& [a, b, c, bias] = g;
  const size_t bytes = static_cast<size_t>(k * n) * sizeof(float);
  const size_t count = std::max<size_t>(2, (size_t{64} << 20) / bytes + 1);
  std::vector<effi::kernels::PackedB> packed;
  packed.reserve(count);
  for (size_t i = 0; i < count; ++i) packed.emplace_back(b.data(), k, n, n);
  effi::kernels::GemmEpilogue ep{bias.data(), effi::kernels::ref::Activation::kNone, nullptr, 0};
  size_t next = 0;
  for (auto _ : state) {
    effi::kernels::GemmPacked(0, m, a.data(), k, packed[next], c.data(), n, ep);
    next = next + 1 == count ? 0 : next + 1;
    benchmark::ClobberMemory();
  }
  ReportGemm(state, m, n, k);
}
// The last stage's MLP (49 tokens, 448 <-> 1792): 3.2 MB of packed weights each.
BENCHMARK(BM_GemmPackedCold)
    ->Args({49, 1792, 448})
    ->Args({49, 448, 1792})
    ->Args({196, 1280, 320})  // L3 stage 2: 1.6 MB each
    ->Args({196, 320, 1280})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// The fused bias + GELU epilogue alone (what an fc1 layer adds on top of its GEMM), on L1's fc1
// outputs: rows x cols = tokens x 4C. Counter: elements per second.
void BM_EpilogueGelu(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1);
  std::mt19937 rng(2);
  std::normal_distribution<float> g(0, 2);
  std::vector<float> y(static_cast<size_t>(rows * cols)), bias(static_cast<size_t>(cols));
  for (float& x : y) x = g(rng);
  for (float& x : bias) x = g(rng) * 0.01f;
  for (auto _ : state) {
    // Applied in place repeatedly: GELU is branch-free, and the bias (|b| ~ 1e-2) keeps values at
    // a fixed point away from denormals, so the timing does not depend on the iteration.
    effi::kernels::EpilogueF32(rows, cols, bias.data(), effi::kernels::ref::Activation::kGelu,
                               nullptr, y.data());
    benchmark::ClobberMemory();
  }
  state.counters["elems"] = benchmark::Counter(static_cast<double>(rows * cols),
                                               benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(effi::kernels::ActiveIsaName());
}
BENCHMARK(BM_EpilogueGelu)
    ->Args({3136, 192})
    ->Args({49, 1792})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
