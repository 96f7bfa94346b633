// Hostile and malformed ONNX files (tests/testdata/hostile, made by make_hostile_models.py), random
// bytes and truncated real models: each load must end in one effi::Error with the right code and a
// message naming the culprit, never a crash, hang or giant allocation.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <random>
#include <string>
#include <thread>
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
        // Tiny files that would allocate gigabytes: refused by the default 512 MiB memory limit.
        Case{"mem_constant_of_shape.onnx",
             kModel,
             {"node 'cos' (ConstantOfShape)", "2048 MiB", "memory limit of 512 MiB"}},
        Case{"mem_expand.onnx", kModel, {"node 'expand' (Expand)", "4096", "memory limit"}},
        Case{"mem_matmul_consts.onnx", kModel, {"node 'mm' (MatMul)", "4096 MiB", "memory limit"}},
        Case{"mem_tile_activation.onnx",
             kModel,
             {"node 'tile' (Tile)", "[1,3,14336,25088]", "memory limit", "--memory-limit"}},
        // int64 shape arithmetic at the extremes; pooling pads >= kernel.
        Case{"arith_slice_step_zero.onnx", kModel, {"'slice'", "step 0"}},
        Case{"arith_range_int64_span.onnx", kModel, {"'range'", "elements"}},
        Case{"arith_range_float_inf.onnx", kModel, {"'range'", "elements"}},
        Case{"arith_range_float_nan.onnx", kModel, {"'range'", "elements"}},
        Case{"arith_split_sum_overflow.onnx", kModel, {"'split'", "overflow"}},
        Case{"arith_tile_overflow.onnx", kModel, {"'tile'", "overflow"}},
        Case{"arith_conv_group_huge.onnx", kModel, {"'conv'", "group"}},
        Case{"arith_flatten_dims_overflow.onnx", kModel, {"'flatten'", "too large"}},
        Case{"arith_effi_conv_stride_zero.onnx", kModel, {"'econv'"}},
        Case{"arith_maxpool_pad_ge_kernel.onnx", kModel, {"'pool'", "pad 3 >= kernel 2"}},
        Case{"arith_avgpool_pad_eq_kernel.onnx", kModel, {"'avg'", "pad 2 >= kernel 2"}},
        // External data.
        Case{"ext_escape.onnx", kModel, {"'w'", "escapes"}},
        Case{"ext_absolute.onnx", kModel, {"'w'", "/etc/passwd"}},
        Case{"ext_beyond_end.onnx", kModel, {"'w'", "ext_data.bin"}},
        Case{"ext_offset_past_end.onnx", kModel, {"'w'", "ext_data.bin"}},
        Case{"ext_length_mismatch.onnx", kModel, {"'w'"}},
        Case{"ext_missing_file.onnx", kIo, {"'w'", "no_such_file.bin"}},
        // The whole location is shown, NUL escaped (the message used to stop at the NUL).
        Case{"io_nul_location.onnx", kModel, {"'w'", "ext_data.bin\\x00/../../etc/passwd", "NUL"}}),
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

// ---------------- external data and the file system ----------------

struct LoadOutcome {
  bool loaded = false;
  bool timed_out = false;
  ErrorCode code = ErrorCode::kOk;
  std::string message;
};

// Model::Load on its own thread: a load that blocks (a fifo opened for reading) fails the test
// after 10 s instead of hanging it (the blocked thread is left behind).
LoadOutcome LoadWithin10s(const std::string& path) {
  auto promise = std::make_shared<std::promise<LoadOutcome>>();
  std::future<LoadOutcome> future = promise->get_future();
  std::thread([promise, path] {
    LoadOutcome r;
    try {
      Model::Load(path);
      r.loaded = true;
    } catch (const Error& e) {
      r.code = e.code();
      r.message = e.what();
    } catch (const std::exception& e) {
      r.code = ErrorCode::kInternal;
      r.message = std::string("not an effi::Error: ") + e.what();
    }
    promise->set_value(r);
  }).detach();
  LoadOutcome r;
  r.timed_out = future.wait_for(std::chrono::seconds(10)) != std::future_status::ready;
  return r.timed_out ? r : future.get();
}

