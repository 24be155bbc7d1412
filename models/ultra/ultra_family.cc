// models/ultra/ultra_family.cc — see ultra_family.h.
#include "models/ultra/ultra_family.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "audio/fft.h"
#include "kernels/dense.h"
#include "kernels/gru.h"

namespace ghostnv::models::ultra {
namespace {

using audio::cfloat;

constexpr float kLogFloor = 1e-10f;  // added to band energies before log10
constexpr float kCareFloor = 1e-9f;  // below this in both signals a band's gain is "don't care"

static_assert(kBandCenters.front() == 0 && kBandCenters.back() == kBins - 1);
static_assert(kSynthesis == 2 * kHop && kWindow >= kSynthesis + kHop);

struct WindowPair {
  std::array<float, kWindow> analysis{};
  std::array<float, kWindow> synthesis{};
  WindowPair() {
    // Analysis: rising half of a sine window of length 2 (kWindow - kHop) over the first
    // kWindow - kHop samples, then the falling half of a sine window of length kSynthesis.
    // Synthesis: zero before the tail; on the tail, hann(kSynthesis) / analysis, so that the
    // product is the periodic Hann of kSynthesis samples (its kHop shifts sum to one).
    constexpr int kRise = kWindow - kHop;
    constexpr int kTail = kWindow - kSynthesis;
    for (int i = 0; i < kWindow; ++i) {
      double a;
      if (i < kRise)
        a = std::sin(M_PI * (i + 0.5) / (2.0 * kRise));
      else
        a = std::sin(M_PI * (i - kTail + 0.5) / kSynthesis);
      double s = 0;
      if (i >= kTail) {
        const double h = std::sin(M_PI * (i - kTail + 0.5) / kSynthesis);
        s = h * h / a;
      }
      analysis[i] = static_cast<float>(a);
      synthesis[i] = static_cast<float>(s);
    }
  }
};

const WindowPair& Windows() {
  static const WindowPair w;
  return w;
}

template <typename T, size_t N>
void Wipe(T (&array)[N]) { explicit_bzero(array, sizeof(array)); }
void Wipe(std::vector<float>& v) { explicit_bzero(v.data(), v.size() * sizeof(float)); }

// The analysis side of one channel: input history, windowing, FFT, band energies, features.
struct Frontend {
  float input[kWindow] = {};
  audio::RealFft fft{kWindow};

  void Reset() { Wipe(input); }

  void Analyse(const float* in, cfloat* X, float* E) {
    std::memmove(input, input + kHop, (kWindow - kHop) * sizeof(float));
    std::memcpy(input + kWindow - kHop, in, kHop * sizeof(float));
    const std::array<float, kWindow>& w = Windows().analysis;
    float x[kWindow];
    for (int i = 0; i < kWindow; ++i) x[i] = input[i] * w[i];
    fft.Forward(x, X);
    BandEnergies(X, E);
  }
};

void Features(const float* E, float* features) {
  for (int b = 0; b < kBands; ++b) features[b] = std::log10(E[b] + kLogFloor);
}

struct Network {
  kernels::DenseParams input_dense, gain_output, vad_output;
  kernels::GruParams gru1, gru2;
};

// Everything one channel needs, allocated here and never again.
class Channel final : public ChannelState {
 public:
  explicit Channel(const Network& net)
      : dense_out(net.input_dense.units),
        gru1_state(net.gru1.units),
        gru2_in(net.gru2.inputs),
        gru2_state(net.gru2.units),
        scratch(kernels::GruScratchFloats(std::max(net.gru1.units, net.gru2.units))) {}
  ~Channel() override { Reset(); }

  void Reset() override {
    frontend.Reset();
    Wipe(overlap);
    Wipe(history);
    for (std::vector<float>* v : {&dense_out, &gru1_state, &gru2_in, &gru2_state, &scratch})
      Wipe(*v);
  }

