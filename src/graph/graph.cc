// Graph IR bookkeeping: value table, attribute access, topological sort and dead-node removal.
#include "graph/graph.h"

#include <fmt/format.h>

#include <algorithm>
#include <deque>

#include "util/text.h"

namespace effi {

std::string Node::Describe() const {
  // Names come from the model file: escaped and bounded, as every message that quotes one.
  std::string d = domain.empty() ? "" : domain + ".";
  return fmt::format("node '{}' ({})", util::EscapeControl(name), util::EscapeControl(d + op));
}

namespace {
template <typename T>
const T& GetAs(const Node& n, const std::string& key, const char* want) {
  const AttrValue& v = n.attrs.at(key);
  if (!std::holds_alternative<T>(v))
    throw Error(ErrorCode::kInvalidModel,
                fmt::format("{}: attribute '{}' must be {}", n.Describe(), key, want));
  return std::get<T>(v);
}
}  // namespace

int64_t Node::GetInt(const std::string& key, int64_t dflt) const {
  if (!Has(key)) return dflt;
  return GetAs<int64_t>(*this, key, "an int");
}
float Node::GetFloat(const std::string& key, float dflt) const {
  if (!Has(key)) return dflt;
  const AttrValue& v = attrs.at(key);
  if (std::holds_alternative<int64_t>(v)) return static_cast<float>(std::get<int64_t>(v));
  return GetAs<float>(*this, key, "a float");
}
std::string Node::GetString(const std::string& key, const std::string& dflt) const {
  if (!Has(key)) return dflt;
  return GetAs<std::string>(*this, key, "a string");
}
std::vector<int64_t> Node::GetInts(const std::string& key, const std::vector<int64_t>& dflt) const {
  if (!Has(key)) return dflt;
  return GetAs<std::vector<int64_t>>(*this, key, "a list of ints");
}
std::vector<float> Node::GetFloats(const std::string& key, const std::vector<float>& dflt) const {
  if (!Has(key)) return dflt;
  return GetAs<std::vector<float>>(*this, key, "a list of floats");
}
ConstTensor Node::GetTensor(const std::string& key) const {
  if (!Has(key)) return nullptr;
  return GetAs<ConstTensor>(*this, key, "a tensor");
}

int Graph::AddValue(const std::string& name, DType dtype) {
  int id = static_cast<int>(values.size());
  Value v;
  v.name = name;
  v.dtype = dtype;
  values.push_back(std::move(v));
  if (!name.empty()) name_index_[name] = id;
  return id;
}

int Graph::AddConstant(const std::string& name, ConstTensor t) {
  int id = AddValue(name, t->dtype());
  values[id].shape = t->shape();
  values[id].has_shape = true;
  values[id].constant = std::move(t);
  return id;
}

int Graph::AddNode(Node n) {
  nodes.push_back(std::move(n));
  return static_cast<int>(nodes.size()) - 1;
}

std::string Graph::UniqueName(const std::string& base) {
  std::string name;
  do {
    name = fmt::format("{}__{}", base, unique_counter_++);
  } while (name_index_.count(name));
  return name;
}

int Graph::FindValue(const std::string& name) const {
  auto it = name_index_.find(name);
  return it == name_index_.end() ? -1 : it->second;
}

std::vector<int> Graph::Producers() const {
  std::vector<int> prod(values.size(), -1);
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].dead) continue;
    for (int o : nodes[i].outputs)
      if (o >= 0) prod[o] = static_cast<int>(i);
  }
  return prod;
}

std::vector<std::vector<int>> Graph::Consumers() const {
  std::vector<std::vector<int>> cons(values.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].dead) continue;
    for (int in : nodes[i].inputs)
      if (in >= 0) cons[in].push_back(static_cast<int>(i));
  }
  return cons;
}

bool Graph::IsGraphOutput(int value) const {
  return std::find(outputs.begin(), outputs.end(), value) != outputs.end();
}

