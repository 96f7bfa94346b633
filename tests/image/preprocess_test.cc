// Preprocessing tests: the shared PIL/timm golden inputs, the Fashion-MNIST golden batch (torch
// interpolate path), resize hashes from Pillow 9.4 / torch 1.13, crop geometry, metadata JSON.
#include "image/preprocess.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "effi/error.hpp"
#include "test_util.h"
#include "util/npy.h"

namespace effi::image {
namespace {

using testing_util::Fnv1a;
using testing_util::LcgImage;

struct DiffStats {
  double mean = 0.0;
  double max = 0.0;
};

DiffStats Compare(const std::vector<float>& got, const float* want, size_t n) {
  DiffStats s;
  EXPECT_EQ(got.size(), n);
  n = std::min(n, got.size());
  for (size_t i = 0; i < n; ++i) {
    const double d = std::fabs(static_cast<double>(got[i]) - want[i]);
    s.mean += d;
    s.max = std::max(s.max, d);
  }
  s.mean /= std::max<size_t>(n, 1);
  return s;
}

std::vector<float> AsFloats(const npy::Array& a) {
  EXPECT_EQ(a.dtype, "float32");
  std::vector<float> v(a.bytes.size() / sizeof(float));
  std::memcpy(v.data(), a.bytes.data(), v.size() * sizeof(float));
  return v;
}

void CheckPhotoGolden(const char* image, const char* golden) {
  const Image im = DecodeFile(testing_util::kShared + "/images/" + image);
  const std::vector<float> got = Preprocess(im, PreprocessConfig{});
  const npy::Array ref = npy::Load(testing_util::kShared + "/golden/efficientformer_l1/" + golden);
  ASSERT_EQ(ref.shape, (std::vector<int64_t>{1, 3, 224, 224}));
  const std::vector<float> want = AsFloats(ref);
  const DiffStats s = Compare(got, want.data(), want.size());
  std::cout << "[ golden   ] " << image << " vs " << golden << ": mean|diff| = " << s.mean
            << ", max|diff| = " << s.max << "\n";
  ::testing::Test::RecordProperty("mean_abs_diff", std::to_string(s.mean));
  ::testing::Test::RecordProperty("max_abs_diff", std::to_string(s.max));
  EXPECT_LE(s.mean, 0.01) << "contract";
  // Decoding and resampling are PIL-exact here, so anything above float noise is a regression.
  EXPECT_LE(s.max, 1e-6);
}

TEST(PreprocessGolden, Bittern) {
  EFFI_REQUIRE_SHARED("/golden/efficientformer_l1/input_4_bittern.npy");
  CheckPhotoGolden("bittern.JPEG", "input_4_bittern.npy");
}

TEST(PreprocessGolden, Goldfish) {
  EFFI_REQUIRE_SHARED("/golden/efficientformer_l1/input_5_goldfish.npy");
  CheckPhotoGolden("goldfish.JPEG", "input_5_goldfish.npy");
}

// First `count` images of an idx3-ubyte file (gzip or plain; zlib reads both).
std::vector<Image> ReadIdxImages(const std::string& path, int count) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return {};
  unsigned char header[16];
  std::vector<Image> out;
  if (gzread(f, header, 16) == 16) {
    auto be32 = [&](int o) {
      return (uint32_t{header[o]} << 24) | (uint32_t{header[o + 1]} << 16) |
             (uint32_t{header[o + 2]} << 8) | uint32_t{header[o + 3]};
    };
    const uint32_t n = be32(4), rows = be32(8), cols = be32(12);
    EXPECT_EQ(be32(0), 0x803u) << "idx3 magic";
    std::vector<uint8_t> pixels(static_cast<size_t>(rows) * cols);
    for (int i = 0; i < count && static_cast<uint32_t>(i) < n; ++i) {
      if (gzread(f, pixels.data(), static_cast<unsigned>(pixels.size())) !=
          static_cast<int>(pixels.size())) {
        break;
      }
      Image im;  // gray replicated to RGB, as the model's metadata says
      im.width = static_cast<int>(cols);
      im.height = static_cast<int>(rows);
      for (uint8_t p : pixels) im.rgb.insert(im.rgb.end(), {p, p, p});
      out.push_back(std::move(im));
    }
  }
  gzclose(f);
  return out;
}

// The `preprocess` JSON embedded in the model's metadata_props, found by a byte scan (the ONNX
// protobuf reader is another layer's subject).
std::string EmbeddedPreprocessJson(const std::string& onnx_path) {
  const std::vector<uint8_t> bytes = testing_util::ReadBytes(onnx_path);
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  const size_t start = text.find("{\"input_size\"");
  if (start == std::string_view::npos) return "";
  int depth = 0;
  for (size_t i = start; i < text.size(); ++i) {
    if (text[i] == '{') ++depth;
    if (text[i] == '}' && --depth == 0) return std::string(text.substr(start, i - start + 1));
  }
  return "";
}

TEST(PreprocessGolden, FashionMnistTorchBilinear) {
  EFFI_REQUIRE_SHARED("/golden/efficientformer_l1_fmnist96/input_test64.npy");
  const std::string dir = "/usr/share/datasets/fashion-mnist/";
  std::string idx = dir + "t10k-images-idx3-ubyte.gz";
  if (!std::filesystem::exists(idx)) idx = dir + "t10k-images-idx3-ubyte";
  if (!std::filesystem::exists(idx)) {
    GTEST_SKIP() << "Fashion-MNIST not found in " << dir << " (Debian dataset-fashion-mnist)";
  }
  const std::vector<Image> images = ReadIdxImages(idx, 12);
  ASSERT_EQ(images.size(), 12u);

  std::string json = R"({"input_size": [3, 96, 96], "resize": [96, 96], "crop_pct": 1.0,
      "interpolation": "bilinear", "antialias": false, "mean": [0.485, 0.456, 0.406],
      "std": [0.229, 0.224, 0.225]})";
  const std::string model = testing_util::kShared + "/models/efficientformer_l1_fmnist96.onnx";
  if (std::filesystem::exists(model)) {
    json = EmbeddedPreprocessJson(model);
    ASSERT_FALSE(json.empty()) << "no preprocess metadata in " << model;
  }
  const PreprocessConfig config = FromMetadataJson(json, PreprocessConfig{});
  EXPECT_EQ(config.input_h, 96);
  EXPECT_FALSE(config.antialias);
  EXPECT_EQ(config.interp, Interpolation::kBilinear);

  const npy::Array ref =
      npy::Load(testing_util::kShared + "/golden/efficientformer_l1_fmnist96/input_test64.npy");
  ASSERT_EQ(ref.shape, (std::vector<int64_t>{64, 3, 96, 96}));
  const std::vector<float> want = AsFloats(ref);
  const size_t per = 3 * 96 * 96;
  DiffStats worst;
  for (size_t i = 0; i < images.size(); ++i) {
    const DiffStats s = Compare(Preprocess(images[i], config), want.data() + i * per, per);
    worst.max = std::max(worst.max, s.max);
    worst.mean += s.mean / images.size();
  }
  std::cout << "[ golden   ] Fashion-MNIST first 12 vs input_test64.npy: mean|diff| = "
            << worst.mean << ", max|diff| = " << worst.max << "\n";
  ::testing::Test::RecordProperty("max_abs_diff", std::to_string(worst.max));
  EXPECT_LE(worst.max, 1e-5) << "contract";
  EXPECT_EQ(worst.max, 0.0) << "the torch path is bit-exact with torch 1.13 NCHW interpolate";
}

