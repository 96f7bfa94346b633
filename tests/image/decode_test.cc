// Decoder tests: PIL-identical pixels for the shared photos and for every PNG/JPEG colour type we
// generate, and corrupt / truncated / oversized / random inputs failing with effi::Error.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "effi/error.hpp"
#include "image/image.h"
#include "test_util.h"

namespace effi::image {
namespace {

using testing_util::EncodeJpeg;
using testing_util::EncodePng;
using testing_util::Fnv1a;
using testing_util::PngSpec;
using testing_util::ReadBytes;

ErrorCode DecodeCode(const std::vector<uint8_t>& bytes, std::string* message = nullptr) {
  try {
    const Image im = DecodeMemory(bytes.data(), bytes.size(), "mem.img");
    EXPECT_EQ(im.rgb.size(), static_cast<size_t>(im.width) * im.height * 3);
  } catch (const Error& e) {
    if (message != nullptr) *message = e.what();
    EXPECT_NE(std::string(e.what()).find("mem.img"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << "one-line messages";
    return e.code();
  }
  return ErrorCode::kOk;
}

std::vector<uint8_t> SharedJpeg(const char* name) {
  return ReadBytes(testing_util::kShared + "/images/" + name);
}

// Offset of the first SOFn marker (baseline or progressive) in a JPEG.
size_t FindSof(const std::vector<uint8_t>& jpeg) {
  for (size_t i = 2; i + 9 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xff && (jpeg[i + 1] == 0xc0 || jpeg[i + 1] == 0xc2)) return i;
  }
  return 0;
}

// A minimal PNG (signature, IHDR, IEND) with any size, CRCs included, so libpng's checks pass.
std::vector<uint8_t> PngHeaderOnly(uint32_t w, uint32_t h) {
  std::vector<uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  auto chunk = [&](const char* type, const std::vector<uint8_t>& data) {
    const uint32_t n = static_cast<uint32_t>(data.size());
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(n >> s));
    std::vector<uint8_t> body(type, type + 4);
    body.insert(body.end(), data.begin(), data.end());
    out.insert(out.end(), body.begin(), body.end());
    const uint32_t crc =
        static_cast<uint32_t>(crc32(0, body.data(), static_cast<uInt>(body.size())));
    for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(crc >> s));
  };
  std::vector<uint8_t> ihdr;
  for (uint32_t v : {w, h}) {
    for (int s = 24; s >= 0; s -= 8) ihdr.push_back(static_cast<uint8_t>(v >> s));
  }
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});  // 8-bit RGB
  chunk("IHDR", ihdr);
  chunk("IEND", {});
  return out;
}

PngSpec RgbSpec(const Image& im) {
  PngSpec s;
  s.width = im.width;
  s.height = im.height;
  s.rows = im.rgb;
  return s;
}

TEST(Decode, SharedPhotosMatchPil) {
  EFFI_REQUIRE_SHARED("/images/bittern.JPEG");
  // FNV-1a of np.asarray(Image.open(p).convert("RGB")) with Pillow 9.4 / libjpeg-turbo 2.1.
  const struct {
    const char* name;
    int w, h;
    uint64_t hash;
  } cases[] = {{"bittern.JPEG", 500, 473, 0x3f05b91f68c3ffb3ull},
               {"goldfish.JPEG", 500, 375, 0xd18b03ec05b7d55aull}};
  for (const auto& c : cases) {
    const Image im = DecodeFile(testing_util::kShared + "/images/" + c.name);
    EXPECT_EQ(im.width, c.w);
    EXPECT_EQ(im.height, c.h);
    EXPECT_EQ(Fnv1a(im.rgb.data(), im.rgb.size()), c.hash) << c.name << " differs from PIL";
  }
}

TEST(Decode, RgbPngRoundTripAndInterlaced) {
  const Image src = testing_util::LcgImage(31, 17);
  for (bool interlaced : {false, true}) {
    PngSpec spec = RgbSpec(src);
    spec.interlaced = interlaced;
    const std::vector<uint8_t> png = EncodePng(spec);
    ASSERT_FALSE(png.empty());
    const Image im = DecodeMemory(png.data(), png.size(), "rgb.png");
    EXPECT_EQ(im.width, 31);
    EXPECT_EQ(im.height, 17);
    EXPECT_EQ(im.rgb, src.rgb) << "interlaced=" << interlaced;
  }
}

