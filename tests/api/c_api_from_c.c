/* Pure C99 user of effi/effi.h, called by c_api_test.cc: proves the header compiles as C and that a
 * full load -> session -> run -> free cycle works from C. */
#include "effi/effi.h"

/* Runs the model at `path` on `input` (its declared shape, dynamic dims = 1). On success *out_count
 * is the number of floats written to `out`. */
effi_status effi_test_run_from_c(const char* path, const float* input, float* out, size_t capacity,
                                 size_t* out_count) {
  effi_model* model = 0;
  effi_session* session = 0;
  int64_t shape[EFFI_MAX_RANK], out_shape[EFFI_MAX_RANK];
  size_t rank = EFFI_MAX_RANK, out_rank = EFFI_MAX_RANK, i;
  effi_status st = effi_model_load(path, &model);
  if (st == EFFI_OK) st = effi_model_input_shape(model, 0, shape, &rank);
  if (st == EFFI_OK) st = effi_session_create(model, 1, &session);
  for (i = 0; st == EFFI_OK && i < rank; ++i)
    if (shape[i] < 0) shape[i] = 1;
  if (st == EFFI_OK)
    st = effi_session_run_f32(session, 0, input, shape, rank, out, capacity, out_shape, &out_rank);
  if (st == EFFI_OK) {
    *out_count = 1;
    for (i = 0; i < out_rank; ++i) *out_count *= (size_t)out_shape[i];
  }
  effi_session_free(session);
  effi_model_free(model);
  return st;
}

/* Loads `path` with a zero-initialised effi_model_options (the defaults) plus `memory_limit_bytes`,
 * then frees it: the options struct as C code writes it. */
effi_status effi_test_load_with_limit_from_c(const char* path, int64_t memory_limit_bytes) {
  effi_model_options options = {0};
  effi_model* model = 0;
  effi_status st;
  options.memory_limit_bytes = memory_limit_bytes;
  st = effi_model_load_with_options(path, &options, &model);
  effi_model_free(model);
  return st;
}
