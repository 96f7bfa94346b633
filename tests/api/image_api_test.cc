// Tests of the image API (effi/image.hpp) and its C API (effi/effi.h): decoding equals the
// internal decoders, preprocessing equals timm's on the shared golden photos, the Classifier gives
// the CLI's top-1 on the bundled demo, TopK's rules, thread safety, and a typed error for every
// kind of hostile input. Small models: tests/api/make_image_api_models.py.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "effi/effi.h"
#include "effi/effi.hpp"
#include "effi/image.hpp"
#include "image/image.h"
#include "util/npy.h"

namespace {

namespace fs = std::filesystem;

const std::string kShared = EFFI_SHARED_DIR;
const std::string kSource = EFFI_SOURCE_DIR;
const std::string kData = kSource + "/tests/api/testdata";
const std::string kDemoModel = kSource + "/assets/models/efficientformer_l1_fmnist96.onnx";
const std::string kDemoImages = kSource + "/assets/images";

std::string ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// A temporary file removed at the end of the test.
struct TempFile {
  explicit TempFile(const std::string& bytes)
      : path(fs::temp_directory_path() /
             ("effi_image_api_" +
              std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
              std::to_string(reinterpret_cast<uintptr_t>(this)))) {
    std::ofstream(path, std::ios::binary) << bytes;
  }
  ~TempFile() { fs::remove(path); }
  std::string path;
};

// Runs `body` and checks it throws effi::Error with `code` and a one-line message.
template <typename F>
void ExpectError(effi::ErrorCode code, F&& body, const std::string& what) {
  try {
    body();
    ADD_FAILURE() << what << ": no error";
  } catch (const effi::Error& e) {
    EXPECT_EQ(e.code(), code) << what << ": " << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    EXPECT_FALSE(std::string(e.what()).empty());
  }
}

effi::Image Solid(int width, int height, uint8_t r, uint8_t g, uint8_t b) {
  effi::Image img;
  img.width = width;
  img.height = height;
  for (int i = 0; i < width * height; ++i) img.rgb.insert(img.rgb.end(), {r, g, b});
  return img;
}

// "00_ankle_boot.png" -> "ankle boot"; "T-shirt/top" -> "t shirt top".
std::string Normalize(const std::string& s) {
  std::string out;
  for (unsigned char c : s) out += std::isalnum(c) ? static_cast<char>(std::tolower(c)) : ' ';
  return out;
}

std::vector<std::string> DemoImages() {
  std::vector<std::string> images;
  for (const auto& e : fs::directory_iterator(kDemoImages))
    if (e.path().extension() == ".png") images.push_back(e.path().string());
  std::sort(images.begin(), images.end());
  return images;
}

// ---------------- decoding ----------------

TEST(ImageApi, DecodeEqualsTheInternalDecoder) {
  std::vector<std::string> files = DemoImages();
  for (const char* photo : {"bittern.JPEG", "goldfish.JPEG"}) {
    if (fs::exists(kShared + "/images/" + photo)) files.push_back(kShared + "/images/" + photo);
  }
  ASSERT_GE(files.size(), 12u);
  for (const std::string& file : files) {
    const effi::image::Image want = effi::image::DecodeFile(file);
    const effi::Image got = effi::DecodeImage(file);
    EXPECT_EQ(got.width, want.width) << file;
    EXPECT_EQ(got.height, want.height) << file;
    EXPECT_TRUE(got.rgb == want.rgb) << file;
    const std::string bytes = ReadBytes(file);
    EXPECT_TRUE(effi::DecodeImage(bytes.data(), bytes.size()).rgb == want.rgb) << file;
  }
  if (files.size() == 12) GTEST_SKIP() << "../shared not found: checked the bundled PNGs only";
}

TEST(ImageApi, Nv12DecodesAndChecksItsSize) {
  // Mid-grey NV12 (Y = 126, U = V = 128) is grey in RGB.
  std::vector<uint8_t> frame(4 * 2 * 3 / 2, 128);
  std::fill(frame.begin(), frame.begin() + 8, 126);
  const effi::Image img = effi::DecodeNv12(frame.data(), frame.size(), 4, 2);
  EXPECT_EQ(img.width, 4);
  EXPECT_EQ(img.height, 2);
  ASSERT_EQ(img.rgb.size(), 24u);
  for (uint8_t v : img.rgb) EXPECT_NEAR(v, 128, 2);
  TempFile file(std::string(frame.begin(), frame.end()));
  EXPECT_TRUE(effi::DecodeNv12File(file.path, 4, 2).rgb == img.rgb);

  using effi::ErrorCode;
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { effi::DecodeNv12(frame.data(), 11, 4, 2); },
      "size mismatch");
}