// The io_*.onnx models (make_hostile_models.py) copied into a scratch folder model/ next to
// outside/secret.bin, with each external-data location's target created here (symlinks, fifos
// and directories cannot live in the repository).
class ExternalDataFs : public ::testing::Test {
 protected:
  void SetUp() override {
    namespace fs = std::filesystem;
    std::string tmpl = (fs::temp_directory_path() / "effi_ext_fs_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
    model_ = root_ + "/model";
    fs::create_directories(model_ + "/inner");
    fs::create_directories(root_ + "/outside");
    for (const auto& entry : fs::directory_iterator(kHostile)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("io_", 0) == 0 || name == "ext_data.bin")
        fs::copy_file(entry, model_ + "/" + name);
    }
    fs::copy_file(kHostile + "ext_data.bin", model_ + "/inner/ext_data.bin");
    std::ofstream(root_ + "/outside/secret.bin", std::ios::binary) << std::string(64, 'S');
    fs::create_symlink("/etc/passwd", model_ + "/passwd.bin");
    fs::create_symlink("../outside/secret.bin", model_ + "/secret_link.bin");
    fs::create_directory_symlink("../outside", model_ + "/outside_dir");
    ASSERT_EQ(mkfifo((model_ + "/fifo.bin").c_str(), 0600), 0);
    fs::create_directory(model_ + "/a_directory");
    // Symlinks that stay inside the folder are fine.
    fs::create_symlink("ext_data.bin", model_ + "/alias.bin");
    fs::create_directory_symlink("inner", model_ + "/inner_link");
    // The model's folder itself reached through a symlink: its real folder is what counts.
    fs::create_directory_symlink(model_, root_ + "/model_link");
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  static void ExpectRefused(const std::string& path, ErrorCode code,
                            const std::vector<std::string>& needles) {
    SCOPED_TRACE(path);
    const LoadOutcome r = LoadWithin10s(path);
    ASSERT_FALSE(r.timed_out) << "blocked for 10 s";
    ASSERT_FALSE(r.loaded) << "loaded";
    EXPECT_EQ(static_cast<int>(r.code), static_cast<int>(code)) << r.message;
    for (const std::string& n : needles)
      EXPECT_NE(r.message.find(n), std::string::npos) << "'" << n << "' not in: " << r.message;
    EXPECT_EQ(r.message.find('\n'), std::string::npos) << r.message;
    std::printf("[msg] %s\n", r.message.c_str());
  }

  static void ExpectLoadsAndRuns(const std::string& path) {
    SCOPED_TRACE(path);
    const LoadOutcome r = LoadWithin10s(path);
    ASSERT_FALSE(r.timed_out);
    ASSERT_TRUE(r.loaded) << r.message;
    Session s(Model::Load(path));
    const Tensor y = s.Run({{"x", Tensor::Float({16}, std::vector<float>(16, 1.0f))}})[0];
    ASSERT_EQ(y.elements(), 16);
    for (int i = 0; i < 16; ++i) EXPECT_EQ(y.floats()[i], 1.0f + static_cast<float>(i));
  }

  std::string root_, model_;
};

TEST_F(ExternalDataFs, SymlinksOutOfTheModelFolderAreRefused) {
  ExpectRefused(model_ + "/io_link_passwd.onnx", ErrorCode::kInvalidModel,
                {"'w'", "'passwd.bin'", "outside the model folder"});
  ExpectRefused(model_ + "/io_link_outside.onnx", ErrorCode::kInvalidModel,
                {"'w'", "'secret_link.bin'", "outside the model folder"});
  ExpectRefused(model_ + "/io_link_dir.onnx", ErrorCode::kInvalidModel,
                {"'w'", "'outside_dir/secret.bin'", "outside the model folder"});
  // Same through the symlinked model folder.
  ExpectRefused(root_ + "/model_link/io_link_outside.onnx", ErrorCode::kInvalidModel,
                {"outside the model folder"});
}

TEST_F(ExternalDataFs, FifoAndDirectoryAreRefusedAtOnce) {
  ExpectRefused(model_ + "/io_fifo.onnx", ErrorCode::kInvalidModel,
                {"'w'", "'fifo.bin'", "not a regular file (fifo)"});
  ExpectRefused(model_ + "/io_directory.onnx", ErrorCode::kInvalidModel,
                {"'w'", "'a_directory'", "not a regular file (directory)"});
}

TEST_F(ExternalDataFs, SymlinksInsideTheModelFolderLoad) {
  ExpectLoadsAndRuns(model_ + "/io_link_inside.onnx");
  ExpectLoadsAndRuns(model_ + "/io_link_inside_dir.onnx");
  ExpectLoadsAndRuns(root_ + "/model_link/io_link_inside.onnx");
}

TEST_F(ExternalDataFs, FifoOrDeviceAsTheModelFailsAtOnce) {
  ASSERT_EQ(mkfifo((root_ + "/model.onnx").c_str(), 0600), 0);
  ExpectRefused(root_ + "/model.onnx", ErrorCode::kIo, {"model.onnx", "not a regular file (fifo)"});
  ExpectRefused("/dev/zero", ErrorCode::kIo,
                {"/dev/zero", "not a regular file (character device)"});
  ExpectRefused(model_, ErrorCode::kIo, {"is a directory"});
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

// ---------------- memory limit ----------------

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kAsan = true;
#else
constexpr bool kAsan = false;
#endif
#else
constexpr bool kAsan = false;
#endif

// A "Vm...:" field of /proc/self/status in KiB (-1 if absent).
int64_t ProcStatusKib(const std::string& field) {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind(field + ":", 0) == 0) return std::atoll(line.c_str() + field.size() + 1);
  return -1;
}

struct ChildLoad {
  int exit_code = -1;            // the effi::ErrorCode, 0 when it loaded, 100 on bad_alloc
  int64_t peak_growth_kib = -1;  // peak RSS during the load minus RSS before (-1: unknown)
  std::string message;
};

// Loads `path` in a forked child whose address space may grow by only 512 MiB (RLIMIT_AS; not
// under ASan, whose shadow needs terabytes of address space) and reports how far its resident
// memory peaked (VmHWM, reset through /proc/self/clear_refs): a load that allocated what the
// memory limit refuses fails with bad_alloc, dies or shows the growth.
ChildLoad LoadInChild(const std::string& path, const ModelOptions& options = {}) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    alarm(60);
    if (!kAsan) {
      const rlim_t vm = static_cast<rlim_t>(ProcStatusKib("VmSize")) * 1024;
      const rlimit lim{vm + (rlim_t{512} << 20), vm + (rlim_t{512} << 20)};
      setrlimit(RLIMIT_AS, &lim);
    }
    const bool reset = static_cast<bool>(std::ofstream("/proc/self/clear_refs") << "5");
    const int64_t before = ProcStatusKib("VmRSS");
    int code = 0;
    std::string msg = "loaded";
    try {
      Model::Load(path, options);
    } catch (const Error& e) {
      code = static_cast<int>(e.code());
      msg = e.what();
    } catch (const std::bad_alloc&) {
      code = 100;
      msg = "bad_alloc";
    }
    const int64_t growth = reset ? ProcStatusKib("VmHWM") - before : -1;
    msg = std::to_string(growth) + " " + msg;
    if (write(fds[1], msg.data(), msg.size()) < 0) _exit(101);
    _exit(code);
  }
  close(fds[1]);
  ChildLoad r;
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  const size_t space = out.find(' ');
  if (space != std::string::npos) {
    r.peak_growth_kib = std::atoll(out.substr(0, space).c_str());
    r.message = out.substr(space + 1);
  }
  return r;
}

