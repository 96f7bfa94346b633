// A compiled plan: the optimised graph for one set of input shapes, one kernel per node, and a
// static memory plan that packs every activation into one arena (buffers reused once dead).
// Immutable after Build, so any number of sessions may execute it concurrently.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "graph/passes/passes.h"
#include "ops/op.h"

namespace effi::runtime {

class Plan {
 public:
  // Takes an optimised graph with all shapes known.
  static std::shared_ptr<const Plan> Build(Graph g);

  const Graph& graph() const { return graph_; }
  size_t arena_bytes() const { return arena_bytes_; }
  // Scratch needed by the hungriest kernel when run with `threads` threads.
  size_t scratch_bytes(int threads) const;
  // Arena offset of a non-constant value (-1 for constants / unused values).
  int64_t offset(int value) const { return offset_[value]; }
  // Pointer of value `v` given this session's arena and the bound inputs (see Execute).
  const void* ValuePtr(const uint8_t* arena, int v, const void* const* inputs = nullptr) const;
  // Runs every kernel. inputs (optional, one pointer per graph input in graph().inputs order) are
  // read in place, as are the views of them; a null array or entry means that input was copied
  // into the arena at offset(id). node_ms (optional, one slot per node) accumulates wall time per
  // node.
  void Execute(const ops::ExecContext& ctx, uint8_t* arena, uint8_t* scratch,
               std::vector<double>* node_ms = nullptr, const void* const* inputs = nullptr) const;

 private:
  Graph graph_;
  std::vector<std::unique_ptr<ops::Kernel>> kernels_;  // per node; null for alias ops
  std::vector<int64_t> offset_;
  std::vector<int> input_slot_;  // per value: the graph input it is (a view of), else -1
  size_t arena_bytes_ = 0;
};

// import graph -> bind shapes -> passes -> plan. Pass the imported graph by copy to keep it (its
// constants are shared, not copied), or move it in so weights replaced by passes or packed by
// kernels are freed during compilation.
std::shared_ptr<const Plan> Compile(Graph imported,
                                    const std::map<std::string, Shape>& input_shapes,
                                    const passes::PassOptions& opts,
                                    passes::PassReport* report = nullptr);

}  // namespace effi::runtime