TEST(ImageApi, HostileImagesAreTypedErrors) {
  using effi::ErrorCode;
  const std::string png = ReadBytes(kDemoImages + "/00_ankle_boot.png");
  const std::string garbage = "this is not an image at all";
  ExpectError(
      ErrorCode::kInvalidImage, [&] { effi::DecodeImage(garbage.data(), garbage.size()); },
      "garbage");
  ExpectError(
      ErrorCode::kInvalidImage, [&] { effi::DecodeImage(png.data(), png.size() / 2); },
      "truncated PNG");
  ExpectError(
      ErrorCode::kInvalidImage, [&] { effi::DecodeImage(png.data(), 0); }, "empty");
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { effi::DecodeImage(nullptr, 10); }, "null");
  ExpectError(
      ErrorCode::kInvalidImage, [&] { effi::DecodeImage(png.data(), png.size(), 100); },
      "over max_pixels (28x28 > 100)");
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { effi::DecodeImage(png.data(), png.size(), -1); },
      "negative max_pixels");
  ExpectError(
      ErrorCode::kIo, [&] { effi::DecodeImage(kData + "/no_such_image.png"); }, "missing");
  ExpectError(
      ErrorCode::kIo, [&] { effi::DecodeImage(kData); }, "a directory");

  std::vector<uint8_t> frame(24, 128);  // a 4x4 frame
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { effi::DecodeNv12(frame.data(), 23, 4, 4); },
      "NV12 one byte short");
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { effi::DecodeNv12(frame.data(), 24, 6, 4); },
      "the bytes of a 4x4 frame given as 6x4");
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { effi::DecodeNv12(frame.data(), 24, 3, 4); }, "odd width");
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { effi::DecodeNv12(frame.data(), 24, 4, 3); }, "odd height");
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { effi::DecodeNv12(frame.data(), 0, 0, 0); }, "zero size");
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { effi::DecodeNv12(frame.data(), 24, -4, -4); },
      "negative size");
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { effi::DecodeNv12(nullptr, 24, 4, 4); }, "null");
  TempFile file(std::string(25, '\x80'));
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { effi::DecodeNv12File(file.path, 4, 4); },
      "NV12 file one byte too long");
  ExpectError(
      ErrorCode::kIo, [&] { effi::DecodeNv12File(kData + "/no_such.nv12", 4, 2); },
      "missing NV12 file");

  const effi::PreprocessOptions defaults;
  effi::Image bad = Solid(4, 4, 1, 2, 3);
  bad.rgb.pop_back();
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { effi::Preprocess(bad, defaults); }, "rgb size mismatch");
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { effi::Preprocess(effi::Image{}, defaults); },
      "empty image");
  for (auto change : std::vector<void (*)(effi::PreprocessOptions&)>{
           [](effi::PreprocessOptions& o) { o.width = 0; },
           [](effi::PreprocessOptions& o) { o.height = -3; },
           [](effi::PreprocessOptions& o) { o.crop_pct = std::numeric_limits<float>::quiet_NaN(); },
           [](effi::PreprocessOptions& o) { o.std[1] = 0; },
           [](effi::PreprocessOptions& o) { o.resize_width = 10; },
           [](effi::PreprocessOptions& o) {
             o.interpolation = static_cast<effi::Interpolation>(7);
           },
       }) {
    effi::PreprocessOptions o;
    change(o);
    ExpectError(
        ErrorCode::kInvalidArgument, [&] { effi::Preprocess(Solid(4, 4, 1, 2, 3), o); },
        "bad options");
  }
}

// ---------------- preprocessing: timm's, as the shared goldens were made ----------------

