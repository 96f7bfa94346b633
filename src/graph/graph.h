// effi's graph IR: values (tensors with static dtype/shape, optionally constant) and nodes
// (ONNX-named ops plus effi's fused ops, domain "effi"), in topological order. Every layer after
// import works on this; only src/onnx sees protobuf.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "graph/tensor.h"

namespace effi {

// Domain of effi's own fused ops (Conv with epilogue in NHWC, Linear, LayerNorm, Gelu, ...).
inline constexpr const char* kEffiDomain = "effi";

using AttrValue = std::variant<int64_t, float, std::string, std::vector<int64_t>,
                               std::vector<float>, std::vector<std::string>, ConstTensor>;

struct Value {
  std::string name;
  DType dtype = DType::kUndefined;
  Shape shape;             // -1 for a dimension not known yet (graph inputs with symbolic dims)
  bool has_shape = false;  // shape (rank included) known
  ConstTensor constant;    // non-null: initializer or folded constant
  bool is_constant() const { return constant != nullptr; }
};

struct Node {
  std::string name;
  std::string domain;  // "" for ONNX, kEffiDomain for fused ops
  std::string op;
  std::vector<int> inputs;  // value ids; -1 = optional input not given
  std::vector<int> outputs;
  std::map<std::string, AttrValue> attrs;
  bool dead = false;

  // Human-readable identity used in every error message.
  std::string Describe() const;
  bool Is(const char* op_type) const { return domain.empty() && op == op_type; }
  bool IsEffi(const char* op_type) const { return domain == kEffiDomain && op == op_type; }
  bool HasInput(size_t i) const { return i < inputs.size() && inputs[i] >= 0; }

  // Attribute access; the typed getters throw kInvalidModel naming the node on a type mismatch.
  bool Has(const std::string& key) const { return attrs.count(key) != 0; }
  int64_t GetInt(const std::string& key, int64_t dflt) const;
  float GetFloat(const std::string& key, float dflt) const;
  std::string GetString(const std::string& key, const std::string& dflt) const;
  std::vector<int64_t> GetInts(const std::string& key, const std::vector<int64_t>& dflt) const;
  std::vector<float> GetFloats(const std::string& key, const std::vector<float>& dflt) const;
  ConstTensor GetTensor(const std::string& key) const;
};

class Graph {
 public:
  std::vector<Value> values;
  std::vector<Node> nodes;  // topological order after TopoSort()
  std::vector<int> inputs;  // non-constant graph inputs
  std::vector<int> outputs;
  std::map<std::string, std::string> metadata;
  int64_t opset = 0;  // default-domain opset the model was exported with
  // As found in the file (for inspect): initializer element count and op histogram (Constant
  // nodes included, though import turns them into constant values).
  int64_t initializer_elements = 0;
  std::map<std::string, int> file_op_histogram;

  int AddValue(const std::string& name, DType dtype = DType::kUndefined);
  int AddConstant(const std::string& name, ConstTensor t);
  // Appends a node (not sorted); returns its index.
  int AddNode(Node n);
  // A value name unused so far, based on `base`.
  std::string UniqueName(const std::string& base);
  int FindValue(const std::string& name) const;  // -1 if absent

  // Orders nodes topologically (stable); throws kInvalidModel naming a node on a cycle or on a
  // value produced twice / consumed but never produced.
  void TopoSort();
  // Drops dead-flagged nodes and nodes whose outputs reach no graph output; drops unused values'
  // constants. Keeps value ids stable.
  void RemoveDeadNodes();
  // Producer node index per value (-1: graph input / constant), consumers per value.
  std::vector<int> Producers() const;
  std::vector<std::vector<int>> Consumers() const;
  bool IsGraphOutput(int value) const;

  // Replaces every use of value `from` by value `to` (node inputs and graph outputs).
  void ReplaceAllUses(int from, int to);

 private:
  std::map<std::string, int> name_index_;
  int64_t unique_counter_ = 0;
};

}  // namespace effi
