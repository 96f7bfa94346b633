// Tensor basics shared by every layer: element types, shapes with overflow-checked sizes, and
// immutable constant buffers (weights) that several compiled plans and sessions share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
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

// Number of elements; throws kInvalidModel on negative dims or overflow past kMaxTensorElements.
int64_t NumElements(const Shape& shape, const char* what = "tensor");
std::string ShapeStr(const Shape& shape);

class TensorData;
using ConstTensor = std::shared_ptr<const TensorData>;

// A dense, row-major, immutable tensor (initializers, folded constants). 64-byte aligned storage.
class TensorData {
 public:
  TensorData(DType dtype, Shape shape, bool zero = true);  // zero-initialised unless told
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t elements() const { return elements_; }
  size_t bytes() const { return static_cast<size_t>(elements_) * DTypeSize(dtype_); }
  const void* data() const { return storage_.get(); }
  void* mutable_data() { return storage_.get(); }
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
  DType dtype_;
  Shape shape_;
  int64_t elements_;
  std::shared_ptr<void> storage_;  // shared by reshaped views
};

std::shared_ptr<TensorData> MakeTensor(DType dtype, Shape shape);
// For tensors the caller fills completely (weights being converted): skips the zero fill.
std::shared_ptr<TensorData> MakeUninitializedTensor(DType dtype, Shape shape);
// The same bytes under another shape (same element count), without copying.
ConstTensor Reshaped(const ConstTensor& t, Shape shape);
// The same dtype and shape with no storage (data() is null): stands in for a weight whose bytes a
// kernel has packed into its own copy, so the original can be freed.
ConstTensor DataReleased(const ConstTensor& t);
ConstTensor MakeInt64Tensor(const std::vector<int64_t>& values, Shape shape);
ConstTensor MakeFloatTensor(const std::vector<float>& values, Shape shape);

}  // namespace effi
