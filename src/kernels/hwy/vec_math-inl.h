// Vector math shared by the Highway kernels (per-target include, Highway's -inl.h convention):
// erf as a rational function fitted for this project (max abs error 3.6e-7 vs std::erf over all
// floats, measured on 200k points; no exp, ~2x cheaper than the exp-based A&S 7.1.26 form) and
// exact-form GELU built on it.
#if defined(EFFI_KERNELS_HWY_VEC_MATH_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef EFFI_KERNELS_HWY_VEC_MATH_INL_H_
#undef EFFI_KERNELS_HWY_VEC_MATH_INL_H_
#else
#define EFFI_KERNELS_HWY_VEC_MATH_INL_H_
#endif

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/ref/ref_kernels.h"

HWY_BEFORE_NAMESPACE();
namespace effi::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// erf(x) = x * P(x^2) / Q(x^2) on |x| <= 3.92, saturating to +-1 beyond (erf(3.92) = 1 - 5e-8).
template <class D, class V = hn::Vec<D>>
HWY_INLINE V Erf(D d, V x) {
  const V xc = hn::Min(hn::Max(x, hn::Set(d, -3.92f)), hn::Set(d, 3.92f));
  const V z = hn::Mul(xc, xc);
  V p = hn::Set(d, -1.3338064874801603e-08f);
  p = hn::MulAdd(p, z, hn::Set(d, 4.7182070375129115e-06f));
  p = hn::MulAdd(p, z, hn::Set(d, 0.00038038622005842626f));
  p = hn::MulAdd(p, z, hn::Set(d, 0.0038324168417602777f));
  p = hn::MulAdd(p, z, hn::Set(d, 0.054278664290905f));
  p = hn::MulAdd(p, z, hn::Set(d, 0.18470099568367004f));
  p = hn::MulAdd(p, z, hn::Set(d, 1.128379225730896f));
  V q = hn::Set(d, 6.342284905258566e-05f);
  q = hn::MulAdd(q, z, hn::Set(d, 0.001305056968703866f));
  q = hn::MulAdd(q, z, hn::Set(d, 0.015431074425578117f));
  q = hn::MulAdd(q, z, hn::Set(d, 0.1137758195400238f));
  q = hn::MulAdd(q, z, hn::Set(d, 0.49702054262161255f));
  q = hn::MulAdd(q, z, hn::Set(d, 1.0f));
  const V r = hn::Div(hn::Mul(xc, p), q);
  // The clamps drop NaN (x86 max/min return the second operand, NEON maxnm and EMU128 the number):
  // put it back, like std::erf.
  const V e = hn::Min(hn::Max(r, hn::Set(d, -1.0f)), hn::Set(d, 1.0f));
  return hn::IfThenElse(hn::IsNaN(x), x, e);
}

#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
// GELU on 16-lane vectors (AVX-512): x Phi(x) = 0.5 x + |x| E(|x|), E(t) = 0.5 erf(t / sqrt2) as
// 16 degree-4 polynomials in s on intervals t = (i + s) h, s in [-0.5, 0.5], h = 5.5 / 15.5 (t
// beyond 5.5 clamps to the last interval's end, where E = 0.5 - 2e-8), coefficients picked per
// lane by one in-register permute (vpermps) each. Fitted by least squares on Chebyshev nodes per
// interval; worst error 1.4e-7 * max(1, |x|) over [-12, 12] in float32 emulation (the test checks
// < 1e-6). What made it fast is latency, not op count: the rational form above and a first table
// version with Horner and a float->int conversion both ran ~40-cycle dependency chains per vector
// and measured the same (4.4 G elems/s in BM_EpilogueGelu); this one's chain is ~25 cycles
// (6.2 G elems/s; whole L1 at 1 thread -1.4 %, alternating pinned runs).
template <class D, class V = hn::Vec<D>>
HWY_INLINE V GeluTable16(D d, V x) {
  alignas(64) static constexpr float kC0[16] = {
      3.1441863e-18f, 0.138644785f, 0.2610479f,   0.356452525f, 0.422102213f, 0.461984426f,
      0.483374208f,   0.493501842f, 0.497735173f, 0.499297321f, 0.499806195f, 0.499952555f,
      0.499989688f,   0.499998003f, 0.499999672f, 0.49999994f};
  alignas(64) static constexpr float kC1[16] = {
      0.141559079f,    0.132922173f,    0.110046521f,    0.0803292617f,
      0.0516997874f,   0.0293372739f,   0.0146779316f,   0.00647473102f,
      0.00251818448f,  0.000863493478f, 0.000261055306f, 6.95830822e-05f,
      1.63518816e-05f, 3.38781342e-06f, 6.18803938e-07f, 9.96465062e-08f};
  alignas(64) static constexpr float kC2[16] = {
      1.06512964e-16f,  -0.00836801995f,  -0.0138558038f,   -0.0151712336f,
      -0.0130189462f,   -0.00923462864f,  -0.00554434862f,  -0.00285339588f,
      -0.00126832875f,  -0.00048929808f,  -0.000164372483f, -4.81977113e-05f,
      -1.23572918e-05f, -2.77392246e-06f, -5.45739113e-07f, -9.41776364e-08f};
  alignas(64) static constexpr float kC3[16] = {
      -0.0029531878f,  -0.00242582127f, -0.00114519044f, 0.000216233355f,
      0.00109002029f,  0.00131500768f,  0.00108592317f,  0.000703483413f,
      0.000375036238f, 0.000168337661f, 6.44413885e-05f, 2.12086488e-05f,
      6.03345188e-06f, 1.4892837e-06f,  3.19863233e-07f, 5.9903158e-08f};
  alignas(64) static constexpr float kC4[16] = {
      -5.11787895e-16f, 0.00025046285f,   0.000360603444f,  0.000295930513f,
      0.00013484119f,   -1.33203384e-05f, -8.82733511e-05f, -9.44876228e-05f,
      -6.73004761e-05f, -3.70959679e-05f, -1.66718364e-05f, -6.26395195e-06f,
      -1.99565579e-06f, -5.439814e-07f,   -1.27638231e-07f, -2.58916408e-08f};
  const hn::RebindToSigned<D> di;
  const V t = hn::Abs(x);
  // r = f + 1.5 * 2^23 with f = t / h rounds f to the nearest integer i held in r's low mantissa
  // bits (vpermps reads the low 4), r - 1.5 * 2^23 is i as a float, s = f - i. One FMA instead of
  // Floor + a float->int conversion (whose overflow fix-up is 4 more dependent ops). The clamp
  // keeps f < 15.5, so i <= 15.
  const V kInvH = hn::Set(d, 15.5f / 5.5f);
  const V kMagic = hn::Set(d, 12582912.0f);
  const V tc = hn::Min(t, hn::Set(d, 5.4999f));
  const V r = hn::MulAdd(tc, kInvH, kMagic);
  const V s = hn::MulSub(tc, kInvH, hn::Sub(r, kMagic));
  const auto idx = hn::IndicesFromVec(d, hn::BitCast(di, r));
  // Estrin: (c0 + c1 s) + s^2 ((c2 + c3 s) + c4 s^2), 3 dependent FMAs instead of Horner's 4.
  const V s2 = hn::Mul(s, s);
  const V lo = hn::MulAdd(hn::TableLookupLanes(hn::Load(d, kC1), idx), s,
                          hn::TableLookupLanes(hn::Load(d, kC0), idx));
  V hi = hn::MulAdd(hn::TableLookupLanes(hn::Load(d, kC3), idx), s,
                    hn::TableLookupLanes(hn::Load(d, kC2), idx));
  hi = hn::MulAdd(hn::TableLookupLanes(hn::Load(d, kC4), idx), s2, hi);
  const V e = hn::MulAdd(hi, s2, lo);
  // NaN: the clamp and the table index drop it, but t and x carry it into the result.
  return hn::MulAdd(t, e, hn::Mul(x, hn::Set(d, 0.5f)));
}
#endif

