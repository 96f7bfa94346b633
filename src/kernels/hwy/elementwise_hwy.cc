// Highway fp32 elementwise kernels (unary math, broadcast binary ops), compiled once per target by
// foreach_target and dispatched at run time. Memory-bound: one load/store stream per operand.
#include <cstring>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/hwy/elementwise_hwy.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/elementwise.h"
#include "kernels/hwy/vec_math-inl.h"
#include "kernels/isa.h"

HWY_BEFORE_NAMESPACE();
namespace effi::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// ---- unary ----
// Functors rather than lambdas so that every body is compiled with the target's attributes.
struct ReluOp {
  // Select instead of Max: x86 max returns the second operand for NaN, the reference keeps NaN.
  HWY_INLINE VF operator()(DF d, VF v) const {
    return hn::IfThenZeroElse(hn::Lt(v, hn::Zero(d)), v);
  }
};
struct NegOp {
  HWY_INLINE VF operator()(DF, VF v) const { return hn::Neg(v); }
};
struct AbsOp {
  HWY_INLINE VF operator()(DF, VF v) const { return hn::Abs(v); }
};
struct SqrtOp {
  HWY_INLINE VF operator()(DF, VF v) const { return hn::Sqrt(v); }
};
struct ReciprocalOp {
  HWY_INLINE VF operator()(DF d, VF v) const { return hn::Div(hn::Set(d, 1.0f), v); }
};
struct FloorOp {
  HWY_INLINE VF operator()(DF, VF v) const { return hn::Floor(v); }
};
struct CeilOp {
  HWY_INLINE VF operator()(DF, VF v) const { return hn::Ceil(v); }
};
// contrib Exp is valid on [-FLT_MAX, 104]: clamp above (exp(100) already overflows to inf) and
// restore NaN, which the clamp would turn into 100.
HWY_INLINE VF ExpClamped(DF d, VF v) { return hn::Exp(d, hn::Min(v, hn::Set(d, 100.0f))); }
struct ExpOp {
  HWY_INLINE VF operator()(DF d, VF v) const {
    return hn::IfThenElse(hn::IsNaN(v), v, ExpClamped(d, v));
  }
};
struct SigmoidOp {
  // 1 / (1 + exp(-x)): exp(-x) overflows to inf for x < -88 and 1 / inf = 0, so no split is needed.
  HWY_INLINE VF operator()(DF d, VF v) const {
    const VF one = hn::Set(d, 1.0f);
    const VF r = hn::Div(one, hn::Add(one, ExpClamped(d, hn::Neg(v))));
    return hn::IfThenElse(hn::IsNaN(v), v, r);
  }
};
struct TanhOp {
  HWY_INLINE VF operator()(DF d, VF v) const { return hn::Tanh(d, v); }
};
struct ErfOp {
  HWY_INLINE VF operator()(DF d, VF v) const { return Erf(d, v); }
};
struct GeluOp {
  HWY_INLINE VF operator()(DF d, VF v) const { return Gelu(d, v); }
};

template <class Op>
HWY_NOINLINE void MapUnary(Op op, const float* HWY_RESTRICT x, float* y, int64_t n) {
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  // 2x unrolled: enough independent work to hide the latency of the exp/erf polynomials.
  for (; i + 2 * L <= n; i += 2 * L) {
    const VF v0 = hn::LoadU(d, x + i);
    const VF v1 = hn::LoadU(d, x + i + L);
    hn::StoreU(op(d, v0), d, y + i);
    hn::StoreU(op(d, v1), d, y + i + L);
  }
  for (; i + L <= n; i += L) hn::StoreU(op(d, hn::LoadU(d, x + i)), d, y + i);
  if (i < n) {
    // Tail through a buffer: nothing past n is read or written.
    HWY_ALIGN float t[HWY_LANES(float)] = {};
    const size_t rem = static_cast<size_t>(n - i);
    std::memcpy(t, x + i, rem * sizeof(float));
    hn::Store(op(d, hn::Load(d, t)), d, t);
    std::memcpy(y + i, t, rem * sizeof(float));
  }
}

void Unary(int op, const float* x, float* y, int64_t n) {
  switch (static_cast<ref::UnaryOp>(op)) {
    case ref::UnaryOp::kRelu:
      return MapUnary(ReluOp(), x, y, n);
    case ref::UnaryOp::kNeg:
      return MapUnary(NegOp(), x, y, n);
    case ref::UnaryOp::kAbs:
      return MapUnary(AbsOp(), x, y, n);
    case ref::UnaryOp::kSqrt:
      return MapUnary(SqrtOp(), x, y, n);
    case ref::UnaryOp::kExp:
      return MapUnary(ExpOp(), x, y, n);
    case ref::UnaryOp::kErf:
      return MapUnary(ErfOp(), x, y, n);
    case ref::UnaryOp::kGelu:
      return MapUnary(GeluOp(), x, y, n);
    case ref::UnaryOp::kSigmoid:
      return MapUnary(SigmoidOp(), x, y, n);
    case ref::UnaryOp::kTanh:
      return MapUnary(TanhOp(), x, y, n);
    case ref::UnaryOp::kReciprocal:
      return MapUnary(ReciprocalOp(), x, y, n);
    case ref::UnaryOp::kFloor:
      return MapUnary(FloorOp(), x, y, n);
    case ref::UnaryOp::kCeil:
      return MapUnary(CeilOp(), x, y, n);
    case ref::UnaryOp::kIdentity:
      if (x != y) std::memmove(y, x, static_cast<size_t>(n) * sizeof(float));
      return;
    case ref::UnaryOp::kLog:
      break;  // not vectorised; HasUnaryF32 says so
  }
}

