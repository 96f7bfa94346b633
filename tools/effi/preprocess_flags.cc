// The CLI's per-model input handling (see preprocess_flags.h).
#include "preprocess_flags.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <utility>

#include "common.h"
#include "util/text.h"

namespace effi::cli {
namespace {

std::string Quote(const std::string& path) { return Printable(path, util::kMaxQuotedPath); }

image::Interpolation ParseInterpolation(const std::string& s) {
  if (s == "bilinear") return image::Interpolation::kBilinear;
  if (s == "nearest") return image::Interpolation::kNearest;
  return image::Interpolation::kBicubic;
}

}  // namespace

ClassifierInfo CheckClassifier(const Model& model, const std::string& path, const char* command) {
  return CheckClassifier(model, path, command, {}, "");
}

ClassifierInfo CheckClassifier(const Model& model, const std::string& path, const char* command,
                               std::vector<std::string> labels, const std::string& labels_source) {
  return api::CheckClassifier(model, command, fmt::format("'{}'", Quote(path)), std::move(labels),
                              labels_source);
}

void AddPreprocessFlags(CLI::App& app, PreprocessFlags* f) {
  f->size_opt = app.add_option("--size", f->size, "square input size")
                    ->type_name("N")
                    ->default_str("model input")
                    ->check(CLI::Range(1, 32768));
  f->input_size_opt = app.add_option("--input-size", f->input_size,
                                     "input width x height, like every size effi takes")
                          ->type_name("WxH")
                          ->default_str("model input")
                          ->excludes(f->size_opt)
                          ->check(ParsedBy(
                              [](const std::string& s) {
                                ParseSize(s);
                                return std::string();
                              },
                              "WxH"));
  f->crop_pct_opt =
      app.add_option("--crop-pct", f->crop_pct, "resize to size/crop_pct, then centre-crop")
          ->type_name("F")
          ->default_str("0.95")
          ->check(FiniteNumber())
          ->check(CLI::Range(0.05, 4.0));
  f->interpolation_opt = app.add_option("--interpolation", f->interpolation, "resampling filter")
                             ->type_name("MODE")
                             ->capture_default_str()
                             ->check(CLI::IsMember({"bicubic", "bilinear", "nearest"}));
  app.add_flag("--no-antialias", f->no_antialias,
               "torch interpolate() resampling instead of PIL's antialiased resize");
  auto triple_check = [](bool nonzero) {
    return ParsedBy(
        [nonzero](const std::string& s) -> std::string {
          const auto v = ParseTriple(s);
          if (nonzero && (v[0] == 0 || v[1] == 0 || v[2] == 0)) return "values must be non-zero";
          return {};
        },
        "a,b,c");
  };
  f->mean_opt = app.add_option("--mean", f->mean, "per-channel mean (RGB order)")
                    ->type_name("a,b,c")
                    ->capture_default_str()
                    ->check(triple_check(false));
  f->std_opt = app.add_option("--std", f->std, "per-channel std (RGB order)")
                   ->type_name("a,b,c")
                   ->capture_default_str()
                   ->check(triple_check(true));
  app.add_flag("--bgr", f->bgr, "feed channels as B,G,R");
}

image::PreprocessConfig ModelPreprocessing(const Model& model, const ClassifierInfo& info,
                                           const PreprocessFlags& f) {
  const TensorInfo& in = info.input;
  image::PreprocessConfig cfg = api::ModelPreprocessConfig(model, in);
  auto given = [](const CLI::Option* o) { return o != nullptr && o->count() > 0; };
  if (given(f.size_opt)) {
    cfg.input_h = cfg.input_w = f.size;
    cfg.resize_h = cfg.resize_w = 0;  // a fixed resize from metadata targets the metadata's size
  }
  if (given(f.input_size_opt)) {
    const auto [w, h] = ParseSize(f.input_size);
    cfg.input_h = h;
    cfg.input_w = w;
    cfg.resize_h = cfg.resize_w = 0;
  }
  if (given(f.crop_pct_opt)) {
    cfg.crop_pct = f.crop_pct;
    cfg.resize_h = cfg.resize_w = 0;
  }
  if (given(f.interpolation_opt)) cfg.interp = ParseInterpolation(f.interpolation);
  if (f.no_antialias) cfg.antialias = false;
  if (given(f.mean_opt)) cfg.mean = ParseTriple(f.mean);
  if (given(f.std_opt)) cfg.std = ParseTriple(f.std);
  if (f.bgr) cfg.bgr = true;
  if ((in.shape[2] > 0 && in.shape[2] != cfg.input_h) ||
      (in.shape[3] > 0 && in.shape[3] != cfg.input_w)) {
    // --input-size was HxW before sizes became WxH everywhere: an order that fits transposed is
    // named as such (a square or dynamic input cannot tell the two orders apart).
    const bool transposed =
        given(f.input_size_opt) && in.shape[2] == cfg.input_w && in.shape[3] == cfg.input_h;
    throw Error(
        ErrorCode::kInvalidArgument,
        fmt::format("preprocessing makes {}x{} (WxH) images but model input '{}' is {}{}",
                    cfg.input_w, cfg.input_h, Printable(in.name), ShapeString(in.shape),
                    transposed ? fmt::format(" (WxH {}x{}; --input-size is width x height: use "
                                             "--input-size {}x{})",
                                             in.shape[3], in.shape[2], in.shape[3], in.shape[2])
                               : std::string()));
  }
  return cfg;
}

}  // namespace effi::cli
