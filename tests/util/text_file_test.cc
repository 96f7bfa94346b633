// Unit tests for util/text.h (escaping untrusted text for terminals and error messages) and
// util/file.h (opening and reading user-named files without hanging or reading without bound).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>

#include "effi/error.hpp"
#include "util/file.h"
#include "util/npy.h"
#include "util/text.h"

namespace effi::util {
namespace {

namespace fs = std::filesystem;

TEST(EscapeControl, KeepsPrintableAsciiAndUtf8) {
  EXPECT_EQ(EscapeControl("T-shirt/top (0)"), "T-shirt/top (0)");
  EXPECT_EQ(EscapeControl("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x90\x88"),
            "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x90\x88");
  EXPECT_EQ(EscapeControl("back\\slash"), "back\\slash");
  EXPECT_EQ(EscapeControl(""), "");
}

TEST(EscapeControl, EscapesControlsNulAndInvalidUtf8) {
  EXPECT_EQ(EscapeControl("a\nb\rc\td"), "a\\x0ab\\x0dc\\x09d");
  EXPECT_EQ(EscapeControl("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
  EXPECT_EQ(EscapeControl(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(EscapeControl("\x7f"), "\\x7f");
  EXPECT_EQ(EscapeControl("\xc2\x9b"
                          "2J"),
            "\\xc2\\x9b2J");  // U+009B, C1 CSI
  EXPECT_EQ(EscapeControl("\x9b"
                          "2J"),
            "\\x9b2J");                                         // a lone 8-bit CSI byte
  EXPECT_EQ(EscapeControl("\xe2\x80\xae"), "\\xe2\\x80\\xae");  // U+202E right-to-left override
  EXPECT_EQ(EscapeControl("\xc0\xaf"), "\\xc0\\xaf");           // overlong '/'
  EXPECT_EQ(EscapeControl("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate
  EXPECT_EQ(EscapeControl("\xe6\x97"), "\\xe6\\x97");           // cut sequence
  EXPECT_EQ(EscapeControl("\nffi: error: fake").find('\n'), std::string::npos);
}

TEST(EscapeControl, BoundsTheLength) {
  EXPECT_EQ(EscapeControl(std::string(10, 'a'), 10), std::string(10, 'a'));  // fits exactly
  EXPECT_EQ(EscapeControl(std::string(11, 'a'), 10), "aaaaaaa...");
  const std::string long_nuls(100000, '\0');
  const std::string cut = EscapeControl(long_nuls, 60);
  EXPECT_LE(cut.size(), 60u);
  EXPECT_EQ(cut.substr(cut.size() - 3), "...");
  EXPECT_EQ(cut.rfind("\\x00...", cut.size()), cut.size() - 7) << cut;  // whole escapes only
  // Never inside a UTF-8 sequence: 4-byte characters, 10-byte limit -> one character and "...".
  EXPECT_EQ(EscapeControl("\xf0\x9f\x90\x88\xf0\x9f\x90\x88\xf0\x9f\x90\x88", 10),
            "\xf0\x9f\x90\x88...");
  EXPECT_EQ(EscapeControl(std::string(1000, 'x')).size(), kMaxQuoted);
  EXPECT_EQ(EscapeControl(std::string(1000, 'x'), kNoLimit).size(), 1000u);
}

// A scratch directory per test, removed afterwards.
class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "effi_file_test_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string Path(const std::string& name) const { return (fs::path(dir_) / name).string(); }
  void Write(const std::string& name, const std::string& bytes) const {
    std::ofstream(Path(name), std::ios::binary) << bytes;
  }
  std::string dir_;
};

// Runs f() on another thread: a regression that blocks (a fifo opened for reading) fails after
// 10 s instead of hanging the test binary forever (the thread is then left behind).
template <typename F>
std::string MessageWithin10s(F f) {
  auto fut = std::async(std::launch::async, [f] {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  });
  if (fut.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    ADD_FAILURE() << "blocked for 10 s";
    std::quick_exit(1);  // the blocked thread cannot be joined
  }
  return fut.get();
}

TEST_F(FileTest, ReadsARegularFileWithinTheLimit) {
  Write("a.txt", "hello");
  EXPECT_EQ(ReadRegularFile(Path("a.txt"), 5, "test file"), "hello");
  Write("empty.txt", "");
  EXPECT_EQ(ReadRegularFile(Path("empty.txt"), 5, "test file"), "");
  // Through a symlink: the target is what counts.
  fs::create_symlink(Path("a.txt"), Path("link.txt"));
  EXPECT_EQ(ReadRegularFile(Path("link.txt"), 5, "test file"), "hello");
}

TEST_F(FileTest, RefusesFilesOverTheLimit) {
  Write("a.txt", "hello!");
  try {
    ReadRegularFile(Path("a.txt"), 5, "test file");
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_NE(std::string(e.what()).find("over the 5 byte limit"), std::string::npos) << e.what();
  }
}

TEST_F(FileTest, ProcFilesReportingSizeZeroAreReadToTheLimit) {
  // /proc files stat as 0 bytes: the reader must not trust st_size either way.
  const std::string self = ReadRegularFile("/proc/self/status", 1 << 20, "status");
  EXPECT_NE(self.find("VmRSS"), std::string::npos);
  EXPECT_THROW(ReadRegularFile("/proc/self/status", 16, "status"), Error);
}

TEST_F(FileTest, MissingDirectoryAndPermission) {
  const std::string missing = MessageWithin10s([&] { ReadRegularFile(Path("no"), 10, "thing"); });
  EXPECT_NE(missing.find("thing '" + Path("no") + "': no such file"), std::string::npos) << missing;
  const std::string dir = MessageWithin10s([&] { ReadRegularFile(dir_, 10, "thing"); });
  EXPECT_NE(dir.find("is a directory"), std::string::npos) << dir;
  const std::string nul =
      MessageWithin10s([&] { ReadRegularFile(Path(std::string("a\0b", 3)), 10, "thing"); });
  EXPECT_NE(nul.find("a\\x00b"), std::string::npos) << nul;
}

TEST_F(FileTest, FifoAndDevicesFailAtOnce) {
  ASSERT_EQ(mkfifo(Path("fifo").c_str(), 0600), 0);
  for (const std::string& path :
       {Path("fifo"), std::string("/dev/zero"), std::string("/dev/null")}) {
    const std::string msg = MessageWithin10s([&] { ReadRegularFile(path, 1 << 20, "thing"); });
    EXPECT_NE(msg.find("is not a regular file"), std::string::npos) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    const std::string open_msg = MessageWithin10s([&] { OpenRegularFile(path, "thing"); });
    EXPECT_EQ(open_msg, msg);
  }
  EXPECT_NE(MessageWithin10s([&] { ReadRegularFile(Path("fifo"), 1, "thing"); }).find("(fifo)"),
            std::string::npos);
  EXPECT_NE(MessageWithin10s([&] { npy::Load(Path("fifo")); }).find("(fifo)"), std::string::npos);
  EXPECT_NE(MessageWithin10s([&] { npy::Load("/dev/zero"); }).find("(character device)"),
            std::string::npos);
}

TEST_F(FileTest, PathsAreEscapedInMessages) {
  const std::string name = Path("evil\x1b[31m\nname");
  const std::string msg = MessageWithin10s([&] { ReadRegularFile(name, 10, "thing"); });
  EXPECT_EQ(msg.find('\x1b'), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_NE(msg.find("evil\\x1b[31m\\x0aname"), std::string::npos) << msg;
}

TEST_F(FileTest, ReadAtReadsRangesAndReportsShortReads) {
  Write("a.bin", "0123456789");
  const ReadOnlyFile f = OpenRegularFile(Path("a.bin"), "thing");
  EXPECT_EQ(f.size(), 10u);
  char buf[4] = {};
  ASSERT_TRUE(ReadAt(f.fd(), buf, 4, 3));
  EXPECT_EQ(std::string(buf, 4), "3456");
  EXPECT_FALSE(ReadAt(f.fd(), buf, 4, 8));
}

}  // namespace
}  // namespace effi::util
