// Fast Resize (nearest / linear) of the two spatial axes of an image tensor, NCHW or NHWC, from
// per-axis tap tables built once at load with the reference's own ref::resize_tap, so every
// output reads the same source elements with the same weights as ref::resize_f32. Linear outputs
// are computed in double in the reference's order ((1 - w) * a + w * b along W, then along H, the
// result rounded to float once), so they equal ref::resize_f32 bit for bit; both files are
// compiled with -ffp-contract=off (src/kernels/CMakeLists.txt) so no compiler fuses that order
// into an FMA on one side only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "kernels/ref/ref_kernels.h"

namespace effi::kernels {

// One resized axis: per output index the source indices and the weight of i1 (w1 = 0: the
// reference does not interpolate along this axis there, and i1 = i0).
struct ResizeTable {
  int64_t in = 0, out = 0;
  std::vector<int32_t> i0, i1;
  std::vector<double> w1;
};

struct ResizePlan {
  bool linear = false;
  ResizeTable h, w;
};

// Tables above this many entries per axis (16 bytes each) are not built: such an axis (over a
// million output rows or columns) runs on the reference, which needs no tables.
inline constexpr int64_t kMaxResizeTable = int64_t{1} << 20;

// True when `a` maps every output index onto the same input index with weight 0 under p's modes
// (same length, scale 1, and a coordinate mode that does not shift it: tf_half_pixel_for_nn with
// ceil-ward rounding reads k + 1).
bool ResizeAxisIsIdentity(const ref::ResizeParams& p, const ref::ResizeAxis& a);

// The plan resizing axes h and w under p's mode and coordinate mode; nullopt where the fast
// kernels do not apply (tf_crop_and_resize, an empty axis, a table over kMaxResizeTable).
std::optional<ResizePlan> PlanResize(const ref::ResizeParams& p, const ref::ResizeAxis& h,
                                     const ref::ResizeAxis& w);

// NCHW: x [planes][h.in][w.in] -> y [planes][h.out][w.out]; computes output rows
// [row_begin, row_end) of the planes * h.out rows. scratch: ResizeNchwScratchBytes(plan) bytes,
// 64-byte aligned, private to the caller.
size_t ResizeNchwScratchBytes(const ResizePlan& plan);
void ResizeNchwF32(const ResizePlan& plan, const float* x, float* y, int64_t row_begin,
                   int64_t row_end, void* scratch);

// NHWC: x [n][h.in][w.in][c] -> y [n][h.out][w.out][c], vectorised over c; output rows
// [row_begin, row_end) of the n * h.out rows.
void ResizeNhwcF32(const ResizePlan& plan, int64_t c, const float* x, float* y, int64_t row_begin,
                   int64_t row_end);

}  // namespace effi::kernels
