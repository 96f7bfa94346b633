// ONNX -> effi IR. The only place (with onnx_export) that sees protobuf: it turns a ModelProto
// into a Graph (initializers and Constant nodes become constant values, external data is read
// with bounds checks) and rejects malformed files with one clear error.
#pragma once

#include <cstdint>
#include <string>

#include "graph/graph.h"

namespace effi::onnx_io {

// Loads `path`; external data files are resolved relative to the model's folder and may not
// escape it. Throws effi::Error (kIo, kInvalidModel, kUnsupported).
Graph ImportFile(const std::string& path);
// Parses an in-memory model (no external data allowed unless base_dir is given).
Graph ImportMemory(const void* data, size_t size, const std::string& name_for_errors,
                   const std::string& base_dir = "");

}  // namespace effi::onnx_io
