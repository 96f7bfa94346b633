// Plain reference kernels: obviously-correct scalar loops, no SIMD, no threads. They are the oracle
// that optimized kernels are tested against and the fallback the executor runs when none exists.
#pragma once

#include <cstdint>
#include <vector>

// Kernels know nothing about ONNX or the graph: every entry point takes plain pointers, sizes and
// small param structs. All sizes and indices are int64_t so that products of dims never overflow
// 32 bits. Callers guarantee the buffers are large enough and that params are consistent (output
// sizes match the input sizes, pads, strides); the kernels do not re-validate.
namespace effi::kernels::ref {

// ---- convolution (2-D; callers handle 1-D convs as H = 1) ---------------------------------------

// Dilation and groups default to 1 so that a designated initializer may omit them; every other
// field must be set by the caller.
struct Conv2dParams {
  int64_t n, c_in, h_in, w_in, c_out, h_out, w_out, kh, kw, stride_h, stride_w, pad_top, pad_left;
  int64_t dil_h = 1, dil_w = 1, groups = 1;
};

// x NCHW, w OIHW ([c_out][c_in/groups][kh][kw], the ONNX layout), bias nullable [c_out], y NCHW.
// Accumulates in double: this is the oracle, so its own rounding error should be negligible.
void conv2d_nchw_f32(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                     float* y);

// x NHWC, w OHWI ([c_out][kh][kw][c_in/groups]), bias nullable, y NHWC. Channels-last is effi's
// internal activation layout.
void conv2d_nhwc_f32(const Conv2dParams& p, const float* x, const float* w, const float* bias,
                     float* y);

// Reorders ONNX OIHW weights to OHWI.
void weights_oihw_to_ohwi_f32(int64_t c_out, int64_t c_in_per_group, int64_t kh, int64_t kw,
                              const float* src, float* dst);

// ---- pooling ------------------------------------------------------------------------------------

// Output sizes (including ceil_mode rounding) are computed by the caller. Semantics follow ONNX
// (and onnxruntime / PyTorch): a window covers taps start + i*dil for i < k, with start =
// o*stride - pad_begin. Only in-bounds taps contribute to sums and maxima. For the average divisor,
// count_include_pad = false counts the in-bounds taps; count_include_pad = true counts the taps
// inside the padded input [-pad_begin, in + pad_end), so a ceil_mode window that runs past the
// bottom/right pad is not charged for the overhang. A window with no in-bounds tap yields 0 for
// average pooling and -inf for max pooling.
struct Pool2dParams {
  int64_t n, c, h_in, w_in, h_out, w_out, kh, kw, stride_h, stride_w, pad_top, pad_left, pad_bottom,
      pad_right, dil_h = 1, dil_w = 1;
  bool count_include_pad = false;
};

void avgpool2d_nchw_f32(const Pool2dParams& p, const float* x, float* y);
void avgpool2d_nhwc_f32(const Pool2dParams& p, const float* x, float* y);
// Max pooling propagates NaN (as numpy.max would over the window's real elements).
void maxpool2d_nchw_f32(const Pool2dParams& p, const float* x, float* y);
// y is [n][c] in both layouts.
void global_avgpool_nchw_f32(int64_t n, int64_t c, int64_t hw, const float* x, float* y);
void global_avgpool_nhwc_f32(int64_t n, int64_t hw, int64_t c, const float* x, float* y);

// ---- matrix multiply ----------------------------------------------------------------------------

// C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, row-major with leading dims (op(A) = A^T
// when trans_a, so A is stored [K][lda]). beta == 0 means C is not read (it may hold NaN).
// Accumulates in double because it is the oracle.
void gemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
              int64_t ldc);

// ---- fused epilogue -----------------------------------------------------------------------------

enum class Activation { kNone, kRelu, kGelu /* exact erf GELU */ };

// In place on y[rows][cols] (cols = channels, the last dim):
//   y = act(y + bias[col]) + residual[row * cols + col]; bias and residual are nullable.
// NaN propagates through every activation (ReLU(NaN) = NaN, like Max/Min, max pooling and
// ReduceMax here: IEEE-754 2019 maximum, numpy.maximum); the optimised kernels match on every ISA.
void epilogue_f32(int64_t rows, int64_t cols, const float* bias, Activation act,
                  const float* residual, float* y);

