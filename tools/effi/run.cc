// `effi run`: feed raw .npy tensors to any model, write its outputs as .npy files, print them
// (--print) and compare them with reference .npy files (--compare).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
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
  bool print = false;
  std::vector<std::string> compare;  // [NAME=]REF.npy
  double tol = 1e-4;
};

// --print summarises as numpy does with np.set_printoptions(threshold=100): arrays of more than
// kPrintThreshold elements show kEdgeItems items at each end of every axis, rows wrap at
// kLineWidth columns. numpy's default threshold (1000) would print all of a 1000-class output,
// ~100 lines, where the point of --print is a glance; --json gives every value.
constexpr size_t kPrintThreshold = 100;
constexpr int64_t kEdgeItems = 3;
constexpr size_t kLineWidth = 75;

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

// NAME=FILE (or FILE alone: `name` left empty) as --input and --compare take them.
std::vector<std::pair<std::string, std::string>> ParseBindings(const std::vector<std::string>& args,
                                                               const char* flag) {
  std::vector<std::pair<std::string, std::string>> bindings;
  for (const std::string& arg : args) {
    const size_t eq = arg.find('=');
    if (eq == std::string::npos) {
      bindings.emplace_back("", arg);
    } else {
      if (eq == 0 || eq + 1 == arg.size())
        throw UsageError(fmt::format("{}: expected NAME=FILE.npy or FILE.npy, got '{}'", flag,
                                     Printable(arg, util::kMaxQuotedPath)));
      bindings.emplace_back(arg.substr(0, eq), arg.substr(eq + 1));
    }
  }
  return bindings;
}

// Every element as a double (float32, the integer types and bool; what npy and outputs hold).
std::vector<double> AsDoubles(const std::string& dtype, const std::vector<uint8_t>& bytes,
                              const std::string& what) {
  auto convert = [&](auto zero) {
    using T = decltype(zero);
    std::vector<double> out(bytes.size() / sizeof(T));
    for (size_t i = 0; i < out.size(); ++i) {
      T v;
      std::memcpy(&v, bytes.data() + i * sizeof(T), sizeof(T));
      out[i] = static_cast<double>(v);
    }
    return out;
  };
  if (dtype == "float32") return convert(float{});
  if (dtype == "int64") return convert(int64_t{});
  if (dtype == "int32") return convert(int32_t{});
  if (dtype == "int8") return convert(int8_t{});
  if (dtype == "uint8" || dtype == "bool") return convert(uint8_t{});
  throw Error(ErrorCode::kUnsupported,
              fmt::format("{}: cannot read {} values", what, Printable(dtype)));
}

std::string FormatValue(double v, const std::string& dtype) {
  if (dtype == "bool") return v != 0 ? "True" : "False";
  if (dtype != "float32") return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{:.7g}", v);  // float32 carries 7 significant digits
}

// `values` of `shape` as numpy prints them: nested brackets, a row per innermost axis, columns
// aligned, "..." for the middle of long axes when there are over kPrintThreshold values.
std::string FormatValues(const std::vector<double>& values, const std::vector<int64_t>& shape,
                         const std::string& dtype) {
  if (shape.empty()) return values.empty() ? "[]" : FormatValue(values[0], dtype);
  const bool summarise = values.size() > kPrintThreshold;
  const size_t rank = shape.size();
  std::vector<int64_t> strides(rank, 1);
  for (size_t d = rank - 1; d > 0; --d) strides[d - 1] = strides[d] * shape[d];
  // Which indices of an axis are shown (-1: the "..." marker).
  auto shown = [&](int64_t n) {
    std::vector<int64_t> idx;
    if (summarise && n > 2 * kEdgeItems) {
      for (int64_t i = 0; i < kEdgeItems; ++i) idx.push_back(i);
      idx.push_back(-1);
      for (int64_t i = n - kEdgeItems; i < n; ++i) idx.push_back(i);
    } else {
      for (int64_t i = 0; i < n; ++i) idx.push_back(i);
    }
    return idx;
  };
  // Pad every shown value to the widest one, as numpy does.
  size_t width = 0;
  std::function<void(size_t, int64_t)> measure = [&](size_t d, int64_t offset) {
    for (int64_t i : shown(shape[d])) {
      if (i < 0) continue;
      if (d + 1 == rank)
        width = std::max(width, FormatValue(values[static_cast<size_t>(offset + i)], dtype).size());
      else
        measure(d + 1, offset + i * strides[d]);
    }
  };
  measure(0, 0);
  std::function<std::string(size_t, int64_t)> format = [&](size_t d, int64_t offset) {
    std::string out = "[";
    const std::string sep =
        d + 1 == rank ? ", " : "," + std::string(rank - d - 1, '\n') + std::string(d + 1, ' ');
    size_t column = d + 1;  // where the innermost row's next item starts
    bool first = true;
    for (int64_t i : shown(shape[d])) {
      std::string item;
      if (i < 0)
        item = "...";
      else if (d + 1 == rank)
        item = fmt::format("{:>{}}", FormatValue(values[static_cast<size_t>(offset + i)], dtype),
                           width);
      else
        item = format(d + 1, offset + i * strides[d]);
      if (!first && d + 1 == rank && column + 2 + item.size() + 2 > kLineWidth) {
        out += ",\n" + std::string(d + 1, ' ');  // wrap the row
        column = d + 1;
      } else if (!first) {
        out += sep;
        column += sep.size();
      }
      first = false;
      out += item;
      column += item.size();
    }
    return out + "]";
  };
  return format(0, 0);
}