TEST(ImageApi, PreprocessAndClassifierMatchTimmOnTheGoldenPhoto) {
  const std::string model_path = kShared + "/models/efficientformer_l1.op11.onnx";
  const std::string golden = kShared + "/golden/efficientformer_l1/";
  if (!fs::exists(model_path)) GTEST_SKIP() << "../shared not found (" << model_path << ")";
  auto model = effi::Model::Load(model_path);
  const effi::PreprocessOptions options = effi::ModelPreprocessing(*model);
  EXPECT_EQ(options.width, 224);
  EXPECT_EQ(options.height, 224);
  EXPECT_FLOAT_EQ(options.crop_pct, 0.95f);
  EXPECT_EQ(options.interpolation, effi::Interpolation::kBicubic);
  const effi::Image photo = effi::DecodeImage(kShared + "/images/bittern.JPEG");
  const effi::Tensor x = effi::Preprocess(photo, options);
  const effi::npy::Array want = effi::npy::Load(golden + "input_4_bittern.npy");
  ASSERT_EQ(x.shape, (std::vector<int64_t>{1, 3, 224, 224}));
  ASSERT_EQ(x.bytes.size(), want.bytes.size());
  EXPECT_EQ(std::memcmp(x.bytes.data(), want.bytes.data(), want.bytes.size()), 0)
      << "not bit-exact with timm/PIL";

  effi::Classifier classifier(model);
  EXPECT_EQ(classifier.classes(), 1000);
  EXPECT_TRUE(classifier.labels().empty());
  const std::vector<effi::Prediction> top = classifier.Classify(photo, 3);
  const effi::npy::Array logits = effi::npy::Load(golden + "torch_4_bittern.npy");
  const auto* l = reinterpret_cast<const float*>(logits.bytes.data());
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].index, std::max_element(l, l + 1000) - l);
  EXPECT_EQ(top[0].label, std::to_string(top[0].index));  // no labels: the index
  const std::vector<effi::Prediction> direct = effi::TopK(l, 1000, 3);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(top[i].index, direct[i].index);
    EXPECT_NEAR(top[i].probability, direct[i].probability, 1e-4);
  }
}

// ---------------- the Classifier on the bundled demo, as `effi classify` ----------------

TEST(ImageApi, ClassifierGivesTheDemoImagesTheirClass) {
  auto model = effi::Model::Load(kDemoModel);
  effi::Classifier classifier(model);
  EXPECT_EQ(classifier.classes(), 10);
  ASSERT_EQ(classifier.labels().size(), 10u);
  EXPECT_EQ(classifier.labels()[9], "Ankle boot");
  const effi::PreprocessOptions& p = classifier.preprocessing();  // from the model's metadata
  EXPECT_EQ(p.width, 96);
  EXPECT_EQ(p.height, 96);
  EXPECT_EQ(p.interpolation, effi::Interpolation::kBilinear);
  EXPECT_FALSE(p.antialias);
  const std::vector<std::string> files = DemoImages();
  ASSERT_EQ(files.size(), 12u);
  std::vector<effi::Image> images;
  std::vector<int64_t> top1;
  for (const std::string& file : files) {
    images.push_back(effi::DecodeImage(file));
    const std::vector<effi::Prediction> top = classifier.Classify(images.back(), 5);
    ASSERT_EQ(top.size(), 5u);
    // The file is named after its true class (scripts/make_demo_images.py); `effi classify`
    // gets all 12 right (tests/cli: DemoWithNoArgumentsFromAnotherDirectory).
    const std::string stem = fs::path(file).stem().string();
    EXPECT_EQ(Normalize(top[0].label), Normalize(stem.substr(stem.find('_') + 1))) << file;
    EXPECT_EQ(top[0].label, classifier.labels()[static_cast<size_t>(top[0].index)]);
    for (size_t i = 1; i < top.size(); ++i) EXPECT_LE(top[i].probability, top[i - 1].probability);
    top1.push_back(top[0].index);
  }
  // A list on a batch-1 model: one run per image, the same results (3 images: each run of the L1
  // takes ~1 s under ASan).
  const auto some =
      classifier.Classify(std::vector<effi::Image>(images.begin(), images.begin() + 3), 2);
  ASSERT_EQ(some.size(), 3u);
  for (size_t i = 0; i < some.size(); ++i) EXPECT_EQ(some[i][0].index, top1[i]);
  // Preprocessed by hand: the same.
  const effi::Tensor x = effi::Preprocess(images[0], classifier.preprocessing());
  EXPECT_EQ(classifier.Classify(x, 1)[0][0].index, top1[0]);
}