// ---- head mixing ("talking heads") -------------------------------------------------------------

// y[g][i] = bias[g] + add[g][i] + sum_h w[g * heads + h] * x[h][i] for g, h < heads, i < n, summed
// in that order (bias and add nullable: 0). Row g of y starts at y + g * y_stride, of x at
// x + h * x_stride, of add at add + g * add_stride. y must not overlap x. EfficientFormerV2's 1x1
// convolutions across attention heads, on [heads][n] maps.
void head_mix_f32(int64_t heads, int64_t n, const float* w, const float* bias, const float* x,
                  int64_t x_stride, const float* add, int64_t add_stride, float* y,
                  int64_t y_stride);

// ---- elementwise --------------------------------------------------------------------------------

enum class UnaryOp {
  kIdentity,
  kRelu,
  kNeg,
  kAbs,
  kSqrt,
  kExp,
  kLog,
  kErf,
  kGelu,
  kSigmoid,
  kTanh,
  kReciprocal,
  kFloor,
  kCeil
};

// y may alias x (in-place is fine: each element is read before it is written).
void unary_f32(UnaryOp op, const float* x, float* y, int64_t n);

enum class BinaryOp { kAdd, kSub, kMul, kDiv, kPow, kMax, kMin };

// Numpy broadcasting over a rank-r output of shape out_shape: a_strides / b_strides are in
// ELEMENTS per output dim (0 where that input is broadcast). rank 0 means one scalar element.
// Floats: Pow follows std::pow; Max/Min propagate NaN (numpy.maximum semantics).
// Integers: Add/Sub/Mul/Pow wrap modulo 2^bits instead of invoking signed-overflow UB; Div
// truncates toward zero like C, and since ONNX leaves x/0 undefined it yields 0 here rather than
// trapping (INT_MIN / -1 wraps to INT_MIN); Pow is exact integer power, and a negative exponent
// gives the truncated result (1 for base 1, +-1 for base -1, 0 otherwise; 0 ** negative yields 0).
// Explicitly instantiated for float, int64_t and int32_t in elementwise.cc.
template <typename T>
void binary_broadcast(BinaryOp op, int rank, const int64_t* out_shape, const T* a,
                      const int64_t* a_strides, const T* b, const int64_t* b_strides, T* y);

extern template void binary_broadcast<float>(BinaryOp, int, const int64_t*, const float*,
                                             const int64_t*, const float*, const int64_t*, float*);
extern template void binary_broadcast<int64_t>(BinaryOp, int, const int64_t*, const int64_t*,
                                               const int64_t*, const int64_t*, const int64_t*,
                                               int64_t*);
extern template void binary_broadcast<int32_t>(BinaryOp, int, const int64_t*, const int32_t*,
                                               const int64_t*, const int32_t*, const int64_t*,
                                               int32_t*);

// Broadcast strides (elements) of an input of shape in_shape (in_rank <= out_rank, right-aligned
// against out_shape) for an output of rank out_rank; writes out_rank strides, 0 where the input dim
// is missing or 1.
void broadcast_strides(int in_rank, const int64_t* in_shape, int out_rank, const int64_t* out_shape,
                       int64_t* strides);

// ---- reductions ---------------------------------------------------------------------------------

enum class ReduceOp { kMean, kSum, kMax, kMin, kProd, kSumSquare, kL2 };

// Reduces x (shape in_shape) over the axes with axes_mask[d] == true. y holds the kept dims in
// order (keepdims only changes the shape, which is the caller's business). Accumulates in double.
// An empty reduction set yields the identity: Sum 0, Prod 1, Max -inf, Min +inf, Mean NaN.
// Max/Min propagate NaN.
void reduce_f32(ReduceOp op, int rank, const int64_t* in_shape, const bool* axes_mask,
                const float* x, float* y);

// ---- softmax ------------------------------------------------------------------------------------

// Softmax / log-softmax over the middle axis of [outer][axis_len][inner]; numerically stable
// (subtracts the max), sums in double.
void softmax_f32(int64_t outer, int64_t axis_len, int64_t inner, const float* x, float* y);
void log_softmax_f32(int64_t outer, int64_t axis_len, int64_t inner, const float* x, float* y);