TEST(ResizePil, MatchesPillowHashes) {
  // FNV-1a of np.asarray(Image.fromarray(lcg).resize((ow, oh), filter)), Pillow 9.4.
  const struct {
    int w, h, ow, oh;
    Interpolation interp;
    uint64_t hash;
  } cases[] = {
      {37, 23, 16, 11, Interpolation::kBicubic, 0x23103fd2dd519d5bull},
      {37, 23, 16, 11, Interpolation::kBilinear, 0x58073a5f10799409ull},
      {37, 23, 16, 11, Interpolation::kNearest, 0x1869f3045dfd6a89ull},
      {37, 23, 80, 50, Interpolation::kBicubic, 0xc5b78b8e4cc45748ull},
      {37, 23, 80, 50, Interpolation::kBilinear, 0xb1403ffdddf1f918ull},
      {37, 23, 80, 50, Interpolation::kNearest, 0x9c2ecf0b970bdcc5ull},
      {37, 23, 37, 60, Interpolation::kBicubic, 0xe9dcb65681ad793bull},
      {37, 23, 37, 60, Interpolation::kBilinear, 0x72a1e23e28538fa9ull},
      {37, 23, 37, 60, Interpolation::kNearest, 0x471e0f45100a036dull},
      {37, 23, 12, 23, Interpolation::kBicubic, 0xfb73f68650b56884ull},
      {37, 23, 12, 23, Interpolation::kBilinear, 0x914f27be6feee715ull},
      {37, 23, 12, 23, Interpolation::kNearest, 0x2a3ac73d1a4a2a6aull},
      {64, 64, 1, 1, Interpolation::kBicubic, 0x25e5211adb96484bull},
      {64, 64, 1, 1, Interpolation::kBilinear, 0x25e1bb1adb936522ull},
      {64, 64, 1, 1, Interpolation::kNearest, 0x283aeb18990aa8bbull},
      {5, 3, 200, 1, Interpolation::kBicubic, 0xd09b34ab800d5c8dull},
      {5, 3, 200, 1, Interpolation::kBilinear, 0x3550151aac331157ull},
      {5, 3, 200, 1, Interpolation::kNearest, 0xf39b973456c097bdull},
      {301, 7, 11, 9, Interpolation::kBicubic, 0x9ca257446878300eull},
      {301, 7, 11, 9, Interpolation::kBilinear, 0x581fbb9f9d71f4b3ull},
      {301, 7, 11, 9, Interpolation::kNearest, 0x0ae9ccfd4da5922bull},
  };
  for (const auto& c : cases) {
    const Image out = ResizePil(LcgImage(c.w, c.h), c.ow, c.oh, c.interp);
    ASSERT_EQ(out.width, c.ow);
    ASSERT_EQ(out.height, c.oh);
    EXPECT_EQ(Fnv1a(out.rgb.data(), out.rgb.size()), c.hash)
        << c.w << "x" << c.h << " -> " << c.ow << "x" << c.oh << " interp "
        << static_cast<int>(c.interp);
  }
}

