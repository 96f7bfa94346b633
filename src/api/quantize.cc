// effi::Quantize (include/effi/quantize.hpp): post-training static quantization to a QDQ ONNX
// model. Calibration runs the float model through the public effi API with the quantized
// activations added as outputs (onnx/qdq_export.h), feeds each to an observer (quant/quant.h);
// sensitivity and the fallback run QDQ variants on effi's int8 kernels; the model is written with
// the resulting u8 parameters.
#include "api/quantize.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <set>
#include <utility>

#include "api/dataset.h"
#include "onnx/qdq_export.h"
#include "quant/quant.h"
#include "util/file.h"
#include "util/for_each_item.h"
#include "util/text.h"

namespace effi {
namespace api {
namespace {

// The importer's own bound: a protobuf message cannot be larger.
constexpr size_t kMaxModelBytes = size_t{2} << 30;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string Printable(const std::string& text, size_t max_len = util::kMaxQuoted) {
  return util::EscapeControl(text, max_len);
}

[[noreturn]] void BadOption(const std::string& message) {
  throw Error(ErrorCode::kInvalidArgument, "effi::Quantize: " + message);
}

// The options' own checks (the CLI refuses the same values as usage errors before this).
void CheckOptions(const QuantizeOptions& o) {
  if (o.calibration.empty()) BadOption("no calibration set given (QuantizeOptions::calibration)");
  if (o.calibration_count < 1)
    BadOption(fmt::format("calibration_count must be >= 1, got {}", o.calibration_count));
  if (o.sensitivity_count < 1)
    BadOption(fmt::format("sensitivity_count must be >= 1, got {}", o.sensitivity_count));
  if (o.validation_count < 1)
    BadOption(fmt::format("validation_count must be >= 1, got {}", o.validation_count));
  if (o.observer != "minmax" && o.observer != "percentile" && o.observer != "mse" &&
      o.observer != "entropy")
    BadOption(fmt::format("observer must be minmax, percentile, mse or entropy, got \"{}\"",
                          Printable(o.observer)));
  if (!(o.percentile >= 1e-6 && o.percentile <= 100))
    BadOption(fmt::format("percentile must be in [1e-6, 100], got {}", o.percentile));
  if (o.fallback != "auto" && o.fallback != "none")
    BadOption(
        fmt::format("fallback must be \"auto\" or \"none\", got \"{}\"", Printable(o.fallback)));
  if (!(o.target_cosine > 0 && o.target_cosine <= 1))
    BadOption(fmt::format("target_cosine must be in (0, 1], got {}", o.target_cosine));
  if (!(o.max_drop >= 0 && o.max_drop <= 100))
    BadOption(fmt::format("max_drop must be in [0, 100], got {}", o.max_drop));
  if (!o.validation.empty() && o.fallback != "auto")
    BadOption("a validation set only applies with fallback \"auto\"");
  if (o.threads < 0 || o.threads > util::kMaxThreads)
    BadOption(fmt::format("threads must be in 0..{}, got {}", util::kMaxThreads, o.threads));
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

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

std::string Fixed(double v, int digits) {
  if (std::isnan(v)) return "-";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return fmt::format("{:.{}f}", v, digits);
}

QuantizeReport Quantize(const std::string& model_path, const std::string& out_path,
                        const QuantizeOptions& o, const QuantizeHooks& hooks) {
  CheckOptions(o);
  const auto t0 = std::chrono::steady_clock::now();
  auto note = [&](const std::string& line) {
    if (hooks.note) hooks.note(line);
  };
  auto progress = [&](const char* stage, size_t done, size_t total) {
    if (o.progress) o.progress(stage, done, total);
  };
  quant::ObserverOptions observer_options;
  observer_options.kind = quant::ParseObserverKind(o.observer);
  observer_options.percentile = o.percentile;

  util::CheckReadableFile(model_path, "model");
  const std::string bytes = util::ReadRegularFile(model_path, kMaxModelBytes, "model file");
  const onnx_io::QdqPlan plan = onnx_io::PlanQdq(bytes, o.keep_float, o.output_qdq);
  onnx_io::CheckWritable(out_path);
  for (const std::string& path : hooks.also_writable) onnx_io::CheckWritable(path);

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
  model_options.memory_limit_bytes = o.memory_limit_bytes;
  std::shared_ptr<Model> model =
      Model::LoadFromMemory(calib_bytes.data(), calib_bytes.size(), model_options);
  if (model->outputs().size() != captured.size())
    throw Error(ErrorCode::kInternal, fmt::format("calibration model has {} outputs, expected {}",
                                                  model->outputs().size(), captured.size()));
  const ClassifierInfo info = CheckClassifier(
      *model, "quantize", fmt::format("'{}'", Printable(model_path, util::kMaxQuotedPath)));
  const image::PreprocessConfig config =
      hooks.preprocessing ? hooks.preprocessing(*model, info)
                          : ResolvePreprocessing(*model, info.input, o.preprocessing);

  DatasetOptions dataset_options;
  dataset_options.require_labels = false;
  dataset_options.class_names = info.labels;
  const std::unique_ptr<Dataset> data = OpenDataset(o.calibration, dataset_options);
  if (data->size() == 0)
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("calibration source '{}' has no items",
                            Printable(o.calibration, util::kMaxQuotedPath)));
  const std::vector<size_t> items =
      PickItems(data->size(), static_cast<size_t>(o.calibration_count),
                o.calibration_seed.has_value(), o.calibration_seed.value_or(0));
  std::unique_ptr<Dataset> val;
  if (!o.validation.empty()) {
    DatasetOptions val_options;
    val_options.class_names = info.labels;  // require_labels: true
    val = OpenDataset(o.validation, val_options);
    if (val->size() == 0)
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("--val source '{}' has no items",
                              Printable(o.validation, util::kMaxQuotedPath)));
  }

