// Opening and reading user-named files without hanging or reading without bound. A plain open() of
// a named pipe blocks until a writer appears, and reading /dev/zero never ends, so every input file
// (model, external data, image, .npy, labels) goes through here: it must be a regular file, it is
// opened non-blocking, and reads stop at a size limit. Header-only so that every layer (onnx import
// included, which does not link effi_util) can use it.
#pragma once

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "effi/error.hpp"
#include "util/text.h"

namespace effi::util {

// "a fifo", "a character device"...: what a non-regular file is, for messages.
inline const char* FileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "directory";
  if (S_ISFIFO(mode)) return "fifo";
  if (S_ISCHR(mode)) return "character device";
  if (S_ISBLK(mode)) return "block device";
  if (S_ISSOCK(mode)) return "socket";
  if (S_ISLNK(mode)) return "symlink";
  return "special file";
}

// An owned file descriptor (closed on destruction) and the fstat of what it refers to.
class ReadOnlyFile {
 public:
  ReadOnlyFile() = default;
  ReadOnlyFile(int fd, const struct stat& st) : fd_(fd), st_(st) {}
  ReadOnlyFile(ReadOnlyFile&& o) noexcept : fd_(std::exchange(o.fd_, -1)), st_(o.st_) {}
  ReadOnlyFile& operator=(ReadOnlyFile&& o) noexcept {
    if (this != &o) {
      Close();
      fd_ = std::exchange(o.fd_, -1);
      st_ = o.st_;
    }
    return *this;
  }
  ReadOnlyFile(const ReadOnlyFile&) = delete;
  ReadOnlyFile& operator=(const ReadOnlyFile&) = delete;
  ~ReadOnlyFile() { Close(); }

  int fd() const { return fd_; }
  const struct stat& stat() const { return st_; }
  uint64_t size() const { return static_cast<uint64_t>(st_.st_size); }
  // Gives up ownership (the caller closes the descriptor).
  int Release() { return std::exchange(fd_, -1); }

 private:
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_ = -1;
  struct stat st_ {};
};

namespace file_detail {

[[noreturn]] inline void Fail(std::string_view what, const std::string& path, int err) {
  const std::string p = EscapeControl(path, kMaxQuotedPath);
  if (err == ENOENT || err == ENOTDIR)
    throw Error(ErrorCode::kIo, fmt::format("{} '{}': no such file", what, p));
  if (err == EACCES || err == EPERM)
    throw Error(ErrorCode::kIo, fmt::format("{} '{}': permission denied", what, p));
  throw Error(ErrorCode::kIo, fmt::format("{} '{}': cannot open ({})", what, p,
                                          std::generic_category().message(err)));
}

[[noreturn]] inline void NotRegular(std::string_view what, const std::string& path, mode_t mode) {
  const std::string p = EscapeControl(path, kMaxQuotedPath);
  if (S_ISDIR(mode)) throw Error(ErrorCode::kIo, fmt::format("{} '{}' is a directory", what, p));
  throw Error(ErrorCode::kIo,
              fmt::format("{} '{}' is not a regular file ({})", what, p, FileKind(mode)));
}

}  // namespace file_detail

// Throws Error(kIo) unless `path` names an existing regular file (after symlinks). Only stat()s:
// nothing is opened, so a device with side effects on open is never touched.
inline void CheckRegularFile(const std::string& path, std::string_view what) {
  struct stat st {};
  if (path.find('\0') != std::string::npos) file_detail::Fail(what, path, ENOENT);
  if (::stat(path.c_str(), &st) != 0) file_detail::Fail(what, path, errno);
  if (!S_ISREG(st.st_mode)) file_detail::NotRegular(what, path, st.st_mode);
}

// Opens `path` read-only. stat() first, so a fifo/device/directory is refused without being
// opened; then O_NONBLOCK (a fifo swapped in meanwhile cannot block open()) and fstat() of the
// descriptor, which is what is actually read. Messages: "{what} '{path}' ...", path escaped.
inline ReadOnlyFile OpenRegularFile(const std::string& path, std::string_view what) {
  CheckRegularFile(path, what);
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) file_detail::Fail(what, path, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    file_detail::Fail(what, path, err);
  }
  ReadOnlyFile file(fd, st);
  if (!S_ISREG(st.st_mode)) file_detail::NotRegular(what, path, st.st_mode);
  return file;
}

// Reads exactly `n` bytes at `offset` (pread, retried on EINTR and short reads). False when the
// file ends first or a read fails.
inline bool ReadAt(int fd, void* dst, size_t n, uint64_t offset) {
  auto* out = static_cast<char*>(dst);
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, out + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    done += static_cast<size_t>(r);
  }
  return true;
}

// Reads the whole of an open file, at most `max_bytes`: the size from fstat is checked first, and
// the read stops past max_bytes too (a file growing meanwhile, or a /proc file reporting size 0).
inline std::string ReadAll(const ReadOnlyFile& file, const std::string& path, size_t max_bytes,
                           std::string_view what) {
  auto too_large = [&](uint64_t n) {
    return Error(ErrorCode::kIo, fmt::format("{} '{}' is {} bytes, over the {} byte limit", what,
                                             EscapeControl(path, kMaxQuotedPath), n, max_bytes));
  };
  if (file.size() > max_bytes) throw too_large(file.size());
  std::string bytes(static_cast<size_t>(file.size()), '\0');
  size_t done = 0;
  for (;;) {
    if (done == bytes.size()) {
      if (bytes.size() > max_bytes) throw too_large(bytes.size());
      // Probe past the expected end in small steps (files whose fstat size is wrong).
      bytes.resize(std::min(max_bytes + size_t{1}, bytes.size() + size_t{64} * 1024));
    }
    const ssize_t r =
        ::pread(file.fd(), bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      throw Error(ErrorCode::kIo,
                  fmt::format("{} '{}': read error ({})", what, EscapeControl(path, kMaxQuotedPath),
                              std::generic_category().message(errno)));
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  if (done > max_bytes) throw too_large(done);
  bytes.resize(done);
  return bytes;
}

// OpenRegularFile + ReadAll.
inline std::string ReadRegularFile(const std::string& path, size_t max_bytes,
                                   std::string_view what) {
  const ReadOnlyFile file = OpenRegularFile(path, what);
  return ReadAll(file, path, max_bytes, what);
}

// CheckRegularFile, then Error(kIo) "WHAT 'path': permission denied" when it is not readable (so a
// file that exists but cannot be opened gets its own message, not a generic read error).
inline void CheckReadableFile(const std::string& path, std::string_view what) {
  CheckRegularFile(path, what);
  if (access(path.c_str(), R_OK) != 0)
    throw Error(ErrorCode::kIo, fmt::format("{} '{}': permission denied", what,
                                            EscapeControl(path, kMaxQuotedPath)));
}

// The extension of `path`'s file name in lower case, dot included (".jpg"), or "" (none).
inline std::string LowerExtension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return ext;
}

}  // namespace effi::util
