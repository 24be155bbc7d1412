// models/demucs/demucs_family.cc — causal Demucs: layer checks, offline forward, streaming.

#include "models/demucs/demucs_family.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "models/demucs/dense_rows.h"
#include "nlohmann/json.hpp"

namespace ghostnv::models::demucs {
namespace {

absl::Status Bad(const Model& m, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(m.name, ": not a valid demucs model: ", what));
}

absl::StatusOr<const Layer*> Need(const Model& m, const std::string& name, int inputs, int units,
                                  kernels::Activation act) {
  const Layer* l = m.FindLayer(name);
  if (l == nullptr) return Bad(m, absl::StrCat("no layer '", name, "'"));
  if (l->kind != LayerKind::kDense || (inputs > 0 && l->inputs != inputs) ||
      (units > 0 && l->units != units) || l->activation != act) {
    return Bad(m, absl::StrCat("layer '", name, "' must be dense ", inputs, "->", units, " ",
                               kernels::ActivationName(act), " (it is ", l->inputs, "->",
                               l->units, " ", kernels::ActivationName(l->activation), ")"));
  }
  return l;
}

void Wipe(std::vector<float>& v) {
  if (!v.empty()) explicit_bzero(v.data(), v.size() * sizeof(float));
}

float Sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }

constexpr int kChunk = 4;  // time steps per DenseRows call (weights read once per chunk)

// Scratch floats the helpers below need: 12*cmax (pointwise), kChunk*K*cmax (transposed
// conv blocks, at offset 12*cmax); the LSTM step uses the start.
size_t ScratchFloats(int cmax, int kernel, int lstm_units) {
  const size_t c = static_cast<size_t>(cmax);
  return std::max(12 * c + kChunk * static_cast<size_t>(kernel) * c,
                  kernels::LstmScratchFloats(lstm_units)) + 16;
}
float* BlockScratch(float* scratch, int cmax) { return scratch + 12 * static_cast<size_t>(cmax); }

// GLU over rows: y[r][i] = t[r][i] * sigmoid(t[r][c + i]).
void Glu(const float* t, int c, int rows, float* y, size_t y_stride) {
  for (int r = 0; r < rows; ++r) {
    const float* tr = t + static_cast<size_t>(r) * 2 * c;
    float* yr = y + r * y_stride;
    for (int i = 0; i < c; ++i) yr[i] = tr[i] * Sigmoid(tr[c + i]);
  }
}

// Encoder outputs t in [first, first + count) of a level: conv over the time-major input
// windows in + t*S*cin (K*cin contiguous floats), ReLU, 1x1 conv, GLU -> out + t*cout.
void EncodeSteps(const Networks& net, const Networks::Level& l, const float* in, int first,
                 int count, float* out, float* scratch) {
  const int c = l.cout;
  float* a = scratch;                 // [kChunk][c]
  float* b = scratch + kChunk * c;    // [kChunk][2c]
  const size_t xs = static_cast<size_t>(net.stride) * l.cin;
  for (int t = first; t < first + count; t += kChunk) {
    const int rows = std::min(kChunk, first + count - t);
    DenseRows(l.conv, in + t * xs, xs, rows, a, c);
    if (net.glu) {
      DenseRows(l.enc_pw, a, c, rows, b, 2 * c);
      Glu(b, c, rows, out + static_cast<size_t>(t) * c, c);
    } else {
      DenseRows(l.enc_pw, a, c, rows, out + static_cast<size_t>(t) * c, c);
    }
  }
}

// Decoder 1x1 conv + activation, in place on x [steps][cout].
void DecodePointwise(const Networks& net, const Networks::Level& l, float* x, int steps,
                     float* scratch) {
  const int c = l.cout;
  for (int t = 0; t < steps; t += kChunk) {
    const int rows = std::min(kChunk, steps - t);
    float* xt = x + static_cast<size_t>(t) * c;
    if (net.glu) {
      DenseRows(l.dec_pw, xt, c, rows, scratch, 2 * c);
      Glu(scratch, c, rows, xt, c);
    } else {
      DenseRows(l.dec_pw, xt, c, rows, scratch, c);
      std::memcpy(xt, scratch, sizeof(float) * rows * c);
    }
  }
}

