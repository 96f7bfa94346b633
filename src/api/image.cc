// The image API (include/effi/image.hpp) over src/image: decoding, timm/PIL-exact preprocessing,
// top-k, and effi::Classifier with its session pool. The checks the CLI shares are classifier.h's.
#include "image/image.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <numeric>
#include <utility>

#include "api/classifier.h"
#include "image/labels.h"
#include "util/text.h"

namespace effi {
namespace api {
namespace {

[[noreturn]] void Fail(ErrorCode code, const std::string& message) { throw Error(code, message); }

}  // namespace

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += shape[i] >= 0 ? std::to_string(shape[i]) : (i == 0 ? "N" : "?");
  }
  return s + "]";
}

const TensorInfo& CheckImageInput(const Model& model, const std::string& who,
                                  const std::string& model_name) {
  if (model.inputs().size() != 1)
    Fail(ErrorCode::kUnsupported, fmt::format("{} needs a model with one image input, {} has {}",
                                              who, model_name, model.inputs().size()));
  const TensorInfo& in = model.inputs()[0];
  if (in.type != ElementType::kFloat32 || in.shape.size() != 4 ||
      (in.shape[1] >= 0 && in.shape[1] != 3) || in.shape[0] > 1)
    Fail(ErrorCode::kUnsupported,
         fmt::format("{} needs a float32 [N,3,H,W] input with batch 1 or dynamic; input '{}' of "
                     "{} is {} {}",
                     who, util::EscapeControl(in.name), model_name, ElementTypeName(in.type),
                     ShapeString(in.shape)));
  return in;
}

ClassifierInfo CheckClassifier(const Model& model, const std::string& who,
                               const std::string& model_name, std::vector<std::string> labels,
                               const std::string& labels_source) {
  ClassifierInfo info;
  info.input = CheckImageInput(model, who, model_name);
  if (model.outputs().empty())
    Fail(ErrorCode::kUnsupported,
         fmt::format("{} needs a float32 output (class scores); {} has none", who, model_name));
  const TensorInfo& output = model.outputs()[0];
  const std::string output_name = util::EscapeControl(output.name);
  if (output.type != ElementType::kFloat32)
    Fail(ErrorCode::kUnsupported,
         fmt::format("{} needs a float32 output (class scores); output '{}' of {} is {}", who,
                     output_name, model_name, ElementTypeName(output.type)));
  const std::vector<int64_t>& out = output.shape;
  if (out.size() < 2)
    Fail(ErrorCode::kUnsupported,
         fmt::format("{} needs an output [N, classes]; output '{}' of {} is {} (no class "
                     "dimension)",
                     who, output_name, model_name, ShapeString(out)));
  info.dynamic_batch = info.input.shape[0] < 0;
  info.classes = 1;
  for (size_t i = 1; i < out.size(); ++i)
    info.classes = out[i] < 0 || info.classes < 0 ? -1 : info.classes * out[i];
  if (info.classes == 0)
    Fail(ErrorCode::kUnsupported, fmt::format("{}: output '{}' of {} is {}: no classes", who,
                                              output_name, model_name, ShapeString(out)));
  // The metadata is read only when no labels were given, so they override even a broken one.
  std::string source = labels_source;
  if (labels.empty()) {
    const auto it = model.metadata().find("labels");
    if (it == model.metadata().end()) return info;
    labels = image::ParseLabelsMetadata(it->second);
    source = fmt::format("the 'labels' metadata of {}", model_name);
  }
  if (labels.size() > image::kMaxLabels)
    Fail(ErrorCode::kInvalidArgument, fmt::format("{} has {} labels, over the limit of {}", source,
                                                  labels.size(), image::kMaxLabels));
  if (info.classes > 0 && static_cast<int64_t>(labels.size()) != info.classes)
    Fail(ErrorCode::kInvalidArgument, fmt::format("{} has {} labels but the model has {} classes",
                                                  source, labels.size(), info.classes));
  info.labels = std::move(labels);
  return info;
}

image::PreprocessConfig ModelPreprocessConfig(const Model& model, const TensorInfo& input) {
  image::PreprocessConfig config;
  if (input.shape[2] > 0) config.input_h = static_cast<int>(input.shape[2]);
  if (input.shape[3] > 0) config.input_w = static_cast<int>(input.shape[3]);
  if (const auto it = model.metadata().find("preprocess"); it != model.metadata().end()) {
    try {
      config = image::FromMetadataJson(it->second, config);
    } catch (const Error& e) {
      // Its messages quote the offending JSON value whole: cut to a line's worth.
      Fail(e.code(), util::EscapeControl(e.what(), 240));
    }
  }
  return config;
}