  // Calibration: one observer per activation; a graph input is observed as it is fed.
  std::map<std::string, quant::Observer> observers;
  for (const std::string& name : plan.activations) observers.emplace(name, observer_options);
  SessionOptions session_options;
  session_options.threads = o.threads > 0 ? o.threads : util::DefaultThreads();
  Session session(model, session_options);
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
    progress("calibrate", k + 1, items.size());
  }
  const double calib_s = SecondsSince(t_calib);
  QuantizeReport rep;
  rep.model = model_path;
  rep.out = out_path;
  rep.observer = o.observer;
  rep.calibration = o.calibration;
  rep.calibration_description = data->Describe();
  rep.calibration_items = items.size();
  rep.calibration_available = data->size();
  rep.activations = observers.size();
  rep.calibration_seconds = calib_s;
  rep.validation = o.validation;
  note(fmt::format("calibrated {} activations on {} of {} items of {} in {:.1f} s", rep.activations,
                   rep.calibration_items, rep.calibration_available, rep.calibration_description,
                   rep.calibration_seconds));

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
  QuantizeFallback& fallback = rep.fallback;
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
    fallback.int8_model_cosine = model_stats.mean_cosine();
    fallback.model_cosine = fallback.int8_model_cosine;
  }
  // The isolated sensitivity is one model load per layer (41 on L1: 12.8 s of the 18.7 s a
  // default run takes in Release, ~230 s under ASan), needed only to order the fallback and to
  // draw a report's chart: fallback "none" without measure_isolated skips it.
  const bool measure_isolated = o.fallback == "auto" || o.measure_isolated;
  std::set<std::string> all_names;
  for (const onnx_io::QdqNode* q : quantized) all_names.insert(q->name);
  for (size_t i = 0; measure_isolated && i < quantized.size(); ++i) {
    std::set<std::string> others = all_names;
    others.erase(quantized[i]->name);
    results[quantized[i]->name].isolated =
        probe.ModelCosine(onnx_io::WithFloatLayers(plan, others, "auto"));
    progress("sensitivity", i + 1, quantized.size());
  }

