// models/dfn3/cuda/dfn3_cuda_hop.cc — arena layout and weight packing for kernels/dfn3.cu.

#include "models/dfn3/cuda/dfn3_cuda_hop.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace ghostnv::models::dfn3 {
namespace {

int Act(kernels::Activation a) { return static_cast<int>(a); }

struct Packer {
  std::vector<float>* v;
  long Put(const float* p, size_t n) {
    if (p == nullptr) return -1;
    while (v->size() % 32 != 0) v->push_back(0.f);
    const long at = static_cast<long>(v->size());
    v->insert(v->end(), p, p + n);
    return at;
  }
  long Zeros(size_t n) {
    while (v->size() % 32 != 0) v->push_back(0.f);
    const long at = static_cast<long>(v->size());
    v->resize(v->size() + n, 0.f);
    return at;
  }
  Dfn3Pack::Conv Conv(const ConvParams& c) {
    return {c.kt, c.kf, c.stride, c.pad, c.cin, c.cout, Act(c.activation),
            Put(c.weights, static_cast<size_t>(c.kt) * c.kf * c.cout),
            Put(c.bias, static_cast<size_t>(c.cout))};
  }
  Dfn3Pack::Dense Dense(const kernels::DenseParams& d) {
    return {d.inputs, d.units, Act(d.activation),
            Put(d.weights, static_cast<size_t>(d.inputs) * d.units),
            Put(d.bias, static_cast<size_t>(d.units))};
  }
  Dfn3Pack::Grouped Grouped(const GroupedParams& g) {
    return {g.groups, g.group.inputs, g.group.units, Act(g.group.activation),
            Put(g.group.weights, static_cast<size_t>(g.groups) * g.group.inputs * g.group.units)};
  }
  Dfn3Pack::Gru Gru(const kernels::GruParams& g) {
    const size_t n3 = 3 * static_cast<size_t>(g.units);
    Dfn3Pack::Gru o{Put(g.weights, g.inputs * n3), Put(g.recurrent, g.units * n3),
                    Put(g.bias, n3), Put(g.recurrent_bias, n3)};
    if (o.b < 0) o.b = Zeros(n3);
    if (o.rb < 0) o.rb = Zeros(n3);
    return o;
  }
};

}  // namespace

Dfn3Layout MakeDfn3Layout(int lookahead) {
  Dfn3Layout L;
  int at = 0;
  auto take = [&](int n) {
    const int o = at;
    at += (n + 31) / 32 * 32;
    return o;
  };
  L.hist = take(kCudaHist);
  L.ring = take(5 * kCudaSpec);
  L.norm = take(kErb + kDf);
  L.win = take(3 * kErb + 3 * 2 * kDf);
  L.e0 = take(kErb * kCh);
  L.e1 = take(16 * kCh);
  L.e2 = take(8 * kCh);
  L.e3 = take(8 * kCh);
  L.c0 = take(kDf * kCh);
  L.emb = take(kEmb);
  L.misc = take(4);
  L.m = take(kErb);
  L.coefs = take(kDf * 2 * kOrder);
  L.a = take(kDf * kCh);
  L.b = take(kDf * kCh);
  L.c = take(kDf * kCh);
  L.flat = take(4 * kEmb);
  L.pad = take((kErb + 2) * kCh);
  for (int& h : L.h) h = take(kHidden);
  L.gi = take(3 * kHidden);
  L.gh = take(3 * kHidden);
  L.c0ring = take(5 * kDf * kCh);
  L.Y = take(kCudaSpec);
  L.frame = take(kFft);
  L.ola = take(kFft);
  L.s1 = take(kDf * kCh);
  L.s2 = take(kDf * kCh);
  L.dfy = take(10 * kDf);
  L.lin = take(10 * kDf);
  L.flat2 = take(4 * kEmb);
  L.gi2 = take(3 * kHidden);
  L.gh2 = take(3 * kHidden);
  L.stride = at;
  L.la = lookahead;
  L.dry = kCudaHist - kHop - (kHop + lookahead * kHop);
  return L;
}

