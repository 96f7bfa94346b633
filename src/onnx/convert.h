// Internal to effi_onnx: the TensorProto -> ConstTensor conversion that model import uses for
// initializers and tensor attributes, shared with tensor_proto.cc (standalone TensorProto files).
#pragma once

#include <string>

#include "graph/tensor.h"
#include "onnx.pb.h"

namespace effi::onnx_io {

struct ImportContext {
  std::string model_name;
  std::string base_dir;  // empty: external data not allowed
};

// Validates and converts `t` (raw_data, typed fields, or external data under ctx.base_dir); double
// becomes float32. `what` names the tensor in error messages. Throws kInvalidModel, kUnsupported
// or kIo.
ConstTensor ConvertTensor(const ImportContext& ctx, const onnx::TensorProto& t,
                          const std::string& what);

}  // namespace effi::onnx_io