// An output against its reference (--compare).
struct Comparison {
  std::string file;
  double max_abs = 0;  // max |out - ref|
  double max_rel = 0;  // max |out - ref| / |ref| over the elements where ref != 0
  int64_t rows = -1;   // 2-D outputs: rows compared by argmax, and how many agree
  int64_t top1_agree = -1;
  bool ok = true;  // max_abs <= --tol
};

// Element-wise differences: NaN in both at the same place counts as equal, NaN in one only (or an
// infinity not matched exactly) as an infinite difference, so a broken output never passes.
Comparison Compare(const std::vector<double>& out, const std::vector<double>& ref,
                   const std::vector<int64_t>& shape, double tol) {
  Comparison c;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < out.size(); ++i) {
    const double a = out[i], b = ref[i];
    double diff = std::fabs(a - b);
    if (std::isnan(a) || std::isnan(b))
      diff = std::isnan(a) && std::isnan(b) ? 0 : kInf;
    else if (a == b)
      diff = 0;  // equal infinities
    c.max_abs = std::max(c.max_abs, diff);
    if (b != 0 && !std::isnan(b)) c.max_rel = std::max(c.max_rel, diff / std::fabs(b));
  }
  if (shape.size() == 2 && shape[1] > 0) {
    c.rows = shape[0];
    c.top1_agree = 0;
    const auto cols = static_cast<size_t>(shape[1]);
    for (size_t r = 0; r < static_cast<size_t>(shape[0]); ++r) {
      const auto a = out.begin() + static_cast<std::ptrdiff_t>(r * cols);
      const auto b = ref.begin() + static_cast<std::ptrdiff_t>(r * cols);
      c.top1_agree += std::max_element(a, a + static_cast<std::ptrdiff_t>(cols)) - a ==
                      std::max_element(b, b + static_cast<std::ptrdiff_t>(cols)) - b;
    }
  }
  c.ok = c.max_abs <= tol;
  return c;
}

// JSON has no NaN or infinity: such a statistic is written as null.
nlohmann::ordered_json JsonNumber(double v) {
  return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json();
}

// A count that only some outputs have (-1: none): null in JSON.
nlohmann::ordered_json OptionalCount(int64_t n) {
  return n < 0 ? nlohmann::ordered_json() : nlohmann::ordered_json(n);
}

