// tools/train/features_capi.cc — a small C shim over the RNNoise family for the Python training
// and evaluation scripts (loaded with ctypes by tools/train/ghostnv_ext.py). Not installed, not
// part of the library's ABI; training support only (allocates, not real-time).
//
//   long n = gnv_extract_features(noisy, clean, n_samples, features, gains, vad, silent);
//   long n = gnv_extract_features_pitch(noisy, clean, n_samples, features, gains, vad, silent,
//                                       periods, input, highpass);  // + pitch periods, input
//   int rc = gnv_denoise_buffer("default.gnvm", in, out, n_samples, 1.0f);
//   long n = gnv_run_network("default.gnvm", features, n_frames, gains, vad);
//
// All buffers are caller-owned float32 arrays; audio is 48 kHz mono, float scale [-1, 1].
// Negative return values are errors; gnv_last_error() describes the last one on this thread.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "models/family.h"
#include "models/model_loader.h"
#include "models/rnnoise/rnnoise_family.h"
#include "models/ultra/ultra_family.h"

namespace {

namespace models = ghostnv::models;
namespace rnnoise = ghostnv::models::rnnoise;

thread_local std::string g_error;

long Fail(long code, std::string message) {
  g_error = std::move(message);
  return code;
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) const char* gnv_last_error() { return g_error.c_str(); }

// Features of one stream (one extractor for the whole call). n_samples must be a multiple of
// 480; writes n_samples/480 frames: features [n][42], gains [n][22] (-1 = don't care), vad [n],
// silent [n] (1 where the frame is silent and inference would not run the network).
// Returns the number of frames, or -1 on bad arguments.
__attribute__((visibility("default"))) long gnv_extract_features_dsp(
    const float* noisy, const float* clean, long n_samples, float* features, float* gains,
    float* vad, unsigned char* silent, int highpass);

__attribute__((visibility("default"))) long gnv_extract_features_pitch(
    const float* noisy, const float* clean, long n_samples, float* features, float* gains,
    float* vad, unsigned char* silent, int* periods, float* input, int highpass);

__attribute__((visibility("default"))) long gnv_extract_features(
    const float* noisy, const float* clean, long n_samples, float* features, float* gains,
    float* vad, unsigned char* silent) {
  return gnv_extract_features_dsp(noisy, clean, n_samples, features, gains, vad, silent, 1);
}

// As gnv_extract_features, for a model whose metadata.rnnoise.highpass is `highpass` (0 / 1).
__attribute__((visibility("default"))) long gnv_extract_features_dsp(
    const float* noisy, const float* clean, long n_samples, float* features, float* gains,
    float* vad, unsigned char* silent, int highpass) {
  return gnv_extract_features_pitch(noisy, clean, n_samples, features, gains, vad, silent,
                                    nullptr, nullptr, highpass);
}

// As gnv_extract_features_dsp, plus periods [n] (may be null): the pitch period of each frame
// (FeatureExtractor::last_period), and input [n_samples] (may be null): the noisy signal as the
// family's analysis sees it (high-passed when `highpass`), from which tools/train/rnnoise_e2e.py
// rebuilds the spectra X, P and Ex, Ep, Exp of the family's DSP.
__attribute__((visibility("default"))) long gnv_extract_features_pitch(
    const float* noisy, const float* clean, long n_samples, float* features, float* gains,
    float* vad, unsigned char* silent, int* periods, float* input, int highpass) {
  if (n_samples < 0 || n_samples % rnnoise::kHop != 0)
    return Fail(-1, "n_samples must be a non-negative multiple of 480");
  if (n_samples > 0 && (!noisy || !clean || !features || !gains || !vad || !silent))
    return Fail(-1, "null buffer");
  const long frames = n_samples / rnnoise::kHop;
  rnnoise::DspOptions dsp;
  dsp.highpass = highpass != 0;
  rnnoise::FeatureExtractor fx(dsp);
  for (long i = 0; i < frames; ++i) {
    const bool voiced = fx.Process(noisy + i * rnnoise::kHop, clean + i * rnnoise::kHop,
                                   features + i * rnnoise::kFeatures, gains + i * rnnoise::kBands,
                                   vad + i);
    silent[i] = voiced ? 0 : 1;
    if (periods) periods[i] = fx.last_period();
    if (input) std::copy(fx.last_input(), fx.last_input() + rnnoise::kHop, input + i * rnnoise::kHop);
  }
  return frames;
}

// Denoises a whole 48 kHz mono buffer with one channel of the model at `model_path` (.gnvm or
// .rnnn), time-aligned with the input: the first algorithmic_latency output samples are dropped
// and the input is padded with zeros at the end. `in` and `out` may not overlap. vad_out, if not
// null, receives one VAD value per hop (ceil(n/hop) values, in processing order). Returns 0, or
// -1 (bad arguments), -2 (model did not load), -3 (family could not be built).
__attribute__((visibility("default"))) long gnv_denoise_buffer(const char* model_path,
                                                               const float* in, float* out,
                                                               long n, float strength,
                                                               float* vad_out) {
  if (!model_path || n < 0 || (n > 0 && (!in || !out))) return Fail(-1, "bad arguments");
  auto model = models::LoadModel(model_path);
  if (!model.ok()) return Fail(-2, std::string(model.status().message()));
  auto family = models::CreateFamily(*model);
  if (!family.ok()) return Fail(-3, std::string(family.status().message()));
  const models::Family& fam = **family;
  const long hop = fam.hop_size();
  const long latency = fam.algorithmic_latency();
  auto ch = fam.NewChannel();
  const long total = n + latency;
  const long hops = (total + hop - 1) / hop;
  std::vector<float> padded(static_cast<size_t>(hops * hop), 0.f);
  std::copy(in, in + n, padded.begin());
  std::vector<float> result(padded.size());
  for (long h = 0; h < hops; ++h) {
    models::HopInfo info = fam.ProcessHop(*ch, padded.data() + h * hop, result.data() + h * hop,
                                          strength);
    if (vad_out && h * hop < n) vad_out[h] = info.vad;
  }
  std::copy(result.begin() + latency, result.begin() + latency + n, out);
  return 0;
}

// Runs only the network of an RNNoise-family model on a feature sequence (one stream, state
// starting at zero), with the same kernels and wiring as the family: features [n][42] ->
// gains [n][22], vad [n] (may be null). Used to check an exported model against PyTorch.
// Returns n_frames, or -1/-2/-3 as gnv_denoise_buffer.
__attribute__((visibility("default"))) long gnv_run_network(const char* model_path,
                                                            const float* features, long n_frames,
                                                            float* gains, float* vad) {
  if (!model_path || n_frames < 0 || (n_frames > 0 && (!features || !gains)))
    return Fail(-1, "bad arguments");
  auto loaded = models::LoadModel(model_path);
  if (!loaded.ok()) return Fail(-2, std::string(loaded.status().message()));
  absl::Status st = rnnoise::RunNetworkOnFeatures(*loaded, features, n_frames, gains, vad);
  if (!st.ok()) return Fail(-3, std::string(st.message()));
  return n_frames;
}

// ---- the ultra family (models/ultra/): 96-sample hop, 32 features, 32 band gains ----

// Features of one stream for the ultra family. n_samples must be a multiple of 96; writes
// n_samples/96 frames: features [n][32] and gains [n][32] (-1 = don't care). Returns the number
// of frames, or -1 on bad arguments.
__attribute__((visibility("default"))) long gnv_ultra_extract_features(
    const float* noisy, const float* clean, long n_samples, float* features, float* gains) {
  namespace ultra = ghostnv::models::ultra;
  if (n_samples < 0 || n_samples % ultra::kHop != 0)
    return Fail(-1, "n_samples must be a non-negative multiple of 96");
  if (n_samples > 0 && (!noisy || !clean || !features || !gains)) return Fail(-1, "null buffer");
  const long frames = n_samples / ultra::kHop;
  ultra::FeatureExtractor fx;
  for (long i = 0; i < frames; ++i)
    fx.Process(noisy + i * ultra::kHop, clean + i * ultra::kHop, features + i * ultra::kFeatures,
               gains + i * ultra::kBands);
  return frames;
}

// The FFT bin of each of the 32 band centres (bin k = k * 125 Hz). Returns 32.
__attribute__((visibility("default"))) long gnv_ultra_band_centers(int* bins) {
  namespace ultra = ghostnv::models::ultra;
  if (!bins) return Fail(-1, "null buffer");
  std::copy(ultra::kBandCenters.begin(), ultra::kBandCenters.end(), bins);
  return ultra::kBands;
}

// The analysis and synthesis windows of the ultra family (384 floats each). Returns 384.
__attribute__((visibility("default"))) long gnv_ultra_windows(float* analysis, float* synthesis) {
  namespace ultra = ghostnv::models::ultra;
  if (!analysis || !synthesis) return Fail(-1, "null buffer");
  std::copy(ultra::AnalysisWindow().begin(), ultra::AnalysisWindow().end(), analysis);
  std::copy(ultra::SynthesisWindow().begin(), ultra::SynthesisWindow().end(), synthesis);
  return ultra::kWindow;
}

// The network of an ultra-family model alone on a feature sequence ([n][32] -> gains [n][32],
// vad [n], may be null), state starting at zero. Returns n_frames, or -1/-2/-3.
__attribute__((visibility("default"))) long gnv_ultra_run_network(const char* model_path,
                                                                  const float* features,
                                                                  long n_frames, float* gains,
                                                                  float* vad) {
  if (!model_path || n_frames < 0 || (n_frames > 0 && (!features || !gains)))
    return Fail(-1, "bad arguments");
  auto loaded = models::LoadModel(model_path);
  if (!loaded.ok()) return Fail(-2, std::string(loaded.status().message()));
  absl::Status st =
      ghostnv::models::ultra::RunNetworkOnFeatures(*loaded, features, n_frames, gains, vad);
  if (!st.ok()) return Fail(-3, std::string(st.message()));
  return n_frames;
}

}  // extern "C"
