// models/dtln/dtln_family.cc — the DTLN family: layer checks, the two networks, STFT and OLA.

#include "models/dtln/dtln_family.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "audio/fft.h"
#include "nlohmann/json.hpp"

namespace ghostnv::models::dtln {
namespace {

using audio::cfloat;

absl::Status Bad(const Model& m, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(m.name, ": not a valid dtln model: ", what));
}

absl::StatusOr<const Layer*> Need(const Model& m, const char* name, int inputs, int units,
                                  kernels::Activation act) {
  const Layer* l = m.FindLayer(name);
  if (l == nullptr) return Bad(m, absl::StrCat("no layer '", name, "'"));
  if (l->kind != LayerKind::kDense || l->inputs != inputs || l->units != units ||
      l->activation != act) {
    return Bad(m, absl::StrCat("layer '", name, "' must be dense ", inputs, "->", units, " ",
                               kernels::ActivationName(act), " (it is ", l->inputs, "->",
                               l->units, " ", kernels::ActivationName(l->activation), ")"));
  }
  return l;
}

// An LSTM stored as its gate layer: dense [inputs + units][4 units], identity.
absl::StatusOr<kernels::LstmParams> LstmOf(const Model& m, const char* name, int inputs,
                                           int units) {
  absl::StatusOr<const Layer*> l =
      Need(m, name, inputs + units, 4 * units, kernels::Activation::kIdentity);
  if (!l.ok()) return l.status();
  const Layer& g = **l;
  return kernels::LstmParams{.inputs = inputs, .units = units, .weights = g.weights,
                             .recurrent = g.weights + static_cast<size_t>(inputs) * 4 * units,
                             .bias = g.bias, .math = m.math};
}

void Wipe(std::vector<float>& v) { explicit_bzero(v.data(), v.size() * sizeof(float)); }

void RunStage(const Networks::Stage& s, const float* x, float* y, float* state, float* scratch) {
  const int u0 = s.lstm[0].units, u1 = s.lstm[1].units;
  float* h0 = state;
  float* c0 = h0 + u0;
  float* h1 = c0 + u0;
  float* c1 = h1 + u1;
  kernels::LstmStep(s.lstm[0], x, h0, c0, scratch);
  kernels::LstmStep(s.lstm[1], h0, h1, c1, scratch);
  kernels::Dense(s.mask, h1, y);
}

}  // namespace

struct Networks::Packed {
  struct Stage {
    kernels::LstmSplit lstm[2];
    kernels::RowMatrix mask;
    std::vector<float> mask_bias;  // [mask.cols_p()], zero-padded
  };
  Stage stage1, stage2;
  kernels::RowMatrix encoder, decoder;
  std::vector<float> encoder_bias, decoder_bias;
  int max_cols = 0;  // the widest padded output (pass outputs live in scratch)
  int max_n4p = 0;
};

