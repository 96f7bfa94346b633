// `effi classify` inputs (issue 14): folders (recursive, sorted, image files only), an image as the
// only argument (the bundled model), --threads, --csv, NV12 frames selected by extension, frame
// sizes checked against the file, and the hints for raw files and transposed sizes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "../jpeg_encode.h"
#include "cli_test_util.h"

namespace effi::cli_test {
namespace {

namespace fs = std::filesystem;

const std::string kSource = EFFI_SOURCE_DIR;
const std::string kTiny = kSource + "/tests/models/tiny_op11.onnx";
const std::string kImages = kSource + "/assets/images";
const std::string kBoot = kImages + "/00_ankle_boot.png";

std::string NoiseJpeg(int w, int h, unsigned seed) {
  std::vector<uint8_t> rgb(static_cast<size_t>(w) * h * 3);
  std::mt19937 rng(seed);
  for (uint8_t& v : rgb) v = static_cast<uint8_t>(rng());
  const std::vector<uint8_t> jpeg = effi::testing_util::EncodeJpeg(rgb, w, h, 3, 90);
  return std::string(jpeg.begin(), jpeg.end());
}

// An NV12 frame of w x h whose luma is a horizontal ramp (every row the same, so its rows line up
// only at width w) and neutral chroma.
std::string RampNv12(int w, int h) {
  std::string frame(static_cast<size_t>(w) * h * 3 / 2, '\x80');
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      frame[static_cast<size_t>(y) * w + x] = static_cast<char>(x * 255 / (w - 1));
  return frame;
}

// The image paths and top-1 indices of a --json document.
std::vector<std::pair<std::string, int64_t>> Top1(const std::string& json) {
  std::vector<std::pair<std::string, int64_t>> out;
  const nlohmann::json doc = nlohmann::json::parse(json);
  for (const auto& r : doc.at("results"))
    out.emplace_back(r.at("image").get<std::string>(),
                     r.at("top").at(0).at("index").get<int64_t>());
  return out;
}

// The contract of a failure: `code`, nothing on stdout, the last stderr line "effi: error: ..."
// containing `part`.
void ExpectFailure(const Result& r, int code, const std::string& part) {
  EXPECT_EQ(r.code, code) << Describe(r);
  EXPECT_TRUE(r.out.empty()) << Describe(r);
  const std::vector<std::string> lines = Lines(r.err);
  ASSERT_FALSE(lines.empty()) << Describe(r);
  EXPECT_EQ(lines.back().rfind("effi: error: ", 0), 0u) << lines.back();
  EXPECT_NE(lines.back().find(part), std::string::npos) << lines.back();
}

TEST(CliClassifyFolder, RecursiveSortedImageFilesOnly) {
  TempDir dir;
  const std::string root = dir / "photos";
  fs::create_directories(root + "/b");
  fs::create_directories(root + "/c/deeper");
  fs::create_directories(root + "/.hidden");
  fs::create_directories(root + "/empty");
  fs::copy_file(kBoot, root + "/b/boot.PNG");
  fs::copy_file(kImages + "/02_trouser.png", root + "/a.png");
  WriteBytes(root + "/c/deeper/noise.JpEg", NoiseJpeg(40, 30, 1));
  WriteBytes(root + "/notes.txt", "not an image");
  WriteBytes(root + "/model.onnx", "not an image either");
  fs::copy_file(kBoot, root + "/.hidden/skipped.png");
  fs::copy_file(kBoot, root + "/.skipped.png");
  fs::create_directory_symlink("..", root + "/c/loop");  // not followed: no endless walk
  const Result r = RunCli({"classify", kTiny, root, "--json", "--threads", "2"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  const auto top = Top1(r.out);
  ASSERT_EQ(top.size(), 3u) << r.out;
  EXPECT_EQ(top[0].first, root + "/a.png");
  EXPECT_EQ(top[1].first, root + "/b/boot.PNG");
  EXPECT_EQ(top[2].first, root + "/c/deeper/noise.JpEg");
  // The same classes as the files named one by one, a folder mixed with a file.
  const Result files = RunCli({"classify", kTiny, root + "/a.png", root + "/b/boot.PNG",
                               root + "/c/deeper/noise.JpEg", "--json", "--threads", "1"});
  ASSERT_EQ(files.code, 0) << Describe(files);
  EXPECT_EQ(Top1(files.out), top);
  const Result mixed = RunCli({"classify", kTiny, kBoot, root + "/c", "--json"});
  ASSERT_EQ(mixed.code, 0) << Describe(mixed);
  ASSERT_EQ(Top1(mixed.out).size(), 2u) << mixed.out;
  EXPECT_EQ(Top1(mixed.out)[1].first, root + "/c/deeper/noise.JpEg");

  ExpectFailure(RunCli({"classify", kTiny, root + "/empty"}), 1, "holds no image files");
  ExpectFailure(RunCli({"classify", kTiny, root + "/.hidden/..", root + "/empty"}), 1,
                "/empty' holds no image files (.jpg, .jpeg, .png, .nv12, .yuv)");
}

TEST(CliClassifyFolder, ThreadsGiveTheSameResultsInTheSameOrder) {
  TempDir dir;
  for (int i = 0; i < 5; ++i)
    WriteBytes(dir / ("img" + std::to_string(i) + ".jpg"), NoiseJpeg(48 + 8 * i, 40, 10 + i));
  const Result one = RunCli({"classify", kTiny, dir.path(), "--json", "--threads", "1"});
  const Result three = RunCli({"classify", kTiny, dir.path(), "--json", "--threads", "3"});
  const Result batch =
      RunCli({"classify", kTiny, dir.path(), "--json", "--threads", "2", "--batch"});
  ASSERT_EQ(one.code, 0) << Describe(one);
  ASSERT_EQ(three.code, 0) << Describe(three);
  ASSERT_EQ(batch.code, 0) << Describe(batch);  // fixed batch: a warning, then one by one
  EXPECT_EQ(Top1(one.out).size(), 5u);
  EXPECT_EQ(one.out, three.out);
  EXPECT_EQ(one.out, batch.out);
  for (const char* bad : {"0", "-1", "257", "two"})
    ExpectFailure(RunCli({"classify", kTiny, dir.path(), "--threads", bad}), 2, "--threads");
  // The first failing image (in argument order) is the one reported, whatever the scheduling.
  WriteBytes(dir / "img2.jpg", "broken");
  ExpectFailure(RunCli({"classify", kTiny, dir.path(), "--threads", "3"}), 1, "img2.jpg");
}

TEST(CliClassifyCsv, HeaderRowsAndQuoting) {
  TempDir dir;
  std::string labels;
  for (int i = 0; i < 10; ++i)
    labels += i == 3   ? "a \"quoted\", label\n"
              : i == 5 ? "\x1b[31mred\r\n"  // escaped: CSV goes to terminals too
                       : "class " + std::to_string(i) + "\n";
  WriteBytes(dir / "labels.txt", labels);
  fs::copy_file(kBoot, dir / "with,comma.png");
  const Result r = RunCli({"classify", kTiny, dir / "with,comma.png", kBoot, "--csv", "--top", "10",
                           "--labels", dir / "labels.txt"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 21u) << r.out;
  EXPECT_EQ(lines[0], "path,rank,index,label,probability");
  std::string quoted_path = "\"";  // appended, not `"\"" + ...`: GCC 12's -Wrestrict misfires
  quoted_path += dir / "with,comma.png";
  quoted_path += "\",";
  double sum = 0;
  int quoted_labels = 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::string rest = lines[i];
    const std::string path = i <= 10 ? quoted_path : kBoot + ",";
    ASSERT_EQ(rest.rfind(path, 0), 0u) << rest;
    rest = rest.substr(path.size());
    EXPECT_EQ(rest.rfind(std::to_string((i - 1) % 10 + 1) + ",", 0), 0u) << rest;  // rank
    if (rest.find(",\"a \"\"quoted\"\", label\",") != std::string::npos) ++quoted_labels;
    if (i <= 10) sum += std::stod(rest.substr(rest.rfind(',') + 1));
  }
  EXPECT_EQ(quoted_labels, 2);
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos);
  EXPECT_NE(r.out.find(",\\x1b[31mred,"), std::string::npos) << r.out;
  EXPECT_NEAR(sum, 1.0, 1e-4);
  ExpectFailure(RunCli({"classify", kTiny, kBoot, "--csv", "--json"}), 2, "--csv");
}

TEST(CliClassifyBundled, AnImageAloneUsesTheBundledModel) {
  TempDir dir;
  WriteBytes(dir / "photo", NoiseJpeg(32, 32, 5));  // a JPEG by its bytes, no extension
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"classify", kBoot, "--json"},
        std::vector<std::string>{"classify", dir / "photo", kBoot, "--json"},
        std::vector<std::string>{"classify", kImages, "--json", "--top", "1"}}) {
    const Result r = RunCli(args);
    ASSERT_EQ(r.code, 0) << Describe(r);
    const std::vector<std::string> err = Lines(r.err);
    ASSERT_EQ(err.size(), 1u) << r.err;
    EXPECT_EQ(err[0].rfind("effi: using the bundled model ", 0), 0u) << err[0];
    EXPECT_NE(err[0].find("efficientformer_l1_fmnist96.onnx"), std::string::npos) << err[0];
    const auto top = Top1(r.out);
    ASSERT_FALSE(top.empty());
    if (args[1] == kBoot) {
      ASSERT_EQ(top.size(), 1u);
      EXPECT_EQ(top[0].second, 9);  // Fashion-MNIST class 9: ankle boot
    }
  }
  // A missing image is still an image by its extension: no model is looked for under its name.
  ExpectFailure(RunCli({"classify", dir / "missing.jpg"}), 1, "missing.jpg': no such file");
  // A model alone is not taken for an image.
  ExpectFailure(RunCli({"classify", kTiny}), 2, "no IMAGE given");
}

