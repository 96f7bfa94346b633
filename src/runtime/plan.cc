// Planner and executor. Memory plan: lifetimes from the topological order, alias ops (Reshape,
// Flatten, ...) share their input's buffer, then greedy best-offset placement by decreasing size
// (the classic TFLite "greedy by size" scheme, within a few % of optimal on CNNs).
#include "runtime/plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <numeric>

namespace effi::runtime {
namespace {

constexpr size_t kAlign = 64;
size_t AlignUp(size_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

}  // namespace

std::shared_ptr<const Plan> Plan::Build(Graph g, int64_t memory_limit, int64_t file_bytes) {
  auto plan = std::shared_ptr<Plan>(new Plan());
  const size_t nv = g.values.size();
  const int nn = static_cast<int>(g.nodes.size());
  plan->offset_.assign(nv, -1);
  plan->memory_limit_ = memory_limit;

  // Alias roots: an alias op's output lives in its input's buffer. The memory plan needs no
  // kernel, so it is checked against the limit before any kernel packs (copies) a weight.
  std::vector<int> root(nv);
  std::iota(root.begin(), root.end(), 0);
  std::vector<char> is_alias(nn, 0);
  // Constant bytes read by kernels, per use: an upper bound on what kernels copy at creation.
  int64_t constant_uses = 0, largest_use = 0;
  std::string largest_use_what;
  for (int i = 0; i < nn; ++i) {
    const Node& n = g.nodes[i];
    const ops::OpSchema& s = ops::CheckNode(n);
    if (s.alias && !g.values[n.inputs[0]].is_constant()) {
      root[n.outputs[0]] = root[n.inputs[0]];
      is_alias[i] = 1;
      continue;
    }
    for (int in : n.inputs) {
      if (in < 0 || !g.values[in].is_constant() || !g.values[in].constant->has_data()) continue;
      const int64_t b = static_cast<int64_t>(g.values[in].constant->bytes());
      constant_uses += b;
      if (b > largest_use) {
        largest_use = b;
        largest_use_what = fmt::format("'{}' of {}", g.values[in].name, n.Describe());
      }
    }
  }
  // Lifetimes of roots in step units: graph inputs live from -1; outputs to the end.
  std::vector<int> first(nv, INT32_MAX), last(nv, -2), producer(nv, -1);
  for (int v : g.inputs) first[root[v]] = -1, last[root[v]] = std::max(last[root[v]], -1);
  for (int i = 0; i < nn; ++i) {
    const Node& n = g.nodes[i];
    for (int in : n.inputs)
      if (in >= 0 && !g.values[in].is_constant()) last[root[in]] = std::max(last[root[in]], i);
    for (int o : n.outputs)
      if (o >= 0) {
        first[root[o]] = std::min(first[root[o]], i);
        last[root[o]] = std::max(last[root[o]], i);
        producer[o] = i;
      }
  }
  for (int o : g.outputs)
    if (!g.values[o].is_constant()) last[root[o]] = nn;
  // A root's size is the largest view of it (all views have the same bytes, but be safe).
  std::vector<size_t> size(nv, 0);
  int largest = -1;  // the value (view) behind the biggest buffer, for messages
  for (size_t v = 0; v < nv; ++v) {
    const Value& val = g.values[v];
    if (val.is_constant() || !val.has_shape || first[root[v]] == INT32_MAX) continue;
    const size_t b = AlignUp(static_cast<size_t>(NumElements(val.shape)) * DTypeSize(val.dtype));
    size[root[v]] = std::max(size[root[v]], b);
    if (largest < 0 || b > size[root[largest]]) largest = static_cast<int>(v);
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
  plan->copied_bytes_ = std::max<int64_t>(0, constant_uses - file_bytes);
  if (largest >= 0) {
    const Value& val = g.values[largest];
    const std::string what =
        fmt::format("'{}' {} {}", val.name, DTypeName(val.dtype), ShapeStr(val.shape));
    plan->largest_activation_ =
        producer[largest] >= 0
            ? fmt::format("output {} of {}, {}", what, g.nodes[producer[largest]].Describe(),
                          passes::FormatBytes(static_cast<int64_t>(size[root[largest]])))
            : fmt::format("input {}, {}", what,
                          passes::FormatBytes(static_cast<int64_t>(size[root[largest]])));
  }
  if (largest_use > 0)
    plan->largest_copy_ =
        fmt::format("largest {}, {}", largest_use_what, passes::FormatBytes(largest_use));
  plan->CheckTotal(0, 0, -1);

  // Kernels. Constant uses still to be bound, and whether some consumer reads the constant at run
  // time. A constant that every consumer's kernel packed at creation (Kernel::prepacked_inputs) is
  // released right after the last of those kernels exists, keeping load's peak low.
  plan->kernels_.resize(nn);
  std::vector<int> uses(nv, 0);
  std::vector<char> keep(nv, 0);
  for (const Node& n : g.nodes)
    for (int in : n.inputs)
      if (in >= 0 && g.values[in].is_constant()) ++uses[in];
  for (int o : g.outputs) keep[o] = 1;
  for (int i = 0; i < nn; ++i) {
    const Node& n = g.nodes[i];
    if (is_alias[i]) {
      for (int in : n.inputs)
        if (in >= 0) keep[in] = 1;
      continue;
    }
    plan->kernels_[i] = ops::CheckNode(n).create(n, g);
    const std::vector<int>& prepacked = plan->kernels_[i]->prepacked_inputs();
    for (size_t j = 0; j < n.inputs.size(); ++j) {
      const int in = n.inputs[j];
      if (in < 0 || !g.values[in].is_constant()) continue;
      if (std::find(prepacked.begin(), prepacked.end(), static_cast<int>(j)) == prepacked.end())
        keep[in] = 1;
      if (--uses[in] == 0 && !keep[in]) g.values[in].constant = DataReleased(g.values[in].constant);
    }
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
  plan->CheckMemory(1);
  return plan;
}

size_t Plan::scratch_bytes(int threads) const {
  size_t s = 0;
  for (const auto& k : kernels_)
    if (k) s = std::max(s, AlignUp(k->ScratchBytes(threads)));
  return s;
}

void Plan::CheckMemory(int threads) const {
  size_t scratch = 0;
  int worst = -1;
  for (size_t i = 0; i < kernels_.size(); ++i)
    if (kernels_[i] && AlignUp(kernels_[i]->ScratchBytes(threads)) > scratch) {
      scratch = AlignUp(kernels_[i]->ScratchBytes(threads));
      worst = static_cast<int>(i);
    }
  CheckTotal(scratch, threads, worst);
}

void Plan::CheckTotal(size_t scratch, int threads, int scratch_node) const {
  if (memory_limit_ < 0) return;
  auto add = [](int64_t a, int64_t b) { return a > INT64_MAX - b ? INT64_MAX : a + b; };
  const int64_t arena = static_cast<int64_t>(arena_bytes_);
  const int64_t scratch64 = static_cast<int64_t>(std::min<size_t>(scratch, INT64_MAX));
  const int64_t total = add(add(arena, scratch64), copied_bytes_);
  if (total <= memory_limit_) return;
  std::string parts = fmt::format("activations {}", passes::FormatBytes(arena));
  if (!largest_activation_.empty()) parts += " (largest: " + largest_activation_ + ")";
  if (scratch64 > 0) {
    parts += fmt::format(", scratch {} at {} thread{}", passes::FormatBytes(scratch64), threads,
                         threads == 1 ? "" : "s");
    if (scratch_node >= 0) parts += " (most for " + graph_.nodes[scratch_node].Describe() + ")";
  }
  if (copied_bytes_ > 0) {
    parts +=
        fmt::format(", weight copies {} beyond the file's", passes::FormatBytes(copied_bytes_));
    if (!largest_copy_.empty()) parts += " (" + largest_copy_ + ")";
  }
  throw Error(ErrorCode::kInvalidModel,
              fmt::format("running the model needs {}: {}{}", passes::FormatBytes(total), parts,
                          passes::OverLimit(memory_limit_)));
}

const void* Plan::ValuePtr(const uint8_t* arena, int v, const void* const* inputs) const {
  const Value& val = graph_.values[v];
  if (val.is_constant()) return val.constant->data();
  if (inputs && input_slot_[v] >= 0 && inputs[input_slot_[v]]) return inputs[input_slot_[v]];
  return offset_[v] >= 0 ? arena + offset_[v] : nullptr;
}

void Plan::Execute(const ops::ExecContext& ctx, uint8_t* arena, uint8_t* scratch, NodeTimes* times,
                   const void* const* inputs) const {
  if (times) {
    times->total_ms.resize(graph_.nodes.size(), 0.0);
    times->last_start_ms.assign(graph_.nodes.size(), 0.0);
    times->last_ms.assign(graph_.nodes.size(), 0.0);
  }
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
    if (times) {
      using Ms = std::chrono::duration<double, std::milli>;
      const auto t0 = std::chrono::steady_clock::now();
      kernels_[i]->Run(ctx, in.data(), out.data(), scratch);
      const double ms = Ms(std::chrono::steady_clock::now() - t0).count();
      times->total_ms[i] += ms;
      times->last_start_ms[i] = Ms(t0 - times->origin).count();
      times->last_ms[i] = ms;
    } else {
      kernels_[i]->Run(ctx, in.data(), out.data(), scratch);
    }
  }
}

std::shared_ptr<const Plan> Compile(Graph g, const std::map<std::string, Shape>& input_shapes,
                                    const passes::PassOptions& opts, passes::PassReport* report) {
  const int64_t file_bytes = passes::ConstantBytes(g);  // before passes replace any weight
  passes::BindInputShapes(g, input_shapes);
  passes::PassReport r = passes::Optimize(g, opts);
  if (report) *report = r;
  return Plan::Build(std::move(g), opts.memory_limit_bytes, file_bytes);
}

int64_t ParseMemoryLimit(const std::string& text, const std::string& what) {
  auto bad = [&](const char* why) {
    // The text may come from the environment: keep the message one short, printable line.
    std::string shown;
    for (char c : text.substr(0, 40))
      shown += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
    if (text.size() > 40) shown += "...";
    return Error(ErrorCode::kInvalidArgument,
                 fmt::format("{} '{}' {}: expected bytes with an optional K, M, G or T suffix "
                             "(e.g. 1048576, 64K, 512M, 2G) or 'unlimited'",
                             what, shown, why));
  };
  std::string t;
  for (char c : text) t += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (t == "unlimited") return passes::kUnlimitedMemory;
  size_t digits = 0;
  while (digits < t.size() && std::isdigit(static_cast<unsigned char>(t[digits]))) ++digits;
  if (digits == 0) throw bad("is not a size");
  if (digits < t.size() && (t[digits] == '.' || t[digits] == ','))
    throw bad("is not a whole number");
  std::string suffix = t.substr(digits);
  // "512MiB" and "512MB" mean 512M, "4096B" 4096 bytes.
  if (suffix.size() == 3 && suffix.compare(1, 2, "ib") == 0)
    suffix.resize(1);
  else if (suffix.size() == 2 && suffix[1] == 'b')
    suffix.resize(1);
  else if (suffix == "b")
    suffix.clear();
  int shift = 0;
  if (suffix == "k")
    shift = 10;
  else if (suffix == "m")
    shift = 20;
  else if (suffix == "g")
    shift = 30;
  else if (suffix == "t")
    shift = 40;
  else if (!suffix.empty())
    throw bad("has an unknown unit");
  // Limits above 2^50 bytes (1 PiB) mean "unlimited" in practice; refusing them keeps sums exact.
  constexpr int64_t kMax = int64_t{1} << 50;
  if (digits > 16) throw bad("is too large (the most is 1024T)");
  const int64_t number = std::stoll(t.substr(0, digits));
  if (number > (kMax >> shift)) throw bad("is too large (the most is 1024T)");
  if (number == 0) throw bad("is zero (use 'unlimited' for no limit)");
  return number << shift;
}

int64_t ResolveMemoryLimit(int64_t option) {
  if (option > 0 || option == passes::kUnlimitedMemory) return option;
  if (option < 0)
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("memory_limit_bytes must be > 0, 0 (the default) or -1 (unlimited), "
                            "got {}",
                            option));
  const char* env = std::getenv("EFFI_MEMORY_LIMIT");
  if (env && *env) return ParseMemoryLimit(env, "EFFI_MEMORY_LIMIT");
  return passes::kDefaultMemoryLimit;
}

}  // namespace effi::runtime
