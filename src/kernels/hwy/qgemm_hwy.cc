// Highway implementation of the packed int8 GEMM (qgemm.h): one source for every target. Only the
// multiply-accumulate step differs per target (VNNI vpdpbusd on AVX3_DL, and on AVX2 when the CPU
// has AVX-VNNI; NEON sdot when the CPU has it; exact int16 products elsewhere); column panels, row
// tiles, zero-point compensation and the epilogue are shared, and mirror the fp32 GEMM
// (gemm_hwy.cc).
//
// AVX3_DL (Ice Lake+ / Zen 4+: VNNI) is compiled only in this file: Highway 1.0.3 builds it only
// on request, the other kernels gain nothing from it, and isa.cc's EFFI_MAX_ISA caps already
// treat it as AVX-512 (avx2 disables it; avx512 allows it).
#define HWY_WANT_AVX3_DL 1

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#ifndef EFFI_KERNELS_HWY_QGEMM_SHARED_
#define EFFI_KERNELS_HWY_QGEMM_SHARED_
#include "kernels/qgemm.h"

namespace effi::kernels::qgemm_internal {

enum class Out { kFloat, kUint8, kInt32 };

// One QGemmPacked call, passed to the per-target code as a whole.
struct Args {
  int64_t m_begin, m_end, n_begin, n_end;
  const uint8_t* a;
  int64_t lda;
  int32_t a_zero_point;
  const uint8_t* packed;
  const int32_t* column_sums;
  int64_t k, n;
  QGemmFormat format;
  Out out;
  void* c;
  int64_t ldc;
  QGemmEpilogue ep;
};

// Column chunks as the fp32 GEMM's (gemm_hwy.cc ChunkWidth): NR = lanes * panel_vecs wide, except
// at the end, where the remaining r < NR columns take ceil(r / lanes) vectors and, with 3-vector
// panels, NR < r <= NR + lanes becomes two 2-vector chunks.
inline int64_t ChunkWidth(const QGemmFormat& f, int64_t n, int64_t j0) {
  const int64_t L = f.lanes, nr = L * f.panel_vecs, r = n - j0;
  if (f.panel_vecs == 3 && r > nr && r <= nr + L) return 2 * L;
  return std::min(nr, (r + L - 1) / L * L);
}

// Start of the chunk holding column j.
inline int64_t ChunkStart(const QGemmFormat& f, int64_t n, int64_t j) {
  const int64_t nr = int64_t{f.lanes} * f.panel_vecs;
  int64_t s = std::max<int64_t>(0, (j / nr - 1) * nr);
  for (;;) {
    const int64_t w = ChunkWidth(f, n, s);
    if (j < s + w) return s;
    s += w;
  }
}

inline int64_t PaddedK(const QGemmFormat& f, int64_t k) {
  return (k + f.group - 1) / f.group * f.group;
}

}  // namespace effi::kernels::qgemm_internal
#endif  // EFFI_KERNELS_HWY_QGEMM_SHARED_

// Every loop over a tile's accumulators is unrolled completely, so the accumulator arrays become
// registers (scalar replacement needs constant indices; GCC 12 fully unrolls at most 16
// iterations by itself, and a tile has up to 24 accumulators). Without it, each tile also kept
// a stack copy of the accumulators (24 zmm stores at the start, more around the epilogue): an
// 8 x 48 tile of K = 4 took 38 ns, now 18. The sanitizer build may define EFFI_UNROLL empty
// (plain loops, the same arithmetic): instrumented, the unrolled tiles took over 17 min of CPU to
// compile, the plain loops 3.6 (src/kernels/CMakeLists.txt).
#ifndef EFFI_UNROLL
#define EFFI_UNROLL HWY_UNROLL(32)
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/hwy/qgemm_hwy.cc"
#include "hwy/cache_control.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/hwy/vec_math-inl.h"
#include "kernels/isa.h"
#include "util/aligned_alloc.h"

// NEON sdot (FEAT_DotProd, Cortex-A55/A76; not A53) is chosen at run time (HasArmDotProd), so
// Highway's NEON target (armv8-a) cannot use it directly: the sdot loop alone is compiled for
// armv8.2-a+dotprod (GCC cannot inline vdotq into code without that target, so it is one
// non-inlined function per tile shape, called once per tile) and only runs when the CPU has it.
#undef EFFI_QGEMM_SDOT
#if HWY_TARGET == HWY_NEON && HWY_ARCH_ARM_A64 && HWY_COMPILER_GCC_ACTUAL
#define EFFI_QGEMM_SDOT 1
HWY_PUSH_ATTRIBUTES("arch=armv8.2-a+dotprod")
namespace effi::kernels::HWY_NAMESPACE {
namespace {

// c[r][v] += 4-byte group kLane of a[r] . the 4 columns x 4 bytes at b + 16 v.
template <int kLane, size_t kRows, size_t kNV>
inline __attribute__((always_inline)) void SdotGroup(int32x4_t (&c)[kRows][kNV],
                                                     const int8x16_t (&a)[kRows], const int8_t* b) {
  int8x16_t bv[kNV];
  for (size_t v = 0; v < kNV; ++v) bv[v] = vld1q_s8(b + 16 * v);
  for (size_t r = 0; r < kRows; ++r) {
    for (size_t v = 0; v < kNV; ++v) c[r][v] = vdotq_laneq_s32(c[r][v], bv[v], a[r], kLane);
  }
}

// acc[r * kNV + v] += sum_k (a[r][k] - 128) * B[k][4 v, 4 v + 4): A is read 16 bytes (4 groups) per
// row and flipped to s8 (a ^ 0x80 = a - 128) once, then used by lane (sdot by element, no
// broadcasts: 1 load + 1 eor per row per 4 x kNV sdot). B: groups bs bytes apart. Also
// prefetches pf_lines (<= 2 per 16 bytes of K) cache lines from pf.
template <size_t kRows, size_t kNV>
__attribute__((noinline)) void SdotAccumulate(int32x4_t* acc, const uint8_t* a, size_t lda,
                                              size_t k, const int8_t* bp, size_t bs,
                                              const uint8_t* pf, size_t pf_lines) {
  int32x4_t c[kRows][kNV];
  for (size_t r = 0; r < kRows; ++r) {
    for (size_t v = 0; v < kNV; ++v) c[r][v] = acc[r * kNV + v];
  }
  const uint8x16_t flip = vdupq_n_u8(0x80);
  int8x16_t av[kRows];
  const size_t blocks = k / 16;
  for (size_t i = 0; i < blocks; ++i) {
    if (2 * i < pf_lines) {
      __builtin_prefetch(pf + 128 * i);
      if (2 * i + 1 < pf_lines) __builtin_prefetch(pf + 128 * i + 64);
    }
    for (size_t r = 0; r < kRows; ++r)
      av[r] = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(a + r * lda + 16 * i), flip));
    const int8_t* b = bp + 4 * i * bs;
    SdotGroup<0>(c, av, b);
    SdotGroup<1>(c, av, b + bs);
    SdotGroup<2>(c, av, b + 2 * bs);
    SdotGroup<3>(c, av, b + 3 * bs);
  }
  const size_t rem = k - 16 * blocks;
  if (rem != 0) {
    // The last < 16 bytes of each row through a zero-padded copy (nothing past K is read; the
    // padding's -128 meets B's zero padding).
    uint8_t t[kRows][16];
    std::memset(t, 0, sizeof(t));
    for (size_t r = 0; r < kRows; ++r) std::memcpy(t[r], a + r * lda + 16 * blocks, rem);
    for (size_t r = 0; r < kRows; ++r) av[r] = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(t[r]), flip));
    const int8_t* b = bp + 4 * blocks * bs;
    const size_t groups = (rem + 3) / 4;
    SdotGroup<0>(c, av, b);
    if (groups > 1) SdotGroup<1>(c, av, b + bs);
    if (groups > 2) SdotGroup<2>(c, av, b + 2 * bs);
    if (groups > 3) SdotGroup<3>(c, av, b + 3 * bs);
  }
  for (size_t r = 0; r < kRows; ++r) {
    for (size_t v = 0; v < kNV; ++v) acc[r * kNV + v] = c[r][v];
  }
}

}  // namespace
}  // namespace effi::kernels::HWY_NAMESPACE
HWY_POP_ATTRIBUTES
#else
#define EFFI_QGEMM_SDOT 0
#endif

