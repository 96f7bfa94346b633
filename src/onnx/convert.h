// Internal to effi_onnx: the TensorProto -> ConstTensor conversion that model import uses for
// initializers and tensor attributes, shared with tensor_proto.cc (standalone TensorProto files).
#pragma once

#include <string>
#include <string_view>

#include "graph/tensor.h"
#include "onnx.pb.h"

namespace effi::onnx_io {

struct ImportContext {
  std::string model_name;
  std::string base_dir;  // empty: external data not allowed
  // When the model bytes are a mapping of file `fd` starting at `file_base`, raw data inside the
  // mapping is read with pread straight into the tensor: the mapped pages are never touched, so
  // the file neither faults in page by page nor stays resident next to the weights.
  int fd = -1;
  const char* file_base = nullptr;
  size_t file_size = 0;
};

// Validates and converts `t` (raw_data, typed fields, or external data under ctx.base_dir); double
// becomes float32. `what` names the tensor in error messages. Throws kInvalidModel, kUnsupported
// or kIo. `raw_data`, when given, stands for t.raw_data() (model import leaves raw bytes in the
// mapped file instead of copying them into the message first).
ConstTensor ConvertTensor(const ImportContext& ctx, const onnx::TensorProto& t,
                          const std::string& what, const std::string_view* raw_data = nullptr);

}  // namespace effi::onnx_io
