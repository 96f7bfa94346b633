// effi error type: every failure inside the library is reported as one effi::Error with a code and
// a single-line message that names the offending thing (file, node, op, input).
#pragma once

#include <stdexcept>
#include <string>

namespace effi {

enum class ErrorCode : int {
  kOk = 0,
  kInvalidArgument = 1,  // bad user input: wrong input name/shape/dtype, bad flag value
  kInvalidModel = 2,     // malformed or hostile model file
  kUnsupported = 3,      // valid ONNX we do not implement (op, attribute, dtype)
  kIo = 4,               // missing/unreadable file
  kInvalidImage = 5,     // corrupt or unsupported image
  kInternal = 6,
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace effi