namespace {

void PackDense(const kernels::DenseParams& d, kernels::RowMatrix* m, std::vector<float>* bias) {
  *m = kernels::RowMatrix(d.weights, d.inputs, d.units, d.units);
  bias->assign(static_cast<size_t>(m->cols_p()), 0.f);
  if (d.bias != nullptr) std::copy(d.bias, d.bias + d.units, bias->begin());
}

std::shared_ptr<const Networks::Packed> Pack(const Networks& n) {
  auto p = std::make_shared<Networks::Packed>();
  for (int st = 0; st < 2; ++st) {
    const Networks::Stage& s = st == 0 ? n.stage1 : n.stage2;
    Networks::Packed::Stage& ps = st == 0 ? p->stage1 : p->stage2;
    for (int l = 0; l < 2; ++l) {
      ps.lstm[l] = kernels::LstmSplit(s.lstm[l]);
      p->max_n4p = std::max(p->max_n4p, ps.lstm[l].n4p());
    }
    PackDense(s.mask, &ps.mask, &ps.mask_bias);
    p->max_cols = std::max(p->max_cols, ps.mask.cols_p());
  }
  PackDense(n.encoder, &p->encoder, &p->encoder_bias);
  PackDense(n.decoder, &p->decoder, &p->decoder_bias);
  p->max_cols = std::max({p->max_cols, p->encoder.cols_p(), p->decoder.cols_p()});
  return p;
}

// One stage on the packed layers: LSTM 0 reads W (and R every other hop, its look-ahead then
// pending), LSTM 1 runs that look-ahead fused with its W pass, the mask pass runs LSTM 1's.
// y: the mask's padded output (cols_p floats), activated over its units.
// then: what the caller reads from memory next (prefetched at the end of the mask pass).
void RunStagePacked(const Networks::Stage& s, const Networks::Packed::Stage& ps,
                    kernels::LstmSplit::Carry* carry, const float* x, float* y, float* state,
                    float* scratch, kernels::NextRead then) {
  using kernels::LstmSplit;
  const int u0 = s.lstm[0].units, u1 = s.lstm[1].units;
  float* h0 = state;
  float* c0 = h0 + u0;
  float* h1 = c0 + u0;
  float* c1 = h1 + u1;
  const bool p0 = ps.lstm[0].Step(x, h0, c0, carry[0], scratch, nullptr, /*defer=*/true,
                                  ps.lstm[1].FirstRead());
  const LstmSplit::Ahead a0 = ps.lstm[0].PendingAhead(h0, carry[0]);
  const bool p1 = ps.lstm[1].Step(h0, h1, c1, carry[1], scratch, p0 ? &a0 : nullptr, true,
                                  ps.mask.Head());
  const LstmSplit::Ahead a1 = ps.lstm[1].PendingAhead(h1, carry[1]);
  const kernels::RowPass mask{&ps.mask, h1, ps.mask_bias.data(), y, then};
  if (p1) {
    const kernels::RowPass ahead = a1.Pass();
    kernels::RunRowPasses(mask, &ahead);
    a1.Done();
  } else {
    kernels::RunRowPasses(mask);
  }
  kernels::Activate(s.mask.activation, s.mask.math, y, static_cast<size_t>(s.mask.units));
}

// (x - mean) / sqrt(mean((x - mean)^2) + eps) * gamma + beta over n features, as the graph
// computes it.
void LayerNorm(const Networks& net, const float* enc, float* out) {
  const int n = net.features;
  float mean = 0.f;
  for (int i = 0; i < n; ++i) mean += enc[i];
  mean /= static_cast<float>(n);
  float var = 0.f;
  for (int i = 0; i < n; ++i) {
    const float d = enc[i] - mean;
    out[i] = d;
    var += d * d;
  }
  var /= static_cast<float>(n);
  const float sd = std::sqrt(var + net.norm_epsilon);
  for (int i = 0; i < n; ++i) out[i] = out[i] / sd * net.norm_gamma[i] + net.norm_beta[i];
}

}  // namespace

int Networks::StateFloats(int stage) const {
  const Stage& s = stage == 1 ? stage1 : stage2;
  return 2 * (s.lstm[0].units + s.lstm[1].units);
}

size_t Networks::ScratchFloats() const {
  int u = 0;
  for (const Stage* s : {&stage1, &stage2})
    for (const kernels::LstmParams& l : s->lstm) u = std::max(u, l.units);
  const size_t plain = kernels::LstmScratchFloats(u) + 2 * static_cast<size_t>(features) + 16;
  if (packed == nullptr) return plain;
  const size_t fast =
      3 * static_cast<size_t>(packed->max_cols) + static_cast<size_t>(packed->max_n4p) + 32;
  return std::max(plain, fast);
}

Networks::Carries Networks::NewCarries() const {
  Carries c;
  if (packed != nullptr) {
    for (int st = 0; st < 2; ++st) {
      const Packed::Stage& ps = st == 0 ? packed->stage1 : packed->stage2;
      for (int l = 0; l < 2; ++l) c.lstm[st][l] = ps.lstm[l].NewCarry();
    }
    ResetCarries(c);
  }
  return c;
}

void Networks::ResetCarries(Carries& c) {
  // rh = R·0 = 0. Layer 0 reads R on even hops, layer 1 on odd ones: one R read per stage per
  // hop (LstmSplit::ResetCarry with ready_at_zero for layer 1).
  for (auto& stage : c.lstm) {
    for (int l = 0; l < 2; ++l) {
      for (float& v : stage[l].rh) v = 0.f;
      stage[l].ready = l == 1;
      stage[l].pending = false;
    }
  }
}

void Networks::RunStage1(const float* magnitude, float* mask, float* state, float* scratch,
                         Carries& carries) const {
  if (packed == nullptr) {
    RunStage1(magnitude, mask, state, scratch);
    return;
  }
  float* y = scratch;  // [max_cols]
  RunStagePacked(stage1, packed->stage1, carries.lstm[0], magnitude, y, state,
                 scratch + packed->max_cols, packed->encoder.Head());
  std::copy(y, y + stage1.mask.units, mask);
}

