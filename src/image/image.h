// Image decoding for effi: JPEG (libjpeg-turbo), PNG (libpng) and raw NV12 camera frames (libyuv),
// all to interleaved RGB8 with the same pixel values PIL's Image.open(...).convert("RGB") gives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace effi::image {

// Interleaved RGB8, row-major, no padding: rgb.size() == width * height * 3.
struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;
};

// Decoder limits, checked from the header before any pixel buffer is allocated.
inline constexpr int kMaxSide = 32768;
inline constexpr int64_t kMaxPixels = 200'000'000;

// Reads and decodes a JPEG or PNG file; the format is chosen by magic bytes, not by extension.
// Missing/unreadable file -> Error(kIo); corrupt, truncated, unsupported or oversized image ->
// Error(kInvalidImage). Messages name `path`.
// JPEG: libjpeg defaults as PIL uses them (ISLOW DCT, fancy upsampling); gray is replicated,
// CMYK/YCCK converted with PIL's formula (Adobe-inverted data); EXIF orientation is ignored, as
// PIL's open() and timm do. Scan data ending before the image does is an error; libjpeg's other
// corrupt-data warnings are silenced and decoding goes on, as in PIL.
// PNG: gray, gray+alpha, palette, RGB, RGBA, 1-16 bit; alpha (and tRNS) dropped; 16-bit samples
// keep their high byte (as PIL does for RGB/RGBA/LA; for 16-bit gray PIL clips instead).
// `max_pixels` lowers the pixel-count limit (a server, or a fuzzer, may want far less than
// kMaxPixels: a 140-byte arithmetic-coded JPEG can legally declare millions of gray pixels).
Image DecodeFile(const std::string& path, int64_t max_pixels = kMaxPixels);

// Same as DecodeFile, from memory; `name_for_errors` stands in for the path in messages.
Image DecodeMemory(const uint8_t* data, size_t size, const std::string& name_for_errors,
                   int64_t max_pixels = kMaxPixels);

// Converts one raw NV12 frame (Y plane, then interleaved U,V at half resolution; BT.601 limited
// range as camera ISPs produce) to RGB. Width and height must be positive and even, and `size` must
// be exactly width*height*3/2; otherwise Error(kInvalidArgument).
Image Nv12ToRgb(const uint8_t* data, size_t size, int width, int height);

// Reads a raw NV12 file (no header) of the given dimensions; kIo if unreadable.
Image LoadNv12File(const std::string& path, int width, int height);

}  // namespace effi::image
