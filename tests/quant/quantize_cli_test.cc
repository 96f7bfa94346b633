// `effi quantize` end to end through the real executable: a small successful run (calibration from
// a preprocessed .npy, so no dataset package is needed), --keep-float and --json, and one clear
// error for each bad input: empty calibration source, unwritable --out, an already-quantized model,
// an unknown --keep-float name, NaN-only calibration data, bad flags. Then effi running the file
// it wrote: the int8 share of its MACs (`effi inspect`) and the int8 kernels' logits against the
// QDQ semantics on Fashion-MNIST test images (`effi eval`).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "../cli/cli_test_util.h"
#include "util/npy.h"

namespace {

namespace fs = std::filesystem;
using effi::cli_test::Result;

const std::string kModel =
    std::string(EFFI_SOURCE_DIR) + "/assets/models/efficientformer_l1_fmnist96.onnx";
const std::string kSharedModel =
    std::string(EFFI_SHARED_DIR) + "/models/efficientformer_l1_fmnist96.onnx";
const std::string kFmnist = "/usr/share/datasets/fashion-mnist";  // Debian dataset-fashion-mnist

// MACs of the L1 at 96x96 that effi runs in float32 whatever the QDQ file: the stem conv over
// the RGB planes, on the direct NCHW kernel (48x48x24 outputs x 27; fuse_int8 leaves it).
constexpr int64_t kStemMacs = 48 * 48 * 24 * 27;  // 1,492,992
constexpr int64_t kHeadMacs = 448 * 10;           // one classifier head

// `effi inspect --json MODEL`: its macs_by_precision, checked to add up to macs.
nlohmann::json MacsByPrecision(const std::string& model) {
  const Result r = effi::cli_test::RunCli({"inspect", model, "--json"});
  EXPECT_EQ(r.code, 0) << r.err;
  if (r.code != 0) return {};
  const auto doc = nlohmann::json::parse(r.out);
  nlohmann::json split = doc["macs_by_precision"];
  EXPECT_EQ(split["int8"].get<int64_t>() + split["float32"].get<int64_t>(),
            doc["macs"].get<int64_t>());
  split["macs"] = doc["macs"];
  return split;
}

class QuantizeCli : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) const { return dir_ / name; }

  // Runs `effi quantize args...`.
  Result Quantize(std::vector<std::string> args) const {
    args.insert(args.begin(), "quantize");
    return effi::cli_test::RunCli(args);
  }

  // A preprocessed calibration set [n,3,96,96] of N(0,1) pixels (the model's normalised inputs),
  // or of `fill` when given.
  std::string Calib(int n, float fill = 0, bool use_fill = false) const {
    std::vector<float> x(static_cast<size_t>(n) * 3 * 96 * 96);
    std::mt19937 rng(7);
    std::normal_distribution<float> normal;
    for (float& v : x) v = use_fill ? fill : normal(rng);
    const std::string path = Path(use_fill ? "fill.npy" : "calib.npy");
    effi::npy::SaveF32(path, x.data(), {n, 3, 96, 96});
    return path;
  }

  // One "effi: error:" line naming `what` (the last line; before it at most the calibration's
  // progress line), exit code `code`, nothing on stdout and no temp file left in the folder.
  void ExpectError(const Result& r, int code, const std::string& what) const {
    EXPECT_EQ(r.code, code) << r.err;
    const size_t at = r.err.find("effi: error: ");
    ASSERT_NE(at, std::string::npos) << r.err;
    EXPECT_TRUE(at == 0 || r.err.rfind("effi: calibrated ", 0) == 0) << r.err;
    EXPECT_EQ(r.err.find('\n', at), r.err.size() - 1) << r.err;
    EXPECT_EQ(r.err.find("effi: error: ", at + 1), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(what), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    for (const auto& e : fs::directory_iterator(dir_.path()))
      EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }

  effi::cli_test::TempDir dir_;
};

