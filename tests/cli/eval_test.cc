// End-to-end tests of `effi eval`: accuracy of the bundled Fashion-MNIST model on the IDX test set
// (Debian's dataset-fashion-mnist) against PyTorch's golden logits, every dataset form, several
// models side by side, and hostile datasets made here (one error line, exit 1 each).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "cli_test_util.h"
#include "util/npy.h"

namespace {

namespace fs = std::filesystem;
using effi::cli_test::Describe;
using effi::cli_test::Lines;
using effi::cli_test::Result;
using effi::cli_test::RunCli;
using effi::cli_test::TempDir;
using effi::cli_test::WriteBytes;

const std::string kShared = EFFI_SHARED_DIR;
const std::string kSource = EFFI_SOURCE_DIR;
const std::string kModel = kSource + "/assets/models/efficientformer_l1_fmnist96.onnx";
const std::string kTiny = kSource + "/tests/models/tiny_op11.onnx";  // 64x64, no metadata
// Made by tests/cli/make_eval_testdata.py.
const std::string kNoClassDim = kSource + "/tests/cli/testdata/no_class_dim.onnx";
const std::string kThreeClasses = kSource + "/tests/cli/testdata/three_classes.onnx";
const std::string kNanOutput = kSource + "/tests/cli/testdata/nan_output.onnx";
const std::string kGolden = kShared + "/golden/efficientformer_l1_fmnist96";
const std::string kFmnist = "/usr/share/datasets/fashion-mnist";
const std::string kT10k = kFmnist + "/t10k-images-idx3-ubyte.gz";
// The bundled model's 'labels' metadata, in class order.
const std::vector<std::string> kLabels = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                          "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                          "Bag",         "Ankle boot"};

#define REQUIRE_FMNIST()                                                                      \
  do {                                                                                        \
    if (!fs::exists(kT10k))                                                                   \
      GTEST_SKIP() << kT10k << " not found (Debian package dataset-fashion-mnist, installed " \
                   << "by scripts/install_deps.sh)";                                          \
  } while (0)
#define REQUIRE_GOLDEN()                                                           \
  do {                                                                             \
    if (!fs::exists(kGolden + "/torch_test10k.npy"))                               \
      GTEST_SKIP() << "../shared not found (" << kGolden << "/torch_test10k.npy)"; \
  } while (0)

nlohmann::json ParseJson(const Result& r) {
  EXPECT_EQ(r.code, 0) << Describe(r);
  try {
    return nlohmann::json::parse(r.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not JSON: " << e.what() << "\n" << Describe(r);
    return {};
  }
}

std::vector<float> Floats(const effi::npy::Array& a) {
  EXPECT_EQ(a.dtype, "float32");
  std::vector<float> v(a.bytes.size() / 4);
  std::memcpy(v.data(), a.bytes.data(), v.size() * 4);
  return v;
}

// IDX bytes: magic 0,0,8,rank, big-endian dims, then the data.
std::string Idx(const std::vector<uint32_t>& dims, const std::string& data) {
  std::string out{'\0', '\0', '\x08', static_cast<char>(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((d >> shift) & 0xFF);
  return out + data;
}

void WriteGzip(const std::string& path, const std::string& bytes) {
  gzFile gz = gzopen(path.c_str(), "wb9");
  ASSERT_NE(gz, nullptr);
  for (size_t at = 0; at < bytes.size(); at += 1 << 20) {
    const auto n = static_cast<unsigned>(std::min<size_t>(bytes.size() - at, 1 << 20));
    ASSERT_EQ(gzwrite(gz, bytes.data() + at, n), static_cast<int>(n));
  }
  ASSERT_EQ(gzclose(gz), Z_OK);
}

std::string Gunzip(const std::string& path, size_t max_bytes) {
  gzFile gz = gzopen(path.c_str(), "rb");
  EXPECT_NE(gz, nullptr) << path;
  if (!gz) return {};
  std::string out(max_bytes, '\0');
  const int n = gzread(gz, out.data(), static_cast<unsigned>(max_bytes));
  gzclose(gz);
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

// `count` random 28x28 images with the given labels, as an IDX pair in `dir` (prefix "x").
std::string WriteIdxSet(const TempDir& dir, const std::vector<uint8_t>& labels) {
  std::mt19937 rng(7);
  std::string pixels(labels.size() * 28 * 28, '\0');
  for (char& c : pixels) c = static_cast<char>(rng() & 0xFF);
  const std::string images = dir / "x-images-idx3-ubyte";
  WriteBytes(images, Idx({static_cast<uint32_t>(labels.size()), 28, 28}, pixels));
  WriteBytes(dir / "x-labels-idx1-ubyte", Idx({static_cast<uint32_t>(labels.size())},
                                              std::string(labels.begin(), labels.end())));
  return images;
}

std::vector<std::string> Eval(std::vector<std::string> args) {
  args.insert(args.begin(), "eval");
  return args;
}

// The run must fail with exit 1, print nothing on stdout and exactly one error line naming
// `expect`.
void ExpectOneError(const Result& r, const std::string& expect) {
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_EQ(r.out, "") << Describe(r);
  const std::vector<std::string> lines = Lines(r.err);
  ASSERT_EQ(lines.size(), 1u) << Describe(r);
  EXPECT_EQ(lines[0].rfind("effi: error: ", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find(expect), std::string::npos) << "expected '" << expect << "' in\n"
                                                      << lines[0];
}

// ---------------- accuracy on the real data ----------------

// The first 64 Fashion-MNIST test images, read from Debian's gzip'd IDX and preprocessed by effi
// from the model's metadata: 55 right, as in PyTorch, and the logits within the model goldens'
// criterion of torch's (max |diff| <= 1e-4 x max |torch|: tests/models/golden_test.cc, where the
// difference is fp32 summation order in the kernels; the torch-preprocessed input gives the same
// logits, see the next test).
TEST(CliEval, FashionMnistFirst64MatchTorch) {
  REQUIRE_FMNIST();
  REQUIRE_GOLDEN();
  TempDir dir;
  const Result r = RunCli(Eval(
      {kModel, "--data", kT10k, "--limit", "64", "--json", "--save-logits", dir / "logits.npy"}));
  const nlohmann::json j = ParseJson(r);
  ASSERT_TRUE(j.is_object()) << Describe(r);
  EXPECT_EQ(j["count"], 64);
  EXPECT_EQ(j["results"][0]["correct"], 55);
  EXPECT_DOUBLE_EQ(j["results"][0]["top1"].get<double>(), 55.0 / 64);
  const std::vector<float> effi = Floats(effi::npy::Load(dir / "logits.npy"));
  const effi::npy::Array torch_all = effi::npy::Load(kGolden + "/torch_test10k.npy");
  ASSERT_EQ(torch_all.shape, (std::vector<int64_t>{10000, 10}));
  const std::vector<float> torch = Floats(torch_all);
  ASSERT_EQ(effi.size(), 640u);
  float max_ref = 0, max_diff = 0;
  for (size_t i = 0; i < 640; ++i) {
    max_ref = std::max(max_ref, std::fabs(torch[i]));
    max_diff = std::max(max_diff, std::fabs(effi[i] - torch[i]));
  }
  EXPECT_LE(max_diff, 1e-4f * max_ref) << "max |effi - torch| " << max_diff;
  for (size_t i = 0; i < 64; ++i) {
    const auto argmax = [&](const std::vector<float>& v) {
      return std::max_element(v.begin() + 10 * i, v.begin() + 10 * i + 10) - v.begin();
    };
    EXPECT_EQ(argmax(effi), argmax(torch)) << "image " << i;
  }
}

// effi's preprocessing of the IDX images (uint8 -> /255 -> RGB -> bilinear half-pixel resize to
// 96 -> mean/std) reproduces PyTorch's bit for bit: the model fed PyTorch's preprocessed tensors
// (.npy source, X_labels.npy beside it) gives exactly the same logits (measured: max diff 0; the
// single-threaded workers run the same kernels on the same bits), so any difference in the input,
// even one float32 rounding, shows here.
TEST(CliEval, IdxPreprocessingEqualsTorchPreprocessing) {
  REQUIRE_FMNIST();
  REQUIRE_GOLDEN();
  TempDir dir;
  fs::copy_file(kGolden + "/input_test64.npy", dir / "x.npy");
  fs::copy_file(kGolden + "/labels_test64.npy", dir / "x_labels.npy");
  const Result npy = RunCli(
      Eval({kModel, "--data", dir / "x.npy", "--json", "--save-logits", dir / "npy_logits.npy"}));
  const nlohmann::json j = ParseJson(npy);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["count"], 64);
  EXPECT_EQ(j["results"][0]["correct"], 55);
  const Result idx = RunCli(
      Eval({kModel, "--data", kT10k, "--limit", "64", "--save-logits", dir / "idx_logits.npy"}));
  ASSERT_EQ(idx.code, 0) << Describe(idx);
  const std::vector<float> a = Floats(effi::npy::Load(dir / "npy_logits.npy"));
  const std::vector<float> b = Floats(effi::npy::Load(dir / "idx_logits.npy"));
  ASSERT_EQ(a.size(), 640u);
  ASSERT_EQ(b.size(), 640u);
  float max_ref = 0, max_diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    max_ref = std::max(max_ref, std::fabs(a[i]));
    max_diff = std::max(max_diff, std::fabs(a[i] - b[i]));
  }
  EXPECT_EQ(max_diff, 0.0f) << "max |idx - torch input| " << max_diff << " (max |logit| " << max_ref
                            << ")";
}

// The same model twice: agreement and cosine exactly 1; the JSON has exactly the documented keys;
// 1 and 2 worker threads give the same numbers.
TEST(CliEval, SameModelTwiceJsonSchemaAndThreads) {
  REQUIRE_FMNIST();
  const Result r =
      RunCli(Eval({kModel, kModel, "--data", kT10k, "--limit", "24", "--json", "--threads", "2"}));
  const nlohmann::json j = ParseJson(r);
  ASSERT_TRUE(j.is_object()) << Describe(r);
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"count", "results"}));
  ASSERT_EQ(j["results"].size(), 2u);
  for (const nlohmann::json& m : j["results"]) {
    std::vector<std::string> mk;
    for (const auto& [k, v] : m.items()) mk.push_back(k);
    std::sort(mk.begin(), mk.end());
    EXPECT_EQ(mk, (std::vector<std::string>{"agreement", "correct", "logit_cosine", "model", "top1",
                                            "top5"}));
    EXPECT_EQ(m["model"], kModel);
    EXPECT_EQ(m["agreement"].get<double>(), 1.0);
    EXPECT_EQ(m["logit_cosine"].get<double>(), 1.0);
    EXPECT_EQ(m["correct"], j["results"][0]["correct"]);
    EXPECT_DOUBLE_EQ(m["top1"].get<double>(), m["correct"].get<double>() / 24);
    EXPECT_GE(m["top5"].get<double>(), m["top1"].get<double>());
    EXPECT_LE(m["top5"].get<double>(), 1.0);
  }
  const Result one =
      RunCli(Eval({kModel, kModel, "--data", kT10k, "--limit", "24", "--json", "--threads", "1"}));
  EXPECT_EQ(one.out, r.out);
  // Not a terminal: one summary line on stderr.
  EXPECT_EQ(Lines(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("24 images x 2 models"), std::string::npos) << r.err;
}

// Two models with different input sizes (96x96 from metadata, 64x64 timm defaults): each gets its
// own preprocessing of the same image; the table names both, fractions stay in [0, 1].
TEST(CliEval, ModelsWithDifferentInputSizesSideBySide) {
  REQUIRE_FMNIST();
  const Result r = RunCli(Eval({kModel, kTiny, "--data", kT10k, "--limit", "8", "--json"}));
  const nlohmann::json j = ParseJson(r);
  ASSERT_TRUE(j.is_object()) << Describe(r);
  ASSERT_EQ(j["results"].size(), 2u);
  EXPECT_EQ(j["results"][1]["model"], kTiny);
  for (const char* key : {"top1", "top5", "agreement"}) {
    EXPECT_GE(j["results"][1][key].get<double>(), 0.0) << key;
    EXPECT_LE(j["results"][1][key].get<double>(), 1.0) << key;
  }
  EXPECT_GE(j["results"][1]["logit_cosine"].get<double>(), -1.0);
  EXPECT_LT(j["results"][1]["logit_cosine"].get<double>(), 1.0);  // a different model
  const Result table = RunCli(Eval({kModel, kTiny, "--data", kT10k, "--limit", "8"}));
  ASSERT_EQ(table.code, 0) << Describe(table);
  const std::vector<std::string> lines = Lines(table.out);
  ASSERT_EQ(lines.size(), 4u) << table.out;
  EXPECT_NE(lines[0].find("8 images from IDX"), std::string::npos) << lines[0];
  EXPECT_EQ(lines[2].rfind(kModel, 0), 0u) << lines[2];
  EXPECT_EQ(lines[3].rfind(kTiny, 0), 0u) << lines[3];
}

// An uncompressed IDX pair (the first 16 images, cut from the gzip'd set) gives the results of
// the gzip'd one; and .npy labels may be int32 in labels.npy.
TEST(CliEval, UncompressedIdxAndInt32Labels) {
  REQUIRE_FMNIST();
  TempDir dir;
  const std::string images = Gunzip(kT10k, 16 + 16 * 784);
  const std::string labels = Gunzip(kFmnist + "/t10k-labels-idx1-ubyte.gz", 8 + 16);
  ASSERT_EQ(images.size(), 16u + 16 * 784);
  ASSERT_EQ(labels.size(), 8u + 16);
  WriteBytes(dir / "t16-images-idx3-ubyte", Idx({16, 28, 28}, images.substr(16)));
  WriteBytes(dir / "t16-labels-idx1-ubyte", Idx({16}, labels.substr(8)));
  const Result plain = RunCli(Eval({kModel, "--data", dir / "t16-images-idx3-ubyte", "--json"}));
  const Result gz = RunCli(Eval({kModel, "--data", kT10k, "--limit", "16", "--json"}));
  ASSERT_EQ(plain.code, 0) << Describe(plain);
  EXPECT_EQ(ParseJson(plain)["results"][0]["correct"], ParseJson(gz)["results"][0]["correct"]);

  if (!fs::exists(kGolden + "/input_test64.npy")) GTEST_SKIP() << "../shared not found";
  fs::copy_file(kGolden + "/input_test64.npy", dir / "inputs.npy");
  const effi::npy::Array l64 = effi::npy::Load(kGolden + "/labels_test64.npy");
  effi::npy::Array l32{"int32", {64}, {}};
  for (int64_t i = 0; i < 64; ++i) {
    int64_t v = 0;
    if (l64.dtype == "int64")
      std::memcpy(&v, l64.bytes.data() + 8 * i, 8);
    else
      v = reinterpret_cast<const int32_t*>(l64.bytes.data())[i];
    const auto v32 = static_cast<int32_t>(v);
    const auto* p = reinterpret_cast<const uint8_t*>(&v32);
    l32.bytes.insert(l32.bytes.end(), p, p + 4);
  }
  effi::npy::Save(dir / "labels.npy", l32);
  // The first 16 of the 64 (with all 64 the test took 70 s under ASan): as many right as PyTorch.
  const effi::npy::Array torch = effi::npy::Load(kGolden + "/torch_test64.npy");
  ASSERT_EQ(torch.dtype, "float32");
  ASSERT_EQ(torch.shape, (std::vector<int64_t>{64, 10}));
  int torch_correct = 0;
  for (int64_t i = 0; i < 16; ++i) {
    const auto* row = reinterpret_cast<const float*>(torch.bytes.data()) + 10 * i;
    const int32_t label = reinterpret_cast<const int32_t*>(l32.bytes.data())[i];
    torch_correct += std::max_element(row, row + 10) - row == label;
  }
  EXPECT_GE(torch_correct, 12);  // the model is 89 % right: a broken golden would show here
  EXPECT_EQ(ParseJson(RunCli(Eval({kModel, "--data", dir / "inputs.npy", "--limit", "16",
                                   "--json"})))["results"][0]["correct"],
            torch_correct);
}

// The 12 bundled demo PNGs as class folders (named by label, or by index where the label cannot
// be a folder name) and as a list file: both give the count of images whose classify top-1 is
// their true class (from the file name).
TEST(CliEval, ClassFoldersAndListAgreeWithClassify) {
  TempDir dir;
  const std::string demo = kSource + "/assets/images";
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(demo))
    if (e.path().extension() == ".png") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  ASSERT_EQ(files.size(), 12u);
  auto normalize = [](const std::string& s) {
    std::string out;
    for (unsigned char c : s) out += std::isalnum(c) ? static_cast<char>(std::tolower(c)) : '_';
    return out;
  };
  std::string list;
  std::vector<int> truth;
  for (const std::string& f : files) {
    const std::string stem = fs::path(f).stem().string();
    const std::string name = normalize(stem.substr(stem.find('_') + 1));
    int label = -1;
    for (size_t c = 0; c < kLabels.size(); ++c)
      if (normalize(kLabels[c]) == name) label = static_cast<int>(c);
    ASSERT_GE(label, 0) << f;
    truth.push_back(label);
    // "Sandal" by index, the rest by their exact label.
    const std::string folder =
        kLabels[label] == "Sandal" ? std::to_string(label) : kLabels[static_cast<size_t>(label)];
    fs::create_directories(dir / ("classes/" + folder));
    fs::copy_file(f, dir / ("classes/" + folder + "/" + fs::path(f).filename().string()));
    list += "../imgs dir/" + fs::path(f).filename().string() + " " + std::to_string(label) + "\n";
    fs::create_directories(dir / "imgs dir");
    fs::copy_file(f, dir / ("imgs dir/" + fs::path(f).filename().string()));
  }
  fs::create_directories(dir / "lists");
  WriteBytes(dir / "lists/val.txt", list);

  std::vector<std::string> args = {"classify", kModel, "--json", "--top", "1"};
  args.insert(args.end(), files.begin(), files.end());
  const nlohmann::json c = ParseJson(RunCli(args));
  ASSERT_TRUE(c.is_object());
  int expected = 0;
  for (size_t i = 0; i < files.size(); ++i)
    expected += c["results"][i]["top"][0]["index"] == truth[i];
  ASSERT_GE(expected, 6) << "the demo model should get most demo images right";

  for (const std::string& src : {dir / "classes", dir / "lists/val.txt"}) {
    const nlohmann::json j = ParseJson(RunCli(Eval({kModel, "--data", src, "--json"})));
    ASSERT_TRUE(j.is_object()) << src;
    EXPECT_EQ(j["count"], 12) << src;
    EXPECT_EQ(j["results"][0]["correct"], expected) << src;
  }
}

// ---------------- command line ----------------

TEST(CliEval, HelpShowsEveryDefaultAndUsageErrorsExit2) {
  const Result help = RunCli({"eval", "--help"});
  ASSERT_EQ(help.code, 0) << Describe(help);
  for (const char* flag :
       {"--limit N", "--threads N", "--size N", "--crop-pct F", "--mean a,b,c", "--passes SPEC"}) {
    const size_t at = help.out.find(flag);
    ASSERT_NE(at, std::string::npos) << flag << "\n" << help.out;
    const size_t next = help.out.find("\n  -", at + 1);
    EXPECT_NE(help.out.substr(at, next - at).find("[default: "), std::string::npos) << flag;
  }
  EXPECT_NE(help.out.find("X_labels.npy"), std::string::npos);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"eval", kModel},
        {"eval", "--data", "x"},
        {"eval", kModel, "--data", "x", "--limit", "0"},
        {"eval", kModel, "--data", "x", "--threads", "0"},
        {"eval", kModel, "--data", "x", "--crop-pct", "nan"}}) {
    const Result r = RunCli(args);
    EXPECT_EQ(r.code, 2) << Describe(r);
    EXPECT_EQ(Lines(r.err).size(), 1u) << Describe(r);
  }
}