TEST(PreprocessTorch, MatchesInterpolateHashes) {
  // FNV-1a of the float32 bytes of ((interpolate(x, size, mode) - mean) / std) with x the
  // contiguous NCHW lcg / 255, torch 1.13 CPU; align_corners=False, legacy nearest.
  const struct {
    int w, h, ow, oh;
    Interpolation interp;
    uint64_t hash;
  } cases[] = {
      {13, 9, 29, 17, Interpolation::kBilinear, 0x3b232f75d9379d9dull},
      {13, 9, 29, 17, Interpolation::kBicubic, 0x34b2946261b019cbull},
      {13, 9, 29, 17, Interpolation::kNearest, 0x5647f77bcad67e0bull},
      {13, 9, 6, 5, Interpolation::kBilinear, 0x78065e3aa5fe1753ull},
      {13, 9, 6, 5, Interpolation::kBicubic, 0x42e3eb8da134dcfaull},
      {13, 9, 6, 5, Interpolation::kNearest, 0x0794a2db12ebaea4ull},
      {28, 28, 96, 96, Interpolation::kBilinear, 0x7c217955b69588acull},
      {28, 28, 96, 96, Interpolation::kBicubic, 0x93f1b35355a817f5ull},
      {28, 28, 96, 96, Interpolation::kNearest, 0x0fa000cd977b7b1bull},
      {50, 41, 17, 96, Interpolation::kBilinear, 0xe2fdeba5e11a110cull},
      {50, 41, 17, 96, Interpolation::kBicubic, 0xe2fbe8ec86cf3e5dull},
      {50, 41, 17, 96, Interpolation::kNearest, 0x181269ad1798a9cbull},
  };
  for (const auto& c : cases) {
    PreprocessConfig cfg;
    cfg.input_h = cfg.resize_h = c.oh;
    cfg.input_w = cfg.resize_w = c.ow;
    cfg.crop_pct = 1.0f;
    cfg.antialias = false;
    cfg.interp = c.interp;
    const std::vector<float> out = Preprocess(LcgImage(c.w, c.h), cfg);
    EXPECT_EQ(Fnv1a(out.data(), out.size() * sizeof(float)), c.hash)
        << c.w << "x" << c.h << " -> " << c.ow << "x" << c.oh << " interp "
        << static_cast<int>(c.interp);
  }
}

