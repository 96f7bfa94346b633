// effi evaluation API: top-1 / top-5 accuracy of one or more image classifiers on a labelled set,
// side by side, as `effi eval` prints it (the CLI runs this code).
//
//   effi::EvalReport r = effi::Evaluate({"efficientformer_l1_fmnist96.onnx"},
//                                       "fashion-mnist/t10k-images-idx3-ubyte.gz");
//   std::printf("%s: top-1 %.4f\n", r.results[0].model.c_str(), r.results[0].top1);  // 0.8918
//
// Errors are thrown as effi::Error (effi/error.hpp), before any image runs when the models or the
// set's headers and labels are at fault: kIo for a missing or unreadable model or dataset file,
// kInvalidArgument for a dataset that is not one of the forms below, has no labels, or has a label
// outside the models' classes, for models whose class counts differ, and for bad options;
// kUnsupported for a model that is no image classifier; kInvalidModel for malformed metadata;
// kInvalidImage for an image of the set that does not decode, kInternal for non-finite scores (of
// several bad images, the error of the first in set order, whatever the threads).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "effi/effi.hpp"
#include "effi/image.hpp"

namespace effi {

struct EvalOptions {
  int64_t limit = 0;  // evaluate only the first `limit` items; 0: every item
  // Images evaluated at once, each on its own thread with one single-threaded session per model
  // (whole images scale better than a session's intra-op threads at batch 1); 0: the CPU count.
  // Memory: threads x the models' activation arenas (Model::Stats().peak_activation_bytes).
  int threads = 0;
  ModelOptions model;  // how every model is loaded (passes, memory limit)
  // Replaces every model's own preprocessing (its "preprocess" metadata, else timm's defaults at
  // its input size, as ModelPreprocessing gives it); kInvalidArgument when its size does not fit
  // a model's input.
  std::optional<PreprocessOptions> preprocessing;
  bool keep_logits = false;  // fill EvalReport::logits with the first model's outputs
  // Called on the calling thread: once with (0, total) when the models are loaded and the set is
  // open, after images the calling thread evaluated with the count done so far, and with (total,
  // total) at the end. Whatever it throws stops the evaluation (no further image starts) and is
  // rethrown by Evaluate, so it can also cancel a long run.
  std::function<void(size_t done, size_t total)> progress;
};

// One model's scores over the evaluated items. agreement and logit_cosine compare with the first
// model of the list (1 for the first itself): the share of items where both have the same top-1
// class, and the mean cosine of the two output rows.
struct EvalResult {
  std::string model;     // the path, as given
  int64_t correct = 0;   // items whose true class is this model's top-1
  double top1 = 0;       // correct / items
  double top5 = 0;       // share of items whose true class is among the 5 highest scores
  double agreement = 0;  // 0..1
  double logit_cosine = 0;
};

struct EvalReport {
  // One line naming the set: "IDX 't10k-images-idx3-ubyte.gz' (10000 images 28x28, gray)".
  std::string dataset;
  int64_t items = 0;   // evaluated: the set's size, or options.limit when smaller
  double seconds = 0;  // running the items (after loading the models and opening the set)
  std::vector<EvalResult> results;  // one per model, in the order given
  // With keep_logits: the first model's output rows, [items, classes] row-major, in set order.
  std::vector<float> logits;
  int64_t classes = 0;  // the first model's scores per item
};

// Evaluates the classifiers `models` (ONNX files; each with one float32 [N,3,H,W] input and a
// float32 [N, classes] output, the same class count for all) on the labelled set `data`:
//   - IDX (MNIST / Fashion-MNIST): `*-images-idx3-ubyte[.gz]`, labels from the
//     `*-labels-idx1-ubyte[.gz]` beside it; gray, replicated to RGB before preprocessing;
//   - a folder with one subfolder per class, named by the first model's "labels" metadata or by
//     the class index;
//   - a text file of `path label` lines (ImageNet val.txt style; paths relative to the file);
//   - an `.npy` of preprocessed float32 inputs [N,3,H,W] (fed as stored), int64 or int32 labels
//     [N] in `X_labels.npy` (else `labels.npy`) beside `X.npy`.
// Each model gets its own preprocessing of every image. The numbers do not depend on `threads`.
// Thread-safe: calls share nothing.
EvalReport Evaluate(const std::vector<std::string>& models, const std::string& data,
                    const EvalOptions& options = {});

}  // namespace effi
