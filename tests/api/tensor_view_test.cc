// Session::Run with TensorView inputs (read in place, the Python module's zero-copy path): the same
// outputs as the Tensor overload, and one clear kInvalidArgument for null, misaligned, mistyped or
// misshapen views.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "effi/effi.hpp"

namespace {

const std::string kModels = EFFI_TEST_MODELS_DIR;

std::vector<float> RandomImage(size_t n) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist;
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// The message of the effi::Error `run` throws (kInvalidArgument expected), or "" if none.
template <typename F>
std::string InvalidArgument(F&& run) {
  try {
    run();
  } catch (const effi::Error& e) {
    EXPECT_EQ(e.code(), effi::ErrorCode::kInvalidArgument) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no effi::Error";
  return "";
}

TEST(TensorView, SameOutputsAsTensorRun) {
  auto model = effi::Model::Load(kModels + "/tiny_op11.onnx");
  const std::vector<int64_t> shape{1, 3, 64, 64};
  const std::vector<float> x = RandomImage(3 * 64 * 64);
  effi::Session a(model), b(model);
  const effi::Tensor want = a.Run({{"data", effi::Tensor::Float(shape, x)}}).at(0);
  const std::vector<std::pair<std::string, effi::TensorView>> views{
      {"data", {effi::ElementType::kFloat32, x.data(), shape}}};
  const effi::Tensor got = b.Run(views).at(0);
  ASSERT_EQ(got.shape, want.shape);
  EXPECT_EQ(got.bytes, want.bytes);  // bit-identical: only where the input is read from differs
  // The input is not modified (the plan never writes its inputs).
  EXPECT_EQ(x, RandomImage(x.size()));
}

TEST(TensorView, HostileViewsAreInvalidArgument) {
  auto model = effi::Model::Load(kModels + "/tiny_op11.onnx");
  effi::Session session(model);
  const std::vector<int64_t> shape{1, 3, 64, 64};
  std::vector<float> x(3 * 64 * 64 + 1, 0.5f);
  using Views = std::vector<std::pair<std::string, effi::TensorView>>;
  auto run = [&](effi::TensorView v, const std::string& name = "data") {
    return InvalidArgument([&] { session.Run(Views{{name, v}}); });
  };
  EXPECT_EQ(run({effi::ElementType::kFloat32, nullptr, shape}),
            "input 'data': no data for shape [1,3,64,64]");
  const void* misaligned = reinterpret_cast<const char*>(x.data()) + 1;
  EXPECT_EQ(run({effi::ElementType::kFloat32, misaligned, shape}),
            "input 'data': data is not aligned to its 4-byte elements");
  EXPECT_EQ(run({effi::ElementType::kInt64, x.data(), shape}),
            "input 'data' must be float32, got int64");
  EXPECT_EQ(run({effi::ElementType::kFloat32, x.data(), {1, 3, 64, 63}}),
            "input 'data' must have shape [1,3,64,64], got [1,3,64,63]");
  EXPECT_NE(run({effi::ElementType::kFloat32, x.data(), shape}, "dat").find("no input named 'dat'"),
            std::string::npos);
  // The session still runs after every rejected call.
  EXPECT_NO_THROW(session.Run(Views{{"data", {effi::ElementType::kFloat32, x.data(), shape}}}));
}

TEST(TensorView, TensorOverloadStillChecksByteCount) {
  auto model = effi::Model::Load(kModels + "/tiny_op11.onnx");
  effi::Session session(model);
  effi::Tensor t = effi::Tensor::Zeros(effi::ElementType::kFloat32, {1, 3, 64, 64});
  t.bytes.pop_back();
  EXPECT_EQ(InvalidArgument([&] {
              session.Run({{"data", t}});
            }),
            "input 'data': 49151 bytes do not match shape [1,3,64,64]");
}

}  // namespace
