// effi::Quantize (effi/quantize.hpp) against `effi quantize`, which runs it: with the same settings
// the library writes the same bytes and reports the same numbers as the CLI's --json; the progress
// callback; and one typed effi::Error for each kind of bad input, with nothing written. On the tiny
// L1-like model of tests/models (64x64, 23 layers) and 2 random calibration inputs.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "../cli/cli_test_util.h"
#include "effi/error.hpp"
#include "effi/quantize.hpp"
#include "util/npy.h"

namespace {

namespace fs = std::filesystem;
using effi::cli_test::ReadText;
using effi::cli_test::Result;
using effi::cli_test::RunCli;

const std::string kTiny = std::string(EFFI_SOURCE_DIR) + "/tests/models/tiny_op11.onnx";

class QuantizeApi : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<float> x(2 * 3 * 64 * 64);
    std::mt19937 rng(3);
    std::normal_distribution<float> normal;
    for (float& v : x) v = normal(rng);
    effi::npy::SaveF32(calib_, x.data(), {2, 3, 64, 64});
  }

  // One thread: the reductions then run in one order, so the CLI and the library agree to the bit.
  effi::QuantizeOptions Options() const {
    effi::QuantizeOptions o;
    o.calibration = calib_;
    o.threads = 1;
    return o;
  }

  // `what` throws effi::Error with `code` and a message containing `part`; nothing at `out`.
  template <typename F>
  void ExpectError(F&& what, effi::ErrorCode code, const std::string& part,
                   const std::string& out) {
    try {
      what();
      ADD_FAILURE() << "no error; expected " << part;
    } catch (const effi::Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(out)) << out;
  }

  effi::cli_test::TempDir dir_;
  const std::string calib_ = dir_ / "calib.npy";
};

// Times differ from run to run; every other value of the document must be the same.
nlohmann::json WithoutTimes(nlohmann::json doc) {
  doc.erase("seconds");
  doc.erase("sensitivity_seconds");
  doc["calibration"].erase("seconds");
  doc.erase("out");
  return doc;
}

TEST_F(QuantizeApi, WritesWhatTheCliWrites) {
  // fallback auto with a target int8 misses on 1 sensitivity item: the isolated sensitivity,
  // fallback steps and kept-float layers take part too (0.9999 keeps 12 of the 22 int8 layers
  // float; 0.32 s).
  effi::QuantizeOptions o = Options();
  o.target_cosine = 0.9999;
  o.sensitivity_count = 1;
  o.keep_float = {"/head/Gemm"};
  std::map<std::string, size_t> calls, last_total;
  o.progress = [&](const std::string& stage, size_t done, size_t total) {
    ++calls[stage];
    EXPECT_EQ(done, calls[stage]) << stage;
    EXPECT_LE(done, total) << stage;
    last_total[stage] = total;
  };
  const effi::QuantizeReport r = effi::Quantize(kTiny, dir_ / "api.onnx", o);
  const Result cli = RunCli({"quantize", kTiny, "--calib", calib_, "--out", dir_ / "cli.onnx",
                             "--threads", "1", "--target-cosine", "0.9999", "--sensitivity-count",
                             "1", "--keep-float", "/head/Gemm", "--json"});
  ASSERT_EQ(cli.code, 0) << cli.err;
  EXPECT_EQ(ReadText(dir_ / "api.onnx"), ReadText(dir_ / "cli.onnx"));
  const nlohmann::json doc = nlohmann::json::parse(cli.out);
  EXPECT_EQ(WithoutTimes(nlohmann::json::parse(r.ToJson())), WithoutTimes(doc));

  // The struct carries the numbers the JSON prints.
  ASSERT_EQ(r.layers.size(), 23u);
  EXPECT_EQ(r.calibration_items, 2u);
  EXPECT_EQ(r.calibration_available, 2u);
  EXPECT_EQ(r.fallback.mode, "auto");
  EXPECT_EQ(r.fallback.items, 1u);
  EXPECT_TRUE(r.fallback.isolated_measured);
  EXPECT_EQ(r.fallback.kept_float.size(), r.fallback.steps.size());
  EXPECT_EQ(r.fallback.reached, doc["fallback"]["reached"].get<bool>());
  EXPECT_EQ(r.fallback.int8_model_cosine, doc["fallback"]["int8_model_cosine"].get<double>());
  EXPECT_EQ(r.bytes_out, static_cast<int64_t>(fs::file_size(dir_ / "api.onnx")));
  EXPECT_EQ(r.quantize_linear, doc["quantize_linear"].get<int64_t>());
  EXPECT_EQ(r.opset_out, 13);
  EXPECT_EQ(r.layers[0].activations.size(), 1u);
  EXPECT_EQ(r.summary.rfind("fallback auto: target model-output cosine 0.9999", 0), 0u)
      << r.summary;
  for (const effi::QuantizeLayer& l : r.layers) {
    if (l.name == "/head/Gemm") {
      EXPECT_FALSE(l.int8);
      EXPECT_EQ(l.why_float, "--keep-float");
    } else {
      EXPECT_TRUE(l.sensitivity_measured) << l.name;
      EXPECT_GT(l.isolated_model_cosine, 0.5) << l.name;
    }
  }
  EXPECT_EQ(calls["calibrate"], 2u);
  EXPECT_EQ(calls["sensitivity"], 22u);  // the int8 layers
  EXPECT_EQ(last_total["sensitivity"], 22u);
  EXPECT_EQ(calls["fallback"], r.fallback.steps.size());
}

