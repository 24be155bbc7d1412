// models/dfn3/dfn3_family.cc — the DeepFilterNet3 family: layer checks, the three networks,
// features, ERB gains, deep filtering, STFT and overlap-add.

#include "models/dfn3/dfn3_family.h"

#include <xmmintrin.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "audio/fft.h"
#include "kernels/cpu.h"
#include "nlohmann/json.hpp"

namespace ghostnv::models::dfn3 {
namespace {

using audio::cfloat;
using kernels::Activation;

absl::Status Bad(const Model& m, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(m.name, ": not a valid dfn3 model: ", what));
}

// Issues n lines of the GRU weight stream (dense.h's PrefetchStream) into L2: the loops below
// call it at about one line per 8-16 cycles of their own work, so that the next GRU's weights
// stream in behind them as they do behind the dense layers.
inline void PfLines(kernels::PrefetchStream* pf, int n) {
  if (pf == nullptr) return;
  for (int i = 0; i < n && pf->next < pf->end; ++i) {
    _mm_prefetch(pf->next, _MM_HINT_T1);
    pf->next += std::min<std::ptrdiff_t>(64, pf->end - pf->next);
  }
}

void Wipe(std::vector<float>& v) {
  if (!v.empty()) explicit_bzero(v.data(), v.size() * sizeof(float));
}

// y[fo][co] for ConvParams (see the header). frames: kt pointers to [fin][cin].
void Conv(const ConvParams& p, const float* const* frames, int fin, float* y,
          kernels::PrefetchStream* pf) {
  const int fout = (fin + 2 * p.pad - p.kf) / p.stride + 1;
  const int cout = p.cout;
  const int per = cout / p.cin;
  for (int fo = 0; fo < fout; ++fo) {
    float* yo = y + static_cast<size_t>(fo) * cout;
    for (int c = 0; c < cout; ++c) yo[c] = p.bias != nullptr ? p.bias[c] : 0.f;
    for (int t = 0; t < p.kt; ++t) {
      for (int k = 0; k < p.kf; ++k) {
        const int fi = fo * p.stride + k - p.pad;
        if (fi < 0 || fi >= fin) continue;
        const float* wk = p.weights + static_cast<size_t>(t * p.kf + k) * cout;
        const float* x = frames[t] + static_cast<size_t>(fi) * p.cin;
        PfLines(pf, 1);
        if (per == 1) {
          for (int c = 0; c < cout; ++c) yo[c] += wk[c] * x[c];
        } else {
          for (int ci = 0; ci < p.cin; ++ci) {
            const float xv = x[ci];
            const float* wc = wk + ci * per;
            float* yc = yo + ci * per;
            for (int j = 0; j < per; ++j) yc[j] += wc[j] * xv;
          }
        }
      }
    }
  }
  kernels::Activate(p.activation, kernels::MathMode::kExact, y,
                    static_cast<size_t>(fout) * cout);
}

// c as its dense form: the im2col rows [fout][kt·kf·cin] (zeros where the kernel hangs over
// the edge) in col, then one dense layer over all rows.
void ConvDense(const ConvAsDense& c, const float* const* frames, int fin, float* col, float* y,
               kernels::PrefetchStream* pf) {
  const ConvParams& p = c.conv;
  const int fout = (fin + 2 * p.pad - p.kf) / p.stride + 1;
  const int n = p.kt * p.kf * p.cin;
  for (int fo = 0; fo < fout; ++fo) {
    PfLines(pf, 1);
    float* row = col + static_cast<size_t>(fo) * n;
    for (int t = 0; t < p.kt; ++t) {
      for (int k = 0; k < p.kf; ++k) {
        const int fi = fo * p.stride + k - p.pad;
        float* dst = row + (t * p.kf + k) * p.cin;
        if (fi < 0 || fi >= fin) {
          for (int ci = 0; ci < p.cin; ++ci) dst[ci] = 0.f;
        } else {
          const float* src = frames[t] + static_cast<size_t>(fi) * p.cin;
          for (int ci = 0; ci < p.cin; ++ci) dst[ci] = src[ci];
        }
      }
    }
  }
  kernels::DenseRows(c.dense, col, fout, n, y, pf);
}

ConvAsDense MakeConvAsDense(const ConvParams& p) {
  ConvAsDense c;
  c.conv = p;
  const int n = p.kt * p.kf * p.cin, per = p.cout / p.cin;
  auto w = std::make_shared<std::vector<float>>(static_cast<size_t>(n) * p.cout, 0.f);
  for (int tk = 0; tk < p.kt * p.kf; ++tk)
    for (int co = 0; co < p.cout; ++co)
      (*w)[static_cast<size_t>(tk * p.cin + co / per) * p.cout + co] =
          p.weights[static_cast<size_t>(tk) * p.cout + co];
  c.dense = kernels::DenseParams{.inputs = n, .units = p.cout, .weights = w->data(),
                                 .bias = p.bias, .activation = p.activation,
                                 .math = kernels::MathMode::kExact};
  c.weights = std::move(w);
  return c;
}

// Depthwise ConvTranspose over frequency, kernel 3, stride 2, pad 1, output_padding 1:
// fout = 2 fin; y[o][c] = Σ_{i,k: o = 2i - 1 + k} w[k][c] x[i][c].
void ConvT(const ConvParams& p, const float* x, int fin, float* y, kernels::PrefetchStream* pf) {
  const int fout = 2 * fin, ch = p.cout;
  std::memset(y, 0, sizeof(float) * static_cast<size_t>(fout) * ch);
  for (int i = 0; i < fin; ++i) {
    const float* xi = x + static_cast<size_t>(i) * ch;
    for (int k = 0; k < 3; ++k) {
      const int o = 2 * i - 1 + k;
      if (o < 0 || o >= fout) continue;
      const float* wk = p.weights + static_cast<size_t>(k) * ch;
      float* yo = y + static_cast<size_t>(o) * ch;
      PfLines(pf, 1);
      for (int c = 0; c < ch; ++c) yo[c] += wk[c] * xi[c];
    }
  }
}

// Pointwise convolution: a dense layer at every frequency position.
void Pointwise(const kernels::DenseParams& p, const float* x, int f, float* y,
               kernels::PrefetchStream* pf) {
  kernels::DenseRows(p, x, f, p.inputs, y, pf);
}

void Grouped(const GroupedParams& p, const float* x, float* y, kernels::PrefetchStream* pf) {
  kernels::DenseGroups(p.group, p.groups, x, y, pf);
}

// y[f][c] += relu(w[c] x[f][c] + b[c])  (the decoder's per-channel skip convolutions)
void AddAffineRelu(const float* w, const float* b, const float* x, int f, float* y,
                   kernels::PrefetchStream* pf) {
  for (int i = 0; i < f; ++i) {
    PfLines(pf, 1);
    for (int c = 0; c < kCh; ++c) {
      const float v = w[c] * x[i * kCh + c] + b[c];
      y[i * kCh + c] += v > 0.f ? v : 0.f;
    }
  }
}

struct Finder {
  const Model& m;
  absl::Status status = absl::OkStatus();

