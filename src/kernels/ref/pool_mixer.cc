// Reference pool mixer: the unfused AvgPool -> Sub -> Mul -> Add chain on NHWC, the oracle for the
// fused effi.PoolMixer kernel.

#include <cstddef>
#include <vector>

#include "kernels/ref/ref_kernels.h"

namespace effi::kernels::ref {

void pool_mixer_nhwc_f32(int64_t n, int64_t h, int64_t w, int64_t c, int64_t pool_size,
                         const float* x, const float* scale, float* y) {
  const int64_t pad = pool_size / 2;
  const Pool2dParams p{n, c, h, w, h, w, pool_size, pool_size, 1, 1, pad, pad, pad, pad};
  const int64_t count = n * h * w * c;
  std::vector<float> avg(static_cast<size_t>(count));
  avgpool2d_nhwc_f32(p, x, avg.data());
  for (int64_t i = 0; i < count; ++i) {
    float d = avg[static_cast<size_t>(i)] - x[i];
    if (scale != nullptr) d *= scale[i % c];
    y[i] = x[i] + d;
  }
}

}  // namespace effi::kernels::ref