// ---------------- hostile datasets: one error line, exit 1 ----------------

TEST(CliEvalHostile, IdxHeaders) {
  TempDir dir;
  const std::string labels10 = Idx({10}, std::string(10, '\1'));
  auto check = [&](const std::string& images, const std::string& expect) {
    WriteBytes(dir / "h-images-idx3-ubyte", images);
    WriteBytes(dir / "h-labels-idx1-ubyte", labels10);
    ExpectOneError(RunCli(Eval({kModel, "--data", dir / "h-images-idx3-ubyte"})), expect);
  };
  const std::string ten(10 * 784, '\x7f');
  check(Idx({10, 28, 28}, ten).substr(0, 10), "truncated IDX header");
  check(Idx({100, 28, 28}, ten), "header claims 100x28x28");  // count x 28 x 28 > the file
  check(Idx({10, 28, 28}, ten + "extra"), "but the data is");
  check(Idx({10, 0, 28}, ""), "dimension 1 is 0");
  check(Idx({0, 28, 28}, ""), "dimension 0 is 0");
  check(Idx({0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, ten), "over 1073741824 bytes");
  check(Idx({1, 40000, 1}, std::string(40000, '\0')), "over the 32768 pixel side limit");
  std::string float_idx = Idx({10, 28, 28}, ten);
  float_idx[2] = '\x0D';  // IDX float32 elements
  check(float_idx, "only unsigned bytes");
  // A labels file that disagrees, or is missing.
  WriteBytes(dir / "h-images-idx3-ubyte", Idx({10, 28, 28}, ten));
  WriteBytes(dir / "h-labels-idx1-ubyte", Idx({9}, std::string(9, '\1')));
  ExpectOneError(RunCli(Eval({kModel, "--data", dir / "h-images-idx3-ubyte"})),
                 "holds 9 labels for the 10 images");
  fs::remove(dir / "h-labels-idx1-ubyte");
  ExpectOneError(RunCli(Eval({kModel, "--data", dir / "h-images-idx3-ubyte"})),
                 "h-labels-idx1-ubyte' not found");
  // The labels file given instead of the images.
  WriteBytes(dir / "h-labels-idx1-ubyte", labels10);
  ExpectOneError(RunCli(Eval({kModel, "--data", dir / "h-labels-idx1-ubyte"})),
                 "is an IDX labels file");
}

// gzip: a bomb (10 images claimed, 64 MiB of zeros inflated) stops one byte past the claim; a
// header claiming terabytes stops at the header; a truncated or corrupt stream is one error.
TEST(CliEvalHostile, GzipBombsAndBrokenStreams) {
  TempDir dir;
  WriteGzip(dir / "b-labels-idx1-ubyte.gz", Idx({10}, std::string(10, '\1')));
  const std::string bomb = dir / "b-images-idx3-ubyte.gz";
  WriteGzip(bomb, Idx({10, 28, 28}, std::string(size_t{64} << 20, '\0')));
  EXPECT_LT(fs::file_size(bomb), 200u * 1024);
  ExpectOneError(RunCli(Eval({kModel, "--data", bomb})),
                 "decompresses to more than the 7856 bytes");
  WriteGzip(bomb, Idx({1000000000u, 1000, 1000}, std::string(1 << 20, '\0')));
  ExpectOneError(RunCli(Eval({kModel, "--data", bomb})), "over 1073741824 bytes");
  // Truncated: the first half of a good stream.
  WriteGzip(bomb, Idx({10, 28, 28}, std::string(10 * 784, '\5')));
  const std::string whole = effi::cli_test::ReadText(bomb);
  WriteBytes(bomb, whole.substr(0, whole.size() / 2));
  ExpectOneError(RunCli(Eval({kModel, "--data", bomb})), "is truncated");
  // Corrupt: gzip magic, then garbage.
  std::string garbage = whole.substr(0, 10);
  std::mt19937 rng(3);
  for (int i = 0; i < 4000; ++i) garbage += static_cast<char>(rng() & 0xFF);
  WriteBytes(bomb, garbage);
  ExpectOneError(RunCli(Eval({kModel, "--data", bomb})), "gzip file");
  // gzip around something that is not IDX.
  WriteGzip(bomb, "hello world, not IDX at all");
  ExpectOneError(RunCli(Eval({kModel, "--data", bomb})), "does not hold IDX data");
}

TEST(CliEvalHostile, LabelOutOfTheModelsRange) {
  TempDir dir;
  const std::string images = WriteIdxSet(dir, {1, 2, 3, 10, 4});
  ExpectOneError(RunCli(Eval({kModel, "--data", images})),
                 "label 10 of IDX '" + images + "' image 3 is out of range: the model has 10");
  // Beyond --limit the label is not read.
  EXPECT_EQ(RunCli(Eval({kModel, "--data", images, "--limit", "3"})).code, 0);
}

TEST(CliEvalHostile, Folders) {
  TempDir dir;
  fs::create_directories(dir / "empty");
  ExpectOneError(RunCli(Eval({kModel, "--data", dir / "empty"})), "holds no images");
  fs::create_directories(dir / "noimages/Coat");
  ExpectOneError(RunCli(Eval({kModel, "--data", dir / "noimages"})),
                 "its 1 class subfolders hold no images");
  const std::string png = kSource + "/assets/images/06_coat.png";
  // A folder name that is no label and no index; control characters in it are escaped.
  fs::create_directories(dir / "unmatched/Coat");
  fs::create_directories(dir / "unmatched/Jacket\x1b[31m");
  fs::copy_file(png, dir / "unmatched/Coat/a.png");
  const Result r = RunCli(Eval({kModel, "--data", dir / "unmatched"}));
  ExpectOneError(r, "Jacket\\x1b[31m' is neither one of the model's 10 labels nor a class index");
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos);
  // Images only: no labels.
  fs::create_directories(dir / "flat");
  fs::copy_file(png, dir / "flat/a.png");
  ExpectOneError(RunCli(Eval({kModel, "--data", dir / "flat"})),
                 "no class subfolders, so no labels");
  // Both.
  fs::create_directories(dir / "flat/Coat");
  ExpectOneError(RunCli(Eval({kModel, "--data", dir / "flat"})), "both images and subfolders");
  // A class index past the model's classes.
  fs::create_directories(dir / "big/12");
  fs::copy_file(png, dir / "big/12/a.png");
  ExpectOneError(RunCli(Eval({kModel, "--data", dir / "big"})), "label 12 of");
  // An image that does not decode.
  fs::create_directories(dir / "corrupt/Coat");
  WriteBytes(dir / "corrupt/Coat/a.png", "\x89PNG\r\n\x1a\n not really");
  ExpectOneError(RunCli(Eval({kModel, "--data", dir / "corrupt"})), "a.png");
}

