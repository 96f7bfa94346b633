// Tensor basics: dtype table, checked element counts and aligned constant storage.
#include "graph/tensor.h"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>

#include "util/aligned_alloc.h"

namespace effi {

const char* DTypeName(DType t) {
  switch (t) {
    case DType::kF32:
      return "float32";
    case DType::kI64:
      return "int64";
    case DType::kI32:
      return "int32";
    case DType::kI8:
      return "int8";
    case DType::kU8:
      return "uint8";
    case DType::kBool:
      return "bool";
    default:
      return "undefined";
  }
}

size_t DTypeSize(DType t) {
  switch (t) {
    case DType::kF32:
      return 4;
    case DType::kI64:
      return 8;
    case DType::kI32:
      return 4;
    case DType::kI8:
    case DType::kU8:
    case DType::kBool:
      return 1;
    default:
      return 0;
  }
}

int64_t NumElements(const Shape& shape, const char* what) {
  int64_t n = 1;  // product of the non-zero dims, bounded even when another dim is 0
  bool empty = false;
  for (int64_t d : shape) {
    if (d < 0)
      throw Error(ErrorCode::kInvalidModel,
                  fmt::format("{} has negative dimension in shape {}", what, ShapeStr(shape)));
    if (d == 0) {
      empty = true;
      continue;
    }
    if (n > kMaxTensorElements / d)
      throw Error(
          ErrorCode::kInvalidModel,
          fmt::format("{} shape {} is too large (more than 2^31 elements)", what, ShapeStr(shape)));
    n *= d;
  }
  return empty ? 0 : n;
}

std::string ShapeStr(const Shape& shape) {
  // Shapes come from model files and reach error messages: a rank of millions (fuzz_graph: an
  // Expand whose shape input held 14.6M values) made a 131 MB message that took 11 s to format.
  // Past 16 dims: the first 12, "...", the last 2 and the rank.
  constexpr size_t kShown = 16, kHead = 12, kTail = 2;
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape.size() > kShown && i == kHead) {
      s += ",...";
      i = shape.size() - kTail;
    }
    if (i) s += ',';
    s += std::to_string(shape[i]);
  }
  s += "]";
  if (shape.size() > kShown) s += " (rank " + std::to_string(shape.size()) + ")";
  return s;
}

TensorData::TensorData(DType dtype, Shape shape, bool zero)
    : dtype_(dtype), shape_(std::move(shape)), elements_(NumElements(shape_)) {
  size_t alloc = bytes();
  void* p = util::AllocAligned(&alloc);
  if (!p) throw Error(ErrorCode::kInternal, "out of memory allocating a tensor");
  if (zero) std::memset(p, 0, alloc);
  storage_ = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

namespace {

// Every element converted to Out: float -> integer truncates and saturates, NaN -> 0 (the Cast
// rule, SaturatingFloatToInt); integer -> integer wraps like numpy's astype.
template <class Out>
std::vector<Out> ConvertElements(const TensorData& t, const char* what) {
  std::vector<Out> v(static_cast<size_t>(t.elements()));
  auto copy = [&v](const auto* p) {
    for (size_t i = 0; i < v.size(); ++i) {
      if constexpr (std::is_integral_v<Out> &&
                    std::is_floating_point_v<std::remove_cvref_t<decltype(*p)>>)
        v[i] = SaturatingFloatToInt<Out>(p[i]);
      else
        v[i] = static_cast<Out>(p[i]);
    }
  };
  switch (t.dtype()) {
    case DType::kF32:
      copy(t.as<float>());
      break;
    case DType::kI64:
      copy(t.as<int64_t>());
      break;
    case DType::kI32:
      copy(t.as<int32_t>());
      break;
    case DType::kU8:
    case DType::kBool:
      copy(t.as<uint8_t>());
      break;
    case DType::kI8:
      copy(t.as<int8_t>());
      break;
    default:
      throw Error(ErrorCode::kInternal, fmt::format("{} on undefined tensor", what));
  }
  return v;
}

}  // namespace

std::vector<int64_t> TensorData::ToInt64Vector() const {
  return ConvertElements<int64_t>(*this, "ToInt64Vector");
}

std::vector<float> TensorData::ToFloatVector() const {
  return ConvertElements<float>(*this, "ToFloatVector");
}

std::shared_ptr<TensorData> MakeTensor(DType dtype, Shape shape) {
  return std::make_shared<TensorData>(dtype, std::move(shape));
}

ConstTensor Reshaped(const ConstTensor& t, Shape shape) {
  if (NumElements(shape) != t->elements())
    throw Error(ErrorCode::kInternal, "Reshaped: element count differs");
  auto r = std::make_shared<TensorData>(t->dtype(), Shape{}, false);
  r->shape_ = std::move(shape);
  r->elements_ = t->elements();
  r->storage_ = t->storage_;
  return r;
}

ConstTensor DataReleased(const ConstTensor& t) {
  auto r = std::make_shared<TensorData>(t->dtype(), Shape{}, false);
  r->shape_ = t->shape();
  r->elements_ = t->elements();
  r->storage_.reset();
  return r;
}

std::shared_ptr<TensorData> MakeUninitializedTensor(DType dtype, Shape shape) {
  return std::make_shared<TensorData>(dtype, std::move(shape), false);
}

ConstTensor MakeInt64Tensor(const std::vector<int64_t>& values, Shape shape) {
  auto t = MakeTensor(DType::kI64, std::move(shape));
  if (static_cast<size_t>(t->elements()) != values.size())
    throw Error(ErrorCode::kInternal, "MakeInt64Tensor size mismatch");
  // An empty vector's data() may be null, which memcpy must not be given even for 0 bytes.
  if (!values.empty())
    std::memcpy(t->mutable_data(), values.data(), values.size() * sizeof(int64_t));
  return t;
}

ConstTensor MakeFloatTensor(const std::vector<float>& values, Shape shape) {
  auto t = MakeTensor(DType::kF32, std::move(shape));
  if (static_cast<size_t>(t->elements()) != values.size())
    throw Error(ErrorCode::kInternal, "MakeFloatTensor size mismatch");
  if (!values.empty()) std::memcpy(t->mutable_data(), values.data(), values.size() * sizeof(float));
  return t;
}

}  // namespace effi
