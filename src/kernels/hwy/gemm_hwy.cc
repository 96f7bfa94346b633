// Highway implementation of the packed fp32 GEMM (one source for AVX2, AVX-512, NEON, scalar),
// compiled once per target by foreach_target and dispatched at run time.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/hwy/gemm_hwy.cc"
#include "hwy/cache_control.h"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/gemm.h"
#include "kernels/hwy/vec_math-inl.h"
#include "kernels/isa.h"
#include "util/aligned_alloc.h"

HWY_BEFORE_NAMESPACE();
namespace effi::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// Register budget: MR rows x 2 vectors of accumulators + 2 B vectors + 1 broadcast. AVX2 and
// SSE4 have 16 vector registers (6x2 = 12 accumulators); AVX-512 and NEON have 32 (8x2 = 16;
// 12x2 measured no faster on L1's shapes and worse for M tails).
#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_SSSE3
constexpr size_t kMR = 6;
#elif HWY_TARGET == HWY_EMU128 || HWY_TARGET == HWY_SCALAR
constexpr size_t kMR = 4;
#else
constexpr size_t kMR = 8;
#endif
// Panel width in vectors: 3 on 32-register targets (8 x 3 accumulators + 3 B + 1 A registers:
// 24 FMAs per 8 broadcasts and 3 B loads, against 16 per 8 + 2 with 2-vector panels), 2 on
// 16-register ones. 3-vector tiles first served only N = 48 (L1 stage 0 fc2, 3136x192->48: 0.82
// -> 0.92 of peak against a 2-vector and a 1-vector panel); as the panel width for every layer,
// alternating whole-model runs against 2-vector panels: L1 1 thread -2.0 %, L3 -2.2 %, L1 at 2
// threads -0.5..-0.9 %.
#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_SSSE3 || \
    HWY_TARGET == HWY_EMU128 || HWY_TARGET == HWY_SCALAR
constexpr size_t kPanelVecs = 2;
#else
constexpr size_t kPanelVecs = 3;
#endif
// K block: a B slice of kKC x NR floats (AVX-512: 512 x 48 x 4 B = 96 KiB, L2-resident, re-read
// by every row tile of the range). With 2-vector panels 512 beat 256 (which fit L1) by 2-3 % on
// whole models (L1 1 and 2 threads, L3 1 thread, pinned, alternating runs): fewer passes of C
// through the K loop on the 896/1792-deep layers; 1024 and 2048 were no better. Re-measured with
// 3-vector panels: 256 +2.2 % (L3) / +3.9 % (L1), 384 +1.3 % (L3), near-equal blocks of <= 512
// and 1024 / 4096 neutral.
constexpr size_t kKC = 512;
// Software prefetch of the next B slice: one 64-byte line every other k step of a row tile.
constexpr size_t kPrefetchFloatsPerK = 8;

size_t NR() { return kPanelVecs * hn::Lanes(DF()); }

// Masked tails: on AVX2/AVX-512 MaskedLoad/BlendedStore of f32 are hardware masked (vmaskmovps,
// k-masks) and never touch memory past the mask. Highway 1.0.3 emulates them on NEON/SSE4 with a
// full load / read-modify-write store, which could fault past the end of C or race with the
// thread writing the next columns, so those targets keep a (per-vector) buffer path.
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
constexpr bool kMaskedMemOps = true;
#else
constexpr bool kMaskedMemOps = false;
#endif

// Packed layout: column chunks [k][w] stored one after the other, so the chunk at column j0
// starts at j0 * k. Chunks are NR wide, except at the end: the remaining r < NR columns take
// ceil(r / L) vectors (N = 1000: 20 x 48 + 40), and with 3-vector panels a remainder of NR < r
// <= NR + L becomes two 2-vector chunks (N = 448: 8 x 48 + 32 + 32) rather than a 3-vector and a
// 1-vector one, whose 8 accumulator chains are load-bound.
size_t ChunkWidth(int64_t n, int64_t j0) {
  const int64_t L = static_cast<int64_t>(hn::Lanes(DF()));
  const int64_t nr = static_cast<int64_t>(NR()), r = n - j0;
  if (kPanelVecs == 3 && r > nr && r <= nr + L) return static_cast<size_t>(2 * L);
  return static_cast<size_t>(std::min(nr, (r + L - 1) / L * L));
}

