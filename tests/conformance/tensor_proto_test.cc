// Unit tests of onnx_io::LoadTensorProto*: typed fields and raw_data for every supported type,
// double narrowing, scalars, and the errors for unsupported types and malformed input.
#include "onnx/tensor_proto.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "effi/effi.hpp"
#include "onnx.pb.h"

namespace effi {
namespace {

Tensor Load(const onnx::TensorProto& t) {
  const std::string bytes = t.SerializeAsString();
  return onnx_io::LoadTensorProtoFromMemory(bytes.data(), bytes.size(), "test");
}

template <typename T>
std::vector<T> Values(const Tensor& t) {
  std::vector<T> v(t.bytes.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), t.bytes.data(), t.bytes.size());
  return v;
}

ErrorCode CodeOf(const std::string& bytes) {
  try {
    onnx_io::LoadTensorProtoFromMemory(bytes.data(), bytes.size(), "test");
  } catch (const Error& e) {
    return e.code();
  }
  return ErrorCode::kOk;
}

TEST(TensorProto, FloatTypedField) {
  onnx::TensorProto t;
  t.set_data_type(onnx::TensorProto::FLOAT);
  t.add_dims(2);
  t.add_dims(2);
  for (float f : {1.0f, -2.5f, 3.0f, 0.0f}) t.add_float_data(f);
  Tensor x = Load(t);
  EXPECT_EQ(x.type, ElementType::kFloat32);
  EXPECT_EQ(x.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(Values<float>(x), (std::vector<float>{1.0f, -2.5f, 3.0f, 0.0f}));
}

TEST(TensorProto, FloatRawData) {
  const std::vector<float> v{0.5f, 1.5f, -7.0f};
  onnx::TensorProto t;
  t.set_data_type(onnx::TensorProto::FLOAT);
  t.add_dims(3);
  t.set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
  EXPECT_EQ(Values<float>(Load(t)), v);
}

TEST(TensorProto, DoubleBecomesFloat32) {
  onnx::TensorProto typed;
  typed.set_data_type(onnx::TensorProto::DOUBLE);
  typed.add_dims(2);
  typed.add_double_data(0.25);
  typed.add_double_data(-1e3);
  Tensor a = Load(typed);
  EXPECT_EQ(a.type, ElementType::kFloat32);
  EXPECT_EQ(Values<float>(a), (std::vector<float>{0.25f, -1000.0f}));

  const std::vector<double> v{3.5, 2.0};
  onnx::TensorProto raw;
  raw.set_data_type(onnx::TensorProto::DOUBLE);
  raw.add_dims(2);
  raw.set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(double)));
  EXPECT_EQ(Values<float>(Load(raw)), (std::vector<float>{3.5f, 2.0f}));
}

TEST(TensorProto, IntegerAndBoolTypes) {
  onnx::TensorProto i64;
  i64.set_data_type(onnx::TensorProto::INT64);
  i64.add_dims(2);
  i64.add_int64_data(-5);
  i64.add_int64_data(int64_t{1} << 40);
  Tensor a = Load(i64);
  EXPECT_EQ(a.type, ElementType::kInt64);
  EXPECT_EQ(Values<int64_t>(a), (std::vector<int64_t>{-5, int64_t{1} << 40}));

  onnx::TensorProto i32;
  i32.set_data_type(onnx::TensorProto::INT32);
  i32.add_dims(1);
  i32.add_int32_data(-7);
  EXPECT_EQ(Load(i32).type, ElementType::kInt32);
  EXPECT_EQ(Values<int32_t>(Load(i32)), (std::vector<int32_t>{-7}));

  onnx::TensorProto i8;  // int8 / uint8 / bool travel in int32_data
  i8.set_data_type(onnx::TensorProto::INT8);
  i8.add_dims(2);
  i8.add_int32_data(-128);
  i8.add_int32_data(127);
  EXPECT_EQ(Load(i8).type, ElementType::kInt8);
  EXPECT_EQ(Values<int8_t>(Load(i8)), (std::vector<int8_t>{-128, 127}));

  onnx::TensorProto u8;
  u8.set_data_type(onnx::TensorProto::UINT8);
  u8.add_dims(2);
  u8.set_raw_data(std::string("\x00\xff", 2));
  EXPECT_EQ(Load(u8).type, ElementType::kUInt8);
  EXPECT_EQ(Values<uint8_t>(Load(u8)), (std::vector<uint8_t>{0, 255}));

  onnx::TensorProto b;
  b.set_data_type(onnx::TensorProto::BOOL);
  b.add_dims(3);
  for (int v : {1, 0, 1}) b.add_int32_data(v);
  EXPECT_EQ(Load(b).type, ElementType::kBool);
  EXPECT_EQ(Values<uint8_t>(Load(b)), (std::vector<uint8_t>{1, 0, 1}));
}

TEST(TensorProto, ScalarAndEmpty) {
  onnx::TensorProto s;
  s.set_data_type(onnx::TensorProto::FLOAT);
  s.add_float_data(4.0f);
  Tensor x = Load(s);
  EXPECT_TRUE(x.shape.empty());
  EXPECT_EQ(Values<float>(x), (std::vector<float>{4.0f}));

  onnx::TensorProto e;
  e.set_data_type(onnx::TensorProto::INT64);
  e.add_dims(0);
  e.add_dims(3);
  Tensor y = Load(e);
  EXPECT_EQ(y.shape, (std::vector<int64_t>{0, 3}));
  EXPECT_TRUE(y.bytes.empty());
}

TEST(TensorProto, Errors) {
  onnx::TensorProto f16;
  f16.set_data_type(onnx::TensorProto::FLOAT16);
  f16.add_dims(1);
  f16.add_int32_data(0);
  EXPECT_EQ(CodeOf(f16.SerializeAsString()), ErrorCode::kUnsupported);

  onnx::TensorProto short_raw;
  short_raw.set_data_type(onnx::TensorProto::FLOAT);
  short_raw.add_dims(2);
  short_raw.set_raw_data(std::string(4, '\0'));
  EXPECT_EQ(CodeOf(short_raw.SerializeAsString()), ErrorCode::kInvalidModel);

  onnx::TensorProto short_typed;
  short_typed.set_data_type(onnx::TensorProto::INT64);
  short_typed.add_dims(3);
  short_typed.add_int64_data(1);
  EXPECT_EQ(CodeOf(short_typed.SerializeAsString()), ErrorCode::kInvalidModel);

  onnx::TensorProto negative;
  negative.set_data_type(onnx::TensorProto::FLOAT);
  negative.add_dims(-1);
  EXPECT_EQ(CodeOf(negative.SerializeAsString()), ErrorCode::kInvalidModel);

  onnx::TensorProto external;
  external.set_data_type(onnx::TensorProto::FLOAT);
  external.add_dims(1);
  external.set_data_location(onnx::TensorProto::EXTERNAL);
  EXPECT_EQ(CodeOf(external.SerializeAsString()), ErrorCode::kUnsupported);

  EXPECT_EQ(CodeOf(std::string("\xff\xff\xff\xff\x0f", 5)), ErrorCode::kInvalidModel);

  try {
    onnx_io::LoadTensorProtoFile("/nonexistent/effi/input_0.pb");
    ADD_FAILURE() << "no error for a missing file";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
  }
}

}  // namespace
}  // namespace effi
