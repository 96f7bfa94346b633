// `effi inspect`: what a model is (inputs, outputs, opset, metadata) and what effi makes of it
// (parameters, MACs and their int8 share, planned activation memory, op histograms before/after
// passes, rewrites).
#include <fmt/format.h>

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "common.h"
#include "util/text.h"

namespace effi::cli {
namespace {

struct InspectOptions {
  std::string model;
  bool json = false;
  int64_t batch = 1;
  std::string passes = "all";
  int64_t memory_limit = 0;  // --memory-limit; 0 = EFFI_MEMORY_LIMIT / default
};

nlohmann::ordered_json TensorsJson(const std::vector<TensorInfo>& tensors) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const TensorInfo& t : tensors) {
    list.push_back({{"name", t.name}, {"dtype", ElementTypeName(t.type)}, {"shape", t.shape}});
  }
  return list;
}

std::string TensorsText(const std::vector<TensorInfo>& tensors, const std::string& indent,
                        size_t width) {
  std::string out;
  for (size_t i = 0; i < tensors.size(); ++i) {
    out += fmt::format("{}{:<{}}  {:<7}  {}\n", i ? indent : "", Printable(tensors[i].name), width,
                       ElementTypeName(tensors[i].type), ShapeString(tensors[i].shape));
  }
  return tensors.empty() ? "(none)\n" : out;
}

int RunInspect(const InspectOptions& o) {
  CheckReadableFile(o.model, "model");
  ModelOptions model_options;
  model_options.passes = o.passes;
  model_options.memory_limit_bytes = o.memory_limit;
  std::shared_ptr<Model> model = Model::Load(o.model, model_options);
  const ModelStats st = model->Stats(o.batch);

  std::vector<std::string> metadata_keys;
  for (const auto& [key, value] : model->metadata()) metadata_keys.push_back(key);

  if (o.json) {
    nlohmann::ordered_json doc;
    doc["inputs"] = TensorsJson(model->inputs());
    doc["outputs"] = TensorsJson(model->outputs());
    doc["opset"] = model->opset();
    doc["metadata"] = metadata_keys;
    doc["batch"] = o.batch;
    doc["parameters"] = st.parameters;
    doc["macs"] = st.macs;
    doc["macs_by_precision"] = {{"int8", st.macs_int8}, {"float32", st.macs - st.macs_int8}};
    doc["peak_activation_bytes"] = st.peak_activation_bytes;
    doc["ops_imported"] = st.ops_imported;
    doc["ops_optimized"] = st.ops_optimized;
    nlohmann::ordered_json passes = nlohmann::ordered_json::object();
    for (const auto& [name, count] : st.pass_rewrites) passes[name] = count;
    doc["passes"] = std::move(passes);
    std::cout << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    std::cout.flush();
    return kExitOk;
  }

  const std::string indent(13, ' ');
  std::string out;
  auto row = [&](const char* key, const std::string& value) {
    out += fmt::format("{:<13}{}\n", key, value);
  };
  // Names, metadata keys and op types come from the model: escaped (the JSON output is escaped
  // by the JSON library instead).
  row("Model", Printable(o.model, util::kMaxQuotedPath));
  row("Opset", std::to_string(model->opset()));
  size_t name_width = 0;
  for (const auto* list : {&model->inputs(), &model->outputs()})
    for (const TensorInfo& t : *list) name_width = std::max(name_width, Printable(t.name).size());
  out += fmt::format("{:<13}{}", "Inputs", TensorsText(model->inputs(), indent, name_width));
  out += fmt::format("{:<13}{}", "Outputs", TensorsText(model->outputs(), indent, name_width));
  std::string keys;
  for (const std::string& k : metadata_keys) keys += (keys.empty() ? "" : ", ") + Printable(k);
  row("Metadata", keys.empty() ? "(none)" : keys);
  row("Parameters", Thousands(st.parameters));
  row("MACs", fmt::format("{} ({:.3f} GMACs) at batch {}", Thousands(st.macs),
                          static_cast<double>(st.macs) / 1e9, o.batch));
  row("MACs int8", fmt::format("{} ({:.1f} %)", Thousands(st.macs_int8),
                               st.macs > 0 ? 100.0 * static_cast<double>(st.macs_int8) /
                                                 static_cast<double>(st.macs)
                                           : 0.0));
  row("Activations",
      fmt::format("{:.2f} MiB peak (planned arena, batch {})",
                  static_cast<double>(st.peak_activation_bytes) / (1024.0 * 1024.0), o.batch));

  // Op histogram: one row per op type, as in the file and after passes.
  std::set<std::string> ops;
  int total_imported = 0, total_optimized = 0;
  std::map<std::string, int> imported, optimized;  // by escaped op type
  for (const auto& [op, n] : st.ops_imported) imported[Printable(op)] += n;
  for (const auto& [op, n] : st.ops_optimized) optimized[Printable(op)] += n;
  for (const auto& [op, n] : imported) ops.insert(op), total_imported += n;
  for (const auto& [op, n] : optimized) ops.insert(op), total_optimized += n;
  size_t width = 5;
  for (const std::string& op : ops) width = std::max(width, op.size());
  out += fmt::format("\n{:<{}}  {:>6}  {:>9}\n", "Ops", width + 2, "file", "optimized");
  auto count = [](const std::map<std::string, int>& m, const std::string& op) {
    auto it = m.find(op);
    return it == m.end() ? std::string("-") : std::to_string(it->second);
  };
  for (const std::string& op : ops) {
    out += fmt::format("  {:<{}}  {:>6}  {:>9}\n", op, width, count(imported, op),
                       count(optimized, op));
  }
  out += fmt::format("  {:<{}}  {:>6}  {:>9}\n", "total", width, total_imported, total_optimized);

  out += fmt::format("\nPasses ({})\n", o.passes);
  size_t pass_width = 0;
  for (const auto& [name, n] : st.pass_rewrites) pass_width = std::max(pass_width, name.size());
  for (const auto& [name, n] : st.pass_rewrites)
    out += fmt::format("  {:<{}}  {:>5} rewrite{}\n", name, pass_width, n, n == 1 ? "" : "s");
  if (st.pass_rewrites.empty()) out += "  (none enabled)\n";
  std::cout << out;
  std::cout.flush();
  return kExitOk;
}

}  // namespace

Command AddInspectCommand(CLI::App& parent) {
  auto o = std::make_shared<InspectOptions>();
  CLI::App* app = parent.add_subcommand(
      "inspect", "Show a model's inputs/outputs, parameters, MACs, memory and ops");
  app->add_option("MODEL", o->model, "ONNX model")->required();
  app->add_flag("--json", o->json, "print one JSON object");
  app->add_option("--batch", o->batch, "batch size for MACs and memory (dynamic-batch models)")
      ->type_name("N")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{65536}));
  AddPassesOption(*app, &o->passes);
  AddMemoryLimitOption(*app, &o->memory_limit);
  return {app, [o] { return RunInspect(*o); }};
}

}  // namespace effi::cli
