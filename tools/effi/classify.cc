// `effi classify`: decode images (JPEG/PNG or raw NV12; files or folders), apply the model's timm
// preprocessing, run the classifier and print the top-k classes per image as a table, JSON or CSV.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "common.h"
#include "effi/image.hpp"
#include "image/image.h"
#include "image/preprocess.h"
#include "preprocess_flags.h"
#include "util/file.h"
#include "util/npy.h"
#include "util/text.h"

namespace effi::cli {
namespace {

namespace fs = std::filesystem;

struct ClassifyOptions {
  std::string model;  // or the first image, when it is one (then the bundled model is used)
  std::vector<std::string> images;
  std::string labels;
  int top = 5;
  bool json = false;
  bool csv = false;
  int threads = DefaultThreads();
  std::string save_input;
  std::string input_format = "auto";
  std::string frame_size;
  PreprocessFlags preprocess;  // explicit flags override the model's metadata
  std::string passes = "all";
  int64_t memory_limit = 0;  // --memory-limit; 0 = EFFI_MEMORY_LIMIT / default
  bool batch = false;
  CLI::Option* frame_size_opt = nullptr;
};

// Top-k classes come from the image API's effi::TopK (effi/image.hpp): softmax of the logits,
// unless a row already is a distribution, labels attached (the index as text when there are none).
struct ImageResult {
  std::string path;
  std::vector<Prediction> top;
};

// Display width of UTF-8 text (code points; good enough for label alignment).
size_t Utf8Width(const std::string& s) {
  size_t w = 0;
  for (unsigned char c : s) w += (c & 0xC0) != 0x80;
  return w;
}

// Table labels are cut to kMaxLabelWidth columns (ImageNet's synonym lists run to ~90); JSON
// output keeps them whole.
constexpr size_t kMaxLabelWidth = 48;
std::string Shorten(const std::string& s) {
  if (Utf8Width(s) <= kMaxLabelWidth) return s;
  size_t points = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && points++ == kMaxLabelWidth - 3) break;
  }
  return s.substr(0, i) + "...";
}

std::string FormatTable(const std::vector<ImageResult>& results,
                        const std::vector<std::string>& labels) {
  std::string out;
  for (size_t r = 0; r < results.size(); ++r) {
    const ImageResult& res = results[r];
    if (r) out += "\n";
    out += Printable(res.path, util::kMaxQuotedPath) + "\n";
    std::vector<std::string> names;
    size_t width = 0;
    for (const Prediction& p : res.top) {
      // Labels come from the model or a file: escaped so a label cannot drive the terminal.
      names.push_back(labels.empty()
                          ? std::to_string(p.index)
                          : fmt::format("{} ({})", Shorten(Printable(p.label, 1024)), p.index));
      width = std::max(width, Utf8Width(names.back()));
    }
    const size_t rank_width = std::to_string(res.top.size()).size();
    for (size_t i = 0; i < res.top.size(); ++i) {
      out += fmt::format("  {:>{}}. {}{}  {:.4f}\n", i + 1, rank_width, names[i],
                         std::string(width - Utf8Width(names[i]), ' '), res.top[i].probability);
    }
  }
  return out;
}