HWY_BEFORE_NAMESPACE();
namespace effi::kernels {
namespace HWY_NAMESPACE {
namespace {
namespace hn = hwy::HWY_NAMESPACE;
using qgemm_internal::Args;
using qgemm_internal::Out;

using DI = hn::ScalableTag<int32_t>;
using VI = hn::Vec<DI>;
using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;
using D16 = hn::Repartition<int16_t, DI>;
using D8 = hn::Repartition<int8_t, DI>;
using DU8 = hn::Rebind<uint8_t, DI>;  // one byte per int32 lane (quantized output)

// Masked tails as in gemm_hwy.cc: hardware-masked loads/stores of 32-bit lanes on AVX2/AVX-512,
// a buffer elsewhere (Highway 1.0.3 emulates them there with full-vector accesses).
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
constexpr bool kMaskedMemOps = true;
#else
constexpr bool kMaskedMemOps = false;
#endif

#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_SSSE3
constexpr bool kSixteenRegs = true;
#else
constexpr bool kSixteenRegs = false;
#endif
constexpr bool kEmulated = HWY_TARGET == HWY_EMU128 || HWY_TARGET == HWY_SCALAR;

// ---- Multiply-accumulate schemes. Each defines the packed B format (group, element type), its
// register tile (kMR rows x kPanelVecs vectors), how A is presented (kWidenA: int16 copies) and
// Accumulate<kRows, kNV>: acc[r * kNV + v] += sum over all of K of A[r][k] * B[k][v L + lane]
// (the tile starts the accumulators at the zero-point term), also prefetching pf.lines <=
// PrefetchSlots(k) cache lines of the next B chunk.

struct NextB {
  const uint8_t* p = nullptr;
  size_t lines = 0;
};

// Exact int16 products summed in pairs into int32 (x86 vpmaddwd, NEON smlal + addp, emulated):
// A widened to int16 (0..255) and B stored as int16 pairs [K / 2][cols][2]. Without VNNI this is
// the exact option: vpmaddubsw saturates its int16 pair sums (255 * 127 * 2 > 32767). Per 16
// MACs: vpmaddwd + vpaddd (2 uops), the fp32 FMA's rate per uop.
struct WidenMac {
  using BElem = int16_t;
  static constexpr int32_t kGroup = 2;
  static constexpr int32_t kAOffset = 0;
  static constexpr bool kWidenA = true;
  // NEON and EMU128 keep the odd products apart (a second accumulator per vector): 4 x 3 x 2 = 24
  // accumulators on NEON. x86 sums them in the instruction and keeps the fp32 GEMM's tiles.
  static constexpr size_t kMR = kSixteenRegs ? 6 : (HWY_ARCH_X86 && !kEmulated ? 8 : 4);
  static constexpr size_t kPanelVecs = kSixteenRegs || kEmulated ? 2 : 3;
  static size_t PrefetchSlots(size_t k) { return (k + 1) / 2; }

  // a: int16 rows lda elements apart, K padded to even with zeros; bs: elements per group row.
  template <size_t kRows, size_t kNV>
  static HWY_INLINE void Accumulate(VI* acc, const void* a, size_t lda, size_t k, const BElem* bp,
                                    size_t bs, NextB pf) {
    const DI di;
    const int16_t* aw = static_cast<const int16_t*>(a);
    const size_t groups = (k + 1) / 2;
#if HWY_TARGET == HWY_SCALAR
    // One lane (Highway's scalar target has no int16 pairs): plain integer arithmetic, unsigned
    // so that partial sums wrap like the SIMD ones (the final sum fits in int32).
    uint32_t s[kRows * kNV];
    EFFI_UNROLL
    for (size_t i = 0; i < kRows * kNV; ++i) s[i] = static_cast<uint32_t>(hn::GetLane(acc[i]));
    for (size_t g = 0; g < groups; ++g) {
      if (g < pf.lines) hwy::Prefetch(pf.p + 64 * g);
      EFFI_UNROLL
      for (size_t r = 0; r < kRows; ++r) {
        const int32_t a0 = aw[r * lda + 2 * g], a1 = aw[r * lda + 2 * g + 1];
        EFFI_UNROLL
        for (size_t v = 0; v < kNV; ++v) {
          const BElem* b = bp + g * bs + 2 * v;
          s[r * kNV + v] += static_cast<uint32_t>(a0 * b[0] + a1 * b[1]);
        }
      }
    }
    EFFI_UNROLL
    for (size_t i = 0; i < kRows * kNV; ++i) acc[i] = hn::Set(di, static_cast<int32_t>(s[i]));
#else
    const D16 d16;
    const size_t L16 = hn::Lanes(d16);
    VI odd[kRows * kNV];
    // x86 (vpmaddwd) sums pairs in place: acc is sum0. Elsewhere sum0 holds the even products
    // of a column pair (NEON: the lower half), so it starts at zero and acc is added at the end.
    VI sum[kRows * kNV];
    EFFI_UNROLL
    for (size_t i = 0; i < kRows * kNV; ++i) {
      sum[i] = HWY_ARCH_X86 ? acc[i] : hn::Zero(di);
      odd[i] = hn::Zero(di);
    }
    for (size_t g = 0; g < groups; ++g) {
      if (g < pf.lines) hwy::Prefetch(pf.p + 64 * g);
      hn::Vec<D16> b[kNV];
      EFFI_UNROLL
      for (size_t v = 0; v < kNV; ++v) b[v] = hn::LoadU(d16, bp + g * bs + v * L16);
      EFFI_UNROLL
      for (size_t r = 0; r < kRows; ++r) {
        int32_t pair;
        std::memcpy(&pair, aw + r * lda + 2 * g, sizeof(pair));
        const auto av = hn::BitCast(d16, hn::Set(di, pair));
        EFFI_UNROLL
        for (size_t v = 0; v < kNV; ++v) {
          sum[r * kNV + v] =
              hn::ReorderWidenMulAccumulate(di, av, b[v], sum[r * kNV + v], odd[r * kNV + v]);
        }
      }
    }
    EFFI_UNROLL
    for (size_t i = 0; i < kRows * kNV; ++i) {
      const VI total = hn::RearrangeToOddPlusEven(sum[i], odd[i]);
      acc[i] = HWY_ARCH_X86 ? total : hn::Add(acc[i], total);
    }
#endif
  }
};

#undef EFFI_QGEMM_VNNI
#if HWY_TARGET == HWY_AVX3_DL || (HWY_TARGET == HWY_AVX2 && HWY_ARCH_X86_64)
#define EFFI_QGEMM_VNNI 1
// VNNI: vpdpbusd multiplies u8 A (broadcast 4 bytes) by s8 B (4 rows of K per column) and adds
// the 4 products to int32, exactly (no saturation; vpdpbusds would saturate). B stored
// [K / 4][cols][4]. AVX3_DL (AVX512-VNNI, zmm): tile 8 x 48 as the fp32 GEMM's, 24 vpdpbusd per
// 8 broadcasts + 3 B loads. AVX2 with AVX-VNNI (ymm, VEX; chosen at run time by HasInt8DotProd):
// 6 x 16 in its 16 registers (12 accumulators, 2 B vectors, 1 broadcast), as the AVX2 fp32 tile.
struct VnniMac {
  using BElem = int8_t;
  static constexpr int32_t kGroup = 4;
  static constexpr int32_t kAOffset = 0;
  static constexpr bool kWidenA = false;
  static constexpr size_t kMR = kSixteenRegs ? 6 : 8;
  static constexpr size_t kPanelVecs = kSixteenRegs ? 2 : 3;
  static size_t PrefetchSlots(size_t k) { return k / 4; }

