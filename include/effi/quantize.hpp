// effi quantize API: post-training static quantization of a float ONNX image classifier to a
// standard QDQ ONNX model (QuantizeLinear/DequantizeLinear, opset >= 13, per-channel weights) that
// ONNX Runtime and effi run on int8 kernels. `effi quantize` is this function plus its table,
// --json (QuantizeReport::ToJson) and --report page.
//
//   effi::QuantizeOptions options;
//   options.calibration = "train-images-idx3-ubyte.gz";  // any source `effi eval --data` takes
//   options.calibration_count = 256;
//   effi::QuantizeReport r = effi::Quantize("l1.onnx", "l1_int8.onnx", options);
//   std::printf("%s\n", r.summary.c_str());  // fallback decision, kept-float layers, int8 share
//
// Steps: calibration runs the float model (through effi, with the quantized activations added as
// outputs) on the calibration items and feeds each activation to an observer; sensitivity runs QDQ
// variants of the model on effi's int8 kernels against float on the first `sensitivity_count`
// items; the fallback keeps the layers the model output is most sensitive to in float until the
// target is met; the model is written atomically (a temp file, then a rename).
//
// Errors are thrown as effi::Error (effi/error.hpp): kInvalidArgument for bad options, an unknown
// keep_float name, an empty calibration or validation set, labels out of range or no finite value
// observed; kIo for an unreadable model or dataset and an unwritable output (checked before any
// calibration work); kInvalidModel for a malformed or already quantized model; kUnsupported for a
// model that is not an image classifier (one float32 [N,3,H,W] input, a float32 [N, classes]
// output) or an op the QDQ form cannot be written for. Messages name options by the CLI's flags
// (--keep-float, --val), as `effi quantize` shares them. Nothing is written at out_path on error.
//
// Threads: Quantize may run on several threads at once (each call has its own sessions); one call
// runs its model on `threads` intra-op threads. The progress callback is called on the calling
// thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "effi/effi.hpp"
#include "effi/image.hpp"

