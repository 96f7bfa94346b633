// Shared pieces of the effi CLI: exit codes, the usage-error type, the help formatter, demo-asset
// lookup, label files, shape/number formatting and parsers for flag values.
#pragma once

#include <CLI/CLI.hpp>
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "api/classifier.h"
#include "effi/effi.hpp"
#include "image/labels.h"
#include "util/file.h"
#include "util/for_each_item.h"

namespace effi::cli {

// Label lists live in the library (src/image/labels.h), shared with effi::Classifier.
using image::JsonDepthWithin;
using image::kMaxJsonDepth;
using image::kMaxLabels;
using image::kMaxLabelsFileBytes;
using image::ParseLabelsMetadata;
using image::ParseLabelsText;

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // effi::Error: bad model, image, input, file
inline constexpr int kExitUsage = 2;    // bad command line

// A command-line problem found after parsing (conflicting or missing arguments): exit code 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A subcommand: its CLI11 app (owned by the parent) and what to run when it was selected.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

Command AddClassifyCommand(CLI::App& parent);
Command AddRunCommand(CLI::App& parent);
Command AddInspectCommand(CLI::App& parent);
Command AddBenchCommand(CLI::App& parent);
Command AddEvalCommand(CLI::App& parent);
Command AddQuantizeCommand(CLI::App& parent);

// Help layout: "--top K  description [default: 5]"; options whose default depends on the model say
// so in their description.
class HelpFormatter : public CLI::Formatter {
 public:
  std::string make_option_opts(const CLI::Option* opt) const override;
  std::string make_option_desc(const CLI::Option* opt) const override;
};

// Adds the shared --passes option (validated with the library's parser).
CLI::Option* AddPassesOption(CLI::App& app, std::string* spec);
// Adds the shared --memory-limit SIZE option: sets *bytes (ModelOptions::memory_limit_bytes; left
// 0 = EFFI_MEMORY_LIMIT or the library default when the flag is absent).
CLI::Option* AddMemoryLimitOption(CLI::App& app, int64_t* bytes);

// The bundled demo: the Fashion-MNIST model and its 12 PNGs.
struct DemoAssets {
  std::string model;
  std::vector<std::string> images;  // sorted
  std::string dir;
};
// Looks next to the executable (../assets, ../share/effi), then in EFFI_DATA_DIR and
// EFFI_SOURCE_DIR/assets. Throws Error(kIo) naming every place tried when nothing is found.
DemoAssets FindDemoAssets();

// Reads a labels file (at most kMaxLabelsFileBytes of a regular file): a JSON list of strings
// (detected by a leading '[' or '{' or a .json name) or plain text with one label per line. Throws
// Error(kIo / kInvalidArgument). ParseLabelsMetadata is in labels.h.
std::vector<std::string> LoadLabelsFile(const std::string& path);

// "[N, 3, 224, 224]": a dynamic batch (dim 0) prints as N, other dynamic dims as ?.
using api::ShapeString;
using util::LowerExtension;  // ".jpg" for "a/b.JPG"
// 12258961 -> "12,258,961".
std::string Thousands(int64_t value);
// Flag values: "640x480" -> {width 640, height 480} (every size the CLI takes is WxH, as cameras
// and vendor tools write it; a comma list such as "3,224,224" is refused with its WxH spelling);
// "0.5,0.5,0.5" -> 3 floats. Throw UsageError (the message does not name the flag: CLI11
// validators prefix it).
std::pair<int, int> ParseSize(const std::string& text);
std::array<float, 3> ParseTriple(const std::string& text);
// "512M", "2G", "1048576", "unlimited" (-> -1) -> bytes, as EFFI_MEMORY_LIMIT takes them.
int64_t ParseMemoryLimit(const std::string& text);

// Fails with Error(kIo) when `path` does not exist, is not a regular file (a directory, fifo or
// device) or cannot be read, before a library call gives a less direct message. Only stat()s.
using util::CheckReadableFile;

// Validator for floating-point flags: CLI11's Range passes NaN (every comparison with NaN is
// false), so each float flag checks this first. Refuses nan, inf and overflowing values.
CLI::Validator FiniteNumber();
// A validator that accepts what `check` accepts: it parses the value and throws UsageError (or
// returns an error message) when the value is bad; the message becomes CLI11's.
CLI::Validator ParsedBy(std::function<std::string(const std::string&)> check,
                        const std::string& name);

// Untrusted text (labels and names from a model, file names) made safe for a terminal: control
// characters escaped as \xNN, at most `max_len` bytes (util/text.h).
std::string Printable(const std::string& text, size_t max_len = 200);

// ---------------- long jobs ----------------

// Worker threads when --threads is not given: every CPU (classify and eval are throughput jobs).
using util::DefaultThreads;

// One status line on stderr, rewritten in place ("\r", erase to the end of the line, the text)
// and erased by Clear() or the destructor; only when stderr is a terminal, so that a pipe or file
// gets the results alone.
class StatusLine {
 public:
  StatusLine();
  ~StatusLine();
  StatusLine(const StatusLine&) = delete;
  StatusLine& operator=(const StatusLine&) = delete;
  bool on() const { return on_; }
  void Show(const std::string& text);
  void Clear();

 private:
  bool on_;
  bool shown_ = false;
};

// Progress of a job over items on stderr: "VERB done/total  rate images/s  ETA m:ss", rewritten in
// place at most 5 times a second (more is flicker, and each write is a syscall), only when stderr
// is a terminal and only once the job has run for `delay_s` (a job done within a second needs
// none). Never prints to a file or pipe. Update from one thread only.
class Progress {
 public:
  Progress(std::string verb, size_t total, double delay_s = 0);
  void Update(size_t done);
  // Erases the progress line (before an error message, a summary or the results).
  void Clear();
  double Seconds() const;

 private:
  using Clock = std::chrono::steady_clock;
  StatusLine line_;
  std::string verb_;
  size_t total_;
  double delay_s_;
  Clock::time_point start_, last_{};
};

// While alive, shows "effi: WHAT... 2.3 s" (keep WHAT short: one line) on a terminal once `what`
// has taken a second (one call with no progress of its own, such as loading or running a big
// model), from a helper thread; the line is erased on destruction. Nothing at all when stderr is
// not a terminal.
class ElapsedNotice {
 public:
  explicit ElapsedNotice(std::string what);
  ~ElapsedNotice();
  ElapsedNotice(const ElapsedNotice&) = delete;
  ElapsedNotice& operator=(const ElapsedNotice&) = delete;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// ForEachItem(count, workers, init, body, report): util/for_each_item.h (shared with the library).
using util::ForEachItem;

}  // namespace effi::cli
