// `effi quantize`: post-training static quantization of a float ONNX classifier to a standard QDQ
// ONNX model (QuantizeLinear/DequantizeLinear, opset >= 13, per-channel weights) that ONNX Runtime
// and effi run on int8 kernels. Calibration runs the float model through the public effi API with
// the quantized activations added as outputs (onnx/qdq_export.h), feeds each to an observer
// (quant/quant.h) and writes the model with the resulting u8 parameters.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include "common.h"
#include "dataset.h"
#include "onnx/qdq_export.h"
#include "quant/quant.h"
#include "util/file.h"
#include "util/text.h"

namespace effi::cli {
namespace {

// The importer's own bound: a protobuf message cannot be larger.
constexpr size_t kMaxModelBytes = size_t{2} << 30;

struct QuantizeOptions {
  std::string model;
  std::string calib;
  int64_t calib_count = 256;
  uint64_t calib_seed = 0;
  // Fashion-MNIST L1, 10k test images (README, quantize): mse agreed best with float.
  std::string observer = "mse";
  double percentile = 99.99;
  std::string keep_float;
  std::string out;
  // "on": a Q/DQ pair on every int8 layer's output too, the layout ONNX Runtime's QDQ fusion
  // needs (L1 224: 41 of 41 layers fused into QLinearConv/QLinearMatMul/QGemm, 5 of 41 without).
  std::string output_qdq = "off";
  std::string fallback = "auto";
  double target_cosine = 0;       // set from kDefaultTargetCosine
  int64_t sensitivity_count = 0;  // set from kSensitivityItems
  std::string val;
  double max_drop = 0.5;
  int64_t val_count = 1000;
  std::string report;
  bool json = false;
  // Calibration only needs the named activations, which every pass keeps (graph outputs are never
  // fused away). Fashion-MNIST L1, 256 images: 9.4 s with every pass, 374 s with none (the
  // reference kernels), and the same scales to 5e-7 relative, so passes stay on.
  std::string passes = "all";
  int threads = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 256u));
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

// Which calibration items: the first `count`, or `count` drawn without replacement with a seeded
// generator (sorted, so files are read in order).
std::vector<size_t> PickItems(size_t size, size_t count, bool seeded, uint64_t seed) {
  std::vector<size_t> idx(size);
  std::iota(idx.begin(), idx.end(), size_t{0});
  count = std::min(count, size);
  if (seeded) {
    std::mt19937_64 rng(seed);
    for (size_t i = 0; i < count; ++i) {  // partial Fisher-Yates
      std::uniform_int_distribution<size_t> pick(i, size - 1);
      std::swap(idx[i], idx[pick(rng)]);
    }
    std::sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(count));
  }
  idx.resize(count);
  return idx;
}

std::string FormatMacs(int64_t macs) {
  if (macs < 0) return "?";
  if (macs >= 1000000) return fmt::format("{:.1f}M", macs / 1e6);
  if (macs >= 1000) return fmt::format("{:.1f}K", macs / 1e3);
  return std::to_string(macs);
}

// The calibration items the sensitivity analysis and the fallback compare on by default: the first
// min(N, 32). Each layer's isolated sensitivity and each fallback step is one model load plus a
// run per item, so the analysis costs (layers + steps) x items runs; on the Fashion-MNIST L1 (41
// layers, ~4 ms a run on 2 threads) 32 items take 12.8 s, 256 items 44.6 s (README, quantize:
// the first three layers rank the same either way).
constexpr int64_t kSensitivityItems = 32;

