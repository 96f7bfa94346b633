// `effi quantize`: post-training static quantization of a float ONNX classifier to a standard QDQ
// ONNX model (QuantizeLinear/DequantizeLinear, opset >= 13, per-channel weights) that ONNX Runtime
// and effi run on int8 kernels. Calibration runs the float model through the public effi API with
// the quantized activations added as outputs (onnx/qdq_export.h), feeds each to an observer
// (quant/quant.h) and writes the model with the resulting u8 parameters.
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <thread>

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
  std::string observer = "minmax";
  double percentile = 99.99;
  std::string keep_float;
  std::string out;
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

int RunQuantize(const QuantizeOptions& o) {
  if (o.percentile_opt->count() && o.observer != "percentile")
    throw UsageError("--percentile only applies with --observer percentile");
  const auto t0 = std::chrono::steady_clock::now();
  quant::ObserverOptions observer_options;
  observer_options.kind = quant::ParseObserverKind(o.observer);
  observer_options.percentile = o.percentile;

  CheckReadableFile(o.model, "model");
  const std::string bytes = util::ReadRegularFile(o.model, kMaxModelBytes, "model file");
  const onnx_io::QdqPlan plan = onnx_io::PlanQdq(bytes, SplitNames(o.keep_float));
  onnx_io::CheckWritable(o.out);

  // The calibration model: the original outputs first, then each activation and rank probe once
  // (graph inputs are observed as they are fed).
  std::vector<std::string> captured = plan.outputs;
  std::map<std::string, size_t> slot;
  for (size_t i = 0; i < captured.size(); ++i) slot.emplace(captured[i], i);
  for (const std::string& name : plan.graph_inputs) slot.emplace(name, SIZE_MAX);
  std::vector<std::string> extra;
  for (const auto* list : {&plan.activations, &plan.rank_probes})
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

  // Calibration: one observer per activation; a graph input is observed as it is fed.
  std::map<std::string, quant::Observer> observers;
  for (const std::string& name : plan.activations) observers.emplace(name, observer_options);
  SessionOptions session_options;
  session_options.threads = o.threads;
  Session session(model, session_options);
  const bool tty = ::isatty(STDERR_FILENO);
  const std::string& input_name = info.input.name;
  std::map<std::string, std::vector<int64_t>> shapes;
  const auto t_calib = std::chrono::steady_clock::now();
  for (size_t k = 0; k < items.size(); ++k) {
    const std::vector<float> x = data->Load(items[k], config);
    const std::vector<int64_t> in_shape = {1, 3, config.input_h, config.input_w};
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
    if (tty)
      std::cerr << fmt::format("\reffi: calibrating {}/{}", k + 1, items.size()) << std::flush;
  }
  const double calib_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_calib).count();
  std::cerr << fmt::format(
      "{}effi: calibrated {} activations on {} of {} items of {} in {:.1f} s\n", tty ? "\r" : "",
      observers.size(), items.size(), data->size(), data->Describe(), calib_s);

  std::map<std::string, quant::QParams> params;
  std::map<std::string, quant::Range> ranges;
  for (const auto& [name, obs] : observers) {
    try {
      ranges[name] = obs.Compute();
    } catch (const Error& e) {
      throw Error(e.code(), fmt::format("activation '{}': {}", Printable(name), e.what()));
    }
    params[name] = quant::ActivationParams(ranges[name]);
  }
  std::map<std::string, int64_t> ranks;
  for (const std::string& name : plan.rank_probes) {
    const size_t at = slot.at(name);
    ranks[name] = at == SIZE_MAX ? static_cast<int64_t>(info.input.shape.size())
                                 : static_cast<int64_t>(model->outputs().at(at).shape.size());
  }
  const onnx_io::QdqReport report = onnx_io::WriteQdq(bytes, plan, params, ranks, o.out);
  const double total_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // Report: one row per Conv/Gemm/MatMul.
  std::map<std::string, const onnx_io::QdqLayerReport*> layer_of;
  for (const auto& l : report.layers) layer_of[l.name] = &l;
  const double ratio = static_cast<double>(report.bytes) / static_cast<double>(bytes.size());
  if (o.json) {
    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
    for (const onnx_io::QdqNode& q : plan.nodes) {
      nlohmann::ordered_json acts = nlohmann::ordered_json::array();
      std::vector<std::vector<int64_t>> in_shapes;
      for (const std::string& a : q.activations) {
        acts.push_back({{"name", a},
                        {"min", ranges.at(a).min},
                        {"max", ranges.at(a).max},
                        {"scale", params.at(a).scale},
                        {"zero_point", params.at(a).zero_point}});
        in_shapes.push_back(shapes[a]);
      }
      nlohmann::ordered_json row = {{"name", q.name}, {"op", q.op}};
      row["precision"] = q.quantized ? "int8" : "float";
      if (!q.quantized) row["why_float"] = q.why_float;
      if (q.quantized) row["macs"] = onnx_io::LayerMacs(q, in_shapes);
      row["activations"] = std::move(acts);
      if (auto it = layer_of.find(q.name); it != layer_of.end() && !q.weight.empty()) {
        row["weight_scale_min"] = it->second->weight_scale_min;
        row["weight_scale_max"] = it->second->weight_scale_max;
        row["bias_saturated"] = it->second->bias_saturated;
      }
      layers.push_back(std::move(row));
    }
    nlohmann::ordered_json doc = {
        {"model", o.model},
        {"out", o.out},
        {"observer", o.observer},
        {"calibration", {{"source", o.calib}, {"items", items.size()}, {"seconds", calib_s}}},
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
  std::vector<std::array<std::string, 6>> rows;
  rows.push_back({"layer", "op", "MACs", "activation scale/zp", "weight scale", "precision"});
  for (const onnx_io::QdqNode& q : plan.nodes) {
    std::string acts;
    std::vector<std::vector<int64_t>> in_shapes;
    for (const std::string& a : q.activations) {
      acts += fmt::format("{}{:.4g}/{}", acts.empty() ? "" : ", ", params.at(a).scale,
                          params.at(a).zero_point);
      in_shapes.push_back(shapes[a]);
    }
    std::string weights = q.quantized && q.weight.empty() ? "(activation)" : "-";
    if (auto it = layer_of.find(q.name); it != layer_of.end() && !q.weight.empty())
      weights =
          fmt::format("{:.3g}..{:.3g}", it->second->weight_scale_min, it->second->weight_scale_max);
    rows.push_back({Printable(q.name, 64), q.op,
                    q.quantized ? FormatMacs(onnx_io::LayerMacs(q, in_shapes)) : "-",
                    acts.empty() ? "-" : acts, weights,
                    q.quantized ? "int8" : "float (" + q.why_float + ")"});
  }
  std::array<size_t, 6> width{};
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
      "\n{} of {} Conv/Gemm/MatMul int8; {} QuantizeLinear, {} DequantizeLinear; opset {} -> {}\n"
      "wrote {} ({:.1f} MB, {:.2f}x the float model's {:.1f} MB) in {:.1f} s\n",
      report.layers.size(), plan.nodes.size(), report.quantize_nodes, report.dequantize_nodes,
      report.opset_in, report.opset_out, Printable(o.out, util::kMaxQuotedPath), report.bytes / 1e6,
      ratio, bytes.size() / 1e6, total_s);
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
  app->add_option("--out", o->out, "the quantized model to write")
      ->type_name("OUT.onnx")
      ->required();
  app->add_flag("--json", o->json, "print one JSON document instead of a table");
  AddPreprocessFlags(*app, &o->preprocess);
  AddPassesOption(*app, &o->passes)
      ->description(
          "graph passes for the calibration runs: all, none, or a list like all,-fuse_gelu");
  app->add_option("--threads", o->threads, "intra-op threads for the calibration runs")
      ->type_name("N")
      ->default_str("every CPU")
      ->check(CLI::Range(1, 256));
  AddMemoryLimitOption(*app, &o->memory_limit);
  app->footer(
      "Activations: u8 asymmetric per tensor (range widened to contain 0); weights: s8 symmetric\n"
      "per output channel; Conv/Gemm bias: s32 with scale s_x * s_w[c]. Preprocessing as classify\n"
      "(the model's 'preprocess' metadata, then flags). The output keeps the model's metadata.");
  return {app, [o] { return RunQuantize(*o); }};
}

}  // namespace effi::cli