int RunRun(const RunOptions& o) {
  // Parse the bindings before loading anything: NAME=FILE, or FILE alone for a one-input model
  // (--input) or output 0 (--compare).
  std::vector<std::pair<std::string, std::string>> bindings = ParseBindings(o.inputs, "--input");
  const std::vector<std::pair<std::string, std::string>> compare_bindings =
      ParseBindings(o.compare, "--compare");

  CheckReadableFile(o.model, "model");
  ModelOptions model_options;
  model_options.passes = o.passes;
  model_options.memory_limit_bytes = o.memory_limit;
  std::shared_ptr<Model> model;
  {
    const ElapsedNotice notice("loading " + fs::path(o.model).filename().string());
    model = Model::Load(o.model, model_options);
  }

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

  // References are read before the run, so a bad one fails at once: output index -> array.
  std::map<size_t, std::pair<std::string, npy::Array>> refs;
  for (const auto& [name, file] : compare_bindings) {
    size_t index = 0;
    if (!name.empty()) {
      index = model->outputs().size();
      for (size_t i = 0; i < model->outputs().size(); ++i)
        if (model->outputs()[i].name == name) index = i;
      if (index == model->outputs().size()) {
        std::string names;
        for (const TensorInfo& t : model->outputs())
          names += (names.empty() ? "'" : ", '") + Printable(t.name) + "'";
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("--compare: model has no output named '{}' (outputs: {})",
                                Printable(name), names));
      }
    }
    if (refs.count(index))
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("--compare: output '{}' given twice",
                              Printable(model->outputs()[index].name)));
    CheckReadableFile(file, "reference");
    refs[index] = {file, npy::Load(file)};
  }

  std::vector<Tensor> outputs;
  {
    const ElapsedNotice notice("running " + fs::path(o.model).filename().string());
    Session session(model);
    outputs = session.Run(feeds);
  }

  std::map<size_t, Comparison> comparisons;
  std::vector<std::vector<double>> values(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const auto ref = refs.find(i);
    if (!o.print && ref == refs.end()) continue;
    const std::string name = Printable(model->outputs()[i].name);
    values[i] = AsDoubles(ElementTypeName(outputs[i].type), outputs[i].bytes,
                          fmt::format("output '{}'", name));
    if (ref == refs.end()) continue;
    const auto& [file, array] = ref->second;
    if (array.shape != outputs[i].shape)
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("--compare: output '{}' is {} but '{}' holds {}", name,
                              ShapeString(outputs[i].shape), Printable(file, util::kMaxQuotedPath),
                              ShapeString(array.shape)));
    const std::vector<double> want = AsDoubles(
        array.dtype, array.bytes, fmt::format("'{}'", Printable(file, util::kMaxQuotedPath)));
    comparisons[i] = Compare(values[i], want, outputs[i].shape, o.tol);
    comparisons[i].file = file;
  }

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
      // --print: every value, row-major (JSON is for programs: no summarising; NaN/inf as null).
      if (o.print) {
        nlohmann::ordered_json v = nlohmann::ordered_json::array();
        for (const double x : values[i]) v.push_back(JsonNumber(x));
        e["values"] = std::move(v);
      }
      if (const auto c = comparisons.find(i); c != comparisons.end()) {
        const Comparison& k = c->second;
        e["compare"] = {{"file", k.file},
                        {"max_abs_diff", JsonNumber(k.max_abs)},
                        {"max_rel_diff", JsonNumber(k.max_rel)},
                        {"rows", OptionalCount(k.rows)},
                        {"top1_agree", OptionalCount(k.top1_agree)},
                        {"tol", o.tol},
                        {"ok", k.ok}};
      }
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
      if (o.print)
        std::cout << FormatValues(values[i], outputs[i].shape, ElementTypeName(outputs[i].type))
                  << "\n";
      if (const auto c = comparisons.find(i); c != comparisons.end()) {
        const Comparison& k = c->second;
        std::cout << fmt::format(
            "  vs {}: max abs diff {:.3g}, max rel diff {:.3g}{}: {} (--tol {:g})\n",
            Printable(k.file, util::kMaxQuotedPath), k.max_abs, k.max_rel,
            k.rows < 0 ? std::string()
                       : fmt::format(", top-1 agreement {}/{} rows", k.top1_agree, k.rows),
            k.ok ? "ok" : "DIFFERENT", o.tol);
      }
    }
  }
  std::cout.flush();
  // A comparison over the tolerance fails the command (after the report): the first such output.
  for (const auto& [i, c] : comparisons) {
    if (c.ok) continue;
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("output '{}' differs from '{}' by up to {:.3g}, over --tol {:g}",
                            Printable(model->outputs()[i].name),
                            Printable(c.file, util::kMaxQuotedPath), c.max_abs, o.tol));
  }
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
  app->add_flag("--print", o->print,
                "print the output values (over 100 values: the first and last 3 of each axis, "
                "as numpy does; with --json every value)");
  app->add_option("--compare", o->compare,
                  "compare output 0 (or output NAME) with a reference: max abs/rel diff and, for "
                  "2-D outputs, top-1 agreement per row; exit 1 when over --tol (repeatable)")
      ->type_name("[NAME=]REF.npy")
      ->allow_extra_args(false);
  app->add_option("--tol", o->tol, "largest max abs diff --compare accepts")
      ->type_name("T")
      ->capture_default_str()
      ->check(FiniteNumber())
      ->check(CLI::Range(0.0, 1e30));
  return {app, [o] { return RunRun(*o); }};
}

}  // namespace effi::cli
