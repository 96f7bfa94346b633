// Tests of the C API (include/effi/effi.h): the tiny test models against ONNX Runtime's outputs,
// status codes and effi_last_error() for every failure, buffer-size handling, thread-locality.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "effi/effi.h"
#include "effi/effi.hpp"
#include "util/npy.h"

extern "C" effi_status effi_test_run_from_c(const char* path, const float* input, float* out,
                                            size_t capacity, size_t* out_count);
extern "C" effi_status effi_test_load_with_limit_from_c(const char* path,
                                                        int64_t memory_limit_bytes);

namespace {

const std::string kModels = EFFI_TEST_MODELS_DIR;

std::vector<float> Floats(const effi::npy::Array& a) {
  std::vector<float> v(a.bytes.size() / sizeof(float));
  std::memcpy(v.data(), a.bytes.data(), a.bytes.size());
  return v;
}

void ExpectClose(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  float max_ref = 0;
  for (float w : want) max_ref = std::max(max_ref, std::fabs(w));
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-4f * max_ref) << i;
  EXPECT_EQ(std::max_element(got.begin(), got.end()) - got.begin(),
            std::max_element(want.begin(), want.end()) - want.begin());
}

// Owns the handles a test creates.
struct Handles {
  effi_model* model = nullptr;
  effi_session* session = nullptr;
  ~Handles() {
    effi_session_free(session);
    effi_model_free(model);
  }
};

TEST(CApi, VersionMatchesTheCppApi) {
  EXPECT_STREQ(effi_version(), effi::Version());
  EXPECT_STREQ(effi_status_string(EFFI_IO_ERROR), "EFFI_IO_ERROR");
  EXPECT_EQ(static_cast<int>(EFFI_INVALID_MODEL), static_cast<int>(effi::ErrorCode::kInvalidModel));
  EXPECT_EQ(static_cast<int>(EFFI_INTERNAL), static_cast<int>(effi::ErrorCode::kInternal));
}

TEST(CApi, TinyModelMatchesOnnxRuntime) {
  Handles h;
  ASSERT_EQ(effi_model_load((kModels + "/tiny_op11.onnx").c_str(), &h.model), EFFI_OK)
      << effi_last_error();
  EXPECT_STREQ(effi_last_error(), "");
  ASSERT_EQ(effi_model_num_inputs(h.model), 1u);
  ASSERT_EQ(effi_model_num_outputs(h.model), 1u);
  EXPECT_STREQ(effi_model_input_name(h.model, 0), "data");
  EXPECT_STREQ(effi_model_output_name(h.model, 0), "output");
  EXPECT_EQ(effi_model_input_name(h.model, 1), nullptr);

  int64_t dims[EFFI_MAX_RANK];
  size_t rank = EFFI_MAX_RANK;
  ASSERT_EQ(effi_model_input_shape(h.model, 0, dims, &rank), EFFI_OK);
  ASSERT_EQ(rank, 4u);
  EXPECT_EQ(std::vector<int64_t>(dims, dims + 4), (std::vector<int64_t>{1, 3, 64, 64}));
  rank = EFFI_MAX_RANK;
  ASSERT_EQ(effi_model_output_shape(h.model, 0, dims, &rank), EFFI_OK);
  EXPECT_EQ(std::vector<int64_t>(dims, dims + rank), (std::vector<int64_t>{1, 10}));

  ASSERT_EQ(effi_session_create(h.model, 1, &h.session), EFFI_OK) << effi_last_error();
  for (int k = 0; k < 2; ++k) {
    const effi::npy::Array in =
        effi::npy::Load(kModels + "/tiny_op11/in_" + std::to_string(k) + ".npy");
    const std::vector<float> x = Floats(in);
    std::vector<float> out(10, -1.0f);
    int64_t out_shape[EFFI_MAX_RANK];
    size_t out_rank = EFFI_MAX_RANK;
    ASSERT_EQ(effi_session_run_f32(h.session, "data", x.data(), in.shape.data(), in.shape.size(),
                                   out.data(), out.size(), out_shape, &out_rank),
              EFFI_OK)
        << effi_last_error();
    ASSERT_EQ(out_rank, 2u);
    EXPECT_EQ(out_shape[0], 1);
    EXPECT_EQ(out_shape[1], 10);
    ExpectClose(out,
                Floats(effi::npy::Load(kModels + "/tiny_op11/ort_" + std::to_string(k) + ".npy")));
  }
}