TEST(MemoryLimit, HostileModelsAreRefusedBeforeAllocating) {
  for (const char* file : {"mem_constant_of_shape.onnx", "mem_expand.onnx",
                           "mem_matmul_consts.onnx", "mem_tile_activation.onnx"}) {
    SCOPED_TRACE(file);
    const ChildLoad r = LoadInChild(kHostile + file);
    EXPECT_EQ(r.exit_code, static_cast<int>(ErrorCode::kInvalidModel)) << r.message;
    EXPECT_NE(r.message.find("memory limit of 512 MiB"), std::string::npos) << r.message;
    // 2-4 GiB asked for; the load itself needs a few MiB.
    if (r.peak_growth_kib >= 0) {
      EXPECT_LT(r.peak_growth_kib, 64 * 1024);
    }
  }
}

// 33 folds of 64 MiB each, every one under the limit: the running total stops the chain at the
// fold that would pass 150 MiB (the third), so at most 128 MiB were ever held.
TEST(MemoryLimit, FoldedConstantsCountAsARunningTotal) {
  const ChildLoad r =
      LoadInChild(kHostile + "mem_tile_chain.onnx", {.memory_limit_bytes = int64_t{150} << 20});
  EXPECT_EQ(r.exit_code, static_cast<int>(ErrorCode::kInvalidModel)) << r.message;
  for (const char* needle :
       {"node 'tile2' (Tile)", "64 MiB on top of 128 MiB folded before", "memory limit of 150 MiB"})
    EXPECT_NE(r.message.find(needle), std::string::npos) << needle << " not in: " << r.message;
  if (r.peak_growth_kib >= 0) {
    EXPECT_LT(r.peak_growth_kib, 200 * 1024);
  }
}

