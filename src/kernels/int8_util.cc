// The int8 path's helpers on float data (qgemm.h): fake quantization (QuantizeLinear ->
// DequantizeLinear on the dispatched QuantizeU8) and recovering int8 weights from dequantized ones
// (FindInt8Grid). Composed from kernels, like attention.cc; not reference code.
#include <algorithm>
#include <cfloat>
#include <cmath>

#include "kernels/qgemm.h"
#include "kernels/quant.h"
#include "kernels/ref/ref_kernels.h"

namespace effi::kernels {
namespace {

// q = w / scale per element of channels [c0, c1) with one scale each (scales[c - c0] or the same
// one when per_tensor); false when an element is off the grid.
bool OnGrid(const float* w, int64_t c0, int64_t c1, int64_t k, int64_t ch_stride, int64_t k_stride,
            const float* scales, bool per_tensor, int8_t* q) {
  for (int64_t c = c0; c < c1; ++c) {
    const float s = per_tensor ? scales[0] : scales[c];
    for (int64_t i = 0; i < k; ++i) {
      const float v = w[c * ch_stride + i * k_stride];
      if (s == 0.0f) {
        if (v != 0.0f) return false;
        q[c * k + i] = 0;
        continue;
      }
      const float r = v / s, qi = std::nearbyint(r);
      if (!(std::fabs(r - qi) <= 1e-3f) || std::fabs(qi) > 127.0f) return false;
      q[c * k + i] = static_cast<int8_t>(qi);
    }
  }
  return true;
}

// max|w| / 127, or -1 when that scale cannot be divided by exactly (NaN/inf weights, or a
// subnormal scale where w / scale loses the grid).
float GridScale(float amax) {
  if (amax == 0.0f) return 0.0f;
  const float s = amax / 127.0f;
  return std::isfinite(amax) && s >= FLT_MIN ? s : -1.0f;
}

}  // namespace

void FakeQuantF32(int64_t count, const float* x, float scale, int32_t zero_point, float* y,
                  bool reference) {
  constexpr int64_t kChunk = 1024;  // u8 on the stack, the float result written over it
  uint8_t q[kChunk];
  for (int64_t i0 = 0; i0 < count; i0 += kChunk) {
    const int64_t len = std::min(kChunk, count - i0);
    if (reference)
      ref::quantize_linear_u8(len, x + i0, scale, zero_point, q);
    else
      QuantizeU8(len, x + i0, scale, zero_point, q);
    for (int64_t i = 0; i < len; ++i) y[i0 + i] = static_cast<float>(q[i] - zero_point) * scale;
  }
}

std::optional<Int8Grid> FindInt8Grid(const float* w, int64_t channels, int64_t k, int64_t ch_stride,
                                     int64_t k_stride) {
  Int8Grid g;
  g.scale.resize(static_cast<size_t>(channels));
  g.q.resize(static_cast<size_t>(channels * k));
  float amax_all = 0.0f;
  bool ok = true;
  for (int64_t c = 0; c < channels; ++c) {
    float amax = 0.0f;
    for (int64_t i = 0; i < k; ++i)
      amax = std::max(amax, std::fabs(w[c * ch_stride + i * k_stride]));
    amax_all = std::max(amax_all, amax);  // a NaN weight is skipped here and fails OnGrid
    g.scale[c] = GridScale(amax);
    ok = ok && g.scale[c] >= 0.0f;
  }
  if (ok && OnGrid(w, 0, channels, k, ch_stride, k_stride, g.scale.data(), false, g.q.data()))
    return g;
  const float s = GridScale(amax_all);
  if (s < 0.0f) return std::nullopt;
  std::fill(g.scale.begin(), g.scale.end(), s);
  if (OnGrid(w, 0, channels, k, ch_stride, k_stride, &s, true, g.q.data())) return g;
  return std::nullopt;
}

}  // namespace effi::kernels