  // Fallback: keep the most sensitive layers (isolated cosine, lowest first) in float, one at a
  // time, until the model output's mean cosine reaches the target.
  // With a validation set the criterion is the top-1 drop on it instead.
  const size_t val_count = static_cast<size_t>(o.validation_count);
  auto met = [&] {
    return val ? fallback.float_top1 - fallback.top1 <= fallback.target
               : fallback.model_cosine >= fallback.target;
  };
  std::set<std::string> kept;
  if (o.fallback == "auto") {
    fallback.criterion = val ? "top1" : "cosine";
    fallback.target = val ? o.max_drop : o.target_cosine;
    if (val) {
      fallback.validation_items = std::min(val_count, val->size());
      fallback.float_top1 = probe.Top1(bytes, *val, val_count, config);
      fallback.int8_top1 = probe.Top1(probe.Qdq(plan), *val, val_count, config);
      fallback.top1 = fallback.int8_top1;
    }
    std::vector<const onnx_io::QdqNode*> order = quantized;
    auto key = [&](const onnx_io::QdqNode* q) {
      const double c = results[q->name].isolated;
      return std::isnan(c) ? -1.0 : c;  // no measurement: most sensitive
    };
    std::stable_sort(order.begin(), order.end(),
                     [&](const auto* a, const auto* b) { return key(a) < key(b); });
    for (size_t i = 0; i < order.size() && !met(); ++i) {
      kept.insert(order[i]->name);
      const onnx_io::QdqPlan variant = onnx_io::WithFloatLayers(plan, kept, "auto");
      fallback.model_cosine = probe.ModelCosine(variant);
      if (val) fallback.top1 = probe.Top1(probe.Qdq(variant), *val, val_count, config);
      fallback.steps.push_back({order[i]->name, fallback.model_cosine, fallback.top1});
      progress("fallback", i + 1, order.size());
    }
    fallback.reached = met();
    fallback.kept_float.assign(kept.begin(), kept.end());
  }
  fallback.items = probe.items();
  fallback.isolated_measured = measure_isolated;
  rep.sensitivity_seconds = SecondsSince(t_sens);
  note(measure_isolated
           ? fmt::format("sensitivity of {} layers on {} items, {} fallback steps in {:.1f} s",
                         quantized.size(), probe.items(), fallback.steps.size(),
                         rep.sensitivity_seconds)
           : fmt::format("output errors of {} layers on {} items in {:.1f} s (isolated "
                         "sensitivity not measured: --fallback none)",
                         quantized.size(), probe.items(), rep.sensitivity_seconds));
  if (!fallback.reached)
    note(val ? fmt::format("warning: --max-drop {} not reached: top-1 {:.2f} % with every layer "
                           "float, float {:.2f} %",
                           fallback.target, fallback.top1, fallback.float_top1)
             : fmt::format("warning: target cosine {} not reached: {:.8f} with every layer float",
                           fallback.target, fallback.model_cosine));

  const onnx_io::QdqPlan final_plan = onnx_io::WithFloatLayers(plan, kept, "auto");
  const onnx_io::QdqReport written = onnx_io::WriteQdq(bytes, final_plan, params, ranks, out_path);

  // MACs by precision over the layers calibration saw (keep_float layers have no shapes).
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
  fallback.int8_macs_percent = int8_macs + auto_macs > 0
                                   ? 100.0 * int8_macs / static_cast<double>(int8_macs + auto_macs)
                                   : 0.0;
  rep.summary =
      val ? fmt::format(
                "fallback auto by --val top-1 on {} items: float {:.2f} %, every layer int8 "
                "{:.2f} %, {:.2f} % after {} float (max drop {} points: {}); model-output "
                "cosine {:.8f} on {} calibration items",
                fallback.validation_items, fallback.float_top1, fallback.int8_top1, fallback.top1,
                kept.size(), fallback.target, fallback.reached ? "reached" : "NOT reached",
                fallback.model_cosine, probe.items())
      : o.fallback == "auto"
          ? fmt::format(
                "fallback auto: target model-output cosine {}, {} with every layer int8, "
                "{:.8f} after {} float ({}) on {} calibration items",
                fallback.target, Fixed(fallback.int8_model_cosine, 8), fallback.model_cosine,
                kept.size(), fallback.reached ? "reached" : "NOT reached", probe.items())
          : fmt::format("fallback none: model-output cosine {} on {} calibration items",
                        Fixed(fallback.int8_model_cosine, 8), probe.items());
  rep.summary += fmt::format("; kept float: {}; int8 {:.1f} % of the calibrated layers' MACs",
                             kept_names.empty() ? "none" : kept_names, fallback.int8_macs_percent);

  rep.output_qdq = final_plan.output_qdq;
  rep.opset_in = written.opset_in;
  rep.opset_out = written.opset_out;
  rep.quantize_linear = written.quantize_nodes;
  rep.dequantize_linear = written.dequantize_nodes;
  rep.bytes_in = static_cast<int64_t>(bytes.size());
  rep.bytes_out = written.bytes;

  // One row per Conv/Gemm/MatMul.
  std::map<std::string, const onnx_io::QdqLayerReport*> layer_of;
  for (const auto& l : written.layers) layer_of[l.name] = &l;
  auto tensor = [&](const std::string& a) {
    return QuantizeTensor{a, ranges.at(a).min, ranges.at(a).max, params.at(a).scale,
                          params.at(a).zero_point};
  };
  for (const onnx_io::QdqNode& q : final_plan.nodes) {
    QuantizeLayer l;
    l.name = q.name;
    l.op = q.op;
    l.int8 = q.quantized;
    if (!q.quantized) l.why_float = q.why_float;
    l.macs = macs_of(q);
    for (const std::string& a : q.activations) l.activations.push_back(tensor(a));
    if (q.quantized && final_plan.output_qdq && !q.output.empty() && params.count(q.output))
      l.output = tensor(q.output);
    l.weight = q.weight;
    if (auto it = layer_of.find(q.name); it != layer_of.end() && !q.weight.empty()) {
      l.weight_quantized = true;
      l.weight_scale_min = it->second->weight_scale_min;
      l.weight_scale_max = it->second->weight_scale_max;
      l.bias_saturated = it->second->bias_saturated;
    }
    if (auto it = results.find(q.name); it != results.end()) {
      l.sensitivity_measured = true;
      l.output_cosine = it->second.cosine;
      l.output_sqnr_db = it->second.sqnr_db;
      l.isolated_model_cosine = it->second.isolated;
    }
    rep.layers.push_back(std::move(l));
  }
  rep.seconds = SecondsSince(t0);
  return rep;
}

}  // namespace api

