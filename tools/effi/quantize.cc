// `effi quantize`: post-training static quantization of a float ONNX classifier to a standard QDQ
// ONNX model (QuantizeLinear/DequantizeLinear, opset >= 13, per-channel weights) that ONNX Runtime
// and effi run on int8 kernels. The work is the library's (effi::Quantize, src/api/quantize.cc);
// this file parses the flags, shows the progress and formats the table, --json and --report.
#include "api/quantize.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common.h"
#include "effi/quantize.hpp"
#include "onnx/qdq_export.h"
#include "preprocess_flags.h"
#include "util/text.h"

namespace effi::cli {
namespace {

// The flags' defaults are the library's (effi::QuantizeOptions documents each with its reason).
const effi::QuantizeOptions kDefaults;

struct QuantizeOptions {
  std::string model;
  std::string calib;
  int64_t calib_count = kDefaults.calibration_count;  // 256
  uint64_t calib_seed = 0;
  std::string observer = kDefaults.observer;  // mse
  double percentile = kDefaults.percentile;   // 99.99
  std::string keep_float;
  std::string out;
  std::string output_qdq = kDefaults.output_qdq ? "on" : "off";
  std::string fallback = kDefaults.fallback;                // auto
  double target_cosine = kDefaults.target_cosine;           // 0.9998
  int64_t sensitivity_count = kDefaults.sensitivity_count;  // 32
  std::string val;
  double max_drop = kDefaults.max_drop;            // 0.5
  int64_t val_count = kDefaults.validation_count;  // 1000
  std::string report;
  bool json = false;
  std::string passes = kDefaults.passes;  // all
  int threads = DefaultThreads();
  int64_t memory_limit = 0;
  PreprocessFlags preprocess;
  CLI::Option* seed_opt = nullptr;
  CLI::Option* percentile_opt = nullptr;
  CLI::Option* target_opt = nullptr;
  CLI::Option* max_drop_opt = nullptr;
  CLI::Option* val_count_opt = nullptr;
};

std::vector<std::string> SplitNames(const std::string& list) {
  std::vector<std::string> names;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    if (comma > start) names.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return names;
}

std::string FormatMacs(int64_t macs) {
  if (macs < 0) return "?";
  if (macs >= 1000000) return fmt::format("{:.1f}M", macs / 1e6);
  if (macs >= 1000) return fmt::format("{:.1f}K", macs / 1e3);
  return std::to_string(macs);
}

using api::Fixed;

std::string HtmlEscape(const std::string& text) {
  std::string out;
  for (const char c : Printable(text, util::kMaxQuotedPath)) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// One self-contained page (no script, no network): a bar per layer of -log10(1 - isolated model
// cosine), the isolated sensitivity the fallback orders by (a log scale: the layers span 1e-7 to
// 1e-2), coloured by the precision chosen, then the table.
std::string HtmlReport(const QuantizeOptions& o, const QuantizeReport& report) {
  constexpr int kBar = 14, kChartH = 220, kLeft = 40;
  const int width = kLeft + kBar * static_cast<int>(report.layers.size()) + 10;
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" role=\"img\">\n"
      "<text x=\"2\" y=\"12\" font-size=\"11\">1 - cosine</text>\n",
      width, kChartH + 30);
  // Axis: 1e-8 at the bottom, 1 at the top.
  auto y_of = [&](double one_minus) {
    const double l = std::clamp(std::log10(std::max(one_minus, 1e-8)), -8.0, 0.0);
    return 20 + static_cast<int>((-l / 8.0) * kChartH);
  };
  for (int e = 0; e >= -8; e -= 2)
    svg += fmt::format(
        "<line x1=\"{0}\" x2=\"{1}\" y1=\"{2}\" y2=\"{2}\" stroke=\"#ddd\"/><text x=\"2\" "
        "y=\"{2}\" font-size=\"10\">1e{3}</text>\n",
        kLeft, width, y_of(std::pow(10.0, e)), e);
  std::string rows;
  for (size_t i = 0; i < report.layers.size(); ++i) {
    const QuantizeLayer& q = report.layers[i];
    const std::string color = q.int8                          ? "#3b7dd8"
                              : q.why_float == "auto"         ? "#e8833a"
                              : q.why_float == "--keep-float" ? "#888888"
                                                              : "#bbbbbb";
    const std::string precision = q.int8 ? "int8" : "float: " + q.why_float;
    if (!std::isnan(q.isolated_model_cosine)) {
      const int y = y_of(1 - q.isolated_model_cosine);
      svg += fmt::format(
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{}: {} "
          "(isolated model cosine {})</title></rect>\n",
          kLeft + kBar * static_cast<int>(i), y, kBar - 2, std::max(kChartH + 20 - y, 1), color,
          HtmlEscape(q.name), precision, Fixed(q.isolated_model_cosine, 8));
    }
    rows += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td "
        "style=\"color:{}\">{}</td></tr>\n",
        i, HtmlEscape(q.name), Fixed(q.output_cosine, 6), Fixed(q.output_sqnr_db, 1),
        Fixed(q.isolated_model_cosine, 8), color, precision);
  }
  svg += "</svg>\n";
  return fmt::format(
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>effi quantize: {}</title>\n"
      "<style>body{{font-family:sans-serif}}td,th{{padding:2px 8px;text-align:left}}</style>"
      "</head><body>\n<h1>effi quantize</h1>\n<p>{} &rarr; {}, observer {}, fallback {}</p>\n"
      "<p>{}</p>\n<h2>Isolated sensitivity (only that layer int8)</h2>\n"
      "<p><span style=\"color:#3b7dd8\">&#9632; int8</span> <span style=\"color:#e8833a\">&#9632;"
      " float: auto</span> <span style=\"color:#888888\">&#9632; float: --keep-float</span></p>\n"
      "{}<h2>Layers</h2>\n<table>\n<tr><th>#</th><th>layer</th><th>output cosine</th><th>SQNR "
      "(dB)</th><th>isolated model "
      "cosine</th><th>precision</th></tr>\n{}</table>\n</body></html>\n",
      HtmlEscape(o.model), HtmlEscape(o.model), HtmlEscape(o.out), HtmlEscape(o.observer),
      report.fallback.mode, HtmlEscape(report.summary), svg, rows);
}

int RunQuantize(const QuantizeOptions& o) {
  if (o.percentile_opt->count() && o.observer != "percentile")
    throw UsageError("--percentile only applies with --observer percentile");
  if (o.target_opt->count() && o.fallback != "auto")
    throw UsageError("--target-cosine only applies with --fallback auto");
  if (!(o.target_cosine > 0 && o.target_cosine <= 1))
    throw UsageError(
        fmt::format("--target-cosine must be in (0, 1], got {}", Fixed(o.target_cosine, 6)));
  if (o.max_drop_opt->count() && o.val.empty())
    throw UsageError("--max-drop only applies with --val");
  if (o.val_count_opt->count() && o.val.empty())
    throw UsageError("--val-count only applies with --val");
  if (!o.val.empty() && o.fallback != "auto")
    throw UsageError("--val only applies with --fallback auto");
  if (!o.val.empty() && o.target_opt->count())
    throw UsageError("--val decides by top-1 (--max-drop), not by --target-cosine: give one");

  effi::QuantizeOptions options;
  options.calibration = o.calib;
  options.calibration_count = o.calib_count;
  if (o.seed_opt->count()) options.calibration_seed = o.calib_seed;
  options.observer = o.observer;
  options.percentile = o.percentile;
  options.keep_float = SplitNames(o.keep_float);
  options.output_qdq = o.output_qdq == "on";
  options.fallback = o.fallback;
  options.target_cosine = o.target_cosine;
  options.sensitivity_count = o.sensitivity_count;
  // The report's chart draws the isolated sensitivities, so --report measures them.
  options.measure_isolated = !o.report.empty();
  options.validation = o.val;
  options.max_drop = o.max_drop;
  options.validation_count = o.val_count;
  options.passes = o.passes;
  options.threads = o.threads;
  options.memory_limit_bytes = o.memory_limit;
  // Progress lines on a terminal, each rewritten in place; a note ends the line.
  const bool tty = ::isatty(STDERR_FILENO);
  bool line_open = false;
  options.progress = [&](const std::string& stage, size_t done, size_t total) {
    if (!tty) return;
    if (stage == "calibrate")
      std::cerr << fmt::format("\reffi: calibrating {}/{}", done, total);
    else if (stage == "sensitivity")
      std::cerr << fmt::format("\reffi: sensitivity {}/{}", done, total);
    else
      std::cerr << fmt::format("\reffi: fallback step {}", done);
    std::cerr << std::flush;
    line_open = true;
  };
  api::QuantizeHooks hooks;
  hooks.preprocessing = [&](const Model& model, const ClassifierInfo& info) {
    return ModelPreprocessing(model, info, o.preprocess);
  };
  if (!o.report.empty()) hooks.also_writable.push_back(o.report);
  hooks.note = [&](const std::string& line) {
    std::cerr << (line_open ? "\r" : "") << "effi: " << line << "\n";
    line_open = false;
  };
  const QuantizeReport report = api::Quantize(o.model, o.out, options, hooks);
  if (!o.report.empty()) onnx_io::WriteFileAtomically(o.report, HtmlReport(o, report));

  if (o.json) {
    std::cout << report.ToJson() << "\n";
    return kExitOk;
  }
  // Table: one row per Conv/Gemm/MatMul.
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"layer", "op", "MACs", "activation scale/zp (in -> out)", "weight scale",
                  "cosine", "SQNR (dB)", "isolated cos", "precision"});
  size_t int8_layers = 0;
  for (const QuantizeLayer& q : report.layers) {
    int8_layers += q.int8;
    std::string acts;
    for (const QuantizeTensor& a : q.activations)
      acts += fmt::format("{}{:.4g}/{}", acts.empty() ? "" : ", ", a.scale, a.zero_point);
    if (q.output) acts += fmt::format(" -> {:.4g}/{}", q.output->scale, q.output->zero_point);
    std::string weights = q.int8 && q.weight.empty() ? "(activation)" : "-";
    if (q.weight_quantized)
      weights = fmt::format("{:.3g}..{:.3g}", q.weight_scale_min, q.weight_scale_max);
    rows.push_back(
        {Printable(q.name, 64), q.op, q.activations.empty() ? "-" : FormatMacs(q.macs),
         acts.empty() ? "-" : acts, weights, Fixed(q.output_cosine, 6), Fixed(q.output_sqnr_db, 1),
         q.int8 && !report.fallback.isolated_measured ? "not measured"
                                                      : Fixed(q.isolated_model_cosine, 8),
         q.int8 ? "int8" : "float: " + q.why_float});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& r : rows)
    for (size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  std::string table;
  for (const auto& r : rows) {
    std::string line;
    for (size_t c = 0; c < r.size(); ++c)
      line += c + 1 < r.size() ? fmt::format("{:<{}}  ", r[c], width[c]) : r[c];
    table += line + "\n";
  }
  const double ratio = static_cast<double>(report.bytes_out) / static_cast<double>(report.bytes_in);
  table += fmt::format(
      "\n{} of {} Conv/Gemm/MatMul int8; {} QuantizeLinear, {} DequantizeLinear (output pairs "
      "{}); opset {} -> {}\n"
      "{}\nwrote {} ({:.1f} MB, {:.2f}x the float model's {:.1f} MB) in {:.1f} s\n",
      int8_layers, report.layers.size(), report.quantize_linear, report.dequantize_linear,
      o.output_qdq, report.opset_in, report.opset_out, report.summary,
      Printable(o.out, util::kMaxQuotedPath), report.bytes_out / 1e6, ratio, report.bytes_in / 1e6,
      report.seconds);
  std::cout << table;
  std::cout.flush();
  return kExitOk;
}

}  // namespace

