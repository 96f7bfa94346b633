// Packed int8 GEMM for the quantized path (issue 12): 1x1 convolutions, linear layers and im2col'd
// 3x3 convolutions with u8 activations (per-tensor zero point) and s8 weights (symmetric per output
// channel): acc[m,n] = sum_k (A[m,k] - a_zero_point) * B[k,n], exact in int32, then an epilogue
// that dequantizes (acc * multiplier[n] + bias[n]), applies the fused activation and residual add
// and writes float, or re-quantizes to u8 for the next int8 GEMM. B is packed once at load into
// column panels like the fp32 GEMM's (gemm.h), with K in dot groups (4 bytes for VNNI vpdpbusd and
// NEON sdot, 2 widened int16 elsewhere) and the column sums the zero point needs. Micro-kernels:
// qgemm_u8s8_8x48c4__AVX3_DL (VNNI), 6x16c4__AVX2_VNNI (AVX-VNNI), 8x48c2__AVX3 / 6x16c2__AVX2 /
// 6x8c2__SSE4 (exact int16 products), 8x8c4__NEON_DOTPROD, 4x12c2__NEON (no dotprod),
// 4x8c2__EMU128.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "kernels/ref/ref_kernels.h"

namespace effi::kernels {

// How B is laid out for one micro-kernel: column chunks of panel_vecs vectors of `lanes` int32
// columns, K padded to `group` and stored [K / group][chunk width][group] as int8 (elem_bytes 1)
// or int16 (elem_bytes 2).
struct QGemmFormat {
  int32_t lanes = 0, panel_vecs = 0, group = 0, elem_bytes = 0;
  bool operator==(const QGemmFormat&) const = default;
};

struct AlignedFreeBytes {
  void operator()(uint8_t* p) const;
};

class PackedBQ8 {
 public:
  // Packs s8 B[k][n] (row stride ldb), or B^T when trans_b (B given as [n][k], e.g. ONNX Conv
  // weights [Cout][Cin*kh*kw]), for the active ISA.
  PackedBQ8(const int8_t* b, int64_t k, int64_t n, int64_t ldb, bool trans_b = false);
  int64_t k() const { return k_; }
  int64_t n() const { return n_; }
  // Column units for 2-D splits, as PackedB's: unit p covers [unit_begin(p), unit_begin(p + 1)).
  int64_t lanes() const { return format_.lanes; }
  int64_t units() const { return (n_ + lanes() - 1) / lanes(); }
  int64_t unit_begin(int64_t p) const { return std::min(p * lanes(), n_); }
  const QGemmFormat& format() const { return format_; }
  // sum_k B[k][j] per column (zero beyond n, up to the padded width).
  const int32_t* column_sums() const { return column_sums_; }
  const uint8_t* data() const { return data_; }

