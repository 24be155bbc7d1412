// tools/denoise/live.h — ghostnv-denoise live mode: ALSA capture -> denoise -> ALSA playback.
//
//   ghostnv-denoise --capture PCM --playback PCM [--latency ultra|realtime|quality]
//                   [--period N] [--periods K] [--rate R] [--format F] [--channels C]
//                   [--model M] [--backend auto|cpu|cuda|cuda:N] [--strength S]
//                   [--report text|json] [--duration SECONDS]
//
// Runs the public API (include/ghostnv/) inside the full-duplex engine of audio/alsa_duplex.h:
// one real-time audio thread per stream, a control thread (this one) that every second prints
// processing time per period (p50/p99/max), deadline misses, xruns and the latency budget, and a
// summary at the end (Ctrl-C / SIGTERM end cleanly). See docs/live.md for what each --latency
// setting reaches and why.
//
// Latency accounting (frames at the device rate), for one captured frame:
//   capture buffering   one period (a period is read once it is complete)
//   library buffering   ghostnv_latency_frames() minus the model's algorithmic latency
//   algorithmic         the model's own delay (RNNoise: 10 ms)
//   processing          one period: the deadline that the first prefill period buys
//   playback buffering  the rest of the prefill (prefill - 1 period)
//   total (nominal)     the sum = period + library latency + prefill
// and, measured from the devices each period, `device_frames` = snd_pcm_delay(capture) +
// snd_pcm_delay(playback) at the moment a period is taken; total (device) = device_frames +
// library latency, which includes what the devices or the sound server add.
//
// Hidden test/benchmark flags (see main.cc): --measure-latency (replace the input by an impulse
// every 0.5 s, denoise at strength 0 and report the round trip found in the capture: wire
// playback to capture, e.g. a PipeWire loopback), --rt-priority, --prefill, --no-mlock,
// --stall-timeout-ms, --debug-stall-ms/--debug-stall-every (a stalled processing thread).
#pragma once

#include <cstdint>
#include <string>

namespace ghostnv::tools {

struct LiveOptions {
  std::string capture;
  std::string playback;
  std::string latency = "realtime";  // ultra | realtime | quality
  int period = 0;                    // 0: from --latency
  int periods = 0;                   // 0: from --latency
  int prefill = 0;                   // playback periods queued at start; 0: from --latency
  int rate = 48000;
  int channels = 1;
  std::string format = "auto";       // S16_LE | S24_3LE | S24_LE | S32_LE | FLOAT_LE | auto
  std::string model = "default";
  int backend = 0;                   // a ghostnv_backend
  float strength = 1.0f;
  std::string report = "text";       // text | json
  double duration = 0;               // seconds; 0 = until Ctrl-C
  int rt_priority = 70;
  bool lock_memory = true;
  int stall_timeout_ms = 2000;
  bool measure_latency = false;
  int debug_stall_ms = 0;
  int64_t debug_stall_every = 0;
};

// Runs live mode; returns the process exit code (0: stopped or duration reached; 1: a device
// failed or the capture ended; 2: bad options). Errors are one "ghostnv-denoise: " line on stderr.
int RunLive(const LiveOptions& options);

}  // namespace ghostnv::tools
