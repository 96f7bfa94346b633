// Observers and quantization parameters (see quant.h).
#include "quant/quant.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "effi/error.hpp"

namespace effi::quant {

float RoundHalfEven(float x) { return std::nearbyint(x); }  // default FE_TONEAREST: half to even

// ---------------- Histogram ----------------

void Histogram::Grow(double amax) {
  // Doubling R maps old bin i ([-R + i w, -R + (i+1) w)) onto new bin kBins/4 + i/2 exactly.
  while (limit_ < amax) {
    std::vector<double> grown(kBins, 0.0);
    for (int i = 0; i < kBins; ++i) grown[kBins / 4 + i / 2] += counts_[i];
    counts_.swap(grown);
    limit_ *= 2;
  }
}

void Histogram::Add(const float* x, size_t n) {
  double amax = 0;
  for (size_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(static_cast<double>(x[i])));
  total_ += static_cast<double>(n);
  if (limit_ == 0) {
    if (amax == 0) {  // all zeros so far: no scale to bin them on yet
      pending_zeros_ += static_cast<double>(n);
      return;
    }
    limit_ = amax;
    counts_.assign(kBins, 0.0);
    counts_[kBins / 2] += pending_zeros_;
  } else if (amax > limit_) {
    Grow(amax);
  }
  const double per_unit = kBins / (2 * limit_);
  for (size_t i = 0; i < n; ++i) {
    const double pos = (static_cast<double>(x[i]) + limit_) * per_unit;
    const int bin = std::clamp(static_cast<int>(std::floor(pos)), 0, kBins - 1);
    counts_[bin] += 1;
  }
}

// ---------------- Observers ----------------

ObserverKind ParseObserverKind(const std::string& name) {
  if (name == "minmax") return ObserverKind::kMinMax;
  if (name == "percentile") return ObserverKind::kPercentile;
  if (name == "mse") return ObserverKind::kMse;
  if (name == "entropy") return ObserverKind::kEntropy;
  throw Error(ErrorCode::kInvalidArgument,
              "unknown observer (expected minmax, percentile, mse or entropy)");
}

const char* ObserverName(ObserverKind kind) {
  switch (kind) {
    case ObserverKind::kMinMax:
      return "minmax";
    case ObserverKind::kPercentile:
      return "percentile";
    case ObserverKind::kMse:
      return "mse";
    case ObserverKind::kEntropy:
      return "entropy";
  }
  return "?";
}

Observer::Observer(const ObserverOptions& options) : options_(options) {
  if (!(options.percentile > 0 && options.percentile <= 100))
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("percentile must be in (0, 100], got {}", options.percentile));
}

void Observer::Observe(const float* x, size_t n) {
  size_t bad = 0;
  for (size_t i = 0; i < n; ++i) bad += !std::isfinite(x[i]);
  const float* data = x;
  size_t count = n;
  if (bad) {
    scratch_.clear();
    for (size_t i = 0; i < n; ++i)
      if (std::isfinite(x[i])) scratch_.push_back(x[i]);
    data = scratch_.data();
    count = scratch_.size();
    skipped_ += static_cast<int64_t>(bad);
  }
  if (count == 0) return;
  const auto [lo, hi] = std::minmax_element(data, data + count);
  min_ = finite_ ? std::min(min_, *lo) : *lo;
  max_ = finite_ ? std::max(max_, *hi) : *hi;
  finite_ += static_cast<int64_t>(count);
  if (options_.kind != ObserverKind::kMinMax) hist_.Add(data, count);
}

Range Observer::Compute() const {
  if (finite_ == 0)
    throw Error(ErrorCode::kInvalidArgument,
                skipped_ ? "no finite value observed (every value was NaN or infinite)"
                         : "no value observed");
  const Range seen{min_, max_};
  switch (options_.kind) {
    case ObserverKind::kMinMax:
      return seen;
    case ObserverKind::kPercentile:
      return PercentileRange(hist_, seen, options_.percentile);
    case ObserverKind::kMse:
      return MseRange(hist_, seen);
    case ObserverKind::kEntropy:
      return EntropyRange(hist_, seen);
  }
  return seen;
}

