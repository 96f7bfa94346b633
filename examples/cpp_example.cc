// effi C++ API example (public headers only): classify images with the model's own preprocessing
// and labels, or, without images, run the model once on zeros through a Session.
//   effi_example_cpp MODEL.onnx [IMAGE...]      (JPEG or PNG)
// Build against an installed effi: find_package(effi) + effi::effi (examples/CMakeLists.txt), or
//   c++ -std=c++17 cpp_example.cc $(pkg-config --cflags --libs effi)
#include <cstdio>
#include <exception>
#include <memory>
#include <vector>

#include "effi/effi.hpp"
#include "effi/image.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.onnx [IMAGE...]\n", argv[0]);
    return 2;
  }
  try {
    std::shared_ptr<effi::Model> model = effi::Model::Load(argv[1]);
    std::printf("effi %s, %s\n", effi::Version(), effi::ActiveIsa().c_str());

    if (argc > 2) {
      // Preprocessing (timm's, or the model's "preprocess" metadata) and labels come with it.
      effi::Classifier classifier(model);
      const effi::PreprocessOptions& p = classifier.preprocessing();
      std::printf("input %dx%d, %lld classes\n", p.width, p.height,
                  static_cast<long long>(classifier.classes()));
      for (int i = 2; i < argc; ++i) {
        std::printf("%s\n", argv[i]);
        for (const effi::Prediction& top : classifier.Classify(effi::DecodeImage(argv[i]), 3))
          std::printf("  %-20s %.4f\n", top.label.c_str(), top.probability);
      }
      return 0;
    }

    // The tensor API: inputs by name, dynamic dims (the batch) at 1.
    const effi::TensorInfo& info = model->inputs().at(0);
    std::vector<int64_t> shape = info.shape;
    for (int64_t& d : shape)
      if (d < 0) d = 1;
    effi::Session session(model);
    const effi::Tensor out =
        session.Run({{info.name, effi::Tensor::Zeros(info.type, shape)}}).at(0);
    if (out.type != effi::ElementType::kFloat32 || out.elements() == 0)
      throw effi::Error(effi::ErrorCode::kUnsupported, "expected a float32 output");
    int64_t best = 0;
    for (int64_t i = 1; i < out.elements(); ++i)
      if (out.floats()[i] > out.floats()[best]) best = i;
    std::printf("zeros: top-1 class %lld (score %.4f)\n", static_cast<long long>(best),
                out.floats()[best]);
    return 0;
  } catch (const effi::Error& e) {  // one line, with a code (effi/error.hpp)
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
