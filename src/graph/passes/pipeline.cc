// The pass pipeline: fixed order, each optional pass followed by re-sorting and re-inference so
// the next one sees a consistent graph. PassOptions parsing for the CLI's --passes flag.
#include <fmt/format.h>

#include <sstream>

#include "graph/passes/passes.h"

namespace effi::passes {
namespace {

struct Entry {
  const char* name;
  bool PassOptions::*flag;
  int (*run)(Graph&);
};

// Order matters: QDQ pairs become FakeQuant first, so every fp32 pass sees a float graph; BN and
// layer scales fold into ONNX Conv weights before the layout change; heads
// merge after Linear fusion; int8 takes over the NHWC/Linear ops' inputs once those ops exist,
// then their outputs' QDQ pairs (ONNX Runtime's layout), epilogues fuse onto the fp32 and int8
// ops alike, and int8 ops chain last, once their epilogues are complete.
constexpr Entry kPasses[] = {
    {"fuse_qdq", &PassOptions::fuse_qdq, FuseQdq},
    {"fold_batchnorm", &PassOptions::fold_batchnorm, FoldBatchNorm},
    {"fuse_linear", &PassOptions::fuse_linear, FuseLinear},
    {"fold_layer_scale", &PassOptions::fold_layer_scale, FoldLayerScale},
    {"merge_heads", &PassOptions::merge_heads, MergeHeads},
    {"fuse_layernorm", &PassOptions::fuse_layernorm, FuseLayerNorm},
    {"fuse_gelu", &PassOptions::fuse_gelu, FuseGelu},
    {"fuse_attention2d", &PassOptions::fuse_attention2d, FuseAttention2d},
    {"channels_last", &PassOptions::channels_last, ToChannelsLast},
    {"fuse_pool_mixer", &PassOptions::fuse_pool_mixer, FusePoolMixer},
    {"fuse_attention", &PassOptions::fuse_attention, FuseAttention},
    {"fuse_int8", &PassOptions::fuse_int8, FuseInt8},
    {"fuse_int8_output", &PassOptions::fuse_int8_output, FuseInt8Output},
    {"fuse_epilogue", &PassOptions::fuse_epilogue, FuseEpilogue},
    {"chain_int8", &PassOptions::chain_int8, ChainInt8},
};

}  // namespace

PassOptions PassOptions::None() {
  PassOptions o;
  for (const Entry& e : kPasses) o.*(e.flag) = false;
  return o;
}

PassOptions PassOptions::Parse(const std::string& spec) {
  PassOptions o;
  std::stringstream ss(spec);
  std::string item;
  bool first = true;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    if (item == "all") {
      o = PassOptions();
    } else if (item == "none") {
      o = None();
    } else {
      bool on = true;
      std::string name = item;
      if (name[0] == '-') {
        on = false;
        name = name.substr(1);
      } else if (first) {
        o = None();  // "fold_batchnorm,fuse_gelu" means exactly these
      }
      bool found = false;
      for (const Entry& e : kPasses)
        if (name == e.name) {
          o.*(e.flag) = on;
          found = true;
        }
      if (!found) {
        std::string names;
        for (const Entry& e : kPasses) names += std::string(names.empty() ? "" : ", ") + e.name;
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("unknown pass '{}' (known: all, none, {})", name, names));
      }
    }
    first = false;
  }
  return o;
}

std::string PassOptions::ToString() const {
  std::string s;
  for (const Entry& e : kPasses)
    if (this->*(e.flag)) s += std::string(s.empty() ? "" : ",") + e.name;
  return s.empty() ? "none" : s;
}

PassReport Optimize(Graph& g, const PassOptions& opts) {
  PassReport report;
  // One running total for every fold of this compilation; the constants held now are the file's
  // weights, which folded re-layouts of them (channels_last) may replace without counting.
  ScopedFoldBudget budget(opts.memory_limit_bytes, ConstantBytes(g));
  InferShapesAndFold(g);
  for (const Entry& e : kPasses) {
    if (!(opts.*(e.flag))) continue;
    int n = e.run(g);
    report.rewrites.push_back({e.name, n});
    if (n > 0) {
      g.RemoveDeadNodes();
      g.TopoSort();
      InferShapesAndFold(g);
    }
  }
  return report;
}

}  // namespace effi::passes