int64_t PackedFloats(int64_t k, int64_t n) {
  int64_t cols = 0;  // the padded width: the end of the last chunk
  while (cols < n) cols += static_cast<int64_t>(ChunkWidth(n, cols));
  return cols * std::max<int64_t>(k, 1);
}

void PackB(const float* b, int64_t k, int64_t n, int64_t ldb, bool trans_b, float* out) {
  for (int64_t j0 = 0; j0 < n;) {
    const int64_t pw = static_cast<int64_t>(ChunkWidth(n, j0));
    float* panel = out + j0 * k;
    const int64_t w = std::min(pw, n - j0);
    for (int64_t kk = 0; kk < k; ++kk) {
      float* row = panel + kk * pw;
      for (int64_t j = 0; j < w; ++j)
        row[j] = trans_b ? b[(j0 + j) * ldb + kk] : b[kk * ldb + j0 + j];
      for (int64_t j = w; j < pw; ++j) row[j] = 0.0f;
    }
    j0 += pw;
  }
}

// Writes one accumulator vector to crow[0, lanes): accumulate onto C unless first, epilogue if
// last. kFull: lanes == L known at compile time (the hot path: no tail test per row; with it, K =
// 48 tiles measured 10% slower).
template <bool kFull>
HWY_INLINE void StoreAcc(DF d, VF v, float* HWY_RESTRICT crow, size_t lanes, bool first, bool last,
                         const float* bias, ref::Activation act, const float* residual) {
  const size_t L = hn::Lanes(d);
  if (kFull || lanes == L) {
    if (!first) v = hn::Add(v, hn::LoadU(d, crow));
    if (last) {
      if (bias) v = hn::Add(v, hn::LoadU(d, bias));
      v = Activate(d, v, act);
      if (residual) v = hn::Add(v, hn::LoadU(d, residual));
    }
    hn::StoreU(v, d, crow);
  } else if (kMaskedMemOps) {
    const auto m = hn::FirstN(d, lanes);
    if (!first) v = hn::Add(v, hn::MaskedLoad(m, d, crow));
    if (last) {
      if (bias) v = hn::Add(v, hn::MaskedLoad(m, d, bias));
      v = Activate(d, v, act);
      if (residual) v = hn::Add(v, hn::MaskedLoad(m, d, residual));
    }
    hn::BlendedStore(v, m, d, crow);
  } else {
    // Through a buffer so nothing past `lanes` is read or written.
    HWY_ALIGN float t[HWY_LANES(float)] = {};
    for (size_t j = 0; j < lanes; ++j)
      t[j] = (first ? 0.0f : crow[j]) + (last && bias ? bias[j] : 0.0f);
    v = hn::Add(v, hn::Load(d, t));
    if (last) v = Activate(d, v, act);
    hn::Store(v, d, t);
    for (size_t j = 0; j < lanes; ++j) crow[j] = t[j] + (last && residual ? residual[j] : 0.0f);
  }
}

// Loads p[0, lanes), lanes <= L, zero beyond, reading nothing past p + lanes.
HWY_INLINE VF LoadPartial(DF d, const float* p, size_t lanes) {
  if (kMaskedMemOps) return hn::MaskedLoad(hn::FirstN(d, lanes), d, p);
  HWY_ALIGN float t[HWY_LANES(float)] = {};
  for (size_t j = 0; j < lanes; ++j) t[j] = p[j];
  return hn::Load(d, t);
}

