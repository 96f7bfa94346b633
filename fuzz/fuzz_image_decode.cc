// libFuzzer target for the JPEG/PNG decoders: any input must decode to a consistent image or
// throw effi::Error; crashes, leaks and sanitizer reports are the bugs this hunts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "effi/error.hpp"
#include "image/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    // 4 Mpixel: tiny inputs can legally declare huge images (arithmetic-coded JPEG scans end
    // without error and decode as gray), and time spent filling them finds no bugs.
    constexpr int64_t kFuzzMaxPixels = int64_t{1} << 22;
    const effi::image::Image im = effi::image::DecodeMemory(data, size, "fuzz", kFuzzMaxPixels);
    if (im.width <= 0 || im.height <= 0 ||
        im.rgb.size() != static_cast<size_t>(im.width) * im.height * 3) {
      std::abort();  // a decoder returned an inconsistent image
    }
  } catch (const effi::Error&) {
    // Expected for malformed input.
  }
  return 0;
}
