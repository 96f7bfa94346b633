// Datasets for `effi eval` (and a later `effi quantize --calib`): labelled or unlabelled image sets
// read from untrusted files, each item turned into a model-ready float32 CHW input for a given
// preprocessing. Accepted sources (OpenDataset detects which):
//   - IDX (MNIST / Fashion-MNIST): `*-images-idx3-ubyte[.gz]`, labels from the
//     `*-labels-idx1-ubyte[.gz]` beside it; 8-bit gray, replicated to RGB before preprocessing.
//   - a folder with one subfolder per class (names matched to the model's labels, else decimal
//     class indices), or a flat folder of images (unlabelled; refused when labels are required);
//   - a list file of `path label` lines (ImageNet val.txt style; paths relative to the list);
//   - an `.npy` of preprocessed float32 inputs [N,3,H,W], labels in `X_labels.npy` (else
//     `labels.npy`) beside `X.npy`, int64 or int32 [N].
// Every reader bounds what it reads and allocates; bad input is one Error(kIo / kInvalidArgument /
// kUnsupported) naming the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "api/classifier.h"
#include "effi/effi.hpp"
#include "image/image.h"
#include "image/preprocess.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace effi::cli {

enum class DatasetKind { kIdx, kClassFolders, kImageFolder, kList, kNpy };

// One line for --help texts: the accepted SRC forms.
extern const char* const kDatasetForms;

class Dataset {
 public:
  virtual ~Dataset() = default;

  virtual DatasetKind kind() const = 0;
  // "IDX 't10k-images-idx3-ubyte.gz' (10000 images 28x28, gray)": escaped, one line.
  virtual std::string Describe() const = 0;
  virtual size_t size() const = 0;
  virtual bool labelled() const = 0;
  // Class index of item i (0 <= label < LabelBound()); -1 when the set is unlabelled.
  virtual int64_t label(size_t i) const = 0;
  // One past the largest label (0 when unlabelled): checked against a model's class count.
  int64_t LabelBound() const;
  // Item i's name for messages: its path, or "IDX 't10k...' image 17" (not escaped).
  virtual std::string name(size_t i) const = 0;

  // True when items are stored already preprocessed (.npy): Load only checks that the stored
  // [3,H,W] matches config.input_h/input_w and returns it; Decode is not available.
  virtual bool preprocessed() const { return false; }
  // Item i as RGB8 (image sources). Throws Error(kUnsupported) for a preprocessed source.
  virtual image::Image Decode(size_t i) const = 0;
  // Item i as float32 [3, config.input_h, config.input_w], as the model is fed.
  virtual std::vector<float> Load(size_t i, const image::PreprocessConfig& config) const;
};

struct DatasetOptions {
  // Refuse sources without labels (eval); quantize's calibration passes false.
  bool require_labels = true;
  // The model's class names (metadata 'labels'), used to match class-folder names; may be empty.
  std::vector<std::string> class_names;
};

// Opens `src` (detected by kind: folder, IDX magic after an optional gzip layer, .npy, list).
// Headers and file lists are read and checked here (a list's every file is stat()ed), so a bad
// source fails before any model runs; pixel data is read by Decode/Load. Anything not recognised
// -> Error(kInvalidArgument) listing kDatasetForms.
std::unique_ptr<Dataset> OpenDataset(const std::string& src, const DatasetOptions& options = {});

// ---- per-model preprocessing (shared with `effi classify`'s flags) ----

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