const std::string kTinyModel = kModels + "/tiny_op11.onnx";

// The message of loading `path` with `options` ("" when it loads).
std::string LoadError(const std::string& path, const ModelOptions& options,
                      ErrorCode expected = ErrorCode::kInvalidModel) {
  try {
    Model::Load(path, options);
    return "";
  } catch (const Error& e) {
    EXPECT_EQ(static_cast<int>(e.code()), static_cast<int>(expected)) << e.what();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    return e.what();
  }
}

TEST(MemoryLimit, OptionLowersAndRaisesTheLimit) {
  EXPECT_EQ(LoadError(kTinyModel, {}), "");
  EXPECT_EQ(LoadError(kTinyModel, {.memory_limit_bytes = -1}), "");  // unlimited
  const std::string msg = LoadError(kTinyModel, {.memory_limit_bytes = 1024});
  EXPECT_NE(msg.find("over the memory limit of 1 KiB (raise it with --memory-limit or "
                     "EFFI_MEMORY_LIMIT)"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("activations"), std::string::npos) << msg;
  EXPECT_NE(msg.find("of node '"), std::string::npos) << msg;  // the biggest activation's producer
  const std::string bad =
      LoadError(kTinyModel, {.memory_limit_bytes = -2}, ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.find("memory_limit_bytes"), std::string::npos) << bad;
}

// Sets EFFI_MEMORY_LIMIT for its lifetime (unset: nullptr), restoring the previous value.
class ScopedEnv {
 public:
  explicit ScopedEnv(const char* value) {
    const char* old = std::getenv("EFFI_MEMORY_LIMIT");
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value)
      setenv("EFFI_MEMORY_LIMIT", value, 1);
    else
      unsetenv("EFFI_MEMORY_LIMIT");
  }
  ~ScopedEnv() {
    if (had_)
      setenv("EFFI_MEMORY_LIMIT", old_.c_str(), 1);
    else
      unsetenv("EFFI_MEMORY_LIMIT");
  }

 private:
  bool had_ = false;
  std::string old_;
};

