// Helpers shared by the rewrite passes: producer/consumer lookup, constant inspection and small
// node builders. Passes mark replaced nodes dead; InferShapesAndFold cleans up after them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace effi::passes {

class GraphIndex {
 public:
  explicit GraphIndex(Graph& g) : g_(g) { Refresh(); }
  void Refresh() {
    producer_ = g_.Producers();
    consumers_ = g_.Consumers();
  }
  // Producing node (null for graph inputs / constants / dead producers).
  Node* Producer(int v) {
    if (v < 0) return nullptr;
    int p = producer_[v];
    return p >= 0 && !g_.nodes[p].dead ? &g_.nodes[p] : nullptr;
  }
  int ProducerIndex(int v) const { return v < 0 ? -1 : producer_[v]; }
  const std::vector<int>& Consumers(int v) const { return consumers_[v]; }
  // True when v feeds exactly one node and is not a graph output.
  bool SingleUse(int v) const { return consumers_[v].size() == 1 && !g_.IsGraphOutput(v); }
  Node* SoleConsumer(int v) { return SingleUse(v) ? &g_.nodes[consumers_[v][0]] : nullptr; }

 private:
  Graph& g_;
  std::vector<int> producer_;
  std::vector<std::vector<int>> consumers_;
};

inline bool IsConst(const Graph& g, int v) { return v >= 0 && g.values[v].is_constant(); }

// Value of a constant holding a single float (any rank, one element).
std::optional<float> ScalarConst(const Graph& g, int v);

// If constant v (float) broadcast against an output of `rank` dims varies only along axis
// `axis` (or not at all) and has at most `channels` distinct positions, returns the per-channel
// values expanded to `channels`.
std::optional<std::vector<float>> PerChannelConst(const Graph& g, int v, int rank, int axis,
                                                  int64_t channels);

// True when `from` broadcasts (numpy rules) to exactly `to`.
inline bool BroadcastOk(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  for (size_t i = 0; i < from.size(); ++i) {
    const int64_t f = from[from.size() - 1 - i], t = to[to.size() - 1 - i];
    if (f != 1 && f != t) return false;
  }
  return true;
}

// The other input of a binary node, given one of them.
inline int OtherInput(const Node& n, int v) { return n.inputs[0] == v ? n.inputs[1] : n.inputs[0]; }

// Adds a constant value with a unique name.
int AddConst(Graph& g, const std::string& base, ConstTensor t);

// Appends a node producing one new value (shape filled in later by inference); returns the value.
int AddNode1(Graph& g, const std::string& base, const std::string& domain, const std::string& op,
             std::vector<int> inputs, std::map<std::string, AttrValue> attrs = {});

// Appends Transpose(in, perm) named `name` writing the existing value `out` (whose old producer the
// caller has marked dead): how a rewrite hands its result back under the old value.
void AddTransposeTo(Graph& g, const std::string& name, int in, int out, std::vector<int64_t> perm);

}  // namespace effi::passes
