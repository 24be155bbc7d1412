// models/dfn3/dfn3_family.h — DeepFilterNet3 (Schroeter et al. 2023): 48 kHz, 960 FFT, 480 hop.
//
// Per hop of 480 samples: the last 960 input samples × Vorbis window → rFFT, scaled by
// 1/960 (so that irFFT × window + overlap-add is the identity) → features of the new frame:
// 32 ERB band powers in dB with a running-mean normalisation ((x - mean) / 40) and the complex
// spectrum of the lowest 96 bins with a running unit normalisation (x / sqrt(mean |x|)); both
// running means use alpha = 0.99 (exp(-hop / (sr · tau)), tau 1 s, rounded as DeepFilterNet does).
// The three networks (converted from enc.onnx, erb_dec.onnx, df_dec.onnx by ghostnv-convert):
//   encoder     causal 3x3 convolutions over [time, frequency] (2 frames of feature history),
//               separable convolutions with frequency striding, grouped linear layers, a GRU →
//               e0..e3 (skip connections), c0 (DF pathway), emb (512), lsnr (local SNR, dB)
//   ERB decoder 2 GRUs, transposed convolutions back to 32 bands → gains m[32] (sigmoid)
//   DF decoder  2 GRUs + grouped linear skip, a causal 5-frame convolution over c0 → complex
//               filter taps coefs[96][5] (order 5)
// The features are shifted by the lookahead (2 frames, conv_lookahead = df_lookahead), so the
// networks' outputs at hop t belong to spectrum frame t - 2: its bins are multiplied by the ERB
// gain of their band, then the lowest 96 bins are replaced by the deep filter
// Y(f) = Σ_{n=0..4} coef_n(f) · X_{t-4+n}(f) over the unmasked spectra t-4..t. irFFT × window,
// overlap-add. Algorithmic latency: 480 (STFT) + 2 · 480 (lookahead) = 1440 samples (30 ms).
// As in DeepFilterNet's training graph, the first two feature frames after a reset are dropped
// (the networks start at the third hop). lsnr is reported through HopInfo::vad as
// (lsnr - lsnr_min) / (lsnr_max - lsnr_min) clamped to [0, 1]; it does not gate processing.
//
// Feature maps are held frequency-major, [F][64 channels], so every pointwise convolution is a
// dense layer per frequency position (kernels/dense.h, AVX2) and the grouped linear layers read
// them in the order the graphs' Transpose/Reshape produce.
//
//   auto fam = models::CreateFamily(model);   // family "dfn3"
//   auto ch = (*fam)->NewChannel();
//   (*fam)->ProcessHop(*ch, in480, out480, 1.0f);
//
// Networks exposes each network on its own (conformance tests against onnxruntime).
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/dense.h"
#include "kernels/gru.h"
#include "kernels/gru_packed.h"
#include "models/family.h"