// ---- binary ----
struct AddOp {
  HWY_INLINE VF operator()(VF a, VF b) const { return hn::Add(a, b); }
};
struct SubOp {
  HWY_INLINE VF operator()(VF a, VF b) const { return hn::Sub(a, b); }
};
struct MulOp {
  HWY_INLINE VF operator()(VF a, VF b) const { return hn::Mul(a, b); }
};
struct DivOp {
  HWY_INLINE VF operator()(VF a, VF b) const { return hn::Div(a, b); }
};
// numpy.maximum / minimum: a NaN operand wins (a first), which x86 max/min do not guarantee.
struct MaxOp {
  HWY_INLINE VF operator()(VF a, VF b) const {
    const VF r = hn::IfThenElse(hn::IsNaN(b), b, hn::Max(a, b));
    return hn::IfThenElse(hn::IsNaN(a), a, r);
  }
};
struct MinOp {
  HWY_INLINE VF operator()(VF a, VF b) const {
    const VF r = hn::IfThenElse(hn::IsNaN(b), b, hn::Min(a, b));
    return hn::IfThenElse(hn::IsNaN(a), a, r);
  }
};

// One output row. kA / kB: the operand is contiguous along the row (else one value per row,
// splatted).
template <bool kA, bool kB, class Op>
HWY_INLINE void BinaryRow(Op op, const float* a, const float* b, float* y, int64_t cols) {
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const VF sa = kA ? hn::Zero(d) : hn::Set(d, a[0]);
  const VF sb = kB ? hn::Zero(d) : hn::Set(d, b[0]);
  int64_t j = 0;
  for (; j + 2 * L <= cols; j += 2 * L) {
    const VF a0 = kA ? hn::LoadU(d, a + j) : sa, a1 = kA ? hn::LoadU(d, a + j + L) : sa;
    const VF b0 = kB ? hn::LoadU(d, b + j) : sb, b1 = kB ? hn::LoadU(d, b + j + L) : sb;
    hn::StoreU(op(a0, b0), d, y + j);
    hn::StoreU(op(a1, b1), d, y + j + L);
  }
  for (; j + L <= cols; j += L) {
    hn::StoreU(op(kA ? hn::LoadU(d, a + j) : sa, kB ? hn::LoadU(d, b + j) : sb), d, y + j);
  }
  if (j < cols) {
    HWY_ALIGN float ta[HWY_LANES(float)] = {};
    HWY_ALIGN float tb[HWY_LANES(float)] = {};
    const size_t rem = static_cast<size_t>(cols - j);
    if (kA) std::memcpy(ta, a + j, rem * sizeof(float));
    if (kB) std::memcpy(tb, b + j, rem * sizeof(float));
    hn::Store(op(kA ? hn::Load(d, ta) : sa, kB ? hn::Load(d, tb) : sb), d, ta);
    std::memcpy(y + j, ta, rem * sizeof(float));
  }
}

template <class Op>
HWY_NOINLINE void BinaryRows(Op op, int64_t rows, int64_t cols, const float* a, int64_t a_rs,
                             int64_t a_cs, const float* b, int64_t b_rs, int64_t b_cs, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* ar = a + r * a_rs;
    const float* br = b + r * b_rs;
    float* yr = y + r * cols;
    if (a_cs && b_cs)
      BinaryRow<true, true>(op, ar, br, yr, cols);
    else if (a_cs)
      BinaryRow<true, false>(op, ar, br, yr, cols);
    else if (b_cs)
      BinaryRow<false, true>(op, ar, br, yr, cols);
    else
      BinaryRow<false, false>(op, ar, br, yr, cols);
  }
}

