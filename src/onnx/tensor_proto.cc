// TensorProto file loading: protobuf parse, then ConvertTensor (onnx/convert.h) and a copy into the
// public effi::Tensor.
#include "onnx/tensor_proto.h"

#include <fmt/format.h>
#include <google/protobuf/io/coded_stream.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>

#include "onnx/convert.h"

namespace effi::onnx_io {
ElementType PublicType(DType t) {
  switch (t) {
    case DType::kF32:
      return ElementType::kFloat32;
    case DType::kI64:
      return ElementType::kInt64;
    case DType::kI32:
      return ElementType::kInt32;
    case DType::kI8:
      return ElementType::kInt8;
    case DType::kU8:
      return ElementType::kUInt8;
    case DType::kBool:
      return ElementType::kBool;
    default:
      return ElementType::kUndefined;
  }
}

Tensor LoadTensorProtoFromMemory(const void* data, size_t size,
                                 const std::string& name_for_errors) {
  if (size > static_cast<size_t>(std::numeric_limits<int>::max()))
    throw Error(ErrorCode::kInvalidModel,
                fmt::format("{}: TensorProto larger than 2 GiB", name_for_errors));
  onnx::TensorProto proto;
  google::protobuf::io::CodedInputStream in(static_cast<const uint8_t*>(data),
                                            static_cast<int>(size));
  if (!proto.ParseFromCodedStream(&in) || !in.ConsumedEntireMessage())
    throw Error(
        ErrorCode::kInvalidModel,
        fmt::format("{}: not a valid ONNX TensorProto (protobuf parse failed)", name_for_errors));
  if (proto.data_location() == onnx::TensorProto::EXTERNAL)
    throw Error(ErrorCode::kUnsupported,
                fmt::format("{}: external data is not supported", name_for_errors));
  ConstTensor t = ConvertTensor(ImportContext{name_for_errors, ""}, proto, name_for_errors);
  Tensor out;
  out.type = PublicType(t->dtype());
  if (out.type == ElementType::kUndefined)
    throw Error(ErrorCode::kInternal, fmt::format("{}: no public element type for {}",
                                                  name_for_errors, DTypeName(t->dtype())));
  out.shape = t->shape();
  const auto* bytes = static_cast<const uint8_t*>(t->data());
  out.bytes.assign(bytes, bytes + t->bytes());
  return out;
}

Tensor LoadTensorProtoFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw Error(ErrorCode::kIo, fmt::format("tensor file '{}' not found", path));
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(ErrorCode::kIo, fmt::format("cannot open tensor file '{}'", path));
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return LoadTensorProtoFromMemory(bytes.data(), bytes.size(), path);
}

}  // namespace effi::onnx_io
