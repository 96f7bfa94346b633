// Raw NV12 camera frames to RGB via libyuv (BT.601 limited range, the usual ISP output).
// libyuv names formats by little-endian word order: its "RAW" is R,G,B in memory, "RGB24" is B,G,R.
#include <fmt/format.h>
#include <libyuv/convert_argb.h>

#include "effi/error.hpp"
#include "image/image.h"
#include "util/file.h"
#include "util/text.h"

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
  // A regular file opened non-blocking (a fifo or /dev/zero fails at once); its size is checked
  // against the frame geometry before reading, so a wrong path to a huge file fails without
  // loading it.
  const util::ReadOnlyFile file = util::OpenRegularFile(path, "NV12 frame");
  const std::string name =
      fmt::format("NV12 '{}'", util::EscapeControl(path, util::kMaxQuotedPath));
  if (width <= 0 || height <= 0 || width % 2 != 0 || height % 2 != 0 || width > kMaxSide ||
      height > kMaxSide) {
    return Nv12Convert(nullptr, 0, width, height, name);  // throws the geometry error
  }
  const uint64_t luma = static_cast<uint64_t>(width) * static_cast<uint64_t>(height);
  const uint64_t want = luma + luma / 2;
  if (file.size() != want) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{}: NV12 frame {}x{} needs {} bytes, file has {}", name, width, height,
                            want, file.size()));
  }
  const std::string bytes = util::ReadAll(file, path, static_cast<size_t>(want), "NV12 frame");
  return Nv12Convert(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), width, height,
                     name);
}

}  // namespace effi::image