void Binary(int op, int64_t rows, int64_t cols, const float* a, int64_t a_rs, int64_t a_cs,
            const float* b, int64_t b_rs, int64_t b_cs, float* y) {
  switch (static_cast<ref::BinaryOp>(op)) {
    case ref::BinaryOp::kAdd:
      return BinaryRows(AddOp(), rows, cols, a, a_rs, a_cs, b, b_rs, b_cs, y);
    case ref::BinaryOp::kSub:
      return BinaryRows(SubOp(), rows, cols, a, a_rs, a_cs, b, b_rs, b_cs, y);
    case ref::BinaryOp::kMul:
      return BinaryRows(MulOp(), rows, cols, a, a_rs, a_cs, b, b_rs, b_cs, y);
    case ref::BinaryOp::kDiv:
      return BinaryRows(DivOp(), rows, cols, a, a_rs, a_cs, b, b_rs, b_cs, y);
    case ref::BinaryOp::kMax:
      return BinaryRows(MaxOp(), rows, cols, a, a_rs, a_cs, b, b_rs, b_cs, y);
    case ref::BinaryOp::kMin:
      return BinaryRows(MinOp(), rows, cols, a, a_rs, a_cs, b, b_rs, b_cs, y);
    case ref::BinaryOp::kPow:
      break;  // not vectorised; HasBinaryF32 says so
  }
}

// ---- head mixing ----
void HeadMix(int64_t heads, int64_t n, const float* w, const float* bias, const float* x,
             int64_t x_stride, const float* add, int64_t add_stride, float* y, int64_t y_stride) {
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t g = 0; g < heads; ++g) {
    const float b = bias ? bias[g] : 0.0f;
    const float* wg = w + g * heads;
    const float* ag = add ? add + g * add_stride : nullptr;
    float* yg = y + g * y_stride;
    int64_t i = 0;
    // Rows of x are re-read per output row g: heads x n floats, L1/L2-resident for V2's 8 x
    // (16 rows x 49..196) blocks.
    for (; i + L <= n; i += L) {
      VF acc = hn::Set(d, b);
      if (ag) acc = hn::Add(acc, hn::LoadU(d, ag + i));
      for (int64_t h = 0; h < heads; ++h)
        acc = hn::MulAdd(hn::Set(d, wg[h]), hn::LoadU(d, x + h * x_stride + i), acc);
      hn::StoreU(acc, d, yg + i);
    }
    for (; i < n; ++i) {
      float acc = b + (ag ? ag[i] : 0.0f);
      for (int64_t h = 0; h < heads; ++h) acc += wg[h] * x[h * x_stride + i];
      yg[i] = acc;
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace effi::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace effi::kernels {

HWY_EXPORT(Unary);
HWY_EXPORT(Binary);
HWY_EXPORT(HeadMix);

bool HasUnaryF32(ref::UnaryOp op) { return op != ref::UnaryOp::kLog; }

void UnaryF32(ref::UnaryOp op, const float* x, float* y, int64_t n) {
  if (n <= 0) return;
  if (!HasUnaryF32(op)) return ref::unary_f32(op, x, y, n);
  InitIsa();
  HWY_DYNAMIC_DISPATCH(Unary)(static_cast<int>(op), x, y, n);
}

bool HasBinaryF32(ref::BinaryOp op) { return op != ref::BinaryOp::kPow; }

void BinaryF32(ref::BinaryOp op, int64_t rows, int64_t cols, const float* a, int64_t a_rs,
               int64_t a_cs, const float* b, int64_t b_rs, int64_t b_cs, float* y) {
  if (rows <= 0 || cols <= 0) return;
  InitIsa();
  HWY_DYNAMIC_DISPATCH(Binary)(static_cast<int>(op), rows, cols, a, a_rs, a_cs, b, b_rs, b_cs, y);
}

bool PlanBinary(int rank, const int64_t* out_shape, const int64_t* a_strides,
                const int64_t* b_strides, BinaryPlan* plan) {
  // Dims of size 1 carry nothing; then, innermost first, an outer dim folds into the current one
  // when both operands continue it (stride_outer == stride_inner * size_inner, which also covers
  // two broadcast dims: 0 == 0 * size).
  struct Dim {
    int64_t size, sa, sb;
  };
  std::vector<Dim> dims;  // innermost first
  for (int d = rank - 1; d >= 0; --d) {
    if (out_shape[d] == 1) continue;
    const Dim cur{out_shape[d], a_strides[d], b_strides[d]};
    if (!dims.empty()) {
      Dim& in = dims.back();
      if (cur.sa == in.sa * in.size && cur.sb == in.sb * in.size) {
        in.size *= cur.size;
        continue;
      }
    }
    dims.push_back(cur);
  }
  if (dims.size() > 3) return false;
  dims.resize(3, Dim{1, 0, 0});
  if ((dims[0].sa != 0 && dims[0].sa != 1) || (dims[0].sb != 0 && dims[0].sb != 1)) return false;
  *plan = BinaryPlan{dims[2].size, dims[1].size, dims[0].size, dims[2].sa, dims[1].sa,
                     dims[0].sa,   dims[2].sb,   dims[1].sb,   dims[0].sb};
  return true;
}

void HeadMixF32(int64_t heads, int64_t n, const float* w, const float* bias, const float* x,
                int64_t x_stride, const float* add, int64_t add_stride, float* y,
                int64_t y_stride) {
  HWY_DYNAMIC_DISPATCH(HeadMix)(heads, n, w, bias, x, x_stride, add, add_stride, y, y_stride);
}

}  // namespace effi::kernels
#endif  // HWY_ONCE
