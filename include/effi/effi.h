/* effi C API: a C99 interface to the effi inference engine (opaque handles, status codes, a
 * thread-local error message). The C++ API (effi/effi.hpp) is the reference; this wraps it.
 *
 *   effi_model* model = NULL;
 *   effi_session* session = NULL;
 *   if (effi_model_load("model.onnx", &model) != EFFI_OK) {
 *     fprintf(stderr, "%s\n", effi_last_error());
 *   }
 *   effi_session_create(model, 1, &session);
 *   effi_session_run_f32(session, NULL, pixels, shape, 4, logits, 1000, out_shape, &out_rank);
 *   effi_session_free(session);
 *   effi_model_free(model);
 *
 * Thread safety: a model may be shared by any number of sessions and threads; a session must be
 * used by one thread at a time. No function throws or aborts on bad input: every failure is a
 * status code plus effi_last_error().
 */
#ifndef EFFI_EFFI_H_
#define EFFI_EFFI_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes; the values match effi::ErrorCode. */
typedef enum effi_status {
  EFFI_OK = 0,
  EFFI_INVALID_ARGUMENT = 1, /* bad argument: NULL pointer, wrong input name/shape, small buffer */
  EFFI_INVALID_MODEL = 2,    /* malformed model file */
  EFFI_UNSUPPORTED = 3,      /* valid ONNX that effi does not implement */
  EFFI_IO_ERROR = 4,         /* missing or unreadable file */
  EFFI_INVALID_IMAGE = 5,    /* corrupt or unsupported image */
  EFFI_INTERNAL = 6          /* anything else (e.g. out of memory) */
} effi_status;

/* Largest tensor rank the C API reports (shapes of rank above this are EFFI_UNSUPPORTED). */
#define EFFI_MAX_RANK 8

typedef struct effi_model effi_model;     /* a loaded, compiled model (immutable, shareable) */
typedef struct effi_session effi_session; /* per-thread execution state of one model */

/* Library version, e.g. "0.1.0". Static storage. */
const char* effi_version(void);

/* The message of the last failed call on this thread ("" when the last call succeeded). Valid
 * until the next effi_* call on the same thread. */
const char* effi_last_error(void);

/* Name of a status code, e.g. "EFFI_IO_ERROR". Static storage. */
const char* effi_status_string(effi_status status);

/* Loads, validates and compiles an ONNX model with all graph passes. On failure *out is NULL. */
effi_status effi_model_load(const char* path, effi_model** out);

/* Options of effi_model_load_with_options. All-zero (effi_model_options o = {0};) means the
 * defaults, as effi_model_load uses. */
typedef struct effi_model_options {
  /* Graph passes: NULL or "all", "none", or a list such as "all,-fuse_gelu". */
  const char* passes;
  /* Memory budget in bytes for what loading and running may allocate beyond the weights stored in
   * the file (activations, scratch, constants computed at load). A model over it fails with
   * EFFI_INVALID_MODEL naming the node. 0: EFFI_MEMORY_LIMIT if set (e.g. "2G"), else 512 MiB;
   * -1: unlimited. */
  int64_t memory_limit_bytes;
} effi_model_options;

/* effi_model_load with options; options NULL = defaults. On failure *out is NULL. */
effi_status effi_model_load_with_options(const char* path, const effi_model_options* options,
                                         effi_model** out);

/* Releases a model; NULL is ignored. Sessions created from it stay valid (they share it). */
void effi_model_free(effi_model* model);

/* Number of inputs / outputs (0 for a NULL model). */
size_t effi_model_num_inputs(const effi_model* model);
size_t effi_model_num_outputs(const effi_model* model);

/* Name of input / output i, owned by the model; NULL when model is NULL or i is out of range. */
const char* effi_model_input_name(const effi_model* model, size_t i);
const char* effi_model_output_name(const effi_model* model, size_t i);

/* Declared shape of input / output i; dynamic dims (e.g. a batch axis) are -1.
 * *rank: on entry, the capacity of dims (number of int64_t); on return, the rank. If dims is NULL
 * only the rank is returned; if the capacity is too small, EFFI_INVALID_ARGUMENT is returned with
 * *rank set to the rank needed. */
effi_status effi_model_input_shape(const effi_model* model, size_t i, int64_t* dims, size_t* rank);
effi_status effi_model_output_shape(const effi_model* model, size_t i, int64_t* dims, size_t* rank);

/* Creates a session. threads: intra-op threads, >= 1 (0 means 1). */
effi_status effi_session_create(const effi_model* model, int threads, effi_session** out);

/* Releases a session; NULL is ignored. */
void effi_session_free(effi_session* session);

/* Runs a model with one float32 input and copies float32 output 0 to `out`.
 *   input_name   the input to bind; NULL binds the model's only input
 *   data, shape, rank   the input tensor (row-major), rank <= EFFI_MAX_RANK
 *   out, out_capacity   destination and its capacity in floats
 *   out_shape, out_rank  on entry *out_rank is the capacity of out_shape; on return the output's
 *                        shape and rank (also when out_capacity is too small, so a caller can size
 *                        its buffer: then the status is EFFI_INVALID_ARGUMENT and out is untouched)
 * Models with several inputs or a non-float32 output 0 need the C++ API (EFFI_UNSUPPORTED). */
effi_status effi_session_run_f32(effi_session* session, const char* input_name, const float* data,
                                 const int64_t* shape, size_t rank, float* out, size_t out_capacity,
                                 int64_t* out_shape, size_t* out_rank);

