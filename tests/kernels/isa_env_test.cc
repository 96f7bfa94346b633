// EFFI_MAX_ISA and EFFI_KERNELS (kernels/isa.h): a bad value is one Error(kInvalidArgument) that
// lists the valid values, from the kernels' own check and from Model::Load, never an internal
// error or a silently ignored typo (issue 14). Its own binary: EFFI_MAX_ISA is applied once per
// process, at the first successful check, so the bad values are tried before any good one.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "effi/effi.hpp"
#include "kernels/isa.h"

namespace effi::kernels {
namespace {

const std::string kTiny = std::string(EFFI_SOURCE_DIR) + "/tests/models/tiny_op11.onnx";

// The Error `f` throws (code and message); fails the test when it throws nothing.
template <typename F>
std::pair<ErrorCode, std::string> ErrorOf(F f) {
  try {
    f();
  } catch (const Error& e) {
    return {e.code(), e.what()};
  }
  ADD_FAILURE() << "no effi::Error thrown";
  return {ErrorCode::kOk, ""};
}

TEST(IsaEnvironment, BadValuesAreInvalidArgumentListingTheValidOnes) {
  const std::string isa_error =
      "EFFI_MAX_ISA='avx5' is not valid; valid: scalar, avx2, avxvnni, avx512, neon";
  setenv("EFFI_MAX_ISA", "avx5", 1);
  for (int attempt = 0; attempt < 2; ++attempt) {  // not remembered as applied
    EXPECT_EQ(ErrorOf([] { CheckEnvironment(); }),
              std::make_pair(ErrorCode::kInvalidArgument, isa_error));
    EXPECT_EQ(ErrorOf([] { Model::Load(kTiny); }),
              std::make_pair(ErrorCode::kInvalidArgument, isa_error));
    EXPECT_EQ(ErrorOf([] { ActiveIsa(); }).first, ErrorCode::kInvalidArgument);
  }
  // Hostile text is escaped and cut (the message reaches a terminal).
  setenv("EFFI_MAX_ISA", ("\x1b[2J" + std::string(1000, 'a')).c_str(), 1);
  const std::string hostile = ErrorOf([] { CheckEnvironment(); }).second;
  EXPECT_EQ(hostile.find('\x1b'), std::string::npos) << hostile;
  EXPECT_NE(hostile.find("'\\x1b[2Jaaa"), std::string::npos) << hostile;
  EXPECT_LT(hostile.size(), 150u) << hostile;
  unsetenv("EFFI_MAX_ISA");

  setenv("EFFI_KERNELS", "reff", 1);
  EXPECT_EQ(ErrorOf([] { CheckEnvironment(); }),
            std::make_pair(ErrorCode::kInvalidArgument,
                           std::string("EFFI_KERNELS='reff' is not valid; valid: auto, ref")));
  EXPECT_EQ(ErrorOf([] { Model::Load(kTiny); }).first, ErrorCode::kInvalidArgument);
  for (const char* good : {"ref", "auto", ""}) {
    setenv("EFFI_KERNELS", good, 1);
    EXPECT_NO_THROW(CheckEnvironment()) << good;
    EXPECT_EQ(ReferenceKernelsRequested(), std::string(good) == "ref") << good;
  }
  unsetenv("EFFI_KERNELS");
  EXPECT_FALSE(ReferenceKernelsRequested());
  EXPECT_NO_THROW(Model::Load(kTiny));
}

}  // namespace
}  // namespace effi::kernels
