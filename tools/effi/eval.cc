// `effi eval`: top-1/top-5 accuracy of one or more classifiers on a labelled dataset (dataset.h),
// side by side, with each model's top-1 agreement and mean logit cosine against the first model.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "common.h"
#include "dataset.h"
#include "util/npy.h"
#include "util/text.h"

namespace effi::cli {
namespace {

struct EvalOptions {
  std::vector<std::string> models;
  std::string data;
  int64_t limit = 0;  // 0: every item
  int threads = DefaultThreads();
  bool json = false;
  std::string save_logits;
  std::string passes = "all";
  int64_t memory_limit = 0;
  PreprocessFlags preprocess;
};

// One model under evaluation and its running tallies.
struct Evaluated {
  std::string path;
  std::shared_ptr<Model> model;
  ClassifierInfo info;
  image::PreprocessConfig config;
  size_t input_slot = 0;  // which of the distinct preprocessings feeds it
  int64_t top1 = 0, top5 = 0, agree = 0;
  double cosine_sum = 0;
};

bool SamePreprocessing(const image::PreprocessConfig& a, const image::PreprocessConfig& b) {
  return a.input_h == b.input_h && a.input_w == b.input_w && a.crop_pct == b.crop_pct &&
         a.resize_h == b.resize_h && a.resize_w == b.resize_w && a.interp == b.interp &&
         a.antialias == b.antialias && a.mean == b.mean && a.std == b.std && a.bgr == b.bgr;
}

// Rank of class `label` in `row`: how many classes score higher, ties broken towards the lower
// index as classify's top-k does (0 = top-1).
size_t RankOf(const float* row, size_t n, size_t label) {
  size_t rank = 0;
  for (size_t j = 0; j < n; ++j) rank += row[j] > row[label] || (row[j] == row[label] && j < label);
  return rank;
}

size_t Argmax(const float* row, size_t n) {
  return static_cast<size_t>(std::max_element(row, row + n) - row);
}

// Cosine of two logit rows; exactly 1 for identical rows (a model listed twice), and clamped to
// [-1, 1] against rounding. A zero row is orthogonal to everything but another zero row.
double Cosine(const float* a, const float* b, size_t n) {
  if (std::memcmp(a, b, n * sizeof(float)) == 0) return 1.0;
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < n; ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  if (na == 0 || nb == 0) return na == nb ? 1.0 : 0.0;
  return std::clamp(dot / std::sqrt(na * nb), -1.0, 1.0);
}

// Display width of UTF-8 text (code points; enough to align paths).
size_t Utf8Width(const std::string& s) {
  size_t w = 0;
  for (unsigned char c : s) w += (c & 0xC0) != 0x80;
  return w;
}

std::string FormatTable(const std::vector<Evaluated>& models, size_t count,
                        const std::string& source) {
  std::vector<std::string> names;
  size_t width = 5;  // "model"
  for (const Evaluated& m : models) {
    names.push_back(Printable(m.path, util::kMaxQuotedPath));
    width = std::max(width, Utf8Width(names.back()));
  }
  const double n = static_cast<double>(count);
  std::string out = fmt::format("{} images from {}\n", count, source);
  out += fmt::format("{}{}  {:>7}  {:>7}  {:>8}  {:>9}  {:>12}\n", "model",
                     std::string(width - 5, ' '), "top-1 %", "top-5 %", "correct", "agree %",
                     "logit cosine");
  for (size_t k = 0; k < models.size(); ++k) {
    const Evaluated& m = models[k];
    out += fmt::format("{}{}  {:>7.2f}  {:>7.2f}  {:>8}  {:>9.2f}  {:>12.6f}\n", names[k],
                       std::string(width - Utf8Width(names[k]), ' '), 100.0 * m.top1 / n,
                       100.0 * m.top5 / n, m.top1, 100.0 * m.agree / n, m.cosine_sum / n);
  }
  return out;
}

std::string FormatJson(const std::vector<Evaluated>& models, size_t count) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  const double n = static_cast<double>(count);
  for (const Evaluated& m : models) {
    list.push_back({{"model", m.path},
                    {"top1", static_cast<double>(m.top1) / n},
                    {"top5", static_cast<double>(m.top5) / n},
                    {"correct", m.top1},
                    {"agreement", static_cast<double>(m.agree) / n},
                    {"logit_cosine", m.cosine_sum / n}});
  }
  nlohmann::ordered_json doc = {{"count", count}, {"results", std::move(list)}};
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

int RunEval(const EvalOptions& o) {
  // Models first: their labels name the class folders, their class count bounds the labels.
  std::vector<Evaluated> models;
  std::vector<image::PreprocessConfig> inputs;  // the distinct preprocessings
  ModelOptions model_options;
  model_options.passes = o.passes;
  model_options.memory_limit_bytes = o.memory_limit;
  for (const std::string& path : o.models) {
    CheckReadableFile(path, "model");
    Evaluated m;
    m.path = path;
    m.model = Model::Load(path, model_options);
    m.info = CheckClassifier(*m.model, path, "eval");
    m.config = ModelPreprocessing(*m.model, m.info, o.preprocess);
    m.input_slot = static_cast<size_t>(std::find_if(inputs.begin(), inputs.end(),
                                                    [&](const image::PreprocessConfig& c) {
                                                      return SamePreprocessing(c, m.config);
                                                    }) -
                                       inputs.begin());
    if (m.input_slot == inputs.size()) inputs.push_back(m.config);
    models.push_back(std::move(m));
  }
  const int64_t classes = models[0].info.classes;
  for (const Evaluated& m : models) {
    if (m.info.classes != classes && m.info.classes > 0 && classes > 0)
      throw Error(
          ErrorCode::kInvalidArgument,
          fmt::format("'{}' has {} classes but '{}' has {}: agreement needs the same classes",
                      Printable(m.path, util::kMaxQuotedPath), m.info.classes,
                      Printable(models[0].path, util::kMaxQuotedPath), classes));
  }

  DatasetOptions data_options;
  data_options.require_labels = true;
  data_options.class_names = models[0].info.labels;
  const std::unique_ptr<Dataset> data = OpenDataset(o.data, data_options);
  const size_t count =
      o.limit > 0 ? std::min(data->size(), static_cast<size_t>(o.limit)) : data->size();
  // Labels are checked against the class count before anything runs (a dynamic class count is
  // checked per output below).
  for (size_t i = 0; i < count && classes > 0; ++i) {
    if (data->label(i) >= classes)
      throw Error(
          ErrorCode::kInvalidArgument,
          fmt::format("label {} of {} is out of range: the model has {} classes", data->label(i),
                      Printable(data->name(i), util::kMaxQuotedPath), classes));
  }

  // Images are spread over --threads workers, each with its own session per model (one intra-op
  // thread each): at batch 1 on 96x96 inputs the per-op fork-join of a 2-thread session cost more
  // than it saved (measured 54 vs 112 images/s on a busy 2-core VM), while whole images scale.
  // Per-image results are stored and reduced in image order, so the numbers do not depend on
  // the scheduling.
  struct ItemResult {
    size_t rank = 0;    // of the true label in this model's output
    size_t argmax = 0;  // equal to the first model's: agreement
    double cosine = 0;  // with the first model's output
  };
  std::vector<ItemResult> results(count * models.size());
  std::vector<std::vector<float>> saved(o.save_logits.empty() ? 0 : count);
  auto evaluate = [&](size_t i, std::vector<Session>& sessions) {
    std::vector<std::vector<float>> x(inputs.size());
    for (size_t s = 0; s < inputs.size(); ++s) x[s] = data->Load(i, inputs[s]);
    const auto label = static_cast<size_t>(data->label(i));
    std::vector<float> reference;  // the first model's output for this image
    for (size_t k = 0; k < models.size(); ++k) {
      const Evaluated& m = models[k];
      const image::PreprocessConfig& c = m.config;
      Tensor t = Tensor::Float({1, 3, c.input_h, c.input_w}, x[m.input_slot]);
      const Tensor out = sessions[k].Run({{m.info.input.name, std::move(t)}}).at(0);
      const auto n = static_cast<size_t>(out.elements());
      if (out.type != ElementType::kFloat32 || out.shape.empty() || out.shape[0] != 1 || n == 0 ||
          (k > 0 && n != reference.size()))
        throw Error(
            ErrorCode::kUnsupported,
            fmt::format(
                "'{}' gave output {} {} for one image{}", Printable(m.path, util::kMaxQuotedPath),
                ElementTypeName(out.type), ShapeString(out.shape),
                k > 0 ? fmt::format(" ({} classes expected)", reference.size()) : std::string()));
      const float* row = out.floats();
      if (label >= n)
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("label {} of {} is out of range: the model has {} classes", label,
                                Printable(data->name(i), util::kMaxQuotedPath), n));
      if (!std::all_of(row, row + n, [](float v) { return std::isfinite(v); }))
        throw Error(ErrorCode::kInternal,
                    fmt::format("'{}' gave a non-finite output for {}",
                                Printable(m.path, util::kMaxQuotedPath),
                                Printable(data->name(i), util::kMaxQuotedPath)));
      if (k == 0) {
        reference.assign(row, row + n);
        if (!saved.empty()) saved[i] = reference;
      }
      results[i * models.size() + k] = {RankOf(row, n, label), Argmax(row, n),
                                        Cosine(row, reference.data(), n)};
    }
  };
  // The error reported is that of the first failing image, whatever the scheduling (ForEachItem).
  Progress progress("eval", count);
  std::vector<std::vector<Session>> sessions(
      std::min<size_t>(static_cast<size_t>(o.threads), count));
  try {
    ForEachItem(
        count, sessions.size(),
        [&](size_t w) {
          for (const Evaluated& m : models) sessions[w].emplace_back(m.model);
        },
        [&](size_t i, size_t w) { evaluate(i, sessions[w]); },
        [&](size_t done) { progress.Update(done); });
  } catch (...) {
    progress.Clear();
    throw;
  }
  progress.Clear();
  const double elapsed = progress.Seconds();
  std::cerr << fmt::format("effi: eval: {} images x {} model{} in {:.1f} s ({:.1f} images/s)\n",
                           count, models.size(), models.size() == 1 ? "" : "s", elapsed,
                           elapsed > 0 ? static_cast<double>(count) / elapsed : 0.0);
  for (size_t k = 0; k < models.size(); ++k) {
    Evaluated& m = models[k];
    for (size_t i = 0; i < count; ++i) {
      const ItemResult& r = results[i * models.size() + k];
      m.top1 += r.rank == 0;
      m.top5 += r.rank < 5;
      m.agree += r.argmax == results[i * models.size()].argmax;
      m.cosine_sum += r.cosine;
    }
  }
  if (!o.save_logits.empty()) {
    std::vector<float> rows;
    for (const std::vector<float>& row : saved) rows.insert(rows.end(), row.begin(), row.end());
    npy::SaveF32(o.save_logits, rows.data(),
                 {static_cast<int64_t>(count), static_cast<int64_t>(saved[0].size())});
  }

