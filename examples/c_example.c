/* effi C API example: load a model, run it on zeros, print the top-1 class.
 *   effi_example_c MODEL.onnx */
#include <stdio.h>
#include <stdlib.h>

#include "effi/effi.h"

int main(int argc, char** argv) {
  effi_model* model = NULL;
  effi_session* session = NULL;
  int64_t in_shape[EFFI_MAX_RANK], out_shape[EFFI_MAX_RANK];
  size_t in_rank = EFFI_MAX_RANK, out_rank = EFFI_MAX_RANK, in_count = 1, out_count = 1, i;
  float *input = NULL, *output = NULL;
  int rc = 1;

  if (argc != 2) {
    fprintf(stderr, "usage: %s MODEL.onnx\n", argv[0]);
    return 2;
  }
  printf("effi %s\n", effi_version());
  if (effi_model_load(argv[1], &model) != EFFI_OK ||
      effi_model_input_shape(model, 0, in_shape, &in_rank) != EFFI_OK ||
      effi_model_output_shape(model, 0, out_shape, &out_rank) != EFFI_OK ||
      effi_session_create(model, 1, &session) != EFFI_OK) {
    fprintf(stderr, "error: %s\n", effi_last_error());
    goto done;
  }
  /* Dynamic dims (-1) run at 1. */
  for (i = 0; i < in_rank; ++i) in_count *= (size_t)(in_shape[i] < 0 ? 1 : in_shape[i]);
  for (i = 0; i < out_rank; ++i) out_count *= (size_t)(out_shape[i] < 0 ? 1 : out_shape[i]);
  for (i = 0; i < in_rank; ++i)
    if (in_shape[i] < 0) in_shape[i] = 1;
  input = (float*)calloc(in_count, sizeof(float));
  output = (float*)calloc(out_count, sizeof(float));
  if (!input || !output) {
    fprintf(stderr, "error: out of memory\n");
    goto done;
  }
  out_rank = EFFI_MAX_RANK;
  if (effi_session_run_f32(session, effi_model_input_name(model, 0), input, in_shape, in_rank,
                           output, out_count, out_shape, &out_rank) != EFFI_OK) {
    fprintf(stderr, "error: %s\n", effi_last_error());
    goto done;
  }
  {
    size_t best = 0;
    for (i = 1; i < out_count; ++i)
      if (output[i] > output[best]) best = i;
    printf("top-1: class %lu (score %.4f)\n", (unsigned long)best, (double)output[best]);
  }
  rc = 0;
done:
  free(input);
  free(output);
  effi_session_free(session);
  effi_model_free(model);
  return rc;
}