// ---- normalization ------------------------------------------------------------------------------

// LayerNorm over the last `cols` elements of each row; gamma/beta nullable [cols]. mean and the
// population variance are computed in double; y = (x - mean) / sqrt(var + eps) * gamma + beta.
// mean_out / inv_std_out [rows] are written when non-null (ONNX LayerNormalization's optional
// outputs Mean and InvStdDev).
void layernorm_f32(int64_t rows, int64_t cols, const float* x, const float* gamma,
                   const float* beta, float eps, float* y, float* mean_out, float* inv_std_out);

// BatchNorm inference: y = (x - mean[c]) / sqrt(var[c] + eps) * scale[c] + bias[c].
// On [n][c][inner] (NCHW, inner = H*W) ...
void batchnorm_nchw_f32(int64_t n, int64_t c, int64_t inner, const float* x, const float* scale,
                        const float* bias, const float* mean, const float* var, float eps,
                        float* y);
// ... and on [rows][c] (channels-last).
void batchnorm_nhwc_f32(int64_t rows, int64_t c, const float* x, const float* scale,
                        const float* bias, const float* mean, const float* var, float eps,
                        float* y);

// ---- layout / data movement (dtype-agnostic: elements are elem_size bytes) ----------------------

// y.shape[i] = in_shape[perm[i]]; y is contiguous. x and y must not overlap.
void transpose(int64_t elem_size, int rank, const int64_t* in_shape, const int64_t* perm,
               const void* x, void* y);
void nchw_to_nhwc_f32(int64_t n, int64_t c, int64_t hw, const float* x, float* y);
void nhwc_to_nchw_f32(int64_t n, int64_t hw, int64_t c, const float* x, float* y);

// Copies a strided N-d view into contiguous y of the given shape: element idx of y comes from
// x[x_offset + sum(idx[d] * x_strides[d])] (offset and strides in elements; strides may be negative
// or 0). Used by Slice, Gather and Expand.
void strided_copy(int64_t elem_size, int rank, const int64_t* shape, const void* x,
                  int64_t x_offset, const int64_t* x_strides, void* y);

// ---- fused blocks -------------------------------------------------------------------------------

// EfficientFormer's pooling token mixer on NHWC [n][h][w][c]: y = x + scale[c] * (avg - x) with
// avg = avgpool2d_nhwc_f32 (pool_size x pool_size, stride 1, pad pool_size / 2, pool_size odd,
// count_include_pad = false); scale nullable (= ones). Composed from the kernels above exactly as
// the unfused graph computes it (AvgPool, then Sub, Mul, Add in float).
void pool_mixer_nhwc_f32(int64_t n, int64_t h, int64_t w, int64_t c, int64_t pool_size,
                         const float* x, const float* scale, float* y);

// ---- int8 GEMM (quantized path) -----------------------------------------------------------------

// acc[i][j] = sum_k (a[i][k] - a_zero_point) * b[k][j] in exact integer arithmetic; a is u8
// [m][lda], b is s8 [k][ldb] (or [n][ldb] when trans_b), acc is int32 [m][ldacc].
void qgemm_u8s8_s32(bool trans_b, int64_t m, int64_t n, int64_t k, const uint8_t* a, int64_t lda,
                    int32_t a_zero_point, const int8_t* b, int64_t ldb, int32_t* acc,
                    int64_t ldacc);
// The int8 GEMM's epilogue in float (kernels::QGemmEpilogue), per element, in this order:
//   v = float(acc[i][j]) * multiplier[j] + bias[j]
//   v = (quantize_linear_u8(v; fq_scale, fq_zero_point) - fq_zero_point) * fq_scale  (if != 0)
//   y[i][j] = act(v + post_bias[j]) * post_scale[j] + residual[i * ldr + j]
// multiplier and post_scale null = 1, bias, post_bias and residual nullable, fq_scale 0 = no
// fake quantization (a QuantizeLinear -> DequantizeLinear pair); acc and y [rows][cols].
void qgemm_epilogue_f32(int64_t rows, int64_t cols, const int32_t* acc, const float* multiplier,
                        const float* bias, float fq_scale, int32_t fq_zero_point,
                        const float* post_bias, Activation act, const float* post_scale,
                        const float* residual, int64_t ldr, float* y);
