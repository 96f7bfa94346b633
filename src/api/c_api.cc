// C API (include/effi/effi.h) over the C++ API: opaque handles own shared_ptr/Session objects and
// every exception is caught at the boundary and turned into a status + thread-local message.
#include <fmt/format.h>

#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "effi/effi.h"
#include "effi/effi.hpp"
#include "effi/image.hpp"

struct effi_model {
  std::shared_ptr<effi::Model> model;
};

struct effi_session {
  explicit effi_session(effi::Session s) : session(std::move(s)) {}
  std::shared_ptr<const effi::Model> model;
  effi::Session session;
};

struct effi_classifier {
  explicit effi_classifier(effi::Classifier c) : classifier(std::move(c)) {}
  effi::Classifier classifier;
};

namespace {

thread_local std::string g_last_error;

effi_status Fail(effi_status status, std::string message) {
  g_last_error = std::move(message);
  if (g_last_error.empty()) g_last_error = "unknown error";
  return status;
}

effi::Error InvalidArgument(const std::string& message) {
  return effi::Error(effi::ErrorCode::kInvalidArgument, message);
}

// Runs `body`, mapping every exception to a status and message; clears the message on success.
template <typename F>
effi_status Guard(F&& body) {
  try {
    body();
    g_last_error.clear();
    return EFFI_OK;
  } catch (const effi::Error& e) {
    const int code = static_cast<int>(e.code());
    return Fail(code >= EFFI_INVALID_ARGUMENT && code <= EFFI_INTERNAL
                    ? static_cast<effi_status>(code)
                    : EFFI_INTERNAL,
                e.what());
  } catch (const std::bad_alloc&) {
    return Fail(EFFI_INTERNAL, "out of memory");
  } catch (const std::exception& e) {
    return Fail(EFFI_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return Fail(EFFI_INTERNAL, "internal error: unknown exception");
  }
}

void CopyShape(const std::vector<int64_t>& shape, int64_t* dims, size_t* rank, const char* what) {
  if (!rank) throw InvalidArgument(fmt::format("{}: rank pointer is NULL", what));
  const size_t capacity = *rank;
  *rank = shape.size();
  if (!dims) return;
  if (capacity < shape.size()) {
    throw InvalidArgument(
        fmt::format("{}: shape has rank {}, the buffer holds {}", what, shape.size(), capacity));
  }
  for (size_t i = 0; i < shape.size(); ++i) dims[i] = shape[i];
}

const effi::TensorInfo* InfoAt(const std::vector<effi::TensorInfo>& list, size_t i,
                               const char* what) {
  if (i >= list.size())
    throw InvalidArgument(
        fmt::format("{} index {} out of range (model has {})", what, i, list.size()));
  return &list[i];
}

int SessionThreads(int threads, const char* what) {
  if (threads < 0) throw InvalidArgument(fmt::format("{}: threads = {}", what, threads));
  return threads == 0 ? 1 : threads;
}

// A decoded image handed to C: the struct and its pixels, both released by effi_image_free.
void PublishImage(effi::Image&& image, effi_image** out) {
  auto pixels = std::make_unique<uint8_t[]>(image.rgb.size());
  std::memcpy(pixels.get(), image.rgb.data(), image.rgb.size());
  auto handle = std::make_unique<effi_image>();
  handle->width = image.width;
  handle->height = image.height;
  handle->rgb = pixels.release();
  *out = handle.release();
}

// A C image as the C++ type (a copy: effi::Image owns its pixels).
effi::Image FromC(const effi_image* image, const char* what) {
  if (!image) throw InvalidArgument(fmt::format("{}: image is NULL", what));
  if (image->width <= 0 || image->height <= 0 || image->width > (1 << 15) ||
      image->height > (1 << 15))
    throw InvalidArgument(
        fmt::format("{}: image size {}x{} out of range", what, image->width, image->height));
  if (!image->rgb) throw InvalidArgument(fmt::format("{}: image rgb is NULL", what));
  effi::Image img;
  img.width = image->width;
  img.height = image->height;
  const size_t bytes = static_cast<size_t>(image->width) * static_cast<size_t>(image->height) * 3;
  img.rgb.assign(image->rgb, image->rgb + bytes);
  return img;
}

effi_preprocess_options ToC(const effi::PreprocessOptions& o) {
  effi_preprocess_options c{};
  c.width = o.width;
  c.height = o.height;
  c.crop_pct = o.crop_pct;
  c.resize_width = o.resize_width;
  c.resize_height = o.resize_height;
  c.interpolation = static_cast<int>(o.interpolation);
  c.antialias = o.antialias ? 1 : 0;
  for (int i = 0; i < 3; ++i) {
    c.mean[i] = o.mean[static_cast<size_t>(i)];
    c.std[i] = o.std[static_cast<size_t>(i)];
  }
  c.bgr = o.bgr ? 1 : 0;
  return c;
}

effi::PreprocessOptions FromC(const effi_preprocess_options& c) {
  static_assert(EFFI_INTERPOLATION_BICUBIC == static_cast<int>(effi::Interpolation::kBicubic) &&
                EFFI_INTERPOLATION_BILINEAR == static_cast<int>(effi::Interpolation::kBilinear) &&
                EFFI_INTERPOLATION_NEAREST == static_cast<int>(effi::Interpolation::kNearest));
  if (c.interpolation < EFFI_INTERPOLATION_BICUBIC || c.interpolation > EFFI_INTERPOLATION_NEAREST)
    throw InvalidArgument(
        fmt::format("preprocess options: interpolation {} is not an "
                    "effi_interpolation",
                    c.interpolation));
  effi::PreprocessOptions o;
  o.width = c.width;
  o.height = c.height;
  o.crop_pct = c.crop_pct;
  o.resize_width = c.resize_width;
  o.resize_height = c.resize_height;
  o.interpolation = static_cast<effi::Interpolation>(c.interpolation);
  o.antialias = c.antialias != 0;
  for (int i = 0; i < 3; ++i) {
    o.mean[static_cast<size_t>(i)] = c.mean[i];
    o.std[static_cast<size_t>(i)] = c.std[i];
  }
  o.bgr = c.bgr != 0;
  return o;
}

}  // namespace

extern "C" {

const char* effi_version(void) { return effi::Version(); }

const char* effi_last_error(void) { return g_last_error.c_str(); }

const char* effi_status_string(effi_status status) {
  switch (status) {
    case EFFI_OK:
      return "EFFI_OK";
    case EFFI_INVALID_ARGUMENT:
      return "EFFI_INVALID_ARGUMENT";
    case EFFI_INVALID_MODEL:
      return "EFFI_INVALID_MODEL";
    case EFFI_UNSUPPORTED:
      return "EFFI_UNSUPPORTED";
    case EFFI_IO_ERROR:
      return "EFFI_IO_ERROR";
    case EFFI_INVALID_IMAGE:
      return "EFFI_INVALID_IMAGE";
    case EFFI_INTERNAL:
      return "EFFI_INTERNAL";
  }
  return "EFFI_UNKNOWN_STATUS";
}

effi_status effi_model_load(const char* path, effi_model** out) {
  return effi_model_load_with_options(path, nullptr, out);
}

effi_status effi_model_load_with_options(const char* path, const effi_model_options* options,
                                         effi_model** out) {
  if (out) *out = nullptr;
  return Guard([&] {
    if (!path) throw InvalidArgument("effi_model_load: path is NULL");
    if (!out) throw InvalidArgument("effi_model_load: out is NULL");
    effi::ModelOptions model_options;
    if (options) {
      if (options->passes) model_options.passes = options->passes;
      model_options.memory_limit_bytes = options->memory_limit_bytes;
    }
    auto handle = std::make_unique<effi_model>();
    handle->model = effi::Model::Load(path, model_options);
    *out = handle.release();
  });
}

void effi_model_free(effi_model* model) { delete model; }

size_t effi_model_num_inputs(const effi_model* model) {
  return model ? model->model->inputs().size() : 0;
}

size_t effi_model_num_outputs(const effi_model* model) {
  return model ? model->model->outputs().size() : 0;
}

const char* effi_model_input_name(const effi_model* model, size_t i) {
  if (!model || i >= model->model->inputs().size()) return nullptr;
  return model->model->inputs()[i].name.c_str();
}

const char* effi_model_output_name(const effi_model* model, size_t i) {
  if (!model || i >= model->model->outputs().size()) return nullptr;
  return model->model->outputs()[i].name.c_str();
}

effi_status effi_model_input_shape(const effi_model* model, size_t i, int64_t* dims, size_t* rank) {
  return Guard([&] {
    if (!model) throw InvalidArgument("effi_model_input_shape: model is NULL");
    CopyShape(InfoAt(model->model->inputs(), i, "input")->shape, dims, rank,
              "effi_model_input_shape");
  });
}

effi_status effi_model_output_shape(const effi_model* model, size_t i, int64_t* dims,
                                    size_t* rank) {
  return Guard([&] {
    if (!model) throw InvalidArgument("effi_model_output_shape: model is NULL");
    CopyShape(InfoAt(model->model->outputs(), i, "output")->shape, dims, rank,
              "effi_model_output_shape");
  });
}

effi_status effi_session_create(const effi_model* model, int threads, effi_session** out) {
  if (out) *out = nullptr;
  return Guard([&] {
    if (!model) throw InvalidArgument("effi_session_create: model is NULL");
    if (!out) throw InvalidArgument("effi_session_create: out is NULL");
    effi::SessionOptions options;
    options.threads = SessionThreads(threads, "effi_session_create");
    auto handle = std::make_unique<effi_session>(effi::Session(model->model, options));
    handle->model = model->model;
    *out = handle.release();
  });
}

void effi_session_free(effi_session* session) { delete session; }

effi_status effi_session_run_f32(effi_session* session, const char* input_name, const float* data,
                                 const int64_t* shape, size_t rank, float* out, size_t out_capacity,
                                 int64_t* out_shape, size_t* out_rank) {
  return Guard([&] {
    if (!session) throw InvalidArgument("effi_session_run_f32: session is NULL");
    if (rank > EFFI_MAX_RANK)
      throw InvalidArgument(fmt::format("effi_session_run_f32: rank {} > {}", rank, EFFI_MAX_RANK));
    if (!shape && rank > 0) throw InvalidArgument("effi_session_run_f32: shape is NULL");
    if (!out_rank) throw InvalidArgument("effi_session_run_f32: out_rank is NULL");
    const effi::Model& model = *session->model;
    if (model.inputs().size() != 1) {
      throw effi::Error(
          effi::ErrorCode::kUnsupported,
          fmt::format("effi_session_run_f32 feeds one input; the model has {} (use the "
                      "C++ API)",
                      model.inputs().size()));
    }
    std::string name = input_name ? input_name : model.inputs()[0].name;
    effi::Tensor input;
    input.type = effi::ElementType::kFloat32;
    input.shape.assign(shape, shape + rank);
    int64_t n = 1;
    for (size_t i = 0; i < rank; ++i) {
      if (shape[i] < 0 || (shape[i] > 0 && n > (int64_t{1} << 40) / shape[i]))
        throw InvalidArgument(
            fmt::format("effi_session_run_f32: bad input dim {} = {}", i, shape[i]));
      n *= shape[i];
    }
    if (n > 0 && !data) throw InvalidArgument("effi_session_run_f32: data is NULL");
    input.bytes.resize(static_cast<size_t>(n) * sizeof(float));
    if (n > 0) std::memcpy(input.bytes.data(), data, input.bytes.size());

    std::vector<std::pair<std::string, effi::Tensor>> feeds;
    feeds.emplace_back(std::move(name), std::move(input));
    std::vector<effi::Tensor> outputs = session->session.Run(feeds);
    if (outputs.empty())
      throw effi::Error(effi::ErrorCode::kInternal, "the model produced no output");
    const effi::Tensor& result = outputs[0];
    if (result.type != effi::ElementType::kFloat32) {
      throw effi::Error(effi::ErrorCode::kUnsupported,
                        fmt::format("output 0 is {}, effi_session_run_f32 returns float32 only",
                                    effi::ElementTypeName(result.type)));
    }
    if (result.shape.size() > EFFI_MAX_RANK)
      throw effi::Error(effi::ErrorCode::kUnsupported, "output rank above EFFI_MAX_RANK");
    const size_t shape_capacity = *out_rank;
    *out_rank = result.shape.size();
    if (!out_shape || shape_capacity < result.shape.size()) {
      throw InvalidArgument(
          fmt::format("effi_session_run_f32: output has rank {}, out_shape holds {}",
                      result.shape.size(), out_shape ? shape_capacity : 0));
    }
    for (size_t i = 0; i < result.shape.size(); ++i) out_shape[i] = result.shape[i];
    const size_t count = static_cast<size_t>(result.elements());
    if (count > out_capacity) {
      throw InvalidArgument(fmt::format("effi_session_run_f32: output has {} floats, out holds {}",
                                        count, out_capacity));
    }
    if (count > 0 && !out) throw InvalidArgument("effi_session_run_f32: out is NULL");
    if (count > 0) std::memcpy(out, result.floats(), count * sizeof(float));
  });
}

// ---- images and classification ----

effi_status effi_image_decode_file(const char* path, effi_image** out) {
  if (out) *out = nullptr;
  return Guard([&] {
    if (!path) throw InvalidArgument("effi_image_decode_file: path is NULL");
    if (!out) throw InvalidArgument("effi_image_decode_file: out is NULL");
    PublishImage(effi::DecodeImage(std::string(path)), out);
  });
}

effi_status effi_image_decode_memory(const void* data, size_t size, effi_image** out) {
  if (out) *out = nullptr;
  return Guard([&] {
    if (!out) throw InvalidArgument("effi_image_decode_memory: out is NULL");
    if (!data && size > 0) throw InvalidArgument("effi_image_decode_memory: data is NULL");
    PublishImage(effi::DecodeImage(data, size), out);
  });
}

effi_status effi_image_decode_nv12(const void* data, size_t size, int width, int height,
                                   effi_image** out) {
  if (out) *out = nullptr;
  return Guard([&] {
    if (!out) throw InvalidArgument("effi_image_decode_nv12: out is NULL");
    if (!data) throw InvalidArgument("effi_image_decode_nv12: data is NULL");
    PublishImage(effi::DecodeNv12(data, size, width, height), out);
  });
}

effi_status effi_image_decode_nv12_file(const char* path, int width, int height, effi_image** out) {
  if (out) *out = nullptr;
  return Guard([&] {
    if (!path) throw InvalidArgument("effi_image_decode_nv12_file: path is NULL");
    if (!out) throw InvalidArgument("effi_image_decode_nv12_file: out is NULL");
    PublishImage(effi::DecodeNv12File(path, width, height), out);
  });
}

void effi_image_free(effi_image* image) {
  if (!image) return;
  delete[] image->rgb;
  delete image;
}

effi_status effi_preprocess_options_default(effi_preprocess_options* out) {
  return Guard([&] {
    if (!out) throw InvalidArgument("effi_preprocess_options_default: out is NULL");
    *out = ToC(effi::PreprocessOptions{});
  });
}

effi_status effi_model_preprocessing(const effi_model* model, effi_preprocess_options* out) {
  return Guard([&] {
    if (!model) throw InvalidArgument("effi_model_preprocessing: model is NULL");
    if (!out) throw InvalidArgument("effi_model_preprocessing: out is NULL");
    *out = ToC(effi::ModelPreprocessing(*model->model));
  });
}

effi_status effi_preprocess(const effi_image* image, const effi_preprocess_options* options,
                            float* out, size_t out_capacity) {
  return Guard([&] {
    if (!options) throw InvalidArgument("effi_preprocess: options is NULL");
    const effi::PreprocessOptions o = FromC(*options);
    if (o.width <= 0 || o.height <= 0)
      throw InvalidArgument(
          fmt::format("effi_preprocess: output size {}x{} out of range", o.width, o.height));
    const size_t need = size_t{3} * static_cast<size_t>(o.width) * static_cast<size_t>(o.height);
    if (out_capacity < need)
      throw InvalidArgument(
          fmt::format("effi_preprocess: a {}x{} output needs {} floats, out "
                      "holds {}",
                      o.width, o.height, need, out_capacity));
    if (!out) throw InvalidArgument("effi_preprocess: out is NULL");
    const effi::Tensor t = effi::Preprocess(FromC(image, "effi_preprocess"), o);
    std::memcpy(out, t.floats(), need * sizeof(float));
  });
}

effi_status effi_classifier_create(const effi_model* model,
                                   const effi_preprocess_options* preprocessing, int threads,
                                   effi_classifier** out) {
  if (out) *out = nullptr;
  return Guard([&] {
    if (!model) throw InvalidArgument("effi_classifier_create: model is NULL");
    if (!out) throw InvalidArgument("effi_classifier_create: out is NULL");
    effi::ClassifierOptions options;
    options.session.threads = SessionThreads(threads, "effi_classifier_create");
    if (preprocessing) options.preprocessing = FromC(*preprocessing);
    *out = std::make_unique<effi_classifier>(effi::Classifier(model->model, options)).release();
  });
}

void effi_classifier_free(effi_classifier* classifier) { delete classifier; }

int64_t effi_classifier_num_classes(const effi_classifier* classifier) {
  return classifier ? classifier->classifier.classes() : 0;
}

const char* effi_classifier_label(const effi_classifier* classifier, int64_t index) {
  if (!classifier) return nullptr;
  const std::vector<std::string>& labels = classifier->classifier.labels();
  if (index < 0 || static_cast<uint64_t>(index) >= labels.size()) return nullptr;
  return labels[static_cast<size_t>(index)].c_str();
}

effi_status effi_classifier_set_labels(effi_classifier* classifier, const char* const* labels,
                                       size_t count) {
  return Guard([&] {
    if (!classifier) throw InvalidArgument("effi_classifier_set_labels: classifier is NULL");
    if (count > 0 && !labels) throw InvalidArgument("effi_classifier_set_labels: labels is NULL");
    std::vector<std::string> list;
    for (size_t i = 0; i < count; ++i) {
      if (!labels[i])
        throw InvalidArgument(fmt::format("effi_classifier_set_labels: labels[{}] is NULL", i));
      list.emplace_back(labels[i]);
    }
    classifier->classifier.set_labels(std::move(list));
  });
}

effi_status effi_classifier_preprocessing(const effi_classifier* classifier,
                                          effi_preprocess_options* out) {
  return Guard([&] {
    if (!classifier) throw InvalidArgument("effi_classifier_preprocessing: classifier is NULL");
    if (!out) throw InvalidArgument("effi_classifier_preprocessing: out is NULL");
    *out = ToC(classifier->classifier.preprocessing());
  });
}

effi_status effi_classify(effi_classifier* classifier, const effi_image* image,
                          effi_prediction* out, size_t top, size_t* count) {
  if (count) *count = 0;
  return Guard([&] {
    if (!classifier) throw InvalidArgument("effi_classify: classifier is NULL");
    if (!count) throw InvalidArgument("effi_classify: count is NULL");
    if (top == 0 || top > (size_t{1} << 20))
      throw InvalidArgument(fmt::format("effi_classify: top = {}", top));
    if (!out) throw InvalidArgument("effi_classify: out is NULL");
    const std::vector<effi::Prediction> ranked =
        classifier->classifier.Classify(FromC(image, "effi_classify"), static_cast<int>(top));
    for (size_t i = 0; i < ranked.size(); ++i) {
      out[i].index = ranked[i].index;
      out[i].probability = ranked[i].probability;
      out[i].label = effi_classifier_label(classifier, ranked[i].index);
    }
    *count = ranked.size();
  });
}

}  // extern "C"
