// Highway row kernels (LayerNorm, Softmax over the last dim), compiled once per target by
// foreach_target and dispatched at run time. Rows are short (L1: 448 / 49 floats) and stay in L1
// across the passes, so each row is read from memory once.
#include <cmath>
#include <cstring>
#include <limits>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/hwy/norm_hwy.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/hwy/vec_math-inl.h"  // also brings Highway's contrib Exp
#include "kernels/isa.h"
#include "kernels/norm.h"

HWY_BEFORE_NAMESPACE();
namespace effi::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// (x - shift) - delta: x minus the row mean, see LayerNorm.
HWY_INLINE VF Centred(DF d, const float* x, VF shift, VF delta) {
  return hn::Sub(hn::Sub(hn::LoadU(d, x), shift), delta);
}

// Row sums use two accumulators: independent add chains (add latency 4, throughput 2/cycle).
void LayerNorm(int64_t rows, int64_t cols, const float* x, const float* gamma, const float* beta,
               float eps, float* y) {
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const float inv_cols = 1.0f / static_cast<float>(cols);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    // Statistics of x - x[0], and the mean kept as shift + delta: with a large common offset
    // (|mean| >> stddev) the mean rounded to float would be off by half an ulp of the offset
    // (offset 100: 4e-6, i.e. 4e-6 / stddev in every output), while x - shift is exact there
    // (Sterbenz) and delta is small.
    const float shift = xr[0];
    const VF vshift = hn::Set(d, shift);
    VF s0 = hn::Zero(d), s1 = hn::Zero(d);
    int64_t j = 0;
    for (; j + 2 * L <= cols; j += 2 * L) {
      s0 = hn::Add(s0, hn::Sub(hn::LoadU(d, xr + j), vshift));
      s1 = hn::Add(s1, hn::Sub(hn::LoadU(d, xr + j + L), vshift));
    }
    for (; j + L <= cols; j += L) s0 = hn::Add(s0, hn::Sub(hn::LoadU(d, xr + j), vshift));
    float tail = 0.0f;
    for (; j < cols; ++j) tail += xr[j] - shift;
    const float delta = (hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1))) + tail) * inv_cols;
    // Pass 2: centred sum of squares.
    const VF vdelta = hn::Set(d, delta);
    s0 = s1 = hn::Zero(d);
    for (j = 0; j + 2 * L <= cols; j += 2 * L) {
      const VF d0 = Centred(d, xr + j, vshift, vdelta), d1 = Centred(d, xr + j + L, vshift, vdelta);
      s0 = hn::MulAdd(d0, d0, s0);
      s1 = hn::MulAdd(d1, d1, s1);
    }
    for (; j + L <= cols; j += L) {
      const VF d0 = Centred(d, xr + j, vshift, vdelta);
      s0 = hn::MulAdd(d0, d0, s0);
    }
    tail = 0.0f;
    for (; j < cols; ++j) {
      const float c = (xr[j] - shift) - delta;
      tail += c * c;
    }
    const float var = (hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1))) + tail) * inv_cols;
    const float inv_std = 1.0f / std::sqrt(var + eps);
    // Pass 3: y = (x - mean) * inv_std * gamma + beta.
    const VF vinv = hn::Set(d, inv_std);
    for (j = 0; j + L <= cols; j += L) {
      VF v = hn::Mul(Centred(d, xr + j, vshift, vdelta), vinv);
      if (gamma) v = hn::Mul(v, hn::LoadU(d, gamma + j));
      if (beta) v = hn::Add(v, hn::LoadU(d, beta + j));
      hn::StoreU(v, d, yr + j);
    }
    for (; j < cols; ++j) {
      float v = ((xr[j] - shift) - delta) * inv_std;
      if (gamma) v *= gamma[j];
      if (beta) v += beta[j];
      yr[j] = v;
    }
  }
}

// Masked loads/stores of f32 are hardware masked on AVX2/AVX-512 (never touch memory past the
// mask); Highway 1.0 emulates them elsewhere with full-width accesses, so those targets keep the
// buffer path.
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
constexpr bool kMaskedTail = true;
#else
constexpr bool kMaskedTail = false;
#endif