  // acc += u8 a . s8 b per 4 bytes. Inline asm rather than _mm512_dpbusd_epi32: GCC 12 copied
  // the accumulator into a fresh register around every one in this loop (2 extra moves per
  // vpdpbusd), while the "+v" operand keeps it in place. It also needs no "avx512vnni" or
  // "avxvnni" target attribute: Highway 1.0.3's AVX3_DL string lacks the first (its run-time
  // check for AVX3_DL does require AVX512-VNNI), and its AVX2 target cannot assume the second.
  static HWY_INLINE VI Dpbusd(VI acc, VI a, VI b) {
#if HWY_TARGET == HWY_AVX3_DL
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc.raw) : "v"(a.raw), "v"(b.raw));
#else
    __asm__("%{vex%} vpdpbusd %2, %1, %0" : "+x"(acc.raw) : "x"(a.raw), "x"(b.raw));
#endif
    return acc;
  }

  template <size_t kRows, size_t kNV>
  static HWY_INLINE void Group(VI* acc, const uint8_t* a, size_t lda, const int8_t* b) {
    const DI di;
    const D8 d8;
    VI bv[kNV];
    EFFI_UNROLL
    for (size_t v = 0; v < kNV; ++v) bv[v] = hn::BitCast(di, hn::LoadU(d8, b + v * hn::Lanes(d8)));
    EFFI_UNROLL
    for (size_t r = 0; r < kRows; ++r) {
      int32_t quad;
      std::memcpy(&quad, a + r * lda, sizeof(quad));
      const VI av = hn::Set(di, quad);
      EFFI_UNROLL
      for (size_t v = 0; v < kNV; ++v) acc[r * kNV + v] = Dpbusd(acc[r * kNV + v], av, bv[v]);
    }
  }

  // a: the caller's u8 rows (lda bytes apart, K bytes each); bs: bytes per group row.
  template <size_t kRows, size_t kNV>
  static HWY_INLINE void Accumulate(VI* acc, const void* a, size_t lda, size_t k, const BElem* bp,
                                    size_t bs, NextB pf) {
    const uint8_t* a8 = static_cast<const uint8_t*>(a);
    const size_t full = k / 4;
    for (size_t g = 0; g < full; ++g) {
      if (g < pf.lines) hwy::Prefetch(pf.p + 64 * g);
      Group<kRows, kNV>(acc, a8 + 4 * g, lda, bp + g * bs);
    }
    if (k % 4 != 0) {  // the last group through a zero-padded copy: nothing past K is read
      uint8_t t[kRows][4] = {};
      for (size_t r = 0; r < kRows; ++r) std::memcpy(t[r], a8 + r * lda + 4 * full, k % 4);
      Group<kRows, kNV>(acc, &t[0][0], 4, bp + full * bs);
    }
  }
};
#else
#define EFFI_QGEMM_VNNI 0
#endif

#if EFFI_QGEMM_SDOT
// NEON sdot (signed x signed): A as a ^ 0x80 = a - 128, so the zero point becomes za - 128. B
// stored [K / 4][cols][4]. Tile 8 x 8: 16 accumulators + 8 A rows (by-element sdot keeps each
// row's 16 bytes in a register) + 2 B vectors of 32 registers; 8 x 12 would need 35.
struct SdotMac {
  using BElem = int8_t;
  static constexpr int32_t kGroup = 4;
  static constexpr int32_t kAOffset = 128;
  static constexpr bool kWidenA = false;
  static constexpr size_t kMR = 8;
  static constexpr size_t kPanelVecs = 2;
  static size_t PrefetchSlots(size_t k) { return k / 16 * 2; }