TEST(Decode, GrayAndGrayAlphaPngReplicate) {
  PngSpec gray;
  gray.width = 4;
  gray.height = 2;
  gray.color_type = PNG_COLOR_TYPE_GRAY;
  gray.rows = {0, 50, 128, 255, 1, 2, 3, 4};
  std::vector<uint8_t> bytes = EncodePng(gray);
  Image im = DecodeMemory(bytes.data(), bytes.size(), "gray.png");
  ASSERT_EQ(im.rgb.size(), 24u);
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(im.rgb[3 * i], gray.rows[i]);
    EXPECT_EQ(im.rgb[3 * i + 1], gray.rows[i]);
    EXPECT_EQ(im.rgb[3 * i + 2], gray.rows[i]);
  }
  PngSpec ga = gray;
  ga.color_type = PNG_COLOR_TYPE_GRAY_ALPHA;
  ga.rows.clear();
  for (uint8_t v : gray.rows) ga.rows.insert(ga.rows.end(), {v, static_cast<uint8_t>(255 - v)});
  bytes = EncodePng(ga);
  const Image im2 = DecodeMemory(bytes.data(), bytes.size(), "ga.png");
  EXPECT_EQ(im2.rgb, im.rgb) << "alpha must simply be dropped";
}

TEST(Decode, RgbaPngDropsAlpha) {
  PngSpec s;
  s.width = 3;
  s.height = 1;
  s.color_type = PNG_COLOR_TYPE_RGB_ALPHA;
  s.rows = {255, 0, 0, 0, 0, 255, 0, 128, 10, 20, 30, 255};  // alpha 0 keeps its colour (PIL)
  const std::vector<uint8_t> bytes = EncodePng(s);
  const Image im = DecodeMemory(bytes.data(), bytes.size(), "rgba.png");
  EXPECT_EQ(im.rgb, (std::vector<uint8_t>{255, 0, 0, 0, 255, 0, 10, 20, 30}));
}

TEST(Decode, PalettePngWithTransparency) {
  PngSpec s;
  s.width = 4;
  s.height = 1;
  s.color_type = PNG_COLOR_TYPE_PALETTE;
  s.palette = {{10, 20, 30}, {200, 100, 0}, {1, 2, 3}};
  s.rows = {0, 1, 2, 1};
  const std::vector<uint8_t> plain = EncodePng(s);
  s.trns = {0, 128};  // entries 0 and 1 (semi-)transparent
  const std::vector<uint8_t> with_trns = EncodePng(s);
  const std::vector<uint8_t> expect = {10, 20, 30, 200, 100, 0, 1, 2, 3, 200, 100, 0};
  EXPECT_EQ(DecodeMemory(plain.data(), plain.size(), "p.png").rgb, expect);
  EXPECT_EQ(DecodeMemory(with_trns.data(), with_trns.size(), "pt.png").rgb, expect);
}

TEST(Decode, LowAndHighBitDepthPng) {
  PngSpec one;  // 1-bit gray: 0 -> 0, 1 -> 255
  one.width = 8;
  one.height = 1;
  one.color_type = PNG_COLOR_TYPE_GRAY;
  one.bit_depth = 1;
  one.rows = {0b10100000};
  std::vector<uint8_t> bytes = EncodePng(one);
  Image im = DecodeMemory(bytes.data(), bytes.size(), "1bit.png");
  ASSERT_EQ(im.width, 8);
  EXPECT_EQ(im.rgb[0], 255);
  EXPECT_EQ(im.rgb[3], 0);
  EXPECT_EQ(im.rgb[6], 255);
  EXPECT_EQ(im.rgb[9], 0);

  PngSpec rgb16;  // 16-bit RGB: high byte, as PIL's "RGB;16B" unpacker
  rgb16.width = 2;
  rgb16.height = 1;
  rgb16.bit_depth = 16;
  rgb16.rows = {0x12, 0x34, 0xff, 0xff, 0x00, 0x80, 0x80, 0x00, 0x7f, 0xff, 0x01, 0x01};
  bytes = EncodePng(rgb16);
  im = DecodeMemory(bytes.data(), bytes.size(), "rgb16.png");
  EXPECT_EQ(im.rgb, (std::vector<uint8_t>{0x12, 0xff, 0x00, 0x80, 0x7f, 0x01}));

  PngSpec g16 = rgb16;  // 16-bit gray: high byte too (documented deviation: PIL clips)
  g16.color_type = PNG_COLOR_TYPE_GRAY;
  g16.rows = {0xab, 0xcd, 0x00, 0xff};
  bytes = EncodePng(g16);
  im = DecodeMemory(bytes.data(), bytes.size(), "g16.png");
  EXPECT_EQ(im.rgb, (std::vector<uint8_t>{0xab, 0xab, 0xab, 0x00, 0x00, 0x00}));
}

