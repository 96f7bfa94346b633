// The packed int8 GEMM on EfficientFormer-L1's shapes (the same list as BM_GemmPacked, so the two
// compare in one run: --benchmark_filter='GemmPacked/') and this core's int8 dot-product peak
// (BM_VnniPeak), so every shape reports a fraction of it. GOPs counts 2 ops per multiply-add,
// like GFLOPs.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

#include "kernels/qgemm.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace {

using effi::kernels::PackedBQ8;
using effi::kernels::QGemmEpilogue;

// Peak: 12 independent vpdpbusd chains on zmm (64 multiply-adds each; 12 cover a 4-5 cycle
// latency at 2 per cycle), registers only. Inline asm as in the kernel: with the intrinsic GCC 12
// kept the accumulators in memory across iterations (a load and a store per vpdpbusd).
#if defined(__x86_64__)
__attribute__((target("avx512f"), always_inline)) inline __m512i Dpbusd(__m512i acc, __m512i a,
                                                                        __m512i b) {
  __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
  return acc;
}

__attribute__((target("avx512f"))) double PeakVnni(int64_t iters) {
  __m512i acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm512_set1_epi32(i);
  const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t it = 0; it < iters; ++it) {
    for (int i = 0; i < 12; ++i) acc[i] = Dpbusd(acc[i], a, b);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  alignas(64) int32_t t[16];
  int32_t sink = 0;
  for (int i = 0; i < 12; ++i) {
    _mm512_store_si512(t, acc[i]);
    sink += t[0];
  }
  benchmark::DoNotOptimize(sink);
  return static_cast<double>(iters) * 12 * 64 * 2 / s;
}
#endif

double PeakOps() {
  static const double peak = [] {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512vnni")) return 0.0;
    double best = 0;
    for (int rep = 0; rep < 5; ++rep) best = std::max(best, PeakVnni(20'000'000));
    return best;
#else
    return 0.0;
#endif
  }();
  return peak;
}

void BM_VnniPeak(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(PeakOps());
  state.counters["GOPs"] = PeakOps() / 1e9;
  state.SetLabel(effi::kernels::QGemmKernelName());
}
BENCHMARK(BM_VnniPeak)->Iterations(1)->UseRealTime();

enum class OutKind { kFloat, kUint8 };

// m x n x k with random u8 A (zero point 128) and s8 B, bias and per-column multipliers; C float
// or u8; kQdq: also the steps of ONNX Runtime's QDQ layout (fake quantization, post_bias,
// post_scale). Rates over wall time, as BM_GemmPacked's.
// kFakeQuant: only the fake quantization before act (the output-pair layout's fc1: Conv -> Q ->
// DQ -> GELU -> Q); kTable: the same as the u8 table the int8 op builds for it.
enum class Steps { kPlain, kQdq, kFakeQuant, kTable };

