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

}  // namespace effi::kernels
