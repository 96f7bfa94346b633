// Highway per-tensor QuantizeLinear to u8 (quant.h QuantizeU8), one source for every target: the
// int8 ops quantize each float activation tensor with it right before the int8 GEMM, so it is
// bit-exact with ref::quantize_linear<uint8_t> (ONNX Runtime's arithmetic) and streams at full
// vector width.
#include <bit>
#include <cstring>
#include <string>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/hwy/quant_hwy.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/isa.h"
#include "kernels/quant.h"

HWY_BEFORE_NAMESPACE();
namespace effi::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using DI = hn::RebindToSigned<DF>;
using DU8 = hn::Rebind<uint8_t, DF>;  // one byte per float lane
using VF = hn::Vec<DF>;
using VI = hn::Vec<DI>;

// The per-call constants of Quantize.
struct Consts {
  VF scale, lo, hi, magic;
  VI offset;
};

HWY_INLINE Consts MakeConsts(float scale, int32_t zero_point) {
  const DF df;
  const DI di;
  const float zpf = static_cast<float>(zero_point);
  // 1.5 * 2^23: adding it to |t| < 2^22 leaves round(t) (half to even, the FPU's rounding) in the
  // low mantissa bits; its bit pattern is 0x4B400000.
  return Consts{hn::Set(df, scale), hn::Set(df, -zpf), hn::Set(df, 255.0f - zpf),
                hn::Set(df, 12582912.0f), hn::Set(di, 0x4B400000 - zero_point)};
}

// saturate_0_255(round_half_even(x / scale) + zero_point), NaN -> zero_point, per lane:
// - Div, not Mul by 1 / scale: the reciprocal's rounding moves quotients near a tie (k + 0.5) to
//   the other integer (opt_quant_test finds such x), and QuantizeLinear is defined by the division.
// - t is clamped to [-zp, 255 - zp] before rounding: those bounds are integers, so clamping first
//   equals saturating after (round is monotonic and fixes integers), and it bounds |t| <= 255, so
//   +-inf and huge quotients never reach an int conversion (nothing here converts float to int
//   at all: the magic-number add rounds, a bit cast and one integer subtract give round(t) + zp).
//   NaN is zeroed first because Min/Max treat it differently per ISA (x86 returns the second
//   operand, NEON propagates it).
// - 6 vector ops besides the division and the demotion, against 9 with Round, ConvertTo (whose
//   x86 version adds an overflow fix-up) and an integer add.
HWY_INLINE VI QuantizeI32(const Consts& c, VF x) {
  const DI di;
  VF t = hn::Div(x, c.scale);
  t = hn::Min(hn::Max(hn::IfThenZeroElse(hn::IsNaN(t), t), c.lo), c.hi);
  return hn::Sub(hn::BitCast(di, hn::Add(t, c.magic)), c.offset);  // in [0, 255]
}

// One vector's bytes (L of them), for the single-vector loop and the tail.
HWY_INLINE hn::Vec<DU8> Quantize(const Consts& c, VF x) {
  return hn::DemoteTo(DU8(), QuantizeI32(c, x));  // saturating (a no-op: already in range)
}

// The permutation of 32-bit lanes StoreBytes4 needs after its in-block transpose: output lane o
// takes lane 4 * (o % B) + o / B, B = L / 4 blocks (the identity for 128-bit vectors).
HWY_INLINE auto BlockTransposeIndices(int32_t* HWY_RESTRICT storage) {
  const DI di;
  const size_t L = hn::Lanes(di), B = L >= 4 ? L / 4 : 1;
  for (size_t o = 0; o < L; ++o) storage[o] = static_cast<int32_t>(4 * (o % B) + o / B);
  return hn::SetTableIndices(di, storage);
}

