// `effi classify`: decode images (JPEG/PNG or raw NV12), apply the model's timm preprocessing, run
// the classifier and print the top-k classes per image as a table or JSON.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>

#include "common.h"
#include "dataset.h"
#include "image/image.h"
#include "image/preprocess.h"
#include "util/file.h"
#include "util/npy.h"
#include "util/text.h"

namespace effi::cli {
namespace {

struct ClassifyOptions {
  std::string model;
  std::vector<std::string> images;
  std::string labels;
  int top = 5;
  bool json = false;
  std::string save_input;
  std::string input_format = "auto";
  std::string frame_size;
  PreprocessFlags preprocess;  // explicit flags override the model's metadata
  std::string passes = "all";
  int64_t memory_limit = 0;  // --memory-limit; 0 = EFFI_MEMORY_LIMIT / default
  bool batch = false;
  CLI::Option* frame_size_opt = nullptr;
};

struct Prediction {
  int64_t index = 0;
  float prob = 0;
};

struct ImageResult {
  std::string path;
  std::vector<Prediction> top;
};

// Turns one output row into probabilities. Classifier heads normally emit logits, so softmax is
// applied; a row that already is a distribution (every value in [0,1], sum within 1e-3 of 1, as
// from a model exported with a final Softmax) is used as it is, since a second softmax would
// flatten it.
std::vector<float> ToProbabilities(const float* row, size_t n) {
  double sum = 0;
  bool in_unit = true;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(row[i])) throw Error(ErrorCode::kInternal, "model output is not finite");
    in_unit = in_unit && row[i] >= 0.0f && row[i] <= 1.0f;
    sum += row[i];
  }
  std::vector<float> p(row, row + n);
  if (in_unit && std::fabs(sum - 1.0) <= 1e-3) return p;
  const float max = *std::max_element(row, row + n);
  double total = 0;
  for (size_t i = 0; i < n; ++i) total += std::exp(static_cast<double>(row[i]) - max);
  for (size_t i = 0; i < n; ++i)
    p[i] = static_cast<float>(std::exp(static_cast<double>(row[i]) - max) / total);
  return p;
}

std::vector<Prediction> TopK(const std::vector<float>& probs, int k) {
  std::vector<int64_t> idx(probs.size());
  std::iota(idx.begin(), idx.end(), 0);
  const size_t n = std::min(idx.size(), static_cast<size_t>(k));
  std::partial_sort(
      idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(n), idx.end(),
      [&](int64_t a, int64_t b) { return probs[a] > probs[b] || (probs[a] == probs[b] && a < b); });
  std::vector<Prediction> top;
  for (size_t i = 0; i < n; ++i) top.push_back({idx[i], probs[idx[i]]});
  return top;
}

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

std::string LabelOf(const std::vector<std::string>& labels, int64_t index) {
  return labels.empty() ? std::to_string(index) : labels[static_cast<size_t>(index)];
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
      names.push_back(
          labels.empty()
              ? std::to_string(p.index)
              : fmt::format("{} ({})", Shorten(Printable(labels[p.index], 1024)), p.index));
      width = std::max(width, Utf8Width(names.back()));
    }
    const size_t rank_width = std::to_string(res.top.size()).size();
    for (size_t i = 0; i < res.top.size(); ++i) {
      out += fmt::format("  {:>{}}. {}{}  {:.4f}\n", i + 1, rank_width, names[i],
                         std::string(width - Utf8Width(names[i]), ' '), res.top[i].prob);
    }
  }
  return out;
}

std::string FormatJson(const std::vector<ImageResult>& results,
                       const std::vector<std::string>& labels) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const ImageResult& res : results) {
    nlohmann::ordered_json top = nlohmann::ordered_json::array();
    for (const Prediction& p : res.top) {
      top.push_back({{"index", p.index},
                     {"label", LabelOf(labels, p.index)},
                     {"prob", static_cast<double>(p.prob)}});
    }
    list.push_back({{"image", res.path}, {"top", std::move(top)}});
  }
  nlohmann::ordered_json doc = {{"results", std::move(list)}};
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// One raw NV12 frame: read here through the bounded regular-file reader (a fifo or /dev/zero given
// as a frame fails at once) with exactly the frame's size as the limit.
image::Image LoadNv12(const std::string& path, int width, int height) {
  const size_t luma = static_cast<size_t>(width) * static_cast<size_t>(height);
  const size_t need = luma + luma / 2;
  const util::ReadOnlyFile file = util::OpenRegularFile(path, "NV12 frame");
  if (file.size() != need)
    throw Error(
        ErrorCode::kInvalidArgument,
        fmt::format("NV12 frame '{}': a {}x{} frame needs {} bytes, the file has {}",
                    Printable(path, util::kMaxQuotedPath), width, height, need, file.size()));
  const std::string bytes = util::ReadAll(file, path, need, "NV12 frame");
  return image::Nv12ToRgb(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), width,
                          height);
}

