// Pass helpers: constant inspection and node builders.
#include "graph/passes/pass_util.h"

namespace effi::passes {

std::optional<float> ScalarConst(const Graph& g, int v) {
  if (!IsConst(g, v)) return std::nullopt;
  const TensorData& t = *g.values[v].constant;
  if (t.elements() != 1 || (t.dtype() != DType::kF32)) return std::nullopt;
  return t.as<float>()[0];
}

std::optional<std::vector<float>> PerChannelConst(const Graph& g, int v, int rank, int axis,
                                                  int64_t channels) {
  if (!IsConst(g, v)) return std::nullopt;
  const TensorData& t = *g.values[v].constant;
  if (t.dtype() != DType::kF32) return std::nullopt;
  const Shape& s = t.shape();
  if (static_cast<int>(s.size()) > rank) return std::nullopt;
  const int lead = rank - static_cast<int>(s.size());
  int64_t along = 1;
  for (int d = 0; d < static_cast<int>(s.size()); ++d) {
    if (d + lead == axis)
      along = s[d];
    else if (s[d] != 1)
      return std::nullopt;
  }
  if (along != 1 && along != channels) return std::nullopt;
  std::vector<float> out(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) out[c] = t.as<float>()[along == 1 ? 0 : c];
  return out;
}

int AddConst(Graph& g, const std::string& base, ConstTensor t) {
  return g.AddConstant(g.UniqueName(base), std::move(t));
}

int AddNode1(Graph& g, const std::string& base, const std::string& domain, const std::string& op,
             std::vector<int> inputs, std::map<std::string, AttrValue> attrs) {
  int out = g.AddValue(g.UniqueName(base));
  Node n;
  n.name = g.values[out].name;
  n.domain = domain;
  n.op = op;
  n.inputs = std::move(inputs);
  n.outputs = {out};
  n.attrs = std::move(attrs);
  g.AddNode(std::move(n));
  return out;
}

void AddTransposeTo(Graph& g, const std::string& name, int in, int out, std::vector<int64_t> perm) {
  Node t;
  t.name = name;
  t.op = "Transpose";
  t.inputs = {in};
  t.outputs = {out};
  t.attrs = {{"perm", std::move(perm)}};
  g.AddNode(std::move(t));
}

}  // namespace effi::passes
