// Standalone ONNX TensorProto files (the input_K.pb / output_K.pb of ONNX's conformance test data)
// as effi::Tensor, through the same conversion model import uses for initializers.
#pragma once

#include <cstddef>
#include <string>

#include "effi/effi.hpp"
#include "graph/tensor.h"

namespace effi::onnx_io {

// The public element type of an internal DType (kUndefined for none).
ElementType PublicType(DType t);

// Parses a serialized onnx.TensorProto. float and double become float32; int64, int32, int8, uint8
// and bool keep their type; raw_data and the typed fields are both accepted (external data is not).
// Throws effi::Error: kIo (unreadable file), kInvalidModel (malformed), kUnsupported (other types).
Tensor LoadTensorProtoFile(const std::string& path);
Tensor LoadTensorProtoFromMemory(const void* data, size_t size,
                                 const std::string& name_for_errors = "<memory>");

}  // namespace effi::onnx_io