void CheckFits(const image::PreprocessConfig& config, const TensorInfo& input) {
  if ((input.shape[2] > 0 && input.shape[2] != config.input_h) ||
      (input.shape[3] > 0 && input.shape[3] != config.input_w))
    Fail(ErrorCode::kInvalidArgument,
         fmt::format("preprocessing makes {}x{} (WxH) images but model input '{}' is {}",
                     config.input_w, config.input_h, util::EscapeControl(input.name),
                     ShapeString(input.shape)));
}

image::PreprocessConfig ResolvePreprocessing(const Model& model, const TensorInfo& input,
                                             const std::optional<PreprocessOptions>& given) {
  const image::PreprocessConfig config =
      given ? ToConfig(*given) : ModelPreprocessConfig(model, input);
  CheckFits(config, input);
  return config;
}

image::PreprocessConfig ToConfig(const PreprocessOptions& o) {
  image::PreprocessConfig c;
  c.input_w = o.width;
  c.input_h = o.height;
  c.crop_pct = o.crop_pct;
  c.resize_w = o.resize_width;
  c.resize_h = o.resize_height;
  switch (o.interpolation) {
    case Interpolation::kBicubic:
      c.interp = image::Interpolation::kBicubic;
      break;
    case Interpolation::kBilinear:
      c.interp = image::Interpolation::kBilinear;
      break;
    case Interpolation::kNearest:
      c.interp = image::Interpolation::kNearest;
      break;
    default:
      Fail(ErrorCode::kInvalidArgument,
           fmt::format("preprocess: interpolation {} is not one of bicubic (0), bilinear (1), "
                       "nearest (2)",
                       static_cast<int>(o.interpolation)));
  }
  c.antialias = o.antialias;
  c.mean = o.mean;
  c.std = o.std;
  c.bgr = o.bgr;
  return c;
}

PreprocessOptions ToOptions(const image::PreprocessConfig& c) {
  PreprocessOptions o;
  o.width = c.input_w;
  o.height = c.input_h;
  o.crop_pct = c.crop_pct;
  o.resize_width = c.resize_w;
  o.resize_height = c.resize_h;
  o.interpolation = c.interp == image::Interpolation::kBilinear  ? Interpolation::kBilinear
                    : c.interp == image::Interpolation::kNearest ? Interpolation::kNearest
                                                                 : Interpolation::kBicubic;
  o.antialias = c.antialias;
  o.mean = c.mean;
  o.std = c.std;
  o.bgr = c.bgr;
  return o;
}

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

}  // namespace api

// ---------------- decoding ----------------

namespace {

// The public Image and the internal one (src/image, which does not see the public headers) hold
// the same three fields; decoded pixels are moved across, not copied. (One type for both would make
// every unqualified Preprocess(image, {...}) in effi::image ambiguous through ADL.)
Image FromInternal(image::Image&& in) {
  Image out;
  out.width = in.width;
  out.height = in.height;
  out.rgb = std::move(in.rgb);
  return out;
}

// The other way the pixels are copied: ~1 ms for a 12 MP photo, against ~20 ms to resize it.
image::Image ToInternal(const Image& in) {
  image::Image out;
  out.width = in.width;
  out.height = in.height;
  out.rgb = in.rgb;
  return out;
}

int64_t PixelLimit(int64_t max_pixels) {
  if (max_pixels < 0)
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("max_pixels = {} (0 for the library's limit)", max_pixels));
  return max_pixels == 0 ? image::kMaxPixels : std::min(max_pixels, image::kMaxPixels);
}

}  // namespace

Image DecodeImage(const std::string& path, int64_t max_pixels) {
  return FromInternal(image::DecodeFile(path, PixelLimit(max_pixels)));
}

Image DecodeImage(const void* data, size_t size, int64_t max_pixels) {
  return FromInternal(image::DecodeMemory(static_cast<const uint8_t*>(data), size, "<memory>",
                                          PixelLimit(max_pixels)));
}

Image DecodeNv12(const void* data, size_t size, int width, int height) {
  return FromInternal(image::Nv12ToRgb(static_cast<const uint8_t*>(data), size, width, height));
}

Image DecodeNv12File(const std::string& path, int width, int height) {
  return FromInternal(image::LoadNv12File(path, width, height));
}

// ---------------- preprocessing ----------------