// Many threads on one Classifier: each call borrows a session from the pool (grown on demand).
// The 8x8 model keeps 4 x 200 calls cheap under the sanitizers while the calls still overlap.
TEST(ImageApi, ClassifierIsSafeFromManyThreads) {
  effi::Classifier classifier(effi::Model::Load(kData + "/cls3.onnx"));
  const std::vector<effi::Image> images = {Solid(8, 8, 200, 0, 0), Solid(16, 8, 0, 200, 0),
                                           Solid(8, 16, 0, 0, 200)};
  const char* want[] = {"red", "green", "blue"};
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 200; ++round) {
        const size_t i = static_cast<size_t>(round + t) % images.size();
        mismatches[static_cast<size_t>(t)] += classifier.Classify(images[i], 1)[0].label != want[i];
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

TEST(ImageApi, ClassifierOnSmallModels) {
  // cls3: scores = mean of each colour plane (mean 0, std 1): a solid colour picks its class.
  effi::Classifier classifier(effi::Model::Load(kData + "/cls3.onnx"));
  EXPECT_EQ(classifier.labels(), (std::vector<std::string>{"red", "green", "blue"}));
  EXPECT_EQ(classifier.Classify(Solid(20, 12, 10, 250, 30), 1)[0].label, "green");
  EXPECT_EQ(classifier.Classify(Solid(3, 3, 10, 20, 200), 9).size(), 3u);  // top clamped

  // Dynamic batch: a list is one batch; the same as one by one.
  effi::Classifier dyn(effi::Model::Load(kData + "/cls3_dyn.onnx"));
  const std::vector<effi::Image> images = {Solid(8, 8, 200, 0, 0), Solid(9, 7, 0, 0, 200)};
  const auto both = dyn.Classify(images, 3);
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[0][0].label, "red");
  EXPECT_EQ(both[1][0].label, "blue");
  EXPECT_NEAR(both[1][0].probability, dyn.Classify(images[1], 1)[0].probability, 1e-6);

  // Labels and preprocessing given by the caller replace the metadata's.
  effi::ClassifierOptions options;
  options.labels = {"r", "g", "b"};
  options.preprocessing = classifier.preprocessing();
  options.preprocessing->bgr = true;
  effi::Classifier swapped(effi::Model::Load(kData + "/cls3.onnx"), options);
  EXPECT_EQ(swapped.Classify(Solid(8, 8, 250, 0, 0), 1)[0].label, "b");  // B,G,R planes

  // No metadata: timm's defaults at the input's size, indices as labels.
  effi::Classifier plain(effi::Model::Load(kData + "/cls3_nometa.onnx"));
  EXPECT_EQ(plain.preprocessing().width, 8);
  EXPECT_FLOAT_EQ(plain.preprocessing().crop_pct, 0.95f);
  EXPECT_TRUE(plain.labels().empty());
  EXPECT_EQ(plain.Classify(Solid(8, 8, 0, 0, 250), 1)[0].label, "2");
  plain.set_labels({"x", "y", "z"});
  EXPECT_EQ(plain.Classify(Solid(8, 8, 0, 0, 250), 1)[0].label, "z");
}