TEST(Decode, GrayscaleJpegReplicates) {
  std::vector<uint8_t> gray(32 * 16);
  for (size_t i = 0; i < gray.size(); ++i) gray[i] = static_cast<uint8_t>((i * 7) % 256);
  const std::vector<uint8_t> jpeg = EncodeJpeg(gray, 32, 16, 1, 95);
  const Image im = DecodeMemory(jpeg.data(), jpeg.size(), "gray.jpg");
  ASSERT_EQ(im.width, 32);
  ASSERT_EQ(im.height, 16);
  int max_err = 0;
  for (size_t i = 0; i < gray.size(); ++i) {
    EXPECT_EQ(im.rgb[3 * i], im.rgb[3 * i + 1]);
    EXPECT_EQ(im.rgb[3 * i], im.rgb[3 * i + 2]);
    max_err = std::max(max_err, std::abs(int{im.rgb[3 * i]} - int{gray[i]}));
  }
  EXPECT_LE(max_err, 40) << "JPEG loss on a sawtooth, but it must be the same picture";
}

TEST(Decode, CmykJpegUsesPilConversion) {
  // Stored (Adobe, inverted) CMYK samples; PIL: C = 255 - stored, RGB = (255-K) * (1 - C/255).
  const struct {
    uint8_t stored[4];
    uint8_t rgb[3];
  } cases[] = {{{255, 255, 255, 255}, {255, 255, 255}},  // no ink: white
               {{0, 255, 255, 255}, {0, 255, 255}},      // full cyan
               {{255, 255, 0, 255}, {255, 255, 0}},      // full yellow
               {{255, 255, 255, 0}, {0, 0, 0}},          // full black
               {{128, 255, 255, 128}, {64, 128, 128}}};  // half cyan, half black
  for (const auto& c : cases) {
    std::vector<uint8_t> samples;
    for (int i = 0; i < 16 * 16; ++i) samples.insert(samples.end(), c.stored, c.stored + 4);
    const std::vector<uint8_t> jpeg = EncodeJpeg(samples, 16, 16, 4, 100);
    const Image im = DecodeMemory(jpeg.data(), jpeg.size(), "cmyk.jpg");
    ASSERT_EQ(im.rgb.size(), 16u * 16 * 3);
    for (int ch = 0; ch < 3; ++ch) {
      EXPECT_NEAR(im.rgb[ch], c.rgb[ch], 2) << "channel " << ch;
    }
  }
}

TEST(Decode, EmptyMissingAndUnknown) {
  EXPECT_EQ(DecodeCode({}), ErrorCode::kInvalidImage);
  EXPECT_EQ(DecodeCode({'G', 'I', 'F', '8', '9', 'a'}), ErrorCode::kInvalidImage);
  EXPECT_EQ(DecodeCode({0xff, 0xd8}), ErrorCode::kInvalidImage);
  try {
    DecodeFile("/nonexistent/effi/cat.jpg");
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/effi/cat.jpg"), std::string::npos);
  }
  const std::string empty = testing_util::TempPath("empty.jpg");
  testing_util::WriteBytes(empty, {});
  try {
    DecodeFile(empty);
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidImage);
  }
}

TEST(Decode, TruncatedJpegFails) {
  EFFI_REQUIRE_SHARED("/images/bittern.JPEG");
  for (const char* name : {"bittern.JPEG", "goldfish.JPEG"}) {
    const std::vector<uint8_t> full = SharedJpeg(name);
    ASSERT_EQ(DecodeCode(full), ErrorCode::kOk);
    const size_t n = full.size();
    // Every cut before the end of the entropy-coded data loses rows and must fail (PIL: "image
    // file is truncated"); only the final EOI marker (2 bytes) is optional.
    for (size_t cut : {size_t{1}, size_t{3}, size_t{4}, size_t{20}, size_t{100}, size_t{400},
                       size_t{700}, n / 4, n / 2, 3 * n / 4, n - 500, n - 100, n - 10}) {
      const std::vector<uint8_t> part(full.begin(), full.begin() + cut);
      std::string message;
      EXPECT_EQ(DecodeCode(part, &message), ErrorCode::kInvalidImage) << name << " cut " << cut;
    }
  }
}

