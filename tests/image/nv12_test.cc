// NV12 -> RGB tests: solid colours against the BT.601 limited-range formula (catches libyuv's
// B,G,R "RGB24" byte order), a two-colour frame for geometry, and size/shape errors.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "effi/error.hpp"
#include "image/image.h"
#include "test_util.h"

namespace effi::image {
namespace {

// One NV12 frame of a single Y/U/V value.
std::vector<uint8_t> SolidNv12(int w, int h, uint8_t y, uint8_t u, uint8_t v) {
  std::vector<uint8_t> f(static_cast<size_t>(w) * h, y);
  for (int i = 0; i < w * h / 4; ++i) f.insert(f.end(), {u, v});
  return f;
}

// BT.601 limited range (studio swing), the convention libyuv's NV12ToRAW implements.
std::array<int, 3> Bt601(int y, int u, int v) {
  const double c = 1.164 * (y - 16), d = u - 128.0, e = v - 128.0;
  auto clip = [](double x) { return static_cast<int>(std::lround(std::clamp(x, 0.0, 255.0))); };
  return {clip(c + 1.596 * e), clip(c - 0.391 * d - 0.813 * e), clip(c + 2.018 * d)};
}

TEST(Nv12, SolidColours) {
  const struct {
    const char* name;
    uint8_t y, u, v;
  } colours[] = {{"red", 81, 90, 240},     {"green", 145, 54, 34},  {"blue", 41, 240, 110},
                 {"white", 235, 128, 128}, {"black", 16, 128, 128}, {"orange", 151, 44, 201},
                 {"grey", 126, 128, 128}};
  for (const auto& c : colours) {
    const std::vector<uint8_t> frame = SolidNv12(8, 6, c.y, c.u, c.v);
    const Image im = Nv12ToRgb(frame.data(), frame.size(), 8, 6);
    ASSERT_EQ(im.width, 8);
    ASSERT_EQ(im.height, 6);
    ASSERT_EQ(im.rgb.size(), 8u * 6 * 3);
    const auto want = Bt601(c.y, c.u, c.v);
    for (size_t p = 0; p < 8 * 6; ++p) {
      for (int ch = 0; ch < 3; ++ch) {
        ASSERT_NEAR(im.rgb[3 * p + ch], want[ch], 2) << c.name << " pixel " << p << " ch " << ch;
      }
    }
  }
  // The byte-order trap stated plainly: pure red must come out as R high, B low.
  const std::vector<uint8_t> red = SolidNv12(2, 2, 81, 90, 240);
  const Image im = Nv12ToRgb(red.data(), red.size(), 2, 2);
  EXPECT_GT(im.rgb[0], 240);
  EXPECT_LT(im.rgb[2], 15);
}

TEST(Nv12, LeftRedRightBlue) {
  const int w = 16, h = 4;
  std::vector<uint8_t> f(static_cast<size_t>(w) * h);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) f[y * w + x] = x < w / 2 ? 81 : 41;
  }
  for (int y = 0; y < h / 2; ++y) {
    for (int x = 0; x < w / 2; ++x) {
      const bool left = x < w / 4;
      f.push_back(left ? 90 : 240);   // U
      f.push_back(left ? 240 : 110);  // V
    }
  }
  const Image im = Nv12ToRgb(f.data(), f.size(), w, h);
  const uint8_t* left = &im.rgb[(1 * w + 1) * 3];
  const uint8_t* right = &im.rgb[(2 * w + 14) * 3];
  EXPECT_GT(left[0], 200);
  EXPECT_LT(left[2], 40);
  EXPECT_LT(right[0], 40);
  EXPECT_GT(right[2], 200);
}

TEST(Nv12, BadGeometryAndSize) {
  const std::vector<uint8_t> frame = SolidNv12(8, 6, 100, 128, 128);
  auto code = [](const uint8_t* d, size_t n, int w, int h) {
    try {
      Nv12ToRgb(d, n, w, h);
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::kOk;
  };
  EXPECT_EQ(code(frame.data(), frame.size(), 8, 6), ErrorCode::kOk);
  EXPECT_EQ(code(frame.data(), frame.size() - 1, 8, 6), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(frame.data(), frame.size() + 1, 8, 6), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(frame.data(), frame.size(), 6, 8), ErrorCode::kOk);  // same byte count
  EXPECT_EQ(code(frame.data(), frame.size(), 7, 6), ErrorCode::kInvalidArgument);  // odd
  EXPECT_EQ(code(frame.data(), frame.size(), 8, 5), ErrorCode::kInvalidArgument);  // odd
  EXPECT_EQ(code(frame.data(), frame.size(), 0, 6), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(frame.data(), frame.size(), -8, -6), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(nullptr, 72, 8, 6), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(frame.data(), frame.size(), 1 << 20, 2), ErrorCode::kInvalidArgument);
}

TEST(Nv12, LoadFile) {
  const std::vector<uint8_t> frame = SolidNv12(4, 2, 235, 128, 128);
  const std::string path = testing_util::TempPath("frame.nv12");
  testing_util::WriteBytes(path, frame);
  const Image im = LoadNv12File(path, 4, 2);
  EXPECT_EQ(im.rgb, std::vector<uint8_t>(4 * 2 * 3, 255));
  EXPECT_THROW(LoadNv12File(path, 4, 4), Error);
  try {
    LoadNv12File("/nonexistent/frame.nv12", 4, 2);
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
  }
}

// Not regular files fail at once with kIo: a fifo (a plain open() would block until a writer came)
// and /dev/zero (a read would never end), and a directory.
TEST(Nv12, LoadFileRefusesSpecialFiles) {
  const std::string fifo = testing_util::TempPath("frame_fifo.nv12");
  ::unlink(fifo.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& path : {fifo, std::string("/dev/zero"), std::string("/tmp")}) {
    try {
      LoadNv12File(path, 4, 2);
      FAIL() << path << ": no throw";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kIo) << path;
      EXPECT_NE(std::string(e.what()).find("NV12 frame"), std::string::npos) << e.what();
    }
  }
  ::unlink(fifo.c_str());
}

}  // namespace
}  // namespace effi::image