// GELU(x) = 0.5 x (1 + erf(x / sqrt(2))) = h + h * erf(x / sqrt(2)) with h = 0.5 x. The Erf
// coefficients above with the 1/sqrt(2) folded in (p_i / 2^i / sqrt(2), q_i / 2^i), the final
// [-1, 1] clamp dropped (the fit overshoots 1 by < 2e-7) and the last add fused: 4 vector ops
// fewer than Gelu(Erf(x / sqrt(2))): BM_EpilogueGelu +24-28% (AVX-512). Worst error 1.6e-7 *
// max(1, |x|) over [-12, 12] (float emulation; the test checks < 1e-6 on every target).
// Division kept: rcp14 + one Newton step instead measured 13% slower (the divider runs beside
// the FMA ports, and the epilogue is bound by FMA-port ops).
template <class D, class V = hn::Vec<D>>
HWY_INLINE V Gelu(D d, V x) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  if constexpr (hn::MaxLanes(D()) == 16) return GeluTable16(d, x);
#endif
  const V xc = hn::Min(hn::Max(x, hn::Set(d, -5.543717384338379f)), hn::Set(d, 5.543717384338379f));
  const V z = hn::Mul(xc, xc);
  V p = hn::Set(d, -1.4736618869637397e-10f);
  p = hn::MulAdd(p, z, hn::Set(d, 1.0425863194996055e-07f));
  p = hn::MulAdd(p, z, hn::Set(d, 1.6810854504001327e-05f));
  p = hn::MulAdd(p, z, hn::Set(d, 0.0003387409960851073f));
  p = hn::MulAdd(p, z, hn::Set(d, 0.009595203213393688f));
  p = hn::MulAdd(p, z, hn::Set(d, 0.06530166417360306f));
  p = hn::MulAdd(p, z, hn::Set(d, 0.7978845834732056f));
  V q = hn::Set(d, 1.981964032893302e-06f);
  q = hn::MulAdd(q, z, hn::Set(d, 8.156606054399163e-05f));
  q = hn::MulAdd(q, z, hn::Set(d, 0.0019288843031972647f));
  q = hn::MulAdd(q, z, hn::Set(d, 0.02844395488500595f));
  q = hn::MulAdd(q, z, hn::Set(d, 0.24851027131080627f));
  q = hn::MulAdd(q, z, hn::Set(d, 1.0f));
  const V e = hn::Div(hn::Mul(xc, p), q);
  const V h = hn::Mul(x, hn::Set(d, 0.5f));  // unclamped: carries NaN (and +-inf) through
  return hn::MulAdd(h, e, h);
}

// The fused epilogue activations (ref::Activation) on one vector. ReLU is a select, not Max(v, 0):
// that returns 0 for NaN on x86 (maxps gives the second operand), NEON (maxnm) and EMU128 alike,
// while the reference keeps NaN (and -0). BM_DirectConvStem (ReLU epilogue): within noise.
template <class D, class V = hn::Vec<D>>
HWY_INLINE V Activate(D d, V v, ref::Activation act) {
  if (act == ref::Activation::kRelu) return hn::IfThenZeroElse(hn::Lt(v, hn::Zero(d)), v);
  if (act == ref::Activation::kGelu) return Gelu(d, v);
  return v;
}

}  // namespace HWY_NAMESPACE
}  // namespace effi::kernels
HWY_AFTER_NAMESPACE();

#endif  // EFFI_KERNELS_HWY_VEC_MATH_INL_H_