Range PercentileRange(const Histogram& h, Range observed, double percentile) {
  if (h.limit() == 0) return observed;  // every value was 0
  const std::vector<double>& c = h.counts();
  const double cut = h.total() * (100.0 - percentile) / 200.0;  // values cut from each tail
  const double w = h.bin_width();
  double cum = 0;
  int first = 0, last = Histogram::kBins - 1;
  for (int i = 0; i < Histogram::kBins; ++i) {
    cum += c[i];
    if (cum > cut) {  // bin i holds the lowest value kept
      first = i;
      break;
    }
  }
  cum = 0;
  for (int i = Histogram::kBins - 1; i >= 0; --i) {
    cum += c[i];
    if (cum > cut) {
      last = i;
      break;
    }
  }
  // The edges of the first and last bins kept, never beyond what was seen.
  const float lo = static_cast<float>(-h.limit() + first * w);
  const float hi = static_cast<float>(-h.limit() + (last + 1) * w);
  return {std::max(lo, observed.min), std::min(hi, observed.max)};
}

namespace {

// Sum over the histogram's bin centres of count * (x - dequant(quant(x)))^2 for a u8 range.
double QuantError(const Histogram& h, Range r) {
  const QParams q = ActivationParams(r);
  const double w = h.bin_width();
  double err = 0;
  for (int i = 0; i < Histogram::kBins; ++i) {
    const double n = h.counts()[i];
    if (n == 0) continue;
    const double x = -h.limit() + (i + 0.5) * w;
    const double level = std::clamp(
        static_cast<double>(RoundHalfEven(static_cast<float>(x / q.scale))) + q.zero_point, 0.0,
        255.0);
    const double d = x - q.scale * (level - q.zero_point);
    err += n * d * d;
  }
  return err;
}

}  // namespace

Range MseRange(const Histogram& h, Range observed) {
  if (h.limit() == 0) return observed;
  // Candidates shrink the observed range towards 0 in 1 % steps (both ends by the same factor, so
  // the zero point stays put): 100 candidates x 4096 bins is ~0.4 M operations per tensor.
  constexpr int kSteps = 100;
  Range best = observed;
  double best_err = std::numeric_limits<double>::infinity();
  for (int k = kSteps; k >= 1; --k) {  // from the widest: ties keep the least clipping
    const Range r{observed.min * k / kSteps, observed.max * k / kSteps};
    const double err = QuantError(h, r);
    if (err < best_err) {
      best_err = err;
      best = r;
    }
  }
  return best;
}

Range EntropyRange(const Histogram& h, Range observed) {
  if (h.limit() == 0) return observed;
  // |x| histogram: 2048 bins of width w from 0.
  constexpr int kHalf = Histogram::kBins / 2;
  const std::vector<double>& c = h.counts();
  std::vector<double> a(kHalf);
  for (int j = 0; j < kHalf; ++j) a[j] = c[kHalf + j] + c[kHalf - 1 - j];
  int used = kHalf;
  while (used > 0 && a[used - 1] == 0) --used;
  // Levels the larger side of the range gets on the u8 grid: 255 for non-negative data, ~128 for
  // symmetric data (TensorRT's 128 for its signed int8), in between for GELU-like data.
  const double lo = std::min(observed.min, 0.0f), hi = std::max(observed.max, 0.0f);
  const double amax = std::max(-lo, hi);
  const int levels = std::clamp(static_cast<int>(std::lround(255.0 * amax / (hi - lo))), 1, 255);
  double best_kl = std::numeric_limits<double>::infinity();
  int best_i = used;  // no candidate (fewer used bins than levels): keep everything
  double tail = 0, kept = 0;
  for (int j = levels; j < used; ++j) tail += a[j];
  for (int j = 0; j < levels; ++j) kept += a[j];
  for (int i = levels; i <= used; ++i) {
    // TensorRT's KL search: P is the first i bins with everything beyond folded into the last
    // (what clipping at i does); Q is the first i bins alone requantised into `levels` groups,
    // each group's mass spread evenly over its non-empty bins. Both are normalised; where P > 0
    // and Q = 0 (an empty last bin receiving the clipped tail) the KL is infinite.
    double kl = 0;
    bool finite = true;
    for (int g = 0; g < levels && finite; ++g) {
      const int b0 = static_cast<int>(static_cast<int64_t>(g) * i / levels);
      const int b1 = static_cast<int>(static_cast<int64_t>(g + 1) * i / levels);
      double mass = 0;
      int nonzero = 0;
      for (int k = b0; k < b1; ++k) {
        mass += a[k];
        nonzero += a[k] > 0;
      }
      for (int k = b0; k < b1; ++k) {
        const double p = (a[k] + (k == i - 1 ? tail : 0.0)) / (kept + tail);
        if (p == 0) continue;
        if (a[k] == 0) {
          finite = false;
          break;
        }
        kl += p * std::log(p / (mass / nonzero / kept));
      }
    }
    if (finite && kl < best_kl) {  // strict: ties keep the narrower threshold found first
      best_kl = kl;
      best_i = i;
    }
    if (i < used) {
      tail -= a[i];
      kept += a[i];
    }
  }
  const float t = static_cast<float>(best_i * h.bin_width());
  return {std::max(observed.min, -t), std::min(observed.max, t)};
}

