// Reference data movement: N-d transpose, NCHW <-> NHWC and strided N-d copies (Slice, Gather,
// Expand). Dtype-agnostic where possible: elements are moved as elem_size raw bytes.

#include <cstring>
#include <vector>

#include "kernels/ref/ref_kernels.h"

namespace effi::kernels::ref {

void strided_copy(int64_t elem_size, int rank, const int64_t* shape, const void* x,
                  int64_t x_offset, const int64_t* x_strides, void* y) {
  int64_t total = 1;
  for (int d = 0; d < rank; ++d) total *= shape[d];
  if (total == 0) return;
  const auto* src = static_cast<const unsigned char*>(x);
  auto* dst = static_cast<unsigned char*>(y);
  // Odometer over y's index; xo tracks the matching source element (in elements).
  std::vector<int64_t> idx(static_cast<size_t>(rank), 0);
  int64_t xo = x_offset;
  for (int64_t i = 0; i < total; ++i) {
    std::memcpy(dst + i * elem_size, src + xo * elem_size, static_cast<size_t>(elem_size));
    for (int d = rank - 1; d >= 0; --d) {
      ++idx[d];
      xo += x_strides[d];
      if (idx[d] < shape[d]) break;
      xo -= x_strides[d] * shape[d];
      idx[d] = 0;
    }
  }
}

void transpose(int64_t elem_size, int rank, const int64_t* in_shape, const int64_t* perm,
               const void* x, void* y) {
  // A transpose is a strided copy whose view has the permuted shape and permuted input strides.
  std::vector<int64_t> in_stride(static_cast<size_t>(rank), 1);
  for (int d = rank - 2; d >= 0; --d) in_stride[d] = in_stride[d + 1] * in_shape[d + 1];
  std::vector<int64_t> out_shape(static_cast<size_t>(rank));
  std::vector<int64_t> view_stride(static_cast<size_t>(rank));
  for (int d = 0; d < rank; ++d) {
    out_shape[d] = in_shape[perm[d]];
    view_stride[d] = in_stride[perm[d]];
  }
  strided_copy(elem_size, rank, out_shape.data(), x, 0, view_stride.data(), y);
}

void nchw_to_nhwc_f32(int64_t n, int64_t c, int64_t hw, const float* x, float* y) {
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t ch = 0; ch < c; ++ch) {
      for (int64_t s = 0; s < hw; ++s) y[(b * hw + s) * c + ch] = x[(b * c + ch) * hw + s];
    }
  }
}

void nhwc_to_nchw_f32(int64_t n, int64_t hw, int64_t c, const float* x, float* y) {
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t ch = 0; ch < c; ++ch) {
      for (int64_t s = 0; s < hw; ++s) y[(b * c + ch) * hw + s] = x[(b * hw + s) * c + ch];
    }
  }
}

}  // namespace effi::kernels::ref