TEST(MemoryLimit, EnvironmentVariable) {
  // Good values, seen through the limit the message reports (tiny_op11 needs ~170 KiB).
  for (const auto& [value, shown] :
       std::vector<std::pair<const char*, const char*>>{{"1024", "1 KiB"},
                                                        {"2k", "2 KiB"},
                                                        {"100KiB", "100 KiB"},
                                                        {"150KB", "150 KiB"},
                                                        {"4096b", "4 KiB"}}) {
    ScopedEnv env(value);
    const std::string msg = LoadError(kTinyModel, {});
    EXPECT_NE(msg.find(std::string("memory limit of ") + shown), std::string::npos)
        << value << ": " << msg;
  }
  for (const char* value : {"1M", "64m", "2G", "1t", "3MiB", "unlimited", "UNLIMITED", ""}) {
    ScopedEnv env(value);
    EXPECT_EQ(LoadError(kTinyModel, {}), "") << value;
  }
  {
    ScopedEnv env("1K");  // the option wins over the environment
    EXPECT_EQ(LoadError(kTinyModel, {.memory_limit_bytes = -1}), "");
    EXPECT_EQ(LoadError(kTinyModel, {.memory_limit_bytes = 64 << 20}), "");
  }
  for (const char* value : {"abc", "1.5G", "12Q", "0", "0K", "-1", "K", "1 G",
                            "99999999999999999999", "2000000T", "1\nG"}) {
    ScopedEnv env(value);
    const std::string msg = LoadError(kTinyModel, {}, ErrorCode::kInvalidArgument);
    for (const char* needle : {"EFFI_MEMORY_LIMIT", "K, M, G or T suffix", "unlimited"})
      EXPECT_NE(msg.find(needle), std::string::npos) << value << ": " << msg;
  }
}

// A dynamic-batch model is checked at each batch it is compiled for, before its arena exists.
TEST(MemoryLimit, DynamicBatchIsCheckedPerShape) {
  const std::string path = kModels + "/tiny_dynbatch_op13.onnx";
  auto model = Model::Load(path);
  EXPECT_GT(model->Stats(64).peak_activation_bytes, 0);
  for (int64_t batch : {int64_t{8192}, int64_t{1} << 20}) {
    try {
      model->Stats(batch);
      ADD_FAILURE() << "batch " << batch << " compiled";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidModel) << e.what();
      if (batch == 8192) {
        EXPECT_NE(std::string(e.what()).find("memory limit of 512 MiB"), std::string::npos)
            << e.what();
      }
    }
  }
  // Run: at a 1 MiB limit batch 1 fits, batch 16 (1.5 MiB of activations) does not, and the
  // session keeps working afterwards.
  auto small = Model::Load(path, {.memory_limit_bytes = 1 << 20});
  Session s(small);
  const Tensor one = Tensor::Zeros(ElementType::kFloat32, {1, 3, 64, 64});
  EXPECT_EQ(s.Run({{"data", one}})[0].shape[0], 1);
  try {
    s.Run({{"data", Tensor::Zeros(ElementType::kFloat32, {16, 3, 64, 64})}});
    ADD_FAILURE() << "batch 16 ran";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidModel) << e.what();
    EXPECT_NE(std::string(e.what()).find("[16,"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("memory limit of 1 MiB"), std::string::npos) << e.what();
  }
  EXPECT_EQ(s.Run({{"data", one}})[0].shape[0], 1);
}

// Scratch grows with a session's threads: a limit that fits one thread can refuse four, at Run,
// before the scratch is allocated.
TEST(MemoryLimit, ScratchAtTheSessionsThreadCount) {
  // The smallest limit (in KiB) at which tiny_op11 loads, i.e. fits at one thread.
  int64_t lo = 1, hi = 4096;
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    if (LoadError(kTinyModel, {.memory_limit_bytes = mid << 10}).empty())
      hi = mid;
    else
      lo = mid + 1;
  }
  auto model = Model::Load(kTinyModel, {.memory_limit_bytes = lo << 10});
  const Tensor x = Tensor::Zeros(ElementType::kFloat32, {1, 3, 64, 64});
  Session one(model);
  EXPECT_EQ(one.Run({{"data", x}}).size(), 1u);
  Session four(model, {.threads = 4});
  try {
    four.Run({{"data", x}});
    GTEST_SKIP() << "scratch does not grow with threads on this ISA";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidModel) << e.what();
    EXPECT_NE(std::string(e.what()).find("scratch"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("at 4 threads"), std::string::npos) << e.what();
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