void Graph::ReplaceAllUses(int from, int to) {
  for (Node& n : nodes)
    for (int& in : n.inputs)
      if (in == from) in = to;
  for (int& o : outputs)
    if (o == from) o = to;
}

void Graph::TopoSort() {
  nodes.erase(std::remove_if(nodes.begin(), nodes.end(), [](const Node& n) { return n.dead; }),
              nodes.end());
  const size_t nn = nodes.size();
  std::vector<int> producer(values.size(), -1);
  for (size_t i = 0; i < nn; ++i) {
    for (int o : nodes[i].outputs) {
      if (o < 0) continue;
      if (producer[o] >= 0 || values[o].is_constant())
        throw Error(ErrorCode::kInvalidModel,
                    fmt::format("{}: output '{}' is produced more than once", nodes[i].Describe(),
                                values[o].name));
      producer[o] = static_cast<int>(i);
    }
  }
  std::vector<bool> is_input(values.size(), false);
  for (int v : inputs) is_input[v] = true;
  std::vector<int> pending(nn, 0);
  std::vector<std::vector<int>> users(nn);
  for (size_t i = 0; i < nn; ++i) {
    for (int in : nodes[i].inputs) {
      if (in < 0) continue;
      if (producer[in] < 0) {
        if (!is_input[in] && !values[in].is_constant())
          throw Error(
              ErrorCode::kInvalidModel,
              fmt::format(
                  "{}: input '{}' is neither a graph input, an initializer nor a node output",
                  nodes[i].Describe(), values[in].name));
        continue;
      }
      ++pending[i];
      users[producer[in]].push_back(static_cast<int>(i));
    }
  }
  // Kahn's algorithm, lowest original index first so a valid ONNX order is kept as is.
  std::vector<int> order;
  order.reserve(nn);
  std::deque<int> ready;
  for (size_t i = 0; i < nn; ++i)
    if (pending[i] == 0) ready.push_back(static_cast<int>(i));
  while (!ready.empty()) {
    int i = ready.front();
    ready.pop_front();
    order.push_back(i);
    for (int u : users[i])
      if (--pending[u] == 0) ready.push_back(u);
  }
  if (order.size() != nn) {
    for (size_t i = 0; i < nn; ++i)
      if (pending[i] > 0)
        throw Error(ErrorCode::kInvalidModel,
                    fmt::format("graph has a cycle through {}", nodes[i].Describe()));
  }
  std::vector<Node> sorted;
  sorted.reserve(nn);
  for (int i : order) sorted.push_back(std::move(nodes[i]));
  nodes = std::move(sorted);
  for (int o : outputs) {
    if (producer[o] < 0 && !is_input[o] && !values[o].is_constant())
      throw Error(ErrorCode::kInvalidModel,
                  fmt::format("graph output '{}' is never produced", values[o].name));
  }
}

void Graph::RemoveDeadNodes() {
  // Mark from the graph outputs backwards through producers (works in any node order).
  std::vector<int> producer = Producers();
  std::vector<bool> live_value(values.size(), false), live_node(nodes.size(), false);
  std::vector<int> stack(outputs.begin(), outputs.end());
  while (!stack.empty()) {
    int v = stack.back();
    stack.pop_back();
    if (v < 0 || live_value[v]) continue;
    live_value[v] = true;
    int p = producer[v];
    if (p < 0 || live_node[p]) continue;
    live_node[p] = true;
    for (int in : nodes[p].inputs) stack.push_back(in);
  }
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!live_node[i])
      nodes[i].dead = true;
    else
      for (int o : nodes[i].outputs)
        if (o >= 0) live_value[o] = true;  // keep secondary outputs' bookkeeping
  }
  nodes.erase(std::remove_if(nodes.begin(), nodes.end(), [](const Node& n) { return n.dead; }),
              nodes.end());
  for (int v : inputs) live_value[v] = true;
  for (size_t v = 0; v < values.size(); ++v)
    if (!live_value[v]) values[v].constant.reset();  // free weights nothing uses any more
}

}  // namespace effi