  const Layer* Get(const std::string& name, LayerKind kind, int inputs, int units,
                   Activation act) {
    if (!status.ok()) return nullptr;
    const Layer* l = m.FindLayer(name);
    if (l == nullptr) {
      status = Bad(m, absl::StrCat("no layer '", name, "'"));
      return nullptr;
    }
    if (l->kind != kind || l->inputs != inputs || l->units != units || l->activation != act ||
        (kind == LayerKind::kGru && !l->reset_after)) {
      status = Bad(m, absl::StrCat("layer '", name, "' must be ",
                                   kind == LayerKind::kGru ? "gru " : "dense ", inputs, "->",
                                   units, " ", kernels::ActivationName(act), " (it is ",
                                   l->inputs, "->", l->units, " ",
                                   kernels::ActivationName(l->activation), ")"));
      return nullptr;
    }
    return l;
  }
  kernels::DenseParams Dense(const std::string& name, int inputs, int units, Activation act,
                             bool need_bias) {
    const Layer* l = Get(name, LayerKind::kDense, inputs, units, act);
    if (l == nullptr) return {};
    if (need_bias && l->bias == nullptr) status = Bad(m, absl::StrCat(name, " needs a bias"));
    return DenseParamsOf(*l, kernels::MathMode::kExact);
  }
  GroupedParams Grouped(const std::string& name, int groups, int in, int out, Activation act) {
    kernels::DenseParams p = Dense(name, groups * in, out, act, false);
    p.inputs = in;
    p.bias = nullptr;
    return {groups, p};
  }
  ConvParams Conv(const std::string& name, int kt, int kf, int stride, int pad, int cin,
                  int cout, Activation act, bool need_bias) {
    kernels::DenseParams d = Dense(name, kt * kf, cout, act, need_bias);
    return {kt, kf, stride, pad, cin, cout, d.weights, d.bias, act};
  }
  kernels::GruParams Gru(const std::string& name) {
    const Layer* l = Get(name, LayerKind::kGru, kHidden, kHidden, Activation::kTanh);
    if (l == nullptr) return {};
    return GruParamsOf(*l, kernels::MathMode::kExact);
  }
};

}  // namespace

std::vector<int> ErbBandWidths(int sample_rate, int fft_size, int bands, int min_bins) {
  auto freq2erb = [](double f) { return 9.265 * std::log1p(f / (24.7 * 9.265)); };
  auto erb2freq = [](double e) { return 24.7 * 9.265 * (std::exp(e / 9.265) - 1.0); };
  const double width = static_cast<double>(sample_rate) / fft_size;
  const double lo = freq2erb(0.0), hi = freq2erb(sample_rate / 2.0);
  const double step = (hi - lo) / bands;
  std::vector<int> w(static_cast<size_t>(bands), 0);
  int prev = 0, over = 0;
  for (int i = 1; i <= bands; ++i) {
    const int fb = static_cast<int>(std::lround(erb2freq(lo + i * step) / width));
    int nb = fb - prev - over;
    if (nb < min_bins) {
      over = min_bins - nb;
      nb = min_bins;
    } else {
      over = 0;
    }
    w[static_cast<size_t>(i - 1)] = nb;
    prev = fb;
  }
  w.back() += 1;
  int sum = 0;
  for (int v : w) sum += v;
  const int extra = sum - (fft_size / 2 + 1);
  if (extra > 0) w.back() -= extra;
  return w;
}

void Networks::State::Zero() {
  for (std::vector<float>* v : {&erb_hist, &spec_hist, &enc_h, &erb_h0, &erb_h1, &df_h0,
                                &df_h1, &c0_hist})
    Wipe(*v);
  for (kernels::GruSplit::Carry& c : carry) {
    Wipe(c.rh);
    c.ready = false;
    c.pending = false;
  }
  pending = -1;
  c0_slot = 0;
}