// ONNX QuantizeLinear to u8: y = saturate_0_255(nearbyint(x / scale) + zero_point), rounding half
// to even; NaN gives zero_point.
void quantize_linear_u8(int64_t count, const float* x, float scale, int32_t zero_point, uint8_t* y);

// ---- Resize / Pad (resize_pad.cc) ---------------------------------------------------------------

// How an output index maps to a source coordinate along one axis (ONNX Resize's
// coordinate_transformation_mode; kOpset10 is opset-10 Resize: asymmetric).
enum class ResizeCoord {
  kHalfPixel,
  kHalfPixelSymmetric,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfHalfPixelForNn,
  kTfCropAndResize,
};
// Rounding of the source coordinate in nearest mode. kSimple is opset-10 Resize as ONNX Runtime
// runs it: floor when the axis is upsampled, ceil when it is downsampled.
enum class ResizeNearest { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil, kSimple };
struct ResizeAxis {
  int64_t in = 1, out = 1;
  // The axis' scale as the coordinate formulas use it: the `scales` value, or out / in for sizes.
  double scale = 1.0;
  // in * scale: the "length_resized" of align_corners / pytorch_half_pixel, not rounded, as ONNX's
  // reference resize and its conformance data have it (with sizes it is exactly `out`). ONNX
  // Runtime uses the rounded `out` instead: the two differ only where in * scale is fractional
  // (align_corners at scales 0.6 x 0.7 of a 3x5 input: outputs 0.2 apart for values in [0, 1)).
  double resized_length = 1.0;
  double roi_start = 0.0, roi_end = 1.0;  // tf_crop_and_resize only, normalised to [0, 1]
};
struct ResizeParams {
  bool linear = false;  // else nearest
  ResizeCoord coord = ResizeCoord::kHalfPixel;
  ResizeNearest nearest = ResizeNearest::kRoundPreferFloor;
  float extrapolation_value = 0.0f;  // tf_crop_and_resize: outputs whose source lies outside
  std::vector<ResizeAxis> axes;      // one per input axis
};
// Source coordinate (in input elements) of output index x along `a`.
double resize_source_coord(const ResizeParams& p, const ResizeAxis& a, int64_t x);
// One axis' sampling of output index x: y uses w0 * x[i0] + w1 * x[i1] along it (nearest: i1 = i0,
// w1 = 0); indices are clamped to [0, in - 1], which is ONNX's edge padding. `outside` when
// tf_crop_and_resize's coordinate falls outside the input (the output is extrapolation_value).
struct ResizeTap {
  int64_t i0 = 0, i1 = 0;
  double w1 = 0.0;
  bool outside = false;
};
ResizeTap resize_tap(const ResizeParams& p, const ResizeAxis& a, int64_t x);
// ONNX Resize (nearest or linear) of x [axes[].in] into y [axes[].out], float32, any rank; linear
// interpolates along every axis whose tap has w1 != 0, the last axis first (as ONNX's reference).
void resize_f32(const ResizeParams& p, const float* x, float* y);

enum class PadMode { kConstant, kReflect, kEdge, kWrap };
// ONNX Pad of x [in_shape] into y, y.shape[d] = in_shape[d] + pad_begin[d] + pad_end[d]. A
// negative pad crops that end first (as ONNX Runtime does), and the rest pads the cropped axis:
// its output index o reads cropped index o - max(pad_begin, 0); one outside the cropped axis
// takes `value` (kConstant, elem_size bytes), is reflected without repeating the edge (kReflect,
// numpy's 'reflect', folded as often as needed), clamped (kEdge) or taken modulo its length
// (kWrap). A cropped axis of length 0 that is padded needs kConstant (the caller checks).
// Elements are elem_size raw bytes.
void pad(int64_t elem_size, int rank, const int64_t* in_shape, const int64_t* pad_begin,
         const int64_t* pad_end, PadMode mode, const void* value, const void* x, void* y);
// The index that output index o reads along an axis of `in` elements padded by pad_begin >= 0
// before it, or -1 for the constant value (as pad() above, after its crop).
int64_t pad_source_index(PadMode mode, int64_t in, int64_t pad_begin, int64_t o);

}  // namespace effi::kernels::ref