Command AddQuantizeCommand(CLI::App& parent) {
  auto o = std::make_shared<QuantizeOptions>();
  CLI::App* app = parent.add_subcommand(
      "quantize", "Post-training int8 quantization to a QDQ ONNX model (runs in ONNX Runtime)");
  app->add_option("MODEL", o->model, "float ONNX classifier")->required();
  app->add_option("--calib", o->calib,
                  std::string("calibration images (labels not needed): ") + kDatasetForms)
      ->type_name("SRC")
      ->required();
  app->add_option("--calib-count", o->calib_count,
                  "calibration items used: the first N, or N drawn with --calib-seed")
      ->type_name("N")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  o->seed_opt = app->add_option("--calib-seed", o->calib_seed,
                                "draw the N items at random with this seed instead of the first N")
                    ->type_name("S")
                    ->default_str("none: the first N");
  app->add_option("--observer", o->observer,
                  "activation range: minmax, percentile, mse (least quantization error) or "
                  "entropy (TensorRT-style KL, 2048 bins)")
      ->type_name("NAME")
      ->capture_default_str()
      ->check(CLI::IsMember({"minmax", "percentile", "mse", "entropy"}));
  o->percentile_opt =
      app->add_option("--percentile", o->percentile,
                      "share of values kept in range by --observer percentile, in %")
          ->type_name("P")
          ->capture_default_str()
          ->check(FiniteNumber())
          ->check(CLI::Range(1e-6, 100.0));
  app->add_option("--keep-float", o->keep_float,
                  "Conv/Gemm/MatMul node names (comma-separated) left in float")
      ->type_name("NAMES")
      ->default_str("none");
  app->add_option("--output-qdq", o->output_qdq,
                  "off: pairs on the int8 layers' inputs only (TensorRT's QDQ layout; the most "
                  "accurate: Fashion-MNIST L1 99.79 % top-1 agreement vs 99.53 % with on); on: "
                  "a QuantizeLinear/DequantizeLinear pair on every int8 layer's output too "
                  "(quantize_static's layout, which ONNX Runtime needs to run the layers in int8; "
                  "it runs an off file exactly, but mostly in float)")
      ->type_name("on|off")
      ->capture_default_str()
      ->check(CLI::IsMember({"on", "off"}));
  app->add_option("--fallback", o->fallback,
                  "auto: keep the layers the model output is most sensitive to in float until "
                  "--target-cosine is met; none: every layer int8 (but --keep-float)")
      ->type_name("MODE")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "none"}));
  o->target_opt = app->add_option("--target-cosine", o->target_cosine,
                                  "model-output mean cosine vs float for --fallback auto to reach")
                      ->type_name("C")
                      ->capture_default_str()
                      ->check(FiniteNumber());
  app->add_option("--sensitivity-count", o->sensitivity_count,
                  "calibration items (the first N) the sensitivity and --target-cosine use")
      ->type_name("N")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  app->add_option("--val", o->val,
                  std::string("decide the fallback by top-1 on this labelled set instead of the "
                              "cosine: ") +
                      kDatasetForms)
      ->type_name("SRC");
  o->max_drop_opt =
      app->add_option("--max-drop", o->max_drop,
                      "with --val: keep layers float until int8 top-1 is within P points of float")
          ->type_name("P")
          ->capture_default_str()
          ->check(FiniteNumber())
          ->check(CLI::Range(0.0, 100.0));
  o->val_count_opt = app->add_option("--val-count", o->val_count, "with --val: its first N items")
                         ->type_name("N")
                         ->capture_default_str()
                         ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  app->add_option("--out", o->out, "the quantized model to write")
      ->type_name("OUT.onnx")
      ->required();
  app->add_option("--report", o->report,
                  "also write a self-contained HTML page: per-layer sensitivity and precision")
      ->type_name("FILE.html");
  app->add_flag("--json", o->json, "print one JSON document instead of a table");
  AddPreprocessFlags(*app, &o->preprocess);
  AddPassesOption(*app, &o->passes)
      ->description(
          "passes for calibration and sensitivity: all, none, or a list like all,-fuse_gelu");
  app->add_option("--threads", o->threads, "intra-op threads (calibration, sensitivity)")
      ->type_name("N")
      ->default_str("every CPU")
      ->check(CLI::Range(1, 256));
  AddMemoryLimitOption(*app, &o->memory_limit);
  app->footer(
      "Activations: u8 asymmetric per tensor (range widened to contain 0); weights: s8 symmetric\n"
      "per output channel; Conv/Gemm bias: s32 with scale s_x * s_w[c]. Preprocessing as classify\n"
      "(the model's 'preprocess' metadata, then flags). The output keeps the model's metadata.\n"
      "Sensitivity, per layer: cosine and SQNR of its output vs float with every layer int8, and\n"
      "the model output's cosine vs float with only that layer int8 (isolated; the fallback\n"
      "order; one model load per layer, so --fallback none skips it unless --report asks), on\n"
      "the first --sensitivity-count calibration items, run by effi's int8 kernels.");
  return {app, [o] { return RunQuantize(*o); }};
}

}  // namespace effi::cli
