// One (batch, head) of attention, softmax(scale * Q K^T + bias) V, on strided row views, composed
// from the packed GEMM and the softmax kernel: what effi.Attention and effi.PackedAttention run
// per head (and what bench/ times on EfficientFormer's last-stage shapes).
#pragma once

#include <cstdint>

namespace effi::kernels {

// Floats of scratch AttentionHeadF32 needs (64-byte aligned).
int64_t AttentionHeadScratchFloats(int64_t n, int64_t m, int64_t d, int64_t dv);

// The fake quantizations a QDQ model puts around the attention core (u8 terms; scale 0: none),
// each as FakeQuantF32: of the raw scores q . k (ONNX Runtime's layout quantizes the first
// MatMul's output, before the scale and bias), of the probabilities after the softmax, and of
// the output rows.
struct AttentionQuant {
  float s_scale = 0.0f;
  int32_t s_zero_point = 0;
  float p_scale = 0.0f;
  int32_t p_zero_point = 0;
  float o_scale = 0.0f;
  int32_t o_zero_point = 0;
};

// out[i][0:dv] (row stride ldo) = softmax_j(scale * q[i] . k[j] + bias[i][j]) v[j] for i < n,
// j < m; q rows [n][ldq] (d used), k rows [m][ldk] (d used), v rows [m][ldv] (dv used), bias
// [n][m] or null; with `quant`'s fake quantizations where their scales are > 0.
void AttentionHeadF32(int64_t n, int64_t m, int64_t d, int64_t dv, float scale, const float* q,
                      int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv,
                      const float* bias, float* out, int64_t ldo, float* scratch,
                      const AttentionQuant& quant = {});

// EfficientFormerV2's attention (timm Attention2d / Attention2dDownsample) on channels-last maps
// of one image, all heads together because the optional "talking heads" mix them: with q [n][ldq]
// (head h's d channels at column h * d), k [m][ldk] (the same), v [m][ldv] (head h's dv channels
// at h * dv),
//   s_h = q_h . (k_scale * k_h)^T                                  [n][m] per head
//   t_g = mix1_bias[g] + add1[g] + sum_h mix1[g][h] s_h
//         (no mix1: t_h = s_h + add1[h]; add1 [heads][n][m], mix1_bias [heads], each nullable)
//   p_h = softmax over m of t_h
//   u_g = mix2_bias[g] + sum_h mix2[g][h] p_h   (no mix2: u = p)
//   out[:, g * dv : (g + 1) * dv] = u_g . v_g                       [n][ldo]
// The op folds the graph's scale into k_scale and its bias through mix1 into add1 at load. Work is
// split by query rows: K and V of every head are packed once per image (Attention2dPackHeadF32,
// one call per head), then row blocks run independently (Attention2dRowsF32).
struct Attention2dParams {
  int64_t heads = 1, n = 1, m = 1, d = 1, dv = 1;
  float k_scale = 1.0f;
  const float* add1 = nullptr;       // [heads][n][m]
  const float* mix1 = nullptr;       // [heads][heads]
  const float* mix1_bias = nullptr;  // [heads]
  const float* mix2 = nullptr;       // [heads][heads]
  const float* mix2_bias = nullptr;  // [heads]
};
// Floats of the packed K and V of all heads of one image (64-byte aligned).
int64_t Attention2dPackedFloats(const Attention2dParams& p);
// Floats of per-thread scratch for packing and for row blocks of up to `rows` rows.
int64_t Attention2dScratchFloats(const Attention2dParams& p, int64_t rows);
void Attention2dPackHeadF32(const Attention2dParams& p, int64_t h, const float* k, int64_t ldk,
                            const float* v, int64_t ldv, float* packed, float* scratch);
void Attention2dRowsF32(const Attention2dParams& p, int64_t r0, int64_t r1, const float* q,
                        int64_t ldq, const float* packed, float* out, int64_t ldo, float* scratch);

}  // namespace effi::kernels