PreprocessOptions ModelPreprocessing(const Model& model) {
  const TensorInfo& input = api::CheckImageInput(model, "ModelPreprocessing", "the model");
  return api::ToOptions(api::ResolvePreprocessing(model, input, std::nullopt));
}

namespace {

// The float32 [N, 3, H, W] batch of `images` preprocessed with `config`. Sized from the first
// image's result: image::Preprocess checks the config (sizes, std, ...) before any is trusted.
Tensor PreprocessBatch(const std::vector<const Image*>& images,
                       const image::PreprocessConfig& config) {
  Tensor t;
  t.type = ElementType::kFloat32;
  t.shape = {static_cast<int64_t>(images.size()), 3, config.input_h, config.input_w};
  for (size_t i = 0; i < images.size(); ++i) {
    const std::vector<float> x = image::Preprocess(ToInternal(*images[i]), config);
    if (i == 0) t.bytes.resize(images.size() * x.size() * sizeof(float));
    std::copy(x.begin(), x.end(), t.floats() + i * x.size());
  }
  return t;
}

}  // namespace

Tensor Preprocess(const Image& img, const PreprocessOptions& options) {
  return PreprocessBatch({&img}, api::ToConfig(options));
}

// ---------------- top-k ----------------

std::vector<Prediction> TopK(const float* scores, size_t count, int top,
                             const std::vector<std::string>& labels) {
  if (count == 0 || scores == nullptr) throw Error(ErrorCode::kInvalidArgument, "TopK: no scores");
  if (top < 1) throw Error(ErrorCode::kInvalidArgument, fmt::format("TopK: top = {}", top));
  if (!labels.empty() && labels.size() != count)
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("{} labels for {} classes", labels.size(), count));
  const std::vector<float> probs = api::ToProbabilities(scores, count);
  std::vector<int64_t> idx(count);
  std::iota(idx.begin(), idx.end(), 0);
  const size_t n = std::min(count, static_cast<size_t>(top));
  std::partial_sort(
      idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(n), idx.end(),
      [&](int64_t a, int64_t b) { return probs[a] > probs[b] || (probs[a] == probs[b] && a < b); });
  std::vector<Prediction> result(n);
  for (size_t i = 0; i < n; ++i) {
    const auto k = static_cast<size_t>(idx[i]);
    result[i].index = idx[i];
    result[i].probability = probs[k];
    result[i].label = labels.empty() ? std::to_string(k) : labels[k];
  }
  return result;
}

std::vector<std::vector<Prediction>> api::RankRows(const Tensor& out, size_t count, int top,
                                                   const std::vector<std::string>& labels) {
  if (out.type != ElementType::kFloat32 || out.shape.empty() ||
      out.shape[0] != static_cast<int64_t>(count) || out.elements() == 0)
    throw Error(ErrorCode::kUnsupported,
                fmt::format("unexpected output {} {} for a batch of {}", ElementTypeName(out.type),
                            api::ShapeString(out.shape), count));
  const size_t row = static_cast<size_t>(out.elements()) / count;
  std::vector<std::vector<Prediction>> result;
  for (size_t i = 0; i < count; ++i)
    result.push_back(TopK(out.floats() + i * row, row, top, labels));
  return result;
}

// ---------------- Classifier ----------------

namespace {
constexpr const char* kWho = "effi::Classifier";
}  // namespace

struct Classifier::Impl {
  std::shared_ptr<const Model> model;
  SessionOptions session_options;
  api::ClassifierInfo info;
  PreprocessOptions preprocessing;
  image::PreprocessConfig config;

  std::mutex mutex;  // guards idle
  std::vector<std::unique_ptr<Session>> idle;

  // A session borrowed from the pool for one Classify call.
  class Lease {
   public:
    explicit Lease(Impl& impl) : impl_(impl) {
      {
        const std::lock_guard<std::mutex> lock(impl_.mutex);
        if (!impl_.idle.empty()) {
          session_ = std::move(impl_.idle.back());
          impl_.idle.pop_back();
        }
      }
      if (!session_) session_ = std::make_unique<Session>(impl_.model, impl_.session_options);
    }
    ~Lease() {
      const std::lock_guard<std::mutex> lock(impl_.mutex);
      try {
        impl_.idle.push_back(std::move(session_));
      } catch (...) {  // out of memory growing the pool: the session is dropped instead
      }
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Session& operator*() { return *session_; }

   private:
    Impl& impl_;
    std::unique_ptr<Session> session_;
  };

