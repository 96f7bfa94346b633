// im2col (see kernels/im2col.h): plain C++ with no ISA-specific code, since the work is copies.
// With dilation 1 a kernel row's in-image taps are contiguous in NHWC: one memcpy per kernel row.
#include "kernels/im2col.h"

#include <algorithm>
#include <cstring>

namespace effi::kernels {
namespace {

// Writes count elements of `pad` at dst: memset when every byte of pad is the same (any uint8_t,
// 0.0f), a loop otherwise. Zero gets its own memset with a constant 0, as the float-only im2col
// had: with only the runtime byte, L1's stem conv2 and 56x56 -> 28x28 downsample im2cols measured
// 4-5 % slower than the float-only code (min of 41 interleaved runs), with this 0-2 %.
template <class T>
class PadFill {
 public:
  explicit PadFill(T pad) : pad_(pad) {
    unsigned char bytes[sizeof(T)];
    std::memcpy(bytes, &pad, sizeof(T));
    byte_ = bytes[0];
    uniform_ = std::all_of(bytes, bytes + sizeof(T), [&](unsigned char b) { return b == byte_; });
    zero_ = uniform_ && byte_ == 0;
  }
  void operator()(T* dst, int64_t count) const {
    const size_t bytes = sizeof(T) * static_cast<size_t>(count);
    if (zero_)
      std::memset(dst, 0, bytes);
    else if (uniform_)
      std::memset(dst, byte_, bytes);
    else
      std::fill(dst, dst + count, pad_);
  }

 private:
  T pad_;
  unsigned char byte_ = 0;
  bool uniform_ = false, zero_ = false;
};

}  // namespace

template <class T>
void Im2colNhwc(const ref::Conv2dParams& p, const T* x, int64_t m0, int64_t m1, T pad, T* col) {
  const int64_t kcols = p.kh * p.kw * p.c_in;
  const size_t cb = sizeof(T) * static_cast<size_t>(p.c_in);
  const PadFill<T> fill(pad);
  // Output coordinates advance incrementally: three 64-bit divisions per row were the larger part
  // of the stem conv's im2col (perf: Im2colNhwc 36 % of that conv).
  int64_t ox = m0 % p.w_out, oy = (m0 / p.w_out) % p.h_out, b = m0 / (p.w_out * p.h_out);
  for (int64_t m = m0; m < m1; ++m, ++ox) {
    if (ox == p.w_out) {
      ox = 0;
      if (++oy == p.h_out) oy = 0, ++b;
    }
    T* row = col + (m - m0) * kcols;
    const int64_t ix0 = ox * p.stride_w - p.pad_left;
    for (int64_t ky = 0; ky < p.kh; ++ky) {
      const int64_t iy = oy * p.stride_h - p.pad_top + ky * p.dil_h;
      T* dst = row + ky * p.kw * p.c_in;
      if (iy < 0 || iy >= p.h_in) {
        fill(dst, p.kw * p.c_in);
        continue;
      }
      const T* src_row = x + (b * p.h_in + iy) * p.w_in * p.c_in;
      if (p.dil_w == 1) {
        // Taps kx in [lo, hi) are inside the image.
        const int64_t lo = std::clamp<int64_t>(-ix0, 0, p.kw),
                      hi = std::clamp<int64_t>(p.w_in - ix0, lo, p.kw);
        if (lo > 0) fill(dst, lo * p.c_in);
        if (lo == 0 && hi == p.kw && p.kw * p.c_in == 9) {
          // The stem conv (3x3 over RGB): a constant-size copy the compiler inlines instead of a
          // libc memmove call per 36 bytes (perf: memmove 10 % of that conv; 0.30 -> 0.26 ms
          // pinned). A plain loop for every short row measured slower (0.36 ms).
          std::memcpy(dst, src_row + ix0 * p.c_in, 9 * sizeof(T));
        } else if (hi > lo) {
          std::memcpy(dst + lo * p.c_in, src_row + (ix0 + lo) * p.c_in,
                      cb * static_cast<size_t>(hi - lo));
        }
        if (hi < p.kw) fill(dst + hi * p.c_in, (p.kw - hi) * p.c_in);
        continue;
      }
      for (int64_t kx = 0; kx < p.kw; ++kx) {
        const int64_t ix = ix0 + kx * p.dil_w;
        if (ix < 0 || ix >= p.w_in)
          fill(dst + kx * p.c_in, p.c_in);
        else
          std::memcpy(dst + kx * p.c_in, src_row + ix * p.c_in, cb);
      }
    }
  }
}

template void Im2colNhwc<float>(const ref::Conv2dParams&, const float*, int64_t, int64_t, float,
                                float*);
template void Im2colNhwc<uint8_t>(const ref::Conv2dParams&, const uint8_t*, int64_t, int64_t,
                                  uint8_t, uint8_t*);

}  // namespace effi::kernels