void Networks::ResetState(State& s) const {
  s.Zero();
  // Zero states: rh = b_r exactly; GRUs 1 and 3 start ready (they read only W in the first hop),
  // 0, 2 and 4 read R first, so the hops alternate 3 and 2 R reads.
  if (split != nullptr)
    for (size_t i = 0; i < s.carry.size() && i < split->size(); ++i)
      (*split)[i].ResetCarry(s.carry[i], /*ready_at_zero=*/i % 2 == 1);
}

// GRU i (the order of `grus`) on x, state h. With `split`, a GRU that read R leaves its
// look-ahead pass (R again, from L2) pending, and the next GRU's step runs it fused with its
// own W pass from memory (State::pending). Not df.gru1: the next GRU after it is the next
// hop's, after the DSP and the encoder's convolutions, whose prefetch stream would evict R.
void Networks::Gru(int i, const float* x, float* h, State& s, Work& w) const {
  const size_t k = static_cast<size_t>(i);
  if (split == nullptr) {
    (*grus)[k].Step(x, h, w.gru.data());
    return;
  }
  kernels::GruSplit::Ahead with;
  if (s.pending >= 0) {
    const size_t p = static_cast<size_t>(s.pending);
    std::vector<float>* states[] = {&s.enc_h, &s.erb_h0, &s.erb_h1, &s.df_h0, &s.df_h1};
    with = {&(*split)[p], states[p]->data(), &s.carry[p]};
    s.pending = -1;
  }
  if ((*split)[k].Step(x, h, s.carry[k], w.gru.data(), &w.pf, &with, /*defer=*/i != 4))
    s.pending = i;
}

// Points w.pf at the weights GRU i's next step surely reads from memory (GruSplit: R when it
// is not ready; nothing else), unless it streams them already; at nothing if there are none.
void Networks::StreamGru(int i, const State& s, Work& w) const {
  const size_t k = static_cast<size_t>(i);
  kernels::PrefetchStream next;
  if (split != nullptr) {
    next = (*split)[k].NextStream(s.carry[k]);
  } else {
    const kernels::GruPacked& g = (*grus)[k];
    if (g.packed_bytes() != nullptr) next = {g.packed_bytes(), g.packed_bytes() + g.packed_size()};
  }
  if (w.pf.end != next.end) w.pf = next;
}

Networks::State Networks::NewState() const {
  State s;
  s.erb_hist.assign(2 * kErb, 0.f);
  s.spec_hist.assign(2 * kDf * 2, 0.f);
  for (std::vector<float>* v : {&s.enc_h, &s.erb_h0, &s.erb_h1, &s.df_h0, &s.df_h1})
    v->assign(kHidden, 0.f);
  s.c0_hist.assign(static_cast<size_t>(2) * kConvpTaps * (kCh / 2) * kDf, 0.f);
  if (split != nullptr)
    for (const kernels::GruSplit& g : *split) s.carry.push_back(g.NewCarry());
  ResetState(s);
  return s;
}

Networks::Work Networks::NewWork() const {
  Work w;
  const size_t map = static_cast<size_t>(kDf) * kCh;
  w.a.assign(map, 0.f);
  w.b.assign(map, 0.f);
  w.c.assign(map, 0.f);
  w.flat.assign(4 * kEmb, 0.f);
  w.pad.assign(static_cast<size_t>(kErb + 2) * kCh, 0.f);
  size_t gru = kernels::GruScratchFloats(kHidden);
  if (split != nullptr)
    for (const kernels::GruSplit& g : *split) gru = std::max(gru, g.ScratchFloats());
  w.gru.assign(gru, 0.f);
  w.col.assign(static_cast<size_t>(kDf) * 3 * 3 * 2, 0.f);
  return w;
}

void Networks::RunEncoder(const float* feat_erb, const float* feat_spec, State& s, Work& w,
                          const EncOut& o) const {
  // ERB path: causal 3x3 conv over the last three frames (histories oldest first).
  const float* ef[3] = {s.erb_hist.data(), s.erb_hist.data() + kErb, feat_erb};
  StreamGru(0, s, w);  // continues the stream the DF decoder started
  ConvDense(erb_conv0_d, ef, kErb, w.col.data(), o.e0, &w.pf);
  std::memmove(s.erb_hist.data(), s.erb_hist.data() + kErb, sizeof(float) * kErb);
  std::memcpy(s.erb_hist.data() + kErb, feat_erb, sizeof(float) * kErb);
  float* outs[3] = {o.e1, o.e2, o.e3};
  const float* x = o.e0;
  int f = kErb;
  for (int i = 0; i < 3; ++i) {
    const float* fr[1] = {x};
    Conv(erb_dw[i], fr, f, w.a.data(), &w.pf);
    f = (f + 2 * erb_dw[i].pad - erb_dw[i].kf) / erb_dw[i].stride + 1;
    Pointwise(erb_pw[i], w.a.data(), f, outs[i], &w.pf);
    x = outs[i];
  }
  // DF path.
  const float* sf[3] = {s.spec_hist.data(), s.spec_hist.data() + 2 * kDf, feat_spec};
  ConvDense(df_conv0_d, sf, kDf, w.col.data(), w.a.data(), &w.pf);
  std::memmove(s.spec_hist.data(), s.spec_hist.data() + 2 * kDf, sizeof(float) * 2 * kDf);
  std::memcpy(s.spec_hist.data() + 2 * kDf, feat_spec, sizeof(float) * 2 * kDf);
  Pointwise(df_pw0, w.a.data(), kDf, o.c0, &w.pf);
  {
    const float* fr[1] = {o.c0};
    Conv(df_dw1, fr, kDf, w.a.data(), &w.pf);
  }
  Pointwise(df_pw1, w.a.data(), kDf / 2, w.b.data(), &w.pf);  // [48][64], the Reshape order
  float* emb_in = w.flat.data();
  Grouped(df_fc_emb, w.b.data(), emb_in, &w.pf);  // relu
  for (int i = 0; i < kEmb; ++i) emb_in[i] += o.e3[i];  // e3 [8][64] flattened the same way
  float* g = w.flat.data() + kEmb;
  Grouped(enc_emb_in, emb_in, g, &w.pf);
  StreamGru(1, s, w);  // from here (GruSplit's L2 pass included) erb.gru0 streams in
  Gru(0, g, s.enc_h.data(), s, w);
  Grouped(enc_emb_out, s.enc_h.data(), o.emb, &w.pf);
  kernels::Dense(lsnr, o.emb, o.lsnr);
  o.lsnr[0] = o.lsnr[0] * lsnr_scale + lsnr_offset;
}

