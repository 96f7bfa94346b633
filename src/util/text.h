// Escaping of untrusted text (model metadata and labels, tensor names, external-data locations,
// file names) before it reaches a terminal or an error message. Header-only so that every layer
// (onnx import, image, CLI, fuzzers) can use it without a link dependency.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace effi::util {

// Bound for a model-controlled string quoted in an error message: enough to recognise it, short
// enough that a hostile 1 MB name cannot turn one error line into a screenful.
inline constexpr size_t kMaxQuoted = 200;
// Bound for user-given paths quoted in messages (their own input; still never unbounded).
inline constexpr size_t kMaxQuotedPath = 1024;
inline constexpr size_t kNoLimit = std::numeric_limits<size_t>::max();

namespace text_detail {

// Length of the well-formed UTF-8 sequence at s[i] and its code point; 0 if it is not one.
inline size_t Utf8Sequence(std::string_view s, size_t i, uint32_t* cp) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[i + k]); };
  const uint8_t c = b(0);
  size_t n = 0;
  uint32_t v = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2, v = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3, v = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4, v = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(k) & 0x3F);
  }
  // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
  if ((n == 3 && v < 0x800) || (v >= 0xD800 && v <= 0xDFFF) || (n == 4 && v < 0x10000) ||
      v > 0x10FFFF)
    return 0;
  *cp = v;
  return n;
}

// Code points a terminal acts on instead of showing: C1 controls (0x9B is CSI), Unicode line and
// paragraph separators, and the bidi embeddings/overrides/isolates that reorder what is shown.
inline bool IsControlCodePoint(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

}  // namespace text_detail

// `text` safe to print: printable ASCII and well-formed, non-control UTF-8 are kept; every other
// byte (C0 controls incl. NUL, newline and ESC, DEL, C1/bidi code points, bytes of invalid UTF-8)
// becomes "\xNN". The result is at most `max_len` bytes: when longer it is cut between whole
// characters/escapes and ends in "...". Backslashes are kept as they are (this is for display,
// not a reversible encoding).
inline std::string EscapeControl(std::string_view text, size_t max_len = kMaxQuoted) {
  static constexpr char kHex[] = "0123456789abcdef";
  const size_t budget = max_len < 3 ? max_len : max_len - 3;  // room for "..."
  std::string out;
  size_t cut = 0;  // longest whole-piece prefix of `out` that leaves room for "..."
  for (size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    uint32_t cp = 0;
    const size_t n = c >= 0x80 ? text_detail::Utf8Sequence(text, i, &cp) : 0;
    if (c >= 0x20 && c < 0x7F) {
      out += text[i++];
    } else if (n != 0 && !text_detail::IsControlCodePoint(cp)) {
      out.append(text.substr(i, n));
      i += n;
    } else {
      // A control code point is escaped byte by byte, as is a byte of invalid UTF-8.
      for (size_t k = 0, step = n != 0 ? n : 1; k < step; ++k, ++i) {
        const auto byte = static_cast<unsigned char>(text[i]);
        out += '\\';
        out += 'x';
        out += kHex[byte >> 4];
        out += kHex[byte & 0xF];
      }
    }
    if (out.size() <= budget) cut = out.size();
    if (out.size() > max_len) {  // does not fit whole: keep the prefix and mark the cut
      out.resize(cut);
      if (max_len >= 3) out += "...";
      return out;
    }
  }
  return out;
}

}  // namespace effi::util
