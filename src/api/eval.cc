// Evaluation of classifiers on a labelled set (api/eval.h, effi/eval.hpp): top-1/top-5 per model,
// with each model's top-1 agreement and mean logit cosine against the first model.
#include "api/eval.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <memory>
#include <utility>

#include "api/dataset.h"
#include "effi/eval.hpp"
#include "util/file.h"
#include "util/for_each_item.h"
#include "util/text.h"

namespace effi {
namespace api {
namespace {

std::string Quote(const std::string& path) {
  return util::EscapeControl(path, util::kMaxQuotedPath);
}

// One model under evaluation.
struct Evaluated {
  std::string path;
  std::shared_ptr<Model> model;
  ClassifierInfo info;
  image::PreprocessConfig config;
  size_t input_slot = 0;  // which of the distinct preprocessings feeds it
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

// Thrown into the workers once the progress callback has failed: stops ForEachItem from starting
// further items; RunEvaluation then rethrows the callback's own exception.
struct Cancelled {};

}  // namespace

EvalOutcome RunEvaluation(const EvalSpec& spec) {
  if (spec.models.empty())
    throw Error(ErrorCode::kInvalidArgument, spec.who + ": no models to evaluate");
  if (spec.limit < 0)
    throw Error(
        ErrorCode::kInvalidArgument,
        fmt::format("{}: limit must be >= 0 (0: every item), got {}", spec.who, spec.limit));
  // Models first: their labels name the class folders, their class count bounds the labels.
  std::vector<Evaluated> models;
  std::vector<image::PreprocessConfig> inputs;  // the distinct preprocessings
  for (const std::string& path : spec.models) {
    util::CheckReadableFile(path, "model");
    Evaluated m;
    m.path = path;
    m.model = Model::Load(path, spec.model);
    m.info = CheckClassifier(*m.model, spec.who, fmt::format("'{}'", Quote(path)));
    m.config = spec.preprocessing ? spec.preprocessing(*m.model, m.info, path)
                                  : ResolvePreprocessing(*m.model, m.info.input, std::nullopt);
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
                      Quote(m.path), m.info.classes, Quote(models[0].path), classes));
  }

  DatasetOptions data_options;
  data_options.require_labels = true;
  data_options.class_names = models[0].info.labels;
  const std::unique_ptr<Dataset> data = OpenDataset(spec.data, data_options);
  const size_t count =
      spec.limit > 0 ? std::min(data->size(), static_cast<size_t>(spec.limit)) : data->size();
  // Every form refuses an empty set when it opens; kept so that no fraction below is 0 / 0.
  if (count == 0)
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{}: {} holds no items", spec.who, data->Describe()));
  // Labels are checked against the class count before anything runs (a dynamic class count is
  // checked per output below).
  for (size_t i = 0; i < count && classes > 0; ++i) {
    if (data->label(i) >= classes)
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("label {} of {} is out of range: the model has {} classes",
                              data->label(i), Quote(data->name(i)), classes));
  }

