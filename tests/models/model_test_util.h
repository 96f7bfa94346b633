// Helpers for the model tests: golden .npy files as effi::Tensor, and the logits comparison
// (max |diff| against max |ref|, per-row argmax) every model test reports.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "effi/effi.hpp"
#include "util/npy.h"

namespace effi::testing {

inline const std::string kSharedDir = EFFI_SHARED_DIR;
inline const std::string kModelsDir = EFFI_TEST_MODELS_DIR;

// Sanitizer builds run the reference kernels ~10x slower: the big models test fewer inputs there.
#ifdef EFFI_TEST_SANITIZED
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

inline bool Exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

// A float32 .npy file as a tensor (throws effi::Error on anything else).
inline Tensor LoadTensor(const std::string& path) {
  npy::Array a = npy::Load(path);
  if (a.dtype != "float32") throw Error(ErrorCode::kInvalidArgument, path + ": not float32");
  Tensor t;
  t.type = ElementType::kFloat32;
  t.shape = a.shape;
  t.bytes = std::move(a.bytes);
  return t;
}

// Row `r` of a [rows, ...] tensor as its own [1, ...] tensor.
inline Tensor Row(const Tensor& t, int64_t r) {
  Tensor out;
  out.type = t.type;
  out.shape = t.shape;
  out.shape[0] = 1;
  const size_t row_bytes = t.bytes.size() / static_cast<size_t>(t.shape[0]);
  out.bytes.assign(t.bytes.begin() + r * row_bytes, t.bytes.begin() + (r + 1) * row_bytes);
  return out;
}

struct Diff {
  double max_abs = 0;  // max |out - ref|
  double max_ref = 0;  // max |ref|
  int argmax_mismatches = 0;
  double max_rel = -1;  // when merged: the worst per-comparison max_abs / max_ref
  double rel() const { return max_rel >= 0 ? max_rel : max_ref > 0 ? max_abs / max_ref : max_abs; }
  void Merge(const Diff& d) {
    max_rel = std::max(rel(), d.rel());
    max_abs = std::max(max_abs, d.max_abs);
    max_ref = std::max(max_ref, d.max_ref);
    argmax_mismatches += d.argmax_mismatches;
  }
};

inline int64_t ArgMax(const float* p, int64_t n) { return std::max_element(p, p + n) - p; }

// Compares logits [rows, classes] (any leading shape; the last dim is the class axis).
inline Diff Compare(const Tensor& out, const Tensor& ref) {
  Diff d;
  EXPECT_EQ(out.shape, ref.shape);
  if (out.shape != ref.shape || out.shape.empty()) return d;
  const int64_t cols = out.shape.back(), rows = out.elements() / cols;
  for (int64_t r = 0; r < rows; ++r) {
    const float* a = out.floats() + r * cols;
    const float* b = ref.floats() + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      EXPECT_TRUE(std::isfinite(a[c])) << "row " << r << " class " << c;
      d.max_abs = std::max(d.max_abs, std::fabs(static_cast<double>(a[c]) - b[c]));
      d.max_ref = std::max(d.max_ref, std::fabs(static_cast<double>(b[c])));
    }
    if (ArgMax(a, cols) != ArgMax(b, cols)) ++d.argmax_mismatches;
  }
  return d;
}

// The model-test criterion: max |diff| <= rel_tol * max |ref| and the same argmax in every row.
inline void ExpectClose(const Diff& d, double rel_tol, const std::string& what) {
  EXPECT_LE(d.max_abs, rel_tol * d.max_ref)
      << what << ": max |diff| " << d.max_abs << ", max |ref| " << d.max_ref;
  EXPECT_EQ(d.argmax_mismatches, 0) << what;
}

// One line per comparison in the test log, for the measured-diffs table.
inline void Report(const std::string& what, const Diff& d) {
  std::printf("[diff] %-48s max_abs %.3g  max_ref %.3g  rel %.3g\n", what.c_str(), d.max_abs,
              d.max_ref, d.rel());
  std::fflush(stdout);
}

inline Tensor RunOne(Session& s, const Tensor& input) { return s.Run({{"data", input}}).at(0); }

}  // namespace effi::testing