// Transposed conv over steps of x [T][cout] into out [(T-1)*S + K][cin] (overwritten), with
// the bias. blk: kChunk*K*cin floats.
void ConvTranspose(const Networks& net, const Networks::Level& l, const float* x, int steps,
                   float* out, float* blk) {
  const int K = net.kernel, S = net.stride, c = l.cin;
  const size_t len = steps > 0 ? static_cast<size_t>(steps - 1) * S + K : 0;
  for (size_t p = 0; p < len; ++p) std::memcpy(out + p * c, l.convtr_bias, sizeof(float) * c);
  const size_t bs = static_cast<size_t>(K) * c;
  for (int t = 0; t < steps; t += kChunk) {
    const int rows = std::min(kChunk, steps - t);
    DenseRows(l.convtr, x + static_cast<size_t>(t) * l.cout, l.cout, rows, blk, bs);
    for (int r = 0; r < rows; ++r) {
      float* o = out + static_cast<size_t>(t + r) * S * c;
      const float* br = blk + r * bs;
      for (size_t i = 0; i < bs; ++i) o[i] += br[i];
    }
  }
}

void Relu(float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) x[i] = x[i] > 0.f ? x[i] : 0.f;
}

}  // namespace

void Upsample2(const float* in, int n, const float* kernel, int taps, float* out) {
  // out[2t] = in[t]; out[2t+1] = sum_j in[t + 1 + j - z] * kernel[j] (zeros outside).
  const int z = taps / 2;
  for (int t = 0; t < n; ++t) {
    const int lo = std::max(0, z - 1 - t), hi = std::min(taps, n + z - 1 - t);
    float acc = 0.f;
    for (int j = lo; j < hi; ++j) acc += in[t + 1 + j - z] * kernel[j];
    out[2 * t] = in[t];
    out[2 * t + 1] = acc;
  }
}

void Downsample2(const float* in, int n, const float* kernel, int taps, float* out) {
  // Padded to even; out[t] = (in[2t] + sum_j in[2(t + j - z) + 1] * kernel[j]) / 2.
  const int z = taps / 2;
  const int half = (n + 1) / 2;
  for (int t = 0; t < half; ++t) {
    float acc = 0.f;
    for (int j = 0; j < taps; ++j) {
      const int q = t + j - z;
      if (q < 0) continue;
      const int i = 2 * q + 1;
      if (i >= n) break;
      acc += in[i] * kernel[j];
    }
    out[t] = (in[2 * t] + acc) * 0.5f;
  }
}

long Networks::ValidLength(long length) const {
  long l = length * resample;
  for (int i = 0; i < depth; ++i) {
    const long num = l - kernel;
    l = (num > 0 ? (num + stride - 1) / stride : -((-num) / stride)) + 1;
    l = std::max(l, 1L);
  }
  for (int i = 0; i < depth; ++i) l = (l - 1) * stride + kernel;
  return (l + resample - 1) / resample;
}

int Networks::StreamingLatency() const {
  const int tl = frame_length + lookahead;
  return ((tl + hop - 1) / hop - 1) * hop;
}