void Networks::RunErbDecoder(const float* emb, const float* e3, const float* e2,
                             const float* e1, const float* e0, State& s, Work& w,
                             float* m) const {
  float* g = w.flat.data();
  StreamGru(1, s, w);
  Grouped(erb_emb_in, emb, g, &w.pf);
  StreamGru(2, s, w);
  Gru(1, g, s.erb_h0.data(), s, w);
  StreamGru(3, s, w);  // df.gru0 streams in behind erb.gru1 and the ERB decoder's convolutions
  Gru(2, s.erb_h0.data(), s.erb_h1.data(), s, w);
  float* y = w.b.data();  // [8][64]
  Grouped(erb_emb_out, s.erb_h1.data(), y, &w.pf);
  AddAffineRelu(erb_p_w[3], erb_p_b[3], e3, 8, y, &w.pf);
  {
    const float* fr[1] = {y};
    Conv(erb_dw3, fr, 8, w.a.data(), &w.pf);
  }
  Pointwise(dec_pw[0], w.a.data(), 8, w.c.data(), &w.pf);
  AddAffineRelu(erb_p_w[2], erb_p_b[2], e2, 8, w.c.data(), &w.pf);
  ConvT(erb_convt[0], w.c.data(), 8, w.a.data(), &w.pf);
  Pointwise(dec_pw[1], w.a.data(), 16, w.b.data(), &w.pf);
  AddAffineRelu(erb_p_w[1], erb_p_b[1], e1, 16, w.b.data(), &w.pf);
  ConvT(erb_convt[1], w.b.data(), 16, w.a.data(), &w.pf);
  float* pad = w.pad.data();  // [34][64], rows 0 and 33 stay zero
  Pointwise(dec_pw[2], w.a.data(), kErb, pad + kCh, &w.pf);
  AddAffineRelu(erb_p_w[0], erb_p_b[0], e0, kErb, pad + kCh, &w.pf);
  for (int f = 0; f < kErb; ++f) kernels::Dense(erb_out, pad + static_cast<size_t>(f) * kCh, m + f);
}

void Networks::RunDfDecoder(const float* emb, const float* c0, State& s, Work& w, float* coefs,
                            float* alpha) const {
  float* g = w.flat.data();
  StreamGru(3, s, w);
  Grouped(df_emb_in, emb, g, &w.pf);
  StreamGru(4, s, w);
  Gru(3, g, s.df_h0.data(), s, w);
  StreamGru(0, s, w);  // the next hop's encoder GRU
  Gru(4, s.df_h0.data(), s.df_h1.data(), s, w);
  float* c = w.flat.data() + kEmb;
  Grouped(df_skip, emb, c, &w.pf);
  for (int i = 0; i < kHidden; ++i) c[i] += s.df_h1[static_cast<size_t>(i)];
  kernels::Dense(df_fc_a, c, alpha);
  float* lin = w.b.data();  // [96][10]
  Grouped(df_out, c, lin, &w.pf);
  constexpr int kOut = 2 * kOrder;
  constexpr int kGroupCh = kCh / 2;
  constexpr size_t kTapFloats = static_cast<size_t>(kGroupCh) * kDf;  // one tap of one group
  float* y = w.a.data();  // [10][96] df_convp output, channel-major
  float* z = w.c.data();  // [10][96] after the pointwise layer
  // c0_hist is a ring of kConvpTaps slots: the newest frame goes into slot c0_slot, so slot p
  // holds tap (p - c0_slot - 1) mod 5 (0 = oldest); convp_ring[c0_slot] holds the kernels
  // with their taps in that slot order.
  const int slot = s.c0_slot;
  const float* kern = convp_ring->data() + static_cast<size_t>(slot) * 2 * kOrder * kConvpTaps *
                                               kGroupCh;
  for (int gr = 0; gr < 2; ++gr) {
    float* h = s.c0_hist.data() + static_cast<size_t>(gr) * kConvpTaps * kTapFloats;
    float* newest = h + static_cast<size_t>(slot) * kTapFloats;
    for (int f = 0; f < kDf; ++f)
      for (int k = 0; k < kGroupCh; ++k)
        newest[static_cast<size_t>(k) * kDf + f] = c0[f * kCh + gr * kGroupCh + k];
    const kernels::DenseParams q{.inputs = kConvpTaps * kGroupCh, .units = kDf, .weights = h,
                                 .bias = nullptr, .activation = Activation::kIdentity,
                                 .math = kernels::MathMode::kExact};
    // One row per output channel of the group: y[gr·5 + o][f] = Σ kern_o · h[·][f].
    kernels::DenseRows(q, kern + static_cast<size_t>(gr * kOrder) * q.inputs, kOrder, q.inputs,
                       y + static_cast<size_t>(gr * kOrder) * kDf, &w.pf);
  }
  s.c0_slot = slot + 1 < kConvpTaps ? slot + 1 : 0;
  const kernels::DenseParams pw{.inputs = kOut, .units = kDf, .weights = y, .bias = nullptr,
                                .activation = Activation::kIdentity,
                                .math = kernels::MathMode::kExact};
  kernels::DenseRows(pw, convp_pw_t->data(), kOut, kOut, z, &w.pf);
  for (int o = 0; o < kOut; ++o) {
    const float* zo = z + static_cast<size_t>(o) * kDf;
    const float b = df_convp_pw.bias[o];
    for (int f = 0; f < kDf; ++f) {
      const float v = zo[f] + b;
      coefs[f * kOut + o] = lin[f * kOut + o] + (v > 0.f ? v : 0.f);
    }
  }
}