// The default --target-cosine, measured on the Fashion-MNIST L1 (README, quantize): with every
// layer int8 its model-output cosine is 0.99959 (mse observer; 99.15 % agreement with float on the
// 10k test images, short of the 99.5 %), with the stem conv float 0.99992 (99.79 %). 0.9998
// sits between the two on a log scale of 1 - cosine (4.1e-4 vs 0.8e-4), so 32 items' noise
// (0.99954 on 256 items) does not flip the choice; minmax and percentile stop at the same layer.
constexpr double kDefaultTargetCosine = 0.9998;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Feeds the quantized run's `x` against the float values `ref` to `stats`; an output of another
// type or size than float's is an internal error (the QDQ model must keep every shape).
void Compare(quant::ErrorStats* stats, const std::vector<float>& ref, const Tensor& x,
             const std::string& what) {
  if (x.type != ElementType::kFloat32 || static_cast<size_t>(x.elements()) != ref.size())
    throw Error(ErrorCode::kInternal,
                fmt::format("'{}': the quantized model gives {} {} values, the float one {}",
                            Printable(what), x.elements(), ElementTypeName(x.type), ref.size()));
  stats->Add(ref.data(), x.floats(), ref.size());
}

std::vector<float> Floats(const Tensor& t) {
  if (t.type != ElementType::kFloat32) return {};
  return std::vector<float>(t.floats(), t.floats() + t.elements());
}

// QDQ variants of the model (a subset of the layers int8), built in memory and run through
// effi::Model::LoadFromMemory with the default passes (effi's int8 deployment path) on the
// sensitivity items, against the float model's outputs there.
class Probe {
 public:
  Probe(const std::string& model, const std::map<std::string, quant::QParams>& params,
        const std::map<std::string, int64_t>& ranks, const ModelOptions& model_options,
        const SessionOptions& session_options, std::string input_name,
        std::vector<int64_t> input_shape)
      : model_(model),
        params_(params),
        ranks_(ranks),
        model_options_(model_options),
        session_options_(session_options),
        input_name_(std::move(input_name)),
        input_shape_(std::move(input_shape)) {}

  void AddItem(std::vector<float> input, const Tensor& float_output) {
    inputs_.push_back(std::move(input));
    float_outputs_.push_back(Floats(float_output));
  }
  size_t items() const { return inputs_.size(); }
  const std::vector<float>& input(size_t k) const { return inputs_[k]; }
  const std::vector<int64_t>& input_shape() const { return input_shape_; }

  // The variant's QDQ model, serialized into a buffer reused from call to call.
  const std::string& Qdq(const onnx_io::QdqPlan& variant) {
    onnx_io::QdqReport unused;
    onnx_io::SerializeQdq(model_, variant, params_, ranks_, &unused, &buffer_);
    return buffer_;
  }

  // Loads `bytes` and calls visit(k, outputs) for each item k; returns the model's output names.
  template <typename Visit>
  std::vector<std::string> Run(const std::string& bytes, Visit&& visit) const {
    std::shared_ptr<Model> m = Model::LoadFromMemory(bytes.data(), bytes.size(), model_options_);
    std::vector<std::string> names;
    for (const TensorInfo& t : m->outputs()) names.push_back(t.name);
    Session session(m, session_options_);
    for (size_t k = 0; k < inputs_.size(); ++k)
      visit(k, session.Run({{input_name_, Tensor::Float(input_shape_, inputs_[k])}}), names);
    return names;
  }

  // Top-1 accuracy in % of the model `bytes` on the first `count` items of the labelled `data`.
  double Top1(const std::string& bytes, const Dataset& data, size_t count,
              const image::PreprocessConfig& config) const {
    std::shared_ptr<Model> m = Model::LoadFromMemory(bytes.data(), bytes.size(), model_options_);
    Session session(m, session_options_);
    count = std::min(count, data.size());
    size_t correct = 0;
    for (size_t i = 0; i < count; ++i) {
      const std::vector<Tensor> outs =
          session.Run({{input_name_, Tensor::Float(input_shape_, data.Load(i, config))}});
      const Tensor& t = outs.at(0);
      const auto label = data.label(i);
      if (t.type != ElementType::kFloat32 || label < 0 || label >= t.elements())
        throw Error(
            ErrorCode::kInvalidArgument,
            fmt::format("--val: label {} of {} is out of range: the model has {} classes", label,
                        Printable(data.name(i), util::kMaxQuotedPath), t.elements()));
      const float* row = t.floats();
      correct += std::max_element(row, row + t.elements()) - row == label;
    }
    return count ? 100.0 * static_cast<double>(correct) / static_cast<double>(count) : kNaN;
  }

