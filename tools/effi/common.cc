// Shared helpers of the effi CLI (see common.h): help layout, demo-asset lookup, label files,
// formatting and flag-value parsing.
#include "common.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <thread>

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
  const std::string shown = util::EscapeControl(text, 40);
  auto is_number = [](const std::string& part) {
    return !part.empty() && part.size() <= 6 &&
           part.find_first_not_of("0123456789") == std::string::npos;
  };
  // A comma list is a tensor shape (C,H,W or H,W, height before width), the form --input-size
  // was once given in: refused, with the WxH spelling of the same size.
  if (text.find(',') != std::string::npos) {
    std::vector<std::string> parts;
    std::stringstream ss(text);
    for (std::string part; std::getline(ss, part, ',');) parts.push_back(part);
    if ((parts.size() == 2 || parts.size() == 3) && text.back() != ',' &&
        std::all_of(parts.begin(), parts.end(), is_number)) {
      const std::string& h = parts[parts.size() - 2];
      const std::string& w = parts.back();
      throw UsageError(fmt::format(
          "sizes are WxH (width first, like 640x480), not a tensor shape: for '{}' (height {}, "
          "width {}) write {}x{}",
          shown, h, w, w, h));
    }
  }
  const size_t x = text.find_first_of("xX");
  if (x == std::string::npos)
    throw UsageError(fmt::format("expected a size WxH like 640x480, got '{}'", shown));
  auto num = [&](const std::string& part) {
    if (!is_number(part))
      throw UsageError(
          fmt::format("expected two positive integers WxH like 640x480, got '{}'", shown));
    return std::atoi(part.c_str());
  };
  const int w = num(text.substr(0, x));
  const int h = num(text.substr(x + 1));
  if (w <= 0 || h <= 0 || w > 32768 || h > 32768)
    throw UsageError(fmt::format("sides must be in 1..32768, got '{}'", shown));
  return {w, h};
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

// ---------------- long jobs ----------------

namespace {

std::string Duration(double seconds) {
  const auto s = static_cast<int64_t>(std::max(0.0, seconds) + 0.5);
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
                   : fmt::format("{}:{:02}", s / 60, s % 60);
}

bool StderrIsTerminal() { return isatty(STDERR_FILENO) == 1; }

}  // namespace

StatusLine::StatusLine() : on_(StderrIsTerminal()) {}

StatusLine::~StatusLine() { Clear(); }

void StatusLine::Show(const std::string& text) {
  if (!on_) return;
  fmt::print(stderr, "\r\x1b[K{}", text);
  std::fflush(stderr);
  shown_ = true;
}

void StatusLine::Clear() {
  if (shown_) fmt::print(stderr, "\r\x1b[K");
  std::fflush(stderr);
  shown_ = false;
}

Progress::Progress(std::string verb, size_t total, double delay_s)
    : verb_(std::move(verb)), total_(total), delay_s_(delay_s), start_(Clock::now()) {}

double Progress::Seconds() const {
  return std::chrono::duration<double>(Clock::now() - start_).count();
}

void Progress::Update(size_t done) {
  if (!line_.on()) return;
  const auto now = Clock::now();
  if (done != total_ && now - last_ < std::chrono::milliseconds(200)) return;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  if (elapsed < delay_s_) return;
  last_ = now;
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
  const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0;
  line_.Show(
      fmt::format("{} {}/{}  {:.1f} images/s  ETA {}", verb_, done, total_, rate, Duration(eta)));
}

void Progress::Clear() { line_.Clear(); }

struct ElapsedNotice::State {
  std::mutex mutex;
  std::condition_variable cv;
  bool stop = false;
  std::thread thread;
};

ElapsedNotice::ElapsedNotice(std::string what) {
  if (!StderrIsTerminal()) return;
  state_ = std::make_unique<State>();
  state_->thread = std::thread([s = state_.get(), what = Printable(what, 120)] {
    const auto start = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lock(s->mutex);
    // Silent for the first second, then a refresh every 200 ms; erased when the line goes.
    StatusLine line;
    auto wait = std::chrono::milliseconds(1000);
    while (!s->cv.wait_for(lock, wait, [s] { return s->stop; })) {
      const double t =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      line.Show(fmt::format("effi: {}... {:.1f} s", what, t));
      wait = std::chrono::milliseconds(200);
    }
  });
}

ElapsedNotice::~ElapsedNotice() {
  if (!state_) return;
  {
    const std::lock_guard<std::mutex> lock(state_->mutex);
    state_->stop = true;
  }
  state_->cv.notify_one();
  state_->thread.join();
}

}  // namespace effi::cli