TEST(CliEvalHostile, Lists) {
  TempDir dir;
  const std::string png = kSource + "/assets/images/06_coat.png";
  fs::copy_file(png, dir / "a.png");
  WriteBytes(dir / "list.txt", "a.png 4\n\nmissing.png 4\n");
  ExpectOneError(RunCli(Eval({kModel, "--data", dir / "list.txt"})),
                 "line 3: image '" + dir.path() + "/missing.png': no such file");
  WriteBytes(dir / "list.txt", "a.png 4\na.png four\n");
  ExpectOneError(RunCli(Eval({kModel, "--data", dir / "list.txt"})),
                 "line 2: expected 'path label'");
  WriteBytes(dir / "list.txt", "a.png 4\na.png 99\n");
  ExpectOneError(RunCli(Eval({kModel, "--data", dir / "list.txt"})), "label 99 of");
  // Text that is no list, and binary junk: the accepted forms are listed.
  WriteBytes(dir / "notes.txt", "just some words\n");
  ExpectOneError(RunCli(Eval({kModel, "--data", dir / "notes.txt"})),
                 "is not a known form; give an IDX");
  WriteBytes(dir / "junk.bin", std::string("\x01\x02\x00\x04junk", 8));
  ExpectOneError(RunCli(Eval({kModel, "--data", dir / "junk.bin"})),
                 "folder with one subfolder per class");
  ExpectOneError(RunCli(Eval({kModel, "--data", dir / "nothing"})), "no such file or folder");
  ASSERT_EQ(mkfifo((dir / "fifo").c_str(), 0600), 0);
  ExpectOneError(RunCli(Eval({kModel, "--data", dir / "fifo"}), "", 20), "fifo");
}