  Frontend frontend;
  float overlap[kHop] = {};  // second half of the last synthesis tail
  float history[kHop] = {};  // the last input hop (the dry signal, delayed by kLatency)
  std::vector<float> dense_out, gru1_state, gru2_in, gru2_state, scratch;
};

class UltraFamily final : public Family {
 public:
  UltraFamily(std::shared_ptr<const Model> model, Network net)
      : model_(std::move(model)), net_(net) {}

  const Model& model() const override { return *model_; }
  bool computes_vad() const override { return true; }

  std::unique_ptr<ChannelState> NewChannel() const override {
    return std::make_unique<Channel>(net_);
  }

  HopInfo ProcessHop(ChannelState& state, const float* in, float* out,
                     float strength) const override {
    Channel& ch = static_cast<Channel&>(state);
    HopInfo info;
    cfloat X[kBins];
    float E[kBands], features[kFeatures], g[kBands], gf[kBins];
    ch.frontend.Analyse(in, X, E);
    Features(E, features);
    RunNetwork(ch, features, g, &info.vad);
    InterpolateGains(g, gf);
    for (int k = 0; k < kBins; ++k) X[k] *= gf[k];

    float y[kWindow];
    ch.frontend.fft.Inverse(X, y);
    const std::array<float, kWindow>& ws = Windows().synthesis;
    constexpr int kTail = kWindow - kSynthesis;
    constexpr float kScale = 1.0f / kWindow;
    const float s = std::clamp(strength, 0.f, 1.f);
    for (int i = 0; i < kHop; ++i) {
      const float wet = y[kTail + i] * ws[kTail + i] * kScale + ch.overlap[i];
      out[i] = wet * s + ch.history[i] * (1.f - s);
    }
    for (int i = 0; i < kHop; ++i)
      ch.overlap[i] = y[kTail + kHop + i] * ws[kTail + kHop + i] * kScale;
    std::memcpy(ch.history, in, kHop * sizeof(float));
    return info;
  }

  void RunNetwork(Channel& ch, const float* features, float* gains, float* vad) const {
    kernels::Dense(net_.input_dense, features, ch.dense_out.data());
    kernels::GruStep(net_.gru1, ch.dense_out.data(), ch.gru1_state.data(), ch.scratch.data());
    kernels::Dense(net_.vad_output, ch.gru1_state.data(), vad);
    float* gi = ch.gru2_in.data();
    gi = std::copy(ch.gru1_state.begin(), ch.gru1_state.end(), gi);
    std::copy(ch.dense_out.begin(), ch.dense_out.end(), gi);
    kernels::GruStep(net_.gru2, ch.gru2_in.data(), ch.gru2_state.data(), ch.scratch.data());
    kernels::Dense(net_.gain_output, ch.gru2_state.data(), gains);
  }