namespace ghostnv::models::dfn3 {

constexpr int kSampleRate = 48000;
constexpr int kFft = 960;
constexpr int kHop = 480;
constexpr int kBins = kFft / 2 + 1;
constexpr int kErb = 32;
constexpr int kDf = 96;
constexpr int kOrder = 5;
constexpr int kCh = 64;
constexpr int kEmb = 512;
constexpr int kHidden = 256;
constexpr int kConvpTaps = 5;

// ERB band widths in bins (DeepFilterNet's erb_fb: bands equally spaced on the ERB scale,
// at least min_nb_freqs bins each, the last band takes the Nyquist bin). Sums to fft/2 + 1.
std::vector<int> ErbBandWidths(int sample_rate, int fft_size, int bands, int min_bins);

// A convolution with one input channel per output channel (depthwise, or cin 1 / 2 with
// groups): y[fo][co] = b[co] + Σ_t Σ_k w[t·kf + k][co] · x_t[fo·stride + k - pad][ci(co)],
// x_t = the t-th of kt frames (oldest first), each [fin][cin].
struct ConvParams {
  int kt = 1, kf = 3, stride = 1, pad = 1, cin = kCh, cout = kCh;
  const float* weights = nullptr;  // [kt·kf][cout]
  const float* bias = nullptr;     // [cout] or nullptr
  kernels::Activation activation = kernels::Activation::kIdentity;
};

// A grouped linear layer: `groups` dense layers side by side.
struct GroupedParams {
  int groups = 0;
  kernels::DenseParams group;  // weights of group 0; group g at weights + g·inputs·units
};

// A ConvParams with cin <= 2 run as a dense layer over its im2col rows: inputs (t, k, ci) in
// that order, weights [kt·kf·cin][cout] holding w[t·kf + k][co] where ci(co) = ci, else 0
// (adding 0 · x leaves every sum as it is), so it sums bias, then the taps in the convolution's
// order. Built by BuildNetworks; `dense.weights` points into `weights`.
struct ConvAsDense {
  ConvParams conv;
  kernels::DenseParams dense;
  std::shared_ptr<const std::vector<float>> weights;
};

struct Networks {
  // encoder
  ConvParams erb_conv0, erb_dw[3], df_conv0, df_dw1;
  ConvAsDense erb_conv0_d, df_conv0_d;  // erb_conv0, df_conv0 as dense layers (im2col)
  kernels::DenseParams erb_pw[3], df_pw0, df_pw1, lsnr;
  GroupedParams df_fc_emb, enc_emb_in, enc_emb_out;
  kernels::GruParams enc_gru;
  float lsnr_scale = 50.f, lsnr_offset = -15.f, lsnr_min = -15.f, lsnr_max = 35.f;
  // ERB decoder
  GroupedParams erb_emb_in, erb_emb_out;
  kernels::GruParams erb_gru[2];
  const float* erb_p_w[4] = {};  // conv0p..conv3p: per-channel scale, bias (relu)
  const float* erb_p_b[4] = {};
  ConvParams erb_dw3;           // convt3's depthwise (a plain conv, stride 1)
  ConvParams erb_convt[2];      // convt2, convt1: depthwise transposed, stride 2
  kernels::DenseParams dec_pw[3];  // convt3, convt2, convt1 pointwise (relu)
  kernels::DenseParams erb_out;    // conv0_out as dense over 3 × 64 inputs, sigmoid
  // DF decoder
  GroupedParams df_emb_in, df_skip, df_out;
  kernels::GruParams df_gru[2];
  // df_convp (5x1 causal conv, 2 groups of 32 → 5 channels, no bias) and its pointwise 10 → 10
  // (relu), computed vectorised over the 96 bins: per output channel a dense layer whose
  // "weights" are the channel group's history [tap][ch][bin] and whose input is the kernel.
  // convp_t: [2 groups][5 outputs][5 taps · 32 ch]; convp_pw_t: [10 out][10 in].
  kernels::DenseParams df_convp_pw, df_fc_a;
  std::shared_ptr<const std::vector<float>> convp_t, convp_pw_t;
  // convp_t with the taps reordered for each of the 5 ring positions of State::c0_hist:
  // [5 newest slots][2 groups][5 outputs][5 slots · 32 ch].
  std::shared_ptr<const std::vector<float>> convp_ring;
  // DSP
  std::vector<int> erb_widths;
  float norm_alpha = 0.99f;
  // The five GRUs (kernels/gru_packed.h): weights that are all binary16 values (fp16 files) are
  // kept as packed halves, half the bytes per hop, bit-identical results; fp32 weights run
  // GruStep here, or `split` below on the SIMD paths.
  // Order: enc_gru, erb_gru[0..1], df_gru[0..1].
  std::shared_ptr<const std::vector<kernels::GruPacked>> grus;
  // fp32 weights on the SIMD paths (ActiveSimd() is AVX2, with AVX-512 or not): the five GRUs
  // run as kernels::GruSplit instead (gru_packed.h), which reads ~40 % fewer bytes per hop:
  // every other hop a GRU computes its next recurrent half while R is in L2 (per two hops W,
  // R, W from memory instead of W, R, W, R), that L2 pass runs fused with the next GRU's W
  // pass (Gru(), State::pending), and W rows whose input is a ReLU zero are skipped (enc,
  // erb.gru0 and df.gru0 read ReLU outputs: 28-43 % zeros on speech). The GRUs alternate in
  // phase (ResetState) so that every hop reads about the same number of bytes. Empty when
  // `grus` runs them (fp16 files: lossless halves; GHOSTNV_SIMD=scalar: GruStep_ref).
  std::shared_ptr<const std::vector<kernels::GruSplit>> split;
  int lookahead = 2;  // frames (max(conv_lookahead, df_lookahead))

