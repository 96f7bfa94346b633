// Pass: EfficientFormer's layer scale (a per-channel Mul right after a Conv or effi.Linear whose
// output has no other use) folds into that op's weights and bias.
#include "graph/passes/pass_util.h"
#include "graph/passes/passes.h"

namespace effi::passes {

int FoldLayerScale(Graph& g) {
  GraphIndex idx(g);
  int count = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& mul = g.nodes[i];
    if (mul.dead || !mul.Is("Mul")) continue;
    for (int side = 0; side < 2; ++side) {
      const int y = mul.inputs[side], s = mul.inputs[1 - side];
      Node* op = idx.Producer(y);
      if (!op || !idx.SingleUse(y) || !IsConst(g, s)) continue;
      const bool conv = op->Is("Conv"), linear = op->IsEffi("Linear");
      if (!(conv || linear) || !IsConst(g, op->inputs[1])) continue;
      if (linear && (op->GetInt("activation", 0) != 0 || op->HasInput(3))) continue;
      if (op->HasInput(2) && !IsConst(g, op->inputs[2])) continue;
      const Shape ys = g.values[y].shape;
      if (g.values[mul.outputs[0]].shape != ys) continue;  // the scale must not broadcast y up
      const int rank = static_cast<int>(ys.size());
      const int axis = conv ? 1 : rank - 1;
      const int64_t ch = ys[axis];
      auto scale = PerChannelConst(g, s, rank, axis, ch);
      if (!scale) continue;
      const TensorData& w = *g.values[op->inputs[1]].constant;
      const int w_axis = conv ? 0 : 1;  // the output channels' axis of OIHW / [K,N] weights
      ConstTensor folded;
      if (const Int8Source* i8 = w.int8_source();
          i8 && (i8->scale.size() == 1 || i8->axis == w_axis)) {
        // int8 weights stay int8: the layer scale goes into their per-channel scales.
        Int8Source src{i8->q, std::vector<float>(static_cast<size_t>(ch)), w_axis};
        for (int64_t c = 0; c < ch; ++c) src.scale[c] = i8->ScaleAt(c) * (*scale)[c];
        folded = TensorData::FromInt8(std::move(src));
      } else {
        auto nw = MakeTensor(DType::kF32, w.shape());
        const float* src = w.as<float>();
        float* dst = nw->mutable_as<float>();
        if (conv) {  // OIHW: scale rows
          const int64_t per = w.elements() / ch;
          for (int64_t o = 0; o < ch; ++o)
            for (int64_t j = 0; j < per; ++j) dst[o * per + j] = src[o * per + j] * (*scale)[o];
        } else {  // [K,N]: scale columns
          const int64_t k = w.shape()[0];
          for (int64_t r = 0; r < k; ++r)
            for (int64_t c = 0; c < ch; ++c) dst[r * ch + c] = src[r * ch + c] * (*scale)[c];
        }
        folded = nw;
      }
      op->inputs.resize(std::max<size_t>(op->inputs.size(), 3), -1);
      op->inputs[1] = AddConst(g, g.values[op->inputs[1]].name + "_ls", folded);
      if (op->inputs[2] >= 0) {
        const TensorData& b = *g.values[op->inputs[2]].constant;
        auto nb = MakeTensor(DType::kF32, b.shape());
        for (int64_t c = 0; c < ch; ++c)
          nb->mutable_as<float>()[c] = b.as<float>()[c] * (*scale)[c];
        op->inputs[2] = AddConst(g, g.values[op->inputs[2]].name + "_ls", nb);
      } else if (linear) {
        op->inputs.resize(2);
      } else {
        op->inputs.resize(2);
      }
      op->outputs[0] = mul.outputs[0];
      mul.dead = true;
      ++count;
      idx.Refresh();
      break;
    }
  }
  return count;
}

}  // namespace effi::passes