TEST(CApi, DynamicBatchAndNullInputName) {
  Handles h;
  ASSERT_EQ(effi_model_load((kModels + "/tiny_dynbatch_op13.onnx").c_str(), &h.model), EFFI_OK)
      << effi_last_error();
  int64_t dims[4];
  size_t rank = 4;
  ASSERT_EQ(effi_model_input_shape(h.model, 0, dims, &rank), EFFI_OK);
  EXPECT_EQ(dims[0], -1);
  ASSERT_EQ(effi_session_create(h.model, 0, &h.session), EFFI_OK);
  const effi::npy::Array in = effi::npy::Load(kModels + "/tiny_dynbatch_op13/in_2.npy");
  ASSERT_EQ(in.shape[0], 3);
  std::vector<float> out(30);
  int64_t out_shape[2];
  size_t out_rank = 2;
  ASSERT_EQ(effi_session_run_f32(h.session, nullptr, Floats(in).data(), in.shape.data(), 4,
                                 out.data(), out.size(), out_shape, &out_rank),
            EFFI_OK)
      << effi_last_error();
  EXPECT_EQ(out_shape[0], 3);
  ExpectClose(out, Floats(effi::npy::Load(kModels + "/tiny_dynbatch_op13/ort_2.npy")));
}

TEST(CApi, SessionOutlivesTheModelHandle) {
  effi_model* model = nullptr;
  effi_session* session = nullptr;
  ASSERT_EQ(effi_model_load((kModels + "/tiny_op11.onnx").c_str(), &model), EFFI_OK);
  ASSERT_EQ(effi_session_create(model, 1, &session), EFFI_OK);
  effi_model_free(model);
  const effi::npy::Array in = effi::npy::Load(kModels + "/tiny_op11/in_0.npy");
  std::vector<float> out(10);
  int64_t out_shape[EFFI_MAX_RANK];
  size_t out_rank = EFFI_MAX_RANK;
  EXPECT_EQ(effi_session_run_f32(session, nullptr, Floats(in).data(), in.shape.data(), 4,
                                 out.data(), 10, out_shape, &out_rank),
            EFFI_OK)
      << effi_last_error();
  effi_session_free(session);
  ExpectClose(out, Floats(effi::npy::Load(kModels + "/tiny_op11/ort_0.npy")));
}

TEST(CApi, WorksFromC) {
  const effi::npy::Array in = effi::npy::Load(kModels + "/tiny_op11/in_1.npy");
  std::vector<float> out(16);
  size_t count = 0;
  ASSERT_EQ(effi_test_run_from_c((kModels + "/tiny_op11.onnx").c_str(), Floats(in).data(),
                                 out.data(), out.size(), &count),
            EFFI_OK)
      << effi_last_error();
  ASSERT_EQ(count, 10u);
  out.resize(count);
  ExpectClose(out, Floats(effi::npy::Load(kModels + "/tiny_op11/ort_1.npy")));
}

TEST(CApi, ModelOptions) {
  const std::string tiny = kModels + "/tiny_op11.onnx";
  Handles h;
  // NULL and all-zero options are the defaults.
  ASSERT_EQ(effi_model_load_with_options(tiny.c_str(), nullptr, &h.model), EFFI_OK)
      << effi_last_error();
  effi_model_free(h.model);
  h.model = nullptr;
  effi_model_options options{};
  ASSERT_EQ(effi_model_load_with_options(tiny.c_str(), &options, &h.model), EFFI_OK);
  effi_model_free(h.model);
  h.model = reinterpret_cast<effi_model*>(0x1);  // must be reset to NULL on failure
  options.memory_limit_bytes = 1024;
  EXPECT_EQ(effi_model_load_with_options(tiny.c_str(), &options, &h.model), EFFI_INVALID_MODEL);
  EXPECT_EQ(h.model, nullptr);
  EXPECT_NE(std::string(effi_last_error()).find("over the memory limit of 1 KiB"),
            std::string::npos)
      << effi_last_error();
  options.memory_limit_bytes = -1;  // unlimited
  options.passes = "none";
  ASSERT_EQ(effi_model_load_with_options(tiny.c_str(), &options, &h.model), EFFI_OK);
  options.memory_limit_bytes = -7;
  effi_model* other = nullptr;
  EXPECT_EQ(effi_model_load_with_options(tiny.c_str(), &options, &other), EFFI_INVALID_ARGUMENT);
  EXPECT_NE(std::string(effi_last_error()).find("memory_limit_bytes"), std::string::npos);
  options.memory_limit_bytes = 0;
  options.passes = "fuse_everything";
  EXPECT_EQ(effi_model_load_with_options(tiny.c_str(), &options, &other), EFFI_INVALID_ARGUMENT);
  EXPECT_EQ(other, nullptr);
  // From C.
  EXPECT_EQ(effi_test_load_with_limit_from_c(tiny.c_str(), 0), EFFI_OK) << effi_last_error();
  EXPECT_EQ(effi_test_load_with_limit_from_c(tiny.c_str(), 2048), EFFI_INVALID_MODEL);
  EXPECT_NE(std::string(effi_last_error()).find("memory limit of 2 KiB"), std::string::npos);
}

