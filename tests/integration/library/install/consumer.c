/* A program built against an installed libghostnv with
 *   cc consumer.c $(pkg-config --cflags --libs ghostnv)
 * It uses the integration spec's three calls and the versioned API, and prints one line. */
#include <ghostnv/ghostnv.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  enum { kSamples = 48000 };
  static float in[kSamples], out[kSamples];
  ghostnv_context_t* ctx;
  ghostnv_options o;
  ghostnv_denoiser* d = NULL;
  size_t i, pos;
  double energy_in = 0, energy_out = 0;
  int rc;

  if (strcmp(ghostnv_version(), GHOSTNV_VERSION_STRING) != 0) {
    fprintf(stderr, "header %s, library %s\n", GHOSTNV_VERSION_STRING, ghostnv_version());
    return 1;
  }
  /* The spec's calls: -1 = CPU. */
  ctx = ghostnv_init_audio(-1, 48000);
  if (!ctx) {
    fprintf(stderr, "ghostnv_init_audio: %s\n", ghostnv_last_error());
    return 1;
  }
  for (i = 0; i < kSamples; ++i) in[i] = (float)(0.1 * sin(0.37 * (double)i) * sin(1e-3 * (double)i));
  for (pos = 0; pos < kSamples; pos += 1000) { /* any call size */
    rc = ghostnv_denoise_audio(ctx, in + pos, out + pos, 1000);
    if (rc < 0) {
      fprintf(stderr, "ghostnv_denoise_audio: %s\n", ghostnv_strerror(rc));
      return 1;
    }
  }
  for (i = 0; i < kSamples; ++i) {
    if (!isfinite(out[i])) return 1;
    energy_in += in[i] * in[i];
    energy_out += out[i] * out[i];
  }
  printf("spec: buffer_size=%zu latency=%lld energy_in=%.3f energy_out=%.3f\n", ctx->buffer_size,
         (long long)ghostnv_audio_latency(ctx), energy_in, energy_out);
  ghostnv_cleanup(ctx);

  /* A GPU id that names no usable device is refused clearly (device 99 exists nowhere, GPU
     machine or not). */
  if (ghostnv_init_audio(99, 48000) == NULL)
    printf("gpu 99: %s (%s)\n", ghostnv_strerror(ghostnv_last_status()), ghostnv_last_error());

  /* The versioned API: stereo at 44.1 kHz. */
  ghostnv_options_init(&o);
  o.sample_rate = 44100;
  o.channels = 2;
  rc = ghostnv_create(&o, &d);
  if (rc != GHOSTNV_OK) {
    fprintf(stderr, "ghostnv_create: %s\n", ghostnv_last_error());
    return 1;
  }
  rc = ghostnv_process(d, in, out, kSamples / 2);
  printf("versioned: rc=%d latency=%lld\n", rc, (long long)ghostnv_latency_frames(d));
  ghostnv_destroy(d);
  printf("OK\n");
  return rc == GHOSTNV_OK ? 0 : 1;
}
