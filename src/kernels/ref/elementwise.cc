// Reference elementwise kernels: unary float math and numpy-broadcast binary ops for float, int64
// and int32. Transcendentals are evaluated in double and rounded once, to keep the oracle tight.

#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/ref/ref_kernels.h"

namespace effi::kernels::ref {

namespace {

constexpr double kInvSqrt2 = 0.70710678118654752440;

float unary_one(UnaryOp op, float x) {
  const double xd = x;
  switch (op) {
    case UnaryOp::kIdentity:
      return x;
    case UnaryOp::kRelu:
      return x < 0.0f ? 0.0f : x;  // written this way so NaN propagates
    case UnaryOp::kNeg:
      return -x;
    case UnaryOp::kAbs:
      return std::fabs(x);
    case UnaryOp::kSqrt:
      return std::sqrt(x);
    case UnaryOp::kExp:
      return static_cast<float>(std::exp(xd));
    case UnaryOp::kLog:
      return static_cast<float>(std::log(xd));
    case UnaryOp::kErf:
      return static_cast<float>(std::erf(xd));
    case UnaryOp::kGelu:
      return static_cast<float>(0.5 * xd * (1.0 + std::erf(xd * kInvSqrt2)));
    case UnaryOp::kSigmoid: {
      // The standard stable split: exp only ever sees a non-positive argument, so it cannot
      // overflow, and e / (1 + e) would be inf / inf = NaN for large positive x.
      if (xd >= 0.0) return static_cast<float>(1.0 / (1.0 + std::exp(-xd)));
      const double e = std::exp(xd);
      return static_cast<float>(e / (1.0 + e));
    }
    case UnaryOp::kTanh:
      return static_cast<float>(std::tanh(xd));
    case UnaryOp::kReciprocal:
      return 1.0f / x;
    case UnaryOp::kFloor:
      return std::floor(x);
    case UnaryOp::kCeil:
      return std::ceil(x);
  }
  return x;  // unreachable for valid enum values; keeps -Wreturn-type quiet
}

// NaN-propagating max/min (numpy.maximum / numpy.minimum semantics).
template <typename T>
T max_of(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a)) return a;
    if (std::isnan(b)) return b;
  }
  return a < b ? b : a;
}

template <typename T>
T min_of(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a)) return a;
    if (std::isnan(b)) return b;
  }
  return b < a ? b : a;
}

// Integer power by repeated squaring in unsigned arithmetic, so overflow wraps instead of being UB.
template <typename T>
T int_pow(T base, T exp) {
  using U = std::make_unsigned_t<T>;
  if (exp < 0) {
    // base ** -e truncated toward zero: only |base| == 1 survives. 0 ** negative is a division by
    // zero; 0 keeps it defined.
    if (base == 1) return 1;
    if (base == -1) return (exp % 2 == 0) ? 1 : -1;
    return 0;
  }
  U result = 1;
  U b = static_cast<U>(base);
  U e = static_cast<U>(exp);
  while (e != 0) {
    if (e & 1u) result = static_cast<U>(result * b);
    b = static_cast<U>(b * b);
    e >>= 1;
  }
  return static_cast<T>(result);
}