TEST(Decode, TruncatedPngFails) {
  const Image src = testing_util::LcgImage(40, 30);
  const std::vector<uint8_t> full = EncodePng(RgbSpec(src));
  for (size_t cut = 0; cut + 12 < full.size(); cut += 7) {  // 12 = IEND chunk
    const std::vector<uint8_t> part(full.begin(), full.begin() + cut);
    EXPECT_EQ(DecodeCode(part), ErrorCode::kInvalidImage) << "cut " << cut;
  }
  // Without IEND the pixels are complete: decodes, as in PIL.
  const std::vector<uint8_t> no_iend(full.begin(), full.end() - 12);
  EXPECT_EQ(DecodeMemory(no_iend.data(), no_iend.size(), "no_iend.png").rgb, src.rgb);
}

TEST(Decode, CorruptHeadersFail) {
  EFFI_REQUIRE_SHARED("/images/bittern.JPEG");
  std::vector<uint8_t> jpeg = SharedJpeg("bittern.JPEG");
  const size_t sof = FindSof(jpeg);
  ASSERT_GT(sof, 0u);
  std::vector<uint8_t> zero_w = jpeg;
  zero_w[sof + 7] = zero_w[sof + 8] = 0;  // width 0
  EXPECT_EQ(DecodeCode(zero_w), ErrorCode::kInvalidImage);
  std::vector<uint8_t> bad_comps = jpeg;
  bad_comps[sof + 9] = 0;  // zero components
  EXPECT_EQ(DecodeCode(bad_comps), ErrorCode::kInvalidImage);
  std::vector<uint8_t> precision = jpeg;
  precision[sof + 4] = 12;  // 12-bit samples: not in an 8-bit libjpeg build
  EXPECT_EQ(DecodeCode(precision), ErrorCode::kInvalidImage);
  std::vector<uint8_t> no_frame = jpeg;
  no_frame[sof + 1] = 0xcf;  // SOF15 (lossless arithmetic): unsupported
  EXPECT_EQ(DecodeCode(no_frame), ErrorCode::kInvalidImage);
  // A broken APPn marker after SOI is skipped with a silenced warning, as PIL does.
  std::vector<uint8_t> junk_marker = jpeg;
  junk_marker[3] = 0x00;
  EXPECT_EQ(DecodeCode(junk_marker), ErrorCode::kOk);

  // A PNG with a bad CRC in IHDR, and one with a corrupted zlib stream.
  const std::vector<uint8_t> png = EncodePng(RgbSpec(testing_util::LcgImage(20, 20)));
  std::vector<uint8_t> bad_crc = png;
  bad_crc[29] ^= 0xff;  // IHDR CRC (bytes 29..32)
  EXPECT_EQ(DecodeCode(bad_crc), ErrorCode::kInvalidImage);
  std::vector<uint8_t> bad_zlib = png;
  for (size_t i = 45; i < 60; ++i) bad_zlib[i] ^= 0x5a;  // inside the IDAT data
  EXPECT_EQ(DecodeCode(bad_zlib), ErrorCode::kInvalidImage);
}

TEST(Decode, OversizedImagesRefusedBeforeAllocation) {
  std::string msg;
  EXPECT_EQ(DecodeCode(PngHeaderOnly(40000, 10), &msg), ErrorCode::kInvalidImage);
  EXPECT_EQ(DecodeCode(PngHeaderOnly(20000, 20000), &msg), ErrorCode::kInvalidImage);
  EXPECT_NE(msg.find("exceeds"), std::string::npos) << msg;
  EFFI_REQUIRE_SHARED("/images/bittern.JPEG");
  std::vector<uint8_t> jpeg = SharedJpeg("bittern.JPEG");
  const size_t sof = FindSof(jpeg);
  ASSERT_GT(sof, 0u);
  for (auto [w, h] : {std::pair<int, int>{40000, 100}, {20000, 20000}, {100, 65500}}) {
    std::vector<uint8_t> big = jpeg;
    big[sof + 5] = static_cast<uint8_t>(h >> 8);
    big[sof + 6] = static_cast<uint8_t>(h & 0xff);
    big[sof + 7] = static_cast<uint8_t>(w >> 8);
    big[sof + 8] = static_cast<uint8_t>(w & 0xff);
    EXPECT_EQ(DecodeCode(big, &msg), ErrorCode::kInvalidImage) << w << "x" << h;
    EXPECT_NE(msg.find("exceeds"), std::string::npos) << msg;
  }
}

