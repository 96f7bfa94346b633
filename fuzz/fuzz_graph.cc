// libFuzzer target for shape inference, constant folding, the passes and the planner: the bytes
// describe a small effi IR graph directly (no protobuf), which is compiled with runtime::Compile
// under a 64 MiB memory limit and, if that succeeds, run once on zero inputs. Any effi::Error is
// fine; a crash, UB, an uncaught other exception or a huge allocation is a bug.
//
//   fuzz_graph fuzz/corpus/graph -max_total_time=180 -rss_limit_mb=2048 -timeout=10
//
// Byte format (read front to back; a missing byte reads as 0, so every input is some graph):
//   flags        bit 0: passes "none" instead of "all"; bits 1-2: opset 11/13/17/13
//   inputs       count % 3, then per input: rank % 5, then rank dims (% 9) -> float32 inputs
//   constants    count % 6, then per constant: kind % 4 (0 int64, 1 float32, 2 int32, 3 bool),
//                rank % 3, dims (% 5), then one Int64()/Float() per element (see below)
//   nodes        1 + count % 8, then per node: op (2 bytes, little endian, % the op table),
//                input count, inputs (255: absent, else a value index % values so far), output
//                count, attribute count, per attribute: name index, then its value (AttrValue)
//   outputs      1 + count % 3 value indices (% values)
// Int64(): selector s; s < 32: s - 8; s < 32 + table: kInt64s[s - 32]; else 8 raw bytes.
// Float(): selector s % (table + 1); the last one: 4 raw bytes.
// fuzz/corpus/graph/make_seeds.py writes seeds in this format.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "graph/passes/passes.h"
#include "ops/op.h"
#include "runtime/plan.h"

