// Tests for effi::npy: round trips, byte-identity with numpy.save, and hostile files that must fail
// with effi::Error (never a crash or a giant allocation).
#include "util/npy.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "effi/error.hpp"

namespace effi::npy {
namespace {

const std::string kShared = EFFI_SHARED_DIR;

std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

// Builds a .npy by hand: v1 prefix + arbitrary header text + payload.
std::vector<uint8_t> RawNpy(const std::string& header, size_t payload_bytes, uint8_t major = 1) {
  std::vector<uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', major, 0};
  const size_t n = header.size();
  out.push_back(static_cast<uint8_t>(n & 0xff));
  out.push_back(static_cast<uint8_t>(n >> 8));
  if (major >= 2) {
    out.push_back(static_cast<uint8_t>(n >> 16));
    out.push_back(static_cast<uint8_t>(n >> 24));
  }
  out.insert(out.end(), header.begin(), header.end());
  out.resize(out.size() + payload_bytes, 0);
  return out;
}

ErrorCode CodeOf(const std::vector<uint8_t>& bytes) {
  try {
    LoadFromMemory(bytes.data(), bytes.size(), "test");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("test"), std::string::npos) << e.what();
    return e.code();
  }
  return ErrorCode::kOk;
}

std::string TempPath(const std::string& name) {
  return (std::filesystem::path(testing::TempDir()) / name).string();
}

TEST(Npy, RoundTripAllDtypes) {
  const std::vector<std::pair<std::string, size_t>> dtypes = {
      {"float32", 4}, {"int64", 8}, {"int32", 4}, {"uint8", 1}, {"bool", 1}};
  const std::vector<std::vector<int64_t>> shapes = {{}, {0}, {5}, {2, 3, 4}, {1, 0, 7}};
  std::mt19937 rng(1);
  for (const auto& [dtype, item] : dtypes) {
    for (const auto& shape : shapes) {
      Array a;
      a.dtype = dtype;
      a.shape = shape;
      a.bytes.resize(NumElements(shape) * item);
      for (auto& b : a.bytes) b = static_cast<uint8_t>(dtype == "bool" ? rng() & 1 : rng());
      const std::string path = TempPath("rt_" + dtype + ".npy");
      Save(path, a);
      const Array b = Load(path);
      EXPECT_EQ(b.dtype, a.dtype);
      EXPECT_EQ(b.shape, a.shape);
      EXPECT_EQ(b.bytes, a.bytes);
      const std::vector<uint8_t> mem = SaveToMemory(a);
      EXPECT_EQ(mem.size() % 64, a.bytes.size() % 64) << "header must be 64-byte aligned";
      const Array c = LoadFromMemory(mem.data(), mem.size(), "mem");
      EXPECT_EQ(c.bytes, a.bytes);
    }
  }
}

TEST(Npy, SaveF32) {
  const std::vector<float> v = {1.5f, -2.0f, 3.25f, 0.0f, 1e-8f, 7.0f};
  const std::string path = TempPath("f32.npy");
  SaveF32(path, v.data(), {2, 3});
  const Array a = Load(path);
  ASSERT_EQ(a.dtype, "float32");
  ASSERT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  ASSERT_EQ(a.bytes.size(), v.size() * sizeof(float));
  EXPECT_EQ(std::memcmp(a.bytes.data(), v.data(), a.bytes.size()), 0);
}

TEST(Npy, ByteIdenticalToNumpy) {
  // Files written by numpy.save must come back out of SaveToMemory byte for byte.
  for (const char* rel : {"/golden/efficientformer_l1_fmnist96/labels_test64.npy",
                          "/golden/efficientformer_l1/torch_4_bittern.npy"}) {
    const std::string path = kShared + rel;
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "../shared not found: " << path;
    const std::vector<uint8_t> file = ReadBytes(path);
    const Array a = Load(path);
    EXPECT_EQ(SaveToMemory(a), file) << path;
  }
}

TEST(Npy, LoadsGoldenInput) {
  const std::string path = kShared + "/golden/efficientformer_l1_fmnist96/input_test64.npy";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "../shared not found: " << path;
  const Array a = Load(path);
  EXPECT_EQ(a.dtype, "float32");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{64, 3, 96, 96}));
  EXPECT_EQ(a.bytes.size(), size_t{64} * 3 * 96 * 96 * 4);
}

TEST(Npy, AcceptsVersion2AndVariants) {
  const std::string h = "{\"shape\": (2,), \"fortran_order\": False, \"descr\": \"<i4\"}\n";
  const auto v2 = RawNpy(h, 8, 2);
  const Array a = LoadFromMemory(v2.data(), v2.size(), "v2");
  EXPECT_EQ(a.dtype, "int32");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2}));
  const auto u1 = RawNpy("{'descr': '<u1', 'fortran_order': False, 'shape': (3L, 1L), }\n", 3);
  EXPECT_EQ(LoadFromMemory(u1.data(), u1.size(), "u1").shape, (std::vector<int64_t>{3, 1}));
}

TEST(Npy, MissingFileIsIo) {
  try {
    Load("/nonexistent/dir/x.npy");
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/x.npy"), std::string::npos);
  }
}

