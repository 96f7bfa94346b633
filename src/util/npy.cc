// .npy parsing and writing. The header is a Python dict literal: we parse the subset numpy writes
// (quoted keys, a string, True/False, a tuple of ints) and check every size before allocating.
#include "util/npy.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <fstream>
#include <limits>
#include <string_view>
#include <utility>

#include "effi/error.hpp"
#include "util/file.h"
#include "util/text.h"

namespace effi::npy {
namespace {

static_assert(std::endian::native == std::endian::little,
              "npy: raw little-endian payloads are copied as-is; big-endian hosts need byte swaps");

constexpr std::array<uint8_t, 6> kMagic = {0x93, 'N', 'U', 'M', 'P', 'Y'};
// numpy (>= 1.24) refuses headers over 10 kB unless asked; we allow far more (a 64-d shape needs
// under 2 kB) but still cap it so a hostile 4 GB v2 header length cannot force an allocation.
constexpr size_t kMaxHeaderLen = size_t{1} << 20;
// Largest dim we accept: keeps every later product check inside int64_t.
constexpr int64_t kMaxDim = int64_t{1} << 62;
constexpr int kMaxRank = 64;  // numpy's own NPY_MAXDIMS is 32 (64 in numpy 2).
// Largest file Load reads: far above any tensor effi runs (which stays under 2^31 elements), so
// that a wrong path to a huge file fails before anything is allocated.
constexpr uint64_t kMaxFileBytes = uint64_t{16} << 30;

[[noreturn]] void Fail(ErrorCode code, const std::string& name, const std::string& what) {
  throw Error(code, fmt::format("npy '{}': {}", name, what));
}

struct Prefix {
  size_t prefix_len = 0;  // magic + version + length field
  size_t header_len = 0;
};

// Parses magic, version and header length from the first bytes (needs at least 12 or 10 bytes).
Prefix ParsePrefix(const uint8_t* data, size_t size, const std::string& name) {
  if (size < 10) Fail(ErrorCode::kInvalidArgument, name, fmt::format("truncated ({} bytes)", size));
  if (std::memcmp(data, kMagic.data(), kMagic.size()) != 0) {
    Fail(ErrorCode::kInvalidArgument, name, "bad magic (not a .npy file)");
  }
  const int major = data[6];
  Prefix p;
  if (major == 1) {
    p.prefix_len = 10;
    p.header_len = size_t{data[8]} | (size_t{data[9]} << 8);
  } else if (major == 2 || major == 3) {
    if (size < 12) Fail(ErrorCode::kInvalidArgument, name, "truncated header length");
    p.prefix_len = 12;
    p.header_len = size_t{data[8]} | (size_t{data[9]} << 8) | (size_t{data[10]} << 16) |
                   (size_t{data[11]} << 24);
  } else {
    Fail(ErrorCode::kUnsupported, name, fmt::format("format version {}.{}", major, data[7]));
  }
  if (p.header_len > kMaxHeaderLen) {
    Fail(ErrorCode::kInvalidArgument, name,
         fmt::format("header length {} exceeds the {} byte limit", p.header_len, kMaxHeaderLen));
  }
  return p;
}

struct Header {
  std::string dtype;
  std::vector<int64_t> shape;
};

// Minimal recursive-descent parser for numpy's header dict.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& name) : s_(text), name_(name) {}

