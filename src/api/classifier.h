// The image classifier's checks and rules (src/api/image.cc), shared with the CLI (tools/effi), so
// `effi classify` / `effi eval` and effi::Classifier accept the same models with the same messages
// and turn scores into the same probabilities.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "effi/effi.hpp"
#include "effi/image.hpp"
#include "image/preprocess.h"

namespace effi::api {

// A classifier as effi runs it: one float32 [N,3,H,W] input (N = 1 or dynamic) and a float32
// output [N, classes...].
struct ClassifierInfo {
  TensorInfo input;
  bool dynamic_batch = false;
  int64_t classes = -1;             // product of the output's non-batch dims; -1 if one is dynamic
  std::vector<std::string> labels;  // given labels, else metadata 'labels' (may be empty)
};

// Messages start with `who` ("classify", "effi::Classifier") and name the model as `model_name`
// (already quoted and escaped, e.g. "'m.onnx'", or "the model").
//
// The model's image input; Error(kUnsupported) unless the model has exactly one input and it is
// float32 [N,3,H,W] with N = 1 or dynamic.
const TensorInfo& CheckImageInput(const Model& model, const std::string& who,
                                  const std::string& model_name);

// The whole check: the input as above, output 0 float32 with a class dimension (kUnsupported
// otherwise). Non-empty `labels` replace the 'labels' metadata, which is then not read at all (a
// user's labels override even a malformed one), and are named `labels_source` in messages; empty
// `labels`: the metadata's (kInvalidModel when malformed). Labels must be one per class
// (kInvalidArgument), unless the class count is dynamic.
ClassifierInfo CheckClassifier(const Model& model, const std::string& who,
                               const std::string& model_name, std::vector<std::string> labels = {},
                               const std::string& labels_source = "the given labels");

// timm's defaults at the input's static size, then the model's 'preprocess' metadata
// (image::FromMetadataJson: bounded in size and nesting, kInvalidModel when malformed). Not
// checked against the input: see CheckFits.
image::PreprocessConfig ModelPreprocessConfig(const Model& model, const TensorInfo& input);

// Error(kInvalidArgument) when `config` makes images of another size than the input's static H, W.
void CheckFits(const image::PreprocessConfig& config, const TensorInfo& input);

// The preprocessing a model runs with: `given` when set, else the model's own
// (ModelPreprocessConfig); either way checked to fit its input (CheckFits).
image::PreprocessConfig ResolvePreprocessing(const Model& model, const TensorInfo& input,
                                             const std::optional<PreprocessOptions>& given);

// Public (width x height) <-> internal (input_h/input_w) preprocessing; ToConfig checks the enum.
image::PreprocessConfig ToConfig(const PreprocessOptions& options);
PreprocessOptions ToOptions(const image::PreprocessConfig& config);

// One output row as probabilities: softmax of the scores, unless the row already is a distribution
// (every value in [0,1], sum within 1e-3 of 1, as from a model exported with a final Softmax),
// which is used as it is since a second softmax would flatten it. Non-finite scores:
// Error(kInternal).
std::vector<float> ToProbabilities(const float* row, size_t n);

// The top `top` classes of each of the `count` rows of a classifier's output 0 (effi::TopK per
// row, `labels` as there). Error(kUnsupported) unless it is float32 [count, ...] with elements.
std::vector<std::vector<Prediction>> RankRows(const Tensor& out, size_t count, int top,
                                              const std::vector<std::string>& labels);

// "[N, 3, 224, 224]": a dynamic batch (dim 0) prints as N, other dynamic dims as ?.
std::string ShapeString(const std::vector<int64_t>& shape);

}  // namespace effi::api