absl::StatusOr<Networks> BuildNetworks(const Model& m) {
  if (m.family != "demucs") return Bad(m, "family is not 'demucs'");
  const nlohmann::json meta = nlohmann::json::parse(m.metadata_json, nullptr, false);
  if (!meta.is_object() || !meta.contains("demucs") || !meta["demucs"].is_object())
    return Bad(m, "metadata.demucs is missing");
  const nlohmann::json& d = meta["demucs"];
  auto geti = [&](const char* k, int lo, int hi, int* out) -> bool {
    if (!d.contains(k) || !d[k].is_number_integer()) return false;
    const long v = d[k].get<long>();
    if (v < lo || v > hi) return false;
    *out = static_cast<int>(v);
    return true;
  };
  Networks net;
  int lstm_layers = 0;
  if (!geti("depth", 1, 10, &net.depth) || !geti("kernel_size", 1, 64, &net.kernel) ||
      !geti("stride", 1, 64, &net.stride) || !geti("resample", 1, 4, &net.resample) ||
      !geti("lstm_layers", 1, 8, &lstm_layers) ||
      !geti("resample_lookahead", 0, 1 << 16, &net.lookahead) ||
      !geti("resample_buffer", 1, 1 << 16, &net.resample_buffer)) {
    return Bad(m, "metadata.demucs needs integer depth, kernel_size, stride, resample, "
                  "lstm_layers, resample_lookahead, resample_buffer in range");
  }
  if (net.resample == 3) return Bad(m, "resample must be 1, 2 or 4");
  if (!d.contains("glu") || !d["glu"].is_boolean() || !d.contains("normalize") ||
      !d["normalize"].is_boolean() || !d.contains("floor") || !d["floor"].is_number())
    return Bad(m, "metadata.demucs needs glu, normalize (booleans) and floor (number)");
  net.glu = d["glu"].get<bool>();
  net.normalize = d["normalize"].get<bool>();
  net.floor = static_cast<float>(d["floor"].get<double>());
  if (!(net.floor >= 0.f && net.floor < 1.f)) return Bad(m, "floor must be in [0, 1)");

  if (net.resample > 1) {
    absl::StatusOr<const Layer*> k = Need(m, "resample.kernel", 1, 0,
                                          kernels::Activation::kIdentity);
    if (!k.ok()) return k.status();
    if ((*k)->bias == nullptr || (*k)->units % 2 != 0)
      return Bad(m, "resample.kernel must hold an even-length kernel as its bias");
    net.sinc = (*k)->bias;
    net.sinc_taps = (*k)->units;
  }
  const int K = net.kernel, S = net.stride;
  const kernels::Activation pw_act =
      net.glu ? kernels::Activation::kIdentity : kernels::Activation::kRelu;
  const int g = net.glu ? 2 : 1;
  int cin = 1;
  for (int i = 0; i < net.depth; ++i) {
    Networks::Level l;
    const std::string e = absl::StrCat("encoder", i), dd = absl::StrCat("decoder",
                                                                         net.depth - 1 - i);
    absl::StatusOr<const Layer*> conv = Need(m, e + ".conv", K * cin, 0,
                                             kernels::Activation::kRelu);
    if (!conv.ok()) return conv.status();
    const int cout = (*conv)->units;
    absl::StatusOr<const Layer*> epw = Need(m, e + ".pw", cout, g * cout, pw_act);
    absl::StatusOr<const Layer*> dpw = Need(m, dd + ".pw", cout, g * cout, pw_act);
    absl::StatusOr<const Layer*> ct = Need(m, dd + ".convtr", cout, K * cin,
                                           kernels::Activation::kIdentity);
    absl::StatusOr<const Layer*> cb = Need(m, dd + ".convtr_bias", 1, cin,
                                           kernels::Activation::kIdentity);
    for (const auto* s : {&epw, &dpw, &ct, &cb})
      if (!s->ok()) return s->status();
    if ((*cb)->bias == nullptr) return Bad(m, dd + ".convtr_bias has no bias vector");
    l.cin = cin;
    l.cout = cout;
    l.conv = DenseParamsOf(**conv, m.math);
    l.enc_pw = DenseParamsOf(**epw, m.math);
    l.dec_pw = DenseParamsOf(**dpw, m.math);
    l.convtr = DenseParamsOf(**ct, m.math);
    l.convtr.bias = nullptr;
    l.convtr_bias = (*cb)->bias;
    net.level.push_back(l);
    cin = cout;
  }
  const int h = cin;
  for (int k = 0; k < lstm_layers; ++k) {
    absl::StatusOr<const Layer*> l = Need(m, absl::StrCat("lstm", k), 2 * h, 4 * h,
                                          kernels::Activation::kIdentity);
    if (!l.ok()) return l.status();
    net.lstm.push_back(kernels::LstmParams{
        .inputs = h, .units = h, .weights = (*l)->weights,
        .recurrent = (*l)->weights + static_cast<size_t>(h) * 4 * h, .bias = (*l)->bias,
        .math = m.math});
  }
  long total = 1;
  for (int i = 0; i < net.depth; ++i) total *= S;
  if (total % net.resample != 0) return Bad(m, "stride^depth must be a multiple of resample");
  net.hop = static_cast<int>(total / net.resample);
  net.frame_length = static_cast<int>(net.ValidLength(1));
  if (m.hop_size != net.hop) return Bad(m, absl::StrCat("hop_size must be ", net.hop));
  const int tl = net.frame_length + net.lookahead;
  if (m.frame_size != tl) return Bad(m, absl::StrCat("frame_size must be ", tl));
  if (d.contains("output_delay")) {   // absent in files before session 10: 0
    if (!geti("output_delay", 0, 1 << 16, &net.output_delay))
      return Bad(m, "metadata.demucs.output_delay must be an integer in [0, 65536]");
  }
  if (d.contains("skip_delay")) {   // absent in files before session 11: 0
    if (!geti("skip_delay", 0, 1 << 16, &net.skip_delay) || net.skip_delay % net.hop != 0)
      return Bad(m, absl::StrCat("metadata.demucs.skip_delay must be an integer in [0, 65536] "
                                 "and a multiple of stride^depth / resample = ", net.hop));
    if (net.skip_delay > 0 && net.output_delay != net.skip_delay)
      return Bad(m, absl::StrCat("metadata.demucs.skip_delay ", net.skip_delay,
                                 " needs output_delay ", net.skip_delay,
                                 " (a skip-delayed network's output is that many samples "
                                 "late), not ", net.output_delay));
  }
  if (d.contains("norm_memory_frames")) {   // absent in files before session 12: the default
    if (!geti("norm_memory_frames", 0, 1 << 24, &net.norm_frames))
      return Bad(m, "metadata.demucs.norm_memory_frames must be an integer in [0, 16777216] "
                    "(0: the running variance never forgets)");
  } else {
    net.norm_frames = static_cast<int>(
        std::lround(kDefaultNormMemorySeconds * m.sample_rate / net.hop));
  }
  {
    long per = static_cast<long>(net.skip_delay) * net.resample;  // steps at the upsampled rate
    for (int i = 0; i < net.depth; ++i) {
      per /= S;   // exact: skip_delay * resample is a multiple of S^depth
      net.skip_frames.push_back(static_cast<int>(per));
    }
  }
  const int latency = net.StreamingLatency() + net.output_delay;
  if (m.algorithmic_latency != latency) {
    return Bad(m, absl::StrCat("algorithmic_latency must be ", latency, " (streaming ",
                               net.StreamingLatency(), " + output_delay ", net.output_delay,
                               ")"));
  }
  if (net.resample_buffer > net.hop) return Bad(m, "resample_buffer must be <= hop");
  return net;
}

