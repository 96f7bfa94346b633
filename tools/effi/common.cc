// Shared helpers of the effi CLI (see common.h): help layout, demo-asset lookup, label files,
// formatting and flag-value parsing.
#include "common.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "graph/passes/passes.h"
#include "runtime/plan.h"
#include "util/file.h"
#include "util/text.h"

namespace effi::cli {

namespace fs = std::filesystem;

namespace {

constexpr const char* kDemoModel = "models/efficientformer_l1_fmnist96.onnx";

std::string ExecutableDir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec || exe.empty()) return {};
  return exe.parent_path().string();
}

// Demo images: the PNGs of `dir`/images, sorted by name.
std::vector<std::string> DemoImages(const fs::path& dir) {
  std::vector<std::string> images;
  std::error_code ec;
  for (fs::directory_iterator it(dir / "images", ec), end; !ec && it != end; it.increment(ec)) {
    std::string ext = it->path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (ext == ".png" && it->is_regular_file(ec)) images.push_back(it->path().string());
  }
  std::sort(images.begin(), images.end());
  return images;
}

}  // namespace

// ---------------- help ----------------

std::string HelpFormatter::make_option_opts(const CLI::Option* opt) const {
  if (!opt->get_option_text().empty()) return " " + opt->get_option_text();
  if (opt->get_type_size() == 0 || !opt->nonpositional()) return {};
  // CLI11 appends validator descriptions ("K:INT in [1 - 10]"); keep our type name, or the value
  // set of an IsMember check.
  std::string type = opt->get_type_name();
  if (const size_t colon = type.find(':'); colon != std::string::npos) {
    const std::string rest = type.substr(colon + 1);
    type = !rest.empty() && rest[0] == '{' ? rest : type.substr(0, colon);
  }
  std::string out = type.empty() ? "" : " " + type;
  if (opt->get_expected_max() == CLI::detail::expected_max_vector_size) out += " ...";
  return out;
}

std::string HelpFormatter::make_option_desc(const CLI::Option* opt) const {
  std::string desc = opt->get_description();
  if (opt->get_required() && opt->nonpositional()) desc += " (required)";
  for (const CLI::Option* o : opt->get_excludes()) desc += " (excludes " + o->get_name() + ")";
  if (opt->get_type_size() != 0 && !opt->get_default_str().empty())
    desc += " [default: " + opt->get_default_str() + "]";
  // Word-wrap to a 100-column screen; CLI11 indents the continuation lines.
  const size_t width = get_column_width() < 70 ? 100 - get_column_width() : 30;
  std::string wrapped, line, word;
  std::istringstream words(desc);
  while (words >> word) {
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      wrapped += line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  return wrapped + line;
}

CLI::Option* AddPassesOption(CLI::App& app, std::string* spec) {
  return app
      .add_option("--passes", *spec,
                  "graph passes: all, none, or a list like all,-fuse_gelu / none,fold_batchnorm")
      ->type_name("SPEC")
      ->capture_default_str()
      ->check(
          [](const std::string& s) -> std::string {
            try {
              passes::PassOptions::Parse(s);
            } catch (const Error& e) {
              return e.what();
            }
            return {};
          },
          "SPEC");
}

CLI::Option* AddMemoryLimitOption(CLI::App& app, int64_t* bytes) {
  return app
      .add_option_function<std::string>(
          "--memory-limit", [bytes](const std::string& s) { *bytes = ParseMemoryLimit(s); },
          "memory budget beyond the model's weights (activations, scratch, folded constants): "
          "bytes with a K/M/G/T suffix, or unlimited [default: EFFI_MEMORY_LIMIT, else 512M]")
      ->type_name("SIZE")
      ->check(ParsedBy(
          [](const std::string& s) {
            ParseMemoryLimit(s);
            return std::string();
          },
          "SIZE"));
}

CLI::Validator ParsedBy(std::function<std::string(const std::string&)> check,
                        const std::string& name) {
  return CLI::Validator(
      [check = std::move(check)](const std::string& s) -> std::string {
        try {
          return check(s);
        } catch (const UsageError& e) {
          return e.what();
        }
      },
      name);
}

// ---------------- demo assets ----------------

DemoAssets FindDemoAssets() {
  std::vector<fs::path> candidates;
  const std::string exe_dir = ExecutableDir();
  if (!exe_dir.empty()) {
    candidates.push_back(fs::path(exe_dir) / ".." / "assets");          // build/effi
    candidates.push_back(fs::path(exe_dir) / ".." / "share" / "effi");  // <prefix>/bin/effi
  }
#ifdef EFFI_DATA_DIR
  candidates.push_back(fs::path(EFFI_DATA_DIR));
#endif
#ifdef EFFI_SOURCE_DIR
  candidates.push_back(fs::path(EFFI_SOURCE_DIR) / "assets");
#endif
  std::string tried;
  for (const fs::path& candidate : candidates) {
    std::error_code ec;
    fs::path dir = fs::weakly_canonical(candidate, ec);
    if (ec) dir = candidate.lexically_normal();
    tried += (tried.empty() ? "" : ", ") + dir.string();
    const fs::path model = dir / kDemoModel;
    if (!fs::is_regular_file(model, ec)) continue;
    std::vector<std::string> images = DemoImages(dir);
    if (images.empty()) continue;
    return {model.string(), std::move(images), dir.string()};
  }
  throw Error(ErrorCode::kIo,
              fmt::format("demo assets not found (looked in: {}); give MODEL and IMAGE arguments",
                          tried.empty() ? "nowhere" : tried));
}

// ---------------- labels ----------------

std::vector<std::string> LoadLabelsFile(const std::string& path) {
  const std::string text = util::ReadRegularFile(path, kMaxLabelsFileBytes, "labels file");
  return ParseLabelsText(text, fs::path(path).extension() == ".json", path);
}

// ---------------- formatting and parsing ----------------

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += shape[i] >= 0 ? std::to_string(shape[i]) : (i == 0 ? "N" : "?");
  }
  return s + "]";
}

