// A tiny QDQ network (Conv -> Relu -> MatMul with u8 activations and per-channel int8 weights, as
// ONNX Runtime's quantize_static writes it; tests/testdata/make_qdq_model.py) run end to end from
// the ONNX file, against a numpy computation of the same QDQ semantics. Tolerance: none. The
// generator keeps every float Conv/MatMul output more than twice its float32 summation error
// bound away from a rounding tie of the QuantizeLinear after it, so effi's summation order cannot
// change a quantized value, and everything else is elementwise float32 arithmetic that numpy and
// C++ round identically (see the script's header).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "effi/effi.hpp"
#include "util/npy.h"

namespace effi {
namespace {

const std::string kDir = std::string(EFFI_TESTDATA_DIR) + "/qdq";

std::vector<float> Floats(const npy::Array& a) {
  EXPECT_EQ(a.dtype, "float32");
  std::vector<float> v(a.bytes.size() / sizeof(float));
  std::memcpy(v.data(), a.bytes.data(), v.size() * sizeof(float));
  return v;
}

void ExpectWrongType(Session& session) {
  try {
    session.Run({{"q", Tensor::Zeros(ElementType::kUInt8, {4})}});
    ADD_FAILURE() << "a uint8 tensor was accepted for an int8 input";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
  }
}

TEST(QdqModel, MatchesNumpyQdqSemanticsExactly) {
  const npy::Array x = npy::Load(kDir + "/input.npy");
  const npy::Array want = npy::Load(kDir + "/expected.npy");
  const std::vector<float> expected = Floats(want);
  for (const char* passes : {"all", "none"}) {
    ModelOptions options;
    options.passes = passes;
    auto model = Model::Load(kDir + "/tiny_qdq.onnx", options);
    // The file is in QDQ form: 4 activation QuantizeLinear, 4 + 3 weight/bias DequantizeLinear.
    const ModelStats stats = model->Stats();
    EXPECT_EQ(stats.ops_imported.at("QuantizeLinear"), 4);
    EXPECT_EQ(stats.ops_imported.at("DequantizeLinear"), 7);
    Session session(model);
    const std::vector<Tensor> out = session.Run({{"x", Tensor::Float(x.shape, Floats(x))}});
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(out[0].shape, want.shape);
    const float* got = out[0].floats();
    int64_t differ = 0;
    for (size_t i = 0; i < expected.size(); ++i)
      if (got[i] != expected[i] && differ++ < 5)
        ADD_FAILURE() << "passes=" << passes << " y[" << i << "] = " << got[i] << ", numpy "
                      << expected[i];
    EXPECT_EQ(differ, 0) << "passes=" << passes << ": " << differ << " of " << expected.size()
                         << " outputs differ";
  }
}

// int8 tensors in and out through the public API (Session::Run checks the input's type).
TEST(QdqModel, Int8InputAndOutput) {
  auto model = Model::Load(kDir + "/s8_io.onnx");
  ASSERT_EQ(model->inputs()[0].type, ElementType::kInt8);
  ASSERT_EQ(model->outputs()[0].type, ElementType::kInt8);
  Session session(model);
  Tensor q = Tensor::Zeros(ElementType::kInt8, {4});
  const int8_t in[4] = {-128, -3, 0, 60};
  std::memcpy(q.bytes.data(), in, 4);
  const std::vector<Tensor> out = session.Run({{"q", q}});
  ASSERT_EQ(out[0].type, ElementType::kInt8);
  // y = saturate(2 * (q + 3) + 5): (q - (-3)) * 0.5 / 0.25 + 5.
  int8_t y[4];
  std::memcpy(y, out[0].bytes.data(), 4);
  EXPECT_EQ(std::vector<int8_t>(y, y + 4), (std::vector<int8_t>{-128, 5, 11, 127}));
  ExpectWrongType(session);
}

}  // namespace
}  // namespace effi