absl::Status ProcessOffline(const Networks& net, const float* in, size_t n, float* out) {
  if (n == 0) return absl::OkStatus();
  const int K = net.kernel, S = net.stride, R = net.resample;
  double stdev = 1.0;
  std::vector<float> x(static_cast<size_t>(net.ValidLength(static_cast<long>(n))), 0.f);
  if (net.normalize) {
    double mean = 0.0;
    for (size_t i = 0; i < n; ++i) mean += in[i];
    mean /= static_cast<double>(n);
    double ss = 0.0;
    for (size_t i = 0; i < n; ++i) ss += (in[i] - mean) * (in[i] - mean);
    stdev = n > 1 ? std::sqrt(ss / static_cast<double>(n - 1)) : 0.0;
    const float div = static_cast<float>(net.floor + static_cast<float>(stdev));
    for (size_t i = 0; i < n; ++i) x[i] = in[i] / div;
  } else {
    std::copy(in, in + n, x.begin());
  }
  for (int r = 1; r < R; r *= 2) {
    std::vector<float> y(2 * x.size());
    Upsample2(x.data(), static_cast<int>(x.size()), net.sinc, net.sinc_taps, y.data());
    x.swap(y);
  }
  // Encoder: activations time-major [T][C].
  std::vector<std::vector<float>> skips;
  std::vector<int> skip_len;
  int cmax = 0;
  for (const Networks::Level& l : net.level) cmax = std::max({cmax, l.cout, l.cin});
  std::vector<float> scratch(ScratchFloats(cmax, K, net.Channels()));
  const std::vector<float>* cur = &x;
  int T = static_cast<int>(x.size());
  for (const Networks::Level& l : net.level) {
    if (T < K) return absl::InvalidArgumentError("signal too short for the model");
    const int To = (T - K) / S + 1;
    std::vector<float> o(static_cast<size_t>(To) * l.cout);
    EncodeSteps(net, l, cur->data(), 0, To, o.data(), scratch.data());
    skips.push_back(std::move(o));
    skip_len.push_back(To);
    cur = &skips.back();
    T = To;
  }
  const int C = net.Channels();
  std::vector<float> a(*cur);
  for (const kernels::LstmParams& p : net.lstm) {
    // The input projections of all steps first (DenseRows: one weight pass per 4 steps), then
    // per step the recurrent product with that projection as its bias, and the cell.
    const size_t g4 = 4 * static_cast<size_t>(C);
    std::vector<float> z(static_cast<size_t>(T) * g4), g(g4), hs(C, 0.f), cs(C, 0.f);
    const kernels::DenseParams wx{.inputs = C, .units = 4 * C, .weights = p.weights,
                                  .bias = p.bias, .math = p.math};
    DenseRows(wx, a.data(), C, T, z.data(), g4);
    kernels::DenseParams wh{.inputs = C, .units = 4 * C, .weights = p.recurrent,
                            .bias = nullptr, .math = p.math};
    for (int t = 0; t < T; ++t) {
      wh.bias = z.data() + t * g4;
      kernels::Dense(wh, hs.data(), g.data());
      float* gi = g.data();
      kernels::Activate(kernels::Activation::kSigmoid, p.math, gi, 2 * C);  // i, f
      kernels::Activate(kernels::Activation::kTanh, p.math, gi + 2 * C, C);  // g
      kernels::Activate(kernels::Activation::kSigmoid, p.math, gi + 3 * C, C);  // o
      for (int k = 0; k < C; ++k) {
        cs[k] = gi[C + k] * cs[k] + gi[k] * gi[2 * C + k];
        gi[k] = cs[k];
      }
      kernels::Activate(kernels::Activation::kTanh, p.math, gi, C);
      float* row = a.data() + static_cast<size_t>(t) * C;
      for (int k = 0; k < C; ++k) {
        hs[k] = gi[3 * C + k] * gi[k];
        row[k] = hs[k];
      }
    }
  }
  for (int j = 0; j < net.depth; ++j) {
    const int li = net.depth - 1 - j;
    const Networks::Level& l = net.level[li];
    // the skip delayed by k steps (zeros before the start)
    const std::vector<float>& sk = skips[li];
    const size_t k = static_cast<size_t>(net.skip_frames[li]) * l.cout;
    for (size_t i = k; i < static_cast<size_t>(T) * l.cout; ++i) a[i] += sk[i - k];
    DecodePointwise(net, l, a.data(), T, scratch.data());
    const int To = (T - 1) * S + K;
    std::vector<float> o(static_cast<size_t>(To) * l.cin);
    ConvTranspose(net, l, a.data(), T, o.data(), BlockScratch(scratch.data(), cmax));
    if (j < net.depth - 1) Relu(o.data(), o.size());
    a.swap(o);
    T = To;
  }
  for (int r = 1; r < R; r *= 2) {
    std::vector<float> y((a.size() + 1) / 2);
    Downsample2(a.data(), static_cast<int>(a.size()), net.sinc, net.sinc_taps, y.data());
    a.swap(y);
  }
  if (a.size() < n) return absl::InternalError("demucs: output shorter than the input");
  const float sd = static_cast<float>(stdev);
  for (size_t i = 0; i < n; ++i) out[i] = net.normalize ? sd * a[i] : a[i];
  return absl::OkStatus();
}

