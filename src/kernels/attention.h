// One (batch, head) of attention, softmax(scale * Q K^T + bias) V, on strided row views, composed
// from the packed GEMM and the softmax kernel: what effi.Attention and effi.PackedAttention run
// per head (and what bench/ times on EfficientFormer's last-stage shapes).
#pragma once

#include <cstdint>

namespace effi::kernels {

// Floats of scratch AttentionHeadF32 needs (64-byte aligned).
int64_t AttentionHeadScratchFloats(int64_t n, int64_t m, int64_t d, int64_t dv);

// out[i][0:dv] (row stride ldo) = softmax_j(scale * q[i] . k[j] + bias[i][j]) v[j] for i < n,
// j < m; q rows [n][ldq] (d used), k rows [m][ldk] (d used), v rows [m][ldv] (dv used), bias
// [n][m] or null. p_scale > 0: the probabilities are fake-quantized to u8 (p_scale,
// p_zero_point) before the product with V, as a QDQ model's QuantizeLinear -> DequantizeLinear
// after its Softmax does (FakeQuantF32).
void AttentionHeadF32(int64_t n, int64_t m, int64_t d, int64_t dv, float scale, const float* q,
                      int64_t ldq, const float* k, int64_t ldk, const float* v, int64_t ldv,
                      const float* bias, float* out, int64_t ldo, float* scratch,
                      float p_scale = 0.0f, int32_t p_zero_point = 0);

}  // namespace effi::kernels