// Four vectors of int32 in [0, 255] stored as 4 * L bytes in lane order (q0's lanes first). The
// bytes are merged into one vector by shifts (lane j = q0[j] | q1[j] << 8 | q2[j] << 16 |
// q3[j] << 24, i.e. byte 4j + r = q_r[j] on these little-endian targets), then transposed to byte
// r * L + j: a 4x4 byte transpose in each 16-byte block (TableLookupBytes) gives block b's dword r
// = q_r[4b .. 4b + 3], and one 32-bit lane permutation puts dword (b, r) at r * B + b. 8 vector
// ops and one full store per 4 vectors, against 4 DemoteTo (4-5 packs and shuffles each) and 4
// partial stores: BM_QuantizeU8 3136x48 went from 10.7 to 13.0 Gelem/s on AVX3 and from 6.1 to
// 7.0 on AVX2 (the division is then most of the rest: multiplying instead gives 14.3 and 8.1).
template <class Idx>
HWY_INLINE void StoreBytes4(VI q0, VI q1, VI q2, VI q3, const Idx& perm, uint8_t* y) {
#if HWY_TARGET == HWY_SCALAR
  (void)perm;  // one lane per vector: nothing to transpose
  const DU8 du8;
  hn::StoreU(hn::DemoteTo(du8, q0), du8, y);
  hn::StoreU(hn::DemoteTo(du8, q1), du8, y + 1);
  hn::StoreU(hn::DemoteTo(du8, q2), du8, y + 2);
  hn::StoreU(hn::DemoteTo(du8, q3), du8, y + 3);
#else
  static_assert(std::endian::native == std::endian::little);
  const DI di;
  const hn::Repartition<uint8_t, DI> d8;
  const VI w = hn::Or(hn::Or(q0, hn::ShiftLeft<8>(q1)),
                      hn::Or(hn::ShiftLeft<16>(q2), hn::ShiftLeft<24>(q3)));
  alignas(16) static constexpr uint8_t kTranspose4x4[16] = {0, 4, 8,  12, 1, 5, 9,  13,
                                                            2, 6, 10, 14, 3, 7, 11, 15};
  auto b = hn::TableLookupBytes(hn::BitCast(d8, w), hn::LoadDup128(d8, kTranspose4x4));
  if (hn::Lanes(di) > 4) b = hn::BitCast(d8, hn::TableLookupLanes(hn::BitCast(di, b), perm));
  hn::StoreU(b, d8, y);
#endif
}

void QuantizeU8Impl(int64_t count, const float* HWY_RESTRICT x, float scale, int32_t zero_point,
                    uint8_t* HWY_RESTRICT y) {
  const DF df;
  const DU8 du8;
  const Consts c = MakeConsts(scale, zero_point);
  const size_t n = static_cast<size_t>(count), L = hn::Lanes(df);
  HWY_ALIGN int32_t perm_storage[HWY_LANES(int32_t)];
  const auto perm = BlockTransposeIndices(perm_storage);
  size_t i = 0;
  // 4 vectors per iteration: independent divisions keep the divider busy, and their bytes fill
  // one full vector store.
  for (; i + 4 * L <= n; i += 4 * L) {
    const VF x0 = hn::LoadU(df, x + i), x1 = hn::LoadU(df, x + i + L);
    const VF x2 = hn::LoadU(df, x + i + 2 * L), x3 = hn::LoadU(df, x + i + 3 * L);
    StoreBytes4(QuantizeI32(c, x0), QuantizeI32(c, x1), QuantizeI32(c, x2), QuantizeI32(c, x3),
                perm, y + i);
  }
  for (; i + L <= n; i += L) hn::StoreU(Quantize(c, hn::LoadU(df, x + i)), du8, y + i);
  if (i < n) {
    // Tail through buffers: nothing past count is read or written.
    HWY_ALIGN float tx[HWY_LANES(float)] = {};
    HWY_ALIGN uint8_t ty[HWY_LANES(float)] = {};
    const size_t rem = n - i;
    std::memcpy(tx, x + i, rem * sizeof(float));
    hn::Store(Quantize(c, hn::Load(df, tx)), du8, ty);
    std::memcpy(y + i, ty, rem);
  }
}

const char* QuantizeU8Name() {
  static const std::string name = std::string("quantize_f32_u8__") + hwy::TargetName(HWY_TARGET);
  return name.c_str();
}

}  // namespace HWY_NAMESPACE
}  // namespace effi::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace effi::kernels {

HWY_EXPORT(QuantizeU8Impl);
HWY_EXPORT(QuantizeU8Name);

void QuantizeU8(int64_t count, const float* x, float scale, int32_t zero_point, uint8_t* y) {
  if (count <= 0) return;
  InitIsa();
  HWY_DYNAMIC_DISPATCH(QuantizeU8Impl)(count, x, scale, zero_point, y);
}

const char* QuantizeU8KernelName() {
  InitIsa();
  return HWY_DYNAMIC_DISPATCH(QuantizeU8Name)();
}

}  // namespace effi::kernels
#endif  // HWY_ONCE