// One kRows x (kNV vectors) tile (rows <= kMR, (kNV - 1) * L < cols <= kNV * L) over a K slice
// of B columns kNV vectors wide (B rows bs floats apart: the chunk width, >= kNV * L). first: start
// from the bias (or zero), else accumulate onto C. last: apply the epilogue. kFull: cols == kNV *
// L. kPrefetch: also prefetch kc / 2 cache lines from pf (part of the next B slice), one every
// other k step.
template <size_t kRows, size_t kNV, bool kFull, bool kPrefetch = false>
HWY_INLINE void Tile(size_t kc, const float* HWY_RESTRICT a, size_t lda,
                     const float* HWY_RESTRICT bp, size_t bs, float* HWY_RESTRICT c, size_t ldc,
                     size_t cols, bool first, bool last, const float* bias, ref::Activation act,
                     const float* residual, size_t ldr, const float* pf = nullptr) {
  const DF d;
  const size_t L = hn::Lanes(d);
  // The bias is the accumulators' starting value in the first K slice (one load per column
  // vector per tile instead of a load and an add per output vector in the epilogue).
  VF acc0[kRows], acc1[kRows], acc2[kRows];
  VF init0 = hn::Zero(d), init1 = init0, init2 = init0;
  if (first && bias) {
    const size_t lanes0 = std::min(cols, L);
    init0 = kFull || lanes0 == L ? hn::LoadU(d, bias) : LoadPartial(d, bias, lanes0);
    if (kNV == 2) init1 = kFull ? hn::LoadU(d, bias + L) : LoadPartial(d, bias + L, cols - L);
    if (kNV == 3) {
      init1 = hn::LoadU(d, bias + L);
      init2 = kFull ? hn::LoadU(d, bias + 2 * L) : LoadPartial(d, bias + 2 * L, cols - 2 * L);
    }
  }
  for (size_t r = 0; r < kRows; ++r) {
    acc0[r] = init0;
    acc1[r] = init1;
    acc2[r] = init2;
  }
  for (size_t k = 0; k < kc; ++k) {
    if (kPrefetch && (k & 1) == 0) hwy::Prefetch(pf + k * kPrefetchFloatsPerK);
    const VF b0 = hn::LoadU(d, bp + k * bs);
    const VF b1 = kNV >= 2 ? hn::LoadU(d, bp + k * bs + L) : b0;
    const VF b2 = kNV == 3 ? hn::LoadU(d, bp + k * bs + 2 * L) : b0;
    for (size_t r = 0; r < kRows; ++r) {
      const VF av = hn::Set(d, a[r * lda + k]);
      acc0[r] = hn::MulAdd(av, b0, acc0[r]);
      if (kNV >= 2) acc1[r] = hn::MulAdd(av, b1, acc1[r]);
      if (kNV == 3) acc2[r] = hn::MulAdd(av, b2, acc2[r]);
    }
  }
  // The bias is already in the accumulators: StoreAcc gets none.
  const size_t lanes0 = std::min(cols, L);
  for (size_t r = 0; r < kRows; ++r) {
    float* crow = c + r * ldc;
    const float* rrow = residual ? residual + r * ldr : nullptr;
    StoreAcc<kFull>(d, acc0[r], crow, lanes0, first, last, nullptr, act, rrow);
    if (kNV == 2) {
      StoreAcc<kFull>(d, acc1[r], crow + L, cols - L, first, last, nullptr, act,
                      rrow ? rrow + L : nullptr);
    }
    if (kNV == 3) {
      StoreAcc<true>(d, acc1[r], crow + L, L, first, last, nullptr, act, rrow ? rrow + L : nullptr);
      StoreAcc<kFull>(d, acc2[r], crow + 2 * L, cols - 2 * L, first, last, nullptr, act,
                      rrow ? rrow + 2 * L : nullptr);
    }
  }
}

