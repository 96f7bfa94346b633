// Packed fp32 GEMM for 1x1 convolutions, linear layers and im2col'd 3x3 convolutions:
// C[m,n] = act(A[m,:] . B[:,n] + bias[n]) + residual[m,n]. B (weights) is packed once at load
// into column panels of NR (3 SIMD vectors on 32-register ISAs, 2 on AVX2); A is read in place
// (row-major activations). The register tile is MR x NR (AVX-512: 8 x 48, AVX2: 6 x 16, NEON:
// 8 x 12), K is blocked so a B panel slice stays in L1/L2.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>

#include "kernels/ref/ref_kernels.h"

namespace effi::kernels {

struct AlignedFree {
  void operator()(float* p) const;
};
using AlignedFloats = std::unique_ptr<float[], AlignedFree>;
AlignedFloats AllocFloats(size_t n);

class PackedB {
 public:
  // Packs B[k][n] (row stride ldb), or B^T when trans_b (B given as [n][k]) for the active ISA.
  PackedB(const float* b, int64_t k, int64_t n, int64_t ldb, bool trans_b = false);
  int64_t k() const { return k_; }
  int64_t n() const { return n_; }
  // Column units for 2-D splits (one SIMD vector each, the last one partial): unit p covers
  // [unit_begin(p), unit_begin(p + 1)).
  int64_t lanes() const { return lanes_; }
  int64_t units() const { return (n_ + lanes_ - 1) / lanes_; }
  int64_t unit_begin(int64_t p) const { return std::min(p * lanes_, n_); }
  const float* data() const { return data_.get(); }

 private:
  int64_t k_, n_, lanes_;
  AlignedFloats data_;  // column chunks [k][w], w = NR except at the end, zero padded
};

// NaN and +-inf propagate as in ref::gemm_f32 + ref::epilogue_f32 (ReLU keeps NaN) on every target.
struct GemmEpilogue {
  const float* bias = nullptr;  // [n]
  ref::Activation act = ref::Activation::kNone;
  const float* residual = nullptr;  // [m][ldr]
  int64_t ldr = 0;
};

// Rows [m_begin, m_end) of C. Threads split the M range; any split is valid.
void GemmPacked(int64_t m_begin, int64_t m_end, const float* a, int64_t lda, const PackedB& b,
                float* c, int64_t ldc, const GemmEpilogue& ep);
// Block [m_begin, m_end) x [n_begin, n_end) of C, for 2-D splits when M is small (a 7x7 stage has
// 49 rows: splitting N lets each thread stream only its half of the weights). n_begin must be a
// multiple of b.lanes() (a split inside a panel reads that panel's part as a narrower tile);
// n_end is clamped to b.n().
void GemmPacked(int64_t m_begin, int64_t m_end, int64_t n_begin, int64_t n_end, const float* a,
                int64_t lda, const PackedB& b, float* c, int64_t ldc, const GemmEpilogue& ep);

// Packing into caller-owned memory, for operands that change every run (attention's K and V).
// PackedBFloats(k, n) floats at 64-byte alignment are needed.
int64_t PackedBFloats(int64_t k, int64_t n);
// Width of the packed layout's column unit for the active ISA (one vector): PackedB::lanes().
int64_t PackedBLanes();
void PackBInto(const float* b, int64_t k, int64_t n, int64_t ldb, bool trans_b, float* packed);
void GemmPackedRaw(int64_t m_begin, int64_t m_end, const float* a, int64_t lda, const float* packed,
                   int64_t k, int64_t n, float* c, int64_t ldc, const GemmEpilogue& ep);

// Name of the compiled micro-kernel for the active ISA, e.g. "gemm_f32_8x48__AVX3".
const char* GemmKernelName();

// Vectorised epilogue on an [m][n] block (used by ops without a GEMM, e.g. depthwise conv).
void EpilogueF32(int64_t rows, int64_t cols, const float* bias, ref::Activation act,
                 const float* residual, float* y);

}  // namespace effi::kernels