TEST(Decode, CallerPixelLimit) {
  const std::vector<uint8_t> png = EncodePng(RgbSpec(testing_util::LcgImage(40, 30)));
  EXPECT_EQ(DecodeMemory(png.data(), png.size(), "ok.png", 1200).width, 40);
  try {
    DecodeMemory(png.data(), png.size(), "small.png", 1199);
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidImage);
    EXPECT_NE(std::string(e.what()).find("exceeds"), std::string::npos) << e.what();
  }
  EFFI_REQUIRE_SHARED("/images/bittern.JPEG");
  EXPECT_THROW(DecodeFile(testing_util::kShared + "/images/bittern.JPEG", 100'000), Error);
}

// A decompression bomb found by fuzzing: a frame header declaring 78 Mpixel followed by a few
// bytes of scan data. libjpeg would pad the image with gray for seconds; the truncated scan must
// fail at once instead.
TEST(Decode, TinyScanForHugeFrameFails) {
  const Image small = testing_util::LcgImage(24, 16);
  std::vector<uint8_t> jpeg = EncodeJpeg(small.rgb, 24, 16, 3, 80);
  const size_t sof = FindSof(jpeg);
  ASSERT_GT(sof, 0u);
  jpeg[sof + 5] = 0x25;  // height 9472
  jpeg[sof + 6] = 0x00;
  jpeg[sof + 7] = 0x20;  // width 8245
  jpeg[sof + 8] = 0x35;
  std::string msg;
  EXPECT_EQ(DecodeCode(jpeg, &msg), ErrorCode::kInvalidImage);
  EXPECT_NE(msg.find("premature end"), std::string::npos) << msg;
}

// Random mutations of valid files: each must decode to a consistent image or throw effi::Error.
// Under ASan/UBSan this is a small deterministic fuzz run of both decoders.
TEST(Decode, RandomMutationsNeverCrash) {
  std::vector<std::vector<uint8_t>> seeds;
  seeds.push_back(EncodePng(RgbSpec(testing_util::LcgImage(24, 16))));
  PngSpec pal;
  pal.width = 9;
  pal.height = 5;
  pal.color_type = PNG_COLOR_TYPE_PALETTE;
  pal.palette = {{1, 2, 3}, {4, 5, 6}};
  pal.rows.assign(45, 1);
  pal.interlaced = true;
  seeds.push_back(EncodePng(pal));
  const Image small = testing_util::LcgImage(24, 16);
  seeds.push_back(EncodeJpeg(small.rgb, 24, 16, 3, 80));
  if (testing_util::SharedHas("/images/goldfish.JPEG"))
    seeds.push_back(SharedJpeg("goldfish.JPEG"));
  std::mt19937 rng(1234);
  int errors = 0, decoded = 0;
  for (const auto& seed : seeds) {
    for (int trial = 0; trial < 60; ++trial) {
      std::vector<uint8_t> b = seed;
      const int flips = 1 + static_cast<int>(rng() % 8);
      for (int i = 0; i < flips; ++i) {
        // Bias towards headers, where the interesting parsing happens.
        const size_t limit = (rng() % 2 == 0) ? std::min<size_t>(b.size(), 700) : b.size();
        b[rng() % limit] = static_cast<uint8_t>(rng());
      }
      if (rng() % 4 == 0) b.resize(rng() % b.size());
      (DecodeCode(b) == ErrorCode::kOk ? decoded : errors)++;
    }
  }
  EXPECT_GT(errors, 0);
  EXPECT_GT(decoded, 0);
}

TEST(Decode, RandomBytesWithMagicFail) {
  std::mt19937 rng(99);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<uint8_t> b(rng() % 2000);
    for (auto& v : b) v = static_cast<uint8_t>(rng());
    const bool jpeg = trial % 2 == 0;
    const std::vector<uint8_t> magic =
        jpeg ? std::vector<uint8_t>{0xff, 0xd8, 0xff}
             : std::vector<uint8_t>{0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    b.insert(b.begin(), magic.begin(), magic.end());
    EXPECT_EQ(DecodeCode(b), ErrorCode::kInvalidImage) << "trial " << trial;
  }
}

}  // namespace
}  // namespace effi::image