 private:
  std::shared_ptr<const Model> model_;
  Network net_;
};

absl::StatusOr<const Layer*> Need(const Model& m, const char* name, LayerKind kind) {
  const Layer* l = m.FindLayer(name);
  if (l == nullptr)
    return absl::InvalidArgumentError(
        absl::StrCat(m.name, ": ultra model has no layer '", name, "'"));
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
            : absl::InvalidArgumentError(
                  absl::StrCat(m.name, ": not a valid ultra model: ", what));
}

}  // namespace

const std::array<float, kWindow>& AnalysisWindow() { return Windows().analysis; }
const std::array<float, kWindow>& SynthesisWindow() { return Windows().synthesis; }

void BandEnergies(const cfloat* X, float* E) {
  for (int b = 0; b < kBands; ++b) E[b] = 0;
  for (int b = 0; b + 1 < kBands; ++b) {
    const int lo = kBandCenters[b];
    const int width = kBandCenters[b + 1] - lo;
    for (int j = 0; j < width; ++j) {
      const float frac = static_cast<float>(j) / width;
      const float p = std::norm(X[lo + j]);
      E[b] += (1 - frac) * p;
      E[b + 1] += frac * p;
    }
  }
  E[kBands - 1] += std::norm(X[kBins - 1]);
}

void InterpolateGains(const float* band_gains, float* bin_gains) {
  for (int b = 0; b + 1 < kBands; ++b) {
    const int lo = kBandCenters[b];
    const int width = kBandCenters[b + 1] - lo;
    for (int j = 0; j < width; ++j) {
      const float frac = static_cast<float>(j) / width;
      bin_gains[lo + j] = (1 - frac) * band_gains[b] + frac * band_gains[b + 1];
    }
  }
  bin_gains[kBins - 1] = band_gains[kBands - 1];
}

absl::StatusOr<std::unique_ptr<Family>> CreateUltraFamily(std::shared_ptr<const Model> model) {
  if (model == nullptr) return absl::InvalidArgumentError("no model");
  const Model& m = *model;
  absl::Status st = Expect(m.family == "ultra", m, "family is not 'ultra'");
  if (st.ok())
    st = Expect(m.sample_rate == kSampleRate && m.frame_size == kWindow && m.hop_size == kHop &&
                    m.algorithmic_latency == kLatency,
                m, "rate/frame/hop must be 48000/384/96 with 96 latency");
  if (!st.ok()) return st;

  absl::StatusOr<const Layer*> in = Need(m, "input_dense", LayerKind::kDense);
  absl::StatusOr<const Layer*> g1 = Need(m, "gru1", LayerKind::kGru);
  absl::StatusOr<const Layer*> g2 = Need(m, "gru2", LayerKind::kGru);
  absl::StatusOr<const Layer*> go = Need(m, "gain_output", LayerKind::kDense);
  absl::StatusOr<const Layer*> vo = Need(m, "vad_output", LayerKind::kDense);
  for (const auto* s : {&in, &g1, &g2, &go, &vo})
    if (!s->ok()) return s->status();

  const Layer &a = **in, &b = **g1, &c = **g2, &d = **go, &e = **vo;
  for (auto [ok, what] : std::initializer_list<std::pair<bool, const char*>>{
           {a.inputs == kFeatures, "input_dense must take 32 features"},
           {b.inputs == a.units, "gru1 inputs != input_dense units"},
           {c.inputs == b.units + a.units, "gru2 inputs != gru1 units + input_dense units"},
           {d.inputs == c.units && d.units == kBands, "gain_output must map gru2 to 32 gains"},
           {e.inputs == b.units && e.units == 1, "vad_output must map gru1 to 1 value"}}) {
    if (!(st = Expect(ok, m, what)).ok()) return st;
  }
  Network net{DenseParamsOf(a, m.math), DenseParamsOf(d, m.math), DenseParamsOf(e, m.math), GruParamsOf(b, m.math),
              GruParamsOf(c, m.math)};
  return std::unique_ptr<Family>(new UltraFamily(std::move(model), net));
}

absl::Status RunNetworkOnFeatures(std::shared_ptr<const Model> model, const float* features,
                                  long frames, float* gains, float* vad) {
  return RunFamilyNetwork<UltraFamily, Channel>(CreateUltraFamily(std::move(model)), features, frames, kFeatures,
                                          kBands, gains, vad);
}

// ---- training support ----

struct FeatureExtractor::Impl {
  Frontend noisy;
  Frontend clean;
};

FeatureExtractor::FeatureExtractor() : impl_(std::make_unique<Impl>()) {}
FeatureExtractor::~FeatureExtractor() = default;

void FeatureExtractor::Process(const float* noisy, const float* clean, float* features,
                               float* gains) {
  cfloat X[kBins], Y[kBins];
  float Ex[kBands], Ey[kBands];
  impl_->noisy.Analyse(noisy, X, Ex);
  impl_->clean.Analyse(clean, Y, Ey);
  Features(Ex, features);
  for (int b = 0; b < kBands; ++b) {
    if (Ey[b] < kCareFloor && Ex[b] < kCareFloor) {
      gains[b] = -1;
      continue;
    }
    gains[b] = std::min(1.f, std::sqrt((Ey[b] + 1e-12f) / (Ex[b] + 1e-12f)));
  }
}

}  // namespace ghostnv::models::ultra
