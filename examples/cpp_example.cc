// effi C++ API example: load a model, run it on zeros (or on a .npy tensor), print the top-1 class.
//   effi_example_cpp MODEL.onnx [INPUT.npy]
#include <cstdio>
#include <exception>

#include "effi/effi.hpp"
#include "util/npy.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s MODEL.onnx [INPUT.npy]\n", argv[0]);
    return 2;
  }
  try {
    std::shared_ptr<effi::Model> model = effi::Model::Load(argv[1]);
    const effi::TensorInfo& info = model->inputs().at(0);

    effi::Tensor input;
    if (argc == 3) {
      effi::npy::Array a = effi::npy::Load(argv[2]);
      if (a.dtype != "float32")
        throw effi::Error(effi::ErrorCode::kInvalidArgument, "need float32");
      input = {effi::ElementType::kFloat32, a.shape, a.bytes};
    } else {
      std::vector<int64_t> shape = info.shape;
      for (int64_t& d : shape)
        if (d < 0) d = 1;  // dynamic (batch) dims
      input = effi::Tensor::Zeros(info.type, shape);
    }

    effi::Session session(model);
    effi::Tensor out = session.Run({{info.name, input}}).at(0);
    if (out.type != effi::ElementType::kFloat32 || out.elements() == 0)
      throw effi::Error(effi::ErrorCode::kUnsupported, "expected a float32 output");
    int64_t best = 0;
    for (int64_t i = 1; i < out.elements(); ++i)
      if (out.floats()[i] > out.floats()[best]) best = i;
    std::printf("top-1: class %lld (score %.4f)\n", static_cast<long long>(best),
                out.floats()[best]);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
