// plugins/ladspa/ghostnv_ladspa.cc — GhostNV noise suppression as a LADSPA plugin.
//
// Two plugins in one file (ghostnv_ladspa.so):
//   ghostnv_mono    (ID 4475001)  1 in, 1 out
//   ghostnv_stereo  (ID 4475002)  2 in, 2 out (each channel denoised, one shared VAD gate)
// Control inputs, in this order (the order sox and ffmpeg's c0|c1|... use):
//   0 Strength                 0..1, default 1 (0 = dry signal, delayed)
//   1 Mode                     integer 0..3, default 0: 0 basic, 1 enhanced, 2 maximum,
//                              3 gpu-realtime. Read at activate(); a mode this build lacks
//                              falls back to basic with one line on stderr.
//   2 VAD Threshold            0..1, default 0 (gate off): mute while the voice probability
//                              stays below it ... (ignored, with one line on stderr at
//                              activate(), in mode 1: the enhanced model computes no VAD)
//   3 VAD Grace Period (ms)    0..1000, default 250: ... for longer than this hold time.
// Control output:
//   4 latency                  frames of delay the plugin adds (959 at 48 kHz). Hosts that
//                              compensate plugin latency read this port (sox -l, ffmpeg
//                              ladspa=...:latency=1, PipeWire's filter-chain).
//
//   sox in.wav out.wav ladspa ghostnv_ladspa.so ghostnv_mono 1 0 0.6 250     (LADSPA_PATH=dir)
//   ffmpeg -i in.wav -af ladspa=file=ghostnv_ladspa:plugin=ghostnv_mono:c=c0=1|c2=0.6 out.wav
//
// Real-time: instantiate() creates the denoiser (allocates every buffer, loads the embedded
// model); activate() clears its state (or switches the mode); run() only converts controls
// into atomic stores and calls ghostnv_process() on buffers that already exist: no allocation,
// lock, I/O or logging (libsoxr warm-up aside, at rates other than 48 kHz: see ghostnv.h).
// Any sample rate the library takes works (44.1/48/96 kHz, ...); others fail instantiate().
#include <ladspa.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>
#include <vector>

#include "ghostnv/ghostnv.h"