void Networks::RunStage2(const float* frame, float* out_frame, float* state, float* scratch,
                         Carries& carries, float* mask) const {
  if (packed == nullptr) {
    RunStage2(frame, out_frame, state, scratch);
    return;
  }
  const size_t w = static_cast<size_t>(packed->max_cols);
  float* enc = scratch;       // encoder output
  float* tmp = enc + w;       // normalised, then mask × encoder output
  float* y = tmp + w;         // the mask, then the decoder output
  float* lstm_scratch = y + w;
  kernels::RunRowPasses({&packed->encoder, frame, packed->encoder_bias.data(), enc,
                         packed->stage2.lstm[0].FirstRead()});
  LayerNorm(*this, enc, tmp);
  RunStagePacked(stage2, packed->stage2, carries.lstm[1], tmp, y, state, lstm_scratch,
                 packed->decoder.Head());
  if (mask != nullptr) std::copy(y, y + features, mask);
  for (int i = 0; i < features; ++i) tmp[i] = y[i] * enc[i];
  // The next hop starts with stage 1's first LSTM.
  kernels::RunRowPasses({&packed->decoder, tmp, packed->decoder_bias.data(), y,
                         packed->stage1.lstm[0].FirstRead()});
  std::copy(y, y + decoder.units, out_frame);
}

void Networks::RunStage1(const float* magnitude, float* mask, float* state, float* scratch) const {
  RunStage(stage1, magnitude, mask, state, scratch);
}

void Networks::RunStage2(const float* frame, float* out_frame, float* state,
                         float* scratch) const {
  const int n = features;
  float* enc = scratch;        // [n] encoder output
  float* tmp = scratch + n;    // [n] normalised, then the mask
  float* lstm_scratch = scratch + 2 * n;
  kernels::Dense(encoder, frame, enc);
  LayerNorm(*this, enc, tmp);
  RunStage(stage2, tmp, tmp, state, lstm_scratch);  // mask layer writes tmp after reading h1
  for (int i = 0; i < n; ++i) tmp[i] *= enc[i];
  kernels::Dense(decoder, tmp, out_frame);
}

absl::StatusOr<Networks> BuildNetworks(const Model& m) {
  if (m.family != "dtln") return Bad(m, "family is not 'dtln'");
  if (m.sample_rate != kSampleRate || m.frame_size != kFrame || m.hop_size != kHop ||
      m.algorithmic_latency != kFrame - kHop) {
    return Bad(m, "rate/frame/hop/latency must be 16000/512/128/384");
  }
  Networks net;
  const Layer* l0 = m.FindLayer("stage1.lstm0");
  const Layer* enc = m.FindLayer("stage2.encoder");
  if (l0 == nullptr || enc == nullptr) return Bad(m, "no stage1.lstm0 or stage2.encoder layer");
  const int u1 = l0->units / 4;
  if (l0->units % 4 != 0 || l0->inputs != kBins + u1) {
    return Bad(m, "stage1.lstm0 must be an LSTM gate layer over 257 bins");
  }
  net.features = enc->units;
  const int f = net.features;
  {
    absl::StatusOr<const Layer*> e = Need(m, "stage2.encoder", kFrame, f,
                                          kernels::Activation::kIdentity);
    absl::StatusOr<const Layer*> d = Need(m, "stage2.decoder", f, kFrame,
                                          kernels::Activation::kIdentity);
    absl::StatusOr<const Layer*> nrm = Need(m, "stage2.norm", 1, f,
                                            kernels::Activation::kIdentity);
    for (const auto* s : {&e, &d, &nrm})
      if (!s->ok()) return s->status();
    net.encoder = DenseParamsOf(**e, m.math);
    net.decoder = DenseParamsOf(**d, m.math);
    net.norm_gamma = (*nrm)->weights;
    net.norm_beta = (*nrm)->bias;
    if (net.norm_beta == nullptr) return Bad(m, "stage2.norm needs a bias (beta)");
  }
  const Layer* s2 = m.FindLayer("stage2.lstm0");
  if (s2 == nullptr || s2->units % 4 != 0) return Bad(m, "no stage2.lstm0 gate layer");
  const int u2 = s2->units / 4;
  struct Spec {
    Networks::Stage* stage;
    const char* names[3];
    int in, units, out;
  };
  for (const Spec& s : {Spec{&net.stage1, {"stage1.lstm0", "stage1.lstm1", "stage1.mask"},
                             kBins, u1, kBins},
                        Spec{&net.stage2, {"stage2.lstm0", "stage2.lstm1", "stage2.mask"},
                             f, u2, f}}) {
    absl::StatusOr<kernels::LstmParams> a = LstmOf(m, s.names[0], s.in, s.units);
    absl::StatusOr<kernels::LstmParams> b = LstmOf(m, s.names[1], s.units, s.units);
    absl::StatusOr<const Layer*> k = Need(m, s.names[2], s.units, s.out,
                                          kernels::Activation::kSigmoid);
    if (!a.ok()) return a.status();
    if (!b.ok()) return b.status();
    if (!k.ok()) return k.status();
    s.stage->lstm[0] = *a;
    s.stage->lstm[1] = *b;
    s.stage->mask = DenseParamsOf(**k, m.math);
  }
  // The layer norm's epsilon travels in the header's metadata (models/README.md: free-form
  // object; ghostnv-convert writes metadata.dtln.norm_epsilon).
  const nlohmann::json meta = nlohmann::json::parse(m.metadata_json, nullptr, false);
  if (meta.is_object() && meta.contains("dtln") && meta["dtln"].is_object() &&
      meta["dtln"].contains("norm_epsilon")) {
    const nlohmann::json& e = meta["dtln"]["norm_epsilon"];
    if (!e.is_number() || !(e.get<double>() >= 0.0) || !(e.get<double>() < 1.0)) {
      return Bad(m, "metadata.dtln.norm_epsilon must be a number in [0, 1)");
    }
    net.norm_epsilon = static_cast<float>(e.get<double>());
  } else {
    return Bad(m, "metadata.dtln.norm_epsilon is missing");
  }
  net.packed = Pack(net);
  return net;
}