  // Mean cosine over the items of the model output (the classifier's, output 0) vs float.
  double ModelCosine(const onnx_io::QdqPlan& variant) {
    quant::ErrorStats stats;
    Run(Qdq(variant), [&](size_t k, const std::vector<Tensor>& outs, const auto& names) {
      Compare(&stats, float_outputs_[k], outs.at(0), names.at(0));
    });
    return stats.mean_cosine();
  }

 private:
  const std::string& model_;
  const std::map<std::string, quant::QParams>& params_;
  const std::map<std::string, int64_t>& ranks_;
  ModelOptions model_options_;
  SessionOptions session_options_;
  std::string input_name_;
  std::vector<int64_t> input_shape_;
  std::vector<std::vector<float>> inputs_, float_outputs_;
  std::string buffer_;
};

struct LayerResult {
  double cosine = kNaN, sqnr_db = kNaN;  // its output vs float, every layer int8
  double isolated = kNaN;                // model-output cosine with only this layer int8
};

struct FallbackStep {
  std::string layer;                  // kept float at this step
  double cosine = kNaN, top1 = kNaN;  // after it (top1: with --val only)
};

struct FallbackDecision {
  std::string mode;
  std::string criterion;      // "cosine" or "top1" (--val)
  double target = kNaN;       // --target-cosine, or --max-drop in points with --val
  double int8_cosine = kNaN;  // every layer int8 but --keep-float ones
  double final_cosine = kNaN;
  double float_top1 = kNaN, int8_top1 = kNaN, final_top1 = kNaN;  // --val, in %
  bool reached = true;
  std::vector<FallbackStep> steps;
  std::set<std::string> kept;
};

std::string Fixed(double v, int digits) {
  if (std::isnan(v)) return "-";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{:.{}f}", v, digits);
}

