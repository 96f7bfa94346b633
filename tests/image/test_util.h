// Helpers shared by the image tests: ../shared lookup, deterministic images, hashes, small encoders
// (a libpng writer here, the libjpeg one in tests/jpeg_encode.h) so every decoder case is generated
// rather than checked in.
#pragma once

#include <gtest/gtest.h>
#include <png.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../jpeg_encode.h"  // EncodeJpeg (shared with the CLI tests)
#include "image/image.h"

namespace effi::image::testing_util {

inline const std::string kShared = EFFI_SHARED_DIR;

inline bool SharedHas(const std::string& rel) { return std::filesystem::exists(kShared + rel); }

#define EFFI_REQUIRE_SHARED(rel)                                                             \
  do {                                                                                       \
    if (!::effi::image::testing_util::SharedHas(rel)) {                                      \
      GTEST_SKIP() << "../shared not found: " << ::effi::image::testing_util::kShared + rel; \
    }                                                                                        \
  } while (0)

inline std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) return {};
  std::vector<uint8_t> out(static_cast<size_t>(f.tellg()));
  f.seekg(0);
  f.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size()));
  return out;
}

inline void WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

inline std::string TempPath(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) / name).string();
}

// FNV-1a 64: the reference hashes in the tests were computed with the same function in Python over
// PIL / torch outputs.
inline uint64_t Fnv1a(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

// Noise image from a 32-bit LCG (s = s * 1664525 + 1013904223, byte = s >> 24), seeded w*1000+h.
inline Image LcgImage(int w, int h) {
  Image im;
  im.width = w;
  im.height = h;
  uint32_t s = static_cast<uint32_t>(w * 1000 + h);
  im.rgb.resize(static_cast<size_t>(w) * h * 3);
  for (auto& b : im.rgb) {
    s = s * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(s >> 24);
  }
  return im;
}

struct PngSpec {
  int width = 0;
  int height = 0;
  int color_type = PNG_COLOR_TYPE_RGB;
  int bit_depth = 8;
  bool interlaced = false;
  std::vector<png_color> palette;  // for PNG_COLOR_TYPE_PALETTE
  std::vector<uint8_t> trns;       // palette alpha entries
  std::vector<uint8_t> rows;       // packed rows as libpng expects them (big-endian 16-bit)
};

inline void PngWriteCallback(png_structp png, png_bytep data, size_t n) {
  auto* out = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + n);
}

// Encodes `spec` with libpng. Returns an empty vector if libpng refused.
inline std::vector<uint8_t> EncodePng(const PngSpec& spec) {
  std::vector<uint8_t> out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return {};
  }
  png_set_write_fn(png, &out, PngWriteCallback, nullptr);
  png_set_IHDR(png, info, spec.width, spec.height, spec.bit_depth, spec.color_type,
               spec.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!spec.palette.empty()) {
    png_set_PLTE(png, info, spec.palette.data(), static_cast<int>(spec.palette.size()));
  }
  if (!spec.trns.empty()) {
    png_set_tRNS(png, info, spec.trns.data(), static_cast<int>(spec.trns.size()), nullptr);
  }
  png_write_info(png, info);
  const size_t stride = spec.rows.size() / spec.height;
  std::vector<png_bytep> rows(spec.height);
  for (int y = 0; y < spec.height; ++y) {
    rows[y] = const_cast<png_bytep>(spec.rows.data()) + y * stride;
  }
  png_write_image(png, rows.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

using ::effi::testing_util::EncodeJpeg;

}  // namespace effi::image::testing_util