// All row tiles of rows [m_begin, m_end) for one panel's K slice. The first tiles of kMR or
// kMR - 1 rows also prefetch the next B slice [pf, pf + pf_floats) (next panel, or the first panel
// of the next K block), so its first row tile does not wait on DRAM when the weights are cold (in
// the model every layer's weights are: ~49 MB per inference). The hardware prefetchers do not cross
// from one panel's slice to the next (k * NR floats apart). Measured (BM_GemmPackedCold vs without,
// A/B): 49x1792x448 +27%, 49x448x1792 +21%; warm BM_GemmPacked shapes unchanged (+-2%).
template <size_t kNV, bool kFull>
HWY_INLINE void PanelRows(int64_t m_begin, int64_t m_end, size_t kc, const float* a, int64_t lda,
                          const float* bp, size_t bs, float* c, int64_t ldc, size_t cols,
                          bool first, bool last, const float* bj, ref::Activation act,
                          const float* residual, int64_t ldr, const float* pf, size_t pf_floats) {
  // A short row tail is spread over the tiles: ceil(rows / kMR) near-equal tiles (kMR or kMR - 1
  // rows once the range has a few tiles) instead of full tiles plus the tail. A 1-row tail (49 =
  // 6 x 8 + 1, the 7x7 stage) has only 2 accumulator chains: latency-bound at ~1/4 of the FMA
  // rate, it cost as much as a 4-row tile; 7 x 7 rows keep 14 chains busy: BM_GemmPacked
  // 49x2048x512 and 49x512x2048 -5 %. A tail of >= kMR / 2 rows has enough chains and stays (196 =
  // 24 x 8 + 4: balancing to 21 x 8 + 4 x 7 measured no faster).
  const int64_t rows = m_end - m_begin;
  if (rows <= 0) return;
  const int64_t mr = static_cast<int64_t>(kMR);
  const int64_t tiles = (rows + mr - 1) / mr;
  int64_t base = mr, extra = 0;  // the first `extra` tiles get base + 1 rows
  if (rows % mr != 0 && rows % mr < mr / 2 && rows > mr) {
    base = rows / tiles;
    extra = rows % tiles;
  }
  const size_t pf_per_tile = kc * kPrefetchFloatsPerK;
  int64_t i = m_begin;
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t r = std::min(base + (t < extra ? 1 : 0), m_end - i);
    const float* ai = a + i * lda;
    float* ci = c + i * ldc;
    const float* ri = residual ? residual + i * ldr : nullptr;
    // Only tiles of kMR and kMR - 1 rows (every tile of a long range) carry the prefetch, so the
    // prefetching variant is not instantiated for every row count.
    const bool want_prefetch = pf != nullptr && pf_floats != 0;
    bool prefetched = false;
    switch (r) {
#define EFFI_TILE(R)                                                                            \
  case R:                                                                                       \
    if constexpr (static_cast<size_t>(R) + 1 >= kMR) {                                          \
      if (want_prefetch) {                                                                      \
        Tile<R, kNV, kFull, true>(kc, ai, lda, bp, bs, ci, ldc, cols, first, last, bj, act, ri, \
                                  ldr, pf);                                                     \
        prefetched = true;                                                                      \
        break;                                                                                  \
      }                                                                                         \
    }                                                                                           \
    Tile<R, kNV, kFull>(kc, ai, lda, bp, bs, ci, ldc, cols, first, last, bj, act, ri, ldr);     \
    break;
      EFFI_TILE(1)
      EFFI_TILE(2)
      EFFI_TILE(3)
      EFFI_TILE(4)
#if HWY_TARGET != HWY_EMU128 && HWY_TARGET != HWY_SCALAR
      EFFI_TILE(5)
      EFFI_TILE(6)
#endif
#if HWY_TARGET != HWY_AVX2 && HWY_TARGET != HWY_SSE4 && HWY_TARGET != HWY_SSSE3 && \
    HWY_TARGET != HWY_EMU128 && HWY_TARGET != HWY_SCALAR
      EFFI_TILE(7)
      EFFI_TILE(8)
#endif
#undef EFFI_TILE
      default:
        break;
    }
    if (prefetched) {
      pf += pf_per_tile;
      pf_floats = pf_floats > pf_per_tile ? pf_floats - pf_per_tile : 0;
    }
    i += r;
  }
}

// The chunk holding column j (chunks before the tail are NR wide; the tail's double chunk may
// start one NR before j's NR-aligned column).
int64_t ChunkStart(int64_t n, int64_t j) {
  const int64_t nr = static_cast<int64_t>(NR());
  int64_t s = std::max<int64_t>(0, (j / nr - 1) * nr);
  for (;;) {
    const int64_t w = static_cast<int64_t>(ChunkWidth(n, s));
    if (j < s + w) return s;
    s += w;
  }
}

