// Classifier input preprocessing: timm's eval transform (resize shorter side, center crop, /255,
// normalise) with PIL-exact resampling, or torch interpolate() semantics when antialias is off.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <vector>

#include "image/image.h"

namespace effi::image {

enum class Interpolation { kBicubic, kBilinear, kNearest };

struct PreprocessConfig {
  int input_h = 224;
  int input_w = 224;
  // timm: the image is resized to floor(input / crop_pct) and the centre input_h x input_w kept.
  float crop_pct = 0.95f;
  // When both are > 0, resize to exactly resize_h x resize_w (ignoring aspect ratio and crop_pct)
  // before the centre crop, like torch interpolate(size=...); the "resize" metadata key sets them.
  int resize_h = 0;
  int resize_w = 0;
  Interpolation interp = Interpolation::kBicubic;
  // true: PIL Image.resize on uint8 (antialiased: the filter widens when downscaling), as
  // torchvision/timm do for PIL images; bit-exact with Pillow 9.4. false: torch's interpolate on
  // the /255 float NCHW image (align_corners=False, antialias=False; bicubic a=-0.75, nearest =
  // floor(dst*in/out)); bit-exact with torch 1.13 CPU.
  bool antialias = true;
  // Indexed by OUTPUT channel: with bgr=true, mean[0]/std[0] apply to the blue plane.
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};
  bool bgr = false;  // emit planes B,G,R instead of R,G,B
};

// Geometry of one Preprocess call: the resized size, then the top-left corner of the crop inside
// it. A negative corner means the crop is larger than the image there; torchvision pads with 0.
struct ResizePlan {
  int resize_w = 0;
  int resize_h = 0;
  int crop_x = 0;
  int crop_y = 0;
};

// Computes the plan for a src_w x src_h image:
//  - resize_h/resize_w set: that size.
//  - square input: torchvision Resize(int) with int = floor(input / crop_pct): shorter side to
//    that, longer side int(size * long / short).
//  - non-square input: timm's ResizeKeepRatio (shorter-side ratio, round-half-even).
// Crop corner: int(round((size - crop) / 2.0)) with Python's round-half-even, as CenterCrop does.
ResizePlan PlanResize(int src_w, int src_h, const PreprocessConfig& config);

// PIL Image.resize((out_w, out_h), filter) on an RGB image, bit-exact with Pillow 9.x: separable
// fixed-point convolution (22 fractional bits), horizontal pass first, rounding and clipping to
// uint8 after each pass; NEAREST uses PIL's affine sampler. Same size returns a copy.
Image ResizePil(const Image& image, int out_w, int out_h, Interpolation interp);

// Float32 NCHW [3, input_h, input_w], channel order RGB (or BGR if config.bgr). Throws
// Error(kInvalidArgument) for an empty/inconsistent image or an invalid config.
std::vector<float> Preprocess(const Image& image, const PreprocessConfig& config);

// Real preprocess metadata is a few hundred bytes.
inline constexpr size_t kMaxPreprocessJsonBytes = 64 * 1024;

// Overrides fields of `base` from a model's `preprocess` metadata JSON, e.g.
//   {"input_size": [3, 96, 96], "resize": [96, 96], "crop_pct": 1.0, "interpolation": "bilinear",
//    "antialias": false, "mean": [...], "std": [...]}
// Understood keys: input_size ([3,H,W] or [H,W]), resize ([H,W]), crop_pct, interpolation
// ("bicubic" | "bilinear" | "nearest"), antialias, mean, std (3 numbers each), bgr. Unknown keys
// are ignored; null leaves a field as it is. Invalid JSON or wrong types, a value over
// kMaxPreprocessJsonBytes or nested deeper than kMaxJsonDepth (labels.h) -> Error(kInvalidModel).
PreprocessConfig FromMetadataJson(const std::string& json, PreprocessConfig base);

}  // namespace effi::image