namespace {

// Sizes of the streaming buffers (DemucsStreamer with num_frames = 1), computed once.
struct Plan {
  int hop = 0, total_length = 0, rb = 0;
  int up_len = 0;               // R * frame_length: the network's input per frame
  std::vector<int> enc_len;     // output length per encoder level per frame
  std::vector<int> enc_new;     // new outputs per frame (levels < depth-1)
  std::vector<int> dec_x;       // decoder j: complete input steps
  std::vector<int> dec_e;       // decoder j: "extra" input steps (0 for j = 0)
  int out_x = 0, out_e = 0;     // network output: complete / extra samples (upsampled rate)
  size_t max_x = 0, max_e = 0;  // floats of the decoder's x / extra buffers
  int cmax = 1;                 // widest level (scratch: 3*cmax pointwise, K*cmax block)
  std::vector<int> skip_k;      // skip delay per level, steps (Networks::skip_frames)
};

absl::StatusOr<Plan> MakePlan(const Networks& net) {
  Plan p;
  const int K = net.kernel, S = net.stride, R = net.resample;
  if (K != 2 * S) return absl::InvalidArgumentError("streaming needs kernel_size == 2 * stride");
  p.hop = net.hop;
  p.total_length = net.frame_length + net.lookahead;
  p.rb = net.resample_buffer;
  p.up_len = R * net.frame_length;
  p.skip_k = net.skip_frames;
  for (const Networks::Level& l : net.level) p.cmax = std::max({p.cmax, l.cin, l.cout});
  int len = p.up_len, nnew = R * net.hop;
  for (int i = 0; i < net.depth; ++i) {
    if (len < K) return absl::InvalidArgumentError("frame shorter than the kernel");
    len = (len - K) / S + 1;
    nnew /= S;
    p.enc_len.push_back(len);
    p.enc_new.push_back(nnew);
    if (i < net.depth - 1 && (nnew < 1 || nnew > len))
      return absl::InvalidArgumentError("unexpected streaming geometry");
  }
  int tx = p.enc_len.back(), te = 0;
  for (int j = 0; j < net.depth; ++j) {
    const Networks::Level& l = net.level[net.depth - 1 - j];
    const int skip = p.enc_len[net.depth - 1 - j];
    if (tx > skip || (j > 0 && tx + te > skip))
      return absl::InvalidArgumentError("skip connections shorter than the decoder input");
    p.dec_x.push_back(tx);
    p.dec_e.push_back(te);
    const size_t outx = (static_cast<size_t>(tx) - 1) * S + K;
    const size_t oute = te > 0 ? (static_cast<size_t>(te) - 1) * S + K : S;
    p.max_x = std::max({p.max_x, outx * std::max(l.cin, l.cout),
                        static_cast<size_t>(tx) * l.cout});
    p.max_e = std::max({p.max_e, oute * std::max(l.cin, l.cout),
                        static_cast<size_t>(te) * l.cout});
    tx = tx * S;
    te = te > 0 ? (te - 1) * S + K : S;
  }
  p.out_x = tx;
  p.out_e = te;
  if (p.out_x != R * net.hop || p.rb > p.out_x)
    return absl::InvalidArgumentError("unexpected streaming output length");
  return p;
}

class Channel final : public ChannelState {
 public:
  Channel(const Networks& net, const Plan& p) {
    const int R = net.resample;
    const int cmax = p.cmax;
    pending.assign(static_cast<size_t>(p.total_length) + p.hop, 0.f);
    dry_line.assign(net.output_delay > 0 ? static_cast<size_t>(net.output_delay) + p.hop : 0,
                    0.f);
    frame.assign(static_cast<size_t>(p.rb) + p.total_length, 0.f);
    up_a.assign(static_cast<size_t>(R) * frame.size(), 0.f);
    up_b.assign(static_cast<size_t>(R) * frame.size(), 0.f);
    resample_in.assign(p.rb, 0.f);
    resample_out.assign(p.rb, 0.f);
    for (int i = 0; i < net.depth; ++i)
      enc.emplace_back(static_cast<size_t>(p.skip_k[i] + p.enc_len[i]) * net.level[i].cout, 0.f);
    for (size_t k = 0; k < net.lstm.size(); ++k) {
      h.emplace_back(net.Channels(), 0.f);
      c.emplace_back(net.Channels(), 0.f);
    }
    for (int j = 0; j < net.depth; ++j)
      tail.emplace_back(static_cast<size_t>(net.stride) * net.level[net.depth - 1 - j].cin, 0.f);
    x.assign(p.max_x, 0.f);
    x2.assign(p.max_x, 0.f);
    e.assign(p.max_e, 0.f);
    e2.assign(p.max_e, 0.f);
    out.assign(static_cast<size_t>(p.rb) + p.out_x + p.out_e, 0.f);
    down.assign(out.size(), 0.f);
    scratch.assign(ScratchFloats(cmax, net.kernel, net.Channels()), 0.f);
  }
  ~Channel() override { Reset(); }

