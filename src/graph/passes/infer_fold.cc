// Mandatory pass: bind input shapes, infer every value's shape, and fold constant subgraphs by
// running their kernels once at compile time (the same kernels the executor uses).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <unordered_set>

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

thread_local ScopedFoldBudget* g_fold_budget = nullptr;

bool Evaluate(Graph& g, const Node& n, const ops::OpSchema& s, ScopedFoldBudget& budget) {
  // Checked before anything is allocated, also for results too big to fold (left to run time,
  // they would need the same bytes in the arena): a ConstantOfShape to 2^30 elements stops here.
  int64_t bytes = 0;
  for (int o : n.outputs)
    if (o >= 0)
      bytes += NumElements(g.values[o].shape) * static_cast<int64_t>(DTypeSize(g.values[o].dtype));
  budget.Check(n, g, bytes, 0);
  for (int o : n.outputs)
    if (o >= 0 && NumElements(g.values[o].shape) > kMaxFoldElements) return false;
  // Without computing anything: int8 weights stay int8 behind their float values, and a
  // reshaped constant shares its input's bytes.
  ConstTensor direct = ops::FoldInt8Dequantize(n, g);
  if (!direct && s.alias && n.outputs.size() == 1 && n.outputs[0] >= 0)
    direct = Reshaped(g.values[n.inputs[0]].constant, g.values[n.outputs[0]].shape);
  if (direct) {
    g.values[n.outputs[0]].constant = direct;
    budget.Add(bytes);
    return true;
  }
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
  if (s.alias) {  // several outputs (none today): same bytes, new shape
    std::memcpy(out_ptrs[0], in[0], outs[0]->bytes());
  } else {
    auto k = s.create(n, g);
    budget.Check(n, g, bytes,
                 static_cast<int64_t>(std::min<size_t>(k->ScratchBytes(1), INT64_MAX)));
    std::vector<uint8_t> scratch(k->ScratchBytes(1) + 64);
    out_ptrs.resize(std::max<size_t>(out_ptrs.size(), 8), nullptr);
    ops::ExecContext ctx;
    k->Run(ctx, in.data(), out_ptrs.data(), scratch.data());
  }
  size_t j = 0;
  for (int o : n.outputs)
    if (o >= 0) g.values[o].constant = outs[j++];
  budget.Add(bytes);
  return true;
}

}  // namespace

ScopedFoldBudget::ScopedFoldBudget(int64_t limit, int64_t credit)
    : limit_(limit), credit_(credit), previous_(g_fold_budget) {
  g_fold_budget = this;
}

ScopedFoldBudget::~ScopedFoldBudget() { g_fold_budget = previous_; }

ScopedFoldBudget* ScopedFoldBudget::Current() { return g_fold_budget; }

void ScopedFoldBudget::Check(const Node& n, const Graph& g, int64_t bytes, int64_t scratch) const {
  if (limit_ < 0) return;
  auto add = [](int64_t a, int64_t b) { return a > INT64_MAX - b ? INT64_MAX : a + b; };
  if (add(add(folded_, bytes), scratch) <= add(limit_, credit_)) return;
  std::string what;
  for (int o : n.outputs)
    if (o >= 0) {
      const Value& v = g.values[o];
      what = fmt::format("output '{}' {} {}", v.name, DTypeName(v.dtype), ShapeStr(v.shape));
      break;
    }
  std::string msg = fmt::format("{}: constant {} needs {}", n.Describe(), what, FormatBytes(bytes));
  if (scratch > 0) msg += fmt::format(" (+ {} of scratch)", FormatBytes(scratch));
  if (folded_ > 0) msg += fmt::format(" on top of {} folded before", FormatBytes(folded_));
  msg += OverLimit(limit_);
  if (credit_ >= (int64_t{1} << 20))  // a few bytes of shape constants are not worth a mention
    msg.insert(msg.find(" (raise"),
               fmt::format(" plus the file's {} of weights", FormatBytes(credit_)));
  throw Error(ErrorCode::kInvalidModel, msg);
}

int64_t ConstantBytes(const Graph& g) {
  std::unordered_set<const void*> seen;
  int64_t bytes = 0;
  for (const Value& v : g.values)
    if (v.constant && v.constant->has_data() && seen.insert(v.constant->identity()).second)
      bytes += static_cast<int64_t>(v.constant->bytes());
  return bytes;
}

std::string FormatBytes(int64_t bytes) {
  constexpr double kMiB = 1024.0 * 1024.0;
  if (bytes < 1024) return fmt::format("{} bytes", bytes);
  if (bytes < (int64_t{1} << 20)) return fmt::format("{} KiB", (bytes + 1023) / 1024);
  if (bytes % (int64_t{1} << 20) == 0) return fmt::format("{} MiB", bytes >> 20);
  // Rounded up, so a size just over a limit never prints as equal to it.
  return fmt::format("{:.1f} MiB", std::ceil(static_cast<double>(bytes) / kMiB * 10) / 10);
}

std::string OverLimit(int64_t limit) {
  return fmt::format(
      ", over the memory limit of {} (raise it with --memory-limit or EFFI_MEMORY_LIMIT)",
      FormatBytes(limit));
}

// A Pad whose pads are all zero (the attribute before opset 11, a constant input after).
static bool IsZeroPad(const Graph& g, const Node& n) {
  if (!n.Is("Pad")) return false;
  if (g.opset >= 11 && (!n.HasInput(1) || !g.values[n.inputs[1]].is_constant() ||
                        !g.values[n.inputs[1]].constant->has_data()))
    return false;
  // The node passed its shape inference, which read the pads the same way.
  const std::vector<int64_t> pads =
      g.opset < 11 ? n.GetInts("pads", {1}) : ops::ConstInts(g, n, 1, "pads");
  return std::all_of(pads.begin(), pads.end(), [](int64_t p) { return p == 0; });
}

void InferShapesAndFold(Graph& g) {
  // Outside Optimize (tests, tools): a budget of its own at the default limit.
  std::unique_ptr<ScopedFoldBudget> own;
  if (!g_fold_budget)
    own = std::make_unique<ScopedFoldBudget>(kDefaultMemoryLimit, ConstantBytes(g));
  ScopedFoldBudget& budget = *g_fold_budget;
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
    if (all_const && Evaluate(g, n, s, budget)) n.dead = true;
  }
  // Identity (and inference-mode Dropout, and a Pad of zeros: V2's stride-2 attention exports
  // one before its pooling, which would stop channels_last's transposes) only renames a value:
  // rewire its users to the input.
  for (Node& n : g.nodes) {
    if (n.dead || !(n.Is("Identity") || n.Is("Dropout") || IsZeroPad(g, n)) ||
        n.outputs.size() != 1)
      continue;
    const int in = n.inputs[0], out = n.outputs[0];
    if (g.IsGraphOutput(out) || g.IsGraphOutput(in)) continue;
    g.ReplaceAllUses(out, in);
    n.dead = true;
  }
  g.RemoveDeadNodes();
}

}  // namespace effi::passes
