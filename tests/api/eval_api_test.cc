// Tests of the evaluation API (effi/eval.hpp): effi::Evaluate gives the numbers `effi eval --json`
// gives (the bundled Fashion-MNIST model on the first 16 test images; two models side by side),
// the model's own preprocessing given explicitly changes nothing, progress is reported and can
// cancel, and every kind of bad input is a typed effi::Error before anything runs.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "effi/eval.hpp"
#include "effi/image.hpp"

namespace {

namespace fs = std::filesystem;

const std::string kSource = EFFI_SOURCE_DIR;
const std::string kModel = kSource + "/assets/models/efficientformer_l1_fmnist96.onnx";
const std::string kTiny = kSource + "/tests/models/tiny_op11.onnx";  // 64x64, no metadata
const std::string kNoClassDim = kSource + "/tests/cli/testdata/no_class_dim.onnx";
const std::string kThreeClasses = kSource + "/tests/cli/testdata/three_classes.onnx";
const std::string kT10k = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";

#define REQUIRE_FMNIST()                                                                      \
  do {                                                                                        \
    if (!fs::exists(kT10k))                                                                   \
      GTEST_SKIP() << kT10k << " not found (Debian package dataset-fashion-mnist, installed " \
                   << "by scripts/install_deps.sh)";                                          \
  } while (0)

// A fresh directory removed at the end of the test.
struct TempDir {
  TempDir() {
    std::random_device rd;
    path = fs::temp_directory_path() / ("effi_eval_api_" + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
  fs::path path;
};

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// An uncompressed IDX pair "x-images-idx3-ubyte" / "x-labels-idx1-ubyte" of 28x28 gray images with
// the given labels.
std::string WriteIdxSet(const TempDir& dir, const std::vector<uint8_t>& labels) {
  auto header = [](const std::vector<uint32_t>& dims) {
    std::string out{'\0', '\0', '\x08', static_cast<char>(dims.size())};
    for (uint32_t d : dims)
      for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((d >> shift) & 0xFF);
    return out;
  };
  const auto n = static_cast<uint32_t>(labels.size());
  const std::string images = dir / "x-images-idx3-ubyte";
  WriteBytes(images, header({n, 28, 28}) + std::string(n * 28 * 28, '\x40'));
  WriteBytes(dir / "x-labels-idx1-ubyte", header({n}) + std::string(labels.begin(), labels.end()));
  return images;
}

// Runs `body` and checks it throws effi::Error with `code`, a one-line message naming `expect`.
template <typename F>
void ExpectError(effi::ErrorCode code, F&& body, const std::string& expect) {
  try {
    body();
    ADD_FAILURE() << "no error; expected one naming '" << expect << "'";
  } catch (const effi::Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.code(), code) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    EXPECT_NE(what.find(expect), std::string::npos) << "expected '" << expect << "' in " << what;
  }
}

effi::EvalOptions Limit(int64_t limit, int threads = 2) {
  effi::EvalOptions o;
  o.limit = limit;
  o.threads = threads;
  return o;
}

// `effi eval assets/models/efficientformer_l1_fmnist96.onnx --data t10k-images-idx3-ubyte.gz
// --limit 16 --json` prints count 16, correct 16 (top1 1.0), top5 1.0, agreement and cosine 1.
TEST(EvalApi, FashionMnistFirst16AsTheCli) {
  REQUIRE_FMNIST();
  effi::EvalOptions o = Limit(16);
  o.keep_logits = true;
  std::vector<std::pair<size_t, size_t>> calls;
  o.progress = [&](size_t done, size_t total) { calls.emplace_back(done, total); };
  const effi::EvalReport r = effi::Evaluate({kModel}, kT10k, o);
  EXPECT_EQ(r.items, 16);
  EXPECT_EQ(r.dataset.rfind("IDX '", 0), 0u) << r.dataset;
  EXPECT_NE(r.dataset.find("10000 images 28x28"), std::string::npos) << r.dataset;
  EXPECT_GT(r.seconds, 0);
  ASSERT_EQ(r.results.size(), 1u);
  const effi::EvalResult& m = r.results[0];
  EXPECT_EQ(m.model, kModel);
  EXPECT_EQ(m.correct, 16);
  EXPECT_EQ(m.top1, 1.0);
  EXPECT_EQ(m.top5, 1.0);
  EXPECT_EQ(m.agreement, 1.0);
  EXPECT_EQ(m.logit_cosine, 1.0);
  ASSERT_EQ(r.classes, 10);
  ASSERT_EQ(r.logits.size(), 16u * 10);
  // Progress: first (0, 16) on the calling thread before any image, last (16, 16), never back.
  ASSERT_GE(calls.size(), 2u);
  EXPECT_EQ(calls.front(), std::make_pair(size_t{0}, size_t{16}));
  EXPECT_EQ(calls.back(), std::make_pair(size_t{16}, size_t{16}));
  for (size_t i = 1; i < calls.size(); ++i) EXPECT_LE(calls[i - 1].first, calls[i].first);
}

// `effi eval MODEL tiny_op11.onnx --limit 8 --json`: each model with its own preprocessing (96x96
// from metadata, 64x64 timm defaults); the tiny model's numbers are the CLI's. Giving a model's
// own preprocessing explicitly changes nothing.
TEST(EvalApi, TwoModelsSideBySideAsTheCli) {
  REQUIRE_FMNIST();
  const effi::EvalReport r = effi::Evaluate({kModel, kTiny}, kT10k, Limit(8));
  EXPECT_EQ(r.items, 8);
  ASSERT_EQ(r.results.size(), 2u);
  EXPECT_EQ(r.results[0].correct, 8);
  EXPECT_EQ(r.results[0].agreement, 1.0);
  const effi::EvalResult& t = r.results[1];
  EXPECT_EQ(t.model, kTiny);
  EXPECT_EQ(t.correct, 0);
  EXPECT_EQ(t.top1, 0.0);
  EXPECT_EQ(t.top5, 0.375);
  EXPECT_EQ(t.agreement, 0.0);
  // The CLI's JSON on AVX-512; other ISAs sum in another order (the model goldens' 1e-4 relative).
  EXPECT_NEAR(t.logit_cosine, -0.09310215104132448, 1e-5);
  EXPECT_TRUE(r.logits.empty());  // not asked for

  // The model's own preprocessing given explicitly: the same logits.
  effi::EvalOptions own = Limit(4, 1);
  own.keep_logits = true;
  const effi::EvalReport a = effi::Evaluate({kTiny}, kT10k, own);
  own.preprocessing = effi::ModelPreprocessing(*effi::Model::Load(kTiny));
  const effi::EvalReport b = effi::Evaluate({kTiny}, kT10k, own);
  ASSERT_EQ(a.logits.size(), 4u * 10);
  EXPECT_EQ(a.logits, b.logits);
}

// The tiny model (0.05 s to load, against 0.2 s for the bundled one) where any classifier does.
TEST(EvalApi, BadInputIsATypedError) {
  TempDir dir;
  using effi::ErrorCode;
  const std::string images = WriteIdxSet(dir, {1, 2, 3, 10, 4});
  ExpectError(
      ErrorCode::kIo, [&] { effi::Evaluate({kTiny}, dir / "nothing"); }, "no such file or folder");
  ExpectError(
      ErrorCode::kIo, [&] { effi::Evaluate({dir / "none.onnx"}, images); }, "none.onnx");
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { effi::Evaluate({}, images); }, "no models");
  // Labels are checked before any image runs; beyond the limit they are not read.
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { effi::Evaluate({kTiny}, images); },
      "label 10 of IDX '" + images + "' image 3 is out of range: the model has 10");
  EXPECT_EQ(effi::Evaluate({kTiny}, images, Limit(1)).items, 1);
  // A folder of images without class subfolders has no labels.
  fs::create_directories(dir / "flat");
  fs::copy_file(kSource + "/assets/images/06_coat.png", dir / "flat/a.png");
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { effi::Evaluate({kTiny}, dir / "flat"); },
      "no class subfolders, so no labels");
  // Text that is no known form.
  WriteBytes(dir / "notes.txt", "just some words\n");
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { effi::Evaluate({kTiny}, dir / "notes.txt"); },
      "is not a known form");
  // An image that does not decode, in a class folder (named by index: the model has no labels).
  fs::create_directories(dir / "corrupt/4");
  WriteBytes(dir / "corrupt/4/a.png", "\x89PNG\r\n\x1a\n not really");
  ExpectError(
      ErrorCode::kInvalidImage, [&] { effi::Evaluate({kTiny}, dir / "corrupt"); }, "a.png");
  // Not a classifier; models of different class counts.
  ExpectError(
      ErrorCode::kUnsupported, [&] { effi::Evaluate({kNoClassDim}, images); },
      "no class dimension");
  ExpectError(
      ErrorCode::kInvalidArgument,
      [&] {
        effi::Evaluate({kTiny, kThreeClasses}, images);
      },
      "has 3 classes but '" + kTiny + "' has 10: agreement needs the same classes");
  // Options.
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { effi::Evaluate({kTiny}, images, Limit(-1)); }, "limit");
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { effi::Evaluate({kTiny}, images, Limit(1, -1)); },
      "threads");
  effi::EvalOptions small = Limit(1);
  small.preprocessing = effi::PreprocessOptions{};  // 224x224 for a 64x64 model
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { effi::Evaluate({kTiny}, images, small); }, "224x224");
}

// What the progress callback throws stops the run and comes out of Evaluate as it was thrown.
TEST(EvalApi, ProgressCanCancel) {
  TempDir dir;
  const std::string images = WriteIdxSet(dir, {1, 2, 3, 4, 5, 6, 7, 8});
  effi::EvalOptions o = Limit(0, 1);
  size_t last = 0;
  o.progress = [&](size_t done, size_t) {
    last = done;
    if (done == 2) throw std::runtime_error("stop here");
  };
  try {
    effi::Evaluate({kTiny}, images, o);
    ADD_FAILURE() << "not cancelled";
  } catch (const effi::Error& e) {
    ADD_FAILURE() << "an effi::Error instead of the callback's: " << e.what();
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "stop here");
  }
  EXPECT_EQ(last, 2u);  // no image ran after the callback failed
}

}  // namespace