  // Images are spread over `threads` workers, each with its own session per model (one intra-op
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
  std::vector<std::vector<float>> saved(spec.keep_logits ? count : 0);
  int64_t first_classes = classes;
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
        throw Error(ErrorCode::kUnsupported,
                    fmt::format("'{}' gave output {} {} for one image{}", Quote(m.path),
                                ElementTypeName(out.type), ShapeString(out.shape),
                                k > 0 ? fmt::format(" ({} classes expected)", reference.size())
                                      : std::string()));
      const float* row = out.floats();
      if (label >= n)
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("label {} of {} is out of range: the model has {} classes", label,
                                Quote(data->name(i)), n));
      if (!std::all_of(row, row + n, [](float v) { return std::isfinite(v); }))
        throw Error(ErrorCode::kInternal, fmt::format("'{}' gave a non-finite output for {}",
                                                      Quote(m.path), Quote(data->name(i))));
      if (k == 0) {
        if (i == 0) first_classes = static_cast<int64_t>(n);  // read after the workers joined
        reference.assign(row, row + n);
        if (!saved.empty()) saved[i] = reference;
      }
      results[i * models.size() + k] = {RankOf(row, n, label), Argmax(row, n),
                                        Cosine(row, reference.data(), n)};
    }
  };

  // The progress callback runs on this thread inside ForEachItem, where an exception must not
  // escape (the other workers would be left unjoined): it is kept, and the workers stop.
  std::atomic<bool> cancelled{false};
  std::exception_ptr progress_error;
  auto report = [&](size_t done) {
    if (!spec.progress || progress_error) return;
    try {
      spec.progress(done, count);
    } catch (...) {
      progress_error = std::current_exception();
      cancelled = true;
    }
  };
  if (spec.progress) spec.progress(0, count);
  const auto start = std::chrono::steady_clock::now();
  // The error reported is that of the first failing image, whatever the scheduling (ForEachItem).
  std::vector<std::vector<Session>> sessions(
      std::max<size_t>(1, std::min<size_t>(spec.threads, count)));
  try {
    util::ForEachItem(
        count, sessions.size(),
        [&](size_t w) {
          for (const Evaluated& m : models) sessions[w].emplace_back(m.model);
        },
        [&](size_t i, size_t w) {
          if (cancelled) throw Cancelled{};
          evaluate(i, sessions[w]);
        },
        report);
  } catch (...) {
    if (progress_error) std::rethrow_exception(progress_error);
    throw;
  }
  if (progress_error) std::rethrow_exception(progress_error);
  EvalOutcome outcome;
  outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  outcome.dataset = data->Describe();
  outcome.count = count;
  for (size_t k = 0; k < models.size(); ++k) {
    EvalTally m;
    m.model = models[k].path;
    for (size_t i = 0; i < count; ++i) {
      const ItemResult& r = results[i * models.size() + k];
      m.top1 += r.rank == 0;
      m.top5 += r.rank < 5;
      m.agree += r.argmax == results[i * models.size()].argmax;
      m.cosine_sum += r.cosine;
    }
    outcome.models.push_back(std::move(m));
  }
  outcome.classes = first_classes;
  if (spec.keep_logits) {
    outcome.logits.reserve(count * static_cast<size_t>(std::max<int64_t>(first_classes, 0)));
    for (size_t i = 0; i < count; ++i) {
      // Only a model with a dynamic class dimension could give rows of different lengths.
      if (saved[i].size() != static_cast<size_t>(first_classes))
        throw Error(ErrorCode::kUnsupported,
                    fmt::format("'{}' gave {} classes for {} but {} for {}: its outputs do not "
                                "make one [items, classes] array",
                                Quote(models[0].path), first_classes, Quote(data->name(0)),
                                saved[i].size(), Quote(data->name(i))));
      outcome.logits.insert(outcome.logits.end(), saved[i].begin(), saved[i].end());
      std::vector<float>().swap(saved[i]);
    }
  }
  if (spec.progress) spec.progress(count, count);
  return outcome;
}

}  // namespace api

EvalReport Evaluate(const std::vector<std::string>& models, const std::string& data,
                    const EvalOptions& options) {
  if (options.threads < 0 || options.threads > util::kMaxThreads)
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("evaluate: threads must be in 0..{} (0: the CPU count), got {}",
                            util::kMaxThreads, options.threads));
  api::EvalSpec spec;
  spec.models = models;
  spec.data = data;
  spec.limit = options.limit;
  spec.threads =
      static_cast<size_t>(options.threads > 0 ? options.threads : util::DefaultThreads());
  spec.model = options.model;
  spec.keep_logits = options.keep_logits;
  spec.progress = options.progress;
  spec.who = "evaluate";
  if (options.preprocessing) {
    // Converted (and its enum checked) once, before any model loads; fitted to each model.
    const image::PreprocessConfig config = api::ToConfig(*options.preprocessing);
    spec.preprocessing = [config](const Model&, const api::ClassifierInfo& info,
                                  const std::string&) {
      api::CheckFits(config, info.input);
      return config;
    };
  }
  api::EvalOutcome outcome = api::RunEvaluation(spec);
  EvalReport report;
  report.dataset = outcome.dataset;
  report.items = static_cast<int64_t>(outcome.count);
  report.seconds = outcome.seconds;
  const double n = static_cast<double>(outcome.count);
  for (const api::EvalTally& m : outcome.models) {
    EvalResult r;
    r.model = m.model;
    r.correct = m.top1;
    // The CLI's JSON fractions, computed the same way.
    r.top1 = static_cast<double>(m.top1) / n;
    r.top5 = static_cast<double>(m.top5) / n;
    r.agreement = static_cast<double>(m.agree) / n;
    r.logit_cosine = m.cosine_sum / n;
    report.results.push_back(std::move(r));
  }
  report.logits = std::move(outcome.logits);
  report.classes = outcome.classes;
  return report;
}

}  // namespace effi
