// effi image API: decode a photo or a camera frame, preprocess it as the model was trained (timm's
// eval transform, PIL-exact), run the classifier and read the top-k classes. The CLI's `classify`
// and `eval` run the same code: the classifier checks, preprocessing and top-k behind this API.
//
//   auto model = effi::Model::Load("efficientformer_l1.onnx");
//   effi::Classifier classifier(model);  // preprocessing + labels from the model's metadata
//   for (const effi::Prediction& p : classifier.Classify(effi::DecodeImage("cat.jpg"), 5))
//     std::printf("%s %.3f\n", p.label.c_str(), p.probability);
//
// Errors are thrown as effi::Error (effi/error.hpp): kIo for a missing file, kInvalidImage for a
// corrupt or oversized image, kInvalidArgument for bad sizes or options, kUnsupported for a model
// that is not an image classifier, kInvalidModel for malformed metadata. The C API (effi/effi.h)
// has the same as effi_image_* / effi_classifier_* functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "effi/effi.hpp"

namespace effi {

// Interleaved RGB8, row-major, no padding: rgb.size() == width * height * 3.
struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;
};

// JPEG or PNG (chosen by magic bytes, not by extension), decoded to the pixel values PIL's
// Image.open(path).convert("RGB") gives. `max_pixels` (0: the library's limit, 200 M) bounds what
// a header may make the decoder allocate; a server should lower it.
Image DecodeImage(const std::string& path, int64_t max_pixels = 0);
Image DecodeImage(const void* data, size_t size, int64_t max_pixels = 0);

// One raw NV12 frame (Y plane, then interleaved U,V at half resolution; BT.601 limited range, as
// camera ISPs produce) of width x height pixels (both even, > 0); `size` must be exactly
// width * height * 3 / 2, otherwise kInvalidArgument saying which size the data would fit.
Image DecodeNv12(const void* data, size_t size, int width, int height);
// The same from a file (a regular file of exactly that size: kInvalidArgument otherwise, before
// reading it; kIo when it cannot be read).
Image DecodeNv12File(const std::string& path, int width, int height);

enum class Interpolation { kBicubic, kBilinear, kNearest };

// timm's eval transform: resize (shorter side to floor(size / crop_pct), or to resize_width x
// resize_height when both are set), centre crop to width x height, /255, normalise, NCHW.
// Sizes are width x height everywhere in this API, as cameras and vendor tools give them.
struct PreprocessOptions {
  int width = 224;
  int height = 224;
  float crop_pct = 0.95f;
  int resize_width = 0;
  int resize_height = 0;
  Interpolation interpolation = Interpolation::kBicubic;
  // true: PIL's antialiased resize on uint8 (torchvision/timm with PIL images), bit-exact with
  // Pillow 9.4; false: torch interpolate() on the float image, bit-exact with torch 1.13.
  bool antialias = true;
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};  // indexed by output channel
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};
  bool bgr = false;  // planes B,G,R instead of R,G,B
};

// The model's preprocessing: timm's defaults at its image input's size, overridden by its
// "preprocess" metadata when present (a JSON object such as {"input_size": [3, 96, 96],
// "crop_pct": 1.0, "interpolation": "bilinear", "mean": [...], "std": [...]}; see README).
// kUnsupported if the model does not have one float32 [N,3,H,W] input; kInvalidModel for malformed
// metadata (also over 64 KiB or nested deeper than 64 levels); kInvalidArgument when the metadata's
// size does not fit the model's input.
PreprocessOptions ModelPreprocessing(const Model& model);

// The float32 tensor [1, 3, height, width] the model takes. kInvalidArgument for an empty or
// inconsistent image (rgb.size() != width * height * 3) or invalid options.
Tensor Preprocess(const Image& image, const PreprocessOptions& options);

struct Prediction {
  int64_t index = 0;
  float probability = 0;
  std::string label;  // the class name, or the index as text when the model has no labels
};

// Class scores -> the `top` most probable classes, most probable first (ties: lower index first).
// Scores are logits and get a softmax, unless they already are a distribution (all in [0, 1], sum
// within 1e-3 of 1, as from a model exported with a final Softmax). Non-finite scores: kInternal.
// `labels`, when not empty, must have `count` entries.
std::vector<Prediction> TopK(const float* scores, size_t count, int top,
                             const std::vector<std::string>& labels = {});

// How a Classifier is set up; the defaults read everything from the model.
struct ClassifierOptions {
  SessionOptions session;  // options of each session Classify runs on (threads per call)
  // Class names replacing the model's "labels" metadata, which is then not read at all (so they
  // override even a malformed one); one per class. Empty: the metadata's, else none.
  std::vector<std::string> labels;
  // Preprocessing replacing ModelPreprocessing(model) (typically that, with some fields changed);
  // kInvalidArgument when its width x height does not fit the model's input.
  std::optional<PreprocessOptions> preprocessing;
};

// An image classifier: a model with one float32 [N,3,H,W] input (N = 1 or dynamic) and a float32
// output [N, classes...], its preprocessing and its class names ("labels" metadata, a JSON list of
// strings).
// Threads: Classify may be called from any number of threads on one Classifier at once. Each call
// borrows an idle session from the classifier's pool, or creates one when all are busy, and gives
// it back afterwards, so the pool grows to the largest number of concurrent calls seen (each
// session holds one activation arena: Model::Stats().peak_activation_bytes). The setters must not
// race with Classify (configure first, then share).
class Classifier {
 public:
  // kUnsupported when the model is not such a classifier; kInvalidModel when its labels or
  // preprocess metadata is malformed; kInvalidArgument when the labels are not one per class.
  explicit Classifier(std::shared_ptr<const Model> model, const ClassifierOptions& options = {});
  Classifier(std::shared_ptr<const Model> model, const SessionOptions& session);
  ~Classifier();
  Classifier(Classifier&&) noexcept;
  Classifier& operator=(Classifier&&) noexcept;

  const Model& model() const;
  const TensorInfo& input() const;  // the model's image input
  const PreprocessOptions& preprocessing() const;
  void set_preprocessing(const PreprocessOptions& options);  // kInvalidArgument if it cannot fit
  const std::vector<std::string>& labels() const;            // empty when the model has none
  void set_labels(std::vector<std::string> labels);  // kInvalidArgument unless one per class
  // Number of classes, or -1 when the model's output has a dynamic class dimension (then labels
  // are checked against each output).
  int64_t classes() const;

  std::vector<Prediction> Classify(const Image& image, int top = 5);
  // One batch run when the model's batch axis is dynamic; one run per image otherwise.
  std::vector<std::vector<Prediction>> Classify(const std::vector<Image>& images, int top = 5);
  // An already preprocessed float32 [N, 3, height, width] tensor (N > 1 needs a dynamic batch
  // axis): the top classes of each of its N rows.
  std::vector<std::vector<Prediction>> Classify(const Tensor& preprocessed, int top = 5);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace effi