  // Per-channel recurrent and history state of the three networks.
  struct State {
    std::vector<float> erb_hist;   // [2][32] previous feat_erb frames (oldest first)
    std::vector<float> spec_hist;  // [2][96][2] previous feat_spec frames
    std::vector<float> enc_h, erb_h0, erb_h1, df_h0, df_h1;  // GRU states [256]
    std::vector<float> c0_hist;    // [2 groups][5 slots][32 ch][96 bins]: c0 of frames t-4..t
    int c0_slot = 0;               // the slot the next frame's c0 goes to (a ring, no copies)
    // Per GRU (same order as `grus`), when `split` runs them: b_r + R·h, one step ahead.
    std::vector<kernels::GruSplit::Carry> carry;
    int pending = -1;  // the GRU whose look-ahead pass waits for the next GRU step, or -1
    // Zeroes everything (every carry not ready: the next steps recompute it). ResetState also
    // zeroes and then sets the carries' alternating phases.
    void Zero();
  };
  // Scratch for the Run* calls (one per channel).
  struct Work {
    std::vector<float> a, b, c, flat, pad, gru, col;  // col: im2col rows [96][18]
    // The weights the next GRU surely reads from memory (StreamGru: GruSplit's R when it is
    // not ready, the packed halves of an fp16 file), prefetched into L2 by the layers that run
    // before it (encoder convs: the encoder GRU; ERB decoder convs: df.gru0; DF decoder tail:
    // the next hop's encoder GRU) and by df.gru1's L2 look-ahead pass, so that their arithmetic
    // hides part of the GRU's L3 traffic.
    kernels::PrefetchStream pf;
  };
  State NewState() const;
  Work NewWork() const;
  void ResetState(State& s) const;
  // GRU i (order of `grus`) one step on x, state h; StreamGru points w.pf at the bytes GRU
  // i's next step reads from memory (unless it already streams them).
  void Gru(int i, const float* x, float* h, State& s, Work& w) const;
  void StreamGru(int i, const State& s, Work& w) const;

  struct EncOut {
    float* e0;   // [32][64]
    float* e1;   // [16][64]
    float* e2;   // [8][64]
    float* e3;   // [8][64]
    float* c0;   // [96][64]
    float* emb;  // [512]
    float* lsnr; // [1]
  };
  // feat_erb [32]; feat_spec [96][2] (re, im). Updates the state's histories and GRU.
  void RunEncoder(const float* feat_erb, const float* feat_spec, State& s, Work& w,
                  const EncOut& out) const;
  // gains m[32]
  void RunErbDecoder(const float* emb, const float* e3, const float* e2, const float* e1,
                     const float* e0, State& s, Work& w, float* m) const;
  // coefs [96][10] (tap n: re at 2n, im at 2n+1), alpha [1]
  void RunDfDecoder(const float* emb, const float* c0, State& s, Work& w, float* coefs,
                    float* alpha) const;
};

// Validates the layers of a "dfn3" model (names, kinds, sizes, metadata) and builds views.
absl::StatusOr<Networks> BuildNetworks(const Model& model);

absl::StatusOr<std::unique_ptr<Family>> CreateDfn3Family(std::shared_ptr<const Model> model);

}  // namespace ghostnv::models::dfn3