std::string Thousands(int64_t value) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return value < 0 ? "-" + out : out;
}

std::pair<int, int> ParseSize(const std::string& text) {
  const size_t x = text.find_first_of("xX");
  auto num = [&](const std::string& part) {
    if (part.empty() || part.size() > 6 ||
        part.find_first_not_of("0123456789") != std::string::npos)
      throw UsageError(fmt::format("expected two positive integers like 640x480, got '{}'", text));
    return std::atoi(part.c_str());
  };
  if (x == std::string::npos)
    throw UsageError(fmt::format("expected two sizes like 640x480, got '{}'", text));
  const int a = num(text.substr(0, x));
  const int b = num(text.substr(x + 1));
  if (a <= 0 || b <= 0 || a > 32768 || b > 32768)
    throw UsageError(fmt::format("sides must be in 1..32768, got '{}'", text));
  return {a, b};
}

int64_t ParseMemoryLimit(const std::string& text) {
  try {
    return runtime::ParseMemoryLimit(text, "size");
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
}

std::array<float, 3> ParseTriple(const std::string& text) {
  std::array<float, 3> out{};
  std::stringstream ss(text);
  std::string item;
  size_t n = 0;
  while (std::getline(ss, item, ',')) {
    if (n == 3) {
      n = 4;
      break;
    }
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(item.c_str(), &end);
    if (item.empty() || end != item.c_str() + item.size() || errno != 0 || !std::isfinite(v) ||
        std::fabs(v) > 1e6)
      throw UsageError(fmt::format("'{}' is not a number (expected a,b,c)", item));
    out[n++] = static_cast<float>(v);
  }
  if (n != 3 || (!text.empty() && text.back() == ','))
    throw UsageError(fmt::format("expected 3 comma-separated numbers, got '{}'", text));
  return out;
}

void CheckReadableFile(const std::string& path, const char* what) {
  util::CheckRegularFile(path, what);
  if (access(path.c_str(), R_OK) != 0)
    throw Error(ErrorCode::kIo, fmt::format("{} '{}': permission denied", what,
                                            util::EscapeControl(path, util::kMaxQuotedPath)));
}

CLI::Validator FiniteNumber() {
  return CLI::Validator(
      [](const std::string& s) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(s.c_str(), &end);
        // Text that is no number at all is left to CLI11's own conversion error.
        if (end == s.c_str() || std::isfinite(v)) return {};
        return "expected a finite number, got '" + util::EscapeControl(s, 60) + "'";
      },
      "");
}

std::string Printable(const std::string& text, size_t max_len) {
  return util::EscapeControl(text, max_len);
}

}  // namespace effi::cli
