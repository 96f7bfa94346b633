// The evaluation behind effi::Evaluate (effi/eval.hpp) and `effi eval` (tools/effi/eval.cc): both
// run RunEvaluation, the CLI with its per-flag preprocessing overrides (which one optional
// PreprocessOptions cannot express: `--size` changes one field of each model's own) and its own
// messages, progress line and output formats.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "api/classifier.h"
#include "effi/effi.hpp"
#include "image/preprocess.h"

namespace effi::api {

// Chooses a model's preprocessing once it is loaded and checked (called in list order, each
// before the next model loads): returns the config, or throws when it cannot fit the model.
using EvalPreprocessing = std::function<image::PreprocessConfig(
    const Model& model, const ClassifierInfo& info, const std::string& path)>;

struct EvalSpec {
  std::vector<std::string> models;  // paths
  std::string data;                 // an OpenDataset source
  int64_t limit = 0;                // 0: every item
  size_t threads = 1;               // images at once (>= 1)
  ModelOptions model;
  EvalPreprocessing preprocessing;  // empty: the model's own (ResolvePreprocessing)
  bool keep_logits = false;
  // As EvalOptions::progress: (0, total) before the first image, (total, total) at the end.
  std::function<void(size_t done, size_t total)> progress;
  // Messages start with `who` ("eval"; the library's "evaluate").
  std::string who = "eval";
};

// One model's counts over the `count` items (kept as counts so that the CLI prints exactly what
// it printed before the library had this).
struct EvalTally {
  std::string model;  // the path
  int64_t top1 = 0, top5 = 0, agree = 0;
  double cosine_sum = 0;
};

struct EvalOutcome {
  std::string dataset;  // Dataset::Describe()
  size_t count = 0;
  double seconds = 0;
  std::vector<EvalTally> models;
  std::vector<float> logits;  // keep_logits: the first model's rows, [count, classes]
  int64_t classes = 0;        // the first model's output elements per item
};

// Loads and checks the models (in order: readable file, load, classifier check, preprocessing),
// checks that their class counts agree, opens the set (labels required; class folders named by
// the first model's labels), checks the labels of the first `count` items against the class
// count, then runs every item through every model on `threads` workers. Errors: effi::Error as
// effi/eval.hpp lists; for a bad item the one of the lowest index.
EvalOutcome RunEvaluation(const EvalSpec& spec);

}  // namespace effi::api