  void Reset() override {
    for (std::vector<float>* v : {&pending, &dry_line, &frame, &up_a, &up_b, &resample_in,
                                  &resample_out, &x, &x2, &e, &e2, &out, &down, &scratch})
      Wipe(*v);
    for (auto* vv : {&enc, &h, &c, &tail})
      for (std::vector<float>& v : *vv) Wipe(v);
    filled = 0;
    frames = 0;
    variance = 0.f;
  }

  std::vector<float> pending, frame, up_a, up_b, resample_in, resample_out, x, x2, e, e2, out,
      down, scratch;
  // output_delay > 0: the dry signal's extra delay, [output_delay + hop] samples (the oldest
  // first); empty otherwise.
  std::vector<float> dry_line;
  // enc[i]: level i's skip history, [skip_k[i] + enc_len[i]][cout]: the skip_k[i] steps before
  // this frame's window (zeros before the first frame), then the window (the encoder's outputs
  // this frame). The decoder reads the first enc_len[i] steps: the window skip_k[i] steps late.
  std::vector<std::vector<float>> enc, h, c, tail;
  int filled = 0;   // samples in pending
  long frames = 0;  // frames processed
  float variance = 0.f;
};

class DemucsFamily final : public Family {
 public:
  DemucsFamily(std::shared_ptr<const Model> model, Networks net, Plan plan)
      : model_(std::move(model)), net_(std::move(net)), plan_(std::move(plan)) {}

  const Model& model() const override { return *model_; }

  std::unique_ptr<ChannelState> NewChannel() const override {
    return std::make_unique<Channel>(net_, plan_);
  }

