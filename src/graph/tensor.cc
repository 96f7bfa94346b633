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

std::shared_ptr<const TensorData> TensorData::FromInt8(Int8Source src) {
  if (!src.q || src.q->dtype() != DType::kI8 || src.scale.empty() ||
      (src.scale.size() > 1 &&
       (src.axis < 0 || static_cast<size_t>(src.axis) >= src.q->shape().size() ||
        static_cast<int64_t>(src.scale.size()) != src.q->shape()[src.axis])))
    throw Error(ErrorCode::kInternal, "FromInt8: inconsistent int8 source");
  auto r = std::make_shared<TensorData>(DType::kF32, Shape{}, false);
  r->shape_ = src.q->shape();
  r->elements_ = src.q->elements();
  r->storage_.reset();
  r->int8_ = std::make_shared<const Int8Source>(std::move(src));
  return r;
}

void TensorData::Materialize() const {
  std::call_once(materialized_, [this] {
    size_t alloc = bytes();
    void* p = util::AllocAligned(&alloc);
    if (!p) throw Error(ErrorCode::kInternal, "out of memory allocating a tensor");
    const Int8Source& src = *int8_;
    const int8_t* q = src.q->as<int8_t>();
    float* y = static_cast<float*>(p);
    // Blocks of `inner` elements share a scale: [outer][channels][inner] around the axis.
    int64_t channels = 1, inner = 1;
    if (src.scale.size() > 1) {
      channels = shape_[src.axis];
      for (size_t d = static_cast<size_t>(src.axis) + 1; d < shape_.size(); ++d) inner *= shape_[d];
    } else {
      inner = elements_;
    }
    // As ref::dequantize_linear computes it (zero point 0), so the values are the same bits.
    for (int64_t i = 0; i < elements_; ++i)
      y[i] = static_cast<float>(int64_t{q[i]}) * src.ScaleAt(i / inner % channels);
    storage_ = std::shared_ptr<void>(p, [](void* v) { std::free(v); });
  });
}

ConstTensor Reshaped(const ConstTensor& t, Shape shape) {
  if (NumElements(shape) != t->elements())
    throw Error(ErrorCode::kInternal, "Reshaped: element count differs");
  if (const Int8Source* src = t->int8_source()) {
    Int8Source moved{Reshaped(src->q, shape), src->scale, 0};
    bool kept = src->scale.size() == 1;
    int64_t before = 1;  // product of the dims before the scale axis
    for (int d = 0; !kept && d < src->axis; ++d) before *= t->shape()[d];
    int64_t prefix = 1;
    for (size_t d = 0; !kept && d < shape.size(); ++d) {
      if (prefix == before && shape[d] == t->shape()[src->axis]) {
        moved.axis = static_cast<int>(d);
        kept = true;
      }
      prefix *= shape[d];
    }
    if (kept) return TensorData::FromInt8(std::move(moved));
  }
  auto r = std::make_shared<TensorData>(t->dtype(), Shape{}, false);
  r->shape_ = std::move(shape);
  r->elements_ = t->elements();
  t->data();  // an int8-backed tensor whose axis did not survive: its float values, shared
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