TEST(Npy, HostileHeaders) {
  const std::string ok_tail = "'fortran_order': False, 'shape': (2, 3), }\n";
  struct Case {
    const char* what;
    std::vector<uint8_t> bytes;
    ErrorCode code;
  };
  std::vector<uint8_t> bad_magic = RawNpy("{'descr': '<f4', " + ok_tail, 24);
  bad_magic[1] = 'X';
  std::vector<uint8_t> bad_version = RawNpy("{'descr': '<f4', " + ok_tail, 24);
  bad_version[6] = 9;
  std::vector<uint8_t> huge_v2 = RawNpy("{}", 0, 2);
  huge_v2[8] = huge_v2[9] = huge_v2[10] = huge_v2[11] = 0xff;  // 4 GB header length
  std::vector<uint8_t> long_v1 = RawNpy("{'descr': '<f4', " + ok_tail, 24);
  long_v1[8] = long_v1[9] = 0xff;  // 64 kB header in a 100-byte file
  const std::vector<Case> cases = {
      {"empty", {}, ErrorCode::kInvalidArgument},
      {"short", {0x93, 'N', 'U'}, ErrorCode::kInvalidArgument},
      {"bad magic", bad_magic, ErrorCode::kInvalidArgument},
      {"bad version", bad_version, ErrorCode::kUnsupported},
      {"4GB header", huge_v2, ErrorCode::kInvalidArgument},
      {"header past end", long_v1, ErrorCode::kInvalidArgument},
      {"not a dict", RawNpy("hello world\n", 0), ErrorCode::kInvalidArgument},
      {"unterminated", RawNpy("{'descr': '<f4", 0), ErrorCode::kInvalidArgument},
      {"missing shape", RawNpy("{'descr': '<f4', 'fortran_order': False}\n", 4),
       ErrorCode::kInvalidArgument},
      {"extra key", RawNpy("{'descr': '<f4', 'x': 1, " + ok_tail, 24), ErrorCode::kInvalidArgument},
      {"fortran", RawNpy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }\n", 24),
       ErrorCode::kUnsupported},
      {"big endian", RawNpy("{'descr': '>f4', " + ok_tail, 24), ErrorCode::kUnsupported},
      {"float64", RawNpy("{'descr': '<f8', " + ok_tail, 48), ErrorCode::kUnsupported},
      {"structured",
       RawNpy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }\n", 8),
       ErrorCode::kUnsupported},
      {"negative dim", RawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }\n", 0),
       ErrorCode::kInvalidArgument},
      {"huge dim",
       RawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }\n", 0),
       ErrorCode::kInvalidArgument},
      {"product overflow",
       RawNpy("{'descr': '<i8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }\n",
              0),
       ErrorCode::kInvalidArgument},
      {"large but short",
       RawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }\n", 16),
       ErrorCode::kInvalidArgument},
      {"payload short", RawNpy("{'descr': '<f4', " + ok_tail, 23), ErrorCode::kInvalidArgument},
      {"payload long", RawNpy("{'descr': '<f4', " + ok_tail, 25), ErrorCode::kInvalidArgument},
      {"junk after dict", RawNpy("{'descr': '<f4', " + ok_tail + "x", 24),
       ErrorCode::kInvalidArgument},
  };
  for (const Case& c : cases) EXPECT_EQ(CodeOf(c.bytes), c.code) << c.what;
}

TEST(Npy, EveryTruncationFails) {
  Array a;
  a.dtype = "int64";
  a.shape = {3, 2};
  a.bytes.resize(48, 7);
  const std::vector<uint8_t> full = SaveToMemory(a);
  for (size_t n = 0; n < full.size(); ++n) {
    const std::vector<uint8_t> cut(full.begin(), full.begin() + n);
    EXPECT_NE(CodeOf(cut), ErrorCode::kOk) << "truncated at " << n;
  }
  const std::string path = TempPath("trunc.npy");
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(full.data()), 100);
  EXPECT_THROW(Load(path), Error);
}

TEST(Npy, RandomCorruptionNeverCrashes) {
  Array a;
  a.dtype = "float32";
  a.shape = {4, 5};
  a.bytes.resize(80, 1);
  const std::vector<uint8_t> full = SaveToMemory(a);
  std::mt19937 rng(42);
  int failures = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<uint8_t> b = full;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) b[rng() % 128] = static_cast<uint8_t>(rng());
    try {
      const Array r = LoadFromMemory(b.data(), b.size(), "fuzz");
      EXPECT_EQ(r.bytes.size(), NumElements(r.shape) * ItemSize(r.dtype));
    } catch (const Error&) {
      ++failures;
    }
  }
  EXPECT_GT(failures, 0);
}

TEST(Npy, SaveRejectsInconsistentArray) {
  Array a;
  a.dtype = "float32";
  a.shape = {2, 2};
  a.bytes.resize(15);
  EXPECT_THROW(SaveToMemory(a), Error);
  a.dtype = "float16";
  a.bytes.resize(8);
  EXPECT_THROW(SaveToMemory(a), Error);
  a.dtype = "uint8";
  a.shape = {-1};
  EXPECT_THROW(SaveToMemory(a), Error);
  EXPECT_THROW(Save("/nonexistent/dir/out.npy", Array{"uint8", {1}, {0}}), Error);
}

}  // namespace
}  // namespace effi::npy
