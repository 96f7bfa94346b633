// Fast paths for Transpose: any permutation that collapses to swapping two axes,
// [outer][a][b][inner] -> [outer][b][a][inner] (NCHW <-> NHWC, attention's (0,2,1,3) and
// (0,1,3,2)). inner == 1 runs a blocked 4x4 SIMD transpose (Highway), inner > 1 copies rows.
#pragma once

#include <cstdint>

namespace effi::kernels {

struct TransposePlan {
  int64_t elem_size = 4;
  int64_t outer = 1, a = 1, b = 1, inner = 1;  // a == 1 or b == 1: a plain copy
};

// Collapses (drops size-1 axes, merges axes that stay adjacent) `perm` on `shape`; false when the
// result is not a single two-axis swap, or when inner == 1 and elem_size != 4.
bool PlanTranspose(int64_t elem_size, int rank, const int64_t* shape, const int64_t* perm,
                   TransposePlan* plan);

// Runs the plan for outer indices [outer_begin, outer_end); x and y must not overlap.
void TransposeRun(const TransposePlan& plan, const void* x, void* y, int64_t outer_begin,
                  int64_t outer_end);

// [outer][a][b] -> [outer][b][a] for 4-byte elements.
void Transpose2dX32(int64_t outer, int64_t a, int64_t b, const void* x, void* y);

}  // namespace effi::kernels