absl::StatusOr<Networks> BuildNetworks(const Model& m) {
  if (m.family != "dfn3") return Bad(m, "family is not 'dfn3'");
  if (m.sample_rate != kSampleRate || m.frame_size != kFft || m.hop_size != kHop) {
    return Bad(m, "rate/frame/hop must be 48000/960/480");
  }
  Networks n;
  Finder F{m};
  const Activation relu = Activation::kRelu, id = Activation::kIdentity;
  n.erb_conv0 = F.Conv("enc.erb_conv0", 3, 3, 1, 1, 1, kCh, relu, true);
  for (int i = 0; i < 3; ++i) {
    const std::string b = absl::StrCat("enc.erb_conv", i + 1);
    n.erb_dw[i] = F.Conv(b + ".dw", 1, 3, i < 2 ? 2 : 1, 1, kCh, kCh, id, false);
    n.erb_pw[i] = F.Dense(b + ".pw", kCh, kCh, relu, true);
  }
  n.df_conv0 = F.Conv("enc.df_conv0.dw", 3, 3, 1, 1, 2, kCh, id, false);
  n.df_pw0 = F.Dense("enc.df_conv0.pw", kCh, kCh, relu, true);
  n.df_dw1 = F.Conv("enc.df_conv1.dw", 1, 3, 2, 1, kCh, kCh, id, false);
  n.df_pw1 = F.Dense("enc.df_conv1.pw", kCh, kCh, relu, true);
  n.df_fc_emb = F.Grouped("enc.df_fc_emb", 32, 96, 16, relu);
  n.enc_emb_in = F.Grouped("enc.emb_in", 16, 32, 16, relu);
  n.enc_gru = F.Gru("enc.emb_gru");
  n.enc_emb_out = F.Grouped("enc.emb_out", 16, 16, 32, relu);
  n.lsnr = F.Dense("enc.lsnr", kEmb, 1, Activation::kSigmoid, true);
  n.erb_emb_in = F.Grouped("erb.emb_in", 16, 32, 16, relu);
  n.erb_gru[0] = F.Gru("erb.gru0");
  n.erb_gru[1] = F.Gru("erb.gru1");
  n.erb_emb_out = F.Grouped("erb.emb_out", 16, 16, 32, relu);
  for (int i = 0; i < 4; ++i) {
    kernels::DenseParams p = F.Dense(absl::StrCat("erb.conv", i, "p"), 1, kCh, relu, true);
    n.erb_p_w[i] = p.weights;
    n.erb_p_b[i] = p.bias;
  }
  n.erb_dw3 = F.Conv("erb.convt3.dw", 1, 3, 1, 1, kCh, kCh, id, false);
  n.erb_convt[0] = F.Conv("erb.convt2.dw", 1, 3, 2, 1, kCh, kCh, id, false);
  n.erb_convt[1] = F.Conv("erb.convt1.dw", 1, 3, 2, 1, kCh, kCh, id, false);
  n.dec_pw[0] = F.Dense("erb.convt3.pw", kCh, kCh, relu, true);
  n.dec_pw[1] = F.Dense("erb.convt2.pw", kCh, kCh, relu, true);
  n.dec_pw[2] = F.Dense("erb.convt1.pw", kCh, kCh, relu, true);
  n.erb_out = F.Dense("erb.conv0_out", 3 * kCh, 1, Activation::kSigmoid, true);
  n.df_emb_in = F.Grouped("df.emb_in", 8, 64, 32, relu);
  n.df_gru[0] = F.Gru("df.gru0");
  n.df_gru[1] = F.Gru("df.gru1");
  n.df_skip = F.Grouped("df.skip", 16, 32, 16, id);
  kernels::DenseParams convp = F.Dense("df.convp.conv", kConvpTaps * 32, 2 * kOrder, id, false);
  n.df_convp_pw = F.Dense("df.convp.pw", 2 * kOrder, 2 * kOrder, relu, true);
  n.df_fc_a = F.Dense("df.fc_a", kHidden, 1, Activation::kSigmoid, true);
  n.df_out = F.Grouped("df.out", 16, 16, 60, Activation::kTanh);
  if (!F.status.ok()) return F.status;
  n.erb_conv0_d = MakeConvAsDense(n.erb_conv0);
  n.df_conv0_d = MakeConvAsDense(n.df_conv0);
  // df_convp: 2 groups (outputs 0-4 read channels 0-31, outputs 5-9 channels 32-63), 5 taps;
  // .gnvm rows (t·32 + ci) · 10 + co. Kernels per output channel for the bin-vectorised form.
  auto ct = std::make_shared<std::vector<float>>(static_cast<size_t>(2 * kOrder) * kConvpTaps * 32);
  for (int co = 0; co < 2 * kOrder; ++co)
    for (int t = 0; t < kConvpTaps; ++t)
      for (int ci = 0; ci < 32; ++ci)
        (*ct)[(static_cast<size_t>(co) * kConvpTaps + t) * 32 + ci] =
            convp.weights[(static_cast<size_t>(t) * 32 + ci) * 2 * kOrder + co];
  auto pt = std::make_shared<std::vector<float>>(static_cast<size_t>(2 * kOrder) * 2 * kOrder);
  for (int co = 0; co < 2 * kOrder; ++co)
    for (int ci = 0; ci < 2 * kOrder; ++ci)
      (*pt)[static_cast<size_t>(co) * 2 * kOrder + ci] =
          n.df_convp_pw.weights[static_cast<size_t>(ci) * 2 * kOrder + co];
  n.convp_t = ct;
  // The same kernels for each ring position of c0_hist (see RunDfDecoder): for newest slot q,
  // slot p holds tap (p - q - 1) mod 5.
  auto ring = std::make_shared<std::vector<float>>(static_cast<size_t>(kConvpTaps) * ct->size());
  for (int q = 0; q < kConvpTaps; ++q)
    for (int co = 0; co < 2 * kOrder; ++co)
      for (int p = 0; p < kConvpTaps; ++p) {
        const int t = ((p - q - 1) % kConvpTaps + kConvpTaps) % kConvpTaps;
        for (int ci = 0; ci < 32; ++ci)
          (*ring)[((static_cast<size_t>(q) * 2 * kOrder + co) * kConvpTaps + p) * 32 + ci] =
              (*ct)[(static_cast<size_t>(co) * kConvpTaps + t) * 32 + ci];
      }
  n.convp_ring = ring;
  auto grus = std::make_shared<std::vector<kernels::GruPacked>>();
  auto split = std::make_shared<std::vector<kernels::GruSplit>>();
  bool all_split = kernels::ActiveSimd() == kernels::SimdLevel::kAvx2;
  for (const kernels::GruParams* g : {&n.enc_gru, &n.erb_gru[0], &n.erb_gru[1], &n.df_gru[0],
                                      &n.df_gru[1]}) {
    grus->emplace_back(*g);  // packs lossless halves only
    all_split = all_split && !grus->back().half_storage() && kernels::GruSplit::Supported(*g);
  }
  if (all_split) {
    for (const kernels::GruParams* g : {&n.enc_gru, &n.erb_gru[0], &n.erb_gru[1], &n.df_gru[0],
                                        &n.df_gru[1]})
      split->emplace_back(*g);
    n.split = split;
  }
  n.grus = grus;
  n.convp_pw_t = pt;

  const nlohmann::json meta = nlohmann::json::parse(m.metadata_json, nullptr, false);
  if (!meta.is_object() || !meta.contains("dfn3") || !meta["dfn3"].is_object()) {
    return Bad(m, "metadata.dfn3 is missing");
  }
  const nlohmann::json& d = meta["dfn3"];
  auto num = [&](const char* key, double def) {
    return d.contains(key) && d[key].is_number() ? d[key].get<double>() : def;
  };
  n.lsnr_scale = static_cast<float>(num("lsnr_scale", 50.0));
  n.lsnr_offset = static_cast<float>(num("lsnr_offset", -15.0));
  n.lsnr_min = static_cast<float>(num("lsnr_min", -15.0));
  n.lsnr_max = static_cast<float>(num("lsnr_max", 35.0));
  if (!(n.lsnr_max > n.lsnr_min)) return Bad(m, "lsnr_max must exceed lsnr_min");
  const double tau = num("norm_tau", 1.0);
  if (!(tau > 0.0 && tau < 100.0)) return Bad(m, "norm_tau must be in (0, 100)");
  // DeepFilterNet's calc_norm_alpha: exp(-hop / (sr tau)) rounded to the first decimal
  // precision (3, 4, ...) at which it is below 1.
  const double a = std::exp(-static_cast<double>(kHop) / kSampleRate / tau);
  double r = 1.0;
  for (int prec = 3; r >= 1.0 && prec < 12; ++prec) {
    const double p10 = std::pow(10.0, prec);
    r = std::round(a * p10) / p10;
  }
  n.norm_alpha = static_cast<float>(r);
  const double la = std::max(num("df_lookahead", 2), num("conv_lookahead", 2));
  if (!(la >= 0 && la <= 4)) return Bad(m, "lookahead must be 0..4 frames");
  n.lookahead = static_cast<int>(la);
  if (m.algorithmic_latency != kFft - kHop + n.lookahead * kHop) {
    return Bad(m, "algorithmic_latency must be 480 + 480 * lookahead");
  }
  if (n.lookahead != 2 && static_cast<int>(num("df_lookahead", 2)) != n.lookahead) {
    return Bad(m, "df_lookahead and conv_lookahead must be equal");
  }
  const int min_bins = static_cast<int>(num("min_nb_erb_freqs", 2));
  n.erb_widths = ErbBandWidths(kSampleRate, kFft, kErb, min_bins);
  int sum = 0;
  for (int v : n.erb_widths) {
    if (v <= 0) return Bad(m, "ERB band of zero width");
    sum += v;
  }
  if (sum != kBins) return Bad(m, "ERB bands do not cover 481 bins");
  return n;
}

