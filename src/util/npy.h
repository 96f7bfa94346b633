// NumPy .npy reader/writer (format 1.0-3.0) for golden data and tool output. Hostile input
// (truncated, oversized header, absurd shapes) throws effi::Error, never crashes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace effi::npy {

// One array, little-endian and C-order. dtype: "float32", "int64", "int32", "uint8" or "bool";
// bytes: exactly NumElements(shape) * ItemSize(dtype) bytes; a 0-d array has an empty shape.
struct Array {
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// Bytes per element of a supported dtype name; throws kInvalidArgument for any other name.
size_t ItemSize(const std::string& dtype);

// Product of the dims (1 for a 0-d array); throws kInvalidArgument on negative dims or overflow.
size_t NumElements(const std::vector<int64_t>& shape);

// Reads a whole .npy file. Missing/unreadable file -> kIo; malformed content -> kInvalidArgument;
// a well-formed file we do not implement (big-endian, Fortran order, other dtypes) -> kUnsupported.
Array Load(const std::string& path);

// Same, from a buffer; `name_for_errors` is used in messages in place of a path.
Array LoadFromMemory(const uint8_t* data, size_t size, const std::string& name_for_errors);

// Serialises `array` the way numpy.save does (v1.0 header, v2.0 only when the header needs it).
std::vector<uint8_t> SaveToMemory(const Array& array);

// Writes `array` to `path` (kIo on failure; kInvalidArgument when bytes do not match the shape).
void Save(const std::string& path, const Array& array);

// Convenience: saves `data` (NumElements(shape) floats) as a float32 array.
void SaveF32(const std::string& path, const float* data, const std::vector<int64_t>& shape);

}  // namespace effi::npy