int RunClassify(const ClassifyOptions& o) {
  // Command-line consistency first: no file is touched for a usage error.
  const bool nv12 = o.input_format == "nv12";
  std::pair<int, int> frame{0, 0};
  if (nv12 && !o.frame_size_opt->count())
    throw UsageError("--input-format nv12 needs --frame-size WxH");
  if (!nv12 && o.frame_size_opt->count())
    throw UsageError("--frame-size only applies with --input-format nv12");
  if (nv12) frame = ParseSize(o.frame_size);

  std::string model_path = o.model;
  std::vector<std::string> images = o.images;
  if (model_path.empty()) {
    if (nv12) throw UsageError("the demo images are PNGs; give MODEL and IMAGE for nv12 input");
    DemoAssets demo = FindDemoAssets();
    model_path = demo.model;
    images = demo.images;
    std::cerr << fmt::format("effi: no MODEL given: classifying the {} demo images in {}\n",
                             images.size(), demo.dir);
  } else if (images.empty()) {
    throw UsageError("no IMAGE given (usage: effi classify MODEL IMAGE...)");
  }

  std::vector<std::string> file_labels;
  if (!o.labels.empty()) file_labels = LoadLabelsFile(o.labels);

  CheckReadableFile(model_path, "model");
  ModelOptions model_options;
  model_options.passes = o.passes;
  model_options.memory_limit_bytes = o.memory_limit;
  std::shared_ptr<Model> model = Model::Load(model_path, model_options);

  // The model: one float32 NCHW image input, a float32 output [N, classes...]; labels from
  // --labels, else its metadata. Preprocessing: timm defaults at the model's input size, then the
  // model's "preprocess" metadata, then explicit flags.
  const ClassifierInfo info =
      CheckClassifier(*model, model_path, "classify", std::move(file_labels),
                      fmt::format("labels file '{}'", Printable(o.labels, 1024)));
  const TensorInfo& in = info.input;
  const std::vector<std::string>& labels = info.labels;
  const image::PreprocessConfig cfg = ModelPreprocessing(*model, info, o.preprocess);

  // Images are decoded, preprocessed and run one at a time (all at once with --batch on a
  // dynamic-batch model); results are printed only when every image succeeded.
  const size_t per_image = static_cast<size_t>(3) * cfg.input_h * cfg.input_w;
  auto load = [&](size_t i) {
    CheckReadableFile(images[i], "image");
    const image::Image img =
        nv12 ? LoadNv12(images[i], frame.first, frame.second) : image::DecodeFile(images[i]);
    std::vector<float> x = image::Preprocess(img, cfg);
    if (x.size() != per_image)
      throw Error(ErrorCode::kInternal,
                  fmt::format("preprocessing '{}' gave {} values, expected {}",
                              Printable(images[i], util::kMaxQuotedPath), x.size(), per_image));
    return x;
  };
  Session session(model);
  std::vector<ImageResult> results;
  auto collect = [&](const Tensor& out, size_t first, size_t count) {
    if (out.type != ElementType::kFloat32 || out.shape.empty() ||
        out.shape[0] != static_cast<int64_t>(count))
      throw Error(ErrorCode::kUnsupported,
                  fmt::format("unexpected output {} {} for a batch of {}",
                              ElementTypeName(out.type), ShapeString(out.shape), count));
    const size_t row = static_cast<size_t>(out.elements()) / count;
    if (!labels.empty() && labels.size() != row)
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("{} labels for {} classes", labels.size(), row));
    for (size_t i = 0; i < count; ++i) {
      const std::vector<float> probs = ToProbabilities(out.floats() + i * row, row);
      results.push_back({images[first + i], TopK(probs, o.top)});
    }
  };
  if (o.batch && !info.dynamic_batch && images.size() > 1)
    std::cerr << "effi: warning: the model's batch dimension is fixed; --batch ignored\n";
  const bool one_batch = o.batch && info.dynamic_batch;
  const bool keep_all = one_batch || !o.save_input.empty();
  std::vector<float> all;  // [N,3,H,W] for --batch / --save-input
  if (keep_all) all.reserve(per_image * images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    std::vector<float> x = load(i);
    if (keep_all) all.insert(all.end(), x.begin(), x.end());
    if (one_batch) continue;
    Tensor t = Tensor::Float({1, 3, cfg.input_h, cfg.input_w}, x);
    collect(session.Run({{in.name, std::move(t)}}).at(0), i, 1);
  }
  const int64_t n_images = static_cast<int64_t>(images.size());
  if (one_batch) {
    Tensor t = Tensor::Float({n_images, 3, cfg.input_h, cfg.input_w}, all);
    collect(session.Run({{in.name, std::move(t)}}).at(0), 0, images.size());
  }
  if (!o.save_input.empty())
    npy::SaveF32(o.save_input, all.data(), {n_images, 3, cfg.input_h, cfg.input_w});

  std::cout << (o.json ? FormatJson(results, labels) : FormatTable(results, labels));
  std::cout.flush();
  return kExitOk;
}

}  // namespace

Command AddClassifyCommand(CLI::App& parent) {
  auto o = std::make_shared<ClassifyOptions>();
  CLI::App* app = parent.add_subcommand(
      "classify", "Classify images (with no arguments: the bundled Fashion-MNIST demo)");
  app->add_option("MODEL", o->model, "ONNX model [default: the bundled demo model]");
  app->add_option("IMAGE", o->images,
                  "JPEG/PNG images (or raw NV12 frames) [default: the demo images]");
  app->add_option("--labels", o->labels,
                  "class names: JSON list or one per line [default: the model's 'labels' "
                  "metadata, else indices]")
      ->type_name("FILE");
  app->add_option("--top", o->top, "classes to show per image")
      ->type_name("K")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  app->add_flag("--json", o->json, "print one JSON document instead of a table");
  app->add_option("--save-input", o->save_input,
                  "write the float32 input tensor [N,3,H,W] fed to the model")
      ->type_name("FILE.npy");
  app->add_option("--input-format", o->input_format, "auto: JPEG/PNG by content; nv12: raw frames")
      ->type_name("FMT")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "nv12"}));
  o->frame_size_opt = app->add_option("--frame-size", o->frame_size, "NV12 frame size (even sides)")
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
      "output already is a distribution (values in [0,1] summing to 1), which is shown as is.");
  return {app, [o] { return RunClassify(*o); }};
}

}  // namespace effi::cli