namespace effi {
namespace {

constexpr int64_t kMemoryLimit = int64_t{64} << 20;

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  uint8_t Byte() { return p_ < end_ ? *p_++ : 0; }
  uint64_t Raw(int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(Byte()) << (8 * i);
    return v;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
const int64_t kInt64s[] = {kMin,
                           kMin + 1,
                           kMax,
                           kMax - 1,
                           -(int64_t{1} << 62),
                           int64_t{1} << 62,
                           int64_t{1} << 40,
                           -(int64_t{1} << 40),
                           int64_t{1} << 32,
                           int64_t{1} << 31,
                           (int64_t{1} << 31) - 1,
                           -(int64_t{1} << 31),
                           int64_t{1} << 30,
                           int64_t{1} << 26,
                           int64_t{1} << 20,
                           65536,
                           224,
                           255,
                           256,
                           1000,
                           -1000};
constexpr float kInf = std::numeric_limits<float>::infinity();
const float kFloats[] = {0.0f,
                         1.0f,
                         -1.0f,
                         0.5f,
                         2.0f,
                         -0.0f,
                         1e-7f,
                         0.1f,
                         3.0f,
                         65504.f,
                         1e30f,
                         -1e30f,
                         3.4e38f,
                         -3.4e38f,
                         kInf,
                         -kInf,
                         std::numeric_limits<float>::quiet_NaN(),
                         std::numeric_limits<float>::denorm_min(),
                         1e-38f,
                         7.0f};

int64_t Int64(Reader& r) {
  const uint8_t s = r.Byte();
  constexpr size_t kTable = sizeof(kInt64s) / sizeof(kInt64s[0]);
  if (s < 32) return static_cast<int64_t>(s) - 8;
  if (s < 32 + kTable) return kInt64s[s - 32];
  return static_cast<int64_t>(r.Raw(8));
}

float Float(Reader& r) {
  constexpr size_t kTable = sizeof(kFloats) / sizeof(kFloats[0]);
  const size_t s = r.Byte() % (kTable + 1);
  if (s < kTable) return kFloats[s];
  const uint32_t bits = static_cast<uint32_t>(r.Raw(4));
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Op types in a fixed order (so seeds keep their meaning), then any registered op not listed.
const std::vector<const ops::OpSchema*>& OpTable() {
  static const std::vector<const ops::OpSchema*> table = [] {
    static const char* const kOnnx[] = {"Add",
                                        "Sub",
                                        "Mul",
                                        "Div",
                                        "Pow",
                                        "Max",
                                        "Min",
                                        "Sum",
                                        "Mean",
                                        "Relu",
                                        "Neg",
                                        "Abs",
                                        "Sqrt",
                                        "Exp",
                                        "Log",
                                        "Erf",
                                        "Sigmoid",
                                        "Tanh",
                                        "Reciprocal",
                                        "Floor",
                                        "Ceil",
                                        "Clip",
                                        "Equal",
                                        "Less",
                                        "Greater",
                                        "LessOrEqual",
                                        "GreaterOrEqual",
                                        "Not",
                                        "Where",
                                        "Cast",
                                        "Conv",
                                        "AveragePool",
                                        "MaxPool",
                                        "GlobalAveragePool",
                                        "MatMul",
                                        "Gemm",
                                        "BatchNormalization",
                                        "LayerNormalization",
                                        "ReduceMean",
                                        "ReduceSum",
                                        "ReduceMax",
                                        "ReduceMin",
                                        "ReduceProd",
                                        "ReduceSumSquare",
                                        "ReduceL2",
                                        "Softmax",
                                        "LogSoftmax",
                                        "ArgMax",
                                        "Reshape",
                                        "Flatten",
                                        "Squeeze",
                                        "Unsqueeze",
                                        "Identity",
                                        "Dropout",
                                        "Shape",
                                        "Size",
                                        "Transpose",
                                        "Concat",
                                        "Split",
                                        "Slice",
                                        "Gather",
                                        "Expand",
                                        "Tile",
                                        "ConstantOfShape",
                                        "Range"};
    static const char* const kEffi[] = {"Gelu",      "Conv",   "AvgPool",   "GlobalAvgPool",
                                        "PoolMixer", "Linear", "Attention", "PackedAttention"};
    std::vector<const ops::OpSchema*> t;
    std::set<const ops::OpSchema*> seen;
    auto add = [&](const ops::OpSchema* s) {
      if (s && seen.insert(s).second) t.push_back(s);
    };
    for (const char* op : kOnnx) add(ops::FindOp("", op));
    for (const char* op : kEffi) add(ops::FindOp(kEffiDomain, op));
    for (const ops::OpSchema* s : ops::AllOps()) add(s);
    return t;
  }();
  return table;
}

enum class Kind { kInt, kInts, kFloat, kString, kTensor };

Kind KindOf(const std::string& name) {
  static const std::set<std::string> ints = {"dilations", "kernel_shape", "pads", "strides", "perm",
                                             "split",     "starts",       "ends", "axes"};
  static const std::set<std::string> floats = {"min",   "max",     "alpha",    "beta",
                                               "scale", "epsilon", "momentum", "ratio"};
  if (ints.count(name)) return Kind::kInts;
  if (floats.count(name)) return Kind::kFloat;
  if (name == "auto_pad") return Kind::kString;
  if (name == "value") return Kind::kTensor;
  return Kind::kInt;
}

// A small constant: kind % 4 picks int64 / float32 / int32 / bool; at most 4 x 4 elements.
ConstTensor MakeConstant(Reader& r) {
  const int kind = r.Byte() % 4;
  Shape shape(r.Byte() % 3);
  for (int64_t& d : shape) d = r.Byte() % 5;
  static const DType kTypes[] = {DType::kI64, DType::kF32, DType::kI32, DType::kBool};
  auto t = MakeTensor(kTypes[kind], shape);
  for (int64_t i = 0; i < t->elements(); ++i) {
    switch (kind) {
      case 0:
        t->mutable_as<int64_t>()[i] = Int64(r);
        break;
      case 1:
        t->mutable_as<float>()[i] = Float(r);
        break;
      case 2:
        t->mutable_as<int32_t>()[i] = static_cast<int32_t>(Int64(r));
        break;
      default:
        t->mutable_as<uint8_t>()[i] = r.Byte() & 1;
    }
  }
  return t;
}

AttrValue MakeAttr(Reader& r, Kind kind) {
  switch (kind) {
    case Kind::kInt:
      return Int64(r);
    case Kind::kInts: {
      std::vector<int64_t> v(r.Byte() % 7);
      for (int64_t& x : v) x = Int64(r);
      return v;
    }
    case Kind::kFloat:
      return Float(r);
    case Kind::kString: {
      static const char* const kPads[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID", "bogus"};
      return std::string(kPads[r.Byte() % 5]);
    }
    case Kind::kTensor:
      return MakeConstant(r);
  }
  return int64_t{0};
}

Graph BuildGraph(Reader& r, bool* no_passes) {
  Graph g;
  const uint8_t flags = r.Byte();
  *no_passes = flags & 1;
  static const int64_t kOpsets[] = {11, 13, 17, 13};
  g.opset = kOpsets[(flags >> 1) & 3];
  std::vector<int> values;
  const int inputs = r.Byte() % 3;
  for (int i = 0; i < inputs; ++i) {
    const int v = g.AddValue("x" + std::to_string(i), DType::kF32);
    Shape shape(r.Byte() % 5);
    for (int64_t& d : shape) d = r.Byte() % 9;
    g.values[v].shape = shape;
    g.values[v].has_shape = true;
    g.inputs.push_back(v);
    values.push_back(v);
  }
  const int constants = r.Byte() % 6;
  for (int i = 0; i < constants; ++i)
    values.push_back(g.AddConstant("c" + std::to_string(i), MakeConstant(r)));
  const std::vector<const ops::OpSchema*>& table = OpTable();
  const int nodes = 1 + r.Byte() % 8;
  for (int i = 0; i < nodes; ++i) {
    const ops::OpSchema& s = *table[r.Raw(2) % table.size()];
    Node n;
    n.name = "n" + std::to_string(i);
    n.domain = s.domain;
    n.op = s.op;
    const int max_in = std::min(s.max_inputs, s.min_inputs + 4);
    const int in_count = s.min_inputs + r.Byte() % (max_in - s.min_inputs + 1);
    for (int j = 0; j < in_count; ++j) {
      const uint8_t b = r.Byte();
      n.inputs.push_back(b == 255 || values.empty() ? -1 : values[b % values.size()]);
    }
    const int max_out = std::min(s.max_outputs, s.min_outputs + 2);
    const int out_count = s.min_outputs + r.Byte() % (max_out - s.min_outputs + 1);
    for (int j = 0; j < out_count; ++j)
      n.outputs.push_back(g.AddValue(n.name + "_" + std::to_string(j)));
    const int attrs = r.Byte() % (s.attrs.size() + 1);
    for (int j = 0; j < attrs; ++j) {
      const std::string& name = s.attrs[r.Byte() % s.attrs.size()];
      // One in 16 attributes gets a value of a random kind (type errors must be clean too).
      const uint8_t k = r.Byte();
      const Kind kind = k < 240 ? KindOf(name) : static_cast<Kind>(k % 5);
      n.attrs[name] = MakeAttr(r, kind);
    }
    for (int o : n.outputs) values.push_back(o);
    g.AddNode(std::move(n));
  }
  const int outputs = 1 + r.Byte() % 3;
  for (int i = 0; i < outputs; ++i) {
    const int v = values.empty() ? -1 : values[r.Byte() % values.size()];
    if (v >= 0 && !g.IsGraphOutput(v)) g.outputs.push_back(v);
  }
  return g;
}

// FUZZ_GRAPH_DUMP=1 fuzz_graph crash-...: prints the graph a reproducer decodes to.
void Dump(const Graph& g) {
  auto name = [&](int v) { return v >= 0 ? g.values[v].name : std::string("-"); };
  for (int v : g.inputs)
    std::fprintf(stderr, "input %s %s\n", name(v).c_str(), ShapeStr(g.values[v].shape).c_str());
  for (const Value& v : g.values)
    if (v.constant)
      std::fprintf(stderr, "constant %s %s %s\n", v.name.c_str(), DTypeName(v.dtype),
                   ShapeStr(v.shape).c_str());
  for (const Node& n : g.nodes) {
    std::string line = n.Describe() + ":";
    for (int v : n.inputs) line += " " + name(v);
    line += " ->";
    for (int v : n.outputs) line += " " + name(v);
    for (const auto& [key, value] : n.attrs) line += " " + key;
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  for (int v : g.outputs) std::fprintf(stderr, "output %s\n", name(v).c_str());
}

}  // namespace
}  // namespace effi

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace effi;
  try {
    Reader r(data, size);
    bool no_passes = false;
    Graph g = BuildGraph(r, &no_passes);
    g.TopoSort();
    if (std::getenv("FUZZ_GRAPH_DUMP")) Dump(g);
    passes::PassOptions opts = no_passes ? passes::PassOptions::None() : passes::PassOptions();
    opts.memory_limit_bytes = kMemoryLimit;
    std::shared_ptr<const runtime::Plan> plan = runtime::Compile(std::move(g), {}, opts);
    // As Session::Run does: check, then allocate a zeroed arena (the inputs live in it) and
    // scratch.
    plan->CheckMemory(1);
    std::vector<uint8_t> arena(plan->arena_bytes() + 64), scratch(plan->scratch_bytes(1) + 64);
    auto align = [](uint8_t* p) {
      return reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t{63});
    };
    ops::ExecContext ctx;
    plan->Execute(ctx, align(arena.data()), align(scratch.data()));
  } catch (const effi::Error& e) {
    if (std::getenv("FUZZ_GRAPH_DUMP")) std::fprintf(stderr, "effi::Error: %s\n", e.what());
    // Expected for malformed or unsupported graphs.
  }
  return 0;
}