TEST_F(QuantizeCli, WritesAQdqModelAndReportsEveryLayer) {
  const std::string out = Path("q.onnx");
  const Result r =
      Quantize({kModel, "--calib", Calib(2), "--out", out, "--json", "--keep-float",
                "/head/Gemm,/stem/conv1/Conv", "--fallback", "none", "--output-qdq", "on"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["opset_in"], 11);
  EXPECT_EQ(doc["opset_out"], 13);
  EXPECT_EQ(doc["calibration"]["items"], 2);
  ASSERT_EQ(doc["layers"].size(), 41u);  // 33 Conv + 6 MatMul + 2 Gemm
  int floats = 0;
  for (const auto& l : doc["layers"]) {
    if (l["precision"] == "float") {
      ++floats;
      EXPECT_EQ(l["why_float"], "--keep-float");
      EXPECT_FALSE(l.contains("output")) << l["name"];  // a float layer's output is not quantized
      continue;
    }
    ASSERT_TRUE(l.contains("output")) << l["name"];  // the output pair (--output-qdq on)
    nlohmann::json tensors = l["activations"];
    tensors.push_back(l["output"]);
    for (const auto& a : tensors) {
      EXPECT_GT(a["scale"].get<double>(), 0);
      EXPECT_GE(a["zero_point"].get<int>(), 0);
      EXPECT_LE(a["zero_point"].get<int>(), 255);
      EXPECT_LE(a["min"].get<double>(), a["max"].get<double>());
    }
    EXPECT_GT(l["macs"].get<int64_t>(), 0) << l["name"];
    // Sensitivity: its output's error with every layer int8. The isolated one (a model load per
    // layer) is not measured with --fallback none: nothing needs it.
    EXPECT_GT(l["output_cosine"].get<double>(), 0.9) << l["name"];
    EXPECT_LE(l["output_cosine"].get<double>(), 1.0 + 1e-9) << l["name"];
    EXPECT_GT(l["output_sqnr_db"].get<double>(), 10) << l["name"];
    EXPECT_TRUE(l["isolated_model_cosine"].is_null()) << l["name"];
  }
  EXPECT_EQ(floats, 2);
  EXPECT_EQ(doc["output_qdq"], true);
  EXPECT_EQ(doc["fallback"]["mode"], "none");
  EXPECT_EQ(doc["fallback"]["items"], 2);
  EXPECT_EQ(doc["fallback"]["isolated_measured"], false);
  EXPECT_GT(doc["fallback"]["int8_model_cosine"].get<double>(), 0.9);
  EXPECT_FALSE(doc["fallback"].contains("kept_float"));
  // All quantized: 42 activation inputs (one per distinct tensor; the two heads share theirs) and
  // 41 layer outputs (none of L1's is another layer's input: a GELU, norm or add is between), 39
  // weights, 35 biases. The stem conv kept float drops the graph input's Q/DQ, its output pair,
  // weight and bias; /head/Gemm its output pair, weight and bias (its input stays quantized for
  // /head_dist/Gemm).
  EXPECT_EQ(doc["quantize_linear"], 41 + 39);
  EXPECT_EQ(doc["dequantize_linear"], 41 + 39 + 37 + 33);
  EXPECT_LE(doc["bytes_out"].get<double>(), 0.3 * doc["bytes_in"].get<double>());
  EXPECT_TRUE(fs::is_regular_file(out));
  EXPECT_EQ(static_cast<int64_t>(fs::file_size(out)), doc["bytes_out"].get<int64_t>());
  // effi runs the rest on int8 kernels: 99.37 % of the MACs. Float32: the stem conv (kept float
  // here, and on the direct float kernel anyway) and /head/Gemm (kept float: the heads, one
  // float and one int8, are no longer merged into one Linear).
  const nlohmann::json macs = MacsByPrecision(out);
  EXPECT_EQ(macs["float32"].get<int64_t>(), kStemMacs + kHeadMacs);
  EXPECT_GE(macs["int8"].get<double>(), 0.98 * macs["macs"].get<double>());
  // The table form: a header and one row per layer.
  const Result table =
      Quantize({kModel, "--calib", Calib(1), "--out", Path("t.onnx"), "--fallback", "none"});
  ASSERT_EQ(table.code, 0) << table.err;
  for (const char* column :
       {"cosine", "SQNR (dB)", "isolated cos", "precision", "activation scale/zp (in -> out)",
        "not measured", "(output pairs off)"})
    EXPECT_NE(table.out.find(column), std::string::npos) << column << "\n" << table.out;
  EXPECT_NE(table.out.find("fallback none: model-output cosine "), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("kept float: none"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("/stages/stages.3/blocks/blocks.4/token_mixer/MatMul_1"),
            std::string::npos);
  EXPECT_NE(table.out.find("41 of 41 Conv/Gemm/MatMul int8"), std::string::npos) << table.out;
  EXPECT_NE(table.err.find("effi: calibrated 42 activations on 1 of 1 items"), std::string::npos)
      << table.err;
  EXPECT_NE(table.err.find("isolated sensitivity not measured: --fallback none"), std::string::npos)
      << table.err;
}

TEST_F(QuantizeCli, SeededCalibrationDrawsTheAskedCount) {
  const std::string calib = Calib(3);
  const Result r = Quantize({kModel, "--calib", calib, "--calib-count", "2", "--calib-seed", "5",
                             "--out", Path("q.onnx"), "--fallback", "none"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("on 2 of 3 items"), std::string::npos) << r.err;
  // More than the source holds: every item, once.
  const Result all = Quantize({kModel, "--calib", calib, "--calib-count", "9", "--calib-seed", "5",
                               "--out", Path("q.onnx"), "--fallback", "none"});
  ASSERT_EQ(all.code, 0) << all.err;
  EXPECT_NE(all.err.find("on 3 of 3 items"), std::string::npos) << all.err;
}

TEST_F(QuantizeCli, EmptyCalibrationSourceIsOneError) {
  fs::create_directories(Path("empty"));
  ExpectError(Quantize({kModel, "--calib", Path("empty"), "--out", Path("q.onnx")}), 1, "empty");
  std::ofstream(Path("zero.npy")).close();  // an empty file
  ExpectError(Quantize({kModel, "--calib", Path("zero.npy"), "--out", Path("q.onnx")}), 1,
              "zero.npy");
  EXPECT_FALSE(fs::exists(Path("q.onnx")));
}

TEST_F(QuantizeCli, UnwritableOutIsOneError) {
  const std::string calib = Calib(1);
  fs::create_directories(Path("folder"));
  ExpectError(Quantize({kModel, "--calib", calib, "--out", Path("folder")}), 1, "is a directory");
  ExpectError(Quantize({kModel, "--calib", calib, "--out", Path("missing/q.onnx")}), 1,
              "folder does not exist");
  // A file where a folder should be (works for root too, unlike permission bits).
  ExpectError(Quantize({kModel, "--calib", calib, "--out", calib + "/q.onnx"}), 1,
              "its folder is not a directory");
}

TEST_F(QuantizeCli, AlreadyQuantizedModelIsRefused) {
  const std::string q = Path("q.onnx");
  ASSERT_EQ(Quantize({kModel, "--calib", Calib(1), "--out", q, "--fallback", "none"}).code, 0);
  ExpectError(Quantize({q, "--calib", Calib(1), "--out", Path("qq.onnx")}), 1, "already quantized");
  EXPECT_FALSE(fs::exists(Path("qq.onnx")));
}

TEST_F(QuantizeCli, UnknownKeepFloatNameIsOneError) {
  // Checked before any calibration work; the name is escaped (no raw control bytes).
  const Result r = Quantize({kModel, "--calib", Calib(1), "--out", Path("q.onnx"), "--keep-float",
                             "/head/Gemm,no\x1b[31mnode"});
  ExpectError(r, 1, "--keep-float 'no\\x1b[31mnode': no Conv, Gemm or MatMul node");
  EXPECT_FALSE(fs::exists(Path("q.onnx")));
}

TEST_F(QuantizeCli, NanCalibrationDataIsOneError) {
  const Result r =
      Quantize({kModel, "--calib", Calib(1, std::nanf(""), true), "--out", Path("q.onnx")});
  ExpectError(r, 1, "no finite value observed");
  EXPECT_FALSE(fs::exists(Path("q.onnx")));
}

TEST_F(QuantizeCli, BadFlagsAreUsageErrors) {
  const std::string calib = Calib(1);
  ExpectError(Quantize({kModel, "--out", Path("q.onnx")}), 2, "--calib");
  ExpectError(Quantize({kModel, "--calib", calib}), 2, "--out");
  ExpectError(Quantize({kModel, "--calib", calib, "--out", Path("q.onnx"), "--observer", "kl"}), 2,
              "--observer");
  ExpectError(Quantize({kModel, "--calib", calib, "--out", Path("q.onnx"), "--percentile", "99"}),
              2, "--percentile only applies with --observer percentile");
  ExpectError(Quantize({kModel, "--calib", calib, "--out", Path("q.onnx"), "--calib-count", "0"}),
              2, "--calib-count");
  ExpectError(Quantize({kModel, "--calib", calib, "--out", Path("q.onnx"), "--fallback", "some"}),
              2, "--fallback");
  for (const char* bad : {"0", "-0.5", "1.0000001", "2", "nan", "inf"})
    ExpectError(
        Quantize({kModel, "--calib", calib, "--out", Path("q.onnx"), "--target-cosine", bad}), 2,
        "--target-cosine");
  ExpectError(Quantize({kModel, "--calib", calib, "--out", Path("q.onnx"), "--fallback", "none",
                        "--target-cosine", "0.999"}),
              2, "--target-cosine only applies with --fallback auto");
  ExpectError(Quantize({kModel, "--calib", calib, "--out", Path("q.onnx"), "--val", calib,
                        "--max-drop", "-0.1"}),
              2, "--max-drop");
  ExpectError(Quantize({kModel, "--calib", calib, "--out", Path("q.onnx"), "--max-drop", "1"}), 2,
              "--max-drop only applies with --val");
  ExpectError(Quantize({kModel, "--calib", calib, "--out", Path("q.onnx"), "--val-count", "5"}), 2,
              "--val-count only applies with --val");
  ExpectError(Quantize({kModel, "--calib", calib, "--out", Path("q.onnx"), "--val", calib,
                        "--fallback", "none"}),
              2, "--val only applies with --fallback auto");
  ExpectError(Quantize({kModel, "--calib", calib, "--out", Path("q.onnx"), "--val", calib,
                        "--target-cosine", "0.99"}),
              2, "--val decides by top-1");
  ExpectError(
      Quantize({kModel, "--calib", calib, "--out", Path("q.onnx"), "--sensitivity-count", "0"}), 2,
      "--sensitivity-count");
  for (const char* bad : {"maybe", "", "true"})
    ExpectError(Quantize({kModel, "--calib", calib, "--out", Path("q.onnx"), "--output-qdq", bad}),
                2, "--output-qdq");
  EXPECT_FALSE(fs::exists(Path("q.onnx")));
}

// The tiny L1-like model of tests/models (64x64, 23 layers) on 4 random inputs: ~1 s a run.
const std::string kTiny = std::string(EFFI_SOURCE_DIR) + "/tests/models/tiny_op11.onnx";

std::string TinyCalib(const std::string& path) {
  std::vector<float> x(4 * 3 * 64 * 64);
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  for (float& v : x) v = normal(rng);
  effi::npy::SaveF32(path, x.data(), {4, 3, 64, 64});
  return path;
}

TEST_F(QuantizeCli, FallbackNoneKeepsEveryLayerInt8) {
  const Result r = Quantize({kTiny, "--calib", TinyCalib(Path("c.npy")), "--out", Path("q.onnx"),
                             "--fallback", "none", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  ASSERT_EQ(doc["layers"].size(), 23u);
  for (const auto& l : doc["layers"]) EXPECT_EQ(l["precision"], "int8") << l["name"];
  EXPECT_EQ(doc["fallback"]["mode"], "none");
  EXPECT_EQ(doc["fallback"]["int8_macs_percent"], 100.0);
  EXPECT_EQ(doc["fallback"]["isolated_measured"], false);
  // --report draws the isolated sensitivities, so with it they are measured after all.
  const Result rep = Quantize({kTiny, "--calib", TinyCalib(Path("c.npy")), "--out", Path("r.onnx"),
                               "--fallback", "none", "--report", Path("r.html"), "--json"});
  ASSERT_EQ(rep.code, 0) << rep.err;
  const auto with_report = nlohmann::json::parse(rep.out);
  EXPECT_EQ(with_report["fallback"]["isolated_measured"], true);
  for (const auto& l : with_report["layers"])
    EXPECT_GT(l["isolated_model_cosine"].get<double>(), 0.5) << l["name"];
}

TEST_F(QuantizeCli, OutputQdqOnAddsThePairsOnLayerOutputs) {
  // The tiny model's 23 layers read 24 distinct activations and write 23 outputs, none read by
  // another layer: 24 Q/DQ pairs by default (one per input tensor), 47 with --output-qdq on.
  const std::string calib = TinyCalib(Path("c.npy"));
  for (const char* mode : {"on", "off"}) {
    std::vector<std::string> args = {kTiny,          "--calib",    calib,  "--out",
                                     Path("q.onnx"), "--fallback", "none", "--json"};
    if (std::string(mode) == "on") args.insert(args.end(), {"--output-qdq", "on"});
    const Result r = Quantize(args);
    ASSERT_EQ(r.code, 0) << r.err;
    const auto doc = nlohmann::json::parse(r.out);
    const bool on = std::string(mode) == "on";
    EXPECT_EQ(doc["output_qdq"], on);
    EXPECT_EQ(doc["quantize_linear"], on ? 47 : 24) << mode;
    EXPECT_EQ(doc["dequantize_linear"].get<int>() - doc["quantize_linear"].get<int>(), 85 - 47)
        << mode << ": the weights' and biases' DequantizeLinear do not change";
    for (const auto& l : doc["layers"]) EXPECT_EQ(l.contains("output"), on) << l["name"];
    EXPECT_NE(r.err.find(on ? "calibrated 47 activations" : "calibrated 24 activations"),
              std::string::npos)
        << r.err;
  }
}

TEST_F(QuantizeCli, FallbackAutoKeepsTheMostSensitiveLayersFloat) {
  // A target int8 cannot meet: layers go float, most sensitive (lowest isolated cosine) first,
  // each step re-measured, until the target is met or every layer is float (then a warning).
  const std::string calib = TinyCalib(Path("c.npy"));
  const Result r = Quantize({kTiny, "--calib", calib, "--out", Path("q.onnx"), "--target-cosine",
                             "0.99999999", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  const auto& fb = doc["fallback"];
  EXPECT_EQ(fb["mode"], "auto");
  EXPECT_EQ(fb["target_cosine"], 0.99999999);
  EXPECT_LT(fb["int8_model_cosine"].get<double>(), 0.99999999);
  ASSERT_GE(fb["kept_float"].size(), 1u);
  ASSERT_EQ(fb["steps"].size(), fb["kept_float"].size());
  const bool reached = fb["reached"].get<bool>();
  EXPECT_EQ(reached, fb["model_cosine"].get<double>() >= 0.99999999);
  if (reached) {
    for (size_t i = 0; i + 1 < fb["steps"].size(); ++i)  // it stopped at the first step reaching it
      EXPECT_LT(fb["steps"][i]["model_cosine"].get<double>(), 0.99999999);
  } else {
    EXPECT_EQ(fb["kept_float"].size(), 23u);
    EXPECT_NE(r.err.find("effi: warning: target cosine 0.99999999 not reached"), std::string::npos)
        << r.err;
  }
  // The first layer kept float is the one with the lowest isolated cosine; every kept layer is
  // float ("auto") in the file's report, every other one int8.
  std::map<std::string, double> isolated;
  std::string precision_of_first;
  for (const auto& l : doc["layers"]) {
    isolated[l["name"]] = l["isolated_model_cosine"].get<double>();
    const bool kept = std::find(fb["kept_float"].begin(), fb["kept_float"].end(), l["name"]) !=
                      fb["kept_float"].end();
    EXPECT_EQ(l["precision"], kept ? "float" : "int8") << l["name"];
    if (kept) {
      EXPECT_EQ(l["why_float"], "auto");
    }
  }
  const std::string first = fb["steps"][0]["keep_float"];
  for (const auto& [name, c] : isolated) EXPECT_LE(isolated[first], c) << name;
  // A reachable target: nothing kept float when int8 already meets it.
  const Result easy = Quantize(
      {kTiny, "--calib", calib, "--out", Path("e.onnx"), "--target-cosine", "0.5", "--json"});
  ASSERT_EQ(easy.code, 0) << easy.err;
  const auto e = nlohmann::json::parse(easy.out);
  EXPECT_TRUE(e["fallback"]["reached"].get<bool>());
  EXPECT_TRUE(e["fallback"]["kept_float"].empty());
}

TEST_F(QuantizeCli, ValDecidesByTopOneDrop) {
  constexpr int64_t kBadLabel = 10;  // one past the tiny model's 10 classes
  // A labelled .npy set (labels in X_labels.npy) of 6 random inputs, classes 0..5.
  std::vector<float> x(6 * 3 * 64 * 64);
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  for (float& v : x) v = normal(rng);
  const std::string val = Path("val.npy");
  effi::npy::SaveF32(val, x.data(), {6, 3, 64, 64});
  const std::vector<int64_t> labels = {0, 1, 2, 3, 4, 5};
  effi::npy::Array label_array{"int64", {6}, {}};
  label_array.bytes.resize(labels.size() * sizeof(int64_t));
  std::memcpy(label_array.bytes.data(), labels.data(), label_array.bytes.size());
  effi::npy::Save(Path("val_labels.npy"), label_array);
  const std::string calib = TinyCalib(Path("c.npy"));
  // Any drop allowed: nothing kept float, both accuracies measured on the 6 items.
  const Result r = Quantize({kTiny, "--calib", calib, "--out", Path("q.onnx"), "--val", val,
                             "--max-drop", "100", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  const auto& fb = doc["fallback"];
  EXPECT_EQ(fb["criterion"], "top1");
  EXPECT_EQ(fb["val"]["items"], 6);
  EXPECT_EQ(fb["val"]["max_drop"], 100.0);
  EXPECT_TRUE(fb["reached"].get<bool>());
  EXPECT_TRUE(fb["kept_float"].empty());
  for (const char* k : {"float_top1", "int8_top1", "top1"}) {
    const double top1 = fb["val"][k].get<double>();
    EXPECT_GE(top1, 0.0) << k;
    EXPECT_LE(top1, 100.0) << k;
    EXPECT_NEAR(top1 * 6 / 100, std::round(top1 * 6 / 100), 1e-9) << k;  // k of 6 items
  }
  // No drop allowed: layers go float until int8 matches float's top-1 (every layer float at
  // worst, which is the float model: always reached).
  const Result strict = Quantize({kTiny, "--calib", calib, "--out", Path("s.onnx"), "--val", val,
                                  "--max-drop", "0", "--val-count", "4", "--json"});
  ASSERT_EQ(strict.code, 0) << strict.err;
  const auto s = nlohmann::json::parse(strict.out)["fallback"];
  EXPECT_EQ(s["val"]["items"], 4);
  EXPECT_TRUE(s["reached"].get<bool>());
  EXPECT_LE(s["val"]["float_top1"].get<double>() - s["val"]["top1"].get<double>(), 0.0);
  // An unlabelled, empty or out-of-range --val set is one error, and nothing is written.
  ExpectError(Quantize({kTiny, "--calib", calib, "--out", Path("u.onnx"), "--val", calib}), 1,
              "label");
  fs::create_directories(Path("empty"));
  ExpectError(Quantize({kTiny, "--calib", calib, "--out", Path("u.onnx"), "--val", Path("empty")}),
              1, "empty");
  std::memcpy(label_array.bytes.data(), &kBadLabel, sizeof(kBadLabel));  // item 0's label
  effi::npy::Save(Path("val_labels.npy"), label_array);
  ExpectError(Quantize({kTiny, "--calib", calib, "--out", Path("u.onnx"), "--val", val}), 1,
              "out of range");
  EXPECT_FALSE(fs::exists(Path("u.onnx")));
}

TEST_F(QuantizeCli, ReportIsOneHtmlPageWithAChart) {
  const std::string calib = TinyCalib(Path("c.npy"));
  const std::string html = Path("r.html");
  // Markup in a name the page shows (the model's path) must arrive escaped.
  const std::string model = Path("<b>&'\".onnx");
  fs::copy_file(kTiny, model);
  const Result r = Quantize({model, "--calib", calib, "--out", Path("q.onnx"), "--report", html,
                             "--keep-float", "/head/Gemm"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream f(html);
  const std::string page((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(page.find("<svg"), std::string::npos);
  // Names are escaped (no raw markup from the model), nothing is fetched (the only URL is the SVG
  // namespace), every bar is one layer.
  EXPECT_EQ(std::count(page.begin(), page.end(), '<'), std::count(page.begin(), page.end(), '>'));
  EXPECT_NE(page.find("&lt;b&gt;&amp;&#39;&quot;.onnx"), std::string::npos);
  EXPECT_NE(page.find("float: --keep-float"), std::string::npos);
  size_t urls = 0;
  for (size_t at = page.find("http"); at != std::string::npos; at = page.find("http", at + 1))
    ++urls;
  EXPECT_EQ(urls, 1u);
  size_t bars = 0;
  for (size_t at = page.find("<rect"); at != std::string::npos; at = page.find("<rect", at + 1))
    ++bars;
  EXPECT_EQ(bars, 22u);  // 23 layers, /head/Gemm kept float has no isolated sensitivity
  // Unwritable: one error before any calibration work, and no model written.
  ExpectError(Quantize({kTiny, "--calib", calib, "--out", Path("q2.onnx"), "--report",
                        Path("missing/r.html")}),
              1, "folder does not exist");
  EXPECT_FALSE(fs::exists(Path("q2.onnx")));
}

// Logits [count, 10] of `effi eval MODEL --passes PASSES` on the first `count` Fashion-MNIST test
// images (the model's own preprocessing), through --save-logits to `npy`.
std::vector<float> EvalLogits(const std::string& model, const std::string& passes, int count,
                              const std::string& npy) {
  const Result r = effi::cli_test::RunCli(
      {"eval", model, "--data", kFmnist + "/t10k-images-idx3-ubyte.gz", "--limit",
       std::to_string(count), "--passes", passes, "--save-logits", npy});
  EXPECT_EQ(r.code, 0) << passes << ": " << r.err;
  if (r.code != 0) return {};
  const effi::npy::Array a = effi::npy::Load(npy);
  EXPECT_EQ(a.dtype, "float32");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{count, 10})) << passes;
  std::vector<float> v(a.bytes.size() / sizeof(float));
  std::memcpy(v.data(), a.bytes.data(), v.size() * sizeof(float));
  return v;
}

struct Agreement {
  int top1 = 0;              // rows whose argmax is the same
  double mean_cosine = 0.0;  // of the rows' logit vectors
};

// The first `count` rows of a and b ([*, 10] logits) compared.
Agreement Compare(const std::vector<float>& a, const std::vector<float>& b, int count) {
  Agreement out;
  const size_t c = 10;
  if (a.size() < count * c || b.size() < count * c) {
    ADD_FAILURE() << "logits: " << a.size() << " and " << b.size() << " values for " << count
                  << " rows";
    return out;
  }
  for (int i = 0; i < count; ++i) {
    const float* x = &a[i * c];
    const float* y = &b[i * c];
    out.top1 += std::max_element(x, x + c) - x == std::max_element(y, y + c) - y;
    double xy = 0, xx = 0, yy = 0;
    for (size_t j = 0; j < c; ++j) xy += x[j] * y[j], xx += x[j] * x[j], yy += y[j] * y[j];
    out.mean_cosine += xy / std::sqrt(xx * yy) / count;
  }
  return out;
}

// The Fashion-MNIST L1 quantized by `effi quantize` (32 training images, ~3 s) runs its Conv and
// Linear layers on the int8 GEMM (passes all), and gives what its QDQ graph means: compared with
// the QDQ graph run as imported (--passes none: ONNX's semantics on the reference kernels, ~0.7 s
// an image on the 2-core dev VM, hence 16 images) and with every pass but fuse_int8 (the same
// FakeQuant semantics on the fp32 kernels, isolating the int8 kernels: 64 images). Measured: 64/64
// and 16/16 the same top-1, mean logit cosine 0.999997 and 0.999998 (the u8 x s8 products are
// the same; only the float rounding of scales and epilogues differs), so the thresholds leave 30x
// room on 1 - cosine. ~15 s in Release; under the sanitizers it is left to the Release stage
// (CMakePresets.json), as the other 64-image end-to-end checks are.
TEST_F(QuantizeCli, Int8KernelsMatchQdqSemanticsOnFashionMnist) {
  if (!fs::exists(kSharedModel)) GTEST_SKIP() << "../shared not found (" << kSharedModel << ")";
  const std::string train = kFmnist + "/train-images-idx3-ubyte.gz";
  if (!fs::exists(train) || !fs::exists(kFmnist + "/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << kFmnist << " not found (Debian package dataset-fashion-mnist)";
  // Both layouts: inputs only, and with the output pairs (whose rounding, bias, layer scale and
  // GELU run in the int8 epilogue: fuse_int8_output).
  for (const char* layout : {"off", "on"}) {
    SCOPED_TRACE(layout);
    const std::string q = Path("q.onnx");
    const Result r = Quantize({kSharedModel, "--calib", train, "--calib-count", "32", "--out", q,
                               "--fallback", "none", "--output-qdq", layout});
    ASSERT_EQ(r.code, 0) << r.err;

    // 99.4 % of the MACs int8: all but the stem conv (the fp32 direct kernel over RGB planes;
    // merge_heads leaves the two QDQ heads apart, each on the int8 GEMM).
    const nlohmann::json macs = MacsByPrecision(q);
    EXPECT_EQ(macs["float32"].get<int64_t>(), kStemMacs);
    EXPECT_GT(macs["int8"].get<double>(), 0.98 * macs["macs"].get<double>());

    const std::vector<float> int8 = EvalLogits(q, "all", 64, Path("int8.npy"));
    const Agreement fp32 = Compare(int8, EvalLogits(q, "all,-fuse_int8", 64, Path("fp32.npy")), 64);
    EXPECT_GE(fp32.top1, 63);
    EXPECT_GE(fp32.mean_cosine, 0.9999);
    const Agreement none = Compare(int8, EvalLogits(q, "none", 16, Path("none.npy")), 16);
    EXPECT_EQ(none.top1, 16);
    EXPECT_GE(none.mean_cosine, 0.9999);
  }
}

TEST_F(QuantizeCli, HelpShowsEveryDefault) {
  const Result r = Quantize({"--help"});
  ASSERT_EQ(r.code, 0);
  for (const char* d :
       {"[default: 256]", "[default: mse]", "[default: 99.99]", "[default: auto]", "[default: off]",
        "[default: 0.9998]", "[default: none: the first N]", "[default: none]", "[default: all]"})
    EXPECT_NE(r.out.find(d), std::string::npos) << d << "\n" << r.out;
}

}  // namespace
