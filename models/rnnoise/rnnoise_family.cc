// models/rnnoise/rnnoise_family.cc — see rnnoise_family.h.
#include "models/rnnoise/rnnoise_family.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "audio/bands.h"
#include "audio/pitch_parallel.h"
#include "audio/fft.h"
#include "audio/filters.h"
#include "audio/pitch.h"
#include "kernels/dense.h"
#include "kernels/gru.h"

namespace ghostnv::models::rnnoise {
namespace {

using audio::cfloat;
namespace bands = audio::bands;
namespace pitch = audio::pitch;

constexpr int kCepsMem = 8;
constexpr int kDeltaCeps = 6;
constexpr float kHighpassB[2] = {-2.f, 1.f};
constexpr float kHighpassA[2] = {-1.99599f, 0.99600f};
constexpr float kGainSmoothing = .6f;  // a band's gain may fall to 60 % of the last one per hop

static_assert(bands::kBands == kBands && bands::kBins == kBins && bands::kWindow == kWindow);

const std::vector<float>& Window() {
  static const std::vector<float> w = audio::PowerComplementaryWindow(kWindow);
  return w;
}

// Zeroes memory that held audio in a way the compiler may not elide.
template <typename T, size_t N>
void Wipe(T (&array)[N]) { explicit_bzero(array, sizeof(array)); }
void Wipe(std::vector<float>& v) { explicit_bzero(v.data(), v.size() * sizeof(float)); }

// The analysis half of the family: windowing, FFT, band energies, pitch and features.
// Holds only per-channel state; buffers sized at construction.
struct Frontend {
  float analysis_mem[kHop] = {};
  float cepstral_mem[kCepsMem][kBands] = {};
  int memid = 0;
  float pitch_buf[pitch::kBuf] = {};
  float last_gain = 0;
  int last_period = 0;
  audio::RealFft fft{kWindow};

  void Reset() {
    Wipe(analysis_mem);
    Wipe(cepstral_mem);
    Wipe(pitch_buf);
    memid = 0;
    last_gain = 0;
    last_period = 0;
  }

  // Windowed spectrum of [previous hop, this hop] and its band energies.
  void Analyse(const float* in, cfloat* X, float* Ex) {
    const std::vector<float>& w = Window();
    float x[kWindow];
    std::copy(analysis_mem, analysis_mem + kHop, x);
    std::copy(in, in + kHop, x + kHop);
    std::copy(in, in + kHop, analysis_mem);
    for (int i = 0; i < kWindow; ++i) x[i] *= w[i];
    fft.Forward(x, X);
    bands::BandEnergy(X, Ex);
  }