  Header Parse() {
    Header h;
    bool have_descr = false, have_order = false, have_shape = false;
    SkipSpace();
    Expect('{');
    while (true) {
      SkipSpace();
      if (Peek() == '}') break;
      const std::string key = ParseString();
      SkipSpace();
      Expect(':');
      SkipSpace();
      if (key == "descr") {
        if (Peek() != '\'' && Peek() != '"') {
          Fail(ErrorCode::kUnsupported, name_, "structured dtypes are not supported");
        }
        h.dtype = DtypeFromDescr(ParseString());
        have_descr = true;
      } else if (key == "fortran_order") {
        if (ParseBool()) {
          Fail(ErrorCode::kUnsupported, name_, "fortran_order=True is not supported");
        }
        have_order = true;
      } else if (key == "shape") {
        h.shape = ParseShape();
        have_shape = true;
      } else {
        Bad(fmt::format("unexpected header key '{}'", util::EscapeControl(key)));
      }
      SkipSpace();
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      SkipSpace();
      if (Peek() != '}') Bad("expected ',' or '}'");
    }
    ++pos_;  // '}'
    // numpy pads with spaces and ends with '\n'; tolerate any trailing whitespace or NULs.
    while (pos_ < s_.size()) {
      const char c = s_[pos_++];
      if (c != ' ' && c != '\n' && c != '\t' && c != '\r' && c != '\0') {
        Bad("trailing characters after header dict");
      }
    }
    if (!have_descr || !have_order || !have_shape) {
      Bad("header lacks one of 'descr', 'fortran_order', 'shape'");
    }
    return h;
  }

