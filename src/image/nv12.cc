// Raw NV12 camera frames to RGB via libyuv (BT.601 limited range, the usual ISP output).
// libyuv names formats by little-endian word order: its "RAW" is R,G,B in memory, "RGB24" is B,G,R.
#include <fmt/format.h>
#include <libyuv/convert_argb.h>

#include <fstream>

#include "effi/error.hpp"
#include "image/image.h"

namespace effi::image {
namespace {

Image Nv12Convert(const uint8_t* data, size_t size, int width, int height,
                  const std::string& name) {
  if (width <= 0 || height <= 0 || width % 2 != 0 || height % 2 != 0) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{}: NV12 size {}x{} must be positive and even", name, width, height));
  }
  if (width > kMaxSide || height > kMaxSide || int64_t{width} * height > kMaxPixels) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{}: NV12 size {}x{} exceeds the limit", name, width, height));
  }
  const size_t luma = static_cast<size_t>(width) * height;
  const size_t expected = luma + luma / 2;  // Y plane + (w/2)*(h/2) interleaved U,V pairs
  if (data == nullptr || size != expected) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{}: NV12 frame {}x{} needs {} bytes, got {}", name, width, height,
                            expected, data == nullptr ? 0 : size));
  }
  Image img;
  img.width = width;
  img.height = height;
  img.rgb.resize(luma * 3);
  if (libyuv::NV12ToRAW(data, width, data + luma, width, img.rgb.data(), width * 3, width,
                        height) != 0) {
    throw Error(ErrorCode::kInternal, fmt::format("{}: libyuv NV12ToRAW failed", name));
  }
  return img;
}

}  // namespace

Image Nv12ToRgb(const uint8_t* data, size_t size, int width, int height) {
  return Nv12Convert(data, size, width, height, "NV12 frame");
}

Image LoadNv12File(const std::string& path, int width, int height) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(ErrorCode::kIo, fmt::format("NV12 '{}': cannot open file", path));
  f.seekg(0, std::ios::end);
  const std::streamoff end = f.tellg();
  f.seekg(0, std::ios::beg);
  if (end < 0 || !f) throw Error(ErrorCode::kIo, fmt::format("NV12 '{}': cannot read file", path));
  // Check the size against the frame geometry before reading, so a wrong path to a huge file
  // fails without loading it.
  const std::string name = fmt::format("NV12 '{}'", path);
  if (width > 0 && height > 0 && width % 2 == 0 && height % 2 == 0 && width <= kMaxSide &&
      height <= kMaxSide) {
    const size_t luma = static_cast<size_t>(width) * height;
    if (static_cast<size_t>(end) != luma + luma / 2) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{}: NV12 frame {}x{} needs {} bytes, file has {}", name, width,
                              height, luma + luma / 2, end));
    }
  } else {
    return Nv12Convert(nullptr, 0, width, height, name);  // throws the geometry error
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(end));
  f.read(reinterpret_cast<char*>(bytes.data()), end);
  if (!f) throw Error(ErrorCode::kIo, fmt::format("NV12 '{}': read error", path));
  return Nv12Convert(bytes.data(), bytes.size(), width, height, name);
}

}  // namespace effi::image