  template <size_t kRows, size_t kNV>
  static HWY_INLINE void Accumulate(VI* acc, const void* a, size_t lda, size_t k, const BElem* bp,
                                    size_t bs, NextB pf) {
    int32x4_t c[kRows * kNV];
    EFFI_UNROLL
    for (size_t i = 0; i < kRows * kNV; ++i) c[i] = acc[i].raw;
    SdotAccumulate<kRows, kNV>(c, static_cast<const uint8_t*>(a), lda, k, bp, bs, pf.p, pf.lines);
    EFFI_UNROLL
    for (size_t i = 0; i < kRows * kNV; ++i) acc[i] = VI(c[i]);
  }
};
#endif

template <class Mac>
QGemmFormat FormatOf() {
  QGemmFormat f;
  f.lanes = static_cast<int32_t>(hn::Lanes(DI()));
  f.panel_vecs = static_cast<int32_t>(Mac::kPanelVecs);
  f.group = Mac::kGroup;
  f.elem_bytes = static_cast<int32_t>(sizeof(typename Mac::BElem));
  return f;
}

// ---- Epilogue

// p[0, lanes) (lanes <= L), zero beyond, reading nothing past p + lanes.
template <class D, typename T = hn::TFromD<D>>
HWY_INLINE hn::Vec<D> LoadPartial(D d, const T* p, size_t lanes) {
  if (kMaskedMemOps) return hn::MaskedLoad(hn::FirstN(d, lanes), d, p);
  HWY_ALIGN T t[HWY_LANES(T)] = {};
  std::memcpy(t, p, lanes * sizeof(T));
  return hn::Load(d, t);
}

// Stores lanes [0, lanes) of v, writing nothing past p + lanes.
template <class D, typename T = hn::TFromD<D>>
HWY_INLINE void StorePartial(hn::Vec<D> v, D d, T* p, size_t lanes) {
  if constexpr (kMaskedMemOps && sizeof(T) == 4) {
    hn::BlendedStore(v, hn::FirstN(d, lanes), d, p);
  } else {
    HWY_ALIGN T t[HWY_LANES(T)];
    hn::Store(v, d, t);
    std::memcpy(p, t, lanes * sizeof(T));
  }
}

template <class D, typename T = hn::TFromD<D>>
HWY_INLINE hn::Vec<D> LoadCols(D d, const T* p, size_t lanes, bool full) {
  return full ? hn::LoadU(d, p) : LoadPartial(d, p, lanes);
}

template <class D, typename T = hn::TFromD<D>>
HWY_INLINE void StoreCols(hn::Vec<D> v, D d, T* p, size_t lanes, bool full) {
  if (full) {
    hn::StoreU(v, d, p);
  } else {
    StorePartial(v, d, p, lanes);
  }
}

// Lanes of v (all in [0, 255]) as bytes.
HWY_INLINE hn::Vec<DU8> U8FromI32(DU8 du8, VI v) {
#if HWY_TARGET <= HWY_AVX3
  return hn::Vec<DU8>{_mm512_cvtepi32_epi8(v.raw)};  // vpmovdb: 1 op; DemoteTo takes 4
#else
  return hn::DemoteTo(du8, v);
#endif
}

// What a tile needs besides A and B, at the tile's first row and column.
struct TileOut {
  Out out;
  void* c;  // element (row 0, column 0) of the tile
  size_t ldc;
  const float* multiplier;
  const float* bias;
  ref::Activation act;
  const float* residual;
  size_t ldr;
  float inv_out_scale;
  int32_t out_zero_point;
  // The steps of ONNX Runtime's QDQ layout (QGemmEpilogue): fq_scale 0 = no fake quantization.
  float fq_scale, inv_fq_scale;
  int32_t fq_zero_point;
  const float* post_bias;
  const float* post_scale;
};

// 1.5 * 2^23 (bits 0x4B400000): for |t| < 2^22, t + kRoundMagic has the fixed exponent 23, so the
// float adder rounds t half to even (the default mode) and round(t) sits in the low mantissa bits.
constexpr float kRoundMagic = 12582912.0f;
constexpr int32_t kRoundMagicBits = 0x4B400000;

// y on the u8 grid of a scale and zero point zp, counted in steps from the zero point and not yet
// rounded: t = y * (1 / scale) clamped to [-zp, 255 - zp] (integers, so clamping before rounding
// equals saturating after). NaN becomes 0 (the zero point), as in ref::quantize_linear_u8: it is
// zeroed first because Min/Max treat NaN differently per ISA (x86 returns the second operand, NEON
// propagates it). Multiplying by 1 / scale may differ from QuantizeLinear's division by one step
// at exact ties. Shared by the u8 output and the fake-quant step.
struct U8Steps {
  VF inv, lo, hi;
  U8Steps(DF df, float inv_scale, int32_t zero_point)
      : inv(hn::Set(df, inv_scale)),
        lo(hn::Set(df, -static_cast<float>(zero_point))),
        hi(hn::Set(df, 255.0f - static_cast<float>(zero_point))) {}
  // t already divided by the scale; may_be_nan false: the caller knows t is not NaN.
  HWY_INLINE VF Clamp(VF t, bool may_be_nan) const {
    if (may_be_nan) t = hn::IfThenZeroElse(hn::IsNaN(t), t);
    return hn::Min(hn::Max(t, lo), hi);
  }
  HWY_INLINE VF operator()(VF y) const { return Clamp(hn::Mul(y, inv), true); }
};

// Which epilogue steps the code has: the plain ones (multiplier, bias, activation, residual), with
// post_bias / post_scale, or also with the fake quantization. Each is its own code, so the plain
// epilogue stays as it was and the fake-quant one tests no per-element flag for it. Only kPlain
// runs inside the register tiles; kPost and kFakeQuant run in QdqEpilogue.
enum class Steps { kPlain, kPost, kFakeQuant };

// The fake-quant step (QuantizeLinear -> DequantizeLinear in float), 4 ops per vector beyond the
// plain epilogue (post_scale, 1 when absent, is a fifth): the column's multiplier and bias are
// divided by fq_scale beforehand, so acc * multiplier + bias comes out in steps from the plain
// epilogue's one FMA; clamped (U8Steps; NaN zeroed only in columns whose multiplier and bias can
// make one); rounded half to even (Round: one vrndscaleps / roundps / frintn where adding and
// subtracting kRoundMagic took two; the same values, |t| <= 255); then times fq_scale plus
// post_bias in one FMA (post_bias 0 when absent). The products round differently from the
// reference's (acc * m + b) / fq_scale, so a value within a rounding of a tie may land one step
// away (as the u8 output's multiply by 1 / out_scale), and a multiplier / fq_scale beyond FLT_MAX
// (absurd scales) becomes inf. The first version (each element times 1 / fq_scale, NaN test on
// every element, tested post_bias / post_scale) cost +48 % over the plain epilogue at
// 3136x192x48; QdqEpilogue says where it runs now and what it costs.
struct FakeQuant {
  U8Steps steps;
  VF scale;
  FakeQuant(DF df, float scale_, float inv_scale, int32_t zero_point)
      : steps(df, inv_scale, zero_point), scale(hn::Set(df, scale_)) {}
  // t = v / fq_scale -> the fake-quantized v + post_bias.
  HWY_INLINE VF operator()(VF t, bool may_be_nan, VF post_bias) const {
    return hn::MulAdd(hn::Round(steps.Clamp(t, may_be_nan)), scale, post_bias);
  }
};

// One column vector's per-column operands (kFakeQuant: multiplier and bias divided by fq_scale).
struct ColVecs {
  VF mult, bias, post_bias, post_scale;
  bool may_be_nan;  // kFakeQuant: acc * mult + bias can be NaN in some lane
};

// The operands of columns [j, j + lanes) of the tile (lanes <= L; full: lanes == L).
template <Steps kSteps>
HWY_INLINE ColVecs ColVecsAt(DF df, const TileOut& o, const FakeQuant& fq, size_t j, size_t lanes,
                             bool full) {
  // Aggregate-initialised: GCC 12 compiles ColVecs' implicit default constructor without the
  // NEON target's attributes, and then cannot inline Vec128's into it.
  const VF one = hn::Set(df, 1.0f), zero = hn::Zero(df);
  ColVecs cv{o.multiplier ? LoadCols(df, o.multiplier + j, lanes, full) : one,
             o.bias ? LoadCols(df, o.bias + j, lanes, full) : zero, zero, one, false};
  if constexpr (kSteps != Steps::kPlain) {
    if (o.post_bias) cv.post_bias = LoadCols(df, o.post_bias + j, lanes, full);
    if (o.post_scale) cv.post_scale = LoadCols(df, o.post_scale + j, lanes, full);
  }
  if constexpr (kSteps == Steps::kFakeQuant) {
    cv.mult = hn::Mul(cv.mult, fq.steps.inv);
    cv.bias = hn::Mul(cv.bias, fq.steps.inv);
    // |acc| <= 2^31, so acc * mult + bias is finite (not NaN) unless a lane's bound is not.
    const VF bound = hn::MulAdd(hn::Abs(cv.mult), hn::Set(df, 2147483648.0f), hn::Abs(cv.bias));
    cv.may_be_nan = !hn::AllTrue(df, hn::Lt(bound, hn::Set(df, 1e38f)));
  }
  return cv;
}

// y = act(acc * multiplier + bias) + residual, in float; kPost adds post_bias before the
// activation and multiplies by post_scale after it, kFakeQuant also fake-quantizes before
// post_bias (QGemmEpilogue's order).
template <Steps kSteps>
HWY_INLINE VF Dequant(DF df, VI acc, const ColVecs& cv, ref::Activation act, const FakeQuant& fq,
                      const float* residual, size_t lanes, bool full) {
  VF y = hn::MulAdd(hn::ConvertTo(df, acc), cv.mult, cv.bias);
  if constexpr (kSteps == Steps::kFakeQuant) {
    y = fq(y, cv.may_be_nan, cv.post_bias);
  } else if constexpr (kSteps == Steps::kPost) {
    y = hn::Add(y, cv.post_bias);
  }
  y = Activate(df, y, act);
  // Unconditional (1 when absent): GCC put a tested multiply out of line, two taken jumps per
  // vector.
  if constexpr (kSteps != Steps::kPlain) y = hn::Mul(y, cv.post_scale);
  if (residual) y = hn::Add(y, LoadCols(df, residual, lanes, full));
  return y;
}

// The stores of the float result y to C (float, or u8 for StoreU8): y at p[0, lanes), nothing
// written past p + lanes (full: lanes == L).
struct StoreF32 {
  HWY_INLINE void operator()(VF y, float* p, size_t lanes, bool full) const {
    StoreCols(y, DF(), p, lanes, full);
  }
};

// u8: t = U8Steps(y), rounded half to even by adding kRoundMagic, whose bits minus
// kRoundMagicBits are round(t), then + zp: an int32 in [0, 255]. 6 ops per vector against 12 with
// NearestInt (overflow fix-up) and a saturating DemoteTo: BM_QGemmPackedU8 3136x192x48 went from
// 1.20x to 0.97x the float output's time.
struct StoreU8 {
  U8Steps steps;
  VF magic;
  VI offset;
  StoreU8(DF df, float inv_scale, int32_t zero_point)
      : steps(df, inv_scale, zero_point),
        magic(hn::Set(df, kRoundMagic)),
        offset(hn::Set(DI(), kRoundMagicBits - zero_point)) {}
  HWY_INLINE void operator()(VF y, uint8_t* p, size_t lanes, bool full) const {
    const DI di;
    const DU8 du8;
    const VI q32 = hn::Sub(hn::BitCast(di, hn::Add(steps(y), magic)), offset);
    StoreCols(U8FromI32(du8, q32), du8, p, lanes, full);
  }
};

// y[j] = lut[x[j]] for j < n, x and y 1-byte elements (y may be x): the u8 output's byte map
// (QGemmEpilogue::lut), applied to each tile's rows while they are in L1. Per 64 bytes, AVX3_DL
// (VBMI) takes two vpermi2b over the 128-byte halves and a blend on the index's top bit; NEON
// (AArch64) four tbl/tbx over 64-byte quarters per 16 bytes; the other targets 16 in-block byte
// shuffles (pshufb, one per 16-entry slice) selected by the index's high nibble. L1's fc1 shapes,
// the plain u8 epilogue + this table against the fake-quant + GELU epilogue it replaces
// (BM_QGemmPackedTableU8 / FqGeluU8, AVX3_DL, CPU time, 3 runs on a loaded VM): 3136x192x48
// 184-207 vs 348-388 us, 196x896x224 123-139 vs 175-181 us; plain u8 out alone 152-158 us.
HWY_INLINE void LookupBytes(const uint8_t* x, uint8_t* y, size_t n, const uint8_t* lut) {
#if HWY_TARGET == HWY_AVX3_DL
  const __m512i t0 = _mm512_loadu_si512(lut), t1 = _mm512_loadu_si512(lut + 64);
  const __m512i t2 = _mm512_loadu_si512(lut + 128), t3 = _mm512_loadu_si512(lut + 192);
  for (size_t j = 0; j < n; j += 64) {
    const __mmask64 m = n - j >= 64 ? ~__mmask64{0} : (__mmask64{1} << (n - j)) - 1;
    const __m512i idx = _mm512_maskz_loadu_epi8(m, x + j);
    const __m512i lo = _mm512_permutex2var_epi8(t0, idx, t1);
    const __m512i hi = _mm512_permutex2var_epi8(t2, idx, t3);
    _mm512_mask_storeu_epi8(y + j, m, _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), lo, hi));
  }