namespace {

constexpr int kRing = kOrder;  // spectra t-4..t (DF order 5, lookahead 2 → frames τ-2..τ+2)

class Channel final : public ChannelState {
 public:
  explicit Channel(const Networks& net)
      : fft(kFft),
        state(net.NewState()),
        work(net.NewWork()),
        carry0(state.carry),
        in_buf(kFft, 0.f),
        dry(static_cast<size_t>(kFft - kHop + net.lookahead * kHop + kHop), 0.f),
        ola(kFft, 0.f),
        frame(kFft, 0.f),
        erb_norm(kErb, 0.f),
        spec_norm(kDf, 0.f),
        feat_erb(kErb, 0.f),
        feat_spec(2 * kDf, 0.f),
        e0(kErb * kCh, 0.f),
        e1(16 * kCh, 0.f),
        e2(8 * kCh, 0.f),
        e3(8 * kCh, 0.f),
        c0(kDf * kCh, 0.f),
        emb(kEmb, 0.f),
        m(kErb, 0.f),
        coefs(kDf * 2 * kOrder, 0.f),
        misc(4, 0.f),
        ring(static_cast<size_t>(kRing) * kBins),
        y(kBins) {
    Reset();
  }
  ~Channel() override { Reset(); }

  void Reset() override {
    state.Zero();
    for (size_t i = 0; i < carry0.size(); ++i) {  // the phases NewState set (no allocation)
      std::copy(carry0[i].rh.begin(), carry0[i].rh.end(), state.carry[i].rh.begin());
      state.carry[i].ready = carry0[i].ready;
      state.carry[i].pending = carry0[i].pending;
    }
    for (std::vector<float>* v :
         {&work.a, &work.b, &work.c, &work.flat, &work.pad, &work.gru, &work.col, &in_buf, &dry,
          &ola, &frame, &feat_erb, &feat_spec, &e0, &e1, &e2, &e3, &c0, &emb, &m, &coefs, &misc})
      Wipe(*v);
    explicit_bzero(ring.data(), ring.size() * sizeof(cfloat));
    explicit_bzero(y.data(), y.size() * sizeof(cfloat));
    // DeepFilterNet's initial normalisation states: linspace(-60, -90) dB over the ERB bands,
    // linspace(0.001, 0.0001) over the DF bins.
    for (int i = 0; i < kErb; ++i)
      erb_norm[static_cast<size_t>(i)] = -60.f + (-30.f) * static_cast<float>(i) / (kErb - 1);
    for (int i = 0; i < kDf; ++i)
      spec_norm[static_cast<size_t>(i)] =
          0.001f + (0.0001f - 0.001f) * static_cast<float>(i) / (kDf - 1);
    hops = 0;
  }