absl::StatusOr<Dfn3Pack> PackDfn3(const Networks& n) {
  if (n.lookahead < 0 || n.lookahead > 4)
    return absl::InvalidArgumentError("dfn3 cuda: lookahead must be 0..4");
  if (n.convp_t == nullptr || n.convp_pw_t == nullptr)
    return absl::InvalidArgumentError("dfn3 cuda: network without df_convp tables");
  Dfn3Pack p;
  Packer k{&p.floats};
  p.erb_conv0 = k.Conv(n.erb_conv0);
  for (int i = 0; i < 3; ++i) {
    p.erb_dw[i] = k.Conv(n.erb_dw[i]);
    p.erb_pw[i] = k.Dense(n.erb_pw[i]);
    p.dec_pw[i] = k.Dense(n.dec_pw[i]);
  }
  p.df_conv0 = k.Conv(n.df_conv0);
  p.df_dw1 = k.Conv(n.df_dw1);
  p.erb_dw3 = k.Conv(n.erb_dw3);
  for (int i = 0; i < 2; ++i) p.erb_convt[i] = k.Conv(n.erb_convt[i]);
  p.df_pw0 = k.Dense(n.df_pw0);
  p.df_pw1 = k.Dense(n.df_pw1);
  p.lsnr = k.Dense(n.lsnr);
  p.erb_out = k.Dense(n.erb_out);
  p.df_fc_a = k.Dense(n.df_fc_a);
  p.df_fc_emb = k.Grouped(n.df_fc_emb);
  p.enc_emb_in = k.Grouped(n.enc_emb_in);
  p.enc_emb_out = k.Grouped(n.enc_emb_out);
  p.erb_emb_in = k.Grouped(n.erb_emb_in);
  p.erb_emb_out = k.Grouped(n.erb_emb_out);
  p.df_emb_in = k.Grouped(n.df_emb_in);
  p.df_skip = k.Grouped(n.df_skip);
  p.df_out = k.Grouped(n.df_out);
  const kernels::GruParams* g[5] = {&n.enc_gru, &n.erb_gru[0], &n.erb_gru[1], &n.df_gru[0],
                                    &n.df_gru[1]};
  for (int i = 0; i < 5; ++i) {
    if (g[i]->inputs != kHidden || g[i]->units != kHidden || !g[i]->reset_after ||
        g[i]->activation != kernels::Activation::kTanh)
      return absl::InvalidArgumentError("dfn3 cuda: GRUs must be 256 -> 256, tanh, reset_after");
    p.gru[i] = k.Gru(*g[i]);
  }
  for (int i = 0; i < 4; ++i) {
    p.erb_p_w[i] = k.Put(n.erb_p_w[i], kCh);
    p.erb_p_b[i] = k.Put(n.erb_p_b[i], kCh);
    if (p.erb_p_w[i] < 0 || p.erb_p_b[i] < 0)
      return absl::InvalidArgumentError("dfn3 cuda: erb.convNp needs weights and bias");
  }
  p.convp_t = k.Put(n.convp_t->data(), n.convp_t->size());
  p.convp_pw_t = k.Put(n.convp_pw_t->data(), n.convp_pw_t->size());
  p.convp_pw_b = k.Put(n.df_convp_pw.bias, 2 * kOrder);
  if (p.convp_pw_b < 0) return absl::InvalidArgumentError("dfn3 cuda: df.convp.pw needs a bias");
  std::vector<float> win(kFft);
  for (int i = 0; i < kFft; ++i) {  // the family's Vorbis window, computed the same way
    const double s = std::sin(M_PI * (i + 0.5) / kFft);
    win[static_cast<size_t>(i)] = static_cast<float>(std::sin(0.5 * M_PI * s * s));
  }
  p.window = k.Put(win.data(), win.size());
  p.twd.resize(2 * kFft);
  for (int j = 0; j < kFft; ++j) {
    p.twd[2 * static_cast<size_t>(j)] = std::cos(2.0 * M_PI * j / kFft);
    p.twd[2 * static_cast<size_t>(j) + 1] = std::sin(2.0 * M_PI * j / kFft);
  }
  if (n.erb_widths.size() != static_cast<size_t>(kErb))
    return absl::InvalidArgumentError("dfn3 cuda: 32 ERB bands expected");
  p.ints.assign(33 + kBins, 0);
  int k0 = 0;
  for (int b = 0; b < kErb; ++b) {
    p.ints[static_cast<size_t>(b)] = k0;
    for (int j = 0; j < n.erb_widths[static_cast<size_t>(b)]; ++j)
      p.ints[33 + static_cast<size_t>(k0 + j)] = b;
    k0 += n.erb_widths[static_cast<size_t>(b)];
  }
  p.ints[32] = k0;
  if (k0 != kBins) return absl::InvalidArgumentError("dfn3 cuda: ERB bands must cover 481 bins");
  p.alpha = n.norm_alpha;
  p.lsnr_scale = n.lsnr_scale;
  p.lsnr_offset = n.lsnr_offset;
  p.la = n.lookahead;
  return p;
}

}  // namespace ghostnv::models::dfn3
