/* effi C API example: classify an image with the model's own preprocessing and labels, or, without
 * an image, run the model once on zeros.
 *   effi_example_c MODEL.onnx [IMAGE]      (JPEG or PNG)
 * Build against an installed effi: find_package(effi) + effi::effi (examples/CMakeLists.txt), or
 *   cc c_example.c $(pkg-config --cflags --libs effi) */
#include <stdio.h>
#include <stdlib.h>

#include "effi/effi.h"

/* Top-3 classes of one image. */
static int classify(const effi_model* model, const char* path) {
  effi_classifier* classifier = NULL;
  effi_image* image = NULL;
  effi_prediction top[3];
  size_t n = 0, i;
  int rc = 1;
  if (effi_classifier_create(model, NULL, 1, &classifier) != EFFI_OK ||
      effi_image_decode_file(path, &image) != EFFI_OK ||
      effi_classify(classifier, image, top, 3, &n) != EFFI_OK) {
    fprintf(stderr, "error: %s\n", effi_last_error());
    goto done;
  }
  printf("%s (%dx%d)\n", path, image->width, image->height);
  for (i = 0; i < n; ++i) {
    if (top[i].label)
      printf("  %-20s %.4f\n", top[i].label, (double)top[i].probability);
    else
      printf("  class %-14lld %.4f\n", (long long)top[i].index, (double)top[i].probability);
  }
  rc = 0;
done:
  effi_image_free(image);
  effi_classifier_free(classifier);
  return rc;
}

/* The tensor API: one float32 input of zeros (dynamic dims at 1), the top-1 of output 0. */
static int run_zeros(const effi_model* model) {
  effi_session* session = NULL;
  int64_t in_shape[EFFI_MAX_RANK], out_shape[EFFI_MAX_RANK];
  size_t in_rank = EFFI_MAX_RANK, out_rank = EFFI_MAX_RANK, in_count = 1, out_count = 1, i;
  float *input = NULL, *output = NULL;
  int rc = 1;
  if (effi_model_input_shape(model, 0, in_shape, &in_rank) != EFFI_OK ||
      effi_model_output_shape(model, 0, out_shape, &out_rank) != EFFI_OK ||
      effi_session_create(model, 1, &session) != EFFI_OK) {
    fprintf(stderr, "error: %s\n", effi_last_error());
    goto done;
  }
  for (i = 0; i < in_rank; ++i) {
    if (in_shape[i] < 0) in_shape[i] = 1;
    in_count *= (size_t)in_shape[i];
  }
  for (i = 0; i < out_rank; ++i) out_count *= (size_t)(out_shape[i] < 0 ? 1 : out_shape[i]);
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
    printf("zeros: top-1 class %lu (score %.4f)\n", (unsigned long)best, (double)output[best]);
  }
  rc = 0;
done:
  free(input);
  free(output);
  effi_session_free(session);
  return rc;
}

int main(int argc, char** argv) {
  effi_model* model = NULL;
  int rc;
  if (argc != 2 && argc != 3) {
    fprintf(stderr, "usage: %s MODEL.onnx [IMAGE]\n", argv[0]);
    return 2;
  }
  printf("effi %s\n", effi_version());
  if (effi_model_load(argv[1], &model) != EFFI_OK) {
    fprintf(stderr, "error: %s (%s)\n", effi_last_error(), effi_status_string(EFFI_INVALID_MODEL));
    return 1;
  }
  rc = argc == 3 ? classify(model, argv[2]) : run_zeros(model);
  effi_model_free(model);
  return rc;
}
