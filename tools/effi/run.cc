// `effi run`: feed raw .npy tensors to any model and write its outputs as .npy files.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "common.h"
#include "util/npy.h"
#include "util/text.h"

namespace effi::cli {
namespace {

namespace fs = std::filesystem;

struct RunOptions {
  std::string model;
  std::vector<std::string> inputs;
  std::string output;
  std::string output_dir;
  std::string passes = "all";
  int64_t memory_limit = 0;  // --memory-limit; 0 = EFFI_MEMORY_LIMIT / default
  bool json = false;
};

ElementType FromNpyDtype(const std::string& dtype) {
  if (dtype == "float32") return ElementType::kFloat32;
  if (dtype == "int64") return ElementType::kInt64;
  if (dtype == "int32") return ElementType::kInt32;
  if (dtype == "uint8") return ElementType::kUInt8;
  if (dtype == "bool") return ElementType::kBool;
  return ElementType::kUndefined;
}

// A file name for an output: [A-Za-z0-9._-] kept, everything else '_', never empty or dot-only.
std::string Sanitize(const std::string& name, size_t index) {
  std::string s;
  for (char c : name) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
    s += keep ? c : '_';
  }
  if (s.find_first_not_of('.') == std::string::npos) s = fmt::format("output_{}", index);
  return s;
}

int RunRun(const RunOptions& o) {
  // Parse the bindings before loading anything: NAME=FILE, or FILE alone for a one-input model.
  std::vector<std::pair<std::string, std::string>> bindings;  // name ("" = the only input), file
  for (const std::string& arg : o.inputs) {
    const size_t eq = arg.find('=');
    if (eq == std::string::npos) {
      bindings.emplace_back("", arg);
    } else {
      if (eq == 0 || eq + 1 == arg.size())
        throw UsageError(fmt::format("--input: expected NAME=FILE.npy or FILE.npy, got '{}'", arg));
      bindings.emplace_back(arg.substr(0, eq), arg.substr(eq + 1));
    }
  }

  CheckReadableFile(o.model, "model");
  ModelOptions model_options;
  model_options.passes = o.passes;
  model_options.memory_limit_bytes = o.memory_limit;
  std::shared_ptr<Model> model = Model::Load(o.model, model_options);

  auto input_names = [&] {
    std::string names;
    for (const TensorInfo& i : model->inputs())
      names += (names.empty() ? "'" : ", '") + Printable(i.name) + "'";
    return names;
  };
  std::vector<std::pair<std::string, Tensor>> feeds;
  std::set<std::string> seen;
  for (auto& [name, file] : bindings) {
    if (name.empty()) {
      if (model->inputs().size() != 1) {
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("--input {}: the model has {} inputs ({}); use --input NAME=FILE",
                                Printable(file, util::kMaxQuotedPath), model->inputs().size(),
                                input_names()));
      }
      name = model->inputs()[0].name;
    }
    const TensorInfo* info = nullptr;
    for (const TensorInfo& i : model->inputs())
      if (i.name == name) info = &i;
    if (!info) {
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("model has no input named '{}' (inputs: {})", Printable(name),
                              input_names()));
    }
    if (!seen.insert(name).second)
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("input '{}' given twice", Printable(name)));
    CheckReadableFile(file, "input");
    npy::Array a = npy::Load(file);
    const ElementType type = FromNpyDtype(a.dtype);
    if (type != info->type) {
      throw Error(
          ErrorCode::kInvalidArgument,
          fmt::format("input '{}' must be {}, but '{}' holds {}", Printable(name),
                      ElementTypeName(info->type), Printable(file, util::kMaxQuotedPath), a.dtype));
    }
    Tensor t;
    t.type = type;
    t.shape = std::move(a.shape);
    t.bytes = std::move(a.bytes);
    feeds.emplace_back(name, std::move(t));
  }

  Session session(model);
  std::vector<Tensor> outputs = session.Run(feeds);

  // Where each output goes.
  std::vector<std::string> files(outputs.size());
  if (!o.output.empty() && !outputs.empty()) files[0] = o.output;
  if (!o.output_dir.empty()) {
    std::error_code ec;
    fs::create_directories(o.output_dir, ec);
    if (ec || !fs::is_directory(o.output_dir))
      throw Error(ErrorCode::kIo, fmt::format("cannot create output directory '{}'", o.output_dir));
    std::set<std::string> used;
    for (size_t i = 0; i < outputs.size(); ++i) {
      std::string base = Sanitize(model->outputs()[i].name, i);
      std::string name = base;
      for (int k = 1; !used.insert(name).second; ++k) name = fmt::format("{}_{}", base, k);
      files[i] = (fs::path(o.output_dir) / (name + ".npy")).string();
    }
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (files[i].empty()) continue;
    npy::Array a;
    a.dtype = ElementTypeName(outputs[i].type);
    a.shape = outputs[i].shape;
    a.bytes = outputs[i].bytes;
    npy::Save(files[i], a);
  }

  if (o.json) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (size_t i = 0; i < outputs.size(); ++i) {
      nlohmann::ordered_json e = {{"name", model->outputs()[i].name},
                                  {"dtype", ElementTypeName(outputs[i].type)},
                                  {"shape", outputs[i].shape}};
      e["file"] = files[i].empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(files[i]);
      list.push_back(std::move(e));
    }
    nlohmann::ordered_json doc = {{"outputs", std::move(list)}};
    std::cout << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    size_t width = 0;
    // Output names come from the model: escaped (the JSON output escapes them itself).
    for (const TensorInfo& t : model->outputs()) width = std::max(width, Printable(t.name).size());
    for (size_t i = 0; i < outputs.size(); ++i) {
      std::cout << fmt::format(
          "{:<{}}  {:<7}  {}{}\n", Printable(model->outputs()[i].name), width,
          ElementTypeName(outputs[i].type), ShapeString(outputs[i].shape),
          files[i].empty() ? "" : "  -> " + Printable(files[i], util::kMaxQuotedPath));
    }
  }
  std::cout.flush();
  return kExitOk;
}

}  // namespace

Command AddRunCommand(CLI::App& parent) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* app = parent.add_subcommand("run", "Run a model on raw .npy tensors");
  app->add_option("MODEL", o->model, "ONNX model")->required();
  app->add_option("--input,-i", o->inputs,
                  "input tensor; NAME= may be omitted for a one-input model (repeatable)")
      ->type_name("NAME=FILE.npy")
      ->required()
      ->allow_extra_args(false);
  auto* out =
      app->add_option("--output,-o", o->output, "write output 0 here")->type_name("FILE.npy");
  app->add_option("--output-dir", o->output_dir, "write every output as DIR/<name>.npy")
      ->type_name("DIR")
      ->excludes(out);
  AddPassesOption(*app, &o->passes);
  AddMemoryLimitOption(*app, &o->memory_limit);
  app->add_flag("--json", o->json, "print the outputs as JSON");
  return {app, [o] { return RunRun(*o); }};
}

}  // namespace effi::cli
