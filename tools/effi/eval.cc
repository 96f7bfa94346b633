// `effi eval`: top-1/top-5 accuracy of one or more classifiers on a labelled dataset (dataset.h),
// side by side, with each model's top-1 agreement and mean logit cosine against the first model.
// The evaluation is the library's (src/api/eval.cc, effi::Evaluate); this file is the flags, the
// progress line and the table / JSON / .npy output.
#include "api/eval.h"

#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "common.h"
#include "preprocess_flags.h"
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

// Display width of UTF-8 text (code points; enough to align paths).
size_t Utf8Width(const std::string& s) {
  size_t w = 0;
  for (unsigned char c : s) w += (c & 0xC0) != 0x80;
  return w;
}

std::string FormatTable(const std::vector<api::EvalTally>& models, size_t count,
                        const std::string& source) {
  std::vector<std::string> names;
  size_t width = 5;  // "model"
  for (const api::EvalTally& m : models) {
    names.push_back(Printable(m.model, util::kMaxQuotedPath));
    width = std::max(width, Utf8Width(names.back()));
  }
  const double n = static_cast<double>(count);
  std::string out = fmt::format("{} images from {}\n", count, source);
  out += fmt::format("{}{}  {:>7}  {:>7}  {:>8}  {:>9}  {:>12}\n", "model",
                     std::string(width - 5, ' '), "top-1 %", "top-5 %", "correct", "agree %",
                     "logit cosine");
  for (size_t k = 0; k < models.size(); ++k) {
    const api::EvalTally& m = models[k];
    out += fmt::format("{}{}  {:>7.2f}  {:>7.2f}  {:>8}  {:>9.2f}  {:>12.6f}\n", names[k],
                       std::string(width - Utf8Width(names[k]), ' '), 100.0 * m.top1 / n,
                       100.0 * m.top5 / n, m.top1, 100.0 * m.agree / n, m.cosine_sum / n);
  }
  return out;
}

std::string FormatJson(const std::vector<api::EvalTally>& models, size_t count) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  const double n = static_cast<double>(count);
  for (const api::EvalTally& m : models) {
    list.push_back({{"model", m.model},
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
  // The library's evaluation (api/eval.h), with each model's preprocessing from its metadata and
  // the flags that were given, the CLI's messages ("eval needs ..."), its progress line and output.
  api::EvalSpec spec;
  spec.models = o.models;
  spec.data = o.data;
  spec.limit = o.limit;
  spec.threads = static_cast<size_t>(o.threads);
  spec.model.passes = o.passes;
  spec.model.memory_limit_bytes = o.memory_limit;
  spec.preprocessing = [&](const Model& model, const ClassifierInfo& info, const std::string&) {
    return ModelPreprocessing(model, info, o.preprocess);
  };
  spec.keep_logits = !o.save_logits.empty();
  spec.who = "eval";
  std::optional<Progress> progress;  // from the first image on: loading is not part of the rate
  spec.progress = [&](size_t done, size_t total) {
    if (!progress) progress.emplace("eval", total);
    if (done > 0) progress->Update(done);  // (0, total) only starts the clock
  };
  api::EvalOutcome outcome;
  try {
    outcome = api::RunEvaluation(spec);
  } catch (...) {
    if (progress) progress->Clear();
    throw;
  }
  if (progress) progress->Clear();
  const size_t count = outcome.count;
  const double elapsed = outcome.seconds;
  std::cerr << fmt::format("effi: eval: {} images x {} model{} in {:.1f} s ({:.1f} images/s)\n",
                           count, outcome.models.size(), outcome.models.size() == 1 ? "" : "s",
                           elapsed, elapsed > 0 ? static_cast<double>(count) / elapsed : 0.0);
  if (!o.save_logits.empty())
    npy::SaveF32(o.save_logits, outcome.logits.data(),
                 {static_cast<int64_t>(count), outcome.classes});

  const std::string out = o.json ? FormatJson(outcome.models, count)
                                 : FormatTable(outcome.models, count, outcome.dataset);
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
