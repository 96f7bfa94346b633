// Pass: QuantizeLinear -> DequantizeLinear pairs of a QDQ model (one per-tensor scale and zero
// point, equal on both sides) become one effi.FakeQuant: float in, float out, the same values.
// That is the form the fp32 passes see through (channels_last sinks transposes through it like
// any elementwise op) and the one fuse_int8 later moves into the int8 Conv / Linear that consumes
// it. The pair's u8 tensor never exists: an int8 op quantizes its float input itself. Runs first,
// on the graph as imported and folded (the weights' DequantizeLinear are constants by then).
#include <cmath>
#include <optional>

#include "graph/passes/pass_util.h"
#include "graph/passes/passes.h"

namespace effi::passes {
namespace {

// A per-tensor 8-bit parameter pair of a Q / DQ node: scale (input 1) and zero point (input 2,
// absent = 0 of uint8), both constant. The zero point is returned in u8 terms (int8 + 128: an
// int8 tensor with zero point z holds the same values as a u8 one with z + 128, and rounds and
// saturates the same way).
struct QParams {
  float scale;
  int32_t zero_point;
  DType type;
  bool operator==(const QParams&) const = default;
};

std::optional<QParams> ParamsOf(const Graph& g, const Node& n) {
  if (n.inputs.size() < 2) return std::nullopt;
  const auto scale = ScalarConst(g, n.inputs[1]);
  if (!scale) return std::nullopt;
  QParams p{*scale, 0, DType::kU8};
  if (n.HasInput(2)) {
    if (!IsConst(g, n.inputs[2])) return std::nullopt;
    const TensorData& zp = *g.values[n.inputs[2]].constant;
    if (zp.elements() != 1) return std::nullopt;
    p.type = zp.dtype();
    if (p.type == DType::kU8)
      p.zero_point = zp.as<uint8_t>()[0];
    else if (p.type == DType::kI8)
      p.zero_point = zp.as<int8_t>()[0] + 128;
    else
      return std::nullopt;
  }
  return p;
}

}  // namespace

int FuseQdq(Graph& g) {
  GraphIndex idx(g);
  int count = 0;
  for (Node& dq : g.nodes) {
    if (dq.dead || !dq.Is("DequantizeLinear") || dq.outputs.size() != 1) continue;
    const Node* q = idx.Producer(dq.inputs[0]);
    if (!q || !q->Is("QuantizeLinear")) continue;
    const auto pq = ParamsOf(g, *q), pdq = ParamsOf(g, dq);
    // Equal parameters include the zero point's type; Q must also have written that type (an
    // output_dtype attribute could say otherwise) from float data.
    if (!pq || !pdq || !(*pq == *pdq) || g.values[q->outputs[0]].dtype != pq->type ||
        g.values[q->inputs[0]].dtype != DType::kF32 ||
        !(std::isfinite(pq->scale) && pq->scale > 0.0f))
      continue;
    dq.domain = kEffiDomain;
    dq.op = "FakeQuant";
    dq.inputs = {q->inputs[0]};
    dq.attrs = {{"scale", pq->scale}, {"zero_point", int64_t{pq->zero_point}}};
    ++count;  // Q dies with its last DequantizeLinear (RemoveDeadNodes)
  }
  return count;
}

}  // namespace effi::passes