QuantizeReport Quantize(const std::string& model_path, const std::string& out_path,
                        const QuantizeOptions& options) {
  return api::Quantize(model_path, out_path, options, {});
}

namespace {

// JSON numbers: NaN and inf (no measurement, identical tensors) as null.
nlohmann::ordered_json Number(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

nlohmann::ordered_json TensorJson(const QuantizeTensor& t) {
  return nlohmann::ordered_json{{"name", t.name},
                                {"min", t.min},
                                {"max", t.max},
                                {"scale", t.scale},
                                {"zero_point", t.zero_point}};
}

}  // namespace

std::string QuantizeReport::ToJson() const {
  const bool val = !validation.empty();
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const QuantizeLayer& l : layers) {
    nlohmann::ordered_json acts = nlohmann::ordered_json::array();
    for (const QuantizeTensor& a : l.activations) acts.push_back(TensorJson(a));
    nlohmann::ordered_json row = {{"name", l.name}, {"op", l.op}};
    row["precision"] = l.int8 ? "int8" : "float";
    if (!l.int8) row["why_float"] = l.why_float;
    if (!l.activations.empty()) row["macs"] = l.macs;
    row["activations"] = std::move(acts);
    if (l.output) row["output"] = TensorJson(*l.output);
    if (l.weight_quantized) {
      row["weight_scale_min"] = l.weight_scale_min;
      row["weight_scale_max"] = l.weight_scale_max;
      row["bias_saturated"] = l.bias_saturated;
    }
    if (l.sensitivity_measured) {
      row["output_cosine"] = Number(l.output_cosine);
      row["output_sqnr_db"] = Number(l.output_sqnr_db);
      row["isolated_model_cosine"] = Number(l.isolated_model_cosine);
    }
    rows.push_back(std::move(row));
  }
  nlohmann::ordered_json steps = nlohmann::ordered_json::array();
  for (const QuantizeFallbackStep& step : fallback.steps) {
    steps.push_back({{"keep_float", step.keep_float}, {"model_cosine", Number(step.model_cosine)}});
    if (val) steps.back()["top1"] = Number(step.top1);
  }
  nlohmann::ordered_json fb = {{"mode", fallback.mode},
                               {"items", fallback.items},
                               {"int8_model_cosine", Number(fallback.int8_model_cosine)},
                               {"isolated_measured", fallback.isolated_measured}};
  if (fallback.mode == "auto") {
    fb["criterion"] = fallback.criterion;
    if (val) {
      fb["val"] = {{"source", validation},
                   {"items", fallback.validation_items},
                   {"max_drop", fallback.target},
                   {"float_top1", Number(fallback.float_top1)},
                   {"int8_top1", Number(fallback.int8_top1)},
                   {"top1", Number(fallback.top1)}};
    } else {
      fb["target_cosine"] = fallback.target;
    }
    fb["model_cosine"] = Number(fallback.model_cosine);
    fb["reached"] = fallback.reached;
    fb["kept_float"] = fallback.kept_float;
    fb["steps"] = std::move(steps);
  }
  fb["int8_macs_percent"] = fallback.int8_macs_percent;
  nlohmann::ordered_json doc = {
      {"model", model},
      {"out", out},
      {"observer", observer},
      {"calibration",
       {{"source", calibration}, {"items", calibration_items}, {"seconds", calibration_seconds}}},
      {"sensitivity_seconds", sensitivity_seconds},
      {"fallback", std::move(fb)},
      {"output_qdq", output_qdq},
      {"opset_in", opset_in},
      {"opset_out", opset_out},
      {"quantize_linear", quantize_linear},
      {"dequantize_linear", dequantize_linear},
      {"bytes_in", bytes_in},
      {"bytes_out", bytes_out},
      {"seconds", seconds},
      {"layers", std::move(rows)}};
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace effi
