// End-to-end tests of the effi CLI: runs the real executable (fork/exec, stdout and stderr captured
// separately) on the bundled demo, the shared L1 golden data and a set of broken inputs.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "../jpeg_encode.h"
#include "cli_test_util.h"
#include "util/npy.h"

// Inside cli_test_util.h's namespace: RunCli, Result, TempDir and the file helpers by their names.
namespace effi::cli_test {
namespace {

namespace fs = std::filesystem;

const std::string kShared = EFFI_SHARED_DIR;
const std::string kSource = EFFI_SOURCE_DIR;
const std::string kL1 = kShared + "/models/efficientformer_l1.op11.onnx";
const std::string kGolden = kShared + "/golden/efficientformer_l1";
const std::string kTiny = kSource + "/tests/models/tiny_op11.onnx";
const std::string kTinyDyn = kSource + "/tests/models/tiny_dynbatch_op13.onnx";

#define REQUIRE_SHARED()                                                         \
  do {                                                                           \
    if (!fs::exists(kL1)) GTEST_SKIP() << "../shared not found (" << kL1 << ")"; \
  } while (0)

// "Ankle boot" / "ankle_boot" / "T-shirt/top" -> "ankle_boot" / "t_shirt_top".
std::string Normalize(const std::string& s) {
  std::string out;
  for (unsigned char c : s) out += std::isalnum(c) ? static_cast<char>(std::tolower(c)) : '_';
  return out;
}

// "00_ankle_boot.png" -> "ankle_boot".
std::string TrueLabelOf(const std::string& path) {
  std::string stem = fs::path(path).stem().string();
  return Normalize(stem.substr(stem.find('_') + 1));
}

float MaxAbs(const effi::npy::Array& a) {
  const float* p = reinterpret_cast<const float*>(a.bytes.data());
  float m = 0;
  for (size_t i = 0; i < a.bytes.size() / 4; ++i) m = std::max(m, std::fabs(p[i]));
  return m;
}

int64_t Argmax(const effi::npy::Array& a) {
  const float* p = reinterpret_cast<const float*>(a.bytes.data());
  const size_t n = a.bytes.size() / 4;
  return std::max_element(p, p + n) - p;
}

// ---------------- basics ----------------

TEST(Cli, Version) {
  const Result r = RunCli({"--version"});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(r.out.rfind("effi ", 0), 0u) << r.out;
  EXPECT_TRUE(r.err.empty());
}

TEST(Cli, HelpListsCommandsAndDefaults) {
  Result r = RunCli({"--help"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  for (const char* cmd : {"classify", "run", "inspect"})
    EXPECT_NE(r.out.find(cmd), std::string::npos);
  r = RunCli({"classify", "--help"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  std::string help;  // whitespace collapsed: descriptions wrap
  for (char c : r.out) {
    if (!std::isspace(static_cast<unsigned char>(c)))
      help += c;
    else if (!help.empty() && help.back() != ' ')
      help += ' ';
  }
  for (const char* d : {"[default: 5]", "[default: 0.95]", "[default: bicubic]", "[default: auto]",
                        "[default: all]", "[default: 0.485,0.456,0.406]", "(the CPU count)]",
                        "--input-size WxH", "--frame-size WxH"})
    EXPECT_NE(help.find(d), std::string::npos) << d << "\n" << r.out;
  r = RunCli({"run", "--help"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_NE(r.out.find("--tol T                       largest max abs diff --compare accepts "
                       "[default: 0.0001]"),
            std::string::npos)
      << r.out;
}

// `effi` alone: the same help as --help, on stdout, exit 0 (a request for orientation).
TEST(Cli, NoArgumentsPrintsTheHelp) {
  const Result r = RunCli({});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_TRUE(r.err.empty()) << Describe(r);
  EXPECT_EQ(r.out, RunCli({"--help"}).out);
  EXPECT_NE(r.out.find("classify"), std::string::npos) << r.out;
}

// Bad EFFI_MAX_ISA / EFFI_KERNELS values: one line listing the valid values, exit 1 (the
// library's Error(kInvalidArgument); the environment is inherited by the child).
TEST(Cli, BadIsaAndKernelsEnvironmentValues) {
  struct Case {
    const char* name;
    const char* value;
    std::string line;  // the expected stderr line; empty: success
  };
  const std::vector<Case> cases = {
      {"EFFI_MAX_ISA", "avx5",
       "effi: error: EFFI_MAX_ISA='avx5' is not valid; valid: scalar, avx2, avxvnni, avx512, neon"},
      {"EFFI_MAX_ISA", "AVX2\x1b[2J",
       "effi: error: EFFI_MAX_ISA='AVX2\\x1b[2J' is not valid; valid: scalar, avx2, avxvnni, "
       "avx512, neon"},
      {"EFFI_KERNELS", "reff", "effi: error: EFFI_KERNELS='reff' is not valid; valid: auto, ref"},
      {"EFFI_KERNELS", "ref", ""},
      {"EFFI_KERNELS", "auto", ""},
      {"EFFI_MAX_ISA", "scalar", ""}};
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.name) + "=" + c.value);
    setenv(c.name, c.value, 1);
    const Result inspect = RunCli({"inspect", kTiny});
    const Result classify =
        RunCli({"classify", kTiny, kSource + "/assets/images/00_ankle_boot.png"});
    unsetenv(c.name);
    for (const Result* r : {&inspect, &classify}) {
      if (c.line.empty()) {
        EXPECT_EQ(r->code, 0) << Describe(*r);
        continue;
      }
      EXPECT_EQ(r->code, 1) << Describe(*r);
      EXPECT_TRUE(r->out.empty()) << Describe(*r);
      EXPECT_EQ(r->err, c.line + "\n");
    }
  }
}

// ---------------- classify: the bundled demo ----------------

TEST(CliClassify, DemoWithNoArgumentsFromAnotherDirectory) {
  TempDir cwd;
  const Result r = RunCli({"classify"}, cwd.path());
  ASSERT_EQ(r.code, 0) << Describe(r);
  // Blocks: a path line, then "  1. Label (index)  prob" lines.
  std::vector<std::pair<std::string, std::string>> top1;  // image, label
  for (const std::string& line : Lines(r.out)) {
    if (line.empty()) continue;
    if (line[0] != ' ') {
      top1.emplace_back(line, "");
    } else if (line.find("  1. ") == 0 && !top1.empty()) {
      const size_t open = line.rfind(" (");
      ASSERT_NE(open, std::string::npos) << line;
      top1.back().second = line.substr(5, open - 5);
    }
  }
  ASSERT_EQ(top1.size(), 12u) << r.out;
  for (const auto& [image, label] : top1) {
    EXPECT_TRUE(fs::exists(image)) << image;
    EXPECT_EQ(Normalize(label), TrueLabelOf(image)) << image;
  }
  EXPECT_TRUE(std::is_sorted(top1.begin(), top1.end()));
}

TEST(CliClassify, DemoJsonHasExactlyTheDocumentedKeys) {
  TempDir cwd;
  const Result r = RunCli({"classify", "--json", "--top", "3"}, cwd.path());
  ASSERT_EQ(r.code, 0) << Describe(r);
  const nlohmann::json doc = nlohmann::json::parse(r.out);
  ASSERT_TRUE(doc.is_object());
  ASSERT_EQ(doc.size(), 1u);
  const nlohmann::json& results = doc.at("results");
  ASSERT_TRUE(results.is_array());
  ASSERT_EQ(results.size(), 12u);
  for (const nlohmann::json& res : results) {
    ASSERT_EQ(res.size(), 2u) << res.dump();
    ASSERT_TRUE(res.at("image").is_string());
    const nlohmann::json& top = res.at("top");
    ASSERT_EQ(top.size(), 3u);
    double last = 2.0;
    for (const nlohmann::json& t : top) {
      ASSERT_EQ(t.size(), 3u) << t.dump();
      ASSERT_TRUE(t.at("index").is_number_integer());
      ASSERT_TRUE(t.at("label").is_string());
      ASSERT_TRUE(t.at("prob").is_number());
      EXPECT_LE(t["prob"].get<double>(), last);
      last = t["prob"].get<double>();
    }
    EXPECT_EQ(Normalize(top[0]["label"].get<std::string>()),
              TrueLabelOf(res["image"].get<std::string>()));
  }
}

TEST(CliClassify, TopIsClampedToTheClassCountAndProbabilitiesSumToOne) {
  const std::string image = kSource + "/assets/images/00_ankle_boot.png";
  const Result r = RunCli({"classify", kTiny, image, "--top", "50", "--json"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  const nlohmann::json top = nlohmann::json::parse(r.out)["results"][0]["top"];
  ASSERT_EQ(top.size(), 10u);
  double sum = 0;
  for (const auto& t : top) {
    sum += t["prob"].get<double>();
    EXPECT_EQ(t["label"], std::to_string(t["index"].get<int>()));  // no labels: the index
  }
  EXPECT_NEAR(sum, 1.0, 1e-5);
}

TEST(CliClassify, TextLabelsFileAndBatchAgreeWithOneByOne) {
  TempDir dir;
  std::string labels;
  for (int i = 0; i < 10; ++i) labels += "class number " + std::to_string(i) + "\n";
  WriteBytes(dir / "labels.txt", labels);
  std::vector<std::string> args = {"classify", kTinyDyn, "--json", "--labels", dir / "labels.txt"};
  for (const char* name : {"00_ankle_boot.png", "01_pullover.png", "02_trouser.png"})
    args.push_back(kSource + "/assets/images/" + name);
  std::vector<std::string> batch_args = args;
  batch_args.insert(batch_args.end(), {"--batch", "--save-input", dir / "batch.npy"});
  args.insert(args.end(), {"--save-input", dir / "single.npy"});
  const Result single = RunCli(args), batch = RunCli(batch_args);
  ASSERT_EQ(single.code, 0) << Describe(single);
  ASSERT_EQ(batch.code, 0) << Describe(batch);
  const nlohmann::json a = nlohmann::json::parse(single.out), b = nlohmann::json::parse(batch.out);
  ASSERT_EQ(a["results"].size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    for (size_t k = 0; k < 5; ++k) {
      const auto& x = a["results"][i]["top"][k];
      const auto& y = b["results"][i]["top"][k];
      EXPECT_EQ(x["index"], y["index"]);
      EXPECT_EQ(x["label"], "class number " + std::to_string(x["index"].get<int>()));
      EXPECT_NEAR(x["prob"].get<double>(), y["prob"].get<double>(), 1e-5);
    }
  }
  const effi::npy::Array saved = effi::npy::Load(dir / "batch.npy");
  EXPECT_EQ(saved.shape, (std::vector<int64_t>{3, 3, 64, 64}));
  EXPECT_EQ(saved.bytes, effi::npy::Load(dir / "single.npy").bytes);
}

// ---------------- classify: real photos through the shared L1 ----------------

class CliClassifyPhoto : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(CliClassifyPhoto, MatchesGoldenInputAndTorchArgmax) {
  REQUIRE_SHARED();
  const auto& [image, golden] = GetParam();
  TempDir dir;
  const Result r = RunCli({"classify", kL1, kShared + "/images/" + image, "--labels",
                           kShared + "/images/imagenet_1k_labels.json", "--save-input",
                           dir / "input.npy", "--json"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  const effi::npy::Array saved = effi::npy::Load(dir / "input.npy");
  const effi::npy::Array ref = effi::npy::Load(kGolden + "/input_" + golden + ".npy");
  ASSERT_EQ(saved.shape, (std::vector<int64_t>{1, 3, 224, 224}));
  ASSERT_EQ(saved.bytes.size(), ref.bytes.size());
  const float* a = reinterpret_cast<const float*>(saved.bytes.data());
  const float* b = reinterpret_cast<const float*>(ref.bytes.data());
  double sum = 0;
  for (size_t i = 0; i < saved.bytes.size() / 4; ++i) sum += std::fabs(a[i] - b[i]);
  EXPECT_LE(sum / (saved.bytes.size() / 4), 0.01);

  const nlohmann::json doc = nlohmann::json::parse(r.out);
  const int64_t want = Argmax(effi::npy::Load(kGolden + "/torch_" + golden + ".npy"));
  EXPECT_EQ(doc["results"][0]["top"][0]["index"].get<int64_t>(), want);
  const nlohmann::json labels =
      nlohmann::json::parse(ReadText(kShared + "/images/imagenet_1k_labels.json"));
  EXPECT_EQ(doc["results"][0]["top"][0]["label"], labels[want]);
}

INSTANTIATE_TEST_SUITE_P(Photos, CliClassifyPhoto,
                         ::testing::Values(std::make_pair("bittern.JPEG", "4_bittern"),
                                           std::make_pair("goldfish.JPEG", "5_goldfish")));

// ---------------- run ----------------

// All six golden inputs with every pass, inputs 0 and 4 also without passes (the reference
// kernels are ~3x slower unfused); EFFI_TEST_ALL_GOLDEN=1 runs all six both ways.
struct GoldenCase {
  std::string input;
  std::string passes;
};

void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.input << " --passes " << c.passes; }

class CliRunGolden : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(CliRunGolden, MatchesOnnxRuntime) {
  REQUIRE_SHARED();
  const GoldenCase& c = GetParam();
  const bool core = c.passes == "all" || c.input == "0_randn" || c.input == "4_bittern";
  if (!core && !getenv("EFFI_TEST_ALL_GOLDEN")) GTEST_SKIP() << "set EFFI_TEST_ALL_GOLDEN=1";
  TempDir dir;
  const Result r = RunCli({"run", kL1, "--input", "data=" + kGolden + "/input_" + c.input + ".npy",
                           "--output", dir / "out.npy", "--passes", c.passes});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_NE(r.out.find("[1, 1000]"), std::string::npos) << r.out;
  const effi::npy::Array out = effi::npy::Load(dir / "out.npy");
  const effi::npy::Array ref = effi::npy::Load(kGolden + "/ort_" + c.input + ".npy");
  ASSERT_EQ(out.dtype, "float32");
  ASSERT_EQ(out.shape, ref.shape);
  const float* a = reinterpret_cast<const float*>(out.bytes.data());
  const float* b = reinterpret_cast<const float*>(ref.bytes.data());
  float max_diff = 0;
  for (size_t i = 0; i < out.bytes.size() / 4; ++i)
    max_diff = std::max(max_diff, std::fabs(a[i] - b[i]));
  EXPECT_LE(max_diff, 1e-4f * MaxAbs(ref));
  EXPECT_EQ(Argmax(out), Argmax(ref));
}

std::vector<GoldenCase> GoldenCases() {
  std::vector<GoldenCase> cases;
  for (const char* passes : {"all", "none"})
    for (const char* input :
         {"0_randn", "1_randn", "2_randn", "3_randn", "4_bittern", "5_goldfish"})
      cases.push_back({input, passes});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(L1, CliRunGolden, ::testing::ValuesIn(GoldenCases()),
                         [](const ::testing::TestParamInfo<GoldenCase>& info) {
                           return "passes_" + info.param.passes + "_input_" + info.param.input;
                         });

TEST(CliRun, OutputDirJsonAndImplicitInputName) {
  const std::string models = kSource + "/tests/models/tiny_op11";
  TempDir dir;
  const Result r = RunCli({"run", kTiny, "--input", models + "/in_0.npy", "--output-dir",
                           dir / "outs", "--json", "--passes", "none,fuse_gelu"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  const nlohmann::json doc = nlohmann::json::parse(r.out);
  ASSERT_EQ(doc["outputs"].size(), 1u);
  EXPECT_EQ(doc["outputs"][0]["name"], "output");
  EXPECT_EQ(doc["outputs"][0]["dtype"], "float32");
  EXPECT_EQ(doc["outputs"][0]["shape"], nlohmann::json({1, 10}));
  EXPECT_EQ(doc["outputs"][0]["file"], dir / "outs/output.npy");
  const effi::npy::Array out = effi::npy::Load(dir / "outs/output.npy");
  const effi::npy::Array ref = effi::npy::Load(models + "/ort_0.npy");
  const float* a = reinterpret_cast<const float*>(out.bytes.data());
  const float* b = reinterpret_cast<const float*>(ref.bytes.data());
  ASSERT_EQ(out.shape, ref.shape);
  for (size_t i = 0; i < 10; ++i) EXPECT_NEAR(a[i], b[i], 1e-4f * MaxAbs(ref));
}

// ---------------- inspect ----------------

TEST(CliInspect, SharedL1ParameterCount) {
  REQUIRE_SHARED();
  Result r = RunCli({"inspect", kL1});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_NE(r.out.find("12,258,961"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("GMACs"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("MiB"), std::string::npos) << r.out;

  r = RunCli({"inspect", kL1, "--json"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  const nlohmann::json doc = nlohmann::json::parse(r.out);
  for (const char* key : {"inputs", "outputs", "opset", "parameters", "macs", "macs_by_precision",
                          "peak_activation_bytes", "ops_imported", "ops_optimized", "passes"})
    EXPECT_TRUE(doc.contains(key)) << key;
  EXPECT_EQ(doc["parameters"].get<int64_t>(), 12258961);
  EXPECT_EQ(doc["opset"].get<int64_t>(), 11);
  EXPECT_GT(doc["macs"].get<int64_t>(), 1'000'000'000);
  EXPECT_GT(doc["peak_activation_bytes"].get<int64_t>(), 0);
  EXPECT_EQ(doc["ops_imported"]["Conv"].get<int>(), 33);
  EXPECT_EQ(doc["inputs"][0]["shape"], nlohmann::json({1, 3, 224, 224}));
}

TEST(CliInspect, DynamicBatchAndNoPasses) {
  Result r = RunCli({"inspect", kTinyDyn, "--batch", "3", "--passes", "none"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_NE(r.out.find("[N, 3, 64, 64]"), std::string::npos) << r.out;
  r = RunCli({"inspect", kTinyDyn, "--json", "--passes", "none"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  const nlohmann::json one = nlohmann::json::parse(r.out);
  r = RunCli({"inspect", kTinyDyn, "--json", "--passes", "none", "--batch", "3"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  const nlohmann::json three = nlohmann::json::parse(r.out);
  EXPECT_EQ(one["inputs"][0]["shape"][0], -1);
  EXPECT_EQ(three["macs"].get<int64_t>(), 3 * one["macs"].get<int64_t>());
  EXPECT_TRUE(one["passes"].empty());
  EXPECT_EQ(one["ops_imported"]["Unsqueeze"].get<int>(), 4);
}

// `effi inspect --json` of `model`, with its MACs split checked: int8 + float32 == macs.
nlohmann::json InspectJson(const std::string& model, const std::string& passes = "all") {
  const Result r = RunCli({"inspect", model, "--json", "--passes", passes});
  EXPECT_EQ(r.code, 0) << Describe(r);
  if (r.code != 0) return {};
  nlohmann::json doc = nlohmann::json::parse(r.out);
  const nlohmann::json& split = doc["macs_by_precision"];
  EXPECT_EQ(split.size(), 2u) << split;
  EXPECT_EQ(split["int8"].get<int64_t>() + split["float32"].get<int64_t>(),
            doc["macs"].get<int64_t>())
      << model;
  return doc;
}

TEST(CliInspect, MacsByPrecisionOfAFloatModelIsAllFloat32) {
  for (const char* passes : {"all", "none"}) {
    const nlohmann::json doc = InspectJson(kTiny, passes);
    EXPECT_GT(doc["macs"].get<int64_t>(), 0) << passes;
    EXPECT_EQ(doc["macs_by_precision"]["int8"].get<int64_t>(), 0) << passes;
  }
  const Result r = RunCli({"inspect", kTiny});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_NE(r.out.find("\nMACs int8    0 (0.0 %)\n"), std::string::npos) << r.out;
}

TEST(CliInspect, MacsByPrecisionOfQuantizedModels) {
  // kTiny quantized by `effi quantize --fallback none` (2 calibration inputs, 0.2 s; the default
  // fallback may keep layers float, depending on the data): all 23 Conv/Gemm/MatMul get QDQ, and
  // fuse_int8 puts every effi.Conv / effi.Linear on the int8 GEMM (the two heads too:
  // merge_heads leaves QDQ heads apart) but the stem conv over the 3 RGB planes, on the fp32
  // direct NCHW kernel (32x32x8 outputs x 27 = 221,184 MACs). The float model's merged head
  // counts once, the QDQ model's two heads twice (48 x 10 = 480 more MACs). So 1,942,464 of
  // 2,163,648 MACs (89.8 %) are int8.
  TempDir dir;
  std::vector<float> calib(2 * 3 * 64 * 64);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  for (float& v : calib) v = normal(rng);
  effi::npy::SaveF32(dir / "calib.npy", calib.data(), {2, 3, 64, 64});
  const Result q = RunCli({"quantize", kTiny, "--calib", dir / "calib.npy", "--out", dir / "q.onnx",
                           "--fallback", "none"});
  ASSERT_EQ(q.code, 0) << Describe(q);
  const nlohmann::json doc = InspectJson(dir / "q.onnx");
  EXPECT_EQ(doc["macs"].get<int64_t>(), InspectJson(kTiny)["macs"].get<int64_t>() + 480);
  EXPECT_EQ(doc["macs_by_precision"]["float32"].get<int64_t>(), 221'184);
  EXPECT_GT(doc["macs_by_precision"]["int8"].get<int64_t>(), 0);
  const Result table = RunCli({"inspect", dir / "q.onnx"});
  ASSERT_EQ(table.code, 0) << Describe(table);
  EXPECT_NE(table.out.find("\nMACs int8    1,942,464 (89.8 %)\n"), std::string::npos) << table.out;
  // Without passes the QDQ graph runs as imported, every Conv in float32 on dequantized values.
  EXPECT_EQ(InspectJson(dir / "q.onnx", "none")["macs_by_precision"]["int8"].get<int64_t>(), 0);

  // tests/testdata/qdq/tiny_qdq.onnx (Conv -> Relu -> MatMul in QDQ form): its Conv reads the
  // 3-channel graph input (the float direct NCHW kernel: 8x8x4 outputs x 27 = 6,912 MACs); its
  // MatMul over the NCHW tensor's last axis reads its input's FakeQuant through the NHWC -> NCHW
  // Transpose that channels_last leaves, which fuse_int8 looks through: its 1,280 MACs are int8.
  const nlohmann::json tiny = InspectJson(kSource + "/tests/testdata/qdq/tiny_qdq.onnx");
  EXPECT_EQ(tiny["macs"].get<int64_t>(), 6'912 + 1'280);
  EXPECT_EQ(tiny["macs_by_precision"]["int8"].get<int64_t>(), 1'280);
}

TEST(CliInspect, OnnxIntegerOpsCountAsInt8Macs) {
  // The ONNX conformance models (Debian libonnx-testdata): the integer ops always run in int8,
  // with or without passes. QLinearConv's weight is its input 3, not 1.
  const std::string dir = "/usr/share/libonnx-testdata/data/node/";
  if (!fs::exists(dir)) GTEST_SKIP() << dir << " not found (Debian package libonnx-testdata)";
  const std::vector<std::pair<std::string, int64_t>> cases = {
      {"test_convinteger_with_padding", 16 * 4},  // y [1,1,4,4], w [1,1,2,2]
      {"test_qlinearconv", 49 * 1},               // y [1,1,7,7], w [1,1,1,1]
      {"test_matmulinteger", 8 * 3},              // Y [4,2], A [4,3]
      {"test_qlinearmatmul_3D", 12 * 4}};         // y [2,2,3], a [2,2,4]
  for (const auto& [name, macs] : cases) {
    for (const char* passes : {"all", "none"}) {
      const nlohmann::json doc = InspectJson(dir + name + "/model.onnx", passes);
      EXPECT_EQ(doc["macs"].get<int64_t>(), macs) << name << " " << passes;
      EXPECT_EQ(doc["macs_by_precision"]["int8"].get<int64_t>(), macs) << name << " " << passes;
    }
  }
}

// ---------------- bench ----------------

TEST(CliBench, JsonHasTheDocumentedKeysAndConsistentNumbers) {
  const Result r = RunCli({"bench", kTinyDyn, "--iterations", "4", "--warmup", "1", "--streams",
                           "2", "--threads", "1", "--batch", "2", "--json"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  const nlohmann::json j = nlohmann::json::parse(r.out);
  for (const char* key : {"latency_ms", "fps", "threads", "streams", "batch", "isa", "runs",
                          "per_stream", "peak_rss_mb", "load_ms", "cpu", "model", "passes"})
    EXPECT_TRUE(j.contains(key)) << key << " missing in " << r.out;
  const nlohmann::json& lat = j["latency_ms"];
  for (const char* key : {"min", "p50", "p90", "p99", "max"}) ASSERT_TRUE(lat.contains(key)) << key;
  EXPECT_GT(lat["min"].get<double>(), 0.0);
  EXPECT_LE(lat["min"].get<double>(), lat["p50"].get<double>());
  EXPECT_LE(lat["p50"].get<double>(), lat["p90"].get<double>());
  EXPECT_LE(lat["p90"].get<double>(), lat["p99"].get<double>());
  EXPECT_LE(lat["p99"].get<double>(), lat["max"].get<double>());
  EXPECT_EQ(j["streams"].get<int>(), 2);
  EXPECT_EQ(j["batch"].get<int>(), 2);
  EXPECT_EQ(j["runs"].get<int>(), 8);  // 4 per stream
  ASSERT_EQ(j["per_stream"].size(), 2u);
  EXPECT_GT(j["fps"].get<double>(), 0.0);
  EXPECT_GT(j["peak_rss_mb"].get<double>(), 1.0);
  EXPECT_NE(j["isa"].get<std::string>().find("gemm_f32_"), std::string::npos);
}

TEST(CliBench, TableWithProfile) {
  const Result r = RunCli({"bench", kTiny, "--iterations", "3", "--profile"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  for (const char* part : {"latency", "p50", "p99", "fps", "peak RSS", "profile", "effi.Conv"})
    EXPECT_NE(r.out.find(part), std::string::npos) << part << " missing in " << r.out;
}

TEST(CliBench, BadArgumentsFailWithOneLine) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"bench", kTiny, "--threads", "0"},
        std::vector<std::string>{"bench", kTiny, "--streams", "-1"},
        std::vector<std::string>{"bench", kTiny, "--batch", "2"},  // static batch-1 model
        std::vector<std::string>{"bench", kSource + "/no_such_model.onnx"}}) {
    const Result r = RunCli(args);
    EXPECT_NE(r.code, 0) << Describe(r);
    EXPECT_FALSE(r.err.empty()) << Describe(r);
  }
}

// ---------------- error paths ----------------

// Broken inputs, generated per test run.
class CliErrors : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    std::mt19937 rng(7);
    std::string random(4096, '\0');
    for (char& c : random) c = static_cast<char>(rng());
    WriteBytes(*dir_ / "random.onnx", random);
    WriteBytes(*dir_ / "random.png", random);
    WriteBytes(*dir_ / "truncated.onnx", ReadText(kTiny).substr(0, 1000));
    WriteBytes(*dir_ / "truncated.png",
               ReadText(kSource + "/assets/images/00_ankle_boot.png").substr(0, 200));
    WriteBytes(*dir_ / "truncated.jpg", MakeJpeg().substr(0, 700));
    WriteBytes(*dir_ / "not_a_list.json", R"({"labels": ["a", "b"]})");
    WriteBytes(*dir_ / "three.json", R"(["a", "b", "c"])");
    WriteBytes(*dir_ / "three.txt", "a\nb\nc\n");
    WriteBytes(*dir_ / "broken.json", R"(["a", "b")");
    effi::npy::SaveF32(*dir_ / "small.npy", std::vector<float>(3 * 32 * 32).data(), {1, 3, 32, 32});
    effi::npy::Array i64{"int64", {1, 3, 64, 64}, std::vector<uint8_t>(3 * 64 * 64 * 8)};
    effi::npy::Save(*dir_ / "int64.npy", i64);
    WriteBytes(*dir_ / "frame.nv12", std::string(64 * 64 * 3 / 2, '\x80'));
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string Path(const std::string& name) { return *dir_ / name; }

  // A 64x64 JPEG of noise (enough scanlines that a cut copy is truncated mid-image).
  static std::string MakeJpeg() {
    std::vector<uint8_t> rgb(64 * 64 * 3);
    std::mt19937 rng(3);
    for (uint8_t& v : rgb) v = static_cast<uint8_t>(rng());
    const std::vector<uint8_t> jpeg = effi::testing_util::EncodeJpeg(rgb, 64, 64, 3, 95);
    return std::string(jpeg.begin(), jpeg.end());
  }

  // The contract: the expected exit code, nothing on stdout, one "effi: error:" line on stderr.
  static void ExpectError(const std::vector<std::string>& args, int code) {
    const Result r = RunCli(args);
    std::string cmd;
    for (const std::string& a : args) cmd += " " + a;
    SCOPED_TRACE("effi" + cmd);
    EXPECT_EQ(r.code, code) << Describe(r);
    EXPECT_TRUE(r.out.empty()) << Describe(r);
    const std::vector<std::string> lines = Lines(r.err);
    ASSERT_EQ(lines.size(), 1u) << Describe(r);
    EXPECT_EQ(lines[0].rfind("effi: error: ", 0), 0u) << lines[0];
    EXPECT_GT(lines[0].size(), 20u) << lines[0];
  }

  static TempDir* dir_;
};

TempDir* CliErrors::dir_ = nullptr;

const std::string kImage = kSource + "/assets/images/00_ankle_boot.png";

TEST_F(CliErrors, BadModels) {
  ExpectError({"classify", Path("missing.onnx"), kImage}, 1);
  ExpectError({"classify", Path("random.onnx"), kImage}, 1);
  ExpectError({"classify", Path("truncated.onnx"), kImage}, 1);
  ExpectError({"inspect", Path("missing.onnx")}, 1);
  ExpectError({"inspect", Path("random.onnx")}, 1);
  ExpectError({"inspect", Path("truncated.onnx")}, 1);
  ExpectError({"inspect", dir_->path()}, 1);  // a directory
  ExpectError({"run", Path("truncated.onnx"), "--input", Path("small.npy")}, 1);
}

TEST_F(CliErrors, TruncatedSharedModel) {
  REQUIRE_SHARED();
  WriteBytes(Path("l1_head.onnx"), ReadText(kL1).substr(0, 1000));
  ExpectError({"classify", Path("l1_head.onnx"), kImage}, 1);
  ExpectError({"inspect", Path("l1_head.onnx")}, 1);
}

TEST_F(CliErrors, BadImages) {
  ExpectError({"classify", kTiny, Path("missing.png")}, 1);
  ExpectError({"classify", kTiny, Path("random.png")}, 1);
  ExpectError({"classify", kTiny, Path("truncated.png")}, 1);
  ExpectError({"classify", kTiny, Path("truncated.jpg")}, 1);
  ExpectError({"classify", kTiny, kImage, Path("random.png")}, 1);  // a good one first
  ExpectError(
      {"classify", kTiny, Path("frame.nv12"), "--input-format", "nv12", "--frame-size", "32x32"},
      1);  // size mismatch
}

TEST_F(CliErrors, TruncatedSharedJpeg) {
  REQUIRE_SHARED();
  WriteBytes(Path("bittern_cut.jpg"), ReadText(kShared + "/images/bittern.JPEG").substr(0, 5000));
  ExpectError({"classify", kL1, Path("bittern_cut.jpg")}, 1);
}

TEST_F(CliErrors, BadRunInputs) {
  const std::string in0 = kSource + "/tests/models/tiny_op11/in_0.npy";
  ExpectError({"run", kTiny, "--input", "nosuchinput=" + in0}, 1);
  ExpectError({"run", kTiny, "--input", "data=" + Path("small.npy")}, 1);
  ExpectError({"run", kTiny, "--input", "data=" + Path("int64.npy")}, 1);
  ExpectError({"run", kTiny, "--input", "data=" + Path("random.png")}, 1);  // not npy
  ExpectError({"run", kTiny, "--input", "data=" + Path("missing.npy")}, 1);
  ExpectError({"run", kTiny, "--input", "data=" + in0, "--input", "data=" + in0}, 1);
  ExpectError({"run", kTiny}, 2);  // --input is required
  ExpectError({"run", kTiny, "--input", in0, "--output", "a.npy", "--output-dir", "d"}, 2);
}

TEST_F(CliErrors, BadLabels) {
  ExpectError({"classify", kTiny, kImage, "--labels", Path("not_a_list.json")}, 1);
  ExpectError({"classify", kTiny, kImage, "--labels", Path("three.json")}, 1);
  ExpectError({"classify", kTiny, kImage, "--labels", Path("three.txt")}, 1);
  ExpectError({"classify", kTiny, kImage, "--labels", Path("broken.json")}, 1);
  ExpectError({"classify", kTiny, kImage, "--labels", Path("random.png")}, 1);
  ExpectError({"classify", kTiny, kImage, "--labels", Path("missing.json")}, 1);
}

TEST_F(CliErrors, UsageErrors) {
  ExpectError({"--bogus"}, 2);
  ExpectError({"frobnicate"}, 2);
  ExpectError({"classify", "--bogus"}, 2);
  ExpectError({"classify", kTiny, kImage, "--top", "0"}, 2);
  ExpectError({"classify", kTiny, kImage, "--top", "-3"}, 2);
  ExpectError({"classify", kTiny, kImage, "--top", "many"}, 2);
  ExpectError({"classify", kTiny}, 2);  // a model but no images
  for (const char* size : {"64", "64x", "x64", "0x64", "63x64", "axb", "64x64x2", "-64x64"}) {
    ExpectError(
        {"classify", kTiny, Path("frame.nv12"), "--input-format", "nv12", "--frame-size", size}, 2);
  }
  ExpectError({"classify", kTiny, Path("frame.nv12"), "--input-format", "nv12"}, 2);
  ExpectError({"classify", kTiny, kImage, "--frame-size", "64x64"}, 2);
  ExpectError({"classify", kTiny, kImage, "--input-format", "gif"}, 2);
  ExpectError({"classify", kTiny, kImage, "--interpolation", "lanczos"}, 2);
  ExpectError({"classify", kTiny, kImage, "--mean", "1,2"}, 2);
  ExpectError({"classify", kTiny, kImage, "--std", "1,0,1"}, 2);
  ExpectError({"classify", kTiny, kImage, "--size", "64", "--input-size", "64x64"}, 2);
  ExpectError({"classify", kTiny, kImage, "--passes", "all,-nonsense"}, 2);
  ExpectError({"inspect"}, 2);
  ExpectError({"inspect", kTiny, "--batch", "0"}, 2);
}

// --memory-limit on every command that loads a model; EFFI_MEMORY_LIMIT when it is absent.
TEST_F(CliErrors, MemoryLimit) {
  const std::string in0 = kSource + "/tests/models/tiny_op11/in_0.npy";
  const std::vector<std::vector<std::string>> commands = {
      {"inspect", kTiny},
      {"classify", kTiny, kImage},
      {"run", kTiny, "--input", in0, "--output", Path("mem_out.npy")},
      {"bench", kTiny, "--warmup", "0", "--iterations", "1"}};
  for (const std::vector<std::string>& command : commands) {
    std::vector<std::string> args = command;
    args.insert(args.end(), {"--memory-limit", "1K"});
    ExpectError(args, 1);
    const Result r = RunCli(args);
    EXPECT_NE(r.err.find("over the memory limit of 1 KiB (raise it with --memory-limit"),
              std::string::npos)
        << r.err;
    args.back() = "abc";
    ExpectError(args, 2);
    args.back() = "unlimited";
    EXPECT_EQ(RunCli(args).code, 0) << command[0];
  }
  const Result bad = RunCli({"inspect", kTiny, "--memory-limit", "1.5G"});
  EXPECT_NE(bad.err.find("--memory-limit"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("K, M, G or T suffix"), std::string::npos) << bad.err;
  // The environment variable (inherited by the child), overridden by the flag.
  setenv("EFFI_MEMORY_LIMIT", "2K", 1);
  const Result env = RunCli({"inspect", kTiny});
  const Result flag = RunCli({"inspect", kTiny, "--memory-limit", "64M"});
  setenv("EFFI_MEMORY_LIMIT", "lots", 1);
  const Result env_bad = RunCli({"inspect", kTiny});
  unsetenv("EFFI_MEMORY_LIMIT");
  EXPECT_EQ(env.code, 1) << Describe(env);
  EXPECT_NE(env.err.find("memory limit of 2 KiB"), std::string::npos) << env.err;
  EXPECT_EQ(flag.code, 0) << Describe(flag);
  EXPECT_EQ(env_bad.code, 1) << Describe(env_bad);
  EXPECT_NE(env_bad.err.find("EFFI_MEMORY_LIMIT 'lots'"), std::string::npos) << env_bad.err;
}

TEST_F(CliErrors, PreprocessingThatDoesNotFitTheModel) {
  ExpectError({"classify", kTiny, kImage, "--size", "32"}, 1);
}

TEST_F(CliErrors, NoCrashOnNv12AndGoodFrameWorks) {
  const Result r = RunCli({"classify", kTiny, Path("frame.nv12"), "--input-format", "nv12",
                           "--frame-size", "64x64", "--top", "1"});
  EXPECT_EQ(r.code, 0) << Describe(r);
  EXPECT_EQ(Lines(r.out).size(), 2u) << r.out;
}

// ---------------- hostile files, flags and text (issue 15) ----------------

// ExpectError's contract, plus: done within 20 s (the child is killed then), so a fifo that blocks
// open() or /dev/zero read to the end fails the test instead of hanging it; the line contains
// `part` when given.
void ExpectQuickError(const std::vector<std::string>& args, int code,
                      const std::string& part = "") {
  std::string cmd;
  for (const std::string& a : args) cmd += " " + a;
  SCOPED_TRACE("effi" + cmd);
  const auto t0 = std::chrono::steady_clock::now();
  const Result r = RunCli(args, "", 20);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(seconds, 10.0) << Describe(r);
  EXPECT_EQ(r.code, code) << Describe(r);
  EXPECT_TRUE(r.out.empty()) << Describe(r);
  const std::vector<std::string> lines = Lines(r.err);
  ASSERT_EQ(lines.size(), 1u) << Describe(r);
  EXPECT_EQ(lines[0].rfind("effi: error: ", 0), 0u) << lines[0];
  EXPECT_LT(lines[0].size(), 300u) << lines[0].substr(0, 1000);
  EXPECT_EQ(lines[0].find('\x1b'), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(part), std::string::npos) << lines[0];
}

// Protobuf wire format, enough to write small ONNX models here (the tests do not link protobuf).
std::string Varint(uint64_t v) {
  std::string s;
  for (; v >= 0x80; v >>= 7) s += static_cast<char>((v & 0x7f) | 0x80);
  return s + static_cast<char>(v);
}
// A length-delimited field (a string or a sub-message).
std::string Field(uint64_t number, const std::string& payload) {
  return Varint(number << 3 | 2) + Varint(payload.size()) + payload;
}
// A varint field (an integer or an enum).
std::string IntField(uint64_t number, uint64_t value) {
  return Varint(number << 3) + Varint(value);
}

// An ONNX ValueInfoProto (name = 1, type = 2): a tensor (TypeProto.tensor_type = 1) with
// elem_type (1) 1 = float or 7 = int64 and a shape (2) of fixed dims (dim = 1, dim_value = 1).
std::string TensorValueInfo(const std::string& name, int elem_type,
                            const std::vector<int64_t>& dims) {
  std::string shape;
  for (const int64_t d : dims) shape += Field(1, IntField(1, static_cast<uint64_t>(d)));
  return Field(1, name) +
         Field(2, Field(1, IntField(1, static_cast<uint64_t>(elem_type)) + Field(2, shape)));
}

// tiny_op11.onnx with one more metadata_props entry, encoded by hand: protobuf merges a repeated
// field given again at the end of a message, so appending ModelProto field 14 (a
// StringStringEntryProto: key = 1, value = 2) adds the entry.
std::string TinyWithMetadata(const std::string& key, const std::string& value) {
  return ReadText(kTiny) + Field(14, Field(1, key) + Field(2, value));
}

// A valid model that is no classifier: float32 [1,3,8,8] in, Cast to int64 out. ModelProto:
// ir_version = 1, graph = 7, opset_import = 8 (version = 2); GraphProto: node = 1, name = 2,
// input = 11, output = 12; NodeProto: input = 1, output = 2, op_type = 4, attribute = 5
// (AttributeProto name = 1, i = 3, type = 20 with INT = 2).
std::string Int64OutputModel() {
  const std::string cast = Field(1, "data") + Field(2, "output") + Field(4, "Cast") +
                           Field(5, Field(1, "to") + IntField(3, 7) + IntField(20, 2));
  const std::string graph = Field(1, cast) + Field(2, "int64_output") +
                            Field(11, TensorValueInfo("data", 1, {1, 3, 8, 8})) +
                            Field(12, TensorValueInfo("output", 7, {1, 3, 8, 8}));
  return IntField(1, 7) + Field(7, graph) + Field(8, IntField(2, 13));
}

// Output meant for a terminal holds no raw ESC/BEL/C1 byte and no forged "effi: error:" line.
void ExpectNoTerminalInjection(const Result& r) {
  for (const std::string* text : {&r.out, &r.err}) {
    for (const char c : {'\x1b', '\x07', '\r', '\x9b'})
      EXPECT_EQ(text->find(c), std::string::npos) << static_cast<int>(c) << Describe(r);
    for (const std::string& line : Lines(*text))
      EXPECT_NE(line.rfind("effi: error: fake", 0), 0u) << "forged line: " << line;
  }
}

TEST_F(CliErrors, FifosAndDevicesFailAtOnce) {
  const std::string fifo = Path("io_fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  ExpectQuickError({"classify", kTiny, fifo}, 1);                      // image
  ExpectQuickError({"classify", fifo, kImage}, 1);                     // model
  ExpectQuickError({"inspect", fifo}, 1);                              // model
  ExpectQuickError({"bench", fifo, "--iterations", "1"}, 1);           // model
  ExpectQuickError({"run", kTiny, "--input", "data=" + fifo}, 1);      // .npy
  ExpectQuickError({"classify", kTiny, kImage, "--labels", fifo}, 1);  // labels
  ExpectQuickError({"classify", kTiny, fifo, "--input-format", "nv12", "--frame-size", "64x64"},
                   1);  // frame
  // Devices: /dev/zero never ends, so it must be refused rather than read.
  ExpectQuickError({"classify", kTiny, kImage, "--labels", "/dev/zero"}, 1);
  ExpectQuickError({"classify", kTiny, "/dev/zero"}, 1);
  ExpectQuickError({"inspect", "/dev/zero"}, 1);
  ExpectQuickError({"run", kTiny, "--input", "data=/dev/zero"}, 1);
  ExpectQuickError(
      {"classify", kTiny, "/dev/zero", "--input-format", "nv12", "--frame-size", "64x64"}, 1);
  const Result r = RunCli({"classify", kTiny, kImage, "--labels", fifo}, "", 20);
  EXPECT_NE(r.err.find("is not a regular file (fifo)"), std::string::npos) << Describe(r);
}

TEST_F(CliErrors, NanAndInfinityFlagsAreUsageErrors) {
  for (const char* v : {"nan", "NaN", "-nan", "inf", "-inf", "1e999"}) {
    ExpectQuickError({"bench", kTiny, "--seconds", v}, 2);
    ExpectQuickError({"classify", kTiny, kImage, "--crop-pct", v}, 2);
  }
  const Result r = RunCli({"bench", kTiny, "--seconds", "nan"}, "", 20);
  EXPECT_NE(r.err.find("--seconds"), std::string::npos) << Describe(r);
  EXPECT_NE(r.err.find("finite"), std::string::npos) << Describe(r);
}

TEST_F(CliErrors, LabelsCannotWriteToTheTerminal) {
  // Through a labels file (JSON and plain text) and through the model's metadata
  // (make_hostile_models.py's io_labels_terminal.onnx, 3 classes).
  nlohmann::json labels = nlohmann::json::array();
  for (int i = 0; i < 10; ++i)
    labels.push_back(i % 2 ? std::string("c") + std::to_string(i) + "\neffi: error: fake"
                           : std::string("\x1b[31mc") + std::to_string(i) +
                                 "\x1b[0m\x1b]0;title\x07");
  WriteBytes(Path("io_evil.json"), labels.dump());
  std::string text;
  for (int i = 0; i < 10; ++i) text += std::string("\x1b[2Jc") + std::to_string(i) + "\r\x9b\n";
  WriteBytes(Path("io_evil.txt"), text);
  const std::string model = kSource + "/tests/testdata/hostile/io_labels_terminal.onnx";
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"classify", kTiny, kImage, "--top", "10", "--labels",
                                 Path("io_evil.json")},
        std::vector<std::string>{"classify", kTiny, kImage, "--top", "10", "--labels",
                                 Path("io_evil.txt")},
        std::vector<std::string>{"classify", model, kImage}}) {
    const Result r = RunCli(args);
    SCOPED_TRACE(args[1] + " " + args.back());
    ASSERT_EQ(r.code, 0) << Describe(r);
    ExpectNoTerminalInjection(r);
    EXPECT_EQ(Lines(r.out).size(), args.size() == 3 ? 4u : 11u) << r.out;  // path + one per label
    EXPECT_NE(r.out.find("\\x1b["), std::string::npos) << r.out;
  }
  const Result meta = RunCli({"classify", model, kImage});
  EXPECT_NE(meta.out.find("two\\x0aeffi: error: fake (1)"), std::string::npos) << meta.out;
  EXPECT_NE(meta.out.find("\\x1b[31mred\\x1b[0m (2)"), std::string::npos) << meta.out;
  // JSON output keeps the labels exactly (the JSON encoding escapes them).
  const Result json = RunCli({"classify", model, kImage, "--json"});
  ASSERT_EQ(json.code, 0) << Describe(json);
  EXPECT_EQ(json.out.find('\x1b'), std::string::npos);
  std::set<std::string> got;
  const nlohmann::json doc = nlohmann::json::parse(json.out);
  for (const auto& t : doc.at("results").at(0).at("top"))
    got.insert(t.at("label").get<std::string>());
  EXPECT_EQ(got, (std::set<std::string>{"plain", "two\neffi: error: fake", "\x1b[31mred\x1b[0m"}));
}

TEST_F(CliErrors, ModelNamesAndErrorsCannotWriteToTheTerminal) {
  // A metadata key with a clear-screen escape: `inspect` lists keys.
  WriteBytes(Path("io_meta_key.onnx"), TinyWithMetadata("\x1b[2Jkey\nfake", "v"));
  const Result r = RunCli({"inspect", Path("io_meta_key.onnx")});
  ASSERT_EQ(r.code, 0) << Describe(r);
  ExpectNoTerminalInjection(r);
  EXPECT_NE(r.out.find("\\x1b[2Jkey\\x0afake"), std::string::npos) << r.out;
  // A file name with ESC and a newline, quoted in an error line.
  ExpectQuickError({"classify", kTiny, kImage, "--labels", Path("io_\x1b[31m\neffi: error: x")}, 1);
  ExpectQuickError({"classify", kTiny, Path("io_\x1b]0;t\x07.png")}, 1);
}

TEST_F(CliErrors, DeeplyNestedOrHugeJsonGivesOneShortLine) {
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  const std::string deep50k = std::string(50001, '[') + "1" + std::string(50001, ']');
  WriteBytes(Path("io_deep.json"), deep);
  WriteBytes(Path("io_deep50k.json"), deep50k);
  ExpectQuickError({"classify", kTiny, kImage, "--labels", Path("io_deep.json")}, 1);
  ExpectQuickError({"classify", kTiny, kImage, "--labels", Path("io_deep50k.json")}, 1);
  // The same in the model's metadata, for 'labels' and for 'preprocess'.
  WriteBytes(Path("io_deep_labels.onnx"), TinyWithMetadata("labels", deep));
  WriteBytes(Path("io_deep50k_labels.onnx"), TinyWithMetadata("labels", deep50k));
  WriteBytes(Path("io_deep_pre.onnx"), TinyWithMetadata("preprocess", deep));
  WriteBytes(Path("io_deep_mean.onnx"),
             TinyWithMetadata("preprocess", "{\"mean\": " + deep50k + "}"));
  std::string wide = "{\"mean\": [";
  for (int i = 0; i < 20000; ++i) wide += i ? ",1" : "1";
  WriteBytes(Path("io_wide_mean.onnx"), TinyWithMetadata("preprocess", wide + "]}"));
  for (const char* name : {"io_deep_labels.onnx", "io_deep50k_labels.onnx", "io_deep_pre.onnx",
                           "io_deep_mean.onnx", "io_wide_mean.onnx"})
    ExpectQuickError({"classify", Path(name), kImage}, 1);
  // A huge but flat labels value in a file: the message does not quote it.
  WriteBytes(Path("io_huge_number.json"), std::string("[\"a\", ") + std::string(100000, '7') + "]");
  ExpectQuickError({"classify", kTiny, kImage, "--labels", Path("io_huge_number.json")}, 1);
}

// classify takes a model whose output has a class dimension and is float32, as eval does (the
// checks are shared: dataset.h's CheckClassifier).
TEST_F(CliErrors, ModelsThatAreNotClassifiers) {
  ExpectQuickError({"classify", kSource + "/tests/cli/testdata/no_class_dim.onnx", kImage}, 1,
                   "classify needs an output [N, classes]; output 'output' of '" + kSource +
                       "/tests/cli/testdata/no_class_dim.onnx' is [1] (no class dimension)");
  WriteBytes(Path("int64_output.onnx"), Int64OutputModel());
  EXPECT_EQ(RunCli({"inspect", Path("int64_output.onnx")}).code, 0);  // a valid model
  ExpectQuickError({"classify", Path("int64_output.onnx"), kImage}, 1,
                   "classify needs a float32 output (class scores); output 'output' of '" +
                       Path("int64_output.onnx") + "' is int64");
}

// The model's 'labels' metadata must have one label per class; --labels replaces it and then it
// is not read at all, so a file rescues a model whose metadata is wrong or malformed.
TEST_F(CliErrors, LabelsFileOverridesTheModelsLabelsMetadata) {
  WriteBytes(Path("three_labels.onnx"), TinyWithMetadata("labels", R"(["a", "b", "c"])"));
  WriteBytes(Path("broken_labels.onnx"), TinyWithMetadata("labels", R"(["a", 1)"));
  ExpectQuickError({"classify", Path("three_labels.onnx"), kImage}, 1,
                   "the 'labels' metadata of '" + Path("three_labels.onnx") +
                       "' has 3 labels but the model has 10 classes");
  ExpectQuickError({"classify", Path("broken_labels.onnx"), kImage}, 1, "labels");
  ExpectQuickError({"classify", kTiny, kImage, "--labels", Path("three.txt")}, 1,
                   "labels file '" + Path("three.txt") +
                       "' has 3 labels but the model has 10 "
                       "classes");
  std::string ten;
  for (int i = 0; i < 10; ++i) ten += "file label " + std::to_string(i) + "\n";
  WriteBytes(Path("ten.txt"), ten);
  for (const char* model : {"three_labels.onnx", "broken_labels.onnx"}) {
    const Result r =
        RunCli({"classify", Path(model), kImage, "--labels", Path("ten.txt"), "--json"});
    ASSERT_EQ(r.code, 0) << model << Describe(r);
    const nlohmann::json top = nlohmann::json::parse(r.out)["results"][0]["top"];
    ASSERT_EQ(top.size(), 5u);
    for (const auto& t : top)
      EXPECT_EQ(t["label"], "file label " + std::to_string(t["index"].get<int>())) << model;
  }
}

TEST_F(CliErrors, InspectConvWithZeroOutputChannelsDoesNotCrash) {
  // make_hostile_models.py's conv_zero_out_channels.onnx: MACs used to divide by w[0] == 0.
  const Result r =
      RunCli({"inspect", kSource + "/tests/testdata/hostile/conv_zero_out_channels.onnx"});
  ASSERT_LT(r.code, 2) << Describe(r);  // 0 (loads: 0 MACs) or 1 (refused), never a signal
  if (r.code == 0) {
    EXPECT_NE(r.out.find("MACs         0 "), std::string::npos) << r.out;
  } else {
    EXPECT_EQ(Lines(r.err).size(), 1u) << Describe(r);
  }
}

// ---------------- sizes are WxH (issue 14) ----------------

// A valid classifier with a non-square input: float32 [1,3,32,48] (H 32, W 48) -> GlobalAveragePool
// -> Flatten -> [1,3] "logits". ModelProto: ir_version = 1, graph = 7, opset_import = 8.
std::string NonSquareModel() {
  const std::string pool = Field(1, "data") + Field(2, "pooled") + Field(4, "GlobalAveragePool");
  const std::string flatten = Field(1, "pooled") + Field(2, "output") + Field(4, "Flatten");
  const std::string graph = Field(1, pool) + Field(1, flatten) + Field(2, "non_square") +
                            Field(11, TensorValueInfo("data", 1, {1, 3, 32, 48})) +
                            Field(12, TensorValueInfo("output", 1, {1, 3}));
  return IntField(1, 7) + Field(7, graph) + Field(8, IntField(2, 13));
}

TEST_F(CliErrors, SizesAreWidthByHeight) {
  WriteBytes(Path("non_square.onnx"), NonSquareModel());
  const std::string model = Path("non_square.onnx");
  // WxH: 48x32 is the model's [.., 32, 48]; the old HxW order is named with the fix.
  const Result ok = RunCli({"classify", model, kImage, "--input-size", "48x32", "--save-input",
                            Path("non_square_in.npy")});
  ASSERT_EQ(ok.code, 0) << Describe(ok);
  EXPECT_EQ(effi::npy::Load(Path("non_square_in.npy")).shape, (std::vector<int64_t>{1, 3, 32, 48}));
  ExpectQuickError({"classify", model, kImage, "--input-size", "32x48"}, 1,
                   "preprocessing makes 32x48 (WxH) images but model input 'data' is [1, 3, 32, "
                   "48] (WxH 48x32; --input-size is width x height: use --input-size 48x32)");
  ExpectQuickError({"classify", model, kImage, "--size", "32"}, 1,
                   "preprocessing makes 32x32 (WxH) images but model input 'data' is [1, 3, 32, "
                   "48]");
  // Tensor-shape spellings are refused with the WxH form.
  ExpectQuickError({"classify", model, kImage, "--input-size", "3,32,48"}, 2,
                   "sizes are WxH (width first, like 640x480), not a tensor shape: for '3,32,48' "
                   "(height 32, width 48) write 48x32");
  ExpectQuickError({"classify", model, kImage, "--input-size", "32,48"}, 2, "write 48x32");
  ExpectQuickError({"classify", model, kImage, "--input-size", "48"}, 2,
                   "expected a size WxH like 640x480, got '48'");
  ExpectQuickError({"classify", kTiny, Path("frame.nv12"), "--frame-size", "64,64"}, 2,
                   "write 64x64");
  // eval takes the same flags.
  ExpectQuickError({"eval", model, "--data", dir_->path(), "--input-size", "3,32,48"}, 2,
                   "write 48x32");
}

// ---------------- run --print / --compare (issue 14) ----------------

const std::string kTinyIn = kSource + "/tests/models/tiny_op11/in_0.npy";
const std::string kTinyOrt = kSource + "/tests/models/tiny_op11/ort_0.npy";

TEST_F(CliErrors, RunPrintShowsValuesLikeNumpy) {
  // [1, 10]: all ten values (rows wrap at 75 columns), as ort_0.npy holds them within 1e-4.
  const Result r = RunCli({"run", kTiny, "--input", kTinyIn, "--print"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_GE(lines.size(), 2u) << r.out;
  EXPECT_EQ(lines[0], "output  float32  [1, 10]") << r.out;
  std::string text;
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_LE(lines[i].size(), 75u) << lines[i];
    text += lines[i];
  }
  ASSERT_EQ(text.rfind("[[", 0), 0u) << text;
  ASSERT_EQ(text.substr(text.size() - 2), "]]") << text;
  std::vector<double> values;
  std::stringstream ss(text.substr(2, text.size() - 4));
  for (std::string item; std::getline(ss, item, ',');) values.push_back(std::stod(item));
  const effi::npy::Array ref = effi::npy::Load(kTinyOrt);
  ASSERT_EQ(values.size(), 10u) << text;
  for (size_t i = 0; i < 10; ++i)
    EXPECT_NEAR(values[i], reinterpret_cast<const float*>(ref.bytes.data())[i], 1e-4) << i;
  // --json: every value.
  const Result j = RunCli({"run", kTiny, "--input", kTinyIn, "--print", "--json"});
  ASSERT_EQ(j.code, 0) << Describe(j);
  const nlohmann::json doc = nlohmann::json::parse(j.out);
  ASSERT_EQ(doc["outputs"][0]["values"].size(), 10u);
  EXPECT_NEAR(doc["outputs"][0]["values"][3].get<double>(), values[3], 1e-4);

  // Over 100 values: 3 at each end of every axis, columns aligned. A Relu model passes its
  // non-negative input through: [2, 600] holding 0..1199.
  const std::string relu = Field(1, "data") + Field(2, "output") + Field(4, "Relu");
  WriteBytes(Path("relu.onnx"),
             IntField(1, 7) +
                 Field(7, Field(1, relu) + Field(2, "relu") +
                              Field(11, TensorValueInfo("data", 1, {2, 600})) +
                              Field(12, TensorValueInfo("output", 1, {2, 600}))) +
                 Field(8, IntField(2, 13)));
  std::vector<float> x(1200);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i);
  effi::npy::SaveF32(Path("relu_in.npy"), x.data(), {2, 600});
  const Result big = RunCli({"run", Path("relu.onnx"), "-i", Path("relu_in.npy"), "--print"});
  ASSERT_EQ(big.code, 0) << Describe(big);
  EXPECT_EQ(big.out,
            "output  float32  [2, 600]\n"
            "[[   0,    1,    2, ...,  597,  598,  599],\n"
            " [ 600,  601,  602, ..., 1197, 1198, 1199]]\n");
}

TEST_F(CliErrors, RunCompareWithinAndOverTolerance) {
  // Against ONNX Runtime's output: within the default --tol 1e-4, the argmax agrees.
  Result r = RunCli({"run", kTiny, "--input", kTinyIn, "--compare", kTinyOrt});
  ASSERT_EQ(r.code, 0) << Describe(r);
  EXPECT_NE(r.out.find("vs " + kTinyOrt + ": max abs diff "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("top-1 agreement 1/1 rows: ok (--tol 0.0001)"), std::string::npos) << r.out;
  r = RunCli({"run", kTiny, "--input", kTinyIn, "--compare", "output=" + kTinyOrt, "--json"});
  ASSERT_EQ(r.code, 0) << Describe(r);
  nlohmann::json c = nlohmann::json::parse(r.out)["outputs"][0]["compare"];
  EXPECT_EQ(c["file"], kTinyOrt);
  EXPECT_LE(c["max_abs_diff"].get<double>(), 1e-4);
  EXPECT_GE(c["max_rel_diff"].get<double>(), 0.0);
  EXPECT_EQ(c["rows"], 1);
  EXPECT_EQ(c["top1_agree"], 1);
  EXPECT_EQ(c["ok"], true);

  // A reference with one value moved by 0.5 and the argmax moved: exit 1 after the report.
  effi::npy::Array ref = effi::npy::Load(kTinyOrt);
  float* v = reinterpret_cast<float*>(ref.bytes.data());
  const size_t argmax = static_cast<size_t>(std::max_element(v, v + 10) - v);
  v[(argmax + 1) % 10] = v[argmax] + 0.5f;
  effi::npy::Save(Path("ref_moved.npy"), ref);
  r = RunCli({"run", kTiny, "--input", kTinyIn, "--compare", Path("ref_moved.npy"), "--json"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  c = nlohmann::json::parse(r.out)["outputs"][0]["compare"];
  EXPECT_GT(c["max_abs_diff"].get<double>(), 0.4);
  EXPECT_EQ(c["top1_agree"], 0);
  EXPECT_EQ(c["ok"], false);
  ASSERT_EQ(Lines(r.err).size(), 1u) << r.err;
  EXPECT_EQ(
      r.err.rfind(
          "effi: error: output 'output' differs from '" + Path("ref_moved.npy") + "' by up to ", 0),
      0u)
      << r.err;
  EXPECT_NE(r.err.find(", over --tol 0.0001\n"), std::string::npos) << r.err;
  // A loose --tol accepts it; NaN in the output where the reference has a number never passes.
  EXPECT_EQ(
      RunCli({"run", kTiny, "-i", kTinyIn, "--compare", Path("ref_moved.npy"), "--tol", "10"}).code,
      0);
  v[0] = std::numeric_limits<float>::quiet_NaN();
  effi::npy::Save(Path("ref_nan.npy"), ref);
  r = RunCli(
      {"run", kTiny, "-i", kTinyIn, "--compare", Path("ref_nan.npy"), "--tol", "1e30", "--json"});
  EXPECT_EQ(r.code, 1) << Describe(r);
  EXPECT_TRUE(nlohmann::json::parse(r.out)["outputs"][0]["compare"]["max_abs_diff"].is_null());
}

TEST_F(CliErrors, RunCompareBadReferences) {
  effi::npy::SaveF32(Path("ref_shape.npy"), std::vector<float>(10).data(), {10});
  ExpectQuickError(
      {"run", kTiny, "-i", kTinyIn, "--compare", Path("ref_shape.npy")}, 1,
      "--compare: output 'output' is [1, 10] but '" + Path("ref_shape.npy") + "' holds [10]");
  ExpectQuickError({"run", kTiny, "-i", kTinyIn, "--compare", "logits=" + kTinyOrt}, 1,
                   "--compare: model has no output named 'logits' (outputs: 'output')");
  ExpectQuickError({"run", kTiny, "-i", kTinyIn, "--compare", kTinyOrt, "--compare", kTinyOrt}, 1,
                   "given twice");
  ExpectQuickError({"run", kTiny, "-i", kTinyIn, "--compare", Path("missing.npy")}, 1,
                   "no such file");
  ExpectQuickError({"run", kTiny, "-i", kTinyIn, "--compare", Path("random.png")}, 1);
  ExpectQuickError({"run", kTiny, "-i", kTinyIn, "--compare", "=x.npy"}, 2, "--compare");
  for (const char* tol : {"-1", "nan", "abc"})
    ExpectQuickError({"run", kTiny, "-i", kTinyIn, "--compare", kTinyOrt, "--tol", tol}, 2,
                     "--tol");
}

}  // namespace
}  // namespace effi::cli_test
