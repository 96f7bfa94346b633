// Label-list parsing (see labels.h). JSON goes through a SAX handler rather than a DOM: a label
// list is one flat array, so anything nested is refused at its first bracket (no recursion, no
// dump() of a hostile value) and the strings are collected directly, up to kMaxLabels.
#include "image/labels.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "effi/error.hpp"
#include "util/text.h"

namespace effi::image {
namespace {

class LabelsSax : public nlohmann::json_sax<nlohmann::json> {
 public:
  std::vector<std::string> labels;
  std::string error;  // set whenever parsing stops early

  bool null() override { return NotAString("null"); }
  bool boolean(bool /*value*/) override { return NotAString("a boolean"); }
  bool number_integer(number_integer_t /*value*/) override { return NotAString("a number"); }
  bool number_unsigned(number_unsigned_t /*value*/) override { return NotAString("a number"); }
  bool number_float(number_float_t /*value*/, const string_t& /*text*/) override {
    return NotAString("a number");
  }
  bool binary(binary_t& /*value*/) override { return NotAString("binary data"); }
  bool start_object(std::size_t /*elements*/) override { return NotAString("an object"); }
  bool key(string_t& /*value*/) override { return NotAString("an object"); }
  bool end_object() override { return NotAString("an object"); }
  bool string(string_t& value) override {
    if (!in_list_) return NotAString("a string");
    if (labels.size() >= kMaxLabels) {
      error = fmt::format("more than {} labels", kMaxLabels);
      return false;
    }
    labels.push_back(std::move(value));
    return true;
  }
  bool start_array(std::size_t /*elements*/) override {
    if (in_list_) return NotAString("a list");  // a nested list: refused before it can nest on
    in_list_ = true;
    return true;
  }
  bool end_array() override {
    in_list_ = false;
    return true;
  }
  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& /*ex*/) override {
    // The token is not quoted: it may be megabytes of hostile text.
    error = fmt::format("not valid JSON at byte {} (expected a JSON list of strings)", position);
    return false;
  }

 private:
  bool NotAString(const char* kind) {
    error = in_list_ ? fmt::format("expected a JSON list of strings, element {} is {}",
                                   labels.size(), kind)
                     : fmt::format("expected a JSON list of strings, found {}", kind);
    return false;
  }
  bool in_list_ = false;
};

// Parses a JSON list of strings; `bad` makes the error to throw from a short reason.
template <typename MakeError>
std::vector<std::string> LabelsFromJson(const std::string& json, const MakeError& bad) {
  LabelsSax sax;
  const bool ok = nlohmann::json::sax_parse(json, &sax, nlohmann::json::input_format_t::json,
                                            /*strict=*/true);
  if (!ok) throw bad(sax.error.empty() ? std::string("not valid JSON") : sax.error);
  if (sax.labels.empty()) throw bad("the list is empty");
  return std::move(sax.labels);
}

}  // namespace

std::vector<std::string> ParseLabelsText(const std::string& text, bool json_name,
                                         const std::string& name) {
  auto bad = [&](const std::string& what) {
    return Error(
        ErrorCode::kInvalidArgument,
        fmt::format("labels file '{}': {}", util::EscapeControl(name, util::kMaxQuotedPath), what));
  };
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) throw bad("the file is empty");
  if (json_name || text[first] == '[' || text[first] == '{') return LabelsFromJson(text, bad);
  if (text.find('\0') != std::string::npos) throw bad("binary data (expected text or JSON)");
  std::vector<std::string> labels;
  std::istringstream ss(text);
  std::string line;
  while (std::getline(ss, line)) {
    if (labels.size() >= kMaxLabels) throw bad(fmt::format("more than {} labels", kMaxLabels));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    labels.push_back(line);
  }
  // A trailing newline does not add a label; trailing blank lines are ignored as well.
  while (!labels.empty() && labels.back().find_first_not_of(" \t") == std::string::npos)
    labels.pop_back();
  return labels;
}

std::vector<std::string> ParseLabelsMetadata(const std::string& json) {
  auto bad = [](const std::string& what) {
    return Error(ErrorCode::kInvalidModel, fmt::format("model metadata 'labels': {}", what));
  };
  if (json.size() > kMaxLabelsFileBytes)
    throw bad(fmt::format("{} bytes, over the {} byte limit", json.size(), kMaxLabelsFileBytes));
  return LabelsFromJson(json, bad);
}

bool JsonDepthWithin(std::string_view json, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\')
        ++i;  // the escaped character cannot end the string
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

}  // namespace effi::image