// ---------------- Parameters ----------------

QParams ActivationParams(Range r) {
  const float lo = std::min(r.min, 0.0f), hi = std::max(r.max, 0.0f);
  if (!(hi > lo)) return {1.0f, 0};
  const float scale = (hi - lo) / 255.0f;
  const float zp = RoundHalfEven(-lo / scale);
  return {scale, static_cast<int32_t>(std::clamp(zp, 0.0f, 255.0f))};
}

QuantizedWeight QuantizeWeightPerChannel(const float* w, int64_t outer, int64_t channels,
                                         int64_t inner) {
  QuantizedWeight out;
  out.scales.assign(static_cast<size_t>(channels), 0.0f);
  out.values.resize(static_cast<size_t>(outer * channels * inner));
  for (size_t k = 0; k < out.values.size(); ++k)
    if (!std::isfinite(w[k]))
      throw Error(ErrorCode::kInvalidModel, fmt::format("weight value {} is {}", k, w[k]));
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t i = 0; i < inner; ++i)
        out.scales[c] = std::max(out.scales[c], std::fabs(w[(o * channels + c) * inner + i]));
  for (float& s : out.scales) s = s > 0 ? s / 127.0f : 1.0f;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t k = (o * channels + c) * inner + i;
        const float q = std::clamp(RoundHalfEven(w[k] / out.scales[c]), -127.0f, 127.0f);
        out.values[k] = static_cast<int8_t>(q);
      }
  return out;
}

std::vector<int32_t> QuantizeBias(const float* bias, int64_t channels, float input_scale,
                                  const std::vector<float>& weight_scales, int64_t* saturated) {
  std::vector<int32_t> q(static_cast<size_t>(channels));
  constexpr double kMin = std::numeric_limits<int32_t>::min();
  constexpr double kMax = std::numeric_limits<int32_t>::max();
  for (int64_t c = 0; c < channels; ++c) {
    if (!std::isfinite(bias[c]))
      throw Error(ErrorCode::kInvalidModel, fmt::format("bias value {} is {}", c, bias[c]));
    const float scale = input_scale * weight_scales[c];  // float32 product, as ORT writes it
    const double v = std::nearbyint(static_cast<double>(bias[c]) / scale);
    if ((v < kMin || v > kMax) && saturated) ++*saturated;
    q[c] = static_cast<int32_t>(std::clamp(v, kMin, kMax));
  }
  return q;
}

// ---------------- Error against float ----------------

void ErrorStats::Add(const float* ref, const float* x, size_t n) {
  double xy = 0, xx = 0, yy = 0, noise = 0;
  for (size_t i = 0; i < n; ++i) {
    const double a = ref[i], b = x[i];
    xy += a * b;
    xx += a * a;
    yy += b * b;
    noise += (a - b) * (a - b);
  }
  double cosine = 0;
  if (xx == 0 && yy == 0)
    cosine = 1;
  else if (xx > 0 && yy > 0)
    cosine = xy / std::sqrt(xx * yy);
  else if (std::isnan(xx) || std::isnan(yy))
    cosine = std::numeric_limits<double>::quiet_NaN();
  cosine_sum_ += cosine;
  signal_ += xx;
  noise_ += noise;
  ++items_;
}

double ErrorStats::mean_cosine() const {
  return items_ ? cosine_sum_ / static_cast<double>(items_) : 1.0;
}

double ErrorStats::sqnr_db() const {
  if (std::isnan(signal_) || std::isnan(noise_)) return std::numeric_limits<double>::quiet_NaN();
  if (noise_ == 0) return std::numeric_limits<double>::infinity();
  if (signal_ == 0) return -std::numeric_limits<double>::infinity();
  return 10 * std::log10(signal_ / noise_);
}

}  // namespace effi::quant
