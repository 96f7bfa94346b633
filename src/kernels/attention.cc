// Per-head attention from the dispatched kernels: scale * K^T and V packed into the GEMM's panel
// layout in scratch, Q K^T with the bias added in the GEMM epilogue, the row softmax in place, then
// P V. See kernels/attention.h.
#include "kernels/attention.h"

#include <algorithm>

#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/norm.h"
#include "kernels/qgemm.h"

namespace effi::kernels {
namespace {
int64_t Up16(int64_t f) { return (f + 15) / 16 * 16; }

// K^T packed as the GEMM's B (d x m) from k rows [m][ldk] (d used), each times `scale`: gathered
// into tmp [m][d] first, so the packing reads contiguous rows.
void PackScaledKT(const float* k, int64_t ldk, int64_t m, int64_t d, float scale, float* tmp,
                  float* packed) {
  for (int64_t r = 0; r < m; ++r)
    for (int64_t i = 0; i < d; ++i) tmp[r * d + i] = k[r * ldk + i] * scale;
  PackBInto(tmp, d, m, d, true, packed);
}
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
  PackScaledKT(k, ldk, m, d, k_scale, ks, kt);
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

namespace {
int64_t KPanelFloats(const Attention2dParams& p) { return Up16(PackedBFloats(p.d, p.m)); }
int64_t VPanelFloats(const Attention2dParams& p) { return Up16(PackedBFloats(p.m, p.dv)); }
}  // namespace

int64_t Attention2dPackedFloats(const Attention2dParams& p) {
  return p.heads * (KPanelFloats(p) + VPanelFloats(p));
}

int64_t Attention2dScratchFloats(const Attention2dParams& p, int64_t rows) {
  return std::max(Up16(p.m * p.d), 2 * p.heads * Up16(rows * p.m));
}

void Attention2dPackHeadF32(const Attention2dParams& p, int64_t h, const float* k, int64_t ldk,
                            const float* v, int64_t ldv, float* packed, float* scratch) {
  float* kt = packed + h * (KPanelFloats(p) + VPanelFloats(p));
  float* vp = kt + KPanelFloats(p);
  // k_scale folded in while gathering head h's columns (m x d multiplies, fewer than n x m).
  PackScaledKT(k + h * p.d, ldk, p.m, p.d, p.k_scale, scratch, kt);
  PackBInto(v + h * p.dv, p.m, p.dv, ldv, false, vp);
}

void Attention2dRowsF32(const Attention2dParams& p, int64_t r0, int64_t r1, const float* q,
                        int64_t ldq, const float* packed, float* out, int64_t ldo, float* scratch) {
  const int64_t rows = r1 - r0, m = p.m, hs = Up16(rows * m);
  if (rows <= 0) return;
  float* s = scratch;                 // [heads][rows][m] scores, later the mixed probabilities
  float* t = scratch + p.heads * hs;  // [heads][rows][m] mixed scores, then probabilities
  const int64_t panel = KPanelFloats(p) + VPanelFloats(p);
  for (int64_t h = 0; h < p.heads; ++h) {
    GemmEpilogue ep;
    if (!p.mix1 && p.add1) {  // no mixing: the bias rides in the GEMM epilogue
      ep.residual = p.add1 + (h * p.n + r0) * m;
      ep.ldr = m;
    }
    GemmPackedRaw(0, rows, q + r0 * ldq + h * p.d, ldq, packed + h * panel, p.d, m,
                  (p.mix1 ? s : t) + h * hs, m, ep);
  }
  // add1's rows r0.. of every head: one row block of head g starts at g * n * m + r0 * m.
  if (p.mix1)
    HeadMixF32(p.heads, rows * m, p.mix1, p.mix1_bias, s, hs, p.add1 ? p.add1 + r0 * m : nullptr,
               p.n * m, t, hs);
  for (int64_t h = 0; h < p.heads; ++h) SoftmaxF32(rows, m, t + h * hs, t + h * hs);
  const float* u = t;
  if (p.mix2) {
    HeadMixF32(p.heads, rows * m, p.mix2, p.mix2_bias, t, hs, nullptr, 0, s, hs);
    u = s;
  }
  for (int64_t h = 0; h < p.heads; ++h)
    GemmPackedRaw(0, rows, u + h * hs, m, packed + h * panel + KPanelFloats(p), m, p.dv,
                  out + r0 * ldo + h * p.dv, ldo, GemmEpilogue{});
}

}  // namespace effi::kernels
