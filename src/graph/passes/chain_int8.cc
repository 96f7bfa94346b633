// Pass: an int8 effi.Conv / effi.Linear whose output feeds only int8 ops (as their input 0, with
// one shared x_scale / x_zero_point) writes that u8 tensor itself, quantized in its epilogue
// (out_scale / out_zero_point), and the consumers read it as is (x_u8). In EfficientFormer that is
// every MLP's fc1 -> GELU -> fc2: the hidden tensor (4x the block's width) crosses memory as
// bytes instead of floats, and fc2's quantizing pass over it goes away. Runs after fuse_epilogue,
// so a producer's activation and residual are already part of it.
#include <algorithm>

#include "graph/passes/pass_util.h"
#include "graph/passes/passes.h"

namespace effi::passes {

namespace {

bool IsInt8GemmOp(const Node& n) {
  return (n.IsEffi("Conv") || n.IsEffi("Linear")) && n.Has("x_scale") && n.Has("x_zero_point");
}

}  // namespace

int ChainInt8(Graph& g) {
  GraphIndex idx(g);
  int count = 0;
  for (Node& p : g.nodes) {
    if (p.dead || !IsInt8GemmOp(p) || p.Has("out_scale")) continue;
    const int y = p.outputs[0];
    const std::vector<int>& users = idx.Consumers(y);
    if (users.empty() || g.IsGraphOutput(y)) continue;
    bool ok = true;
    for (int u : users) {
      const Node& c = g.nodes[u];
      ok = ok && IsInt8GemmOp(c) && c.GetInt("x_u8", 0) == 0 && c.inputs[0] == y &&
           std::count(c.inputs.begin(), c.inputs.end(), y) == 1 &&
           c.GetFloat("x_scale", 0.0f) == g.nodes[users[0]].GetFloat("x_scale", 0.0f) &&
           c.GetInt("x_zero_point", 0) == g.nodes[users[0]].GetInt("x_zero_point", 0);
    }
    if (!ok) continue;
    p.attrs["out_scale"] = g.nodes[users[0]].attrs.at("x_scale");
    p.attrs["out_zero_point"] = g.nodes[users[0]].attrs.at("x_zero_point");
    for (int u : users) g.nodes[u].attrs["x_u8"] = int64_t{1};
    ++count;
  }
  return count;
}

}  // namespace effi::passes