#elif HWY_TARGET == HWY_NEON && HWY_ARCH_ARM_A64
  const uint8x16x4_t t0 = vld1q_u8_x4(lut), t1 = vld1q_u8_x4(lut + 64);
  const uint8x16x4_t t2 = vld1q_u8_x4(lut + 128), t3 = vld1q_u8_x4(lut + 192);
  const uint8x16_t k64 = vdupq_n_u8(64);
  auto map = [&](uint8x16_t idx) {
    uint8x16_t r = vqtbl4q_u8(t0, idx);  // out-of-range indices give 0 (tbl) / keep r (tbx)
    idx = vsubq_u8(idx, k64);
    r = vqtbx4q_u8(r, t1, idx);
    idx = vsubq_u8(idx, k64);
    r = vqtbx4q_u8(r, t2, idx);
    return vqtbx4q_u8(r, t3, vsubq_u8(idx, k64));
  };
  size_t j = 0;
  for (; j + 16 <= n; j += 16) vst1q_u8(y + j, map(vld1q_u8(x + j)));
  if (j < n) {
    uint8_t t[16] = {};
    std::memcpy(t, x + j, n - j);
    vst1q_u8(t, map(vld1q_u8(t)));
    std::memcpy(y + j, t, n - j);
  }
#elif HWY_TARGET == HWY_SCALAR
  for (size_t j = 0; j < n; ++j) y[j] = lut[x[j]];
#else
  const hn::ScalableTag<uint8_t> d8;
  using V8 = hn::Vec<decltype(d8)>;
  const size_t L8 = hn::Lanes(d8);
  V8 slice[16];
  for (size_t i = 0; i < 16; ++i) slice[i] = hn::LoadDup128(d8, lut + 16 * i);
  auto map = [&](V8 idx) {
    const V8 lo = hn::And(idx, hn::Set(d8, 0x0F)), hi = hn::ShiftRight<4>(idx);
    V8 r = hn::TableLookupBytes(slice[0], lo);
    for (size_t i = 1; i < 16; ++i)
      r = hn::IfThenElse(hn::Eq(hi, hn::Set(d8, static_cast<uint8_t>(i))),
                         hn::TableLookupBytes(slice[i], lo), r);
    return r;
  };
  size_t j = 0;
  for (; j + L8 <= n; j += L8) hn::StoreU(map(hn::LoadU(d8, x + j)), d8, y + j);
  if (j < n) {
    HWY_ALIGN uint8_t t[HWY_LANES(uint8_t)] = {};
    std::memcpy(t, x + j, n - j);
    hn::Store(map(hn::Load(d8, t)), d8, t);
    std::memcpy(y + j, t, n - j);
  }
#endif
}

// body(c, store): c the C of o (float* or uint8_t*; not int32), store its Store*. For QdqEpilogue
// only: the plain tiles keep their own store lambdas, since with this helper GCC versioned their
// epilogue less (fewer act / residual copies) and BM_QGemmPacked 3136x192x48 got 6-10 % slower.
template <class Body>
HWY_INLINE void WithStore(const TileOut& o, const Body& body) {
  if (o.out == Out::kFloat) {
    body(static_cast<float*>(o.c), StoreF32());
    return;
  }
  body(static_cast<uint8_t*>(o.c), StoreU8(DF(), o.inv_out_scale, o.out_zero_point));
}

// Calls store(r, v, y) with y = Dequant(accumulator of row r, vector v) (plain steps) for the
// whole tile, column vector by column vector, so that only one vector's multipliers and biases are
// live besides the accumulators (all of them: 24 + 6 + temporaries > 32 registers, accumulators
// spilled).
template <size_t kRows, size_t kNV, class Store>
HWY_INLINE void DequantTile(const VI* acc, const TileOut& o, const size_t* lanes, const bool* full,
                            const Store& store) {
  const DF df;
  const size_t L = hn::Lanes(df);
  // Locals: a store through C (u8 C may alias anything) made GCC reload these per element.
  const ref::Activation act = o.act;
  const float* const residual = o.residual;
  const size_t ldr = o.ldr;
  const FakeQuant fq(df, o.fq_scale, o.inv_fq_scale, o.fq_zero_point);  // unused: optimised out
  EFFI_UNROLL
  for (size_t v = 0; v < kNV; ++v) {
    const ColVecs cv = ColVecsAt<Steps::kPlain>(df, o, fq, v * L, lanes[v], full[v]);
    EFFI_UNROLL
    for (size_t r = 0; r < kRows; ++r) {
      const float* res = residual ? residual + r * ldr + v * L : nullptr;
      store(r, v,
            Dequant<Steps::kPlain>(df, acc[r * kNV + v], cv, act, fq, res, lanes[v], full[v]));
    }
  }
}