  // Runs a preprocessed [count, 3, H, W] batch and ranks each row.
  std::vector<std::vector<Prediction>> Run(Tensor input, size_t count, int top) {
    if (top < 1) throw Error(ErrorCode::kInvalidArgument, fmt::format("top = {}", top));
    std::vector<Tensor> outputs;
    {
      Lease session(*this);
      std::vector<std::pair<std::string, Tensor>> feeds;
      feeds.emplace_back(info.input.name, std::move(input));
      outputs = (*session).Run(feeds);
    }
    return api::RankRows(outputs.at(0), count, top, info.labels);
  }
};

Classifier::Classifier(std::shared_ptr<const Model> model, const SessionOptions& session)
    : Classifier(std::move(model), ClassifierOptions{session, {}, std::nullopt}) {}

Classifier::Classifier(std::shared_ptr<const Model> model, const ClassifierOptions& options)
    : impl_(std::make_unique<Impl>()) {
  if (!model) throw Error(ErrorCode::kInvalidArgument, "effi::Classifier: the model is null");
  impl_->info = api::CheckClassifier(*model, kWho, "the model", options.labels);
  impl_->model = std::move(model);
  impl_->session_options = options.session;
  if (options.preprocessing) {
    set_preprocessing(*options.preprocessing);
  } else {
    impl_->config = api::ModelPreprocessConfig(*impl_->model, impl_->info.input);
    api::CheckFits(impl_->config, impl_->info.input);
    impl_->preprocessing = api::ToOptions(impl_->config);
  }
  // One session now: a model whose plan does not fit its memory budget fails here, not at the
  // first Classify.
  impl_->idle.push_back(std::make_unique<Session>(impl_->model, impl_->session_options));
}

Classifier::~Classifier() = default;
Classifier::Classifier(Classifier&&) noexcept = default;
Classifier& Classifier::operator=(Classifier&&) noexcept = default;

const Model& Classifier::model() const { return *impl_->model; }
const TensorInfo& Classifier::input() const { return impl_->info.input; }
const PreprocessOptions& Classifier::preprocessing() const { return impl_->preprocessing; }

void Classifier::set_preprocessing(const PreprocessOptions& options) {
  image::PreprocessConfig config = api::ToConfig(options);
  // The options' own consistency (sizes, crop_pct, std != 0) is checked once here, on a 1x1 plan,
  // so a bad value fails at configuration rather than at the first image.
  image::PlanResize(1, 1, config);
  api::CheckFits(config, impl_->info.input);
  impl_->config = config;
  impl_->preprocessing = options;
}

const std::vector<std::string>& Classifier::labels() const { return impl_->info.labels; }

void Classifier::set_labels(std::vector<std::string> labels) {
  if (labels.empty()) {
    impl_->info.labels.clear();
    return;
  }
  impl_->info = api::CheckClassifier(*impl_->model, kWho, "the model", std::move(labels));
}

int64_t Classifier::classes() const { return impl_->info.classes; }

std::vector<Prediction> Classifier::Classify(const Image& image, int top) {
  return impl_->Run(PreprocessBatch({&image}, impl_->config), 1, top).at(0);
}

std::vector<std::vector<Prediction>> Classifier::Classify(const std::vector<Image>& images,
                                                          int top) {
  std::vector<std::vector<Prediction>> result;
  if (images.empty()) return result;
  if (impl_->info.dynamic_batch) {
    std::vector<const Image*> all;
    for (const Image& img : images) all.push_back(&img);
    return impl_->Run(PreprocessBatch(all, impl_->config), images.size(), top);
  }
  for (const Image& img : images) result.push_back(Classify(img, top));
  return result;
}

std::vector<std::vector<Prediction>> Classifier::Classify(const Tensor& preprocessed, int top) {
  const Tensor& t = preprocessed;
  if (t.type != ElementType::kFloat32 || t.shape.size() != 4 || t.shape[0] < 1 || t.shape[1] != 3 ||
      t.shape[2] != impl_->config.input_h || t.shape[3] != impl_->config.input_w ||
      t.bytes.size() != static_cast<size_t>(t.elements()) * sizeof(float))
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("effi::Classifier: expected a float32 [N, 3, {}, {}] tensor, got {} {}",
                            impl_->config.input_h, impl_->config.input_w, ElementTypeName(t.type),
                            api::ShapeString(t.shape)));
  return impl_->Run(t, static_cast<size_t>(t.shape[0]), top);
}

}  // namespace effi
