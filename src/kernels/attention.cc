// Per-head attention from the dispatched kernels: scale * K^T and V packed into the GEMM's panel
// layout in scratch, Q K^T with the bias added in the GEMM epilogue, the row softmax in place, then
// P V. See kernels/attention.h.
#include "kernels/attention.h"

#include "kernels/gemm.h"
#include "kernels/norm.h"
#include "kernels/qgemm.h"

namespace effi::kernels {
namespace {
int64_t Up16(int64_t f) { return (f + 15) / 16 * 16; }
}  // namespace

int64_t AttentionHeadScratchFloats(int64_t n, int64_t m, int64_t d, int64_t dv) {
  return Up16(PackedBFloats(d, m)) + Up16(n * m) + Up16(PackedBFloats(m, dv)) + Up16(m * d);
}

void AttentionHeadF32(int64_t n, int64_t m, int64_t d, int64_t dv, float scale, const float* q,
                      int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv,
                      const float* bias, float* out, int64_t ldo, float* scratch,
                      const AttentionQuant& quant) {
  float* kt = scratch;
  float* s = kt + Up16(PackedBFloats(d, m));
  float* vp = s + Up16(n * m);
  float* ks = vp + Up16(PackedBFloats(m, dv));
  // Scale folded into K while copying it (m x d multiplies are cheaper than n x m), unless the raw
  // scores are fake-quantized first: then scale and bias follow that rounding.
  const bool round_scores = quant.s_scale > 0.0f;
  const float k_scale = round_scores ? 1.0f : scale;
  for (int64_t r = 0; r < m; ++r)
    for (int64_t i = 0; i < d; ++i) ks[r * d + i] = k[r * ldk + i] * k_scale;
  PackBInto(ks, d, m, d, true, kt);
  GemmEpilogue ep;
  if (bias && !round_scores) {
    ep.residual = bias;
    ep.ldr = m;
  }
  GemmPackedRaw(0, n, q, ldq, kt, d, m, s, m, ep);
  if (round_scores) {
    FakeQuantF32(n * m, s, quant.s_scale, quant.s_zero_point, s);
    for (int64_t i = 0; i < n * m; ++i) s[i] = s[i] * scale + (bias ? bias[i] : 0.0f);
  }
  SoftmaxF32(n, m, s, s);
  if (quant.p_scale > 0.0f) FakeQuantF32(n * m, s, quant.p_scale, quant.p_zero_point, s);
  PackBInto(v, m, dv, ldv, false, vp);
  GemmPackedRaw(0, n, s, m, vp, m, dv, out, ldo, GemmEpilogue{});
  if (quant.o_scale > 0.0f)
    for (int64_t i = 0; i < n; ++i)
      FakeQuantF32(dv, out + i * ldo, quant.o_scale, quant.o_zero_point, out + i * ldo);
}

}  // namespace effi::kernels