void Softmax(int64_t rows, int64_t cols, const float* x, float* y) {
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const float kNegInf = -std::numeric_limits<float>::infinity();
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    // Pass 1: max (a NaN may or may not stick, by ISA: pass 2 deals with NaN).
    VF m = hn::Set(d, kNegInf);
    int64_t j = 0;
    for (; j + L <= cols; j += L) m = hn::Max(m, hn::LoadU(d, xr + j));
    float mx = hn::GetLane(hn::MaxOfLanes(d, m));
    for (; j < cols; ++j) mx = std::fmax(mx, xr[j]);
    // Pass 2: e = exp(x - max) into y, and their sum. The tail goes through a buffer padded with
    // -inf (exp = 0) so it uses the same exp as the body.
    // NaN: contrib Exp returns 0 for a NaN argument, and whether the max above picked a NaN up
    // depends on the ISA's max. A separate sum of the arguments x - max (all <= 0, so the sum is
    // NaN only if one was: a NaN x, or inf - inf) makes the whole row NaN, like the reference's
    // sum. Cost: BM_Softmax +2-4 % (~1 ns per 49-float row); a NaN mask in pass 1 with an early
    // all-NaN row measured the same.
    const VF vmax = hn::Set(d, mx);
    VF s = hn::Zero(d), args = hn::Zero(d);
    for (j = 0; j + L <= cols; j += L) {
      const VF a = hn::Sub(hn::LoadU(d, xr + j), vmax);
      const VF e = hn::Exp(d, a);
      s = hn::Add(s, e);
      args = hn::Add(args, a);
      hn::StoreU(e, d, yr + j);
    }
    if (j < cols && kMaskedTail) {
      // x86: hardware-masked tail (nothing past the row is touched); the buffer path below cost
      // ~1 us per 49x49 attention head in store-forwarding stalls and a memcpy call per row.
      const auto mask = hn::FirstN(d, static_cast<size_t>(cols - j));
      const VF xv = hn::IfThenElse(mask, hn::MaskedLoad(mask, d, xr + j), hn::Set(d, kNegInf));
      const VF a = hn::Sub(xv, vmax);
      const VF e = hn::Exp(d, a);
      s = hn::Add(s, e);
      args = hn::Add(args, a);
      hn::BlendedStore(e, mask, d, yr + j);
    } else if (j < cols) {
      HWY_ALIGN float t[HWY_LANES(float)];
      const size_t rem = static_cast<size_t>(cols - j);
      for (size_t q = 0; q < static_cast<size_t>(L); ++q)
        t[q] = q < rem ? xr[j + static_cast<int64_t>(q)] : kNegInf;
      const VF a = hn::Sub(hn::Load(d, t), vmax);
      const VF e = hn::Exp(d, a);
      s = hn::Add(s, e);
      args = hn::Add(args, a);
      hn::Store(e, d, t);
      std::memcpy(yr + j, t, rem * sizeof(float));
    }
    // Pass 3: scale by 1 / sum (NaN if an argument was).
    s = hn::IfThenElse(hn::IsNaN(args), args, s);
    const VF inv = hn::Set(d, 1.0f / hn::GetLane(hn::SumOfLanes(d, s)));
    for (j = 0; j + L <= cols; j += L) hn::StoreU(hn::Mul(hn::LoadU(d, yr + j), inv), d, yr + j);
    if (j < cols && kMaskedTail) {
      const auto mask = hn::FirstN(d, static_cast<size_t>(cols - j));
      hn::BlendedStore(hn::Mul(hn::MaskedLoad(mask, d, yr + j), inv), mask, d, yr + j);
      j = cols;
    }
    const float invs = hn::GetLane(inv);
    for (; j < cols; ++j) yr[j] *= invs;
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace effi::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace effi::kernels {

HWY_EXPORT(LayerNorm);
HWY_EXPORT(Softmax);

void LayerNormF32(int64_t rows, int64_t cols, const float* x, const float* gamma, const float* beta,
                  float eps, float* y) {
  if (rows <= 0 || cols <= 0) return;
  InitIsa();
  HWY_DYNAMIC_DISPATCH(LayerNorm)(rows, cols, x, gamma, beta, eps, y);
}

void SoftmaxF32(int64_t rows, int64_t cols, const float* x, float* y) {
  if (rows <= 0 || cols <= 0) return;
  InitIsa();
  HWY_DYNAMIC_DISPATCH(Softmax)(rows, cols, x, y);
}

}  // namespace effi::kernels
#endif  // HWY_ONCE