TEST(ImageApi, ModelsThatAreNotClassifiersAreTypedErrors) {
  using effi::ErrorCode;
  const std::pair<const char*, ErrorCode> cases[] = {
      {"not_image", ErrorCode::kUnsupported},
      {"no_class_dim", ErrorCode::kUnsupported},
      {"bad_labels", ErrorCode::kInvalidModel},
      {"labels_count", ErrorCode::kInvalidArgument},
      {"deep_preprocess", ErrorCode::kInvalidModel},
      {"big_preprocess", ErrorCode::kInvalidModel},
      {"preprocess_size", ErrorCode::kInvalidArgument},
  };
  for (const auto& [name, code] : cases) {
    auto model = effi::Model::Load(kData + "/" + name + ".onnx");
    ExpectError(
        code, [&] { effi::Classifier c(model); }, name);
  }
  ExpectError(
      ErrorCode::kUnsupported,
      [] { effi::ModelPreprocessing(*effi::Model::Load(kData + "/not_image.onnx")); },
      "ModelPreprocessing of a non-image model");
  ExpectError(
      ErrorCode::kInvalidModel,
      [] { effi::ModelPreprocessing(*effi::Model::Load(kData + "/deep_preprocess.onnx")); },
      "ModelPreprocessing with hostile metadata");
  ExpectError(
      ErrorCode::kInvalidArgument, [] { effi::Classifier c(nullptr); }, "null model");

  // The caller's labels override even malformed metadata (as `effi classify --labels` does).
  effi::ClassifierOptions options;
  options.labels = {"a", "b", "c"};
  effi::Classifier c(effi::Model::Load(kData + "/bad_labels.onnx"), options);
  EXPECT_EQ(c.labels().size(), 3u);
  ExpectError(
      ErrorCode::kInvalidArgument,
      [&] {
        c.set_labels({"a", "b"});
      },
      "2 labels for 3");
  EXPECT_EQ(c.labels().size(), 3u) << "a refused set_labels keeps the old labels";
  effi::PreprocessOptions bigger = c.preprocessing();
  bigger.width = 16;
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { c.set_preprocessing(bigger); }, "16 wide for 8");
  effi::PreprocessOptions no_std = c.preprocessing();
  no_std.std = {1, 0, 1};
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { c.set_preprocessing(no_std); }, "std 0");
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { c.Classify(Solid(8, 8, 1, 2, 3), 0); }, "top 0");
  ExpectError(
      ErrorCode::kInvalidArgument,
      [&] {
        c.Classify(effi::Tensor::Zeros(effi::ElementType::kFloat32, {1, 3, 9, 8}));
      },
      "a preprocessed tensor of the wrong size");

  effi::Classifier nan(effi::Model::Load(kData + "/nan_output.onnx"));
  ExpectError(
      ErrorCode::kInternal, [&] { nan.Classify(Solid(8, 8, 1, 2, 3)); }, "NaN scores");
}

// ---------------- TopK: `effi classify`'s rules ----------------

TEST(ImageApi, TopKRules) {
  const float logits[] = {1.0f, 3.0f, 3.0f, -2.0f};
  const auto top = effi::TopK(logits, 4, 3, {"a", "b", "c", "d"});
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].index, 1);  // a tie: the lower index first
  EXPECT_EQ(top[1].index, 2);
  EXPECT_EQ(top[2].label, "a");
  const double e = std::exp(1.0) + 2 * std::exp(3.0) + std::exp(-2.0);
  EXPECT_NEAR(top[0].probability, std::exp(3.0) / e, 1e-6);  // softmax of logits

  const float distribution[] = {0.1f, 0.7f, 0.2f};  // already probabilities: kept as they are
  const auto p = effi::TopK(distribution, 3, 5);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_FLOAT_EQ(p[0].probability, 0.7f);
  EXPECT_EQ(p[0].label, "1");

  using effi::ErrorCode;
  const float bad[] = {0.5f, std::numeric_limits<float>::quiet_NaN()};
  ExpectError(
      ErrorCode::kInternal, [&] { effi::TopK(bad, 2, 1); }, "NaN");
  const float inf[] = {std::numeric_limits<float>::infinity(), 0};
  ExpectError(
      ErrorCode::kInternal, [&] { effi::TopK(inf, 2, 1); }, "inf");
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { effi::TopK(logits, 4, 1, {"a"}); }, "labels count");
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { effi::TopK(logits, 4, 0); }, "top 0");
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { effi::TopK(logits, 0, 1); }, "no scores");
  ExpectError(
      ErrorCode::kInvalidArgument, [&] { effi::TopK(nullptr, 4, 1); }, "null scores");
}

// ---------------- the C API ----------------

