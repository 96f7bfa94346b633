// Post-training static quantization math (issue 12): observers that accumulate activation
// statistics over calibration batches and turn them into a range, and the u8/s8/s32 parameters
// derived from ranges and weights, laid out as ONNX Runtime's quantize_static writes a QDQ model
// (activations u8 asymmetric per tensor, weights s8 symmetric per output channel, bias s32 with
// scale s_x * s_w[c]). No ONNX here: src/onnx/qdq_export uses this to write the model.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace effi::quant {

struct Range {
  float min = 0, max = 0;
};

// Streaming histogram of a tensor's values on [-R, R) in kBins equal bins (kBins / 2 per sign, so
// the |x| histogram the entropy observer uses has 2048 bins, TensorRT's count). R starts at the
// first non-zero batch's max |x| and doubles when a later batch exceeds it: the two halves of every
// adjacent pair of bins fall into one new bin exactly, so no count is ever split or re-guessed.
class Histogram {
 public:
  static constexpr int kBins = 4096;
  void Add(const float* x, size_t n);      // finite values only (the caller filters)
  double limit() const { return limit_; }  // R (0 until a non-zero value)
  double bin_width() const { return 2 * limit_ / kBins; }
  const std::vector<double>& counts() const { return counts_; }  // empty until R > 0
  double total() const { return total_; }
  double zeros_before_limit() const { return pending_zeros_; }

 private:
  void Grow(double amax);
  double limit_ = 0, total_ = 0, pending_zeros_ = 0;
  std::vector<double> counts_;
};

enum class ObserverKind { kMinMax, kPercentile, kMse, kEntropy };

// "minmax" | "percentile" | "mse" | "entropy"; throws effi::Error(kInvalidArgument) otherwise.
ObserverKind ParseObserverKind(const std::string& name);
const char* ObserverName(ObserverKind kind);

struct ObserverOptions {
  ObserverKind kind = ObserverKind::kMinMax;
  // Share of values kept inside the range by the percentile observer, in percent; the rest is cut
  // evenly from both tails. 99.99 is ONNX Runtime's default.
  double percentile = 99.99;
};

// Accumulates one tensor's values over calibration batches. NaN and +-inf are skipped (counted):
// one poisoned value must not turn every scale into NaN or inf.
class Observer {
 public:
  explicit Observer(const ObserverOptions& options = {});
  void Observe(const float* x, size_t n);
  // The calibrated range (always containing 0 is left to ActivationParams). Throws
  // effi::Error(kInvalidArgument) when no finite value was observed.
  Range Compute() const;
  int64_t finite_count() const { return finite_; }
  int64_t skipped_count() const { return skipped_; }
  Range observed() const { return {min_, max_}; }  // the exact min/max seen
  const Histogram& histogram() const { return hist_; }

 private:
  ObserverOptions options_;
  float min_ = 0, max_ = 0;
  int64_t finite_ = 0, skipped_ = 0;
  Histogram hist_;
  std::vector<float> scratch_;
};

// The observers' range choices on a histogram, exposed for tests. `observed` is the exact min/max.
Range PercentileRange(const Histogram& h, Range observed, double percentile);
Range MseRange(const Histogram& h, Range observed);
Range EntropyRange(const Histogram& h, Range observed);

// Quantization parameters of one tensor (or one channel): x = scale * (q - zero_point).
struct QParams {
  float scale = 1;
  int32_t zero_point = 0;
};

// u8 asymmetric per tensor, as ONNX Runtime computes it: the range is first widened to contain 0
// (so that zero padding and ReLU's zeros are exact), scale = (max - min) / 255, zero point =
// round(-min / scale) in [0, 255]; an all-zero range gives scale 1, zero point 0.
QParams ActivationParams(Range r);

// s8 symmetric per output channel over a weight viewed as [outer, channels, inner] (the channel
// axis in the middle: Conv [O, I, kh, kw] is outer 1, inner I*kh*kw; MatMul B [K, N] is outer K,
// inner 1). Zero point 0 and levels [-127, 127]: the grid is symmetric, so +max|w| and -max|w|
// are both exact and scale = max|w| / 127; including -128 would make one sign one level longer
// and either waste it or clip the other (ONNX Runtime's symmetric int8 range is [-127, 127] too). A
// channel of zeros gets scale 1 (any scale represents it; 1 keeps the bias scale s_x * s_w
// non-zero). A NaN or infinite weight throws effi::Error(kInvalidModel).
struct QuantizedWeight {
  std::vector<float> scales;   // [channels]
  std::vector<int8_t> values;  // same layout as the input
};
QuantizedWeight QuantizeWeightPerChannel(const float* w, int64_t outer, int64_t channels,
                                         int64_t inner);

// Bias as ONNX Runtime writes it for Conv/Gemm: s32 with scale s_x * s_w[c] and zero point 0, so
// the integer kernel adds it to its s32 accumulators directly. Values beyond the int32 range
// saturate (a 1e9 bias over a tiny scale); `saturated` (optional) counts them. A NaN or infinite
// bias throws effi::Error(kInvalidModel).
std::vector<int32_t> QuantizeBias(const float* bias, int64_t channels, float input_scale,
                                  const std::vector<float>& weight_scales,
                                  int64_t* saturated = nullptr);

// How far a quantized run's tensor is from the float run's, over calibration items (the
// sensitivity report and the fallback): the mean over items of the cosine of the flattened tensors
// (both all-zero: 1; one all-zero: 0), and the SQNR over all items, 10 log10(sum ref^2 /
// sum (ref - x)^2) dB (+inf when they are equal). Non-finite values make both NaN, shown as such.
class ErrorStats {
 public:
  void Add(const float* ref, const float* x, size_t n);
  int64_t items() const { return items_; }
  double mean_cosine() const;  // 1 when no item was added
  double sqnr_db() const;

 private:
  int64_t items_ = 0;
  double cosine_sum_ = 0, signal_ = 0, noise_ = 0;
};

// Round half to even, as QuantizeLinear and numpy do.
float RoundHalfEven(float x);

}  // namespace effi::quant