template <typename T>
T binary_one(BinaryOp op, T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    switch (op) {
      case BinaryOp::kAdd:
        return a + b;
      case BinaryOp::kSub:
        return a - b;
      case BinaryOp::kMul:
        return a * b;
      case BinaryOp::kDiv:
        return a / b;
      case BinaryOp::kPow:
        return std::pow(a, b);
      case BinaryOp::kMax:
        return max_of(a, b);
      case BinaryOp::kMin:
        return min_of(a, b);
    }
  } else {
    // Signed overflow is UB; doing the arithmetic in the unsigned type wraps modulo 2^bits and the
    // conversion back is well defined in C++20.
    using U = std::make_unsigned_t<T>;
    const U ua = static_cast<U>(a);
    const U ub = static_cast<U>(b);
    switch (op) {
      case BinaryOp::kAdd:
        return static_cast<T>(static_cast<U>(ua + ub));
      case BinaryOp::kSub:
        return static_cast<T>(static_cast<U>(ua - ub));
      case BinaryOp::kMul:
        return static_cast<T>(static_cast<U>(ua * ub));
      case BinaryOp::kDiv:
        // x / 0 would trap (SIGFPE) and MIN / -1 overflows; both are undefined in ONNX, so the
        // reference picks 0 and wrap-around respectively.
        if (b == 0) return 0;
        if (b == -1) return static_cast<T>(static_cast<U>(U{0} - ua));
        return a / b;  // C++ truncates toward zero, which is what we want
      case BinaryOp::kPow:
        return int_pow(a, b);
      case BinaryOp::kMax:
        return max_of(a, b);
      case BinaryOp::kMin:
        return min_of(a, b);
    }
  }
  return a;  // unreachable for valid enum values
}

}  // namespace

void unary_f32(UnaryOp op, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = unary_one(op, x[i]);
}

template <typename T>
void binary_broadcast(BinaryOp op, int rank, const int64_t* out_shape, const T* a,
                      const int64_t* a_strides, const T* b, const int64_t* b_strides, T* y) {
  int64_t total = 1;
  for (int d = 0; d < rank; ++d) total *= out_shape[d];
  if (total == 0) return;
  // Odometer over the output index; the input offsets move with it. Since a non-broadcast input
  // has offset == i, y may alias such an input.
  std::vector<int64_t> idx(static_cast<size_t>(rank), 0);
  int64_t ao = 0;
  int64_t bo = 0;
  for (int64_t i = 0; i < total; ++i) {
    y[i] = binary_one(op, a[ao], b[bo]);
    for (int d = rank - 1; d >= 0; --d) {
      ++idx[d];
      ao += a_strides[d];
      bo += b_strides[d];
      if (idx[d] < out_shape[d]) break;
      ao -= a_strides[d] * out_shape[d];
      bo -= b_strides[d] * out_shape[d];
      idx[d] = 0;
    }
  }
}

template void binary_broadcast<float>(BinaryOp, int, const int64_t*, const float*, const int64_t*,
                                      const float*, const int64_t*, float*);
template void binary_broadcast<int64_t>(BinaryOp, int, const int64_t*, const int64_t*,
                                        const int64_t*, const int64_t*, const int64_t*, int64_t*);
template void binary_broadcast<int32_t>(BinaryOp, int, const int64_t*, const int32_t*,
                                        const int64_t*, const int32_t*, const int64_t*, int32_t*);

// out_shape is part of the signature for symmetry with the callers' data; the strides only depend
// on the input shape and the rank difference.
void broadcast_strides(int in_rank, const int64_t* in_shape, int out_rank,
                       const int64_t* /*out_shape*/, int64_t* strides) {
  const int lead = out_rank - in_rank;  // missing leading dims of the input are broadcast
  int64_t stride = 1;
  for (int d = out_rank - 1; d >= 0; --d) {
    const int id = d - lead;
    if (id < 0) {
      strides[d] = 0;
      continue;
    }
    // A size-1 dim is broadcast (stride 0) whatever the output size; when the output dim is also
    // 1 the index is always 0, so the stride does not matter there.
    strides[d] = in_shape[id] == 1 ? 0 : stride;
    stride *= in_shape[id];
  }
}

void head_mix_f32(int64_t heads, int64_t n, const float* w, const float* bias, const float* x,
                  int64_t x_stride, const float* add, int64_t add_stride, float* y,
                  int64_t y_stride) {
  for (int64_t g = 0; g < heads; ++g)
    for (int64_t i = 0; i < n; ++i) {
      float acc = (bias ? bias[g] : 0.0f) + (add ? add[g * add_stride + i] : 0.0f);
      for (int64_t h = 0; h < heads; ++h) acc += w[g * heads + h] * x[h * x_stride + i];
      y[g * y_stride + i] = acc;
    }
}

}  // namespace effi::kernels::ref