  HopInfo ProcessHop(ChannelState& state, const float* in, float* out,
                     float strength) const override {
    Channel& ch = static_cast<Channel&>(state);
    const int H = plan_.hop;
    std::memcpy(ch.pending.data() + ch.filled, in, sizeof(float) * H);
    ch.filled += H;
    if (ch.filled < plan_.total_length) {
      std::memset(out, 0, sizeof(float) * H);  // before the first frame: silence in, out
      return {};
    }
    const float s = std::clamp(strength, 0.f, 1.f);
    RunFrame(ch, out);
    const float* dry = ch.pending.data();
    if (!ch.dry_line.empty()) {
      // The network's output is output_delay samples later than the streaming latency: the
      // dry signal mixed into it goes through that many more samples of delay.
      const int D = net_.output_delay;
      float* line = ch.dry_line.data();
      std::memcpy(line + D, dry, sizeof(float) * H);
      for (int i = 0; i < H; ++i) out[i] = s * out[i] + (1.f - s) * line[i];
      std::memmove(line, line + H, sizeof(float) * D);
    } else {
      for (int i = 0; i < H; ++i) out[i] = s * out[i] + (1.f - s) * dry[i];
    }
    ch.filled -= H;
    std::memmove(ch.pending.data(), ch.pending.data() + H, sizeof(float) * ch.filled);
    return {};
  }