/* ---- Images and classification (the C++ image API, effi/image.hpp) ----
 *
 *   effi_image* image = NULL;
 *   effi_classifier* classifier = NULL;
 *   effi_prediction top[5];
 *   size_t n = 0;
 *   effi_image_decode_file("cat.jpg", &image);
 *   effi_classifier_create(model, NULL, 1, &classifier);   (preprocessing + labels from metadata)
 *   effi_classify(classifier, image, top, 5, &n);
 *   printf("%s %.3f\n", top[0].label, top[0].probability);
 *   effi_classifier_free(classifier);
 *   effi_image_free(image);
 */

/* Interleaved RGB8, row-major, no padding: rgb holds width * height * 3 bytes. Images made by the
 * effi_image_decode_* functions own rgb and are released with effi_image_free; to classify pixels
 * of your own, fill an effi_image (on the stack) pointing at them. */
typedef struct effi_image {
  int width;
  int height;
  uint8_t* rgb;
} effi_image;

/* A JPEG or PNG file (format by content, not extension), decoded as PIL's
 * Image.open(path).convert("RGB") does. EFFI_IO_ERROR for a missing file, EFFI_INVALID_IMAGE for a
 * corrupt, unsupported or oversized one (over 200 M pixels). On failure *out is NULL. */
effi_status effi_image_decode_file(const char* path, effi_image** out);
/* The same from memory. */
effi_status effi_image_decode_memory(const void* data, size_t size, effi_image** out);
/* One raw NV12 frame (Y plane, then interleaved U,V at half resolution; BT.601 limited range) of
 * width x height pixels (both even, > 0); size must be exactly width * height * 3 / 2, otherwise
 * EFFI_INVALID_ARGUMENT. */
effi_status effi_image_decode_nv12(const void* data, size_t size, int width, int height,
                                   effi_image** out);
/* The same from a raw file of exactly that size. */
effi_status effi_image_decode_nv12_file(const char* path, int width, int height, effi_image** out);
/* Releases an image made by effi_image_decode_*; NULL is ignored. */
void effi_image_free(effi_image* image);

/* Resampling filters of effi_preprocess_options.interpolation. */
typedef enum effi_interpolation {
  EFFI_INTERPOLATION_BICUBIC = 0,
  EFFI_INTERPOLATION_BILINEAR = 1,
  EFFI_INTERPOLATION_NEAREST = 2
} effi_interpolation;

/* timm's eval transform: resize (shorter side to floor(size / crop_pct), or to exactly
 * resize_width x resize_height when both are > 0), centre crop to width x height, /255, normalise
 * (mean/std indexed by output plane), planes R,G,B (B,G,R when bgr). Start from
 * effi_preprocess_options_default or effi_model_preprocessing and change fields. */
typedef struct effi_preprocess_options {
  int width;
  int height;
  float crop_pct;
  int resize_width;
  int resize_height;
  int interpolation; /* an effi_interpolation */
  int antialias;     /* 1: PIL's antialiased resize (timm's pipeline); 0: torch interpolate() */
  float mean[3];
  float std[3];
  int bgr;
} effi_preprocess_options;

/* timm EfficientFormer's defaults: 224 x 224, crop_pct 0.95, bicubic, antialias, ImageNet
 * mean/std, RGB. */
effi_status effi_preprocess_options_default(effi_preprocess_options* out);
/* The model's preprocessing: the defaults at its image input's size, then its "preprocess"
 * metadata. EFFI_UNSUPPORTED when the model has no single float32 [N,3,H,W] input,
 * EFFI_INVALID_MODEL for malformed metadata. */
effi_status effi_model_preprocessing(const effi_model* model, effi_preprocess_options* out);
/* Preprocesses an image into out, float32 [3, height, width] (NCHW without the batch dim):
 * out_capacity (in floats) must be at least 3 * options->height * options->width. */
effi_status effi_preprocess(const effi_image* image, const effi_preprocess_options* options,
                            float* out, size_t out_capacity);

typedef struct effi_classifier effi_classifier; /* a model + preprocessing + labels + sessions */

/* One ranked class. label is owned by the classifier (valid until effi_classifier_set_labels or
 * effi_classifier_free); NULL when the classifier has no labels. */
typedef struct effi_prediction {
  int64_t index;
  float probability;
  const char* label;
} effi_prediction;

/* Creates a classifier for a model with one float32 [N,3,H,W] input and a float32 [N, classes]
 * output (else EFFI_UNSUPPORTED). preprocessing: NULL for the model's (effi_model_preprocessing),
 * else these options (EFFI_INVALID_ARGUMENT if they do not fit the input). threads: per classify
 * call, as effi_session_create. Labels come from the model's "labels" metadata (EFFI_INVALID_MODEL
 * when malformed). effi_classify may be called from several threads at once on one classifier. */
effi_status effi_classifier_create(const effi_model* model,
                                   const effi_preprocess_options* preprocessing, int threads,
                                   effi_classifier** out);
void effi_classifier_free(effi_classifier* classifier);
/* Number of classes (-1 when the output's class dimension is dynamic, 0 for NULL). */
int64_t effi_classifier_num_classes(const effi_classifier* classifier);
/* Label of class index, owned by the classifier; NULL without labels or out of range. */
const char* effi_classifier_label(const effi_classifier* classifier, int64_t index);
/* Replaces the labels: count strings, one per class (count 0: none). Not concurrently with
 * effi_classify. */
effi_status effi_classifier_set_labels(effi_classifier* classifier, const char* const* labels,
                                       size_t count);
/* The preprocessing the classifier applies. */
effi_status effi_classifier_preprocessing(const effi_classifier* classifier,
                                          effi_preprocess_options* out);
/* Classifies one image: the min(top, classes) most probable classes into out[0..*count), most
 * probable first. Probabilities are the softmax of the model's output, unless that already is a
 * distribution. */
effi_status effi_classify(effi_classifier* classifier, const effi_image* image,
                          effi_prediction* out, size_t top, size_t* count);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* EFFI_EFFI_H_ */