TEST_F(QuantizeApi, ThrowsTypedErrorsAndWritesNothing) {
  const std::string out = dir_ / "q.onnx";
  auto run = [&](const std::string& model, const effi::QuantizeOptions& o,
                 const std::string& to = "") {
    return [=] { effi::Quantize(model, to.empty() ? out : to, o); };
  };
  using effi::ErrorCode;
  ExpectError(run(dir_ / "missing.onnx", Options()), ErrorCode::kIo, "missing.onnx", out);
  effi::QuantizeOptions o = Options();
  o.calibration = dir_ / "missing.npy";
  ExpectError(run(kTiny, o), ErrorCode::kIo, "missing.npy", out);
  o = Options();
  o.calibration.clear();
  ExpectError(run(kTiny, o), ErrorCode::kInvalidArgument, "calibration", out);
  o = Options();
  o.target_cosine = 2;
  ExpectError(run(kTiny, o), ErrorCode::kInvalidArgument, "target_cosine", out);
  o = Options();
  o.observer = "kl";
  ExpectError(run(kTiny, o), ErrorCode::kInvalidArgument, "kl", out);
  o = Options();
  o.validation = calib_;
  o.fallback = "none";
  ExpectError(run(kTiny, o), ErrorCode::kInvalidArgument, "validation", out);
  o = Options();
  o.threads = -1;
  ExpectError(run(kTiny, o), ErrorCode::kInvalidArgument, "threads", out);
  o = Options();
  o.keep_float = {"no such node"};
  ExpectError(run(kTiny, o), ErrorCode::kInvalidArgument, "no such node", out);
  // An output folder that does not exist: before any calibration work.
  ExpectError(run(kTiny, Options(), dir_ / "missing/q.onnx"), ErrorCode::kIo,
              "folder does not exist", dir_ / "missing/q.onnx");
  // Preprocessing that does not fit the model's 64x64 input.
  o = Options();
  o.preprocessing = effi::PreprocessOptions{};  // 224x224
  ExpectError(run(kTiny, o), ErrorCode::kInvalidArgument, "224x224", out);
  // Not an image classifier: the model's input is not [N,3,H,W].
  const std::string linear = std::string(EFFI_SOURCE_DIR) + "/tests/quant/models/linear_op11.onnx";
  ExpectError(run(linear, Options()), ErrorCode::kUnsupported, "linear_op11.onnx", out);
  // A progress callback that throws stops the run; its exception arrives as it was thrown.
  o = Options();
  o.fallback = "none";
  o.progress = [](const std::string&, size_t, size_t) { throw std::runtime_error("stop"); };
  EXPECT_THROW(effi::Quantize(kTiny, out, o), std::runtime_error);
  EXPECT_FALSE(fs::exists(out));
  // What it wrote is refused as input: already quantized.
  o = Options();
  o.fallback = "none";
  effi::Quantize(kTiny, out, o);
  ExpectError(run(out, Options(), dir_ / "qq.onnx"), ErrorCode::kInvalidModel, "already quantized",
              dir_ / "qq.onnx");
}

}  // namespace