  const std::string out =
      o.json ? FormatJson(models, count) : FormatTable(models, count, data->Describe());
  std::cout << out << std::flush;
  return kExitOk;
}

}  // namespace

Command AddEvalCommand(CLI::App& parent) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* app = parent.add_subcommand(
      "eval", "Top-1/top-5 accuracy of models on a labelled dataset, side by side");
  app->add_option("MODEL", o->models,
                  "ONNX classifiers; agreement and logit cosine are against the first")
      ->required();
  app->add_option("--data", o->data, std::string("the labelled set: ") + kDatasetForms)
      ->type_name("SRC")
      ->required();
  app->add_option("--limit", o->limit, "evaluate only the first N items")
      ->type_name("N")
      ->default_str("all")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  app->add_option("--threads", o->threads, "images evaluated in parallel (one thread each)")
      ->type_name("N")
      ->default_str(fmt::format("{} (the CPU count)", DefaultThreads()))
      ->check(CLI::Range(1, 256));
  app->add_flag("--json", o->json, "print one JSON document instead of a table");
  app->add_option("--save-logits", o->save_logits,
                  "write the first model's outputs [N, classes] as float32")
      ->type_name("FILE.npy");
  AddPreprocessFlags(*app, &o->preprocess);
  AddPassesOption(*app, &o->passes);
  AddMemoryLimitOption(*app, &o->memory_limit);
  app->footer(
      "Each model is fed its own preprocessing (its 'preprocess' metadata, else timm's defaults\n"
      "at its input size; flags override both) of every image, one image at a time. IDX gray\n"
      "images are replicated to RGB first. A class folder is the class whose label (the first\n"
      "model's 'labels' metadata) is its name, else the class index it names ('7'). .npy inputs\n"
      "are fed as stored: X.npy [N,3,H,W] float32, labels int64/int32 [N] in X_labels.npy, else\n"
      "labels.npy. agreement: top-1 equal to the first model's; logit cosine: mean cosine of the\n"
      "output rows with the first model's (1 for itself).");
  return {app, [o] { return RunEval(*o); }};
}

}  // namespace effi::cli
