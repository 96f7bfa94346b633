// Reference reductions over an arbitrary axis set (double accumulation) and softmax/log-softmax
// over the middle axis of [outer][axis_len][inner].

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/ref/ref_kernels.h"

namespace effi::kernels::ref {

namespace {

double reduce_init(ReduceOp op) {
  switch (op) {
    case ReduceOp::kMax:
      return -std::numeric_limits<double>::infinity();
    case ReduceOp::kMin:
      return std::numeric_limits<double>::infinity();
    case ReduceOp::kProd:
      return 1.0;
    case ReduceOp::kMean:
    case ReduceOp::kSum:
    case ReduceOp::kSumSquare:
    case ReduceOp::kL2:
      break;
  }
  return 0.0;
}

double reduce_step(ReduceOp op, double acc, double v) {
  switch (op) {
    case ReduceOp::kMean:
    case ReduceOp::kSum:
      return acc + v;
    case ReduceOp::kSumSquare:
    case ReduceOp::kL2:
      return acc + v * v;
    case ReduceOp::kProd:
      return acc * v;
    // NaN must stick: once acc is NaN no comparison is true, and a NaN v replaces acc.
    case ReduceOp::kMax:
      return (v > acc || std::isnan(v)) ? v : acc;
    case ReduceOp::kMin:
      return (v < acc || std::isnan(v)) ? v : acc;
  }
  return acc;
}

}  // namespace

void reduce_f32(ReduceOp op, int rank, const int64_t* in_shape, const bool* axes_mask,
                const float* x, float* y) {
  // Output strides: contiguous over the kept dims, 0 for reduced dims, so walking the input with an
  // odometer moves the output offset exactly as the kept indices dictate.
  std::vector<int64_t> out_stride(static_cast<size_t>(rank), 0);
  int64_t out_size = 1;
  int64_t in_size = 1;
  for (int d = rank - 1; d >= 0; --d) {
    in_size *= in_shape[d];
    if (!axes_mask[d]) {
      out_stride[d] = out_size;
      out_size *= in_shape[d];
    }
  }
  // Number of input elements folded into each output (0 if a reduced dim is empty).
  const int64_t count = out_size == 0 ? 0 : in_size / out_size;

  std::vector<double> acc(static_cast<size_t>(out_size), reduce_init(op));
  std::vector<int64_t> idx(static_cast<size_t>(rank), 0);
  int64_t yo = 0;
  for (int64_t i = 0; i < in_size; ++i) {
    acc[yo] = reduce_step(op, acc[yo], x[i]);
    for (int d = rank - 1; d >= 0; --d) {
      ++idx[d];
      yo += out_stride[d];
      if (idx[d] < in_shape[d]) break;
      yo -= out_stride[d] * in_shape[d];
      idx[d] = 0;
    }
  }

  for (int64_t o = 0; o < out_size; ++o) {
    double v = acc[o];
    if (op == ReduceOp::kMean) v /= static_cast<double>(count);  // 0/0 = NaN for an empty set
    if (op == ReduceOp::kL2) v = std::sqrt(v);
    y[o] = static_cast<float>(v);
  }
}

namespace {

// Shared body of softmax and log-softmax: for each (outer, inner) lane, finds the max and the sum
// of exp(x - max) in double, then lets write(i, shifted, sum) produce the output.
template <typename Write>
void softmax_lanes(int64_t outer, int64_t axis_len, int64_t inner, const float* x, Write write) {
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t in = 0; in < inner; ++in) {
      const int64_t base = o * axis_len * inner + in;
      double mx = -std::numeric_limits<double>::infinity();
      // fmax skips NaN, but exp(NaN - mx) then makes the sum NaN: a NaN anywhere in the lane gives
      // all NaN (so does a +inf, via inf - inf), the semantics the optimised softmax matches.
      for (int64_t a = 0; a < axis_len; ++a) mx = std::fmax(mx, x[base + a * inner]);
      double sum = 0.0;
      for (int64_t a = 0; a < axis_len; ++a) sum += std::exp(x[base + a * inner] - mx);
      for (int64_t a = 0; a < axis_len; ++a) {
        const int64_t i = base + a * inner;
        write(i, x[i] - mx, sum);
      }
    }
  }
}

}  // namespace

void softmax_f32(int64_t outer, int64_t axis_len, int64_t inner, const float* x, float* y) {
  softmax_lanes(outer, axis_len, inner, x, [y](int64_t i, double shifted, double sum) {
    y[i] = static_cast<float>(std::exp(shifted) / sum);
  });
}

void log_softmax_f32(int64_t outer, int64_t axis_len, int64_t inner, const float* x, float* y) {
  softmax_lanes(outer, axis_len, inner, x, [y](int64_t i, double shifted, double sum) {
    y[i] = static_cast<float>(shifted - std::log(sum));
  });
}

}  // namespace effi::kernels::ref