TEST(CApi, MissingFileIsAnIoError) {
  effi_model* model = reinterpret_cast<effi_model*>(0x1);  // must be reset to NULL
  const std::string path = "/nonexistent/dir/model.onnx";
  EXPECT_EQ(effi_model_load(path.c_str(), &model), EFFI_IO_ERROR);
  EXPECT_EQ(model, nullptr);
  EXPECT_NE(std::string(effi_last_error()).find(path), std::string::npos) << effi_last_error();
  // The C path reports the same.
  size_t count = 0;
  EXPECT_EQ(effi_test_run_from_c(path.c_str(), nullptr, nullptr, 0, &count), EFFI_IO_ERROR);
  EXPECT_NE(std::string(effi_last_error()), "");
}

TEST(CApi, BadModelFiles) {
  const std::string dir = testing::TempDir();
  const std::string random = dir + "/effi_c_api_random.onnx";
  const std::string truncated = dir + "/effi_c_api_truncated.onnx";
  {
    std::ofstream f(random, std::ios::binary);
    for (int i = 0; i < 4096; ++i) f.put(static_cast<char>((i * 7919 + 13) & 0xff));
    std::ifstream src(kModels + "/tiny_op11.onnx", std::ios::binary);
    std::string head(1000, '\0');
    src.read(head.data(), 1000);
    std::ofstream(truncated, std::ios::binary) << head;
  }
  effi_model* model = nullptr;
  EXPECT_EQ(effi_model_load(random.c_str(), &model), EFFI_INVALID_MODEL) << effi_last_error();
  EXPECT_EQ(model, nullptr);
  EXPECT_NE(std::string(effi_last_error()), "");
  EXPECT_EQ(effi_model_load(truncated.c_str(), &model), EFFI_INVALID_MODEL) << effi_last_error();
  EXPECT_EQ(model, nullptr);
  std::filesystem::remove(random);
  std::filesystem::remove(truncated);
}

