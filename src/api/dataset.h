// Datasets for evaluation and calibration (`effi eval`, `effi quantize --calib`): labelled or
// unlabelled image sets read from untrusted files, each item turned into a model-ready float32 CHW
// input for a given preprocessing. Accepted sources (OpenDataset detects which):
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

#include "effi/effi.hpp"
#include "image/image.h"
#include "image/preprocess.h"

namespace effi::api {

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

}  // namespace effi::api
