// Pass: an effi.Conv / effi.Linear whose input is an effi.FakeQuant (a QDQ pair, fuse_qdq) and
// whose constant weights lie on an int8 grid (ops::Int8GridOf: a QDQ model's DequantizeLinear'd
// weights, BatchNorm and layer scales folded or not) runs on the int8 GEMM:
// the FakeQuant's scale and zero point become the op's x_scale / x_zero_point and the op reads
// the float tensor before it, quantizing it itself (ops::CreateInt8Gemm). The result is what the
// QDQ graph computes, up to float rounding: the same u8 activations times the same int8 weights.
// Left in float, FakeQuant and all: grouped convolutions, the NCHW-input stem convolution over
// RGB (its fp32 direct kernel takes 0.2 ms on L1; quantizing its planes to NHWC u8 and im2col +
// int8 GEMM took 0.47 ms: 27-byte rows of 3-byte taps and 24 of a 48-wide panel's columns; whole
// L1 at 1 thread 3 % slower, alternating pinned runs), weights off the grid (two classifier heads
// merged into one), and K beyond what int32 holds exactly.
#include "graph/passes/pass_util.h"
#include "graph/passes/passes.h"
#include "kernels/qgemm.h"
#include "kernels/quant.h"
#include "ops/op.h"

namespace effi::passes {

int FuseInt8(Graph& g) {
  GraphIndex idx(g);
  int count = 0;
  for (Node& n : g.nodes) {
    const bool linear = n.IsEffi("Linear"), conv = n.IsEffi("Conv");
    if (n.dead || !(linear || conv) || n.Has("x_scale") || !IsConst(g, n.inputs[1])) continue;
    if (conv && (n.GetInt("group", 1) != 1 || n.GetInt("nchw_input", 0) != 0)) continue;
    // The FakeQuant may sit before a Transpose or Reshape (the NHWC transpose of an NCHW graph
    // input before a first conv that is not the RGB stem; the NCHW transpose channels_last leaves
    // before a MatMul): elementwise, it commutes with them, and the moved op then reads its input.
    Node* t = idx.Producer(n.inputs[0]);
    if (!(t && (t->Is("Transpose") || t->Is("Reshape")) && idx.SingleUse(n.inputs[0]))) t = nullptr;
    const Node* fq = idx.Producer(t ? t->inputs[0] : n.inputs[0]);
    if (!fq || !fq->IsEffi("FakeQuant")) continue;
    const TensorData& w = *g.values[n.inputs[1]].constant;
    if (w.dtype() != DType::kF32 || w.shape().empty()) continue;
    // Linear W [K, N] has a channel per column; OHWI conv weights one per row of K = kh*kw*Cin.
    const int64_t channels = linear ? w.shape().back() : w.shape()[0];
    if (w.elements() / std::max<int64_t>(channels, 1) > kernels::kMaxExactIntegerK) continue;
    if (!ops::Int8GridOf(w, linear)) continue;
    n.attrs["x_scale"] = fq->GetFloat("scale", 0.0f);
    n.attrs["x_zero_point"] = fq->GetInt("zero_point", 0);
    (t ? t->inputs[0] : n.inputs[0]) = fq->inputs[0];
    ++count;  // the FakeQuant dies with its last consumer (RemoveDeadNodes)
  }
  return count;
}

}  // namespace effi::passes