 private:
  // One DemucsStreamer frame: pending[0, total_length) -> H output samples.
  void RunFrame(Channel& ch, float* y) const {
    const Networks& n = net_;
    const Plan& p = plan_;
    const int H = p.hop, TL = p.total_length, RB = p.rb, R = n.resample;
    ch.frames += 1;
    float* fr = ch.frame.data();  // [resample_in | normalised frame]
    std::memcpy(fr, ch.resample_in.data(), sizeof(float) * RB);
    float scale = 1.f;
    if (n.normalize) {
      float ms = 0.f;
      for (int i = 0; i < TL; ++i) ms += ch.pending[i] * ch.pending[i];
      ms /= static_cast<float>(TL);
      // the cumulative mean of the frames' mean squares, then (past norm_frames frames) an
      // exponential average with the same weight
      const long f = n.norm_frames > 0 && ch.frames > n.norm_frames ? n.norm_frames : ch.frames;
      const double inv = 1.0 / static_cast<double>(f);
      ch.variance = ms * static_cast<float>(inv) + static_cast<float>(1.0 - inv) * ch.variance;
      scale = static_cast<float>(std::sqrt(static_cast<double>(ch.variance)));
      const float div = n.floor + scale;
      for (int i = 0; i < TL; ++i) fr[RB + i] = ch.pending[i] / div;
    } else {
      std::memcpy(fr + RB, ch.pending.data(), sizeof(float) * TL);
    }
    std::memcpy(ch.resample_in.data(), fr + RB + H - RB, sizeof(float) * RB);
    const float* u = fr;
    int ulen = RB + TL;
    if (R >= 2) {
      Upsample2(fr, ulen, n.sinc, n.sinc_taps, ch.up_a.data());
      u = ch.up_a.data();
      ulen *= 2;
    }
    if (R == 4) {
      Upsample2(ch.up_a.data(), ulen, n.sinc, n.sinc_taps, ch.up_b.data());
      u = ch.up_b.data();
      ulen *= 2;
    }
    u += R * RB;  // the network's input: R * frame_length samples
    const bool first = ch.frames == 1;

    // Encoder, reusing last frame's outputs.
    const float* xin = u;
    int in_len = p.up_len;
    for (int i = 0; i < n.depth; ++i) {
      const Networks::Level& l = n.level[i];
      const int len = p.enc_len[i], k = p.skip_k[i], nn = p.enc_new[i];
      float* hist = ch.enc[i].data();
      float* o = hist + static_cast<size_t>(k) * l.cout;  // this frame's window
      if (i == n.depth - 1 || first) {
        // (the deepest level is recomputed whole; its history still moves on by nn steps)
        if (!first && k > 0)
          std::memmove(hist, hist + static_cast<size_t>(nn) * l.cout,
                       sizeof(float) * static_cast<size_t>(k + len - nn) * l.cout);
        EncodeSteps(n, l, xin, 0, len, o, ch.scratch.data());
      } else {
        // DemucsStreamer's rule: the nn new outputs are the last windows of this frame's
        // input, counted from its end (offset = in_len - K - S*(nn-1)); the rest is reused
        // (and the skip history moves on with it).
        std::memmove(hist, hist + static_cast<size_t>(nn) * l.cout,
                     sizeof(float) * static_cast<size_t>(k + len - nn) * l.cout);
        const size_t offset = static_cast<size_t>(in_len - n.kernel - n.stride * (nn - 1));
        EncodeSteps(n, l, xin + offset * l.cin, 0, nn,
                    o + static_cast<size_t>(len - nn) * l.cout, ch.scratch.data());
      }
      xin = o;
      in_len = len;
    }
    // LSTM on the last level's steps.
    const int C = n.Channels();
    const int T = p.enc_len.back();
    float* a = ch.x.data();
    std::memcpy(a, ch.enc.back().data() + static_cast<size_t>(p.skip_k.back()) * C,
                sizeof(float) * static_cast<size_t>(T) * C);   // the window, not delayed
    for (size_t k = 0; k < n.lstm.size(); ++k) {
      for (int t = 0; t < T; ++t) {
        kernels::LstmStep(n.lstm[k], a + static_cast<size_t>(t) * C, ch.h[k].data(),
                          ch.c[k].data(), ch.scratch.data());
        std::memcpy(a + static_cast<size_t>(t) * C, ch.h[k].data(), sizeof(float) * C);
      }
    }
    // Decoder: complete steps in x, the right-hand partial ("extra") steps in e.
    const int S = n.stride, K = n.kernel;
    float* xa = ch.x.data();
    float* xb = ch.x2.data();
    float* ea = ch.e.data();
    float* eb = ch.e2.data();
    float* blk = BlockScratch(ch.scratch.data(), p.cmax);
    for (int j = 0; j < n.depth; ++j) {
      const int li = n.depth - 1 - j;
      const Networks::Level& l = n.level[li];
      const float* skip = ch.enc[li].data();   // skip_k[li] steps late
      const int tx = p.dec_x[j], te = p.dec_e[j];
      for (size_t i = 0; i < static_cast<size_t>(tx) * l.cout; ++i) xa[i] += skip[i];
      DecodePointwise(n, l, xa, tx, ch.scratch.data());
      int e_len = 0;
      if (te > 0) {
        const float* s2 = skip + static_cast<size_t>(tx) * l.cout;
        for (size_t i = 0; i < static_cast<size_t>(te) * l.cout; ++i) ea[i] += s2[i];
        DecodePointwise(n, l, ea, te, ch.scratch.data());
        ConvTranspose(n, l, ea, te, eb, blk);
        e_len = (te - 1) * S + K;
      }
      ConvTranspose(n, l, xa, tx, xb, blk);
      const int c = l.cin;
      const size_t complete = static_cast<size_t>(tx) * S;
      float* tl = xb + complete * c;  // the last S steps: partial sums
      float* st = ch.tail[j].data();
      if (!first)
        for (size_t i = 0; i < static_cast<size_t>(S) * c; ++i) xb[i] += st[i];
      for (int q = 0; q < S; ++q)
        for (int o = 0; o < c; ++o) st[q * c + o] = tl[q * c + o] - l.convtr_bias[o];
      if (te == 0) {
        std::memcpy(eb, tl, sizeof(float) * static_cast<size_t>(S) * c);
        e_len = S;
      } else {
        for (size_t i = 0; i < static_cast<size_t>(S) * c; ++i) eb[i] += st[i];
      }
      if (j != n.depth - 1) {
        Relu(xb, complete * c);
        Relu(eb, static_cast<size_t>(e_len) * c);
      }
      std::swap(xa, xb);
      std::swap(ea, eb);
    }
    // xa: out_x samples, ea: out_e samples (one channel), upsampled rate.
    float* po = ch.out.data();
    std::memcpy(po, ch.resample_out.data(), sizeof(float) * RB);
    std::memcpy(po + RB, xa, sizeof(float) * p.out_x);
    std::memcpy(po + RB + p.out_x, ea, sizeof(float) * p.out_e);
    std::memcpy(ch.resample_out.data(), xa + p.out_x - RB, sizeof(float) * RB);
    int olen = RB + p.out_x + p.out_e;
    const float* d = po;
    if (R >= 2) {
      Downsample2(po, olen, n.sinc, n.sinc_taps, ch.down.data());
      olen = (olen + 1) / 2;
      d = ch.down.data();
    }
    if (R == 4) {
      Downsample2(ch.down.data(), olen, n.sinc, n.sinc_taps, po);
      olen = (olen + 1) / 2;
      d = po;
    }
    d += RB / R;
    for (int i = 0; i < H; ++i) y[i] = n.normalize ? d[i] * scale : d[i];
  }

  std::shared_ptr<const Model> model_;
  Networks net_;
  Plan plan_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Family>> CreateDemucsFamily(std::shared_ptr<const Model> model) {
  if (model == nullptr) return absl::InvalidArgumentError("no model");
  absl::StatusOr<Networks> net = BuildNetworks(*model);
  if (!net.ok()) return net.status();
  absl::StatusOr<Plan> plan = MakePlan(*net);
  if (!plan.ok())
    return absl::InvalidArgumentError(absl::StrCat(model->name, ": ", plan.status().message()));
  return std::unique_ptr<Family>(new DemucsFamily(std::move(model), *std::move(net),
                                                  *std::move(plan)));
}

}  // namespace ghostnv::models::demucs