 private:
  int64_t k_, n_;
  QGemmFormat format_;
  std::unique_ptr<uint8_t[], AlignedFreeBytes> storage_;  // column sums, then the chunks
  const int32_t* column_sums_ = nullptr;
  const uint8_t* data_ = nullptr;
};

// Per output element, in this order (ref::qgemm_epilogue_f32 is the oracle):
//   v = acc * multiplier[n] + bias[n]
//   v = FakeQuant(v; fq_scale, fq_zero_point)  (if fq_scale != 0)
//   y = act(v + post_bias[n]) * post_scale[n] + residual[m][n]
// then y as float, or quantized to u8. The fq / post_* steps are ONNX Runtime's quantize_static
// layout, which puts a QuantizeLinear -> DequantizeLinear pair on every Conv / MatMul output: a
// MatMul's bias Add and EfficientFormer's layer scale then come after that pair.
struct QGemmEpilogue {
  const float* multiplier = nullptr;  // [n]: a_scale * w_scale[n] (null: 1)
  const float* bias = nullptr;        // [n]
  ref::Activation act = ref::Activation::kNone;
  const float* residual = nullptr;  // [m][ldr], added after the activation (and post_scale)
  int64_t ldr = 0;
  // u8 output only: q = saturate_0_255(round_half_even(y / out_scale) + out_zero_point).
  float out_scale = 1.0f;
  int32_t out_zero_point = 0;
  // Fake quantization of acc * multiplier + bias: (saturate_0_255(round_half_even(v / fq_scale) +
  // fq_zero_point) - fq_zero_point) * fq_scale, NaN -> 0, as QuantizeLinear -> DequantizeLinear
  // (u8, fq_zero_point 0..255; fq_scale finite and > 0, as the ops check it). 0: no fake-quant
  // step. The optimised kernels fold 1 / fq_scale into multiplier and bias, so where v / fq_scale
  // is within a rounding of a tie they may give the neighbouring step.
  float fq_scale = 0.0f;
  int32_t fq_zero_point = 0;
  const float* post_bias = nullptr;   // [n]: added after the fake quantization (null: 0)
  const float* post_scale = nullptr;  // [n]: multiplies act(...) before the residual (null: 1)
  // u8 output only: a byte map applied to the quantized output, C = lut[q] ([256]; null: none).
  // It turns fake-quant -> activation -> quantize (the QDQ layout's Conv -> Q -> DQ -> GELU -> Q)
  // into the plain epilogue quantizing to the fake-quant grid, then one table lookup: the
  // activation of each of the 256 codes is computed once, at load, by the reference.
  const uint8_t* lut = nullptr;
};

// Block [m_begin, m_end) x [n_begin, n_end) of C for u8 A [m][lda] with zero point a_zero_point
// (0..255). As GemmPacked: any M split is valid, n_begin must be a multiple of b.lanes(), n_end is
// clamped to b.n(). C is float (y of QGemmEpilogue), u8 (y quantized with out_scale /
// out_zero_point) or int32 (the raw accumulators, for MatMulInteger / ConvInteger and tests; no
// epilogue).
void QGemmPacked(int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end, const uint8_t* a,
                 int64_t lda, int32_t a_zero_point, const PackedBQ8& b, float* c, int64_t ldc,
                 const QGemmEpilogue& ep);
void QGemmPacked(int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end, const uint8_t* a,
                 int64_t lda, int32_t a_zero_point, const PackedBQ8& b, uint8_t* c, int64_t ldc,
                 const QGemmEpilogue& ep);
void QGemmPacked(int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end, const uint8_t* a,
                 int64_t lda, int32_t a_zero_point, const PackedBQ8& b, int32_t* c, int64_t ldc);

// Int8 weights recovered from float ones. A QDQ model's weights reach the graph as float
// constants (constant folding turns DequantizeLinear(int8 q, scale) into w = q * scale, and the
// passes may fold a BatchNorm or layer scale into them, which scales whole output channels), so
// the int8 path asks whether they are still exactly such a grid: each output channel c is
// w[c][i] = q[c][i] * scale[c] with q in [-127, 127] and max|q| = 127 (symmetric per-channel
// weights as effi's and ONNX Runtime's quantizers write them: scale = max|w| / 127), or the whole
// tensor with one scale (per-tensor weights). Then the int8 GEMM on q computes what the float
// GEMM on w does, up to float rounding. Tolerance |w / scale - q| <= 1e-3: a grid off by float
// rounding through two folds is within 1e-4, while random float weights pass with odds of about
// 0.002 per element. Weight element (c, i) is w[c * ch_stride + i * k_stride].
struct Int8Grid {
  std::vector<float> scale;  // [channels]; 0 for an all-zero channel
  std::vector<int8_t> q;     // [channels][k]
};
std::optional<Int8Grid> FindInt8Grid(const float* w, int64_t channels, int64_t k, int64_t ch_stride,
                                     int64_t k_stride);

// y = (QuantizeU8(x) - zero_point) * scale: a QuantizeLinear -> DequantizeLinear pair (u8 terms),
// float to float; y may be x. On the active ISA unless `reference` (ref::quantize_linear_u8; the
// two are bit-exact).
void FakeQuantF32(int64_t count, const float* x, float scale, int32_t zero_point, float* y,
                  bool reference = false);

// y[i] = lut[x[i]] (lut: 256 bytes; y may be x): QGemmEpilogue::lut's lookup on the active ISA,
// or a plain loop when `reference`.
void LookupU8(int64_t count, const uint8_t* x, const uint8_t* lut, uint8_t* y,
              bool reference = false);

// Name of the micro-kernel for the active ISA, e.g. "qgemm_u8s8_8x48c4__AVX3_DL".
const char* QGemmKernelName();

// Tests: the Highway targets this kernel was compiled for and the CPU supports. Unlike
// AvailableTargets(), it includes AVX3_DL (compiled only here, for VNNI).
std::vector<int64_t> QGemmTargets();

}  // namespace effi::kernels