std::string FormatJson(const std::vector<ImageResult>& results) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const ImageResult& res : results) {
    nlohmann::ordered_json top = nlohmann::ordered_json::array();
    for (const Prediction& p : res.top) {
      top.push_back(
          {{"index", p.index}, {"label", p.label}, {"prob", static_cast<double>(p.probability)}});
    }
    list.push_back({{"image", res.path}, {"top", std::move(top)}});
  }
  nlohmann::ordered_json doc = {{"results", std::move(list)}};
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// One CSV field (RFC 4180): quoted when it holds a comma, quote or line break, or starts or ends
// with a space, quotes doubled. Control characters are escaped as \xNN first (Printable): a
// label from a model must not reach a terminal raw, and no real label holds one.
std::string CsvField(const std::string& text) {
  const std::string s = Printable(text, std::string::npos);
  const bool quote = s.find_first_of(",\"\r\n") != std::string::npos ||
                     (!s.empty() && (s.front() == ' ' || s.back() == ' '));
  if (!quote) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// A header row, then one row per image and rank (rank 1 = most probable).
std::string FormatCsv(const std::vector<ImageResult>& results) {
  std::string out = "path,rank,index,label,probability\n";
  for (const ImageResult& res : results) {
    for (size_t i = 0; i < res.top.size(); ++i) {
      const Prediction& p = res.top[i];
      out += fmt::format("{},{},{},{},{:.6g}\n", CsvField(res.path), i + 1, p.index,
                         CsvField(p.label), p.probability);
    }
  }
  return out;
}

// ---------------- which files are images ----------------

// Image files taken from a folder (lower case; matched case-insensitively). A file named on the
// command line is decoded by its content whatever its name, except that .nv12/.yuv select NV12.
constexpr const char* kImageExtensions[] = {".jpg", ".jpeg", ".png", ".nv12", ".yuv"};
constexpr const char* kImageExtensionList = ".jpg, .jpeg, .png, .nv12, .yuv";
// Images taken from folders in one run: bounds the list a huge tree could make (a path is ~100
// bytes; ImageNet's validation set is 50,000 images).
constexpr size_t kMaxFolderImages = 1'000'000;

bool HasImageExtension(const std::string& path) {
  const std::string ext = LowerExtension(path);
  return std::any_of(std::begin(kImageExtensions), std::end(kImageExtensions),
                     [&](const char* e) { return ext == e; });
}

bool HasNv12Extension(const std::string& path) {
  const std::string ext = LowerExtension(path);
  return ext == ".nv12" || ext == ".yuv";
}

// Up to 8 leading bytes of a regular file ("" when it is none or cannot be read): opened
// non-blocking through util (a fifo named as an image must not hang the sniffing).
std::string LeadingBytes(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return {};
  try {
    const util::ReadOnlyFile file = util::OpenRegularFile(path, "image");
    std::string head(std::min<uint64_t>(file.size(), 8), '\0');
    return util::ReadAt(file.fd(), head.data(), head.size(), 0) ? head : std::string();
  } catch (const Error&) {
    return {};
  }
}

bool IsJpegOrPng(const std::string& head) {
  return head.rfind("\xff\xd8\xff", 0) == 0 || head.rfind("\x89PNG\r\n\x1a\n", 0) == 0;
}

// Whether classify's first argument is an image (or a folder of them) rather than a model: ONNX
// files have no magic number (a protobuf starts with any field tag), so an image is recognised by
// being a folder, by its extension or by JPEG/PNG magic bytes; anything else is taken for the
// model.
bool IsImageArgument(const std::string& arg) {
  std::error_code ec;
  if (fs::is_directory(arg, ec)) return true;
  return HasImageExtension(arg) || IsJpegOrPng(LeadingBytes(arg));
}

// The image files of `args`: a folder contributes its image files (by extension, recursively,
// hidden entries skipped, symlinked folders not followed), sorted by path; a file is kept as it
// is (checked when it is read).
std::vector<std::string> ExpandImageArguments(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const std::string& arg : args) {
    std::error_code ec;
    if (!fs::is_directory(arg, ec)) {
      out.push_back(arg);
      continue;
    }
    std::vector<std::string> found;
    fs::recursive_directory_iterator it(arg, fs::directory_options::skip_permission_denied, ec);
    for (const fs::recursive_directory_iterator end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (!name.empty() && name[0] == '.') {
        if (it->is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (!HasImageExtension(name) || !it->is_regular_file(ec)) continue;
      if (out.size() + found.size() >= kMaxFolderImages)
        throw Error(ErrorCode::kInvalidArgument,
                    fmt::format("folder '{}' holds over {} images", Printable(arg, 1024),
                                kMaxFolderImages));
      found.push_back(it->path().string());
    }
    if (ec)
      throw Error(ErrorCode::kIo,
                  fmt::format("folder '{}': {}", Printable(arg, 1024), ec.message()));
    if (found.empty())
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("folder '{}' holds no image files ({})", Printable(arg, 1024),
                              kImageExtensionList));
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

// ---------------- NV12 frames ----------------

// Frame sizes that cameras and video standards use (WxH), to name what a file's byte count fits.
constexpr std::pair<int, int> kCommonFrameSizes[] = {
    {160, 120},   {176, 144},   {320, 240},   {352, 288},   {640, 360},   {640, 480},
    {720, 480},   {720, 576},   {800, 600},   {1024, 768},  {1280, 720},  {1280, 800},
    {1280, 960},  {1280, 1024}, {1600, 1200}, {1920, 1080}, {1920, 1200}, {2048, 1536},
    {2560, 1440}, {2592, 1944}, {3264, 2448}, {3840, 2160}, {4032, 3024}, {4096, 2160}};

// What a file of `size` bytes could be, when it is not one w x h NV12 frame: several frames,
// another pixel format at that size, an NV12 frame of a common size (byte counts coincide, e.g.
// 640x480 NV12 and 640x360 YUYV, so every reading that fits is listed). Empty when none does.
std::string Nv12SizeHint(uint64_t size, int w, int h) {
  const uint64_t pixels = static_cast<uint64_t>(w) * static_cast<uint64_t>(h);
  const uint64_t frame = pixels + pixels / 2;
  std::vector<std::string> fits;
  if (size > frame && size % frame == 0)
    fits.push_back(
        fmt::format("{} NV12 frames of {}x{} (give one frame per file)", size / frame, w, h));
  if (size == pixels * 3) fits.push_back(fmt::format("a {}x{} RGB24 frame", w, h));
  if (size == pixels * 2)
    fits.push_back(fmt::format("a {}x{} 4:2:2 frame (YUYV, UYVY or NV16)", w, h));
  if (size == pixels) fits.push_back(fmt::format("a {}x{} gray (Y only) frame", w, h));
  for (const auto& [cw, ch] : kCommonFrameSizes) {
    const uint64_t p = static_cast<uint64_t>(cw) * static_cast<uint64_t>(ch);
    if (p + p / 2 == size)
      fits.push_back(fmt::format("an NV12 frame of {}x{} or {}x{}", cw, ch, ch, cw));
  }
  std::string out;
  for (const std::string& f : fits) out += (out.empty() ? "; it would fit " : ", or ") + f;
  return out;
}

// Mean |Y(x, y) - Y(x, y + 1)| of a luma plane read with rows of `w` bytes: small for a picture
// read at its true width, large when the rows are misaligned.
double RowStepDifference(const uint8_t* luma, int w, int h) {
  if (h < 2) return 0;
  uint64_t sum = 0;
  const auto uw = static_cast<size_t>(w);
  for (size_t i = 0, n = uw * static_cast<size_t>(h - 1); i < n; ++i)
    sum += static_cast<uint64_t>(std::abs(int{luma[i]} - int{luma[i + uw]}));
  return static_cast<double>(sum) / (static_cast<double>(w) * (h - 1));
}

// A frame's bytes cannot tell W x H from H x W (the count is the same), but its rows can: read at
// the transposed width, vertically neighbouring pixels are far apart in the picture. A warning,
// not an error, as this is a guess: it needs more than twice the difference (and 2 levels, so flat
// or noise frames never warn) at the given width than at the transposed one.
std::string TransposedFrameWarning(const std::string& path, const uint8_t* luma, int w, int h) {
  if (w == h) return {};
  const double given = RowStepDifference(luma, w, h);
  const double transposed = RowStepDifference(luma, h, w);
  if (given <= 2 * transposed + 2) return {};
  return fmt::format(
      "effi: warning: '{}' looks transposed: its rows line up at {}x{}, not at the given {}x{} "
      "(--frame-size is width x height)",
      Printable(path, util::kMaxQuotedPath), h, w, w, h);
}

// One raw NV12 frame: read here through the bounded regular-file reader (a fifo or /dev/zero given
// as a frame fails at once) with exactly the frame's size as the limit. `warning` receives
// TransposedFrameWarning's line, if any.
image::Image LoadNv12(const std::string& path, int width, int height, std::string* warning) {
  const size_t luma = static_cast<size_t>(width) * static_cast<size_t>(height);
  const size_t need = luma + luma / 2;
  const util::ReadOnlyFile file = util::OpenRegularFile(path, "NV12 frame");
  if (file.size() != need)
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("NV12 frame '{}': a {}x{} frame is {} bytes (W*H*3/2), the file has "
                            "{}{}",
                            Printable(path, util::kMaxQuotedPath), width, height, need, file.size(),
                            Nv12SizeHint(file.size(), width, height)));
  const std::string bytes = util::ReadAll(file, path, need, "NV12 frame");
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  *warning = TransposedFrameWarning(path, data, width, height);
  return image::Nv12ToRgb(data, bytes.size(), width, height);
}

// A JPEG or PNG: checked by its magic bytes first, so that a raw frame given without
// --input-format gets a hint instead of the decoder's "unrecognised format".
image::Image LoadEncoded(const std::string& path) {
  const std::string head = LeadingBytes(path);
  if (!head.empty() && !IsJpegOrPng(head)) {
    std::string hex;
    for (size_t i = 0; i < head.size() && i < 4; ++i)
      hex += fmt::format("{:02x}", static_cast<unsigned char>(head[i]));
    throw Error(ErrorCode::kInvalidImage,
                fmt::format("image '{}' is neither JPEG nor PNG (it starts with {}); for a raw "
                            "NV12 frame use --input-format nv12 --frame-size WxH",
                            Printable(path, util::kMaxQuotedPath), hex));
  }
  return image::DecodeFile(path);
}

// ---------------- the command ----------------

int RunClassify(const ClassifyOptions& o) {
  // Command-line consistency first: no file is read for a usage error.
  const bool all_nv12 = o.input_format == "nv12";
  const bool frame_given = o.frame_size_opt->count() > 0;
  if (all_nv12 && !frame_given) throw UsageError("--input-format nv12 needs --frame-size WxH");
  std::pair<int, int> frame{0, 0};
  if (frame_given) frame = ParseSize(o.frame_size);

  // The model: the first argument, unless it is an image or a folder (then the bundled model
  // classifies every argument); no argument at all: the bundled demo.
  std::string model_path = o.model;
  std::vector<std::string> images = o.images;
  if (model_path.empty()) {
    if (all_nv12) throw UsageError("the demo images are PNGs; give MODEL and IMAGE for nv12 input");
    DemoAssets demo = FindDemoAssets();
    model_path = demo.model;
    images = demo.images;
    std::cerr << fmt::format("effi: no MODEL given: classifying the {} demo images in {}\n",
                             images.size(), Printable(demo.dir, util::kMaxQuotedPath));
  } else if (IsImageArgument(o.model)) {
    images.insert(images.begin(), o.model);
    model_path = FindDemoAssets().model;
    std::cerr << fmt::format("effi: using the bundled model {}\n",
                             Printable(model_path, util::kMaxQuotedPath));
  } else if (images.empty()) {
    throw UsageError("no IMAGE given (usage: effi classify [MODEL] IMAGE|FOLDER...)");
  }
  images = ExpandImageArguments(images);
  std::vector<bool> nv12(images.size(), all_nv12);
  for (size_t i = 0; i < images.size(); ++i) {
    if (all_nv12 || o.input_format != "auto" || !HasNv12Extension(images[i])) continue;
    nv12[i] = true;
    if (!frame_given)
      throw UsageError(
          fmt::format("'{}' is a raw NV12 frame (by its extension): give its size "
                      "with --frame-size WxH",
                      Printable(images[i], util::kMaxQuotedPath)));
  }
  if (frame_given && std::find(nv12.begin(), nv12.end(), true) == nv12.end())
    throw UsageError(
        "--frame-size applies to NV12 frames only (--input-format nv12, or .nv12/.yuv files)");
  // Every file exists and is a regular file before the model loads (stat() only).
  for (size_t i = 0; i < images.size(); ++i)
    CheckReadableFile(images[i], nv12[i] ? "NV12 frame" : "image");

  std::vector<std::string> file_labels;
  if (!o.labels.empty()) file_labels = LoadLabelsFile(o.labels);

  CheckReadableFile(model_path, "model");
  ModelOptions model_options;
  model_options.passes = o.passes;
  model_options.memory_limit_bytes = o.memory_limit;
  std::shared_ptr<Model> model;
  {
    const ElapsedNotice notice("loading " + fs::path(model_path).filename().string());
    model = Model::Load(model_path, model_options);
  }

  // The model: one float32 NCHW image input, a float32 output [N, classes...]; labels from
  // --labels, else its metadata. Preprocessing: timm defaults at the model's input size, then the
  // model's "preprocess" metadata, then explicit flags.
  const ClassifierInfo info =
      CheckClassifier(*model, model_path, "classify", std::move(file_labels),
                      fmt::format("labels file '{}'", Printable(o.labels, 1024)));
  const TensorInfo& in = info.input;
  const std::vector<std::string>& labels = info.labels;
  const image::PreprocessConfig cfg = ModelPreprocessing(*model, info, o.preprocess);

  const size_t count = images.size();
  const size_t per_image = static_cast<size_t>(3) * cfg.input_h * cfg.input_w;
  std::vector<std::string> warnings(count);
  auto load = [&](size_t i) {
    const image::Image img = nv12[i] ? LoadNv12(images[i], frame.first, frame.second, &warnings[i])
                                     : LoadEncoded(images[i]);
    std::vector<float> x = image::Preprocess(img, cfg);
    if (x.size() != per_image)
      throw Error(ErrorCode::kInternal,
                  fmt::format("preprocessing '{}' gave {} values, expected {}",
                              Printable(images[i], util::kMaxQuotedPath), x.size(), per_image));
    return x;
  };
  std::vector<ImageResult> results(count);
  // The output check, softmax and top-k are effi::Classifier's (api::RankRows).
  auto collect = [&](const Tensor& out, size_t first, size_t n) {
    std::vector<std::vector<Prediction>> ranked = api::RankRows(out, n, o.top, labels);
    for (size_t i = 0; i < n; ++i) results[first + i] = {images[first + i], std::move(ranked[i])};
  };
  if (o.batch && !info.dynamic_batch && count > 1)
    std::cerr << "effi: warning: the model's batch dimension is fixed; --batch ignored\n";

  // Images are decoded, preprocessed and run on --threads workers, one session each (whole images
  // scale better than a session's intra-op threads at batch 1: see eval.cc), results kept in
  // argument order; the threads left over when there are fewer images go to the sessions. With
  // --batch on a dynamic-batch model every image is preprocessed first, then run at once on one
  // session with every thread. Results are printed only when every image succeeded.
  const bool one_batch = o.batch && info.dynamic_batch;
  const bool keep_all = one_batch || !o.save_input.empty();
  const size_t threads = static_cast<size_t>(o.threads);
  const size_t workers = std::max<size_t>(1, std::min(threads, count));
  SessionOptions session_options;
  session_options.threads =
      one_batch ? o.threads : static_cast<int>(std::max<size_t>(1, threads / workers));
  std::vector<std::vector<float>> inputs(keep_all ? count : 0);  // [3,H,W] each
  std::vector<std::unique_ptr<Session>> sessions(workers);
  Progress progress("classify", count, 1.0);
  try {
    ForEachItem(
        count, workers,
        [&](size_t w) {
          if (!one_batch) sessions[w] = std::make_unique<Session>(model, session_options);
        },
        [&](size_t i, size_t w) {
          std::vector<float> x = load(i);
          if (!one_batch) {
            Tensor t = Tensor::Float({1, 3, cfg.input_h, cfg.input_w}, x);
            collect(sessions[w]->Run({{in.name, std::move(t)}}).at(0), i, 1);
          }
          if (keep_all) inputs[i] = std::move(x);
        },
        [&](size_t done) { progress.Update(done); });
  } catch (...) {
    progress.Clear();
    throw;
  }
  progress.Clear();
  std::vector<float> all;  // [N,3,H,W] for --batch / --save-input
  if (keep_all) {
    all.reserve(per_image * count);
    for (std::vector<float>& x : inputs) {
      all.insert(all.end(), x.begin(), x.end());
      std::vector<float>().swap(x);
    }
  }
  const auto n_images = static_cast<int64_t>(count);
  if (one_batch) {
    const ElapsedNotice notice(fmt::format("running a batch of {}", count));
    Session session(model, session_options);
    Tensor t = Tensor::Float({n_images, 3, cfg.input_h, cfg.input_w}, all);
    collect(session.Run({{in.name, std::move(t)}}).at(0), 0, count);
  }
  if (!o.save_input.empty())
    npy::SaveF32(o.save_input, all.data(), {n_images, 3, cfg.input_h, cfg.input_w});

  for (const std::string& w : warnings)
    if (!w.empty()) std::cerr << w << "\n";
  std::cout << (o.json  ? FormatJson(results)
                : o.csv ? FormatCsv(results)
                        : FormatTable(results, labels));
  std::cout.flush();
  return kExitOk;
}

}  // namespace

Command AddClassifyCommand(CLI::App& parent) {
  auto o = std::make_shared<ClassifyOptions>();
  CLI::App* app = parent.add_subcommand(
      "classify", "Classify images (with no arguments: the bundled Fashion-MNIST demo)");
  app->add_option("MODEL", o->model,
                  "ONNX model; when this argument is an image or a folder, the bundled model "
                  "classifies it [default: the bundled demo model]");
  app->add_option("IMAGE", o->images,
                  "JPEG/PNG images, raw NV12 frames (.nv12, .yuv) or folders of them (recursive, "
                  "sorted) [default: the demo images]");
  app->add_option("--labels", o->labels,
                  "class names: JSON list or one per line [default: the model's 'labels' "
                  "metadata, else indices]")
      ->type_name("FILE");
  app->add_option("--top", o->top, "classes to show per image")
      ->type_name("K")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  auto* json = app->add_flag("--json", o->json, "print one JSON document instead of a table");
  app->add_flag("--csv", o->csv, "print CSV (path,rank,index,label,probability) with a header row")
      ->excludes(json);
  app->add_option("--threads", o->threads,
                  "images classified in parallel (one thread each); a single image or --batch "
                  "uses them inside the model")
      ->type_name("N")
      ->default_str(fmt::format("{} (the CPU count)", DefaultThreads()))
      ->check(CLI::Range(1, 256));
  app->add_option("--save-input", o->save_input,
                  "write the float32 input tensor [N,3,H,W] fed to the model")
      ->type_name("FILE.npy");
  app->add_option("--input-format", o->input_format,
                  "auto: .nv12/.yuv files are NV12 frames, others JPEG/PNG by content; nv12: "
                  "every file is a raw NV12 frame")
      ->type_name("FMT")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "nv12"}));
  o->frame_size_opt =
      app->add_option("--frame-size", o->frame_size,
                      "NV12 frame width x height (even sides); required for NV12 input")
          ->type_name("WxH")
          ->check(ParsedBy(
              [](const std::string& s) -> std::string {
                const auto [w, h] = ParseSize(s);
                if (w % 2 || h % 2) return "NV12 needs even sides, got " + s;
                return {};
              },
              "WxH"));
  AddPreprocessFlags(*app, &o->preprocess);
  AddPassesOption(*app, &o->passes);
  AddMemoryLimitOption(*app, &o->memory_limit);
  app->add_flag("--batch", o->batch, "run all images as one batch (models with a dynamic batch)");
  app->footer(
      "Preprocessing defaults are timm EfficientFormer's at the model's input size (crop_pct "
      "0.95,\n"
      "bicubic antialiased, ImageNet mean/std, RGB), replaced by the model's 'preprocess' "
      "metadata\n"
      "when present; explicit flags override both. Probabilities are softmax(logits), unless the\n"
      "output already is a distribution (values in [0,1] summing to 1), which is shown as is.\n"
      "Sizes are width x height. An NV12 file must be exactly W*H*3/2 bytes; a transposed size\n"
      "has the same byte count, so it is only guessed from the picture (a warning).");
  return {app, [o] { return RunClassify(*o); }};
}

}  // namespace effi::cli