  audio::RealFft fft;
  Networks::State state;
  Networks::Work work;
  std::vector<kernels::GruSplit::Carry> carry0;  // state.carry after NewState (b_r, phases)
  std::vector<float> in_buf, dry, ola, frame, erb_norm, spec_norm, feat_erb, feat_spec;
  std::vector<float> e0, e1, e2, e3, c0, emb, m, coefs, misc;
  std::vector<cfloat> ring, y;  // ring: kRing spectra, oldest first
  long hops = 0;
};

class Dfn3Family final : public Family {
 public:
  Dfn3Family(std::shared_ptr<const Model> model, Networks net)
      : model_(std::move(model)), net_(std::move(net)), window_(kFft) {
    for (int i = 0; i < kFft; ++i) {
      const double s = std::sin(M_PI * (i + 0.5) / kFft);
      window_[static_cast<size_t>(i)] = static_cast<float>(std::sin(0.5 * M_PI * s * s));
    }
    for (int band = 0; band < kErb; ++band)
      for (int k = 0; k < net_.erb_widths[static_cast<size_t>(band)]; ++k) band_of_.push_back(band);
  }

  const Model& model() const override { return *model_; }
  bool computes_vad() const override { return true; }

  std::unique_ptr<ChannelState> NewChannel() const override {
    return std::make_unique<Channel>(net_);
  }