// The epilogue with the steps of ONNX Runtime's QDQ layout (kPost: post_bias / post_scale;
// kFakeQuant: also fq_scale) for a tile whose int32 accumulators the register tile stored to acc
// (rows x cols, row r at acc + r * acc_stride, vector-aligned), writing C as o says. Out of the
// register tiles, one copy per target and kSteps (the loops over a column vector's rows
// specialised for full vectors with and without a residual), not per tile shape, Mac and kFull:
// inside the tiles (every tile instantiated twice, the QDQ epilogue unrolled over the tile with
// GELU inlined in each copy) the file took 1:47 min to compile in Release (now ~0:35, object
// 4.5 -> 1.3 MB of code) and over 30 min with ASan+UBSan. The tile stores its accumulators to a
// stack block (1.5 KiB, stays in L1) and this loop reloads them: no accumulator is live here, so
// the per-column and fake-quant operands stay in registers. BM_QGemmPackedQdq over
// BM_QGemmPacked, all steps on, float out (8 alternating rounds pinned to one core, best of 10
// per round, medians; loaded VM): 3136x192x48 1.34x (in the tiles, same runs: 1.43x; the QDQ
// call 5 % faster), 196x224x896 1.04x (1.02x); the plain epilogue's speed unchanged (+1 % and
// -0.3 %, within the runs' spread).
template <Steps kSteps>
HWY_NOINLINE void QdqEpilogue(const int32_t* acc, size_t acc_stride, size_t rows, size_t cols,
                              const TileOut& o) {
  const DI di;
  const DF df;
  const size_t L = hn::Lanes(df);
  const ref::Activation act = o.act;
  const float* const residual = o.residual;
  const size_t ldr = o.ldr, ldc = o.ldc;
  const FakeQuant fq(df, o.fq_scale, o.inv_fq_scale, o.fq_zero_point);
  WithStore(o, [&](auto* c, const auto& store) {
    for (size_t j = 0; j < cols; j += L) {
      const size_t lanes = std::min(L, cols - j);
      const ColVecs cv = ColVecsAt<kSteps>(df, o, fq, j, lanes, lanes == L);
      // Rows of column vector j. Full vectors (all but a tail) have whether there is a residual
      // known to the code as well.
      const auto column = [&](auto full, auto with_res) {
        const int32_t* a = acc + j;
        auto* cj = c + j;
        const float* res = with_res ? residual + j : nullptr;
        for (size_t r = 0; r < rows; ++r) {
          store(Dequant<kSteps>(df, hn::Load(di, a), cv, act, fq, with_res ? res : nullptr, lanes,
                                full),
                cj, lanes, full);
          a += acc_stride;
          cj += ldc;
          if (with_res) res += ldr;
        }
      };
      if (lanes == L) {
        if (residual) {
          column(std::true_type(), std::true_type());
        } else {
          column(std::true_type(), std::false_type());
        }
      } else {
        column(std::false_type(), residual != nullptr);
      }
    }
  });
}

// One kRows x kNV-vector tile (cols columns, (kNV - 1) L < cols <= kNV L; kFull: cols == kNV L)
// over all of K: the zero-point term -za * colsum, plus A . B, then the plain epilogue, or the
// raw accumulators (int32 C, or QdqEpilogue's block). Not inlined into the panel loop: register
// allocation per tile kept all 24 accumulators in registers, while the inlined version (every tile
// shape in one function) spilled around the K loop (3136x192x48, int32 out, alternating runs:
// 85-89 vs 114-159 us).
template <class Mac, size_t kRows, size_t kNV, bool kFull>
HWY_NOINLINE void Tile(const void* a, size_t lda, size_t k, const typename Mac::BElem* bp,
                       size_t bs, const int32_t* colsum, int32_t za, size_t cols, const TileOut& o,
                       NextB pf) {
  const DI di;
  const size_t L = hn::Lanes(di);
  VI acc[kRows * kNV];
  EFFI_UNROLL
  for (size_t v = 0; v < kNV; ++v) {
    const VI comp = hn::Mul(hn::LoadU(di, colsum + v * L), hn::Set(di, -za));
    EFFI_UNROLL
    for (size_t r = 0; r < kRows; ++r) acc[r * kNV + v] = comp;
  }
  Mac::template Accumulate<kRows, kNV>(acc, a, lda, k, bp, bs, pf);
  // Columns of vector v: all but the last are full.
  size_t lanes[kNV];
  bool full[kNV];
  EFFI_UNROLL
  for (size_t v = 0; v < kNV; ++v) {
    lanes[v] = v + 1 < kNV ? L : cols - (kNV - 1) * L;
    full[v] = kFull || v + 1 < kNV;
  }
  if (o.out == Out::kInt32) {
    int32_t* c = static_cast<int32_t*>(o.c);
    EFFI_UNROLL
    for (size_t r = 0; r < kRows; ++r) {
      EFFI_UNROLL
      for (size_t v = 0; v < kNV; ++v)
        StoreCols(acc[r * kNV + v], di, c + r * o.ldc + v * L, lanes[v], full[v]);
    }
    return;
  }
  const DF df;
  if (o.out == Out::kFloat) {
    float* c = static_cast<float*>(o.c);
    DequantTile<kRows, kNV>(acc, o, lanes, full, [&](size_t r, size_t v, VF y) {
      StoreCols(y, df, c + r * o.ldc + v * L, lanes[v], full[v]);
    });
    return;
  }
  uint8_t* c = static_cast<uint8_t*>(o.c);
  const StoreU8 store(df, o.inv_out_scale, o.out_zero_point);
  DequantTile<kRows, kNV>(acc, o, lanes, full, [&](size_t r, size_t v, VF y) {
    store(y, c + r * o.ldc + v * L, lanes[v], full[v]);
  });
}

// Output element (row i, column j) of the call's C.
HWY_INLINE void* OutAt(const Args& p, int64_t i, int64_t j) {
  const int64_t e = i * p.ldc + j;
  switch (p.out) {
    case Out::kFloat:
      return static_cast<float*>(p.c) + e;
    case Out::kUint8:
      return static_cast<uint8_t*>(p.c) + e;
    case Out::kInt32:
      break;
  }
  return static_cast<int32_t*>(p.c) + e;
}