TEST(CApi, RunErrors) {
  Handles h;
  ASSERT_EQ(effi_model_load((kModels + "/tiny_op11.onnx").c_str(), &h.model), EFFI_OK);
  ASSERT_EQ(effi_session_create(h.model, 1, &h.session), EFFI_OK);
  std::vector<float> x(3 * 64 * 64), out(10);
  const int64_t shape[4] = {1, 3, 64, 64};
  const int64_t wrong[4] = {1, 3, 32, 32};
  int64_t out_shape[EFFI_MAX_RANK];
  size_t out_rank = EFFI_MAX_RANK;

  EXPECT_EQ(effi_session_run_f32(h.session, "nope", x.data(), shape, 4, out.data(), 10, out_shape,
                                 &out_rank),
            EFFI_INVALID_ARGUMENT);
  EXPECT_NE(std::string(effi_last_error()).find("nope"), std::string::npos) << effi_last_error();

  out_rank = EFFI_MAX_RANK;
  EXPECT_EQ(effi_session_run_f32(h.session, "data", x.data(), wrong, 4, out.data(), 10, out_shape,
                                 &out_rank),
            EFFI_INVALID_ARGUMENT);
  EXPECT_NE(std::string(effi_last_error()).find("shape"), std::string::npos) << effi_last_error();

  // Output buffer too small: the shape is still reported, the buffer untouched.
  out_rank = EFFI_MAX_RANK;
  std::vector<float> small(5, 42.0f);
  EXPECT_EQ(effi_session_run_f32(h.session, "data", x.data(), shape, 4, small.data(), small.size(),
                                 out_shape, &out_rank),
            EFFI_INVALID_ARGUMENT);
  EXPECT_EQ(out_rank, 2u);
  EXPECT_EQ(out_shape[1], 10);
  EXPECT_EQ(small[0], 42.0f);

  // Shape buffer too small.
  size_t tiny_rank = 1;
  EXPECT_EQ(effi_session_run_f32(h.session, "data", x.data(), shape, 4, out.data(), 10, out_shape,
                                 &tiny_rank),
            EFFI_INVALID_ARGUMENT);
  EXPECT_EQ(tiny_rank, 2u);

  // NULL arguments.
  out_rank = EFFI_MAX_RANK;
  EXPECT_EQ(effi_session_run_f32(nullptr, "data", x.data(), shape, 4, out.data(), 10, out_shape,
                                 &out_rank),
            EFFI_INVALID_ARGUMENT);
  EXPECT_EQ(effi_session_run_f32(h.session, "data", nullptr, shape, 4, out.data(), 10, out_shape,
                                 &out_rank),
            EFFI_INVALID_ARGUMENT);
  EXPECT_EQ(effi_session_run_f32(h.session, "data", x.data(), nullptr, 4, out.data(), 10, out_shape,
                                 &out_rank),
            EFFI_INVALID_ARGUMENT);
  const int64_t negative[4] = {1, 3, -64, 64};
  EXPECT_EQ(effi_session_run_f32(h.session, "data", x.data(), negative, 4, out.data(), 10,
                                 out_shape, &out_rank),
            EFFI_INVALID_ARGUMENT);
  effi_model* none = reinterpret_cast<effi_model*>(0x1);
  EXPECT_EQ(effi_model_load(nullptr, &none), EFFI_INVALID_ARGUMENT);
  EXPECT_EQ(none, nullptr);
  EXPECT_EQ(effi_model_load("x.onnx", nullptr), EFFI_INVALID_ARGUMENT);
  EXPECT_EQ(effi_session_create(nullptr, 1, nullptr), EFFI_INVALID_ARGUMENT);
  size_t r = 0;
  EXPECT_EQ(effi_model_input_shape(nullptr, 0, nullptr, &r), EFFI_INVALID_ARGUMENT);
  EXPECT_EQ(effi_model_num_inputs(nullptr), 0u);
  effi_model_free(nullptr);
  effi_session_free(nullptr);

  // A success clears the message.
  out_rank = EFFI_MAX_RANK;
  EXPECT_EQ(effi_session_run_f32(h.session, "data", x.data(), shape, 4, out.data(), 10, out_shape,
                                 &out_rank),
            EFFI_OK)
      << effi_last_error();
  EXPECT_STREQ(effi_last_error(), "");
}

TEST(CApi, ShapeQueries) {
  Handles h;
  ASSERT_EQ(effi_model_load((kModels + "/tiny_op11.onnx").c_str(), &h.model), EFFI_OK);
  size_t rank = 0;
  EXPECT_EQ(effi_model_input_shape(h.model, 0, nullptr, &rank), EFFI_OK);  // rank only
  EXPECT_EQ(rank, 4u);
  int64_t dims[2];
  rank = 2;
  EXPECT_EQ(effi_model_input_shape(h.model, 0, dims, &rank), EFFI_INVALID_ARGUMENT);
  EXPECT_EQ(rank, 4u);
  rank = 4;
  EXPECT_EQ(effi_model_input_shape(h.model, 5, dims, &rank), EFFI_INVALID_ARGUMENT);
  EXPECT_EQ(effi_model_input_shape(h.model, 0, dims, nullptr), EFFI_INVALID_ARGUMENT);
}

TEST(CApi, LastErrorIsThreadLocal) {
  effi_model* model = nullptr;
  ASSERT_EQ(effi_model_load("/nonexistent/a.onnx", &model), EFFI_IO_ERROR);
  const std::string mine = effi_last_error();
  std::string other;
  std::thread t([&] {
    other = effi_last_error();  // nothing failed on this thread
    effi_model* m = nullptr;
    effi_model_load("/nonexistent/b.onnx", &m);
  });
  t.join();
  EXPECT_EQ(other, "");
  EXPECT_EQ(std::string(effi_last_error()), mine);
}

}  // namespace
