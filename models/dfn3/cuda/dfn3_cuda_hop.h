// models/dfn3/cuda/dfn3_cuda_hop.h — one DeepFilterNet3 hop as a sequence of kernels/dfn3.cu
// launches, shared by the GPU plan (dfn3_cuda_plan.cc: captured into a CUDA graph) and the host
// test (dfn3_cuda_host_test.cc: the same kernels compiled as C++ on host threads).
//
// Dfn3Layout: the per-session arena row (offsets in floats). Dfn3Pack: every weight and table
// of models::dfn3::Networks packed into one float vector (offsets; -1 = none), the DFT
// twiddles (double) and the ERB band tables (int). EnqueueDfn3Hop<Exec> issues the 60 launches
// of one hop through an executor:
//
//   struct Exec {
//     using F = ...; using I = ...; using D = ...;       // float / int / double pointers
//     F Arena(); F Wt(long offset);                        // offset -1 -> null pointer
//     F PcmIn(); F PcmOut(); I Hops(); I BandStart(); I BandOf(); D Twd();
//     F At(F base, long floats);
//     unsigned Grid(long long items, int threads); unsigned RowGrid(int rows);
//     template <class... A> void Go(Dfn3Kernel k, unsigned grid, unsigned block, A... args);
//     void Fork(int point); void Join(int point);   // point 0, 1: see below
//   };
// Between Fork(p) and Join(p) launches alternate between the main branch and a side branch
// (x.Side(true/false)); the two branches write disjoint buffers, so a device executor may run
// them concurrently (two streams joined by events, captured as a forked graph) and a host
// executor may run everything in order. Fork 0: ERB encoder path || DF encoder path + c0 ring +
// df_convp; fork 1: ERB decoder || DF decoder.
//   EnqueueDfn3Hop(exec, pack, layout, rows);
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "models/dfn3/dfn3_family.h"