// All row tiles of rows [m_begin, m_end) for one chunk's columns [j0, j0 + cols). Row tails are
// spread over the tiles as in gemm_hwy.cc's PanelRows (a 1-row tile has too few accumulator
// chains). a: row m_begin of A as Mac reads it. The first tiles also prefetch the next chunk's B
// [next, next + next_bytes), one line per K group each: the hardware prefetchers do not cross
// from one chunk to the next (K x NR bytes apart), so with cold weights (the model's) each chunk's
// first tile would wait on DRAM. Alternating runs, BM_QGemmPackedCold: 49x1792x448 -12 %,
// 49x448x1792 -16 %; warm shapes unchanged within noise. With QDQ steps, each tile stores its
// accumulators to a block on the stack (int32, at most 8 x 48: 1.5 KiB) and QdqEpilogue writes C.
template <class Mac, size_t kNV, bool kFull>
HWY_INLINE void PanelRows(const Args& p, int64_t m_begin, int64_t m_end, const void* a, size_t lda,
                          size_t esize, const typename Mac::BElem* bp, size_t bs,
                          const int32_t* colsum, int32_t za, int64_t j0, size_t cols,
                          float inv_out_scale, float inv_fq_scale, const uint8_t* next,
                          size_t next_bytes) {
  const int64_t rows = m_end - m_begin;
  if (rows <= 0) return;
  const int64_t mr = static_cast<int64_t>(Mac::kMR);
  const int64_t tiles = (rows + mr - 1) / mr;
  int64_t base = mr, extra = 0;  // the first `extra` tiles get base + 1 rows
  if (rows % mr != 0 && rows % mr < mr / 2 && rows > mr) {
    base = rows / tiles;
    extra = rows % tiles;
  }
  const QGemmEpilogue& ep = p.ep;
  void (*qdq)(const int32_t*, size_t, size_t, size_t, const TileOut&) = nullptr;
  if (p.out != Out::kInt32) {
    if (ep.fq_scale != 0.0f) {
      qdq = &QdqEpilogue<Steps::kFakeQuant>;
    } else if (ep.post_bias || ep.post_scale) {
      qdq = &QdqEpilogue<Steps::kPost>;
    }
  }
  const uint8_t* const lut = p.out == Out::kUint8 ? ep.lut : nullptr;
  HWY_ALIGN int32_t block[Mac::kMR * kNV * HWY_LANES(int32_t)];
  const size_t block_stride = kNV * hn::Lanes(DI());
  const size_t k = static_cast<size_t>(p.k);
  size_t next_lines = (next_bytes + 63) / 64;
  int64_t i = m_begin;
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t r = std::min(base + (t < extra ? 1 : 0), m_end - i);
    const void* ai =
        static_cast<const uint8_t*>(a) + static_cast<size_t>(i - m_begin) * lda * esize;
    TileOut o{p.out,
              OutAt(p, i, j0),
              static_cast<size_t>(p.ldc),
              ep.multiplier ? ep.multiplier + j0 : nullptr,
              ep.bias ? ep.bias + j0 : nullptr,
              ep.act,
              ep.residual ? ep.residual + i * ep.ldr + j0 : nullptr,
              static_cast<size_t>(ep.ldr),
              inv_out_scale,
              ep.out_zero_point,
              ep.fq_scale,
              inv_fq_scale,
              ep.fq_zero_point,
              ep.post_bias ? ep.post_bias + j0 : nullptr,
              ep.post_scale ? ep.post_scale + j0 : nullptr};
    NextB pf;
    if (next_lines != 0) {
      pf.p = next;
      pf.lines = std::min(next_lines, Mac::PrefetchSlots(k));
      next += 64 * pf.lines;
      next_lines -= pf.lines;
    }
    // QDQ steps: the tile writes its accumulators to block, QdqEpilogue writes C.
    TileOut raw;
    const TileOut* to = &o;
    if (qdq) {
      raw = o;
      raw.out = Out::kInt32;
      raw.c = block;
      raw.ldc = block_stride;
      to = &raw;
    }
    switch (r) {
#define EFFI_QTILE(R)                                                          \
  case R:                                                                      \
    if constexpr (static_cast<size_t>(R) <= Mac::kMR)                          \
      Tile<Mac, R, kNV, kFull>(ai, lda, k, bp, bs, colsum, za, cols, *to, pf); \
    break;
      EFFI_QTILE(1)
      EFFI_QTILE(2)
      EFFI_QTILE(3)
      EFFI_QTILE(4)
      EFFI_QTILE(5)
      EFFI_QTILE(6)
      EFFI_QTILE(7)
      EFFI_QTILE(8)
#undef EFFI_QTILE
      default:
        break;
    }
    if (qdq) qdq(block, block_stride, static_cast<size_t>(r), cols, o);
    if (lut) {
      uint8_t* c = static_cast<uint8_t*>(o.c);
      for (int64_t row = 0; row < r; ++row, c += o.ldc) LookupBytes(c, c, cols, lut);
    }
    i += r;
  }
}

// Rows of int16 A the widening kernel converts per block: 128 KiB per thread at most (at least
// one row tile), so large M x K never needs a copy of all of A.
constexpr int64_t kWideAElems = 64 * 1024;

template <class Mac>
void Run(const Args& p) {
  const QGemmFormat f = FormatOf<Mac>();
  if (!(p.format == f)) std::abort();  // packed for another ISA: caller bug (qgemm.h)
  const int64_t L = f.lanes;
  const int64_t kp = qgemm_internal::PaddedK(f, p.k);
  const int32_t za = p.a_zero_point - Mac::kAOffset;
  const float inv_out_scale = 1.0f / p.ep.out_scale;
  const float inv_fq_scale = p.ep.fq_scale != 0.0f ? 1.0f / p.ep.fq_scale : 0.0f;
  const auto* packed = reinterpret_cast<const typename Mac::BElem*>(p.packed);
  const int64_t mr = static_cast<int64_t>(Mac::kMR);
  int64_t block = p.m_end - p.m_begin;
  if constexpr (Mac::kWidenA)
    block = std::max(mr, std::min(block, kWideAElems / std::max<int64_t>(kp, 1) / mr * mr));
  // Loop order as the fp32 GEMM's, without its K blocks: a B chunk of all K (84 KiB for L1's
  // K = 1792) stays in L2 while every row tile of the range reads it, and the accumulators never
  // leave registers, so the epilogue runs once (no int32 partial sums in C).
  for (int64_t m0 = p.m_begin; m0 < p.m_end; m0 += block) {
    const int64_t m1 = std::min(p.m_end, m0 + block);
    const void* a = p.a + m0 * p.lda;
    size_t lda = static_cast<size_t>(p.lda), esize = 1;
    if constexpr (Mac::kWidenA) {
      thread_local std::vector<int16_t> wide;
      wide.resize(static_cast<size_t>((m1 - m0) * kp));
      for (int64_t i = m0; i < m1; ++i) {
        const uint8_t* src = p.a + i * p.lda;
        int16_t* dst = wide.data() + (i - m0) * kp;
        int64_t kk = 0;
#if HWY_TARGET != HWY_SCALAR
        const hn::Rebind<uint16_t, D16> du16;
        const hn::Rebind<uint8_t, D16> du8;
        const int64_t L16 = static_cast<int64_t>(hn::Lanes(du16));
        for (; kk + L16 <= p.k; kk += L16) {
          const auto w = hn::PromoteTo(du16, hn::LoadU(du8, src + kk));
          hn::StoreU(hn::BitCast(D16(), w), D16(), dst + kk);
        }
#endif
        for (; kk < p.k; ++kk) dst[kk] = src[kk];
        for (; kk < kp; ++kk) dst[kk] = 0;
      }
      a = wide.data();
      lda = static_cast<size_t>(kp);
      esize = sizeof(int16_t);
    }
    for (int64_t j0 = p.n_begin; j0 < p.n_end;) {
      const int64_t cs = qgemm_internal::ChunkStart(f, p.n, j0);
      const int64_t cw = qgemm_internal::ChunkWidth(f, p.n, cs);
      const int64_t je = std::min(cs + cw, p.n_end);
      const auto* bp = packed + cs * kp + (j0 - cs) * Mac::kGroup;
      const size_t bs = static_cast<size_t>(cw * Mac::kGroup);
      const size_t cols = static_cast<size_t>(je - j0);
      const int64_t nv = (je - j0 + L - 1) / L;
      const bool full = static_cast<int64_t>(cols) == nv * L;
      const int32_t* colsum = p.column_sums + j0;
      // The next chunk of this range, prefetched while this one's row tiles run.
      const uint8_t* next = nullptr;
      size_t next_bytes = 0;
      if (je < p.n_end) {
        next = reinterpret_cast<const uint8_t*>(packed + je * kp);
        next_bytes = static_cast<size_t>(qgemm_internal::ChunkWidth(f, p.n, je) * kp) *
                     sizeof(typename Mac::BElem);
      }
#define EFFI_QPANEL(NV, FULL)                                                                     \
  PanelRows<Mac, NV, FULL>(p, m0, m1, a, lda, esize, bp, bs, colsum, za, j0, cols, inv_out_scale, \
                           inv_fq_scale, next, next_bytes)
      if (Mac::kPanelVecs == 3 && nv == 3) {
        if (full) {
          EFFI_QPANEL(3, true);
        } else {
          EFFI_QPANEL(3, false);
        }
      } else if (nv >= 2) {
        if (full) {
          EFFI_QPANEL(2, true);
        } else {
          EFFI_QPANEL(2, false);
        }
      } else {
        EFFI_QPANEL(1, false);
      }
#undef EFFI_QPANEL
      j0 = je;
    }
  }
}

template <class Mac>
const char* NameOf(const char* suffix) {
  static const std::string name = "qgemm_u8s8_" + std::to_string(Mac::kMR) + "x" +
                                  std::to_string(Mac::kPanelVecs * hn::Lanes(DI())) + "c" +
                                  std::to_string(Mac::kGroup) + "__" + hwy::TargetName(HWY_TARGET) +
                                  suffix;
  return name.c_str();
}

}  // namespace