namespace effi {

struct QuantizeOptions {
  // Calibration images (labels not needed): IDX (`*-images-idx3-ubyte[.gz]`), a folder of class
  // folders or of images, a list file of `path label` lines, or an .npy of preprocessed float32
  // inputs [N,3,H,W]. Required.
  std::string calibration;
  int64_t calibration_count = 256;  // items used (>= 1): the first N, or N drawn with the seed
  // Draw the N items without replacement with this seed (mt19937_64) instead of the first N.
  std::optional<uint64_t> calibration_seed;
  // Activation range: "minmax", "percentile", "mse" (least quantization error) or "entropy"
  // (TensorRT-style KL, 2048 bins). Fashion-MNIST L1, 10k test images (README, quantize): mse
  // agreed best with float.
  std::string observer = "mse";
  // Share of values kept in range by the percentile observer, in % (1e-6..100; ONNX Runtime's
  // default). Ignored by the other observers.
  double percentile = 99.99;
  // Conv/Gemm/MatMul node names (or first-output names) left in float.
  std::vector<std::string> keep_float;
  // true: a Q/DQ pair on every int8 layer's output too, the layout ONNX Runtime's QDQ fusion needs
  // (L1 224: 41 of 41 layers fused into QLinearConv/QLinearMatMul/QGemm, 5 of 41 without); false:
  // pairs on the inputs only (TensorRT's layout; the most accurate: Fashion-MNIST L1 99.79 % top-1
  // agreement with float vs 99.53 %).
  bool output_qdq = false;
  // "auto": keep the layers the model output is most sensitive to in float until target_cosine
  // (or, with `validation`, max_drop) is met; "none": every layer int8 (but keep_float).
  std::string fallback = "auto";
  // Model-output mean cosine vs float for fallback "auto" to reach, in (0, 1]. Measured on the
  // Fashion-MNIST L1 (README, quantize): with every layer int8 its model-output cosine is 0.99959
  // (mse observer; 99.15 % agreement with float on the 10k test images, short of the issue's
  // 99.5 %), with the stem conv float 0.99992 (99.79 %). 0.9998 sits between the two on a log
  // scale of 1 - cosine (4.1e-4 vs 0.8e-4), so 32 items' noise (0.99954 on 256 items) does not flip
  // the choice; minmax and percentile stop at the same layer. Ignored with `validation`.
  double target_cosine = 0.9998;
  // Calibration items (the first N, >= 1) the sensitivity and target_cosine use. Each layer's
  // isolated sensitivity and each fallback step is one model load plus a run per item, so the
  // analysis costs (layers + steps) x items runs; on the Fashion-MNIST L1 (41 layers, ~4 ms a run
  // on 2 threads) 32 items take 12.8 s, 256 items 44.6 s (the first three layers rank the same).
  int64_t sensitivity_count = 32;
  // Measure each layer's isolated sensitivity (the model output with only that layer int8; one
  // model load per layer) even with fallback "none", which does not need it (a report's chart
  // does). Fallback "auto" always measures it: it is the fallback's order.
  bool measure_isolated = false;
  // With fallback "auto": decide by top-1 on this labelled set (forms as `calibration`) instead of
  // the cosine: layers go float until int8 top-1 is within max_drop points (0..100) of float, on
  // its first validation_count (>= 1) items.
  std::string validation;
  double max_drop = 0.5;
  int64_t validation_count = 1000;
  // Passes for calibration and sensitivity. Calibration only needs the named activations, which
  // every pass keeps (graph outputs are never fused away). Fashion-MNIST L1, 256 images: 9.4 s
  // with every pass, 374 s with none (the reference kernels), and the same scales to 5e-7
  // relative, so passes stay on.
  std::string passes = "all";
  int threads = 0;                 // intra-op threads (0..256); 0: every CPU
  int64_t memory_limit_bytes = 0;  // as ModelOptions::memory_limit_bytes
  // Preprocessing replacing ModelPreprocessing(model) (kInvalidArgument when its size does not
  // fit the model's input). An .npy set is already preprocessed: only its size is checked.
  std::optional<PreprocessOptions> preprocessing;
  // Called on the calling thread after each unit of work: stage "calibrate" (done items of total),
  // "sensitivity" (layers measured of the int8 layers), "fallback" (steps of at most the int8
  // layers). An exception it throws stops Quantize (nothing is written) and propagates.
  std::function<void(const std::string& stage, size_t done, size_t total)> progress;
};

// One quantized activation tensor: its calibrated range and its u8 parameters.
struct QuantizeTensor {
  std::string name;
  float min = 0, max = 0;  // the observer's range (widened to contain 0 for the parameters)
  float scale = 1;
  int32_t zero_point = 0;  // 0..255
};

// One Conv / Gemm / MatMul node, in graph order. Sensitivity values are NaN when not measured
// (float layers; isolated_model_cosine without fallback "auto" or measure_isolated) and +inf for
// an output identical to float's (SQNR).
struct QuantizeLayer {
  std::string name, op;
  bool int8 = false;
  // When float: "--keep-float" (QuantizeOptions::keep_float), "auto" (the fallback) or why the
  // layer cannot be quantized (e.g. "weight not constant").
  std::string why_float;
  // Multiply-accumulates per run at the calibration shapes; -1 when unknown (no calibrated input:
  // `activations` is empty).
  int64_t macs = -1;
  std::vector<QuantizeTensor> activations;  // its quantized activation inputs (1, or 2: act x act)
  std::optional<QuantizeTensor> output;     // its output pair (output_qdq), when int8
  std::string weight;             // its constant weight input ("" for an act x act MatMul)
  bool weight_quantized = false;  // the weight written s8 per channel (the fields below are set)
  float weight_scale_min = 0, weight_scale_max = 0;
  int64_t bias_saturated = 0;         // int32 bias values clipped
  bool sensitivity_measured = false;  // the three values below come from a measurement
  double output_cosine = std::numeric_limits<double>::quiet_NaN();  // vs float, all layers int8
  double output_sqnr_db = std::numeric_limits<double>::quiet_NaN();
  double isolated_model_cosine = std::numeric_limits<double>::quiet_NaN();  // only this one int8
};

struct QuantizeFallbackStep {
  std::string keep_float;  // the layer made float at this step
  double model_cosine = std::numeric_limits<double>::quiet_NaN();  // after it
  double top1 = std::numeric_limits<double>::quiet_NaN();          // with validation, in %
};

struct QuantizeFallback {
  std::string mode;       // "auto" or "none"
  std::string criterion;  // "cosine", "top1" (validation) or "" (none)
  double target = std::numeric_limits<double>::quiet_NaN();  // target_cosine, or max_drop
  size_t items = 0;                                          // the sensitivity items
  bool isolated_measured = false;
  double int8_model_cosine = std::numeric_limits<double>::quiet_NaN();  // all int8 but keep_float
  double model_cosine = std::numeric_limits<double>::quiet_NaN();       // of the written model
  // With validation: its items and top-1 in % of float, all int8, and the written model.
  size_t validation_items = 0;
  double float_top1 = std::numeric_limits<double>::quiet_NaN();
  double int8_top1 = std::numeric_limits<double>::quiet_NaN();
  double top1 = std::numeric_limits<double>::quiet_NaN();
  bool reached = true;                  // false: every layer float did not reach the target
  std::vector<std::string> kept_float;  // by the fallback, sorted
  std::vector<QuantizeFallbackStep> steps;
  double int8_macs_percent = 0;  // int8 share of the calibrated layers' MACs
};

// Everything `effi quantize --json` prints (QuantizeReport::ToJson).
struct QuantizeReport {
  std::string model, out;  // the paths given
  std::string observer;
  std::string calibration;              // QuantizeOptions::calibration
  std::string calibration_description;  // e.g. "IDX 't10k-images-idx3-ubyte.gz' (10000 ...)"
  size_t calibration_items = 0;         // used
  size_t calibration_available = 0;     // in the source
  size_t activations = 0;               // calibrated activation tensors
  double calibration_seconds = 0;
  double sensitivity_seconds = 0;  // output errors, isolated sensitivity and fallback steps
  std::string validation;          // QuantizeOptions::validation
  QuantizeFallback fallback;
  bool output_qdq = false;
  int64_t opset_in = 0, opset_out = 0;
  int64_t quantize_linear = 0, dequantize_linear = 0;  // nodes in the written model
  int64_t bytes_in = 0, bytes_out = 0;                 // model file sizes
  double seconds = 0;                                  // the whole call
  std::vector<QuantizeLayer> layers;
  // "fallback auto: target model-output cosine 0.9998, 0.99959 with every layer int8, ... ; kept
  // float: ...; int8 99.4 % of the calibrated layers' MACs"
  std::string summary;

  // The report as `effi quantize --json` prints it: one JSON document, 2-space indented, NaN and
  // infinities as null, invalid UTF-8 in names replaced by U+FFFD.
  std::string ToJson() const;
};

// Quantizes the float ONNX classifier at `model_path` and writes the QDQ model to `out_path`
// (replaced atomically). Errors: see the top of this file.
QuantizeReport Quantize(const std::string& model_path, const std::string& out_path,
                        const QuantizeOptions& options = {});

}  // namespace effi
