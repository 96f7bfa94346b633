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

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* EFFI_EFFI_H_ */
