// QuantizeU8, the int8 ops' float -> u8 activation quantizer, on EfficientFormer-L1's largest
// (3136 tokens x 48 channels) and last-stage (49 x 448) activations. GBps counts the compulsory
// traffic: 4 bytes read + 1 byte written per element.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "kernels/isa.h"
#include "kernels/quant.h"

namespace {

void BM_QuantizeU8(benchmark::State& state) {
  const int64_t n = state.range(0) * state.range(1);
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 2.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = dist(rng);
  std::vector<uint8_t> y(x.size());
  // A calibrated-like range: [-8, 8] onto [0, 255] (some lanes saturate, as real tails do).
  const float scale = 16.0f / 255.0f;
  for (auto _ : state) {
    effi::kernels::QuantizeU8(n, x.data(), scale, 128, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  const double it = static_cast<double>(state.iterations());
  state.counters["GBps"] =
      benchmark::Counter(5.0 * static_cast<double>(n) * it / 1e9, benchmark::Counter::kIsRate);
  state.counters["Gelem/s"] =
      benchmark::Counter(static_cast<double>(n) * it / 1e9, benchmark::Counter::kIsRate);
  state.SetLabel(std::string(effi::kernels::QuantizeU8KernelName()) + " " +
                 effi::kernels::ActiveIsaName());
}
BENCHMARK(BM_QuantizeU8)->Args({3136, 48})->Args({49, 448})->UseRealTime();

}  // namespace