  HopInfo ProcessHop(ChannelState& st, const float* in, float* out,
                     float strength) const override {
    Channel& ch = static_cast<Channel&>(st);
    const float alpha = net_.norm_alpha;
    float* buf = ch.in_buf.data();
    std::memmove(buf, buf + kHop, (kFft - kHop) * sizeof(float));
    std::memcpy(buf + kFft - kHop, in, kHop * sizeof(float));
    // Dry path delayed by the latency: dry[0..hop) is what leaves now.
    float* dry = ch.dry.data();
    const size_t dn = ch.dry.size();
    std::memmove(dry, dry + kHop, (dn - kHop) * sizeof(float));
    std::memcpy(dry + dn - kHop, in, kHop * sizeof(float));

    // The DSP below keeps streaming the encoder GRU's weights (RunDfDecoder pointed the stream
    // at them), a line per chunk of work.
    kernels::PrefetchStream* pf = &ch.work.pf;
    // Analysis: window, rFFT, 1/960 (DeepFilterNet's wnorm = 2 hop / fft²).
    float* frame = ch.frame.data();
    const float* win = window_.data();
    for (int i0 = 0; i0 < kFft; i0 += 32) {
      PfLines(pf, 1);
      for (int i = i0; i < i0 + 32; ++i) frame[i] = buf[i] * win[i];
    }
    std::memmove(ch.ring.data(), ch.ring.data() + kBins, sizeof(cfloat) * (kRing - 1) * kBins);
    cfloat* x = ch.ring.data() + static_cast<size_t>(kRing - 1) * kBins;
    PfLines(pf, 8);
    ch.fft.Forward(ch.frame.data(), x);
    constexpr float kNorm = 1.0f / kFft;
    for (int k = 0; k < kBins; ++k) x[k] *= kNorm;

    // Features.
    int k0 = 0;
    for (int b = 0; b < kErb; ++b) {
      PfLines(pf, 2);
      const int wdt = net_.erb_widths[static_cast<size_t>(b)];
      float e = 0.f;
      const float inv = 1.0f / static_cast<float>(wdt);
      for (int k = k0; k < k0 + wdt; ++k) e += (x[k].real() * x[k].real() + x[k].imag() * x[k].imag()) * inv;
      k0 += wdt;
      const float db = 10.f * std::log10(e + 1e-10f);
      float& s = ch.erb_norm[static_cast<size_t>(b)];
      s = db * (1.f - alpha) + s * alpha;
      ch.feat_erb[static_cast<size_t>(b)] = (db - s) / 40.f;
    }
    for (int k = 0; k < kDf; ++k) {
      PfLines(pf, 2);
      float& s = ch.spec_norm[static_cast<size_t>(k)];
      s = std::abs(x[k]) * (1.f - alpha) + s * alpha;
      const float inv = 1.f / std::sqrt(s);
      ch.feat_spec[static_cast<size_t>(2 * k)] = x[k].real() * inv;
      ch.feat_spec[static_cast<size_t>(2 * k + 1)] = x[k].imag() * inv;
    }

    HopInfo info;
    const int la = net_.lookahead;
    if (ch.hops >= la) {
      Networks::EncOut eo{ch.e0.data(), ch.e1.data(), ch.e2.data(), ch.e3.data(),
                          ch.c0.data(), ch.emb.data(), ch.misc.data()};
      net_.RunEncoder(ch.feat_erb.data(), ch.feat_spec.data(), ch.state, ch.work, eo);
      net_.RunErbDecoder(ch.emb.data(), ch.e3.data(), ch.e2.data(), ch.e1.data(), ch.e0.data(),
                         ch.state, ch.work, ch.m.data());
      net_.RunDfDecoder(ch.emb.data(), ch.c0.data(), ch.state, ch.work, ch.coefs.data(),
                        ch.misc.data() + 1);
      const float lsnr = ch.misc[0];
      info.vad = std::clamp((lsnr - net_.lsnr_min) / (net_.lsnr_max - net_.lsnr_min), 0.f, 1.f);
      // Frame τ = t - la: ERB gains on every bin, deep filter on the lowest 96.
      const cfloat* xt = ch.ring.data() + static_cast<size_t>(kRing - 1 - la) * kBins;
      for (int c0 = 0; c0 < kBins; c0 += 16) {
        PfLines(pf, 1);
        for (int k = c0; k < std::min(c0 + 16, kBins); ++k) {
          const int band = band_of_[static_cast<size_t>(k)];
          ch.y[static_cast<size_t>(k)] = xt[k] * ch.m[static_cast<size_t>(band)];
        }
      }
      // Taps n = 0..4 read frames τ - (order - 1 - la) + n.
      const int first = kRing - 1 - la - (kOrder - 1 - la);
      for (int k = 0; k < kDf; ++k) {
        PfLines(pf, 2);
        float re = 0.f, im = 0.f;
        for (int n = 0; n < kOrder; ++n) {
          const int r = first + n;
          if (r < 0 || r >= kRing) continue;
          const cfloat v = ch.ring[static_cast<size_t>(r) * kBins + static_cast<size_t>(k)];
          const float cr = ch.coefs[static_cast<size_t>(k * 2 * kOrder + 2 * n)];
          const float ci = ch.coefs[static_cast<size_t>(k * 2 * kOrder + 2 * n + 1)];
          re += v.real() * cr - v.imag() * ci;
          im += v.real() * ci + v.imag() * cr;
        }
        ch.y[static_cast<size_t>(k)] = cfloat(re, im);
      }
    } else {
      std::fill(ch.y.begin(), ch.y.end(), cfloat(0.f, 0.f));
    }
    ++ch.hops;
    if (ch.hops > (1L << 40)) ch.hops = la;  // never wraps

    // Synthesis: irFFT (unnormalised) × window, overlap-add.
    PfLines(pf, 8);
    ch.fft.Inverse(ch.y.data(), ch.frame.data());
    float* ob = ch.ola.data();
    for (int i0 = 0; i0 < kFft; i0 += 32) {
      PfLines(pf, 1);
      for (int i = i0; i < i0 + 32; ++i) ob[i] += frame[i] * win[i];
    }
    const float s = std::clamp(strength, 0.f, 1.f);
    for (int i0 = 0; i0 < kHop; i0 += 32) {
      PfLines(pf, 1);
      for (int i = i0; i < i0 + 32; ++i) out[i] = s * ob[i] + (1.f - s) * dry[i];
    }
    std::memmove(ob, ob + kHop, (kFft - kHop) * sizeof(float));
    std::memset(ob + kFft - kHop, 0, kHop * sizeof(float));
    return info;
  }

 private:
  std::shared_ptr<const Model> model_;
  Networks net_;
  std::vector<float> window_;
  std::vector<int> band_of_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Family>> CreateDfn3Family(std::shared_ptr<const Model> model) {
  if (model == nullptr) return absl::InvalidArgumentError("no model");
  absl::StatusOr<Networks> net = BuildNetworks(*model);
  if (!net.ok()) return net.status();
  return std::unique_ptr<Family>(new Dfn3Family(std::move(model), std::move(*net)));
}

}  // namespace ghostnv::models::dfn3
