// runtime/sched/network_tc.cc — see network_tc.h; the kernel is kernels/network_tc.cu.
#include "runtime/sched/network_tc.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/activations.h"
#include "runtime/kernel_build.h"
#include "runtime/kernel_sources.h"

namespace ghostnv::sched {
namespace {

constexpr int kFeatures = 42;

int Pad(int n, int m) { return (n + m - 1) / m * m; }

// Rows of a padded K: each k maps to a CPU input index or -1 (padding).
struct Segment {
  int padded, cpu_offset, real;
};
std::vector<int> RowMap(std::initializer_list<Segment> segs) {
  std::vector<int> map;
  for (const Segment& s : segs)
    for (int k = 0; k < s.padded; ++k) map.push_back(k < s.real ? s.cpu_offset + k : -1);
  return map;
}

// Appends the fragment blocks of B (element (k, n) = w[rows[k] * ld + cols[n]], 0 where either
// map is -1) and returns the first block's index; lo_words (may be null): the same blocks of
// the lo parts (LoHalf).
int PackMatrix(const float* w, int ld, const std::vector<int>& rows, const std::vector<int>& cols,
               std::vector<uint32_t>* words, std::vector<uint32_t>* lo_words) {
  const int first = static_cast<int>(words->size() / GNV_TC_BLOCK_WORDS);
  const int kt = static_cast<int>(rows.size()) / 16, nt = static_cast<int>(cols.size()) / 8;
  auto at = [&](int k, int n, bool lo) -> uint16_t {
    if (rows[k] < 0 || cols[n] < 0) return 0;
    const float v = w[static_cast<size_t>(rows[k]) * ld + cols[n]];
    return lo ? LoHalf(v) : FloatToHalf(v);
  };
  for (int n8 = 0; n8 < nt; ++n8)
    for (int k16 = 0; k16 < kt; ++k16)
      for (int lane = 0; lane < 32; ++lane)
        for (int j = 0; j < 2; ++j) {
          const int k = 16 * k16 + 2 * (lane & 3) + 8 * j, n = 8 * n8 + (lane >> 2);
          words->push_back(static_cast<uint32_t>(at(k, n, false)) | (static_cast<uint32_t>(at(k + 1, n, false)) << 16));
          if (lo_words != nullptr)
            lo_words->push_back(static_cast<uint32_t>(at(k, n, true)) | (static_cast<uint32_t>(at(k + 1, n, true)) << 16));
        }
  return first;
}

// The fp16 weight at (k, n) of the matrix whose first block is `first` and K is `kx`.
float PackedAt(const std::vector<uint32_t>& words, int first, int kx, int k, int n) {
  const int k16 = k / 16, kk = k % 16, j = kk / 8, t = (kk % 8) / 2, hi = kk % 2;
  const int lane = 4 * (n % 8) + t;
  const uint32_t w = words[(static_cast<size_t>(first) + static_cast<size_t>(n / 8) * (kx / 16) + k16) *
                               GNV_TC_BLOCK_WORDS +
                           2 * lane + j];
  return HalfToFloat(static_cast<uint16_t>(hi ? w >> 16 : w & 0xffffu));
}

float Act(int act, int math, float x) {
  kernels::Activate_ref(static_cast<kernels::Activation>(act), static_cast<kernels::MathMode>(math), &x, 1);
  return x;
}

}  // namespace

uint16_t FloatToHalf(float x) {
  const uint32_t f = std::bit_cast<uint32_t>(x);
  const uint32_t sign = (f >> 16) & 0x8000u;
  const uint32_t absf = f & 0x7fffffffu;
  if (absf >= 0x7f800000u) return static_cast<uint16_t>(sign | 0x7c00u | (absf > 0x7f800000u ? 0x200u : 0u));
  if (absf >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: inf
  if (absf < 0x38800000u) {  // below 2^-14: subnormal half (or 0)
    const float a = std::bit_cast<float>(absf);
    // a * 2^24 rounded to an integer, nearest even (the current FP rounding mode is nearest).
    const float scaled = a * 16777216.f;
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(scaled)));
  }
  const uint32_t mant = absf & 0x7fffffu;
  const uint32_t exp = (absf >> 23) - 127 + 15;
  uint32_t h = (exp << 10) | (mant >> 13);
  const uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // may carry into the exponent: fine
  return static_cast<uint16_t>(sign | h);
}