// The packed format this target's kernel reads; dot: the CPU has the base target's int8 dot
// product (NEON sdot, AVX2 AVX-VNNI; HasInt8DotProd). AVX3_DL always has VNNI.
QGemmFormat QGemmFormatFor(bool dot) {
#if HWY_TARGET == HWY_AVX3_DL
  (void)dot;
  return FormatOf<VnniMac>();
#elif EFFI_QGEMM_VNNI
  return dot ? FormatOf<VnniMac>() : FormatOf<WidenMac>();
#elif EFFI_QGEMM_SDOT
  return dot ? FormatOf<SdotMac>() : FormatOf<WidenMac>();
#else
  (void)dot;
  return FormatOf<WidenMac>();
#endif
}

// Runs the kernel B was packed for (the packed group tells the dot-product format from the
// widening one on targets that have both).
void QGemmRun(const Args& p) {
#if HWY_TARGET == HWY_AVX3_DL
  Run<VnniMac>(p);
#elif EFFI_QGEMM_VNNI
  if (p.format.group == VnniMac::kGroup) {
    Run<VnniMac>(p);
  } else {
    Run<WidenMac>(p);
  }
#elif EFFI_QGEMM_SDOT
  if (p.format.group == SdotMac::kGroup) {
    Run<SdotMac>(p);
  } else {
    Run<WidenMac>(p);
  }
#else
  Run<WidenMac>(p);
#endif
}

const char* QGemmName(bool dot) {
#if HWY_TARGET == HWY_AVX3_DL
  (void)dot;
  return NameOf<VnniMac>("");
#elif EFFI_QGEMM_VNNI
  return dot ? NameOf<VnniMac>("_VNNI") : NameOf<WidenMac>("");
#elif EFFI_QGEMM_SDOT
  return dot ? NameOf<SdotMac>("_DOTPROD") : NameOf<WidenMac>("");
#else
  (void)dot;
  return NameOf<WidenMac>("");
#endif
}

void LookupU8Run(const uint8_t* x, uint8_t* y, int64_t count, const uint8_t* lut) {
  LookupBytes(x, y, static_cast<size_t>(count), lut);
}

}  // namespace HWY_NAMESPACE
}  // namespace effi::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace effi::kernels {

HWY_EXPORT(QGemmFormatFor);
HWY_EXPORT(QGemmRun);
HWY_EXPORT(QGemmName);
HWY_EXPORT(LookupU8Run);

void AlignedFreeBytes::operator()(uint8_t* p) const { std::free(p); }

PackedBQ8::PackedBQ8(const int8_t* b, int64_t k, int64_t n, int64_t ldb, bool trans_b)
    : k_(k), n_(n) {
  InitIsa();
  format_ = HWY_DYNAMIC_DISPATCH(QGemmFormatFor)(HasInt8DotProd());
  const QGemmFormat& f = format_;
  const int64_t kp = qgemm_internal::PaddedK(f, k);
  int64_t cols = 0;  // padded width: the end of the last chunk
  while (cols < n) cols += qgemm_internal::ChunkWidth(f, n, cols);
  const size_t sums_bytes = (static_cast<size_t>(cols) * sizeof(int32_t) + 63) / 64 * 64;
  size_t bytes = sums_bytes + static_cast<size_t>(cols * kp * f.elem_bytes);
  storage_.reset(static_cast<uint8_t*>(util::AllocAligned(&bytes)));
  if (!storage_) throw std::bad_alloc();
  auto* sums = reinterpret_cast<int32_t*>(storage_.get());
  uint8_t* data = storage_.get() + sums_bytes;
  auto at = [&](int64_t kk, int64_t j) -> int32_t {
    return (j < n && kk < k) ? (trans_b ? b[j * ldb + kk] : b[kk * ldb + j]) : 0;
  };
  for (int64_t j = 0; j < cols; ++j) {
    int32_t s = 0;
    for (int64_t kk = 0; kk < k; ++kk) s += at(kk, j);
    sums[j] = s;
  }
  // Chunk at column j0 (width cw): [kp / group][cw][group] elements from element j0 * kp.
  for (int64_t j0 = 0; j0 < n;) {
    const int64_t cw = qgemm_internal::ChunkWidth(f, n, j0);
    for (int64_t g = 0; g < kp / f.group; ++g) {
      for (int64_t j = 0; j < cw; ++j) {
        for (int64_t t = 0; t < f.group; ++t) {
          const int64_t e = j0 * kp + (g * cw + j) * f.group + t;
          const int32_t w = at(g * f.group + t, j0 + j);
          if (f.elem_bytes == 1) {
            data[e] = static_cast<uint8_t>(static_cast<int8_t>(w));
          } else {
            const auto w16 = static_cast<int16_t>(w);
            std::memcpy(data + 2 * e, &w16, sizeof(w16));
          }
        }
      }
    }
    j0 += cw;
  }
  column_sums_ = sums;
  data_ = data;
}

namespace {

void Dispatch(int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end, const uint8_t* a,
              int64_t lda, int32_t a_zero_point, const PackedBQ8& b, qgemm_internal::Out out,
              void* c, int64_t ldc, const QGemmEpilogue& ep) {
  if (m_end <= m_begin || n_end <= n_begin) return;
  n_end = std::min(n_end, b.n());
  if (n_begin % b.lanes() != 0 || n_begin < 0 || n_end <= n_begin) std::abort();  // see qgemm.h
  const qgemm_internal::Args args{
      m_begin,         m_end, n_begin, n_end,      a,   lda, a_zero_point, b.data(),
      b.column_sums(), b.k(), b.n(),   b.format(), out, c,   ldc,          ep};
  HWY_DYNAMIC_DISPATCH(QGemmRun)(args);
}

}  // namespace

void QGemmPacked(int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end, const uint8_t* a,
                 int64_t lda, int32_t a_zero_point, const PackedBQ8& b, float* c, int64_t ldc,
                 const QGemmEpilogue& ep) {
  Dispatch(m_begin, m_end, n_begin, n_end, a, lda, a_zero_point, b, qgemm_internal::Out::kFloat, c,
           ldc, ep);
}

void QGemmPacked(int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end, const uint8_t* a,
                 int64_t lda, int32_t a_zero_point, const PackedBQ8& b, uint8_t* c, int64_t ldc,
                 const QGemmEpilogue& ep) {
  Dispatch(m_begin, m_end, n_begin, n_end, a, lda, a_zero_point, b, qgemm_internal::Out::kUint8, c,
           ldc, ep);
}

void QGemmPacked(int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end, const uint8_t* a,
                 int64_t lda, int32_t a_zero_point, const PackedBQ8& b, int32_t* c, int64_t ldc) {
  Dispatch(m_begin, m_end, n_begin, n_end, a, lda, a_zero_point, b, qgemm_internal::Out::kInt32, c,
           ldc, QGemmEpilogue{});
}

void LookupU8(int64_t count, const uint8_t* x, const uint8_t* lut, uint8_t* y, bool reference) {
  if (count <= 0) return;
  if (reference) {
    for (int64_t i = 0; i < count; ++i) y[i] = lut[x[i]];
    return;
  }
  InitIsa();
  HWY_DYNAMIC_DISPATCH(LookupU8Run)(x, y, count, lut);
}

const char* QGemmKernelName() {
  InitIsa();
  return HWY_DYNAMIC_DISPATCH(QGemmName)(HasInt8DotProd());
}

std::vector<int64_t> QGemmTargets() {
  InitIsa();
  std::vector<int64_t> out = hwy::SupportedAndGeneratedTargets();
  hwy::GetChosenTarget().DeInit();  // see isa.cc SupportedTargetsKeepingCap
  return out;
}

}  // namespace effi::kernels
#endif  // HWY_ONCE