namespace {

class Channel final : public ChannelState {
 public:
  explicit Channel(const Networks& net)
      : fft(kFrame),
        in_buf(kFrame, 0.f),
        out_buf(kFrame, 0.f),
        frame(kFrame, 0.f),
        mag(kBins, 0.f),
        mask(kBins, 0.f),
        state1(net.StateFloats(1), 0.f),
        state2(net.StateFloats(2), 0.f),
        scratch(net.ScratchFloats(), 0.f),
        spec(kBins),
        carries(net.NewCarries()) {}
  ~Channel() override { Reset(); }

  void Reset() override {
    for (std::vector<float>* v :
         {&in_buf, &out_buf, &frame, &mag, &mask, &state1, &state2, &scratch})
      Wipe(*v);
    explicit_bzero(spec.data(), spec.size() * sizeof(cfloat));
    for (auto& stage : carries.lstm)
      for (kernels::LstmSplit::Carry& c : stage) Wipe(c.rh);
    Networks::ResetCarries(carries);
  }

  audio::RealFft fft;
  std::vector<float> in_buf, out_buf, frame, mag, mask, state1, state2, scratch;
  std::vector<cfloat> spec;
  Networks::Carries carries;
};

class DtlnFamily final : public Family {
 public:
  DtlnFamily(std::shared_ptr<const Model> model, Networks net)
      : model_(std::move(model)), net_(net) {}

  const Model& model() const override { return *model_; }

  std::unique_ptr<ChannelState> NewChannel() const override {
    return std::make_unique<Channel>(net_);
  }

  HopInfo ProcessHop(ChannelState& state, const float* in, float* out,
                     float strength) const override {
    Channel& ch = static_cast<Channel&>(state);
    float* buf = ch.in_buf.data();
    std::memmove(buf, buf + kHop, (kFrame - kHop) * sizeof(float));
    std::memcpy(buf + kFrame - kHop, in, kHop * sizeof(float));

    ch.fft.Forward(buf, ch.spec.data());
    for (int k = 0; k < kBins; ++k) ch.mag[k] = std::abs(ch.spec[k]);
    net_.RunStage1(ch.mag.data(), ch.mask.data(), ch.state1.data(), ch.scratch.data(),
                   ch.carries);
    for (int k = 0; k < kBins; ++k) ch.spec[k] *= ch.mask[k];
    ch.fft.Inverse(ch.spec.data(), ch.frame.data());
    constexpr float kScale = 1.0f / kFrame;
    for (float& v : ch.frame) v *= kScale;
    float y[kFrame];  // stage 2's output frame (wiped below: it held audio)
    net_.RunStage2(ch.frame.data(), y, ch.state2.data(), ch.scratch.data(), ch.carries);

    float* ob = ch.out_buf.data();
    std::memmove(ob, ob + kHop, (kFrame - kHop) * sizeof(float));
    std::memset(ob + kFrame - kHop, 0, kHop * sizeof(float));
    for (int i = 0; i < kFrame; ++i) ob[i] += y[i];

    // The dry signal aligned with the output: the oldest hop of the input buffer (384 back).
    const float s = std::clamp(strength, 0.f, 1.f);
    for (int i = 0; i < kHop; ++i) out[i] = s * ob[i] + (1.f - s) * buf[i];
    explicit_bzero(y, sizeof(y));
    return {};
  }

 private:
  std::shared_ptr<const Model> model_;
  Networks net_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Family>> CreateDtlnFamily(std::shared_ptr<const Model> model) {
  if (model == nullptr) return absl::InvalidArgumentError("no model");
  absl::StatusOr<Networks> net = BuildNetworks(*model);
  if (!net.ok()) return net.status();
  return std::unique_ptr<Family>(new DtlnFamily(std::move(model), *net));
}

}  // namespace ghostnv::models::dtln