uint16_t LoHalf(float x) {
  // x - fp16(x) is exact in fp32 and so is the scaling by a power of two (kernel: gnv_tc_put);
  // |x - fp16(x)| <= 16 wherever fp16(x) is finite, else (inf, NaN) lo = 0.
  const float d = x - HalfToFloat(FloatToHalf(x));
  return FloatToHalf(std::fabs(d) <= 16.f ? d * kTcLoScale : 0.f);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  if (exp == 0) {
    const float v = static_cast<float>(mant) / 16777216.f;
    return sign ? -v : v;
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  return std::bit_cast<float>(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

size_t TcSharedBytes(const GnvTcNet& d, int mt, int groups, bool global_weights, bool split) {
  return (global_weights ? 0 : static_cast<size_t>(d.weight_blocks) * GNV_TC_BLOCK_WORDS * 4) +
         (split ? 2 : 1) * static_cast<size_t>(groups) * static_cast<size_t>(16 * mt) * d.row_halves * 2;
}

const TcVariant& TcVariantAt(int i) {
  // Must match the kernels instantiated at the end of kernels/network_tc.cu.
  static const TcVariant kTable[kTcVariants] = {{"rnn_network_f16_t1", 1, 1, GNV_TC_WARPS},
                                                {"rnn_network_f16_t2", 2, 1, GNV_TC_WARPS},
                                                {"rnn_network_f16_g2w8_t1", 1, 2, 8},
                                                {"rnn_network_f16_gw8_t1_b2", 1, 1, 8, true},
                                                {"rnn_network_f16_gw8_t1_b4", 1, 1, 8, true},
                                                {"rnn_network_f16_gw16_t2_b2", 2, 1, 16, true},
                                                {"rnn_network_f16x3_gw8_t1_b2", 1, 1, 8, true, true},
                                                {"rnn_network_f16x3_gw8_t1_b4", 1, 1, 8, true, true},
                                                {"rnn_network_f16x3_gw16_t2_b1", 2, 1, 16, true, true}};
  return kTable[std::clamp(i, 0, kTcVariants - 1)];
}

absl::StatusOr<TcPackedNetwork> PackTcNetwork(const models::Model& m, bool split) {
  const char* names[GNV_TC_LAYERS] = {"input_dense", "vad_gru", "vad_output", "noise_gru", "denoise_gru",
                                      "denoise_output"};
  const models::Layer* l[GNV_TC_LAYERS];
  for (int i = 0; i < GNV_TC_LAYERS; ++i) {
    l[i] = m.FindLayer(names[i]);
    const bool gru = i == GNV_TC_VAD_GRU || i == GNV_TC_NOISE_GRU || i == GNV_TC_DENOISE_GRU;
    if (l[i] == nullptr || (l[i]->kind == models::LayerKind::kGru) != gru || l[i]->weights == nullptr ||
        (gru && l[i]->recurrent == nullptr))
      return absl::InvalidArgumentError(absl::StrCat(m.name, ": tensor-core network needs layer ", names[i]));
  }
  const int u0 = l[0]->units, u1 = l[1]->units, u2 = l[3]->units, u3 = l[4]->units;
  if (l[0]->inputs != kFeatures || l[1]->inputs != u0 || l[2]->inputs != u1 || l[2]->units != 1 ||
      l[3]->inputs != u0 + u1 + kFeatures || l[4]->inputs != u1 + u2 + kFeatures || l[5]->inputs != u3 ||
      l[5]->units < 1 || u0 < 1 || u1 < 1 || u2 < 1 || u3 < 1)
    return absl::InvalidArgumentError(absl::StrCat(m.name, ": inconsistent RNNoise layer sizes"));

  TcPackedNetwork p;
  GnvTcNet& d = p.desc;
  std::vector<uint32_t> lo_words;
  std::vector<uint32_t>* lo = split ? &lo_words : nullptr;
  const int p0 = Pad(u0, 16), p1 = Pad(u1, 16), pf = Pad(kFeatures, 16), p2 = Pad(u2, 16), p3 = Pad(u3, 16);
  const int d_col = 0, s1_col = p0, feat_col = p0 + p1, s2_col = feat_col + pf, s3_col = s2_col + p2;
  d.feat_col = feat_col;
  d.features = kFeatures;
  d.rs_col = s3_col + p3;
  d.rs_width = std::max({p1, p2, p3});
  d.row_halves = d.rs_col + d.rs_width + 8;
  d.math = static_cast<int>(m.math);

  auto all_cols = [](int units, int upad) {
    std::vector<int> c(upad);
    for (int n = 0; n < upad; ++n) c[n] = n < units ? n : -1;
    return c;
  };
  auto dense = [&](int i, int x_col, const std::vector<int>& rows, int out_col) {
    const models::Layer& L = *l[i];
    GnvTcLayer& g = d.layer[i];
    g.gru = 0;
    g.units = L.units;
    g.upad = Pad(L.units, 8);
    g.x_col = x_col;
    g.kx = static_cast<int>(rows.size());
    g.s_col = out_col;
    g.ks = 0;
    g.w_block = PackMatrix(L.weights, L.units, rows, all_cols(L.units, g.upad), &p.words, lo);
    g.r_block = 0;
    g.bias = static_cast<int>(p.bias.size());
    for (int c = 0; c < g.upad; ++c) p.bias.push_back(c < L.units && L.bias != nullptr ? L.bias[c] : 0.f);
    g.act = static_cast<int>(L.activation);
    g.reset_after = 0;
    p.flop_per_row += 2.0 * L.inputs * L.units;
  };
  auto gru = [&](int i, int x_col, const std::vector<int>& rows, int s_col) {
    const models::Layer& L = *l[i];
    GnvTcLayer& g = d.layer[i];
    const int u = L.units;
    g.gru = 1;
    g.units = u;
    g.upad = Pad(u, 8);
    g.x_col = x_col;
    g.kx = static_cast<int>(rows.size());
    g.s_col = s_col;
    g.ks = Pad(u, 16);
    std::vector<int> cols(3 * g.upad);
    for (int n = 0; n < 3 * g.upad; ++n) cols[n] = n % g.upad < u ? (n / g.upad) * u + n % g.upad : -1;
    g.w_block = PackMatrix(L.weights, 3 * u, rows, cols, &p.words, lo);
    g.r_block = PackMatrix(L.recurrent, 3 * u, RowMap({{g.ks, 0, u}}), cols, &p.words, lo);
    g.bias = static_cast<int>(p.bias.size());
    auto b = [&](const float* v, int c) { return v != nullptr ? v[c] : 0.f; };
    const float* bi = L.bias;
    const float* rb = L.recurrent_bias;
    for (int gate = 0; gate < 4; ++gate)
      for (int c = 0; c < g.upad; ++c) {
        float v = 0.f;
        if (c < u) {
          if (gate < 2) v = b(bi, gate * u + c) + b(rb, gate * u + c);
          else if (gate == 2) v = L.reset_after ? b(bi, 2 * u + c) : b(bi, 2 * u + c) + b(rb, 2 * u + c);
          else v = L.reset_after ? b(rb, 2 * u + c) : 0.f;
        }
        p.bias.push_back(v);
      }
    g.act = static_cast<int>(L.activation);
    g.reset_after = L.reset_after ? 1 : 0;
    p.flop_per_row += 2.0 * 3 * u * (L.inputs + u);
  };
  dense(GNV_TC_INPUT_DENSE, feat_col, RowMap({{pf, 0, kFeatures}}), d_col);
  gru(GNV_TC_VAD_GRU, d_col, RowMap({{p0, 0, u0}}), s1_col);
  dense(GNV_TC_VAD_OUTPUT, s1_col, RowMap({{p1, 0, u1}}), -1);
  // CPU input order [dense u0 | vad u1 | features]; columns dense | vad | features.
  gru(GNV_TC_NOISE_GRU, d_col, RowMap({{p0, 0, u0}, {p1, u0, u1}, {pf, u0 + u1, kFeatures}}), s2_col);
  // CPU input order [vad u1 | noise u2 | features]; columns vad | features | noise.
  gru(GNV_TC_DENOISE_GRU, s1_col, RowMap({{p1, 0, u1}, {pf, u1 + u2, kFeatures}, {p2, u1, u2}}), s3_col);
  dense(GNV_TC_DENOISE_OUTPUT, s3_col, RowMap({{p3, 0, u3}}), -1);
  d.weight_blocks = static_cast<int>(p.words.size() / GNV_TC_BLOCK_WORDS);
  d.lo_block = 0;
  if (split) {
    d.lo_block = d.weight_blocks;
    p.words.insert(p.words.end(), lo_words.begin(), lo_words.end());
  }
  return p;
}

void RunTcNetworkOnHost(const TcPackedNetwork& p, const GnvTcIo& io, int batch) {
  const GnvTcNet& d = p.desc;
  auto fp = [](unsigned long long a) { return reinterpret_cast<float*>(static_cast<uintptr_t>(a)); };
  const bool split = d.lo_block > 0;
  std::vector<uint16_t> act(d.row_halves), act_lo(d.row_halves);
  std::vector<float> z, s_old, s_new;
  // The packed matrices unpacked once (through PackedAt, i.e. the fragment layout) to [K][N].
  struct Mat {
    int n = 0;
    std::vector<float> v, lo;  // lo: the lo parts (split; scaled by kTcLoScale)
  };
  std::map<int, Mat> mats;
  for (int li = 0; li < GNV_TC_LAYERS; ++li) {
    const GnvTcLayer& L = d.layer[li];
    const int ncols = L.gru ? 3 * L.upad : L.upad;
    for (int which = 0; which < (L.gru ? 2 : 1); ++which) {
      const int first = which == 0 ? L.w_block : L.r_block, kx = which == 0 ? L.kx : L.ks;
      Mat& mat = mats[first];
      mat.n = ncols;
      mat.v.resize(static_cast<size_t>(kx) * ncols);
      if (split) mat.lo.resize(mat.v.size());
      for (int k = 0; k < kx; ++k)
        for (int n = 0; n < ncols; ++n) {
          mat.v[static_cast<size_t>(k) * ncols + n] = PackedAt(p.words, first, kx, k, n);
          if (split) mat.lo[static_cast<size_t>(k) * ncols + n] = PackedAt(p.words, first + d.lo_block, kx, k, n);
        }
    }
  }
  for (int b = 0; b < batch; ++b) {
    std::fill(act.begin(), act.end(), uint16_t{0});
    std::fill(act_lo.begin(), act_lo.end(), uint16_t{0});
    // An activation stored as the kernel does (gnv_tc_put): fp16, and its lo part when split.
    auto put = [&](int col, float v) {
      act[col] = FloatToHalf(v);
      if (split) act_lo[col] = LoHalf(v);
    };
    auto row = [&](unsigned long long base, int stride) {
      return base == 0 ? nullptr : fp(base) + static_cast<size_t>(b) * stride;
    };
    const float* feat = row(io.features, io.features_stride);
    float* st[3] = {row(io.vad_state, io.vad_stride), row(io.noise_state, io.noise_stride),
                    row(io.denoise_state, io.denoise_stride)};
    float* vad_copy = row(io.vad_copy, io.vad_copy_stride);
    const int gl[3] = {GNV_TC_VAD_GRU, GNV_TC_NOISE_GRU, GNV_TC_DENOISE_GRU};
    for (int c = 0; c < d.features; ++c) put(d.feat_col + c, feat[c]);
    for (int i = 0; i < 3; ++i)
      for (int c = 0; c < d.layer[gl[i]].units; ++c) put(d.layer[gl[i]].s_col + c, st[i][c]);
    // Split: the hi products into acc, the two lo products (scaled) into their own sum, added
    // scaled back at the end (gnv_tc_accumulate's order).
    auto dot = [&](float acc, int col, int kx, int first, int n) {
      const Mat& mat = mats.at(first);
      float lo = 0.f;
      for (int k = 0; k < kx; ++k) {
        const size_t at = static_cast<size_t>(k) * mat.n + n;
        const float a = HalfToFloat(act[col + k]);
        acc += a * mat.v[at];
        if (split) {
          lo += a * mat.lo[at];
          lo += HalfToFloat(act_lo[col + k]) * mat.v[at];
        }
      }
      return split ? acc + lo * (1.f / kTcLoScale) : acc;
    };
    auto dense = [&](int li, float* out) {
      const GnvTcLayer& L = d.layer[li];
      std::vector<float> y(L.units);
      for (int c = 0; c < L.units; ++c) y[c] = Act(L.act, d.math, dot(p.bias[L.bias + c], L.x_col, L.kx, L.w_block, c));
      for (int c = 0; c < L.units; ++c) {
        if (L.s_col >= 0) put(L.s_col + c, y[c]);
        if (out != nullptr) out[c] = y[c];
      }
    };
    auto gru = [&](int li, float* s, float* copy) {
      const GnvTcLayer& L = d.layer[li];
      const int u = L.units, up = L.upad;
      const float* bias = p.bias.data() + L.bias;
      z.assign(u, 0.f);
      s_old.assign(s, s + u);
      s_new.assign(u, 0.f);
      for (int c = 0; c < u; ++c) {
        float az = dot(bias[c], L.x_col, L.kx, L.w_block, c);
        float ar = dot(bias[up + c], L.x_col, L.kx, L.w_block, up + c);
        az = dot(az, L.s_col, L.ks, L.r_block, c);
        ar = dot(ar, L.s_col, L.ks, L.r_block, up + c);
        z[c] = Act(static_cast<int>(kernels::Activation::kSigmoid), d.math, az);
        const float r = Act(static_cast<int>(kernels::Activation::kSigmoid), d.math, ar);
        if (L.reset_after) {
          const float xh = dot(bias[2 * up + c], L.x_col, L.kx, L.w_block, 2 * up + c);
          const float sh = dot(bias[3 * up + c], L.s_col, L.ks, L.r_block, 2 * up + c);
          const float h = Act(L.act, d.math, xh + r * sh);
          s_new[c] = z[c] * s_old[c] + (1.f - z[c]) * h;
        } else {
          put(d.rs_col + c, r * s_old[c]);
        }
      }
      if (!L.reset_after) {
        for (int c = 0; c < u; ++c) {
          float ah = dot(bias[2 * up + c], L.x_col, L.kx, L.w_block, 2 * up + c);
          ah = dot(ah, d.rs_col, L.ks, L.r_block, 2 * up + c);
          s_new[c] = z[c] * s_old[c] + (1.f - z[c]) * Act(L.act, d.math, ah);
        }
      }
      for (int c = 0; c < u; ++c) {
        put(L.s_col + c, s_new[c]);
        s[c] = s_new[c];
        if (copy != nullptr) copy[c] = s_new[c];
      }
    };
    dense(GNV_TC_INPUT_DENSE, row(io.dense_out, io.dense_stride));
    gru(GNV_TC_VAD_GRU, st[0], vad_copy);
    dense(GNV_TC_VAD_OUTPUT, row(io.vad, io.vad_out_stride));
    gru(GNV_TC_NOISE_GRU, st[1], nullptr);
    gru(GNV_TC_DENOISE_GRU, st[2], nullptr);
    dense(GNV_TC_DENOISE_OUTPUT, row(io.gains, io.gains_stride));
  }
}

absl::StatusOr<TcNetwork> TcNetwork::Create(const runtime::Context& ctx, const runtime::Stream& stream,
                                            const runtime::CubinCache& cache, const models::Model& model,
                                            bool split) {
  absl::StatusOr<TcPackedNetwork> packed = PackTcNetwork(model, split);
  if (!packed.ok()) return packed.status();
  TcNetwork net;
  net.packed_ = *std::move(packed);
  const GnvTcNet& d = net.packed_.desc;
  const int max_shared = std::max(48 * 1024, ctx.device().max_shared_per_block_optin);
  net.max_mt_ = 0;
  for (int v = 0; v < kTcVariants; ++v) {
    const TcVariant& tv = TcVariantAt(v);
    // A split network runs on the x3 kernels only, a plain one on the others.
    bool ok = tv.split == split &&
              TcSharedBytes(d, tv.mt, tv.groups, tv.global_weights, tv.split) <= static_cast<size_t>(max_shared);
    for (int li : {GNV_TC_VAD_GRU, GNV_TC_NOISE_GRU, GNV_TC_DENOISE_GRU})
      ok = ok && tv.mt * (d.layer[li].upad / 8) <= tv.warps * GNV_TC_MAXIT;
    net.usable_[v] = ok;
    if (ok && tv.groups == 1 && !tv.global_weights) net.max_mt_ = std::max(net.max_mt_, tv.mt);
  }
  net.split_ = split;
  if (!net.usable_[split ? kTcFirstSplitVariant : 0])
    return absl::InvalidArgumentError(absl::StrCat(model.name, ": the tensor-core network needs ", TcSharedBytes(d, 1),
                                                   " bytes of shared memory per block (device: ", max_shared,
                                                   ") or has a GRU wider than ",
                                                   8 * GNV_TC_WARPS * GNV_TC_MAXIT, " units"));
  net.multiprocessors_ = std::max(1, ctx.device().multiprocessors);

  const runtime::KernelSource* src = runtime::FindKernelProgram("network_tc.cu");
  if (src == nullptr) return absl::InternalError("kernel program network_tc.cu is not embedded");
  absl::StatusOr<runtime::BuiltKernel> built = runtime::BuildKernelProgram(*src, ctx.device().Arch(), cache);
  if (!built.ok()) return built.status();
  absl::StatusOr<runtime::Module> m = runtime::Module::Load(ctx, built->image, "network_tc.cu");
  if (!m.ok()) return m.status();
  net.module_.emplace(*std::move(m));
  size_t bytes = 0;
  absl::StatusOr<cu::CUdeviceptr> tab = net.module_->GetGlobal("ghostnv_tansig_table", &bytes);
  if (!tab.ok()) return tab.status();
  if (bytes != kernels::kTansigTableSize * sizeof(float))
    return absl::InternalError(absl::StrCat("network_tc.cu: tansig table has ", bytes, " bytes"));
  if (cu::CUresult r = ctx.api().MemcpyHtoDAsync(*tab, kernels::TansigTable(), bytes, stream.get()); r != cu::kSuccess)
    return runtime::CuError(ctx.api(), r, "cuMemcpyHtoDAsync", "filling the tansig table of network_tc.cu");
  for (int v = 0; v < kTcVariants; ++v) {
    const TcVariant& tv = TcVariantAt(v);
    absl::StatusOr<runtime::Kernel> k = net.module_->GetKernel(tv.kernel);
    if (!k.ok()) return k.status();
    net.kernel_[v] = *k;
    if (net.usable_[v]) {
      if (absl::Status st =
              k->SetMaxDynamicSharedBytes(static_cast<int>(TcSharedBytes(d, tv.mt, tv.groups, tv.global_weights, tv.split)));
          !st.ok())
        return st;
    }
  }
  if (const char* e = std::getenv("GHOSTNV_TC_VARIANT"); e != nullptr && *e != 0) {
    const int v = std::atoi(e);
    if (net.has_variant(v)) net.forced_variant_ = v;
  }
  absl::StatusOr<runtime::DeviceBlock> w = runtime::DeviceBlock::Allocate(ctx, net.packed_.words.size() * 4);
  if (!w.ok()) return w.status();
  net.weights_ = *std::move(w);
  absl::StatusOr<runtime::DeviceBlock> b = runtime::DeviceBlock::Allocate(ctx, net.packed_.bias.size() * 4);
  if (!b.ok()) return b.status();
  net.bias_ = *std::move(b);
  if (cu::CUresult r = net.weights_.CopyFromHostAsync(net.packed_.words.data(), net.packed_.words.size() * 4, stream);
      r != cu::kSuccess)
    return runtime::CuError(ctx.api(), r, "cuMemcpyHtoDAsync", "uploading the fp16 network weights");
  if (cu::CUresult r = net.bias_.CopyFromHostAsync(net.packed_.bias.data(), net.packed_.bias.size() * 4, stream);
      r != cu::kSuccess)
    return runtime::CuError(ctx.api(), r, "cuMemcpyHtoDAsync", "uploading the network biases");
  if (absl::Status st = stream.Synchronize(); !st.ok()) return st;
  return net;
}

int TcNetwork::AutoVariant(int batch) const {
  if (forced_variant_ >= 0) return forced_variant_;
  // Split (fp32-grade) networks: the x3 kernel of 2 blocks per multiprocessor at every batch.
  // H200, 2026-11-29 14:34 (network alone, graph replay): 26.8 / 30.8 / 455 us at 16 / 4096 /
  // 64k rows vs 37.2 / 51.6 / 572 for b4 (variant 7, spills) and 28.6 / 31.0 / 461 for 32-row
  // tiles (variant 8); in the 64k pipeline 472 vs 582 vs 474 us (docs/perf/gpu.md, Session 10).
  if (split_) return kTcFirstSplitVariant;
  // Tiles of 32 rows once there are enough of them to give half the multiprocessors one; below
  // that, 16-row tiles spread the (latency-bound) work over twice as many blocks. Measured on the
  // H200 (2026-11-29 01:45 UTC, all variants in one run): 16 wins at 1k rows, 32 at 4k and
  // above; two 8-warp groups per block (variant 2) come within 5 % of 32-row tiles, never ahead.
  // From 4096 rows on (gpuspec, H200 2026-11-29 10:55, 64k rows pcm16 in 16 chunks of 4096):
  // the global-weights variant 4 (64 registers, 12 KiB of shared memory per 256-thread block,
  // one 16-row tile each) shares the multiprocessors with the other chunks' kernels: hop 5093
  // us (p99 5121) vs 5126 (p99 5199) with the shared-memory variant 1, though alone it is
  // slower (351 vs 323 us at 64k rows in one launch).
  if (batch >= 4096 && has_variant(4)) return 4;
  if (max_mt_ >= 2 && (batch + 31) / 32 >= (multiprocessors_ + 1) / 2) return 1;
  return 0;
}

cu::CUresult TcNetwork::Run(const GnvTcIo& io, cu::CUdeviceptr count, int batch, const runtime::Stream& stream,
                            int tile_rows) const {
  if (tile_rows == 0) return RunVariant(io, count, batch, stream, AutoVariant(std::max(batch, 1)));
  if (tile_rows != 16 && tile_rows != 32) return cu::kErrorInvalidValue;
  if (split_) return RunVariant(io, count, batch, stream, tile_rows == 16 ? kTcFirstSplitVariant : kTcFirstSplitVariant + 2);
  return RunVariant(io, count, batch, stream, tile_rows / 16 - 1);
}

cu::CUresult TcNetwork::RunVariant(const GnvTcIo& io, cu::CUdeviceptr count, int batch, const runtime::Stream& stream,
                                   int variant) const {
  if (batch < 0 || io.features == 0 || io.vad_state == 0 || io.noise_state == 0 || io.denoise_state == 0 ||
      io.gains == 0 || io.vad == 0 || !has_variant(variant))
    return cu::kErrorInvalidValue;
  if (batch == 0) return cu::kSuccess;
  const TcVariant& tv = TcVariantAt(variant);
  const int tile_rows = 16 * tv.mt;
  const int tiles = (batch + tile_rows - 1) / tile_rows;
  // Shared-memory weights: persistent, at most one block per multiprocessor (each copies the
  // weights once); global weights: one block per tile.
  const unsigned grid = static_cast<unsigned>(
      tv.global_weights ? tiles : std::min((tiles + tv.groups - 1) / tv.groups, multiprocessors_));
  GnvTcNet desc = packed_.desc;
  GnvTcIo args_io = io;
  cu::CUdeviceptr w = weights_.ptr(), b = bias_.ptr(), c = count;
  int n = batch;
  void* args[] = {&desc, &args_io, &w, &b, &c, &n};
  return kernel_[variant].Launch({grid}, {static_cast<unsigned>(tv.groups * tv.warps * 32)},
                                 static_cast<unsigned>(TcSharedBytes(desc, tv.mt, tv.groups, tv.global_weights, tv.split)),
                                 stream, args);
}

}  // namespace ghostnv::sched
