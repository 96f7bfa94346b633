// Planner and executor. Memory plan: lifetimes from the topological order, alias ops (Reshape,
// Flatten, ...) share their input's buffer, then greedy best-offset placement by decreasing size
// (the classic TFLite "greedy by size" scheme, within a few % of optimal on CNNs).
#include "runtime/plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <numeric>

namespace effi::runtime {
namespace {

constexpr size_t kAlign = 64;
size_t AlignUp(size_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

}  // namespace

std::shared_ptr<const Plan> Plan::Build(Graph g) {
  auto plan = std::shared_ptr<Plan>(new Plan());
  const size_t nv = g.values.size();
  const int nn = static_cast<int>(g.nodes.size());
  plan->offset_.assign(nv, -1);

  // Alias roots: an alias op's output lives in its input's buffer.
  std::vector<int> root(nv);
  std::iota(root.begin(), root.end(), 0);
  plan->kernels_.resize(nn);
  // Constant uses still to be bound, and whether some consumer reads the constant at run time. A
  // constant that every consumer's kernel packed at creation (Kernel::prepacked_inputs) is
  // released right after the last of those kernels exists, keeping load's peak low.
  std::vector<int> uses(nv, 0);
  std::vector<char> keep(nv, 0);
  for (const Node& n : g.nodes)
    for (int in : n.inputs)
      if (in >= 0 && g.values[in].is_constant()) ++uses[in];
  for (int o : g.outputs) keep[o] = 1;
  for (int i = 0; i < nn; ++i) {
    const Node& n = g.nodes[i];
    const ops::OpSchema& s = ops::CheckNode(n);
    if (s.alias && !g.values[n.inputs[0]].is_constant()) {
      root[n.outputs[0]] = root[n.inputs[0]];
      for (int in : n.inputs)
        if (in >= 0) keep[in] = 1;
    } else {
      plan->kernels_[i] = s.create(n, g);
      const std::vector<int>& prepacked = plan->kernels_[i]->prepacked_inputs();
      for (size_t j = 0; j < n.inputs.size(); ++j) {
        const int in = n.inputs[j];
        if (in < 0 || !g.values[in].is_constant()) continue;
        if (std::find(prepacked.begin(), prepacked.end(), static_cast<int>(j)) == prepacked.end())
          keep[in] = 1;
        if (--uses[in] == 0 && !keep[in])
          g.values[in].constant = DataReleased(g.values[in].constant);
      }
    }
  }
  // Lifetimes of roots in step units: graph inputs live from -1; outputs to the end.
  std::vector<int> first(nv, INT32_MAX), last(nv, -2);
  for (int v : g.inputs) first[root[v]] = -1, last[root[v]] = std::max(last[root[v]], -1);
  for (int i = 0; i < nn; ++i) {
    const Node& n = g.nodes[i];
    for (int in : n.inputs)
      if (in >= 0 && !g.values[in].is_constant()) last[root[in]] = std::max(last[root[in]], i);
    for (int o : n.outputs)
      if (o >= 0) {
        first[root[o]] = std::min(first[root[o]], i);
        last[root[o]] = std::max(last[root[o]], i);
      }
  }
  for (int o : g.outputs)
    if (!g.values[o].is_constant()) last[root[o]] = nn;
  // A root's size is the largest view of it (all views have the same bytes, but be safe).
  std::vector<size_t> size(nv, 0);
  for (size_t v = 0; v < nv; ++v) {
    const Value& val = g.values[v];
    if (val.is_constant() || !val.has_shape || first[root[v]] == INT32_MAX) continue;
    size[root[v]] = std::max(
        size[root[v]], AlignUp(static_cast<size_t>(NumElements(val.shape)) * DTypeSize(val.dtype)));
  }
  std::vector<int> order;
  for (size_t v = 0; v < nv; ++v)
    if (root[v] == static_cast<int>(v) && first[v] != INT32_MAX && !g.values[v].is_constant())
      order.push_back(static_cast<int>(v));
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return size[a] > size[b]; });
  struct Placed {
    size_t off, size;
    int first, last;
  };
  std::vector<Placed> placed;
  for (int v : order) {
    std::vector<std::pair<size_t, size_t>> busy;
    for (const Placed& p : placed)
      if (!(p.last < first[v] || last[v] < p.first)) busy.push_back({p.off, p.off + p.size});
    std::sort(busy.begin(), busy.end());
    size_t best = 0;
    size_t cursor = 0;
    bool found = false;
    size_t best_gap = SIZE_MAX;
    for (const auto& [b, e] : busy) {
      if (b >= cursor && b - cursor >= size[v] && b - cursor < best_gap) {
        best = cursor;
        best_gap = b - cursor;
        found = true;
      }
      cursor = std::max(cursor, e);
    }
    if (!found) best = cursor;
    placed.push_back({best, size[v], first[v], last[v]});
    plan->offset_[v] = static_cast<int64_t>(best);
    plan->arena_bytes_ = std::max(plan->arena_bytes_, best + size[v]);
  }
  for (size_t v = 0; v < nv; ++v)
    if (!g.values[v].is_constant() && plan->offset_[root[v]] >= 0)
      plan->offset_[v] = plan->offset_[root[v]];
  plan->input_slot_.assign(nv, -1);
  for (size_t v = 0; v < nv; ++v)
    for (size_t i = 0; i < g.inputs.size(); ++i)
      if (root[v] == root[g.inputs[i]] && !g.values[v].is_constant())
        plan->input_slot_[v] = static_cast<int>(i);
  plan->graph_ = std::move(g);
  return plan;
}