  // Returns true when the frame is silent (features zeroed, the network should not run).
  // parallel: DspOptions::parallel_pitch (audio/pitch_parallel's order).
  bool Features(const float* in, cfloat* X, cfloat* P, float* Ex, float* Ep, float* Exp,
                float* features, bool parallel) {
    Analyse(in, X, Ex);
    std::memmove(pitch_buf, pitch_buf + kHop, (pitch::kBuf - kHop) * sizeof(float));
    std::copy(in, in + kHop, pitch_buf + pitch::kBuf - kHop);

    int period;
    float gain;
    if (parallel) {
      const pitch::ParallelPitch p = pitch::AnalyseParallel(pitch_buf, last_period, last_gain);
      period = p.period;
      gain = p.gain;
    } else {
      float lp[pitch::kBuf / 2];
      pitch::PitchDownsample(pitch_buf, lp, pitch::kBuf);
      pitch::PitchSearch(lp + pitch::kMaxPeriod / 2, lp, pitch::kFrame,
                         pitch::kMaxPeriod - 3 * pitch::kMinPeriod, &period);
      period = pitch::kMaxPeriod - period;
      gain = pitch::RemoveDoubling(lp, pitch::kMaxPeriod, pitch::kMinPeriod, pitch::kFrame, &period,
                                   last_period, last_gain);
    }
    last_period = period;
    last_gain = gain;

    // Spectrum of the window one pitch period in the past.
    const std::vector<float>& w = Window();
    float p[kWindow];
    const float* src = pitch_buf + pitch::kBuf - kWindow - period;
    for (int i = 0; i < kWindow; ++i) p[i] = src[i] * w[i];
    fft.Forward(p, P);
    bands::BandEnergy(P, Ep);
    bands::BandCorrelation(X, P, Exp);
    for (int i = 0; i < kBands; ++i) Exp[i] = Exp[i] / std::sqrt(.001f + Ex[i] * Ep[i]);

    float tmp[kBands];
    bands::BandDct(Exp, tmp);
    for (int i = 0; i < kDeltaCeps; ++i) features[kBands + 2 * kDeltaCeps + i] = tmp[i];
    features[kBands + 2 * kDeltaCeps] -= 1.3;
    features[kBands + 2 * kDeltaCeps + 1] -= 0.9;
    features[kBands + 3 * kDeltaCeps] = .01 * (period - 300);

    // Log band energies with a spectral floor that follows the loudest band.
    float ly[kBands];
    float log_max = -2, follow = -2, e = 0;
    for (int i = 0; i < kBands; ++i) {
      ly[i] = std::log10(1e-2f + Ex[i]);
      ly[i] = std::max<double>(log_max - 7, std::max<double>(follow - 1.5, ly[i]));
      log_max = std::max(log_max, ly[i]);
      follow = std::max<double>(follow - 1.5, ly[i]);
      e += Ex[i];
    }
    if (e < 0.04f) {
      std::fill(features, features + kFeatures, 0.f);
      return true;
    }

    bands::BandDct(ly, features);
    features[0] -= 12;
    features[1] -= 4;
    float* c0 = cepstral_mem[memid];
    const float* c1 = cepstral_mem[(memid + kCepsMem - 1) % kCepsMem];
    const float* c2 = cepstral_mem[(memid + kCepsMem - 2) % kCepsMem];
    std::copy(features, features + kBands, c0);
    memid = (memid + 1) % kCepsMem;
    for (int i = 0; i < kDeltaCeps; ++i) {
      features[i] = c0[i] + c1[i] + c2[i];
      features[kBands + i] = c0[i] - c2[i];
      features[kBands + kDeltaCeps + i] = c0[i] - 2 * c1[i] + c2[i];
    }
    // Spectral variability: mean distance of each remembered cepstrum to its nearest neighbour.
    float variability = 0;
    for (int i = 0; i < kCepsMem; ++i) {
      float mindist = 1e15f;
      for (int j = 0; j < kCepsMem; ++j) {
        if (j == i) continue;
        float dist = 0;
        for (int k = 0; k < kBands; ++k) {
          const float d = cepstral_mem[i][k] - cepstral_mem[j][k];
          dist += d * d;
        }
        mindist = std::min(mindist, dist);
      }
      variability += mindist;
    }
    features[kBands + 3 * kDeltaCeps + 1] = variability / kCepsMem - 2.1;
    return false;
  }
};

// The network's parameters, resolved once from the model's layers.
struct Network {
  kernels::DenseParams input_dense, vad_output, denoise_output;
  kernels::GruParams vad_gru, noise_gru, denoise_gru;
};

// Everything one channel needs, allocated here and never again.
class Channel final : public ChannelState {
 public:
  explicit Channel(const Network& net)
      : vad_state(net.vad_gru.units),
        noise_state(net.noise_gru.units),
        denoise_state(net.denoise_gru.units),
        dense_out(net.input_dense.units),
        noise_in(net.noise_gru.inputs),
        denoise_in(net.denoise_gru.inputs),
        scratch(kernels::GruScratchFloats(
            std::max({net.vad_gru.units, net.noise_gru.units, net.denoise_gru.units}))) {}
  ~Channel() override { Reset(); }

  void Reset() override {
    frontend.Reset();
    highpass.Reset();
    Wipe(hp_mem);
    Wipe(synthesis_mem);
    Wipe(history);
    Wipe(lastg);
    for (std::vector<float>* v : {&vad_state, &noise_state, &denoise_state, &dense_out, &noise_in,
                                  &denoise_in, &scratch})
      Wipe(*v);
  }

  Frontend frontend;
  audio::Biquad highpass{kHighpassB, kHighpassA};
  float hp_mem[2] = {};  // the high-pass's memory in the parallel order (DspOptions::parallel_pitch)
  float synthesis_mem[kHop] = {};
  float history[kHop] = {};
  float lastg[kBands] = {};
  std::vector<float> vad_state, noise_state, denoise_state;
  std::vector<float> dense_out, noise_in, denoise_in, scratch;
};

class RnnoiseFamily final : public Family {
 public:
  RnnoiseFamily(std::shared_ptr<const Model> model, Network net, DspOptions dsp)
      : model_(std::move(model)), net_(net), dsp_(dsp) {}