void RunQGemm(benchmark::State& state, OutKind out, effi::kernels::ref::Activation act,
              Steps steps = Steps::kPlain) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> u8(0, 255), s8(-127, 127);
  std::vector<uint8_t> a(static_cast<size_t>(m * k)), cq(static_cast<size_t>(m * n));
  std::vector<int8_t> b(static_cast<size_t>(k * n));
  for (auto& x : a) x = static_cast<uint8_t>(u8(rng));
  for (auto& x : b) x = static_cast<int8_t>(s8(rng));
  std::vector<float> c(static_cast<size_t>(m * n)), bias(static_cast<size_t>(n), 0.1f),
      mult(static_cast<size_t>(n), 1e-5f);
  const PackedBQ8 packed(b.data(), k, n, n);
  QGemmEpilogue ep{mult.data(), bias.data(), act, nullptr, 0, 0.05f, 128};
  std::vector<float> post_bias(static_cast<size_t>(n), -0.2f), post_scale(static_cast<size_t>(n));
  for (size_t j = 0; j < post_scale.size(); ++j) post_scale[j] = 0.5f + 0.01f * (j % 7);
  std::vector<uint8_t> table(256);
  for (size_t i = 0; i < table.size(); ++i) table[i] = static_cast<uint8_t>(255 - i);
  if (steps != Steps::kPlain) {
    ep.fq_scale = 0.01f;  // acc * 1e-5 + 0.1 is of order 1: +-100 steps, the clamps rarely hit
    ep.fq_zero_point = 120;
  }
  if (steps == Steps::kQdq) {
    ep.post_bias = post_bias.data();
    ep.post_scale = post_scale.data();
  }
  if (steps == Steps::kTable) {
    ep.out_scale = ep.fq_scale;
    ep.out_zero_point = ep.fq_zero_point;
    ep.fq_scale = 0.0f;
    ep.act = effi::kernels::ref::Activation::kNone;
    ep.lut = table.data();
  }
  for (auto _ : state) {
    if (out == OutKind::kFloat) {
      effi::kernels::QGemmPacked(0, m, 0, n, a.data(), k, 128, packed, c.data(), n, ep);
    } else {
      effi::kernels::QGemmPacked(0, m, 0, n, a.data(), k, 128, packed, cq.data(), n, ep);
    }
    benchmark::ClobberMemory();
  }
  const double ops = 2.0 * static_cast<double>(m * n * k);
  state.counters["GOPs"] =
      benchmark::Counter(ops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  if (PeakOps() > 0)
    state.counters["peak_frac"] =
        benchmark::Counter(ops / PeakOps(), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(effi::kernels::QGemmKernelName());
}

void BM_QGemmPacked(benchmark::State& state) {
  RunQGemm(state, OutKind::kFloat, effi::kernels::ref::Activation::kNone);
}
// L1 @224 (as BM_GemmPacked): stage tokens 3136/784/196/49, 1x1 conv MLPs C->4C and 4C->C, the
// last stage's Linear layers.
BENCHMARK(BM_QGemmPacked)
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
    ->Args({1, 1000, 448})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// The same with every step of ONNX Runtime's QDQ layout on (QGemmEpilogue's fq_scale, post_bias,
// post_scale): the cost of those steps against BM_QGemmPacked's plain epilogue.
void BM_QGemmPackedQdq(benchmark::State& state) {
  RunQGemm(state, OutKind::kFloat, effi::kernels::ref::Activation::kNone, Steps::kQdq);
}
BENCHMARK(BM_QGemmPackedQdq)
    ->Args({3136, 192, 48})
    ->Args({196, 224, 896})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// u8 output (re-quantized for the next int8 GEMM), fc1 with GELU: what chained int8 layers run.
void BM_QGemmPackedU8(benchmark::State& state) {
  RunQGemm(state, OutKind::kUint8, effi::kernels::ref::Activation::kNone);
}
BENCHMARK(BM_QGemmPackedU8)
    ->Args({3136, 192, 48})
    ->Args({3136, 48, 192})
    ->Args({196, 224, 896})
    ->Args({49, 448, 1792})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_QGemmPackedGeluU8(benchmark::State& state) {
  RunQGemm(state, OutKind::kUint8, effi::kernels::ref::Activation::kGelu);
}
BENCHMARK(BM_QGemmPackedGeluU8)
    ->Args({3136, 192, 48})
    ->Args({784, 384, 96})
    ->Args({196, 896, 224})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// The output-pair layout's fc1 (fake quantization, GELU, u8 out) as the epilogue computes it,
// and as the int8 op runs it: quantized to the fake-quant grid, then the u8 table.
void BM_QGemmPackedFqGeluU8(benchmark::State& state) {
  RunQGemm(state, OutKind::kUint8, effi::kernels::ref::Activation::kGelu, Steps::kFakeQuant);
}
BENCHMARK(BM_QGemmPackedFqGeluU8)
    ->Args({3136, 192, 48})
    ->Args({196, 896, 224})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

void BM_QGemmPackedTableU8(benchmark::State& state) {
  RunQGemm(state, OutKind::kUint8, effi::kernels::ref::Activation::kGelu, Steps::kTable);
}
BENCHMARK(BM_QGemmPackedTableU8)
    ->Args({3136, 192, 48})
    ->Args({196, 896, 224})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// Cold weights, as BM_GemmPackedCold: cycles through > 64 MiB of packed B so each comes from DRAM.
void BM_QGemmPackedCold(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> u8(0, 255), s8(-127, 127);
  std::vector<uint8_t> a(static_cast<size_t>(m * k));
  std::vector<int8_t> b(static_cast<size_t>(k * n));
  for (auto& x : a) x = static_cast<uint8_t>(u8(rng));
  for (auto& x : b) x = static_cast<int8_t>(s8(rng));
  std::vector<float> c(static_cast<size_t>(m * n)), bias(static_cast<size_t>(n), 0.1f),
      mult(static_cast<size_t>(n), 1e-5f);
  const size_t count = std::max<size_t>(2, (size_t{64} << 20) / static_cast<size_t>(k * n) + 1);
  std::vector<PackedBQ8> packed;
  packed.reserve(count);
  for (size_t i = 0; i < count; ++i) packed.emplace_back(b.data(), k, n, n);
  const QGemmEpilogue ep{mult.data(), bias.data()};
  size_t next = 0;
  for (auto _ : state) {
    effi::kernels::QGemmPacked(0, m, 0, n, a.data(), k, 128, packed[next], c.data(), n, ep);
    next = next + 1 == count ? 0 : next + 1;
    benchmark::ClobberMemory();
  }
  state.counters["GOPs"] = benchmark::Counter(2.0 * static_cast<double>(m * n * k) / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(effi::kernels::QGemmKernelName());
}
BENCHMARK(BM_QGemmPackedCold)
    ->Args({49, 1792, 448})
    ->Args({49, 448, 1792})
    ->Args({196, 1280, 320})
    ->Args({196, 320, 1280})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
