// libFuzzer target for ONNX import and compilation: any bytes must load or throw effi::Error; a
// model that loads is also run once on zero inputs when its inputs are small.
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "effi/effi.hpp"

namespace {

// Inputs above this many elements in total are not run (compiling already checked the shapes).
constexpr int64_t kMaxRunElements = int64_t{1} << 20;
// The memory budget models compile under: 64 MiB instead of the default 512 keeps every input fast
// (hostile models fold constants up to the budget; libFuzzer's timeout is 10 s and CI machines are
// slow under ASan) while the budget's checks are exercised the same way. mem_tile_chain.onnx: 0.7
// s.
constexpr int64_t kMemoryLimit = int64_t{64} << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    // Odd sizes compile without the optional passes, so both pipelines get fuzzed.
    const effi::ModelOptions options{.passes = (size & 1) ? "none" : "all",
                                     .memory_limit_bytes = kMemoryLimit};
    std::shared_ptr<effi::Model> model = effi::Model::LoadFromMemory(data, size, options);
    std::vector<std::pair<std::string, effi::Tensor>> inputs;
    int64_t total = 0;
    for (const effi::TensorInfo& info : model->inputs()) {
      std::vector<int64_t> shape = info.shape;
      int64_t n = 1;
      for (int64_t& d : shape) {
        if (d < 0) d = 1;  // dynamic dims: the compiled default
        n = d == 0 || n <= kMaxRunElements / d ? n * d : kMaxRunElements + 1;
      }
      total += n;
      if (total > kMaxRunElements) return 0;
      inputs.emplace_back(info.name, effi::Tensor::Zeros(info.type, shape));
    }
    effi::Session session(model);
    session.Run(inputs);
  } catch (const effi::Error&) {
    // Expected for malformed or unsupported models.
  }
  return 0;
}
