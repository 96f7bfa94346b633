// A compiled plan: the optimised graph for one set of input shapes, one kernel per node, and a
// static memory plan that packs every activation into one arena (buffers reused once dead).
// Immutable after Build, so any number of sessions may execute it concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "graph/passes/passes.h"
#include "ops/op.h"

namespace effi::runtime {

// Per-node wall times of a profiled Execute, one slot per graph node (Session::Profile). The
// start and duration of the latest run place each node on a timeline (bench --profile-json).
struct NodeTimes {
  std::vector<double> total_ms;                  // accumulated over runs
  std::vector<double> last_start_ms;             // latest run: start, ms after `origin`
  std::vector<double> last_ms;                   // latest run: duration
  std::chrono::steady_clock::time_point origin;  // set by the caller before each run
};

class Plan {
 public:
  // Takes an optimised graph with all shapes known. Before any kernel packs a weight, checks that
  // the arena plus the constants the kernels may copy (beyond `file_bytes`, the weights stored in
  // the file) fit `memory_limit` (bytes; passes::kUnlimitedMemory: no limit), then that scratch at
  // one thread does too; throws kInvalidModel naming the biggest consumer otherwise.
  static std::shared_ptr<const Plan> Build(Graph g,
                                           int64_t memory_limit = passes::kDefaultMemoryLimit,
                                           int64_t file_bytes = 0);

  const Graph& graph() const { return graph_; }
  size_t arena_bytes() const { return arena_bytes_; }
  // Scratch needed by the hungriest kernel when run with `threads` threads.
  size_t scratch_bytes(int threads) const;
  // Throws kInvalidModel when a session with `threads` threads would need more than the memory
  // limit (arena + scratch + weight copies); sessions call it before allocating.
  void CheckMemory(int threads) const;
  // Arena offset of a non-constant value (-1 for constants / unused values).
  int64_t offset(int value) const { return offset_[value]; }
  // Pointer of value `v` given this session's arena and the bound inputs (see Execute).
  const void* ValuePtr(const uint8_t* arena, int v, const void* const* inputs = nullptr) const;
  // Runs every kernel. inputs (optional, one pointer per graph input in graph().inputs order) are
  // read in place, as are the views of them; a null array or entry means that input was copied
  // into the arena at offset(id). times (optional: profiling) records each node's wall time.
  void Execute(const ops::ExecContext& ctx, uint8_t* arena, uint8_t* scratch,
               NodeTimes* times = nullptr, const void* const* inputs = nullptr) const;

 private:
  Graph graph_;
  std::vector<std::unique_ptr<ops::Kernel>> kernels_;  // per node; null for alias ops
  std::vector<int64_t> offset_;
  std::vector<int> input_slot_;  // per value: the graph input it is (a view of), else -1
  size_t arena_bytes_ = 0;
  int64_t memory_limit_ = passes::kUnlimitedMemory;
  int64_t copied_bytes_ = 0;  // constant bytes kernels may have copied beyond the file's weights
  std::string largest_activation_;  // "output 'y' [..] of node 'n' (Op), 4 MiB", for messages
  std::string largest_copy_;        // "largest 'w' of node 'n' (Op), 1 MiB"

  // Throws when arena + `scratch` (at `threads`, most for node `scratch_node`) + copies > limit.
  void CheckTotal(size_t scratch, int threads, int scratch_node) const;
};

// Memory limits as users write them: "1048576", "64K", "512M", "2G", "1T" (binary multiples, an
// optional trailing B or iB, any case) or "unlimited" (-> passes::kUnlimitedMemory). Throws
// kInvalidArgument naming `what` and listing the accepted forms.
int64_t ParseMemoryLimit(const std::string& text, const std::string& what);
// The limit in force for ModelOptions::memory_limit_bytes = `option`: itself when > 0 or -1
// (unlimited), else (0) EFFI_MEMORY_LIMIT when set, else passes::kDefaultMemoryLimit.
int64_t ResolveMemoryLimit(int64_t option);

// import graph -> bind shapes -> passes -> plan. Pass the imported graph by copy to keep it (its
// constants are shared, not copied), or move it in so weights replaced by passes or packed by
// kernels are freed during compilation.
std::shared_ptr<const Plan> Compile(Graph imported,
                                    const std::map<std::string, Shape>& input_shapes,
                                    const passes::PassOptions& opts,
                                    passes::PassReport* report = nullptr);

}  // namespace effi::runtime