  const Model& model() const override { return *model_; }
  bool computes_vad() const override { return true; }

  std::unique_ptr<ChannelState> NewChannel() const override {
    return std::make_unique<Channel>(net_);
  }

  HopInfo ProcessHop(ChannelState& state, const float* in, float* out,
                     float strength) const override {
    Channel& ch = static_cast<Channel&>(state);
    HopInfo info;
    float x[kHop];
    if (dsp_.parallel_pitch)
      pitch::HighpassParallel(in, x, ch.hp_mem, dsp_.highpass);
    else if (dsp_.highpass)
      ch.highpass.Process(in, x, kHop);
    else
      std::copy(in, in + kHop, x);

    cfloat X[kBins], P[kBins];
    float Ex[kBands], Ep[kBands], Exp[kBands], features[kFeatures];
    info.silent = ch.frontend.Features(x, X, P, Ex, Ep, Exp, features, dsp_.parallel_pitch);
    if (!info.silent) {
      float g[kBands];
      RunNetwork(ch, features, g, &info.vad);
      if (dsp_.pitch_filter > 0) bands::PitchFilter(X, P, Ex, Ep, Exp, g, dsp_.pitch_filter, dsp_.pitch_gain_slope);
      for (int i = 0; i < kBands; ++i) {
        g[i] = std::max(g[i], kGainSmoothing * ch.lastg[i]);
        ch.lastg[i] = g[i];
      }
      float gf[kBins];
      bands::InterpolateBandGains(g, gf);
      for (int i = 0; i < kBins; ++i) X[i] *= gf[i];
    }
    for (int i = 0; i < dsp_.low_cut_bins; ++i) X[i] = 0;

    // Inverse FFT, synthesis window, overlap-add with the previous hop's tail.
    const std::vector<float>& w = Window();
    float y[kWindow];
    ch.frontend.fft.Inverse(X, y);
    for (int i = 0; i < kWindow; ++i) y[i] = y[i] / kWindow * w[i];
    const float s = std::clamp(strength, 0.f, 1.f);
    for (int i = 0; i < kHop; ++i) {
      const float wet = y[i] + ch.synthesis_mem[i];
      out[i] = wet * s + ch.history[i] * (1.f - s);
    }
    std::copy(y + kHop, y + kWindow, ch.synthesis_mem);
    std::copy(in, in + kHop, ch.history);
    return info;
  }

  void RunNetwork(Channel& ch, const float* features, float* gains, float* vad) const {
    kernels::Dense(net_.input_dense, features, ch.dense_out.data());
    kernels::GruStep(net_.vad_gru, ch.dense_out.data(), ch.vad_state.data(), ch.scratch.data());
    kernels::Dense(net_.vad_output, ch.vad_state.data(), vad);

    float* ni = ch.noise_in.data();
    ni = std::copy(ch.dense_out.begin(), ch.dense_out.end(), ni);
    ni = std::copy(ch.vad_state.begin(), ch.vad_state.end(), ni);
    std::copy(features, features + kFeatures, ni);
    kernels::GruStep(net_.noise_gru, ch.noise_in.data(), ch.noise_state.data(), ch.scratch.data());

    float* di = ch.denoise_in.data();
    di = std::copy(ch.vad_state.begin(), ch.vad_state.end(), di);
    di = std::copy(ch.noise_state.begin(), ch.noise_state.end(), di);
    std::copy(features, features + kFeatures, di);
    kernels::GruStep(net_.denoise_gru, ch.denoise_in.data(), ch.denoise_state.data(),
                     ch.scratch.data());
    kernels::Dense(net_.denoise_output, ch.denoise_state.data(), gains);
  }

