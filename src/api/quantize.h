// effi::Quantize's internal entry point (src/api/quantize.cc), for `effi quantize`
// (tools/effi/quantize.cc): the CLI resolves the preprocessing from its own flags (each flag
// overrides one field of the model's metadata, which PreprocessOptions cannot express), checks
// its --report path with the output, and prints the notes the library does not (stderr lines).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "api/classifier.h"
#include "effi/quantize.hpp"
#include "image/preprocess.h"

namespace effi::api {

struct QuantizeHooks {
  // The preprocessing, once the model is loaded and checked as a classifier; must fit its input.
  // Empty: ResolvePreprocessing (QuantizeOptions::preprocessing, else the model's), checked.
  std::function<image::PreprocessConfig(const Model& model, const ClassifierInfo& info)>
      preprocessing;
  // Checked writable like out_path, after it and before any calibration work.
  std::vector<std::string> also_writable;
  // One line (no "effi: " prefix, no newline) after calibration, after the sensitivity and
  // fallback, and a "warning: ..." when the fallback's target was not reached.
  std::function<void(const std::string& line)> note;
};

// A report number with `digits` decimals, as the summary and the CLI's table show it: "-" for NaN
// (not measured), "inf" / "-inf".
std::string Fixed(double v, int digits);

QuantizeReport Quantize(const std::string& model_path, const std::string& out_path,
                        const QuantizeOptions& options, const QuantizeHooks& hooks);

}  // namespace effi::api