 private:
  [[noreturn]] void Bad(const std::string& what) const {
    Fail(ErrorCode::kInvalidArgument, name_, fmt::format("malformed header: {}", what));
  }
  char Peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void SkipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n')) ++pos_;
  }
  void Expect(char c) {
    if (Peek() != c) Bad(fmt::format("expected '{}' at offset {}", c, pos_));
    ++pos_;
  }
  std::string ParseString() {
    const char quote = Peek();
    if (quote != '\'' && quote != '"') Bad(fmt::format("expected a string at offset {}", pos_));
    ++pos_;
    const size_t end = s_.find(quote, pos_);
    if (end == std::string_view::npos) Bad("unterminated string");
    std::string out(s_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return out;
  }
  bool ParseBool() {
    if (s_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (s_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    Bad("fortran_order is not True/False");
  }
  int64_t ParseDim() {
    if (Peek() == '-') Bad("negative dimension");
    if (Peek() < '0' || Peek() > '9') Bad(fmt::format("expected a dimension at offset {}", pos_));
    int64_t v = 0;
    while (Peek() >= '0' && Peek() <= '9') {
      const int digit = Peek() - '0';
      if (v > (kMaxDim - digit) / 10) Bad("dimension too large");  // checked before it can wrap
      v = v * 10 + digit;
      ++pos_;
    }
    if (Peek() == 'L') ++pos_;  // Python 2 long suffix, as old numpy wrote it
    return v;
  }
  std::vector<int64_t> ParseShape() {
    std::vector<int64_t> shape;
    Expect('(');
    while (true) {
      SkipSpace();
      if (Peek() == ')') break;
      if (shape.size() >= kMaxRank) Bad(fmt::format("more than {} dimensions", kMaxRank));
      shape.push_back(ParseDim());
      SkipSpace();
      if (Peek() == ',') {
        ++pos_;
      } else if (Peek() != ')') {
        Bad("expected ',' or ')' in shape");
      }
    }
    ++pos_;
    return shape;
  }
  std::string DtypeFromDescr(const std::string& d) const {
    if (d.size() < 3) Bad(fmt::format("bad descr '{}'", util::EscapeControl(d)));
    const char order = d[0];
    const std::string code = d.substr(1);
    if (order != '<' && order != '>' && order != '|' && order != '=') {
      Bad(fmt::format("bad descr '{}'", util::EscapeControl(d)));
    }
    if (code == "u1") return "uint8";
    if (code == "b1") return "bool";
    const bool little = order == '<' || order == '=';  // '=' is native, and we are little-endian
    if (little && code == "f4") return "float32";
    if (little && code == "i8") return "int64";
    if (little && code == "i4") return "int32";
    Fail(ErrorCode::kUnsupported, name_,
         fmt::format("dtype '{}' is not supported (float32, int64, int32, uint8, bool; "
                     "little-endian)",
                     util::EscapeControl(d)));
  }

  std::string_view s_;
  const std::string& name_;
  size_t pos_ = 0;
};

std::string DescrOf(const std::string& dtype) {
  if (dtype == "float32") return "<f4";
  if (dtype == "int64") return "<i8";
  if (dtype == "int32") return "<i4";
  if (dtype == "uint8") return "|u1";
  if (dtype == "bool") return "|b1";
  throw Error(ErrorCode::kInvalidArgument, fmt::format("npy: unsupported dtype '{}'", dtype));
}

// Payload size implied by a header, with overflow checks. Callers compare it with the bytes
// actually present before allocating anything.
size_t PayloadBytes(const Header& h, const std::string& name) {
  size_t n = 0;
  try {
    n = NumElements(h.shape);
  } catch (const Error& e) {
    Fail(ErrorCode::kInvalidArgument, name, e.what());
  }
  const size_t item = ItemSize(h.dtype);
  if (n > std::numeric_limits<size_t>::max() / item) {
    Fail(ErrorCode::kInvalidArgument, name, "shape overflows the addressable size");
  }
  return n * item;
}

}  // namespace

size_t ItemSize(const std::string& dtype) {
  if (dtype == "float32" || dtype == "int32") return 4;
  if (dtype == "int64") return 8;
  if (dtype == "uint8" || dtype == "bool") return 1;
  throw Error(ErrorCode::kInvalidArgument, fmt::format("npy: unsupported dtype '{}'", dtype));
}

size_t NumElements(const std::vector<int64_t>& shape) {
  // 2^60 elements is beyond any real allocation and keeps n * itemsize (<= 8) from wrapping.
  constexpr uint64_t kLimit = uint64_t{1} << 60;
  uint64_t n = 1;
  bool zero = false;
  for (const int64_t d : shape) {
    if (d < 0) {
      throw Error(ErrorCode::kInvalidArgument, fmt::format("npy: negative dimension {}", d));
    }
    if (d == 0) zero = true;
    if (!zero && d > 0) {
      if (static_cast<uint64_t>(d) > kLimit / n) {
        throw Error(ErrorCode::kInvalidArgument, "npy: shape element count overflows");
      }
      n *= static_cast<uint64_t>(d);
    }
  }
  return zero ? 0 : static_cast<size_t>(n);
}

Array LoadFromMemory(const uint8_t* data, size_t size, const std::string& name_for_errors) {
  const std::string& name = name_for_errors;
  if (data == nullptr && size != 0) Fail(ErrorCode::kInvalidArgument, name, "null buffer");
  const Prefix p = ParsePrefix(data, size, name);
  if (p.header_len > size - p.prefix_len) {
    Fail(ErrorCode::kInvalidArgument, name,
         fmt::format("truncated: header needs {} bytes, {} available", p.header_len,
                     size - p.prefix_len));
  }
  const std::string_view text(reinterpret_cast<const char*>(data + p.prefix_len), p.header_len);
  Header h = HeaderParser(text, name).Parse();
  const size_t offset = p.prefix_len + p.header_len;
  const size_t need = PayloadBytes(h, name);
  const size_t have = size - offset;
  if (have != need) {
    Fail(ErrorCode::kInvalidArgument, name,
         fmt::format("payload is {} bytes but shape and dtype {} need {}", have, h.dtype, need));
  }
  Array a;
  a.dtype = std::move(h.dtype);
  a.shape = std::move(h.shape);
  a.bytes.assign(data + offset, data + size);
  return a;
}

Array Load(const std::string& path) {
  // A regular file only, opened non-blocking: a fifo would block, /dev/zero would never end.
  const util::ReadOnlyFile file = util::OpenRegularFile(path, "npy");
  const std::string name = util::EscapeControl(path, util::kMaxQuotedPath);
  if (file.size() > kMaxFileBytes) {
    Fail(ErrorCode::kInvalidArgument, name,
         fmt::format("file is {} bytes, over the {} byte limit", file.size(), kMaxFileBytes));
  }
  const size_t file_size = static_cast<size_t>(file.size());
  auto read_at = [&](void* dst, size_t n, size_t offset, const char* what) {
    if (!util::ReadAt(file.fd(), dst, n, offset)) Fail(ErrorCode::kIo, name, what);
  };

  // Read only the prefix and header first, so a lying header cannot make us allocate the payload.
  std::array<uint8_t, 12> prefix{};
  const size_t prefix_read = std::min<size_t>(prefix.size(), file_size);
  read_at(prefix.data(), prefix_read, 0, "read error");
  const Prefix p = ParsePrefix(prefix.data(), prefix_read, name);
  if (p.header_len > file_size - p.prefix_len) {
    Fail(ErrorCode::kInvalidArgument, name,
         fmt::format("truncated: header needs {} bytes, file has {}", p.header_len,
                     file_size - p.prefix_len));
  }
  std::string text(p.header_len, '\0');
  read_at(text.data(), text.size(), p.prefix_len, "read error in header");
  Header h = HeaderParser(text, name).Parse();
  const size_t offset = p.prefix_len + p.header_len;
  const size_t need = PayloadBytes(h, name);
  const size_t have = file_size - offset;
  if (have != need) {
    Fail(ErrorCode::kInvalidArgument, name,
         fmt::format("payload is {} bytes but shape and dtype {} need {}", have, h.dtype, need));
  }
  Array a;
  a.dtype = std::move(h.dtype);
  a.shape = std::move(h.shape);
  a.bytes.resize(need);
  read_at(a.bytes.data(), need, offset, "read error");
  return a;
}

std::vector<uint8_t> SaveToMemory(const Array& array) {
  const std::string descr = DescrOf(array.dtype);
  const size_t need = NumElements(array.shape) * ItemSize(array.dtype);
  if (array.bytes.size() != need) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("npy: {} bytes given for a {} array that needs {}", array.bytes.size(),
                            array.dtype, need));
  }
  // Byte-identical to numpy.save: dict repr, 21 spare spaces so the first axis can grow in place
  // (numpy's GROWTH_AXIS_MAX_DIGITS), space padding to a 64-byte boundary, newline.
  std::string shape = "(";
  for (size_t i = 0; i < array.shape.size(); ++i) {
    if (i > 0) shape += ", ";
    shape += std::to_string(array.shape[i]);
  }
  if (array.shape.size() == 1) shape += ",";
  shape += ")";
  std::string header =
      fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", descr, shape);
  if (!array.shape.empty()) {
    const size_t digits = std::to_string(array.shape[0]).size();
    if (digits < 21) header.append(21 - digits, ' ');
  }
  size_t prefix_len = 10;
  uint8_t major = 1;
  if (header.size() + 1 + 64 > 65535) {
    prefix_len = 12;
    major = 2;
  }
  const size_t unpadded = prefix_len + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  const size_t hlen = header.size();