size_t Plan::scratch_bytes(int threads) const {
  size_t s = 0;
  for (const auto& k : kernels_)
    if (k) s = std::max(s, AlignUp(k->ScratchBytes(threads)));
  return s;
}

const void* Plan::ValuePtr(const uint8_t* arena, int v, const void* const* inputs) const {
  const Value& val = graph_.values[v];
  if (val.is_constant()) return val.constant->data();
  if (inputs && input_slot_[v] >= 0 && inputs[input_slot_[v]]) return inputs[input_slot_[v]];
  return offset_[v] >= 0 ? arena + offset_[v] : nullptr;
}

void Plan::Execute(const ops::ExecContext& ctx, uint8_t* arena, uint8_t* scratch,
                   std::vector<double>* node_ms, const void* const* inputs) const {
  if (node_ms) node_ms->resize(graph_.nodes.size(), 0.0);
  std::vector<const void*> in;
  std::vector<void*> out;
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    if (!kernels_[i]) continue;
    const Node& n = graph_.nodes[i];
    // Padded with nulls so kernels may probe optional inputs past the node's arity.
    in.assign(std::max<size_t>(n.inputs.size(), 8), nullptr);
    out.assign(std::max<size_t>(n.outputs.size(), 8), nullptr);
    for (size_t j = 0; j < n.inputs.size(); ++j)
      if (n.inputs[j] >= 0) in[j] = ValuePtr(arena, n.inputs[j], inputs);
    for (size_t j = 0; j < n.outputs.size(); ++j)
      if (n.outputs[j] >= 0) out[j] = const_cast<void*>(ValuePtr(arena, n.outputs[j]));
    if (node_ms) {
      const auto t0 = std::chrono::steady_clock::now();
      kernels_[i]->Run(ctx, in.data(), out.data(), scratch);
      (*node_ms)[i] +=
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    } else {
      kernels_[i]->Run(ctx, in.data(), out.data(), scratch);
    }
  }
}

std::shared_ptr<const Plan> Compile(Graph g, const std::map<std::string, Shape>& input_shapes,
                                    const passes::PassOptions& opts, passes::PassReport* report) {
  passes::BindInputShapes(g, input_shapes);
  passes::PassReport r = passes::Optimize(g, opts);
  if (report) *report = r;
  return Plan::Build(std::move(g));
}

}  // namespace effi::runtime