// C[m_begin, m_end) x [n_begin, n_end) of a GEMM whose packed B has n_total columns. n_begin and
// n_end may fall inside a chunk (2-D splits at any multiple of L): that chunk's part is a narrower
// tile reading B at the chunk's row stride.
void Gemm(int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end, int64_t n_total,
          const float* a, int64_t lda, const float* packed, int64_t k, float* c, int64_t ldc,
          const float* bias, int act_i, const float* residual, int64_t ldr) {
  const ref::Activation act = static_cast<ref::Activation>(act_i);
  const int64_t L = static_cast<int64_t>(hn::Lanes(DF()));
  // Loop order: K slices outermost (B slice reused across all rows of the range), then N chunks,
  // then MR row tiles; rows per call are bounded by the caller's M split (<= a few hundred), so the
  // A slice (rows x kKC) stays in L2.
  for (int64_t k0 = 0; k0 < k; k0 += kKC) {
    const size_t kc = static_cast<size_t>(std::min<int64_t>(kKC, k - k0));
    const bool first = k0 == 0, last = k0 + static_cast<int64_t>(kc) >= k;
    for (int64_t j0 = n_begin; j0 < n_end;) {
      const int64_t cs = ChunkStart(n_total, j0);
      const int64_t cw = static_cast<int64_t>(ChunkWidth(n_total, cs));
      const int64_t je = std::min(cs + cw, n_end);
      const float* bp = packed + cs * k + k0 * cw + (j0 - cs);
      const size_t cols = static_cast<size_t>(je - j0);
      const int64_t nv = (je - j0 + L - 1) / L;
      const float* bj = bias ? bias + j0 : nullptr;
      const float* rj = residual ? residual + j0 : nullptr;
      // Next B slice in loop order.
      const float* pf = nullptr;
      size_t pf_floats = 0;
      if (je < n_end) {
        const int64_t pwn = static_cast<int64_t>(ChunkWidth(n_total, je));
        pf = packed + je * k + k0 * pwn;
        pf_floats = kc * static_cast<size_t>(pwn);
      } else if (k0 + static_cast<int64_t>(kKC) < k) {
        const int64_t s0 = ChunkStart(n_total, n_begin);
        const int64_t pwn = static_cast<int64_t>(ChunkWidth(n_total, s0));
        pf = packed + s0 * k + (k0 + static_cast<int64_t>(kKC)) * pwn;
        pf_floats =
            static_cast<size_t>(std::min<int64_t>(kKC, k - k0 - static_cast<int64_t>(kKC)) * pwn);
      }
      const bool full = static_cast<int64_t>(cols) == nv * L;
#define EFFI_PANEL(NV, FULL)                                                                     \
  PanelRows<NV, FULL>(m_begin, m_end, kc, a + k0, lda, bp, static_cast<size_t>(cw), c + j0, ldc, \
                      cols, first, last, bj, act, rj, ldr, pf, pf_floats)
      if (kPanelVecs == 3 && nv == 3) {
        if (full) {
          EFFI_PANEL(3, true);
        } else {
          EFFI_PANEL(3, false);
        }
      } else if (nv >= 2) {
        if (full) {
          EFFI_PANEL(2, true);
        } else {
          EFFI_PANEL(2, false);
        }
      } else {
        EFFI_PANEL(1, false);
      }
#undef EFFI_PANEL
      j0 = je;
    }
  }
}

size_t Lanes() { return hn::Lanes(DF()); }

const char* KernelName() {
  static const std::string name = std::string("gemm_f32_") + std::to_string(kMR) + "x" +
                                  std::to_string(NR()) + "__" + hwy::TargetName(HWY_TARGET);
  return name.c_str();
}