TEST(ImageCApi, DecodeClassifyAndPreprocess) {
  effi_model* model = nullptr;
  ASSERT_EQ(effi_model_load(kDemoModel.c_str(), &model), EFFI_OK) << effi_last_error();
  effi_classifier* classifier = nullptr;
  ASSERT_EQ(effi_classifier_create(model, nullptr, 1, &classifier), EFFI_OK) << effi_last_error();
  effi_model_free(model);  // the classifier keeps it
  EXPECT_EQ(effi_classifier_num_classes(classifier), 10);
  EXPECT_STREQ(effi_classifier_label(classifier, 9), "Ankle boot");
  EXPECT_EQ(effi_classifier_label(classifier, 10), nullptr);
  EXPECT_EQ(effi_classifier_label(classifier, -1), nullptr);

  effi_image* image = nullptr;
  const std::string file = kDemoImages + "/00_ankle_boot.png";
  ASSERT_EQ(effi_image_decode_file(file.c_str(), &image), EFFI_OK) << effi_last_error();
  const effi::Image want = effi::DecodeImage(file);
  ASSERT_EQ(image->width, want.width);
  ASSERT_EQ(image->height, want.height);
  EXPECT_EQ(std::memcmp(image->rgb, want.rgb.data(), want.rgb.size()), 0);

  effi_prediction top[3];
  size_t n = 0;
  ASSERT_EQ(effi_classify(classifier, image, top, 3, &n), EFFI_OK) << effi_last_error();
  ASSERT_EQ(n, 3u);
  EXPECT_EQ(top[0].index, 9);
  EXPECT_STREQ(top[0].label, "Ankle boot");
  EXPECT_GE(top[0].probability, top[1].probability);

  effi_preprocess_options options;
  ASSERT_EQ(effi_classifier_preprocessing(classifier, &options), EFFI_OK);
  EXPECT_EQ(options.width, 96);
  EXPECT_EQ(options.interpolation, EFFI_INTERPOLATION_BILINEAR);
  EXPECT_EQ(options.antialias, 0);
  std::vector<float> x(3 * 96 * 96);
  ASSERT_EQ(effi_preprocess(image, &options, x.data(), x.size()), EFFI_OK) << effi_last_error();
  const effi::Tensor cpp =
      effi::Preprocess(want, effi::ModelPreprocessing(*effi::Model::Load(kDemoModel)));
  EXPECT_EQ(std::memcmp(x.data(), cpp.floats(), x.size() * sizeof(float)), 0);
  EXPECT_EQ(effi_preprocess(image, &options, x.data(), x.size() - 1), EFFI_INVALID_ARGUMENT);

  const char* names[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "nine"};
  ASSERT_EQ(effi_classifier_set_labels(classifier, names, 10), EFFI_OK);
  ASSERT_EQ(effi_classify(classifier, image, top, 1, &n), EFFI_OK);
  EXPECT_STREQ(top[0].label, "nine");
  EXPECT_EQ(effi_classifier_set_labels(classifier, names, 3), EFFI_INVALID_ARGUMENT);
  EXPECT_NE(std::string(effi_last_error()).find("3 labels"), std::string::npos)
      << effi_last_error();
  ASSERT_EQ(effi_classifier_set_labels(classifier, nullptr, 0), EFFI_OK);
  ASSERT_EQ(effi_classify(classifier, image, top, 1, &n), EFFI_OK);
  EXPECT_EQ(top[0].label, nullptr);

  // Pixels of the caller's own: an effi_image on the stack.
  std::vector<uint8_t> pixels(want.rgb);
  effi_image own{want.width, want.height, pixels.data()};
  ASSERT_EQ(effi_classify(classifier, &own, top, 1, &n), EFFI_OK);
  EXPECT_EQ(top[0].index, 9);

  effi_image_free(image);
  effi_classifier_free(classifier);
  effi_image_free(nullptr);
  effi_classifier_free(nullptr);
}

