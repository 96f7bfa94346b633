// Hostile and malformed ONNX files (tests/testdata/hostile, made by make_hostile_models.py), random
// bytes and truncated real models: each load must end in one effi::Error with the right code and a
// message naming the culprit, never a crash, hang or giant allocation.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "effi/effi.hpp"

namespace effi {
namespace {

const std::string kHostile = std::string(EFFI_TESTDATA_DIR) + "/hostile/";
const std::string kModels = EFFI_TEST_MODELS_DIR;

std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

struct Case {
  const char* file;
  ErrorCode code;
  std::vector<std::string> needles;  // all must appear in the message
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.file; }

class HostileModel : public ::testing::TestWithParam<Case> {};

TEST_P(HostileModel, FailsCleanly) {
  const Case& c = GetParam();
  try {
    Model::Load(kHostile + c.file);
    FAIL() << c.file << " loaded";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(static_cast<int>(e.code()), static_cast<int>(c.code)) << msg;
    for (const std::string& n : c.needles)
      EXPECT_NE(msg.find(n), std::string::npos) << "'" << n << "' not in: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one-line message: " << msg;
    std::printf("[msg] %-32s %s\n", c.file, msg.c_str());
  }
}

const ErrorCode kModel = ErrorCode::kInvalidModel, kUnsup = ErrorCode::kUnsupported,
                kIo = ErrorCode::kIo;

INSTANTIATE_TEST_SUITE_P(
    Files, HostileModel,
    ::testing::Values(
        Case{"empty.onnx", kModel, {"empty"}}, Case{"no_graph.onnx", kModel, {"no graph"}},
        Case{"deep_nesting.onnx", kModel, {"deep_nesting.onnx"}},
        // Sizes.
        Case{"init_dim_2e40.onnx", kModel, {"'w'"}},
        Case{"init_dims_overflow.onnx", kModel, {"'w'"}},
        Case{"init_negative_dim.onnx", kModel, {"'w'"}},
        Case{"init_raw_size_mismatch.onnx", kModel, {"'w'", "12"}},
        Case{"init_float_data_mismatch.onnx", kModel, {"'w'"}},
        Case{"input_dim_2e40.onnx", kModel, {"'x'"}},
        // Reported at the first node using 'x' ("output 0 of node 'relu' ... too large").
        Case{"input_dims_product_2e40.onnx", kModel, {"1048576"}},
        Case{"input_negative_dim.onnx", kModel, {"'x'"}},
        // Structure.
        Case{"cycle.onnx", kModel, {"cycle"}},
        Case{"missing_initializer.onnx", kModel, {"'weight'", "'mm'"}},
        Case{"output_produced_twice.onnx", kModel, {"'y'", "more than once"}},
        Case{"output_never_produced.onnx", kModel, {"'z'"}},
        Case{"no_outputs.onnx", kModel, {"no outputs"}}, Case{"opset_99.onnx", kUnsup, {"99"}},
        // Ops.
        Case{"unsupported_op.onnx", kUnsup, {"warp_node", "GridSample", "ai.onnx"}},
        Case{"unknown_attribute.onnx", kUnsup, {"'relu'", "fancy"}},
        Case{"custom_domain.onnx", kUnsup, {"custom_node", "FastGelu", "com.example"}},
        Case{"mean_int64.onnx", kUnsup, {"'avg'", "Mean", "floating types only"}},
        // Shapes.
        Case{"matmul_inner_mismatch.onnx", kModel, {"'mm'"}},
        Case{"add_not_broadcastable.onnx", kModel, {"'add'", "broadcast"}},
        Case{"reshape_impossible.onnx", kModel, {"'reshape'"}},
        Case{"reshape_two_minus_one.onnx", kModel, {"'reshape'"}},
        // Attribute / constant values.
        Case{"conv_stride_zero.onnx", kModel, {"'conv'"}},
        Case{"pool_kernel_zero.onnx", kModel, {"'pool'"}},
        Case{"gather_index_out_of_range.onnx", kModel, {"'gather'"}},
        Case{"transpose_bad_perm.onnx", kModel, {"'t'"}},
        Case{"range_huge.onnx", kModel, {"'range'"}},
        Case{"expand_huge.onnx", kModel, {"'expand'"}},
        Case{"split_bad_sizes.onnx", kModel, {"'split'"}},
        Case{"softmax_axis_out_of_range.onnx", kModel, {"'sm'"}},
        // External data.
        Case{"ext_escape.onnx", kModel, {"'w'", "escapes"}},
        Case{"ext_absolute.onnx", kModel, {"'w'", "/etc/passwd"}},
        Case{"ext_beyond_end.onnx", kModel, {"'w'", "ext_data.bin"}},
        Case{"ext_offset_past_end.onnx", kModel, {"'w'", "ext_data.bin"}},
        Case{"ext_length_mismatch.onnx", kModel, {"'w'"}},
        Case{"ext_missing_file.onnx", kIo, {"'w'", "no_such_file.bin"}}),
    [](const auto& info) {
      std::string s = info.param.file;
      return s.substr(0, s.find('.'));
    });

TEST(ExternalData, InFolderFileLoads) {
  auto model = Model::Load(kHostile + "ext_ok.onnx");
  Session s(model);
  std::vector<float> x(16, 1.0f);
  const Tensor y = s.Run({{"x", Tensor::Float({16}, x)}})[0];
  ASSERT_EQ(y.elements(), 16);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(y.floats()[i], 1.0f + static_cast<float>(i));
}

TEST(ExternalData, NotAllowedFromMemory) {
  const std::vector<uint8_t> bytes = ReadBytes(kHostile + "ext_ok.onnx");
  try {
    Model::LoadFromMemory(bytes.data(), bytes.size());
    FAIL() << "loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidModel);
    EXPECT_NE(std::string(e.what()).find("'w'"), std::string::npos) << e.what();
  }
}

TEST(LoadErrors, MissingFileAndDirectory) {
  try {
    Model::Load(kHostile + "does_not_exist.onnx");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_NE(std::string(e.what()).find("does_not_exist.onnx"), std::string::npos);
  }
  try {
    Model::Load(kHostile);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
  }
}

TEST(LoadErrors, EmptyBuffer) {
  const uint8_t dummy = 0;
  try {
    Model::LoadFromMemory(&dummy, 0);
    FAIL() << "empty buffer loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidModel) << e.what();
  }
}

// Any outcome but a crash is acceptable for garbage, as long as failures are effi::Errors of the
// model kinds.
bool LoadsOrFailsCleanly(const void* data, size_t size, std::string* msg) {
  try {
    auto m = Model::LoadFromMemory(data, size);
    return true;
  } catch (const Error& e) {
    *msg = e.what();
    EXPECT_TRUE(e.code() == ErrorCode::kInvalidModel || e.code() == ErrorCode::kUnsupported)
        << e.what();
    return false;
  }
}

TEST(RandomBytes, NeverCrash) {
  std::mt19937 rng(42);
  int loaded = 0;
  for (int i = 0; i < 400; ++i) {
    std::vector<uint8_t> buf(rng() % 2048);
    for (uint8_t& b : buf) b = static_cast<uint8_t>(rng());
    // Half of them start like a real model (ir_version field, then a graph field tag).
    if (i % 2 && buf.size() > 4) buf[0] = 0x08, buf[1] = 0x07, buf[2] = 0x3a;
    std::string msg;
    loaded += LoadsOrFailsCleanly(buf.data(), buf.size(), &msg);
  }
  EXPECT_EQ(loaded, 0);
}

// Truncations of a real model at many offsets (dense near the start, where the framing is, then
// spread over the whole file): each fails cleanly or, cut exactly at a field boundary, loads.
TEST(TruncatedModel, EveryPrefixFailsCleanly) {
  for (const char* name : {"tiny_op11.onnx", "tiny_dynbatch_op17.onnx"}) {
    const std::vector<uint8_t> bytes = ReadBytes(kModels + "/" + name);
    ASSERT_GT(bytes.size(), 10000u);
    std::vector<size_t> cuts;
    for (size_t k = 0; k < 512; ++k) cuts.push_back(k);
    for (size_t k = 512; k < bytes.size(); k += bytes.size() / 300 + 1) cuts.push_back(k);
    for (size_t k = 1; k <= 64; ++k) cuts.push_back(bytes.size() - k);
    int failed = 0;
    for (size_t cut : cuts) {
      std::string msg;
      if (!LoadsOrFailsCleanly(bytes.data(), cut, &msg)) ++failed;
    }
    EXPECT_GT(failed, static_cast<int>(cuts.size()) * 9 / 10) << name;
  }
}

// Truncated file on disk (the file path route) reports the path.
TEST(TruncatedModel, FromFileNamesThePath) {
  const std::vector<uint8_t> bytes = ReadBytes(kModels + "/tiny_op13.onnx");
  const std::string path =
      (std::filesystem::temp_directory_path() / "effi_truncated_test.onnx").string();
  {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size() / 2));
  }
  try {
    Model::Load(path);
    FAIL() << "truncated model loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidModel);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

// Single-byte corruption of a real model: never a crash.
TEST(CorruptedModel, ByteFlipsNeverCrash) {
  const std::vector<uint8_t> bytes = ReadBytes(kModels + "/tiny_l7like_op11.onnx");
  std::mt19937 rng(7);
  for (int i = 0; i < 150; ++i) {
    std::vector<uint8_t> b = bytes;
    // Mostly in the first 20 kB (graph structure; the weights come later).
    const size_t pos = rng() % std::min<size_t>(b.size(), i % 3 ? 20000 : b.size());
    b[pos] = static_cast<uint8_t>(rng());
    std::string msg;
    LoadsOrFailsCleanly(b.data(), b.size(), &msg);
  }
}

}  // namespace
}  // namespace effi