// JSON numbers: NaN and inf (no measurement, identical tensors) as null.
nlohmann::ordered_json Number(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

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
std::string HtmlReport(const QuantizeOptions& o, const onnx_io::QdqPlan& final_plan,
                       const std::map<std::string, LayerResult>& results,
                       const FallbackDecision& fallback, const std::string& summary) {
  constexpr int kBar = 14, kChartH = 220, kLeft = 40;
  const int width = kLeft + kBar * static_cast<int>(final_plan.nodes.size()) + 10;
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
  for (size_t i = 0; i < final_plan.nodes.size(); ++i) {
    const onnx_io::QdqNode& q = final_plan.nodes[i];
    const LayerResult r = results.count(q.name) ? results.at(q.name) : LayerResult{};
    const std::string color = q.quantized                     ? "#3b7dd8"
                              : q.why_float == "auto"         ? "#e8833a"
                              : q.why_float == "--keep-float" ? "#888888"
                                                              : "#bbbbbb";
    const std::string precision = q.quantized ? "int8" : "float: " + q.why_float;
    if (!std::isnan(r.isolated)) {
      const int y = y_of(1 - r.isolated);
      svg += fmt::format(
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{}: {} "
          "(isolated model cosine {})</title></rect>\n",
          kLeft + kBar * static_cast<int>(i), y, kBar - 2, std::max(kChartH + 20 - y, 1), color,
          HtmlEscape(q.name), precision, Fixed(r.isolated, 8));
    }
    rows += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td "
        "style=\"color:{}\">{}</td></tr>\n",
        i, HtmlEscape(q.name), Fixed(r.cosine, 6), Fixed(r.sqnr_db, 1), Fixed(r.isolated, 8), color,
        precision);
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
      fallback.mode, HtmlEscape(summary), svg, rows);
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
  const auto t0 = std::chrono::steady_clock::now();
  quant::ObserverOptions observer_options;
  observer_options.kind = quant::ParseObserverKind(o.observer);
  observer_options.percentile = o.percentile;

  CheckReadableFile(o.model, "model");
  const std::string bytes = util::ReadRegularFile(o.model, kMaxModelBytes, "model file");
  const onnx_io::QdqPlan plan =
      onnx_io::PlanQdq(bytes, SplitNames(o.keep_float), o.output_qdq == "on");
  onnx_io::CheckWritable(o.out);
  if (!o.report.empty()) onnx_io::CheckWritable(o.report);

  // The calibration model: the original outputs first, then each activation, rank probe and
  // quantized layer output once (graph inputs are observed as they are fed).
  std::vector<std::string> captured = plan.outputs;
  std::map<std::string, size_t> slot;
  for (size_t i = 0; i < captured.size(); ++i) slot.emplace(captured[i], i);
  for (const std::string& name : plan.graph_inputs) slot.emplace(name, SIZE_MAX);
  std::vector<std::string> layer_outputs;
  for (const onnx_io::QdqNode& q : plan.nodes)
    if (q.quantized && !q.output.empty()) layer_outputs.push_back(q.output);
  std::vector<std::string> extra;
  for (const std::vector<std::string>* list :
       {&plan.activations, &plan.rank_probes, &std::as_const(layer_outputs)})
    for (const std::string& name : *list)
      if (slot.emplace(name, captured.size()).second) {
        captured.push_back(name);
        extra.push_back(name);
      }
  const std::string calib_bytes = onnx_io::WithExtraOutputs(bytes, extra);
  ModelOptions model_options;
  model_options.passes = o.passes;
  model_options.memory_limit_bytes = o.memory_limit;
  std::shared_ptr<Model> model =
      Model::LoadFromMemory(calib_bytes.data(), calib_bytes.size(), model_options);
  if (model->outputs().size() != captured.size())
    throw Error(ErrorCode::kInternal, fmt::format("calibration model has {} outputs, expected {}",
                                                  model->outputs().size(), captured.size()));
  const ClassifierInfo info = CheckClassifier(*model, o.model, "quantize");
  const image::PreprocessConfig config = ModelPreprocessing(*model, info, o.preprocess);

  DatasetOptions dataset_options;
  dataset_options.require_labels = false;
  dataset_options.class_names = info.labels;
  const std::unique_ptr<Dataset> data = OpenDataset(o.calib, dataset_options);
  if (data->size() == 0)
    throw Error(ErrorCode::kInvalidArgument, fmt::format("calibration source '{}' has no items",
                                                         Printable(o.calib, util::kMaxQuotedPath)));
  const std::vector<size_t> items = PickItems(data->size(), static_cast<size_t>(o.calib_count),
                                              o.seed_opt->count() > 0, o.calib_seed);
  std::unique_ptr<Dataset> val;
  if (!o.val.empty()) {
    DatasetOptions val_options;
    val_options.class_names = info.labels;  // require_labels: true
    val = OpenDataset(o.val, val_options);
    if (val->size() == 0)
      throw Error(ErrorCode::kInvalidArgument, fmt::format("--val source '{}' has no items",
                                                           Printable(o.val, util::kMaxQuotedPath)));
  }

  // Calibration: one observer per activation; a graph input is observed as it is fed.
  std::map<std::string, quant::Observer> observers;
  for (const std::string& name : plan.activations) observers.emplace(name, observer_options);
  SessionOptions session_options;
  session_options.threads = o.threads;
  Session session(model, session_options);
  const bool tty = ::isatty(STDERR_FILENO);
  const std::string& input_name = info.input.name;
  const std::vector<int64_t> in_shape = {1, 3, config.input_h, config.input_w};
  std::map<std::string, quant::Range> ranges;
  std::map<std::string, quant::QParams> params;
  std::map<std::string, int64_t> ranks;
  Probe probe(bytes, params, ranks, model_options, session_options, input_name, in_shape);
  std::map<std::string, std::vector<int64_t>> shapes;
  const auto t_calib = std::chrono::steady_clock::now();
  for (size_t k = 0; k < items.size(); ++k) {
    std::vector<float> x = data->Load(items[k], config);
    const std::vector<Tensor> outs = session.Run({{input_name, Tensor::Float(in_shape, x)}});
    for (auto& [name, obs] : observers) {
      if (name == input_name) {
        obs.Observe(x.data(), x.size());
        shapes[name] = in_shape;
        continue;
      }
      const Tensor& t = outs.at(slot.at(name));
      if (t.type != ElementType::kFloat32)
        throw Error(ErrorCode::kUnsupported, fmt::format("activation '{}' is {}, not float32",
                                                         Printable(name), ElementTypeName(t.type)));
      obs.Observe(t.floats(), static_cast<size_t>(t.elements()));
      shapes[name] = t.shape;
    }
    if (k < static_cast<size_t>(o.sensitivity_count)) probe.AddItem(std::move(x), outs.at(0));
    if (tty)
      std::cerr << fmt::format("\reffi: calibrating {}/{}", k + 1, items.size()) << std::flush;
  }
  const double calib_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_calib).count();
  std::cerr << fmt::format(
      "{}effi: calibrated {} activations on {} of {} items of {} in {:.1f} s\n", tty ? "\r" : "",
      observers.size(), items.size(), data->size(), data->Describe(), calib_s);

  for (const auto& [name, obs] : observers) {
    try {
      ranges[name] = obs.Compute();
    } catch (const Error& e) {
      throw Error(e.code(), fmt::format("activation '{}': {}", Printable(name), e.what()));
    }
    params[name] = quant::ActivationParams(ranges[name]);
  }
  for (const std::string& name : plan.rank_probes) {
    const size_t at = slot.at(name);
    ranks[name] = at == SIZE_MAX ? static_cast<int64_t>(info.input.shape.size())
                                 : static_cast<int64_t>(model->outputs().at(at).shape.size());
  }

  // Sensitivity: each layer's output against float with every layer int8 (the int8 model with the
  // layer outputs as extra graph outputs, beside the float calibration model; its output 0, the
  // model output, gives the all-int8 model cosine), and the model output's cosine with only that
  // layer int8.
  const auto t_sens = std::chrono::steady_clock::now();
  std::map<std::string, LayerResult> results;
  std::vector<const onnx_io::QdqNode*> quantized;
  for (const onnx_io::QdqNode& q : plan.nodes)
    if (q.quantized) quantized.push_back(&q);
  FallbackDecision fallback;
  fallback.mode = o.fallback;
  {
    std::map<std::string, quant::ErrorStats> stats;
    quant::ErrorStats model_stats;
    probe.Run(
        onnx_io::WithExtraOutputs(probe.Qdq(plan), layer_outputs),
        [&](size_t k, const std::vector<Tensor>& outs, const std::vector<std::string>& names) {
          const std::vector<Tensor> ref =
              session.Run({{input_name, Tensor::Float(in_shape, probe.input(k))}});
          Compare(&model_stats, Floats(ref.at(0)), outs.at(0), names.at(0));
          for (size_t i = 0; i < names.size() && i < outs.size(); ++i) {
            auto at = slot.find(names[i]);
            if (at == slot.end() || at->second == SIZE_MAX) continue;
            Compare(&stats[names[i]], Floats(ref.at(at->second)), outs[i], names[i]);
          }
        });
    for (const onnx_io::QdqNode* q : quantized) {
      auto it = stats.find(q->output);
      if (it == stats.end()) continue;
      results[q->name].cosine = it->second.mean_cosine();
      results[q->name].sqnr_db = it->second.sqnr_db();
    }
    fallback.int8_cosine = model_stats.mean_cosine();
    fallback.final_cosine = fallback.int8_cosine;
  }
  // The isolated sensitivity is one model load per layer (41 on L1: 12.8 s of the 18.7 s a
  // default run takes in Release, ~230 s under ASan), needed only to order the fallback and to
  // draw the report's chart: --fallback none without --report skips it.
  const bool measure_isolated = o.fallback == "auto" || !o.report.empty();
  std::set<std::string> all_names;
  for (const onnx_io::QdqNode* q : quantized) all_names.insert(q->name);
  for (size_t i = 0; measure_isolated && i < quantized.size(); ++i) {
    std::set<std::string> others = all_names;
    others.erase(quantized[i]->name);
    results[quantized[i]->name].isolated =
        probe.ModelCosine(onnx_io::WithFloatLayers(plan, others, "auto"));
    if (tty)
      std::cerr << fmt::format("\reffi: sensitivity {}/{}", i + 1, quantized.size()) << std::flush;
  }

  // Fallback: keep the most sensitive layers (isolated cosine, lowest first) in float, one at a
  // time, until the model output's mean cosine reaches the target.
  // With --val the criterion is the top-1 drop on the labelled set instead.
  const size_t val_count = static_cast<size_t>(o.val_count);
  auto met = [&] {
    return val ? fallback.float_top1 - fallback.final_top1 <= fallback.target
               : fallback.final_cosine >= fallback.target;
  };
  if (o.fallback == "auto") {
    fallback.criterion = val ? "top1" : "cosine";
    fallback.target = val ? o.max_drop : o.target_cosine;
    if (val) {
      fallback.float_top1 = probe.Top1(bytes, *val, val_count, config);
      fallback.int8_top1 = probe.Top1(probe.Qdq(plan), *val, val_count, config);
      fallback.final_top1 = fallback.int8_top1;
    }
    std::vector<const onnx_io::QdqNode*> order = quantized;
    auto key = [&](const onnx_io::QdqNode* q) {
      const double c = results[q->name].isolated;
      return std::isnan(c) ? -1.0 : c;  // no measurement: most sensitive
    };
    std::stable_sort(order.begin(), order.end(),
                     [&](const auto* a, const auto* b) { return key(a) < key(b); });
    for (size_t i = 0; i < order.size() && !met(); ++i) {
      fallback.kept.insert(order[i]->name);
      const onnx_io::QdqPlan variant = onnx_io::WithFloatLayers(plan, fallback.kept, "auto");
      fallback.final_cosine = probe.ModelCosine(variant);
      if (val) fallback.final_top1 = probe.Top1(probe.Qdq(variant), *val, val_count, config);
      fallback.steps.push_back({order[i]->name, fallback.final_cosine, fallback.final_top1});
      if (tty) std::cerr << fmt::format("\reffi: fallback step {}", i + 1) << std::flush;
    }
    fallback.reached = met();
  }
  const double sens_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_sens).count();
  std::cerr << (measure_isolated
                    ? fmt::format(
                          "{}effi: sensitivity of {} layers on {} items, {} fallback steps in "
                          "{:.1f} s\n",
                          tty ? "\r" : "", quantized.size(), probe.items(), fallback.steps.size(),
                          sens_s)
                    : fmt::format("effi: output errors of {} layers on {} items in {:.1f} s "
                                  "(isolated sensitivity not measured: --fallback none)\n",
                                  quantized.size(), probe.items(), sens_s));
  if (!fallback.reached)
    std::cerr << (val ? fmt::format("effi: warning: --max-drop {} not reached: top-1 {:.2f} % "
                                    "with every layer float, float {:.2f} %\n",
                                    fallback.target, fallback.final_top1, fallback.float_top1)
                      : fmt::format("effi: warning: target cosine {} not reached: {:.8f} with "
                                    "every layer float\n",
                                    fallback.target, fallback.final_cosine));

  const onnx_io::QdqPlan final_plan = onnx_io::WithFloatLayers(plan, fallback.kept, "auto");
  const onnx_io::QdqReport report = onnx_io::WriteQdq(bytes, final_plan, params, ranks, o.out);

  // MACs by precision over the layers calibration saw (--keep-float layers have no shapes).
  auto macs_of = [&](const onnx_io::QdqNode& q) {
    std::vector<std::vector<int64_t>> in_shapes;
    for (const std::string& a : q.activations) in_shapes.push_back(shapes[a]);
    return q.activations.empty() ? int64_t{-1} : onnx_io::LayerMacs(q, in_shapes);
  };
  int64_t int8_macs = 0, auto_macs = 0;
  std::string kept_names;
  for (const onnx_io::QdqNode& q : final_plan.nodes) {
    const int64_t m = std::max<int64_t>(macs_of(q), 0);
    if (q.quantized) int8_macs += m;
    if (!q.quantized && q.why_float == "auto") auto_macs += m;
    if (!q.quantized)
      kept_names +=
          fmt::format("{}{} ({})", kept_names.empty() ? "" : ", ", Printable(q.name), q.why_float);
  }
  const double int8_share = int8_macs + auto_macs > 0
                                ? 100.0 * int8_macs / static_cast<double>(int8_macs + auto_macs)
                                : 0.0;
  std::string summary =
      val ? fmt::format(
                "fallback auto by --val top-1 on {} items: float {:.2f} %, every layer int8 "
                "{:.2f} %, {:.2f} % after {} float (max drop {} points: {}); model-output "
                "cosine {:.8f} on {} calibration items",
                std::min(val_count, val->size()), fallback.float_top1, fallback.int8_top1,
                fallback.final_top1, fallback.kept.size(), fallback.target,
                fallback.reached ? "reached" : "NOT reached", fallback.final_cosine, probe.items())
      : o.fallback == "auto"
          ? fmt::format(
                "fallback auto: target model-output cosine {}, {} with every layer int8, "
                "{:.8f} after {} float ({}) on {} calibration items",
                fallback.target, Fixed(fallback.int8_cosine, 8), fallback.final_cosine,
                fallback.kept.size(), fallback.reached ? "reached" : "NOT reached", probe.items())
          : fmt::format("fallback none: model-output cosine {} on {} calibration items",
                        Fixed(fallback.int8_cosine, 8), probe.items());
  summary += fmt::format("; kept float: {}; int8 {:.1f} % of the calibrated layers' MACs",
                         kept_names.empty() ? "none" : kept_names, int8_share);
  if (!o.report.empty())
    onnx_io::WriteFileAtomically(o.report, HtmlReport(o, final_plan, results, fallback, summary));
  const double total_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // Report: one row per Conv/Gemm/MatMul.
  auto has_output_pair = [&](const onnx_io::QdqNode& q) {
    return q.quantized && final_plan.output_qdq && !q.output.empty() && params.count(q.output);
  };
  std::map<std::string, const onnx_io::QdqLayerReport*> layer_of;
  for (const auto& l : report.layers) layer_of[l.name] = &l;
  const double ratio = static_cast<double>(report.bytes) / static_cast<double>(bytes.size());
  if (o.json) {
    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
    auto tensor_json = [&](const std::string& a) {
      return nlohmann::ordered_json{{"name", a},
                                    {"min", ranges.at(a).min},
                                    {"max", ranges.at(a).max},
                                    {"scale", params.at(a).scale},
                                    {"zero_point", params.at(a).zero_point}};
    };
    for (const onnx_io::QdqNode& q : final_plan.nodes) {
      nlohmann::ordered_json acts = nlohmann::ordered_json::array();
      for (const std::string& a : q.activations) acts.push_back(tensor_json(a));
      nlohmann::ordered_json row = {{"name", q.name}, {"op", q.op}};
      row["precision"] = q.quantized ? "int8" : "float";
      if (!q.quantized) row["why_float"] = q.why_float;
      if (!q.activations.empty()) row["macs"] = macs_of(q);
      row["activations"] = std::move(acts);
      if (has_output_pair(q)) row["output"] = tensor_json(q.output);
      if (auto it = layer_of.find(q.name); it != layer_of.end() && !q.weight.empty()) {
        row["weight_scale_min"] = it->second->weight_scale_min;
        row["weight_scale_max"] = it->second->weight_scale_max;
        row["bias_saturated"] = it->second->bias_saturated;
      }
      if (auto it = results.find(q.name); it != results.end()) {
        row["output_cosine"] = Number(it->second.cosine);
        row["output_sqnr_db"] = Number(it->second.sqnr_db);
        row["isolated_model_cosine"] = Number(it->second.isolated);
      }
      layers.push_back(std::move(row));
    }
    nlohmann::ordered_json steps = nlohmann::ordered_json::array();
    for (const FallbackStep& step : fallback.steps) {
      steps.push_back({{"keep_float", step.layer}, {"model_cosine", Number(step.cosine)}});
      if (val) steps.back()["top1"] = Number(step.top1);
    }
    nlohmann::ordered_json fb = {{"mode", fallback.mode},
                                 {"items", probe.items()},
                                 {"int8_model_cosine", Number(fallback.int8_cosine)},
                                 {"isolated_measured", measure_isolated}};
    if (o.fallback == "auto") {
      fb["criterion"] = fallback.criterion;
      if (val) {
        fb["val"] = {{"source", o.val},
                     {"items", std::min(val_count, val->size())},
                     {"max_drop", fallback.target},
                     {"float_top1", Number(fallback.float_top1)},
                     {"int8_top1", Number(fallback.int8_top1)},
                     {"top1", Number(fallback.final_top1)}};
      } else {
        fb["target_cosine"] = fallback.target;
      }
      fb["model_cosine"] = Number(fallback.final_cosine);
      fb["reached"] = fallback.reached;
      fb["kept_float"] = std::vector<std::string>(fallback.kept.begin(), fallback.kept.end());
      fb["steps"] = std::move(steps);
    }
    fb["int8_macs_percent"] = int8_share;
    nlohmann::ordered_json doc = {
        {"model", o.model},
        {"out", o.out},
        {"observer", o.observer},
        {"calibration", {{"source", o.calib}, {"items", items.size()}, {"seconds", calib_s}}},
        {"sensitivity_seconds", sens_s},
        {"fallback", std::move(fb)},
        {"output_qdq", final_plan.output_qdq},
        {"opset_in", report.opset_in},
        {"opset_out", report.opset_out},
        {"quantize_linear", report.quantize_nodes},
        {"dequantize_linear", report.dequantize_nodes},
        {"bytes_in", bytes.size()},
        {"bytes_out", report.bytes},
        {"seconds", total_s},
        {"layers", std::move(layers)}};
    std::cout << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"layer", "op", "MACs", "activation scale/zp (in -> out)", "weight scale",
                  "cosine", "SQNR (dB)", "isolated cos", "precision"});
  for (const onnx_io::QdqNode& q : final_plan.nodes) {
    std::string acts;
    for (const std::string& a : q.activations)
      acts += fmt::format("{}{:.4g}/{}", acts.empty() ? "" : ", ", params.at(a).scale,
                          params.at(a).zero_point);
    if (has_output_pair(q))
      acts +=
          fmt::format(" -> {:.4g}/{}", params.at(q.output).scale, params.at(q.output).zero_point);
    std::string weights = q.quantized && q.weight.empty() ? "(activation)" : "-";
    if (auto it = layer_of.find(q.name); it != layer_of.end() && !q.weight.empty())
      weights =
          fmt::format("{:.3g}..{:.3g}", it->second->weight_scale_min, it->second->weight_scale_max);
    const LayerResult r = results.count(q.name) ? results.at(q.name) : LayerResult{};
    rows.push_back({Printable(q.name, 64), q.op,
                    q.activations.empty() ? "-" : FormatMacs(macs_of(q)), acts.empty() ? "-" : acts,
                    weights, Fixed(r.cosine, 6), Fixed(r.sqnr_db, 1),
                    q.quantized && !measure_isolated ? "not measured" : Fixed(r.isolated, 8),
                    q.quantized ? "int8" : "float: " + q.why_float});
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
  table += fmt::format(
      "\n{} of {} Conv/Gemm/MatMul int8; {} QuantizeLinear, {} DequantizeLinear (output pairs "
      "{}); opset {} -> {}\n"
      "{}\nwrote {} ({:.1f} MB, {:.2f}x the float model's {:.1f} MB) in {:.1f} s\n",
      report.layers.size(), plan.nodes.size(), report.quantize_nodes, report.dequantize_nodes,
      o.output_qdq, report.opset_in, report.opset_out, summary,
      Printable(o.out, util::kMaxQuotedPath), report.bytes / 1e6, ratio, bytes.size() / 1e6,
      total_s);
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
  o->target_cosine = kDefaultTargetCosine;
  o->target_opt = app->add_option("--target-cosine", o->target_cosine,
                                  "model-output mean cosine vs float for --fallback auto to reach")
                      ->type_name("C")
                      ->capture_default_str()
                      ->check(FiniteNumber());
  o->sensitivity_count = kSensitivityItems;
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