TEST(PreprocessTorch, BicubicIsAnInterpolator) {
  // Keys cubic weights sum to 1: a constant image stays constant; and a bicubic upscale stays
  // close to the bilinear one on a smooth ramp.
  Image flat;
  flat.width = 10;
  flat.height = 7;
  flat.rgb.assign(10 * 7 * 3, 200);
  PreprocessConfig cfg;
  cfg.input_h = cfg.resize_h = 23;
  cfg.input_w = cfg.resize_w = 31;
  cfg.antialias = false;
  cfg.mean = {0, 0, 0};
  cfg.std = {1, 1, 1};
  for (float v : Preprocess(flat, cfg)) EXPECT_NEAR(v, 200.0f / 255.0f, 1e-6f);
  Image ramp = flat;
  for (int y = 0; y < 7; ++y) {
    for (int x = 0; x < 10; ++x) {
      for (int c = 0; c < 3; ++c)
        ramp.rgb[(y * 10 + x) * 3 + c] = static_cast<uint8_t>(20 * x + 5 * y);
    }
  }
  const std::vector<float> cubic = Preprocess(ramp, cfg);
  cfg.interp = Interpolation::kBilinear;
  const std::vector<float> linear = Preprocess(ramp, cfg);
  for (size_t i = 0; i < cubic.size(); ++i) EXPECT_NEAR(cubic[i], linear[i], 0.03f);
}

TEST(PlanResize, TorchvisionGeometry) {
  const PreprocessConfig cfg;  // 224, crop_pct 0.95 -> shorter side 235
  ResizePlan p = PlanResize(500, 473, cfg);
  EXPECT_EQ(p.resize_w, 248);  // int(235 * 500 / 473)
  EXPECT_EQ(p.resize_h, 235);
  EXPECT_EQ(p.crop_x, 12);
  EXPECT_EQ(p.crop_y, 6);  // round(5.5) = 6 (half to even)
  p = PlanResize(500, 375, cfg);
  EXPECT_EQ(p.resize_w, 313);
  EXPECT_EQ(p.crop_x, 44);  // round(44.5) = 44 (half to even)
  p = PlanResize(375, 500, cfg);
  EXPECT_EQ(p.resize_w, 235);
  EXPECT_EQ(p.resize_h, 313);
  EXPECT_EQ(p.crop_y, 44);

  PreprocessConfig wide = cfg;
  wide.crop_pct = 1.2f;  // floor(224 / 1.2) = 186 < 224: torchvision pads, crop starts at -19
  p = PlanResize(300, 186, wide);
  EXPECT_EQ(p.resize_h, 186);
  EXPECT_EQ(p.crop_y, -19);

  PreprocessConfig squash = cfg;
  squash.resize_h = 96;
  squash.resize_w = 100;
  squash.input_h = squash.input_w = 96;
  p = PlanResize(1000, 20, squash);
  EXPECT_EQ(p.resize_w, 100);
  EXPECT_EQ(p.resize_h, 96);
  EXPECT_EQ(p.crop_x, 2);

  PreprocessConfig rect = cfg;  // timm ResizeKeepRatio for non-square inputs
  rect.input_h = 192;
  rect.input_w = 256;
  rect.crop_pct = 1.0f;
  p = PlanResize(640, 480, rect);
  EXPECT_EQ(p.resize_w, 256);
  EXPECT_EQ(p.resize_h, 192);
}

TEST(Preprocess, PaddingAndChannelOrder) {
  Image im;
  im.width = 4;
  im.height = 4;
  for (int i = 0; i < 16; ++i) im.rgb.insert(im.rgb.end(), {255, 128, 0});
  PreprocessConfig cfg;
  cfg.input_h = cfg.input_w = 6;
  cfg.crop_pct = 1.5f;  // resize to 4 (no-op), pad to 6: one zero pixel each side
  cfg.mean = {0.5f, 0.25f, 0.125f};
  cfg.std = {0.5f, 0.5f, 0.5f};
  const std::vector<float> rgb = Preprocess(im, cfg);
  ASSERT_EQ(rgb.size(), 3u * 36);
  EXPECT_FLOAT_EQ(rgb[0], (0.0f - 0.5f) / 0.5f);         // padded corner, R plane
  EXPECT_FLOAT_EQ(rgb[7], (1.0f - 0.5f) / 0.5f);         // (1,1) inside, R = 255
  EXPECT_FLOAT_EQ(rgb[72 + 7], (0.0f - 0.125f) / 0.5f);  // B plane = 0
  cfg.bgr = true;
  const std::vector<float> bgr = Preprocess(im, cfg);
  EXPECT_FLOAT_EQ(bgr[7], (0.0f - 0.5f) / 0.5f);  // plane 0 is blue now, normalised by mean[0]
  EXPECT_FLOAT_EQ(bgr[72 + 7], (1.0f - 0.125f) / 0.5f);
}

