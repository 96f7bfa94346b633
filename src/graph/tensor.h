// Tensor basics shared by every layer: element types, shapes with overflow-checked sizes, and
// immutable constant buffers (weights) that several compiled plans and sessions share.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "effi/error.hpp"

namespace effi {

// Element types. Int8/uint8/int32 are here so the int8 path (QDQ import, quantized kernels) fits
// without touching the IR.
enum class DType : uint8_t { kUndefined, kF32, kI64, kI32, kI8, kU8, kBool };

const char* DTypeName(DType t);
size_t DTypeSize(DType t);

using Shape = std::vector<int64_t>;

// Upper bound on elements of any tensor we agree to materialise (2^31, 8 GiB of fp32): a hostile
// model claiming more is rejected before any allocation.
inline constexpr int64_t kMaxTensorElements = int64_t{1} << 31;

// Number of elements; throws kInvalidModel on negative dims or when the product of the non-zero
// dims exceeds kMaxTensorElements (a zero-sized [0, 2^62, 2^62] is refused too). So for a shape
// that passed, the product of any subset of its dims fits in int64 with room to spare.
int64_t NumElements(const Shape& shape, const char* what = "tensor");
std::string ShapeStr(const Shape& shape);

// Overflow-checked int64 arithmetic for sizes computed from attributes or constants (signed
// overflow is undefined behaviour): *out = a op b, false when the exact result does not fit.
[[nodiscard]] inline bool CheckedAdd(int64_t a, int64_t b, int64_t* out) {
  return !__builtin_add_overflow(a, b, out);
}
[[nodiscard]] inline bool CheckedMul(int64_t a, int64_t b, int64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}

// Float -> integer conversion where C++'s static_cast would be undefined (NaN, +-inf, out of
// range). ONNX leaves Cast of such values undefined and numpy gives whatever the CPU does (x86:
// INT_MIN, "integer indefinite", for NaN and overflow alike; ARM64: saturation, NaN -> 0). effi
// picks one rule on every path (Cast kernels, constant folding, shape-like constants): truncate
// toward zero, saturate to the type's range (1e30 -> INT64_MAX, -inf -> INT64_MIN, 300 -> 127 for
// int8, -1 -> 0 for uint8), NaN -> 0. That is ARM64's hardware rule and Rust's `as`.
template <class I>
I SaturatingFloatToInt(double v) {
  static_assert(std::is_integral_v<I>);
  if (std::isnan(v)) return I{0};
  constexpr double lo = static_cast<double>(std::numeric_limits<I>::min());  // exact: 0 or -2^k
  constexpr double hi = static_cast<double>(std::numeric_limits<I>::max() / 2 + 1) * 2.0;  // 2^k
  if (v <= lo) return std::numeric_limits<I>::min();
  if (v >= hi) return std::numeric_limits<I>::max();
  return static_cast<I>(v);  // in (lo, hi): the truncated value is representable
}

class TensorData;
using ConstTensor = std::shared_ptr<const TensorData>;

// Symmetric int8 weights behind a float32 tensor: element i is float(q[i]) * scale[c], c being
// i's index along `axis` (a single scale: per tensor), exactly what DequantizeLinear of int8
// weights with zero zero points computes. A QDQ model's weights are folded into such tensors
// (ops::FoldInt8Dequantize) instead of float copies: the int8 path packs q directly and the 4x
// larger float values are only computed if a float consumer reads them (L1: 12 MB of weights
// instead of 48 MB between load and packing).
struct Int8Source {
  ConstTensor q;             // int8, the float tensor's shape
  std::vector<float> scale;  // [shape[axis]] or [1]
  int axis = 0;
  float ScaleAt(int64_t c) const { return scale.size() == 1 ? scale[0] : scale[c]; }
};

// A dense, row-major, immutable tensor (initializers, folded constants). 64-byte aligned storage.
class TensorData {
 public:
  TensorData(DType dtype, Shape shape, bool zero = true);  // zero-initialised unless told
  // A float32 tensor with `src`'s values, computed on the first data() (once, thread-safe).
  static std::shared_ptr<const TensorData> FromInt8(Int8Source src);
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t elements() const { return elements_; }
  size_t bytes() const { return static_cast<size_t>(elements_) * DTypeSize(dtype_); }
  const void* data() const {
    if (int8_) Materialize();
    return storage_.get();
  }
  void* mutable_data() { return storage_.get(); }
  // The int8 weights this float tensor is computed from (null for a plain tensor).
  const Int8Source* int8_source() const { return int8_.get(); }
  // Whether data() is non-null (false after DataReleased), without computing anything.
  bool has_data() const { return storage_ || int8_; }
  // Identifies the bytes behind this tensor, shared by its Reshaped views (null: none).
  const void* identity() const { return int8_ ? int8_->q.get() : storage_.get(); }
  template <typename T>
  const T* as() const {
    return static_cast<const T*>(data());
  }
  template <typename T>
  T* mutable_as() {
    return static_cast<T*>(mutable_data());
  }
  // Int64 contents as a vector (for shape-like tensors); converts int32 too.
  std::vector<int64_t> ToInt64Vector() const;
  std::vector<float> ToFloatVector() const;

 private:
  friend ConstTensor Reshaped(const ConstTensor& t, Shape shape);
  friend ConstTensor DataReleased(const ConstTensor& t);
  void Materialize() const;
  DType dtype_;
  Shape shape_;
  int64_t elements_;
  mutable std::shared_ptr<void> storage_;  // shared by reshaped views; set once for int8_
  std::shared_ptr<const Int8Source> int8_;
  mutable std::once_flag materialized_;
};

std::shared_ptr<TensorData> MakeTensor(DType dtype, Shape shape);
// For tensors the caller fills completely (weights being converted): skips the zero fill.
std::shared_ptr<TensorData> MakeUninitializedTensor(DType dtype, Shape shape);
// The same bytes under another shape (same element count), without copying. An int8-backed
// tensor stays one when its scale axis survives the reshape (same dim, same product before it).
ConstTensor Reshaped(const ConstTensor& t, Shape shape);
// The same dtype and shape with no storage (data() is null): stands in for a weight whose bytes a
// kernel has packed into its own copy, so the original can be freed.
ConstTensor DataReleased(const ConstTensor& t);
ConstTensor MakeInt64Tensor(const std::vector<int64_t>& values, Shape shape);
ConstTensor MakeFloatTensor(const std::vector<float>& values, Shape shape);

}  // namespace effi