// The GEMM epilogue on an existing [rows][cols] block: StoreAcc of a zero accumulator onto y, so
// the same masked / buffered column tail applies.
void Epilogue(int64_t rows, int64_t cols, const float* bias, int act_i, const float* residual,
              float* y) {
  const DF d;
  const ref::Activation act = static_cast<ref::Activation>(act_i);
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t r = 0; r < rows; ++r) {
    float* yr = y + r * cols;
    const float* rr = residual ? residual + r * cols : nullptr;
    for (int64_t j = 0; j < cols; j += L) {
      StoreAcc<false>(d, hn::Zero(d), yr + j, static_cast<size_t>(std::min(L, cols - j)),
                      /*first=*/false, /*last=*/true, bias ? bias + j : nullptr, act,
                      rr ? rr + j : nullptr);
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace effi::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace effi::kernels {

HWY_EXPORT(Lanes);
HWY_EXPORT(PackB);
HWY_EXPORT(PackedFloats);
HWY_EXPORT(Gemm);
HWY_EXPORT(KernelName);
HWY_EXPORT(Epilogue);

void AlignedFree::operator()(float* p) const { std::free(p); }

AlignedFloats AllocFloats(size_t n) {
  size_t bytes = std::max<size_t>(n, 1) * sizeof(float);
  void* p = util::AllocAligned(&bytes);
  if (!p) throw std::bad_alloc();
  return AlignedFloats(static_cast<float*>(p));
}

PackedB::PackedB(const float* b, int64_t k, int64_t n, int64_t ldb, bool trans_b) : k_(k), n_(n) {
  InitIsa();
  lanes_ = PackedBLanes();
  data_ = AllocFloats(static_cast<size_t>(HWY_DYNAMIC_DISPATCH(PackedFloats)(k, n)));
  HWY_DYNAMIC_DISPATCH(PackB)(b, k, n, ldb, trans_b, data_.get());
}

void GemmPacked(int64_t m_begin, int64_t m_end, const float* a, int64_t lda, const PackedB& b,
                float* c, int64_t ldc, const GemmEpilogue& ep) {
  GemmPacked(m_begin, m_end, 0, b.n(), a, lda, b, c, ldc, ep);
}

void GemmPacked(int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end, const float* a,
                int64_t lda, const PackedB& b, float* c, int64_t ldc, const GemmEpilogue& ep) {
  if (m_end <= m_begin || n_end <= n_begin) return;
  n_end = std::min(n_end, b.n());
  if (n_begin % b.lanes() != 0 || n_begin < 0 || n_end <= n_begin)
    std::abort();    // caller bug: see gemm.h
  if (b.k() == 0) {  // empty product: epilogue of zeros
    for (int64_t i = m_begin; i < m_end; ++i) {
      float* ci = c + i * ldc + n_begin;
      std::fill(ci, ci + (n_end - n_begin), 0.0f);
      ref::epilogue_f32(1, n_end - n_begin, ep.bias ? ep.bias + n_begin : nullptr, ep.act,
                        ep.residual ? ep.residual + i * ep.ldr + n_begin : nullptr, ci);
    }
    return;
  }
  HWY_DYNAMIC_DISPATCH(Gemm)
  (m_begin, m_end, n_begin, n_end, b.n(), a, lda, b.data(), b.k(), c, ldc, ep.bias,
   static_cast<int>(ep.act), ep.residual, ep.ldr);
}

int64_t PackedBLanes() {
  InitIsa();
  return static_cast<int64_t>(HWY_DYNAMIC_DISPATCH(Lanes)());
}

int64_t PackedBFloats(int64_t k, int64_t n) {
  InitIsa();
  return HWY_DYNAMIC_DISPATCH(PackedFloats)(k, n);
}

void PackBInto(const float* b, int64_t k, int64_t n, int64_t ldb, bool trans_b, float* packed) {
  InitIsa();
  HWY_DYNAMIC_DISPATCH(PackB)(b, k, n, ldb, trans_b, packed);
}

void GemmPackedRaw(int64_t m_begin, int64_t m_end, const float* a, int64_t lda, const float* packed,
                   int64_t k, int64_t n, float* c, int64_t ldc, const GemmEpilogue& ep) {
  if (m_end <= m_begin || n == 0 || k == 0) return;
  HWY_DYNAMIC_DISPATCH(Gemm)
  (m_begin, m_end, 0, n, n, a, lda, packed, k, c, ldc, ep.bias, static_cast<int>(ep.act),
   ep.residual, ep.ldr);
}

const char* GemmKernelName() {
  InitIsa();
  return HWY_DYNAMIC_DISPATCH(KernelName)();
}

void EpilogueF32(int64_t rows, int64_t cols, const float* bias, ref::Activation act,
                 const float* residual, float* y) {
  InitIsa();
  HWY_DYNAMIC_DISPATCH(Epilogue)(rows, cols, bias, static_cast<int>(act), residual, y);
}

}  // namespace effi::kernels
#endif  // HWY_ONCE
