// Class-label lists: the text of a labels file (the CLI's --labels) and a model's "labels"
// metadata (effi::Classifier, the CLI), plus the nesting pre-check for other metadata JSON. Both
// inputs are untrusted: parsing is bounded in nesting, label count and quoted text, and errors are
// one short line. Depends on fmt and nlohmann_json only, so fuzz/fuzz_labels_json.cc links it
// with nothing else.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace effi::image {

// Largest labels file read (ImageNet-21k's ~21k labels take about 1 MB).
inline constexpr size_t kMaxLabelsFileBytes = size_t{16} << 20;
// More classes than any classifier has; bounds the memory a list of empty strings can take.
inline constexpr size_t kMaxLabels = 1'000'000;
// JSON nesting accepted in metadata values (real ones nest 2 levels; nlohmann's dump() and
// destructor recurse per level, so 200,000 levels would overflow the stack).
inline constexpr int kMaxJsonDepth = 64;

// Parses the text of a labels file: a JSON list of strings (when `json_name`, i.e. a .json file,
// or when the text starts with '[' or '{') or plain text with one label per line. `name` is the
// file's name for messages (escaped here). Throws Error(kInvalidArgument).
std::vector<std::string> ParseLabelsText(const std::string& text, bool json_name,
                                         const std::string& name);

// Parses the "labels" metadata value (JSON list of strings); Error(kInvalidModel) if malformed.
std::vector<std::string> ParseLabelsMetadata(const std::string& json);

// True when no bracket in `json` (outside strings) nests deeper than `max_depth`: a cheap pre-check
// before handing a metadata value to a recursive consumer.
bool JsonDepthWithin(std::string_view json, int max_depth);

}  // namespace effi::image