TEST(CliEvalHostile, NpyInputs) {
  TempDir dir;
  const std::vector<float> x(2 * 3 * 96 * 96, 0.5f);
  effi::npy::SaveF32(dir / "x.npy", x.data(), {2, 3, 96, 96});
  ExpectOneError(RunCli(Eval({kModel, "--data", dir / "x.npy"})), "no labels beside them");
  const int64_t labels3[3] = {1, 2, 3};
  effi::npy::Array l{"int64", {3}, {}};
  l.bytes.assign(reinterpret_cast<const uint8_t*>(labels3),
                 reinterpret_cast<const uint8_t*>(labels3) + 24);
  effi::npy::Save(dir / "x_labels.npy", l);
  ExpectOneError(RunCli(Eval({kModel, "--data", dir / "x.npy"})), "expected int64 or int32 [2]");
  l.shape = {2};
  l.bytes.resize(16);
  effi::npy::Save(dir / "x_labels.npy", l);
  EXPECT_EQ(RunCli(Eval({kModel, "--data", dir / "x.npy"})).code, 0);
  // Inputs of another size than the model takes, and not float32 [N,3,H,W].
  effi::npy::SaveF32(dir / "x.npy", x.data(), {2, 3, 64, 144});
  ExpectOneError(RunCli(Eval({kModel, "--data", dir / "x.npy"})),
                 "are 144x64 (WxH) but the model takes 96x96");
  effi::npy::SaveF32(dir / "x.npy", x.data(), {6, 96, 96});
  ExpectOneError(RunCli(Eval({kModel, "--data", dir / "x.npy"})),
                 "expected preprocessed float32 [N,3,H,W]");
  const int64_t negative[2] = {-1, 2};
  l.bytes.assign(reinterpret_cast<const uint8_t*>(negative),
                 reinterpret_cast<const uint8_t*>(negative) + 16);
  effi::npy::Save(dir / "x_labels.npy", l);
  effi::npy::SaveF32(dir / "x.npy", x.data(), {2, 3, 96, 96});
  ExpectOneError(RunCli(Eval({kModel, "--data", dir / "x.npy"})),
                 "label -1 of item 0 is not a class index");
}

TEST(CliEvalHostile, ModelWithNoClassDimension) {
  TempDir dir;
  const std::string images = WriteIdxSet(dir, {1, 2});
  ExpectOneError(RunCli(Eval({kNoClassDim, "--data", images})), "is [1] (no class dimension)");
  // Second in the list too.
  ExpectOneError(RunCli(Eval({kModel, kNoClassDim, "--data", images})), "no class dimension");
}

// Models whose classes differ cannot be compared; a model whose outputs are not finite is an
// error, not a miss.
TEST(CliEvalHostile, MismatchedClassesAndNonFiniteOutputs) {
  TempDir dir;
  const std::string images = WriteIdxSet(dir, {0, 1, 2, 1});
  const Result three = RunCli(Eval({kThreeClasses, "--data", images, "--json"}));
  ASSERT_EQ(three.code, 0) << Describe(three);  // the model itself is fine
  ExpectOneError(RunCli(Eval({kModel, kThreeClasses, "--data", images})),
                 "has 3 classes but '" + kModel + "' has 10: agreement needs the same classes");
  ExpectOneError(RunCli(Eval({kNanOutput, "--data", images})),
                 "nan_output.onnx' gave a non-finite output for IDX '" + images + "' image 0");
}

}  // namespace