TEST(Preprocess, RejectsBadInputs) {
  const Image ok = LcgImage(8, 8);
  Image bad = ok;
  bad.rgb.pop_back();
  EXPECT_THROW(Preprocess(bad, {}), Error);
  EXPECT_THROW(Preprocess(Image{}, {}), Error);
  auto rejects = [&](auto mutate) {
    PreprocessConfig c;
    mutate(c);
    try {
      Preprocess(ok, c);
    } catch (const Error& e) {
      return e.code() == ErrorCode::kInvalidArgument;
    }
    return false;
  };
  EXPECT_TRUE(rejects([](PreprocessConfig& c) { c.input_h = 0; }));
  EXPECT_TRUE(rejects([](PreprocessConfig& c) { c.crop_pct = 0.0f; }));
  EXPECT_TRUE(rejects([](PreprocessConfig& c) { c.crop_pct = NAN; }));
  EXPECT_TRUE(rejects([](PreprocessConfig& c) { c.crop_pct = 1e-6f; }));  // 2e8-pixel resize
  EXPECT_TRUE(rejects([](PreprocessConfig& c) { c.std[1] = 0.0f; }));
  EXPECT_TRUE(rejects([](PreprocessConfig& c) { c.resize_h = 10; }));
  EXPECT_THROW(ResizePil(ok, 0, 5, Interpolation::kBilinear), Error);
}

TEST(FromMetadataJson, ParsesModelMetadata) {
  PreprocessConfig base;
  base.bgr = true;  // untouched by the JSON
  const PreprocessConfig c = FromMetadataJson(
      R"({"input_size": [3, 96, 96], "resize": [96, 96], "crop_pct": 1.0,
          "interpolation": "bilinear", "antialias": false, "mean": [0.1, 0.2, 0.3],
          "std": [0.4, 0.5, 0.6], "color": "gray replicated to RGB", "source_size": [28, 28]})",
      base);
  EXPECT_EQ(c.input_h, 96);
  EXPECT_EQ(c.input_w, 96);
  EXPECT_EQ(c.resize_h, 96);
  EXPECT_EQ(c.resize_w, 96);
  EXPECT_FLOAT_EQ(c.crop_pct, 1.0f);
  EXPECT_EQ(c.interp, Interpolation::kBilinear);
  EXPECT_FALSE(c.antialias);
  EXPECT_FLOAT_EQ(c.mean[2], 0.3f);
  EXPECT_FLOAT_EQ(c.std[0], 0.4f);
  EXPECT_TRUE(c.bgr);
  const PreprocessConfig d =
      FromMetadataJson(R"({"crop_pct": null, "input_size": [128, 160]})", {});
  EXPECT_FLOAT_EQ(d.crop_pct, 0.95f);
  EXPECT_EQ(d.input_h, 128);
  EXPECT_EQ(d.input_w, 160);
}

TEST(FromMetadataJson, RejectsWrongTypes) {
  const char* bad[] = {
      "not json",
      "[1, 2, 3]",
      R"({"input_size": "96"})",
      R"({"input_size": [4, 96, 96]})",
      R"({"input_size": [3, -96, 96]})",
      R"({"input_size": [3, 96.5, 96]})",
      R"({"resize": [96]})",
      R"({"crop_pct": "1.0"})",
      R"({"crop_pct": 0})",
      R"({"interpolation": "lanczos"})",
      R"({"interpolation": 2})",
      R"({"antialias": "no"})",
      R"({"mean": [0.1, 0.2]})",
      R"({"std": [0.1, 0, 0.3]})",
      R"({"std": [0.1, "x", 0.3]})",
      R"({"mean": [1e300, 0, 0]})",
  };
  for (const char* json : bad) {
    try {
      FromMetadataJson(json, {});
      ADD_FAILURE() << "accepted: " << json;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidModel) << json;
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  }
}

// Values quoted in the errors are escaped and bounded: a 100,000-number list or a string holding
// a newline and ESC from a hostile model's metadata never becomes a long or multi-line message.
TEST(FromMetadataJson, QuotesValuesEscapedAndBounded) {
  std::string big = R"({"mean": [)";
  for (int i = 0; i < 100000; ++i) big += "1,";
  big += "1]}";
  const std::string bad[] = {big, "{\"interpolation\": \"x\\n\\u001b[31meffi: error: fake\"}",
                             "{\"input_size\": \"\\u001b[2J\"}"};
  for (const std::string& json : bad) {
    try {
      FromMetadataJson(json, {});
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      const std::string m = e.what();
      EXPECT_LT(m.size(), 400u) << m.substr(0, 400);
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
      EXPECT_EQ(m.find('\x1b'), std::string::npos) << m;
    }
  }
}

}  // namespace
}  // namespace effi::image