TEST(ImageCApi, HostileInputIsAStatus) {
  effi_image* image = reinterpret_cast<effi_image*>(1);
  EXPECT_EQ(effi_image_decode_file("/no/such/file.png", &image), EFFI_IO_ERROR);
  EXPECT_EQ(image, nullptr);
  EXPECT_NE(std::string(effi_last_error()).find("file.png"), std::string::npos);
  EXPECT_EQ(effi_image_decode_file(nullptr, &image), EFFI_INVALID_ARGUMENT);
  const char garbage[] = "GIF89a not supported";
  EXPECT_EQ(effi_image_decode_memory(garbage, sizeof(garbage), &image), EFFI_INVALID_IMAGE);
  EXPECT_EQ(effi_image_decode_memory(nullptr, 5, &image), EFFI_INVALID_ARGUMENT);
  std::vector<uint8_t> frame(24, 128);
  EXPECT_EQ(effi_image_decode_nv12(frame.data(), 23, 4, 4, &image), EFFI_INVALID_ARGUMENT);
  EXPECT_EQ(effi_image_decode_nv12(frame.data(), 24, 3, 4, &image), EFFI_INVALID_ARGUMENT);
  EXPECT_EQ(effi_image_decode_nv12(frame.data(), 24, 0, 0, &image), EFFI_INVALID_ARGUMENT);
  EXPECT_EQ(image, nullptr);
  ASSERT_EQ(effi_image_decode_nv12(frame.data(), 24, 4, 4, &image), EFFI_OK);
  EXPECT_STREQ(effi_last_error(), "");
  effi_image* missing = nullptr;
  EXPECT_EQ(effi_image_decode_nv12_file("/no/such.nv12", 4, 4, &missing), EFFI_IO_ERROR);
  EXPECT_EQ(missing, nullptr);

  effi_model* model = nullptr;
  ASSERT_EQ(effi_model_load((kData + "/not_image.onnx").c_str(), &model), EFFI_OK);
  effi_classifier* classifier = reinterpret_cast<effi_classifier*>(1);
  EXPECT_EQ(effi_classifier_create(model, nullptr, 1, &classifier), EFFI_UNSUPPORTED);
  EXPECT_EQ(classifier, nullptr);
  effi_preprocess_options options;
  EXPECT_EQ(effi_model_preprocessing(model, &options), EFFI_UNSUPPORTED);
  effi_model_free(model);
  ASSERT_EQ(effi_model_load((kData + "/bad_labels.onnx").c_str(), &model), EFFI_OK);
  EXPECT_EQ(effi_classifier_create(model, nullptr, 1, &classifier), EFFI_INVALID_MODEL);
  effi_model_free(model);

  ASSERT_EQ(effi_model_load((kData + "/cls3.onnx").c_str(), &model), EFFI_OK);
  ASSERT_EQ(effi_preprocess_options_default(&options), EFFI_OK);
  EXPECT_EQ(options.width, 224);
  EXPECT_EQ(effi_classifier_create(model, &options, 1, &classifier), EFFI_INVALID_ARGUMENT)
      << "224x224 does not fit an 8x8 input";
  options.width = options.height = 8;
  options.interpolation = 9;
  EXPECT_EQ(effi_classifier_create(model, &options, 1, &classifier), EFFI_INVALID_ARGUMENT);
  options.interpolation = EFFI_INTERPOLATION_NEAREST;
  EXPECT_EQ(effi_classifier_create(model, &options, -1, &classifier), EFFI_INVALID_ARGUMENT);
  ASSERT_EQ(effi_classifier_create(model, &options, 0, &classifier), EFFI_OK) << effi_last_error();
  effi_model_free(model);

  effi_prediction top[3];
  size_t n = 7;
  EXPECT_EQ(effi_classify(classifier, nullptr, top, 3, &n), EFFI_INVALID_ARGUMENT);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(effi_classify(classifier, image, top, 0, &n), EFFI_INVALID_ARGUMENT);
  EXPECT_EQ(effi_classify(classifier, image, nullptr, 3, &n), EFFI_INVALID_ARGUMENT);
  EXPECT_EQ(effi_classify(classifier, image, top, 3, nullptr), EFFI_INVALID_ARGUMENT);
  EXPECT_EQ(effi_classify(nullptr, image, top, 3, &n), EFFI_INVALID_ARGUMENT);
  effi_image broken{4, 4, nullptr};
  EXPECT_EQ(effi_classify(classifier, &broken, top, 3, &n), EFFI_INVALID_ARGUMENT);
  broken = {0, 2, image->rgb};
  EXPECT_EQ(effi_classify(classifier, &broken, top, 3, &n), EFFI_INVALID_ARGUMENT);
  const char* labels[] = {"a", nullptr, "c"};
  EXPECT_EQ(effi_classifier_set_labels(classifier, labels, 3), EFFI_INVALID_ARGUMENT);
  ASSERT_EQ(effi_classify(classifier, image, top, 3, &n), EFFI_OK) << effi_last_error();
  EXPECT_EQ(n, 3u);
  // Grey under the default (ImageNet) mean/std given above: the blue plane's value is the largest.
  EXPECT_STREQ(top[0].label, "blue");
  effi_classifier_free(classifier);
  effi_image_free(image);
}

}  // namespace
