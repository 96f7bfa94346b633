// Mandatory pass: bind input shapes, infer every value's shape, and fold constant subgraphs by
// running their kernels once at compile time (the same kernels the executor uses).
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "graph/passes/passes.h"
#include "ops/op.h"

namespace effi::passes {

void BindInputShapes(Graph& g, const std::map<std::string, Shape>& shapes) {
  for (const auto& [name, shape] : shapes) {
    int id = g.FindValue(name);
    if (id < 0 || std::find(g.inputs.begin(), g.inputs.end(), id) == g.inputs.end())
      throw Error(ErrorCode::kInvalidArgument, fmt::format("model has no input named '{}'", name));
  }
  for (int id : g.inputs) {
    Value& v = g.values[id];
    auto it = shapes.find(v.name);
    if (it != shapes.end()) {
      const Shape& s = it->second;
      if (v.has_shape && v.shape.size() != s.size())
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("input '{}' must have rank {} (shape {}), got {}", v.name,
                                v.shape.size(), ShapeStr(v.shape), ShapeStr(s)));
      for (size_t i = 0; v.has_shape && i < s.size(); ++i)
        if (v.shape[i] >= 0 && v.shape[i] != s[i])
          throw Error(ErrorCode::kInvalidArgument,
                      fmt::format("input '{}' must have shape {}, got {}", v.name,
                                  ShapeStr(v.shape), ShapeStr(s)));
      NumElements(s, fmt::format("input '{}'", v.name).c_str());
      v.shape = s;
    } else {
      if (!v.has_shape)
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("input '{}' has no declared shape; give one", v.name));
      for (int64_t& d : v.shape)
        if (d < 0) d = 1;  // symbolic dims (batch) default to 1
    }
    v.has_shape = true;
  }
}

namespace {

constexpr int64_t kMaxFoldElements = int64_t{1} << 26;  // folding bigger results would bloat memory

bool Evaluate(Graph& g, const Node& n, const ops::OpSchema& s) {
  for (int o : n.outputs)
    if (o >= 0 && NumElements(g.values[o].shape) > kMaxFoldElements) return false;
  std::vector<const void*> in(std::max<size_t>(n.inputs.size(), 8), nullptr);
  for (size_t i = 0; i < n.inputs.size(); ++i)
    if (n.inputs[i] >= 0 && g.values[n.inputs[i]].constant)
      in[i] = g.values[n.inputs[i]].constant->data();
  std::vector<std::shared_ptr<TensorData>> outs;
  std::vector<void*> out_ptrs;
  out_ptrs.reserve(std::max<size_t>(n.outputs.size(), 8));
  for (int o : n.outputs) {
    if (o < 0) {
      out_ptrs.push_back(nullptr);
      continue;
    }
    auto t = MakeTensor(g.values[o].dtype, g.values[o].shape);
    out_ptrs.push_back(t->mutable_data());
    outs.push_back(t);
  }
  if (s.alias) {
    // Same bytes, new shape.
    std::memcpy(out_ptrs[0], in[0], outs[0]->bytes());
  } else {
    auto k = s.create(n, g);
    std::vector<uint8_t> scratch(k->ScratchBytes(1) + 64);
    out_ptrs.resize(std::max<size_t>(out_ptrs.size(), 8), nullptr);
    ops::ExecContext ctx;
    k->Run(ctx, in.data(), out_ptrs.data(), scratch.data());
  }
  size_t j = 0;
  for (int o : n.outputs)
    if (o >= 0) g.values[o].constant = outs[j++];
  return true;
}

}  // namespace

void InferShapesAndFold(Graph& g) {
  for (Node& n : g.nodes) {
    if (n.dead) continue;
    const ops::OpSchema& s = ops::CheckNode(n);
    for (int in : n.inputs)
      if (in >= 0 && !g.values[in].has_shape)
        throw Error(ErrorCode::kInternal,
                    fmt::format("{}: input '{}' has no shape", n.Describe(), g.values[in].name));
    s.infer(n, g);
    bool all_const = s.foldable;
    for (int in : n.inputs)
      if (in >= 0 && !g.values[in].is_constant()) all_const = false;
    // Shape needs only the input's shape, never its data.
    if (n.Is("Shape") || n.Is("Size")) all_const = true;
    if (all_const && Evaluate(g, n, s)) n.dead = true;
  }
  // Identity (and inference-mode Dropout) only renames a value: rewire its users to the input.
  for (Node& n : g.nodes) {
    if (n.dead || !(n.Is("Identity") || n.Is("Dropout")) || n.outputs.size() != 1) continue;
    const int in = n.inputs[0], out = n.outputs[0];
    if (g.IsGraphOutput(out) || g.IsGraphOutput(in)) continue;
    g.ReplaceAllUses(out, in);
    n.dead = true;
  }
  g.RemoveDeadNodes();
}

}  // namespace effi::passes