namespace {

enum ControlPort { kStrength = 0, kMode, kVadThreshold, kVadGrace, kLatency, kNumControls };

constexpr unsigned long kMonoId = 4475001;
constexpr unsigned long kStereoId = 4475002;
constexpr size_t kChunkFrames = 1024;  // stereo interleaving scratch, per run() slice

struct Instance {
  int channels = 1;
  unsigned long rate = 48000;
  const LADSPA_Data* in[2] = {nullptr, nullptr};
  LADSPA_Data* out[2] = {nullptr, nullptr};
  LADSPA_Data* control[kNumControls] = {};
  ghostnv_denoiser* denoiser = nullptr;
  int mode = GHOSTNV_MODE_BASIC;
  std::vector<float> scratch;  // kChunkFrames * channels, interleaved
  float strength = 1.0f, threshold = 0.0f, grace_ms = 250.0f;
};

float ReadControl(const LADSPA_Data* port, float fallback, float lo, float hi) {
  if (port == nullptr) return fallback;
  const float v = *port;
  if (std::isnan(v)) return fallback;
  return std::clamp(v, lo, hi);
}

ghostnv_denoiser* MakeDenoiser(unsigned long rate, int channels, int mode) {
  ghostnv_options o;
  ghostnv_options_init(&o);
  o.sample_rate = static_cast<uint32_t>(std::min<unsigned long>(rate, 0xffffffffu));
  o.channels = static_cast<uint32_t>(channels);
  o.mode = mode;
  ghostnv_denoiser* d = nullptr;
  if (ghostnv_create(&o, &d) != GHOSTNV_OK) return nullptr;
  return d;
}

LADSPA_Handle Instantiate(const LADSPA_Descriptor* desc, unsigned long rate) {
  Instance* p = new (std::nothrow) Instance();
  if (p == nullptr) return nullptr;
  p->channels = desc->UniqueID == kStereoId ? 2 : 1;
  p->rate = rate;
  p->denoiser = MakeDenoiser(rate, p->channels, GHOSTNV_MODE_BASIC);
  if (p->denoiser == nullptr) {
    std::fprintf(stderr, "ghostnv LADSPA: %s\n", ghostnv_last_error());
    delete p;
    return nullptr;
  }
  try {
    p->scratch.assign(kChunkFrames * static_cast<size_t>(p->channels), 0.0f);
  } catch (...) {
    ghostnv_destroy(p->denoiser);
    delete p;
    return nullptr;
  }
  return p;
}

void ConnectPort(LADSPA_Handle h, unsigned long port, LADSPA_Data* data) {
  Instance* p = static_cast<Instance*>(h);
  const unsigned long ch = static_cast<unsigned long>(p->channels);
  if (port < ch) {
    p->in[port] = data;
  } else if (port < 2 * ch) {
    p->out[port - ch] = data;
  } else if (port < 2 * ch + kNumControls) {
    p->control[port - 2 * ch] = data;
  }
}

void PushControls(Instance* p) {
  const float s = ReadControl(p->control[kStrength], 1.0f, 0.0f, 1.0f);
  if (s != p->strength) {
    p->strength = s;
    ghostnv_set_strength(p->denoiser, s);
  }
  const float t = ReadControl(p->control[kVadThreshold], 0.0f, 0.0f, 1.0f);
  const float g = ReadControl(p->control[kVadGrace], 250.0f, 0.0f, 1000.0f);
  if (t != p->threshold || g != p->grace_ms) {
    p->threshold = t;
    p->grace_ms = g;
    ghostnv_set_vad_gate(p->denoiser, t, g);
  }
  if (p->control[kLatency] != nullptr)
    *p->control[kLatency] = static_cast<LADSPA_Data>(ghostnv_latency_frames(p->denoiser));
}

// Not real-time (LADSPA allows activate() to allocate): a new mode means a new denoiser.
void Activate(LADSPA_Handle h) {
  Instance* p = static_cast<Instance*>(h);
  const int want = static_cast<int>(std::lround(ReadControl(p->control[kMode], 0.0f, 0.0f, 3.0f)));
  if (want != p->mode) {
    const char* name = "unknown";
    if (ghostnv_mode_status(want, &name) == GHOSTNV_OK) {
      if (ghostnv_denoiser* d = MakeDenoiser(p->rate, p->channels, want)) {
        ghostnv_destroy(p->denoiser);
        p->denoiser = d;
        p->mode = want;
      }
    } else {
      std::fprintf(stderr,
                   "ghostnv LADSPA: mode %d (%s) is not available in this build; using basic\n",
                   want, name);
      p->mode = want;  // do not repeat the note at every activate()
    }
  }
  ghostnv_reset(p->denoiser);
  // Apply the controls from scratch.
  p->strength = -1.0f;
  p->threshold = -1.0f;
  PushControls(p);
  if (p->threshold > 0.0f &&
      ghostnv_set_vad_gate(p->denoiser, p->threshold, p->grace_ms) == GHOSTNV_ERROR_UNSUPPORTED) {
    std::fprintf(stderr,
                 "ghostnv LADSPA: this mode's model computes no voice probability; the VAD gate "
                 "stays off\n");
  }
}

void Run(LADSPA_Handle h, unsigned long frames) {
  Instance* p = static_cast<Instance*>(h);
  PushControls(p);
  if (frames == 0) return;
  if (p->channels == 1) {
    if (ghostnv_process(p->denoiser, p->in[0], p->out[0], frames) != GHOSTNV_OK)
      std::fill(p->out[0], p->out[0] + frames, 0.0f);
    return;
  }
  float* s = p->scratch.data();
  for (unsigned long pos = 0; pos < frames; pos += kChunkFrames) {
    const size_t n = std::min<size_t>(kChunkFrames, frames - pos);
    for (size_t i = 0; i < n; ++i) {
      s[2 * i] = p->in[0][pos + i];
      s[2 * i + 1] = p->in[1][pos + i];
    }
    if (ghostnv_process(p->denoiser, s, s, n) != GHOSTNV_OK) std::fill(s, s + 2 * n, 0.0f);
    for (size_t i = 0; i < n; ++i) {
      p->out[0][pos + i] = s[2 * i];
      p->out[1][pos + i] = s[2 * i + 1];
    }
  }
}

void Cleanup(LADSPA_Handle h) {
  Instance* p = static_cast<Instance*>(h);
  ghostnv_destroy(p->denoiser);
  delete p;
}

// ---- descriptors ----

struct Descriptor {
  LADSPA_Descriptor d;
  LADSPA_PortDescriptor kinds[4 + kNumControls];
  const char* names[4 + kNumControls];
  LADSPA_PortRangeHint hints[4 + kNumControls];
};

void Fill(Descriptor* x, int channels) {
  const bool stereo = channels == 2;
  std::memset(x, 0, sizeof(*x));
  int n = 0;
  static const char* const kIn[2][2] = {{"Input", nullptr}, {"Input L", "Input R"}};
  static const char* const kOut[2][2] = {{"Output", nullptr}, {"Output L", "Output R"}};
  for (int c = 0; c < channels; ++c, ++n) {
    x->kinds[n] = LADSPA_PORT_INPUT | LADSPA_PORT_AUDIO;
    x->names[n] = kIn[stereo][c];
  }
  for (int c = 0; c < channels; ++c, ++n) {
    x->kinds[n] = LADSPA_PORT_OUTPUT | LADSPA_PORT_AUDIO;
    x->names[n] = kOut[stereo][c];
  }
  auto control = [&](const char* name, LADSPA_PortRangeHintDescriptor hint, float lo, float hi,
                     bool output) {
    x->kinds[n] = (output ? LADSPA_PORT_OUTPUT : LADSPA_PORT_INPUT) | LADSPA_PORT_CONTROL;
    x->names[n] = name;
    x->hints[n] = {hint, lo, hi};
    ++n;
  };
  control("Strength", LADSPA_HINT_BOUNDED_BELOW | LADSPA_HINT_BOUNDED_ABOVE | LADSPA_HINT_DEFAULT_1,
          0.0f, 1.0f, false);
  control("Mode (0 basic, 1 enhanced, 2 maximum, 3 gpu-realtime)",
          LADSPA_HINT_BOUNDED_BELOW | LADSPA_HINT_BOUNDED_ABOVE | LADSPA_HINT_INTEGER |
              LADSPA_HINT_DEFAULT_0,
          0.0f, 3.0f, false);
  control("VAD Threshold", LADSPA_HINT_BOUNDED_BELOW | LADSPA_HINT_BOUNDED_ABOVE | LADSPA_HINT_DEFAULT_0,
          0.0f, 1.0f, false);
  control("VAD Grace Period (ms)",
          LADSPA_HINT_BOUNDED_BELOW | LADSPA_HINT_BOUNDED_ABOVE | LADSPA_HINT_DEFAULT_LOW, 0.0f,
          1000.0f, false);
  // An output, but sox (without -l) treats every control port as one it must fill: a default
  // keeps it from demanding an argument for it.
  control("latency", LADSPA_HINT_DEFAULT_0, 0.0f, 0.0f, true);

  x->d.UniqueID = stereo ? kStereoId : kMonoId;
  x->d.Label = stereo ? "ghostnv_stereo" : "ghostnv_mono";
  x->d.Properties = LADSPA_PROPERTY_HARD_RT_CAPABLE;
  x->d.Name = stereo ? "GhostNV Noise Suppression (Stereo)" : "GhostNV Noise Suppression (Mono)";
  x->d.Maker = "GhostNV Audio";
  x->d.Copyright = "GhostNV Audio authors";
  x->d.PortCount = static_cast<unsigned long>(n);
  x->d.PortDescriptors = x->kinds;
  x->d.PortNames = x->names;
  x->d.PortRangeHints = x->hints;
  x->d.instantiate = Instantiate;
  x->d.connect_port = ConnectPort;
  x->d.activate = Activate;
  x->d.run = Run;
  x->d.run_adding = nullptr;
  x->d.set_run_adding_gain = nullptr;
  x->d.deactivate = nullptr;
  x->d.cleanup = Cleanup;
}

const Descriptor* Descriptors() {
  static const Descriptor* table = [] {
    static Descriptor d[2];
    Fill(&d[0], 1);
    Fill(&d[1], 2);
    return d;
  }();
  return table;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const LADSPA_Descriptor* ladspa_descriptor(
    unsigned long index) {
  if (index > 1) return nullptr;
  return &Descriptors()[index].d;
}