 private:
  std::shared_ptr<const Model> model_;
  Network net_;
  DspOptions dsp_;
};

absl::StatusOr<const Layer*> Need(const Model& m, const char* name, LayerKind kind) {
  const Layer* l = m.FindLayer(name);
  if (l == nullptr) return absl::InvalidArgumentError(absl::StrCat(m.name, ": rnnoise model has no layer '", name, "'"));
  if (l->kind != kind)
    return absl::InvalidArgumentError(absl::StrCat(m.name, ": layer '", name, "' should be a ",
                                                   kind == LayerKind::kGru ? "gru" : "dense"));
  if (l->weights == nullptr || (kind == LayerKind::kGru && l->recurrent == nullptr) ||
      l->inputs <= 0 || l->units <= 0)
    return absl::InvalidArgumentError(absl::StrCat(m.name, ": layer '", name, "' is incomplete"));
  return l;
}

absl::Status Expect(bool ok, const Model& m, const char* what) {
  return ok ? absl::OkStatus()
            : absl::InvalidArgumentError(absl::StrCat(m.name, ": not a valid rnnoise model: ", what));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Family>> CreateRnnoiseFamily(std::shared_ptr<const Model> model) {
  if (model == nullptr) return absl::InvalidArgumentError("no model");
  const Model& m = *model;
  absl::Status st = Expect(m.family == "rnnoise", m, "family is not 'rnnoise'");
  if (st.ok()) st = Expect(m.sample_rate == 48000 && m.frame_size == kWindow && m.hop_size == kHop &&
                           m.algorithmic_latency == kHop, m, "rate/frame/hop must be 48000/960/480 with 480 latency");
  if (!st.ok()) return st;

  absl::StatusOr<const Layer*> in = Need(m, "input_dense", LayerKind::kDense);
  absl::StatusOr<const Layer*> vg = Need(m, "vad_gru", LayerKind::kGru);
  absl::StatusOr<const Layer*> ng = Need(m, "noise_gru", LayerKind::kGru);
  absl::StatusOr<const Layer*> dg = Need(m, "denoise_gru", LayerKind::kGru);
  absl::StatusOr<const Layer*> dout = Need(m, "denoise_output", LayerKind::kDense);
  absl::StatusOr<const Layer*> vout = Need(m, "vad_output", LayerKind::kDense);
  for (const auto* s : {&in, &vg, &ng, &dg, &dout, &vout})
    if (!s->ok()) return s->status();

  const Layer &a = **in, &b = **vg, &c = **ng, &d = **dg, &e = **dout, &f = **vout;
  for (auto [ok, what] : std::initializer_list<std::pair<bool, const char*>>{
           {a.inputs == kFeatures, "input_dense must take 42 features"},
           {b.inputs == a.units, "vad_gru inputs != input_dense units"},
           {c.inputs == a.units + b.units + kFeatures, "noise_gru inputs != dense + vad_gru + 42"},
           {d.inputs == b.units + c.units + kFeatures, "denoise_gru inputs != vad_gru + noise_gru + 42"},
           {e.inputs == d.units && e.units == kBands, "denoise_output must map denoise_gru to 22 gains"},
           {f.inputs == b.units && f.units == 1, "vad_output must map vad_gru to 1 value"}}) {
    if (!(st = Expect(ok, m, what)).ok()) return st;
  }

  absl::StatusOr<DspOptions> dsp = DspOptionsOf(m);
  if (!dsp.ok()) return dsp.status();
  Network net{DenseParamsOf(a, m.math), DenseParamsOf(f, m.math), DenseParamsOf(e, m.math),
              GruParamsOf(b, m.math),   GruParamsOf(c, m.math),   GruParamsOf(d, m.math)};
  return std::unique_ptr<Family>(new RnnoiseFamily(std::move(model), net, *dsp));
}

absl::StatusOr<DspOptions> DspOptionsOf(const Model& m) {
  DspOptions dsp;
  const nlohmann::json meta = nlohmann::json::parse(m.metadata_json, nullptr, false);
  if (!meta.is_object() || !meta.contains("rnnoise")) return dsp;
  const nlohmann::json& r = meta["rnnoise"];
  if (!r.is_object())
    return absl::InvalidArgumentError(absl::StrCat(m.name, ": metadata.rnnoise must be an object"));
  if (r.contains("highpass")) {
    if (!r["highpass"].is_boolean())
      return absl::InvalidArgumentError(
          absl::StrCat(m.name, ": metadata.rnnoise.highpass must be true or false"));
    dsp.highpass = r["highpass"].get<bool>();
  }
  if (r.contains("pitch_order")) {
    const nlohmann::json& o = r["pitch_order"];
    if (!o.is_string() || (o.get<std::string>() != "sequential" && o.get<std::string>() != "parallel"))
      return absl::InvalidArgumentError(
          absl::StrCat(m.name, ": metadata.rnnoise.pitch_order must be \"sequential\" or \"parallel\""));
    dsp.parallel_pitch = o.get<std::string>() == "parallel";
  }
  if (r.contains("pitch_filter")) {
    const nlohmann::json& p = r["pitch_filter"];
    if (p.is_boolean()) {
      dsp.pitch_filter = p.get<bool>() ? 1.f : 0.f;
    } else if (p.is_number() && p.get<double>() >= 0.0 && p.get<double>() <= 1.0) {
      dsp.pitch_filter = static_cast<float>(p.get<double>());
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          m.name, ": metadata.rnnoise.pitch_filter must be true, false or a number in [0, 1]"));
    }
  }
  if (r.contains("pitch_filter_gain_slope")) {
    const nlohmann::json& k = r["pitch_filter_gain_slope"];
    if (!k.is_number() || !(k.get<double>() >= 0.0) || !(k.get<double>() <= 1000.0))
      return absl::InvalidArgumentError(absl::StrCat(
          m.name, ": metadata.rnnoise.pitch_filter_gain_slope must be a number in [0, 1000]"));
    dsp.pitch_gain_slope = static_cast<float>(k.get<double>());
  }
  if (r.contains("low_cut_hz")) {
    const nlohmann::json& f = r["low_cut_hz"];
    if (!f.is_number() || !(f.get<double>() >= 0.0) || !(f.get<double>() <= 1000.0))
      return absl::InvalidArgumentError(
          absl::StrCat(m.name, ": metadata.rnnoise.low_cut_hz must be a number in [0, 1000]"));
    dsp.low_cut_bins = static_cast<int>(std::ceil(f.get<double>() / 50.0));
  }
  return dsp;
}

absl::Status RunNetworkOnFeatures(std::shared_ptr<const Model> model, const float* features,
                                  long frames, float* gains, float* vad) {
  return RunFamilyNetwork<RnnoiseFamily, Channel>(CreateRnnoiseFamily(std::move(model)), features, frames, kFeatures,
                                          kBands, gains, vad);
}

// ---- training support ----

struct FeatureExtractor::Impl {
  Frontend noisy;
  Frontend clean;
  audio::Biquad hp_noisy{kHighpassB, kHighpassA};
  audio::Biquad hp_clean{kHighpassB, kHighpassA};
  float mem_noisy[2] = {}, mem_clean[2] = {};  // (parallel order)
  bool highpass = true, parallel = false;
  float last_in[kHop] = {};
};

FeatureExtractor::FeatureExtractor(const DspOptions& dsp) : impl_(std::make_unique<Impl>()) {
  impl_->highpass = dsp.highpass;
  impl_->parallel = dsp.parallel_pitch;
}
FeatureExtractor::~FeatureExtractor() = default;
int FeatureExtractor::last_period() const { return impl_->noisy.last_period; }
const float* FeatureExtractor::last_input() const { return impl_->last_in; }

bool FeatureExtractor::Process(const float* noisy, const float* clean, float* features,
                               float* gains, float* vad) {
  float xn[kHop], xc[kHop];
  if (impl_->parallel) {
    pitch::HighpassParallel(noisy, xn, impl_->mem_noisy, impl_->highpass);
    pitch::HighpassParallel(clean, xc, impl_->mem_clean, impl_->highpass);
  } else if (impl_->highpass) {
    impl_->hp_noisy.Process(noisy, xn, kHop);
    impl_->hp_clean.Process(clean, xc, kHop);
  } else {
    std::copy(noisy, noisy + kHop, xn);
    std::copy(clean, clean + kHop, xc);
  }
  cfloat X[kBins], P[kBins], Y[kBins];
  float Ex[kBands], Ep[kBands], Exp[kBands], Ey[kBands];
  std::copy(xn, xn + kHop, impl_->last_in);
  const bool silent = impl_->noisy.Features(xn, X, P, Ex, Ep, Exp, features, impl_->parallel);
  impl_->clean.Analyse(xc, Y, Ey);

  double energy = 0;
  for (int i = 0; i < kHop; ++i) energy += static_cast<double>(clean[i]) * clean[i];
  const double rms_db = 10 * std::log10(energy / kHop + 1e-20);
  *vad = rms_db > -40 ? 1.f : (rms_db < -55 ? 0.f : .5f);

  constexpr float kFloor = 1e-7f;  // band energy of about -100 dB: nothing to learn there
  for (int i = 0; i < kBands; ++i) {
    if (silent || (Ey[i] < kFloor && Ex[i] < kFloor)) {
      gains[i] = -1;
      continue;
    }
    gains[i] = std::min(1.f, std::sqrt((Ey[i] + 1e-9f) / (Ex[i] + 1e-9f)));
  }
  return !silent;
}

}  // namespace ghostnv::models::rnnoise
