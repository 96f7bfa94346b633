// The CLI's per-model input handling, shared by classify, eval and quantize: the classifier checks
// with the CLI's messages, the preprocessing flags, and the datasets (src/api/dataset.h).
#pragma once

#include <string>
#include <vector>

#include "api/classifier.h"
#include "api/dataset.h"
#include "effi/effi.hpp"
#include "image/preprocess.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace effi::cli {

using api::Dataset;
using api::DatasetKind;
using api::DatasetOptions;
using api::kDatasetForms;
using api::OpenDataset;

// A classifier as the CLI runs it: the library's (effi::Classifier's) checks and messages.
using api::ClassifierInfo;
// Throws Error(kUnsupported) naming `path` and `command` when `model` is not a classifier (one
// float32 [N,3,H,W] input, N = 1 or dynamic; a float32 output [N, classes...]),
// Error(kInvalidArgument) when the 'labels' metadata does not have one label per class.
ClassifierInfo CheckClassifier(const Model& model, const std::string& path, const char* command);
// The same with class names given by the user (classify's --labels, read before the model is
// loaded): non-empty `labels` replace the metadata, which is then not read at all (a flag
// overrides the metadata, even a malformed one), and must have one label per class; the message
// names them as `labels_source` ("labels file 'x.txt'"). Empty `labels`: as above.
ClassifierInfo CheckClassifier(const Model& model, const std::string& path, const char* command,
                               std::vector<std::string> labels, const std::string& labels_source);

// The preprocessing flags classify takes (--size, --input-size, --crop-pct, --interpolation,
// --no-antialias, --mean, --std, --bgr); each, when given, overrides the model's metadata.
struct PreprocessFlags {
  int size = 0;
  std::string input_size;
  float crop_pct = 0.95f;
  std::string interpolation = "bicubic";
  bool no_antialias = false;
  std::string mean = "0.485,0.456,0.406";
  std::string std = "0.229,0.224,0.225";
  bool bgr = false;
  CLI::Option* size_opt = nullptr;
  CLI::Option* input_size_opt = nullptr;
  CLI::Option* crop_pct_opt = nullptr;
  CLI::Option* interpolation_opt = nullptr;
  CLI::Option* mean_opt = nullptr;
  CLI::Option* std_opt = nullptr;
};
void AddPreprocessFlags(CLI::App& app, PreprocessFlags* flags);

// timm defaults at the model's input size, then the model's 'preprocess' metadata (bounded in
// size and nesting), then the explicit flags; Error(kInvalidArgument) when the result does not
// fit the model's input.
image::PreprocessConfig ModelPreprocessing(const Model& model, const ClassifierInfo& info,
                                           const PreprocessFlags& flags);

}  // namespace effi::cli
