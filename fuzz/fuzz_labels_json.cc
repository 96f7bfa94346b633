// libFuzzer target for the CLI's label parsing (tools/effi/labels.cc): the same bytes as a labels
// file (JSON or text, by the first byte and as a .json name) and as the model's "labels" metadata,
// plus the JSON nesting pre-check. Any input must give labels or one effi::Error with a short
// one-line message; crashes, stack overflows, leaks and sanitizer reports are the bugs hunted.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "effi/error.hpp"
#include "image/labels.h"

namespace {

void CheckMessage(const effi::Error& e) {
  const std::string msg = e.what();
  // Messages never quote the (possibly huge or hostile) input: short, one line, no ESC.
  if (msg.size() > 400 || msg.find('\n') != std::string::npos ||
      msg.find('\x1b') != std::string::npos)
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (bool json_name : {false, true}) {
    try {
      const auto labels = effi::image::ParseLabelsText(text, json_name, "fuzz.json");
      if (labels.size() > effi::image::kMaxLabels) std::abort();
    } catch (const effi::Error& e) {
      CheckMessage(e);
    }
  }
  try {
    const auto labels = effi::image::ParseLabelsMetadata(text);
    if (labels.empty() || labels.size() > effi::image::kMaxLabels) std::abort();
  } catch (const effi::Error& e) {
    CheckMessage(e);
  }
  (void)effi::image::JsonDepthWithin(text, effi::image::kMaxJsonDepth);
  return 0;
}