TEST(CliClassifyNv12, ExtensionSelectsNv12AndSizesAreChecked) {
  TempDir dir;
  WriteBytes(dir / "frame.nv12", RampNv12(64, 32));
  WriteBytes(dir / "frame.YUV", RampNv12(64, 32));
  WriteBytes(dir / "frame.raw", RampNv12(64, 32));
  const Result by_ext = RunCli({"classify", kTiny, dir / "frame.nv12", dir / "frame.YUV",
                                "--frame-size", "64x32", "--json"});
  ASSERT_EQ(by_ext.code, 0) << Describe(by_ext);
  EXPECT_TRUE(by_ext.err.empty()) << by_ext.err;  // the right size: no transposition warning
  const Result by_flag = RunCli({"classify", kTiny, dir / "frame.raw", "--input-format", "nv12",
                                 "--frame-size", "64x32", "--json"});
  ASSERT_EQ(by_flag.code, 0) << Describe(by_flag);
  EXPECT_EQ(Top1(by_ext.out)[0].second, Top1(by_flag.out)[0].second);

  // No size for a frame selected by its extension; a raw file without --input-format.
  ExpectFailure(RunCli({"classify", kTiny, dir / "frame.YUV"}), 2,
                "is a raw NV12 frame (by its extension): give its size with --frame-size WxH");
  ExpectFailure(RunCli({"classify", kTiny, dir / "frame.raw"}), 1,
                "is neither JPEG nor PNG (it starts with 0004080c); for a raw NV12 frame use "
                "--input-format nv12 --frame-size WxH");
  ExpectFailure(RunCli({"classify", kTiny, kBoot, "--frame-size", "64x32"}), 2,
                "--frame-size applies to NV12 frames only");

  // A size that does not match the file: what the bytes would fit.
  ExpectFailure(RunCli({"classify", kTiny, dir / "frame.nv12", "--frame-size", "32x32"}), 1,
                "a 32x32 frame is 1536 bytes (W*H*3/2), the file has 3072; it would fit 2 NV12 "
                "frames of 32x32 (give one frame per file), or a 32x32 RGB24 frame");
  WriteBytes(dir / "vga.nv12", std::string(640 * 480 * 3 / 2, '\x10'));
  ExpectFailure(RunCli({"classify", kTiny, dir / "vga.nv12", "--frame-size", "640x360"}), 1,
                "the file has 460800; it would fit a 640x360 4:2:2 frame (YUYV, UYVY or NV16), or "
                "an NV12 frame of 640x480 or 480x640");
  WriteBytes(dir / "gray.nv12", std::string(64 * 32, '\x10'));
  ExpectFailure(RunCli({"classify", kTiny, dir / "gray.nv12", "--frame-size", "64x32"}), 1,
                "the file has 2048; it would fit a 64x32 gray (Y only) frame");
  WriteBytes(dir / "odd.nv12", std::string(1001, '\x10'));
  ExpectFailure(RunCli({"classify", kTiny, dir / "odd.nv12", "--frame-size", "64x32"}), 1,
                "a 64x32 frame is 3072 bytes (W*H*3/2), the file has 1001");

  // The transposed size has the same byte count: it runs, with a warning from the picture.
  const Result transposed =
      RunCli({"classify", kTiny, dir / "frame.nv12", "--frame-size", "32x64", "--top", "1"});
  ASSERT_EQ(transposed.code, 0) << Describe(transposed);
  EXPECT_NE(transposed.err.find("effi: warning: '" + dir / "frame.nv12" +
                                "' looks transposed: its rows line up at 64x32, not at the given "
                                "32x64 (--frame-size is width x height)"),
            std::string::npos)
      << transposed.err;
  // A flat frame gives no reason to warn.
  WriteBytes(dir / "flat.nv12", std::string(64 * 32 * 3 / 2, '\x80'));
  const Result flat = RunCli({"classify", kTiny, dir / "flat.nv12", "--frame-size", "32x64"});
  ASSERT_EQ(flat.code, 0) << Describe(flat);
  EXPECT_TRUE(flat.err.empty()) << flat.err;
}

}  // namespace
}  // namespace effi::cli_test
