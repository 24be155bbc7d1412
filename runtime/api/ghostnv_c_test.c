/* The public header compiles as C99, and the static library works from C. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ghostnv/ghostnv.h"

static int failures = 0;
#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                          \
    }                                                                      \
  } while (0)

int main(void) {
  ghostnv_options o;
  ghostnv_denoiser* d = NULL;
  char path[4096];
  const char* shared = getenv("GHOSTNV_SHARED_DIR");
  struct stat st;
  enum { kFrames = 4800 };
  static float buf[kFrames * 2];
  size_t i;

  ghostnv_options_init(&o);
  CHECK(o.struct_size == sizeof(ghostnv_options));
  o.backend = GHOSTNV_BACKEND_CUDA;
  CHECK(ghostnv_create(&o, &d) == GHOSTNV_ERROR_BACKEND_UNAVAILABLE);
  CHECK(d == NULL);
  CHECK(strstr(ghostnv_last_error(), "CUDA") != NULL);
  CHECK(strcmp(ghostnv_strerror(GHOSTNV_ERROR_BACKEND_UNAVAILABLE), "backend unavailable") == 0);

  /* The integration spec's calls, from C. */
  {
    ghostnv_context_t* ctx = ghostnv_init_audio(0, 48000);
    CHECK(ctx == NULL);
    CHECK(ghostnv_last_status() == GHOSTNV_ERROR_BACKEND_UNAVAILABLE);
    CHECK(strstr(ghostnv_last_error(), "gpu_id 0") != NULL);
    ctx = ghostnv_init_audio(GHOSTNV_GPU_NONE, 48000);
    if (ctx) { /* NULL only in a build without an embedded default model */
      CHECK(ctx->buffer_size == 480);
      CHECK(ctx->gpu_context == NULL);
      for (i = 0; i < kFrames; ++i) buf[i] = (float)(0.2 * sin(0.05 * (double)i));
      CHECK(ghostnv_denoise_audio(ctx, buf, buf, 333) == 0);
      CHECK(ghostnv_denoise_audio(ctx, buf, buf, kFrames - 333) == 0);
      CHECK(ghostnv_audio_latency(ctx) == 959);
      CHECK(ghostnv_context_denoiser(ctx) != NULL);
      ghostnv_cleanup(ctx);
      CHECK(ghostnv_denoise_audio(ctx, buf, buf, 1) == GHOSTNV_ERROR_BAD_HANDLE);
    }
  }

  if (!shared) {
    printf("1 passed, 0 failed, 1 skipped\n");
    return failures != 0;
  }
  snprintf(path, sizeof(path), "%s/data/models/rnnoise/sh.rnnn", shared);
  if (stat(path, &st) != 0) {
    printf("SKIPPED: no %s\n", path);
    return failures != 0;
  }
  ghostnv_options_init(&o);
  o.model = path;
  o.channels = 2;
  o.sample_rate = 96000;
  CHECK(ghostnv_create(&o, &d) == GHOSTNV_OK);
  if (d) {
    for (i = 0; i < kFrames * 2; ++i) buf[i] = (float)(0.3 * sin(0.01 * (double)i));
    CHECK(ghostnv_process(d, buf, buf, kFrames) == GHOSTNV_OK);
    for (i = 0; i < kFrames * 2; ++i) CHECK(isfinite(buf[i]));
    CHECK(ghostnv_latency_frames(d) > 960);
    CHECK(strstr(ghostnv_info_json(d), "\"family\":\"rnnoise\"") != NULL);
    ghostnv_destroy(d);
  }
  printf("%s\n", failures ? "FAILED" : "PASSED");
  return failures != 0;
}