namespace ghostnv::models::dfn3 {

// Constants of kernels/dfn3.cu.
constexpr int kCudaHist = 2880;   // DFN3_HIST
constexpr int kCudaSpec = 964;    // DFN3_SPEC
constexpr int kCudaIo = 484;      // DFN3_IO: 480 samples, then strength and run flag (in) /
                                  // lsnr (out)
constexpr int kCudaGemvThreads = 256;

enum class Dfn3Kernel {
  kInput, kDft, kFeatures, kConv, kConvT, kGemv, kGru, kC0Push, kConvp, kConvpPw, kFilter,
  kIdft, kOutput, kCount
};
// __global__ names in kernels/dfn3.cu, indexed by Dfn3Kernel.
inline constexpr const char* kDfn3KernelNames[] = {
    "dfn3_input_f32", "dfn3_dft_f32",  "dfn3_features_f32", "dfn3_conv_f32",
    "dfn3_convt_f32", "dfn3_gemv_f32", "dfn3_gru_f32",      "dfn3_c0_push_f32",
    "dfn3_convp_f32", "dfn3_convp_pw_f32", "dfn3_filter_f32", "dfn3_idft_f32",
    "dfn3_output_f32"};

struct Dfn3Layout {
  int hist = 0, ring = 0, norm = 0, win = 0, e0 = 0, e1 = 0, e2 = 0, e3 = 0, c0 = 0, emb = 0,
      misc = 0 /* lsnr, alpha */, m = 0, coefs = 0, a = 0, b = 0, c = 0, flat = 0, pad = 0,
      h[5] = {}, gi = 0, gh = 0, c0ring = 0, Y = 0, frame = 0, ola = 0;
  // Scratch of the side branch (DF encoder path, DF decoder), so both branches may run at once.
  int s1 = 0, s2 = 0, dfy = 0, lin = 0, flat2 = 0, gi2 = 0, gh2 = 0;
  int stride = 0;  // floats per row
  int la = 2;
  int dry = 0;     // offset of the dry (delayed) input inside hist
  // Feature windows: erb [3][32] at win, spec [3][192] at win + 96; slot 2 = this hop.
  int feat_erb() const { return win + 2 * kErb; }
  int feat_spec() const { return win + 3 * kErb + 2 * 2 * kDf; }
};
Dfn3Layout MakeDfn3Layout(int lookahead);

struct Dfn3Pack {
  struct Conv {
    int kt, kf, stride, pad, cin, cout, act;
    long w, b;
  };
  struct Dense {
    int inputs, units, act;
    long w, b;
  };
  struct Grouped {
    int groups, in, out, act;
    long w;
  };
  struct Gru {
    long w, r, b, rb;
  };
  std::vector<float> floats;   // weights, window
  std::vector<double> twd;     // [960][2] cos, sin (2 pi j / 960)
  std::vector<int32_t> ints;   // band_start [33] at 0, band_of [481] at 33
  long window = 0;
  float alpha = 0.99f, lsnr_scale = 50.f, lsnr_offset = -15.f;
  int la = 2;
  Conv erb_conv0, erb_dw[3], df_conv0, df_dw1, erb_dw3, erb_convt[2];
  Dense erb_pw[3], df_pw0, df_pw1, lsnr, dec_pw[3], erb_out, df_fc_a;
  Grouped df_fc_emb, enc_emb_in, enc_emb_out, erb_emb_in, erb_emb_out, df_emb_in, df_skip,
      df_out;
  Gru gru[5];  // enc, erb0, erb1, df0, df1
  long erb_p_w[4], erb_p_b[4];
  long convp_t, convp_pw_t, convp_pw_b;
};
// Packs a validated network (BuildNetworks) for the kernels.
absl::StatusOr<Dfn3Pack> PackDfn3(const Networks& net);

template <class X>
void EnqueueDfn3Hop(X& x, const Dfn3Pack& p, const Dfn3Layout& L, int rows) {
  using F = typename X::F;
  const F A = x.Arena();
  auto at = [&](int off) { return x.At(A, off); };
  const int as = L.stride, R = rows, la = L.la;
  const F null = x.Wt(-1);
  auto items = [&](long long n) { return x.Grid(n, 128); };
  auto conv = [&](const Dfn3Pack::Conv& c, F in, int frame_stride, int fin, F out) {
    const int fout = (fin + 2 * c.pad - c.kf) / c.stride + 1;
    x.Go(Dfn3Kernel::kConv, items(static_cast<long long>(R) * fout * c.cout), 128u, in,
         frame_stride, fin, c.kt, c.kf, c.stride, c.pad, c.cin, c.cout, x.Wt(c.w), x.Wt(c.b),
         c.act, out, as, R);
  };
  // General gemv: groups slices.
  auto gemv = [&](F in, int x_gs, F w, int w_gs, F b, int b_gs, F out, int y_gs, int inputs,
                  int units, int groups, int act, float scale, float offset, F add, F aw, F ab,
                  F ax) {
    const long long blocks = static_cast<long long>(R) * groups * ((units + 31) / 32);
    x.Go(Dfn3Kernel::kGemv, x.Grid(blocks * kCudaGemvThreads, kCudaGemvThreads),
         static_cast<unsigned>(kCudaGemvThreads), in, x_gs, w, w_gs, b, b_gs, out, y_gs, inputs,
         units, groups, act, scale, offset, add, aw, ab, ax, as, R);
  };
  auto dense = [&](const Dfn3Pack::Dense& d, F in, F out, float scale = 1.f, float offset = 0.f) {
    gemv(in, 0, x.Wt(d.w), 0, x.Wt(d.b), 0, out, 0, d.inputs, d.units, 1, d.act, scale, offset,
         null, null, null, null);
  };
  auto pointwise = [&](const Dfn3Pack::Dense& d, F in, int f, F out, F aw = F{}, F ab = F{},
                       F ax = F{}) {
    gemv(in, d.inputs, x.Wt(d.w), 0, x.Wt(d.b), 0, out, d.units, d.inputs, d.units, f, d.act, 1.f,
         0.f, null, aw, ab, ax);
  };
  auto grouped = [&](const Dfn3Pack::Grouped& g, F in, F out, F add = F{}, F aw = F{},
                     F ab = F{}, F ax = F{}) {
    gemv(in, g.in, x.Wt(g.w), g.in * g.out, null, 0, out, g.out, g.in, g.out, g.groups, g.act,
         1.f, 0.f, add, aw, ab, ax);
  };
  // One GRU step: gi = b + x·W and gh = rb + h·R in ONE gemv launch (2 slices whose strides are
  // the distances between x and h, W and R, b and rb, gi and gh), then the gate kernel.
  auto gru = [&](const Dfn3Pack::Gru& g, int in, int h, int gi, int gh) {
    constexpr int u = kHidden;
    gemv(at(in), h - in, x.Wt(g.w), static_cast<int>(g.r - g.w), x.Wt(g.b),
         static_cast<int>(g.rb - g.b), at(gi), gh - gi, u, 3 * u, 2, 0, 1.f, 0.f, null, null,
         null, null);
    x.Go(Dfn3Kernel::kGru, items(static_cast<long long>(R) * u), 128u, at(gi), at(gh), at(h), u,
         x.Hops(), la, x.PcmIn(), as, R);
  };

  // Input, STFT, features.
  x.Go(Dfn3Kernel::kInput, x.RowGrid(R), 256u, x.PcmIn(), at(L.hist), as, R);
  x.Go(Dfn3Kernel::kDft, items(static_cast<long long>(R) * kBins), 128u, at(L.hist), at(L.ring),
       as, x.Hops(), x.Twd(), x.Wt(p.window), x.PcmIn(), R);
  x.Go(Dfn3Kernel::kFeatures, x.RowGrid(R), 128u, at(L.ring), at(L.norm), at(L.win), as,
       x.Hops(), x.BandStart(), p.alpha, x.PcmIn(), R);

  // Encoder: ERB path (main) || DF path, c0 ring and df_convp (side).
  x.Fork(0);
  x.Side(false);
  conv(p.erb_conv0, at(L.win), kErb, kErb, at(L.e0));
  {
    const int outs[3] = {L.e1, L.e2, L.e3};
    int src = L.e0, f = kErb;
    for (int i = 0; i < 3; ++i) {
      conv(p.erb_dw[i], at(src), 0, f, at(L.a));
      f = (f + 2 * p.erb_dw[i].pad - p.erb_dw[i].kf) / p.erb_dw[i].stride + 1;
      pointwise(p.erb_pw[i], at(L.a), f, at(outs[i]));
      src = outs[i];
    }
  }
  x.Side(true);
  conv(p.df_conv0, at(L.win + 3 * kErb), 2 * kDf, kDf, at(L.s1));
  pointwise(p.df_pw0, at(L.s1), kDf, at(L.c0));
  conv(p.df_dw1, at(L.c0), 0, kDf, at(L.s1));
  pointwise(p.df_pw1, at(L.s1), kDf / 2, at(L.s2));
  x.Go(Dfn3Kernel::kC0Push, items(static_cast<long long>(R) * kDf * kCh), 128u, at(L.c0),
       at(L.c0ring), x.Hops(), la, x.PcmIn(), as, R);
  x.Go(Dfn3Kernel::kConvp, items(static_cast<long long>(R) * 10 * kDf), 128u, at(L.c0ring),
       x.Wt(p.convp_t), x.Hops(), la, at(L.dfy), as, R);
  x.Join(0);
  grouped(p.df_fc_emb, at(L.s2), at(L.flat), at(L.e3));
  grouped(p.enc_emb_in, at(L.flat), at(L.flat + kEmb));
  gru(p.gru[0], L.flat + kEmb, L.h[0], L.gi, L.gh);
  grouped(p.enc_emb_out, at(L.h[0]), at(L.emb));
  dense(p.lsnr, at(L.emb), at(L.misc), p.lsnr_scale, p.lsnr_offset);

  // ERB decoder (main) || DF decoder (side).
  x.Fork(1);
  x.Side(false);
  grouped(p.erb_emb_in, at(L.emb), at(L.flat));
  gru(p.gru[1], L.flat, L.h[1], L.gi, L.gh);
  gru(p.gru[2], L.h[1], L.h[2], L.gi, L.gh);
  grouped(p.erb_emb_out, at(L.h[2]), at(L.b), null, x.Wt(p.erb_p_w[3]), x.Wt(p.erb_p_b[3]),
          at(L.e3));
  conv(p.erb_dw3, at(L.b), 0, 8, at(L.a));
  pointwise(p.dec_pw[0], at(L.a), 8, at(L.c), x.Wt(p.erb_p_w[2]), x.Wt(p.erb_p_b[2]), at(L.e2));
  x.Go(Dfn3Kernel::kConvT, items(static_cast<long long>(R) * 16 * kCh), 128u, at(L.c), 8,
       x.Wt(p.erb_convt[0].w), at(L.a), as, R);
  pointwise(p.dec_pw[1], at(L.a), 16, at(L.b), x.Wt(p.erb_p_w[1]), x.Wt(p.erb_p_b[1]), at(L.e1));
  x.Go(Dfn3Kernel::kConvT, items(static_cast<long long>(R) * 32 * kCh), 128u, at(L.b), 16,
       x.Wt(p.erb_convt[1].w), at(L.a), as, R);
  pointwise(p.dec_pw[2], at(L.a), kErb, at(L.pad + kCh), x.Wt(p.erb_p_w[0]), x.Wt(p.erb_p_b[0]),
            at(L.e0));
  gemv(at(L.pad), kCh, x.Wt(p.erb_out.w), 0, x.Wt(p.erb_out.b), 0, at(L.m), 1, 3 * kCh, 1, kErb,
       p.erb_out.act, 1.f, 0.f, null, null, null, null);
  x.Side(true);
  grouped(p.df_emb_in, at(L.emb), at(L.flat2));
  gru(p.gru[3], L.flat2, L.h[3], L.gi2, L.gh2);
  gru(p.gru[4], L.h[3], L.h[4], L.gi2, L.gh2);
  grouped(p.df_skip, at(L.emb), at(L.flat2 + kEmb), at(L.h[4]));
  dense(p.df_fc_a, at(L.flat2 + kEmb), at(L.misc + 1));
  grouped(p.df_out, at(L.flat2 + kEmb), at(L.lin));  // lin [96][10]
  x.Go(Dfn3Kernel::kConvpPw, items(static_cast<long long>(R) * 10 * kDf), 128u, at(L.dfy),
       at(L.lin), x.Wt(p.convp_pw_t), x.Wt(p.convp_pw_b), at(L.coefs), as, R);
  x.Join(1);

  // Gains, deep filter, inverse STFT, overlap-add.
  x.Go(Dfn3Kernel::kFilter, items(static_cast<long long>(R) * kBins), 128u, at(L.ring), at(L.m),
       at(L.coefs), x.BandOf(), x.Hops(), la, at(L.Y), as, R);
  x.Go(Dfn3Kernel::kIdft, items(static_cast<long long>(R) * kFft), 128u, at(L.Y), x.Twd(),
       x.Wt(p.window), at(L.frame), as, R);
  x.Go(Dfn3Kernel::kOutput, x.RowGrid(R), 256u, at(L.frame), at(L.ola), at(L.hist), L.dry,
       at(L.misc), at(L.win), x.Hops(), la, x.PcmIn(), x.PcmOut(), as, R);
}

}  // namespace ghostnv::models::dfn3