  std::vector<uint8_t> out(prefix_len + hlen + need);
  uint8_t* p = out.data();
  std::memcpy(p, kMagic.data(), kMagic.size());
  p[6] = major;
  p[7] = 0;
  for (size_t i = 0; i < prefix_len - 8; ++i) p[8 + i] = static_cast<uint8_t>(hlen >> (8 * i));
  std::memcpy(p + prefix_len, header.data(), hlen);
  if (need != 0) std::memcpy(p + prefix_len + hlen, array.bytes.data(), need);
  return out;
}

void Save(const std::string& path, const Array& array) {
  const std::vector<uint8_t> bytes = SaveToMemory(array);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw Error(ErrorCode::kIo, fmt::format("npy '{}': cannot create file", path));
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) throw Error(ErrorCode::kIo, fmt::format("npy '{}': write failed", path));
}

void SaveF32(const std::string& path, const float* data, const std::vector<int64_t>& shape) {
  Array a;
  a.dtype = "float32";
  a.shape = shape;
  const size_t n = NumElements(shape);
  if (n != 0 && data == nullptr) {
    throw Error(ErrorCode::kInvalidArgument, fmt::format("npy '{}': null data", path));
  }
  a.bytes.resize(n * sizeof(float));
  if (n != 0) std::memcpy(a.bytes.data(), data, a.bytes.size());
  Save(path, a);
}

}  // namespace effi::npy
