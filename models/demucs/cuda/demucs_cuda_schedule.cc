// models/demucs/cuda/demucs_cuda_schedule.cc — geometry, weight packing and the hop's launches.
#include "models/demucs/cuda/demucs_cuda_schedule.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ghostnv::models::demucs {
namespace {

constexpr int kSplitUnits = 8;     // DTLN_SPLIT_UNITS (kernels/dtln.cu)
constexpr int kSplitThreads = 256; // DTLN_SPLIT_THREADS

size_t RoundUp(size_t v, size_t m) { return (v + m - 1) / m * m; }

DmxArg P(DmxBuf b, size_t off = 0) {
  DmxArg a;
  a.kind = DmxArg::kPtr;
  a.buf = b;
  a.offset = off;
  return a;
}
DmxArg Null() {
  DmxArg a;
  a.kind = DmxArg::kPtr;
  a.valid = false;
  return a;
}
DmxArg I(long v) {
  DmxArg a;
  a.kind = DmxArg::kInt;
  a.i = static_cast<int>(v);
  return a;
}
DmxArg F(float v) {
  DmxArg a;
  a.kind = DmxArg::kFloat;
  a.f = v;
  return a;
}
DmxArg L(long long v) {
  DmxArg a;
  a.kind = DmxArg::kInt64;
  a.l = v;
  return a;
}

}  // namespace

absl::StatusOr<DmxSchedule> BuildDemucsSchedule(const Networks& net,
                                                const DmxScheduleOptions& o) {
  if (o.max_sessions < 1 || o.max_sessions > 65535)
    return absl::InvalidArgumentError("demucs cuda: max_sessions must be in [1, 65535]");
  if (o.max_threads < 32 || o.max_threads > 256 || (o.max_threads & (o.max_threads - 1)) != 0)
    return absl::InvalidArgumentError("demucs cuda: max_threads must be 32, 64, 128 or 256");
  const int K = net.kernel, S = net.stride, R = net.resample;
  if (K != 2 * S) return absl::InvalidArgumentError("demucs cuda: streaming needs kernel_size == 2 * stride");
  if (net.lstm.empty()) return absl::InvalidArgumentError("demucs cuda: no LSTM layers");
  if (R != 1 && R != 2 && R != 4) return absl::InvalidArgumentError("demucs cuda: resample must be 1, 2 or 4");
  if (net.skip_frames.size() != static_cast<size_t>(net.depth))
    return absl::InvalidArgumentError("demucs cuda: skip_frames must have one entry per level");
  DmxSchedule s;
  s.options = o;
  s.hop = net.hop;
  s.total_length = net.frame_length + net.lookahead;
  s.rb = net.resample_buffer;
  s.resample = R;
  s.kernel = K;
  s.stride = S;
  s.depth = net.depth;
  s.channels = net.Channels();
  s.lstm_layers = static_cast<int>(net.lstm.size());
  s.normalize = net.normalize;
  s.glu = net.glu;
  s.floor = net.floor;
  s.math = static_cast<int>(net.lstm[0].math);
  s.output_delay = net.output_delay;
  s.skip_delay = net.skip_delay;
  s.norm_frames = net.norm_frames;
  s.skip_k = net.skip_frames;
  const int k_hops = (s.total_length + s.hop - 1) / s.hop;
  s.window = k_hops * s.hop;
  s.first_valid_hop = k_hops - 1;
  // Encoder geometry (the family's MakePlan).
  int len = R * net.frame_length, nnew = R * net.hop, in_len = len;
  for (int i = 0; i < net.depth; ++i) {
    const Networks::Level& l = net.level[i];
    if (len < K) return absl::InvalidArgumentError("demucs cuda: frame shorter than the kernel");
    in_len = len;
    len = (len - K) / S + 1;
    nnew /= S;
    s.enc_len.push_back(len);
    s.enc_new.push_back(nnew);
    s.cin.push_back(l.cin);
    s.cout.push_back(l.cout);
    if (i < net.depth - 1) {
      if (nnew < 1 || nnew > len) return absl::InvalidArgumentError("demucs cuda: unexpected streaming geometry");
      const int tlo = len - nnew;
      const int offset = in_len - K - S * (nnew - 1);
      s.x_reuse_off.push_back((offset - tlo * S) * l.cin);
    } else {
      s.x_reuse_off.push_back(0);
    }
  }
  s.lstm_steps = s.enc_len.back();
  int tx = s.enc_len.back(), te = 0;
  size_t max_dx = 1, max_dpw = 1, max_blk = 1;
  for (int j = 0; j < net.depth; ++j) {
    const int li = net.depth - 1 - j;
    const int skip = s.enc_len[li];
    if (tx + te > skip)
      return absl::InvalidArgumentError("demucs cuda: skip connections shorter than the decoder input");
    s.dec_x.push_back(tx);
    s.dec_e.push_back(te);
    const int e_len = te > 0 ? te * S + S : S;
    max_dpw = std::max(max_dpw, static_cast<size_t>(tx + te) * s.cout[li]);
    max_blk = std::max(max_blk, static_cast<size_t>(tx + te) * K * s.cin[li]);
    if (j < net.depth - 1) max_dx = std::max(max_dx, (static_cast<size_t>(tx) * S + e_len) * s.cin[li]);
    tx = tx * S;
    te = e_len;
  }
  s.out_x = tx;
  s.out_e = te;
  if (s.out_x != R * net.hop || s.rb > s.out_x)
    return absl::InvalidArgumentError("demucs cuda: unexpected streaming output length");

  // Weights.
  auto put = [&](const float* p, size_t n) -> size_t {
    const size_t at = s.weights.size();
    if (p != nullptr) s.weights.insert(s.weights.end(), p, p + n);
    else s.weights.resize(at + n, 0.f);
    s.weights.resize(RoundUp(s.weights.size(), 32), 0.f);
    return at;
  };
  for (const Networks::Level& l : net.level) {
    DmxSchedule::LevelW w{};
    const int g = net.glu ? 2 : 1;
    w.conv_w = put(l.conv.weights, static_cast<size_t>(K) * l.cin * l.cout);
    w.conv_bias = l.conv.bias != nullptr;
    w.conv_b = put(l.conv.bias, l.cout);
    w.epw_w = put(l.enc_pw.weights, static_cast<size_t>(l.cout) * g * l.cout);
    w.epw_bias = l.enc_pw.bias != nullptr;
    w.epw_b = put(l.enc_pw.bias, static_cast<size_t>(g) * l.cout);
    w.dpw_w = put(l.dec_pw.weights, static_cast<size_t>(l.cout) * g * l.cout);
    w.dpw_bias = l.dec_pw.bias != nullptr;
    w.dpw_b = put(l.dec_pw.bias, static_cast<size_t>(g) * l.cout);
    w.ct_w = put(l.convtr.weights, static_cast<size_t>(l.cout) * K * l.cin);
    w.ct_b = put(l.convtr_bias, l.cin);
    s.lw.push_back(w);
  }
  const int C = s.channels;
  for (const kernels::LstmParams& p : net.lstm) {
    if (p.inputs != C || p.units != C) return absl::InvalidArgumentError("demucs cuda: LSTM size mismatch");
    DmxSchedule::LstmW w{};
    w.w = put(p.weights, static_cast<size_t>(C) * 4 * C);
    w.r = put(p.recurrent, static_cast<size_t>(C) * 4 * C);
    w.bias = p.bias != nullptr;
    w.b = put(p.bias, 4 * static_cast<size_t>(C));
    s.lstmw.push_back(w);
  }
  s.sinc_taps = R > 1 ? net.sinc_taps : 0;
  s.sinc = put(R > 1 ? net.sinc : nullptr, std::max(1, s.sinc_taps));

  // Buffers.
  const size_t m = static_cast<size_t>(o.max_sessions);
  const int T = s.lstm_steps, Lc = s.lstm_layers;
  for (int i = 0; i < net.depth; ++i) {
    s.enc_off.push_back(s.enc_slot);
    if (i < net.depth - 1) s.enc_slot += 2 * static_cast<size_t>(s.enc_len[i]) * s.cout[i];
  }
  // Skip delay lines: level i keeps skip_k[i] steps of history per parity (its previous
  // window is still in kEnc); the deepest level, whose window is a row buffer (kElast), keeps
  // its window too. The decoder reads the delayed skip from kSkipD.
  size_t max_skipd = 0;
  for (int i = 0; i < net.depth; ++i) {
    s.skip_off.push_back(s.skip_slot);
    const int k = s.skip_k[i];
    if (k <= 0) continue;
    const size_t h = static_cast<size_t>(k) + (i == net.depth - 1 ? s.enc_len[i] : 0);
    s.skip_slot += 2 * h * s.cout[i];
    const int j = net.depth - 1 - i;
    max_skipd = std::max(max_skipd, static_cast<size_t>(s.dec_x[j] + s.dec_e[j]) * s.cout[i]);
  }
  s.skipd_rs = RoundUp(std::max<size_t>(1, max_skipd), 4);
  for (int j = 0; j < net.depth; ++j) {
    s.tail_off.push_back(s.tail_slot);
    s.tail_slot += 2 * static_cast<size_t>(S) * s.cin[net.depth - 1 - j];
  }
  s.lstate_slot = static_cast<size_t>(Lc) * 2 * C;
  s.frame_rs = RoundUp(static_cast<size_t>(s.rb) + s.total_length, 4);
  s.up1_rs = RoundUp(2 * (static_cast<size_t>(s.rb) + s.total_length), 4);
  s.up2_rs = RoundUp(4 * (static_cast<size_t>(s.rb) + s.total_length), 4);
  for (int i = 0; i < net.depth; ++i)
    s.conv_rs = std::max(s.conv_rs, static_cast<size_t>(s.enc_len[i]) * s.cout[i]);
  s.elast_rs = static_cast<size_t>(T) * C;
  s.seq_rs = static_cast<size_t>(T + 1) * C;
  s.dx_rs = RoundUp(max_dx, 4);
  s.dpw_rs = RoundUp(max_dpw, 4);
  s.blk_rs = RoundUp(max_blk, 4);
  const size_t po_len = static_cast<size_t>(s.rb) + s.out_x + s.out_e;
  s.po_rs = RoundUp(po_len, 4);
  s.down1_rs = RoundUp((po_len + 1) / 2, 4);
  s.down2_rs = RoundUp((po_len + 3) / 4, 4);
  auto& f = s.floats;
  f[static_cast<int>(DmxBuf::kWeights)] = s.weights.size();
  f[static_cast<int>(DmxBuf::kCtl)] = kDmxCtlHead + kDmxCtlRow * m;
  f[static_cast<int>(DmxBuf::kPcmIn)] = m * s.hop;
  f[static_cast<int>(DmxBuf::kPcmOut)] = m * s.hop;
  s.slot_buffers = {{DmxBuf::kWin, 2 * static_cast<size_t>(s.window)},
                    {DmxBuf::kVar, 1},
                    {DmxBuf::kRin, 2 * static_cast<size_t>(s.rb)},
                    {DmxBuf::kRout, 2 * static_cast<size_t>(s.rb)},
                    {DmxBuf::kEnc, s.enc_slot},
                    {DmxBuf::kTail, s.tail_slot},
                    {DmxBuf::kLstate, s.lstate_slot},
                    {DmxBuf::kDry, 2 * static_cast<size_t>(s.output_delay)},
                    {DmxBuf::kSkipH, s.skip_slot}};
  for (const auto& [b, per] : s.slot_buffers) f[static_cast<int>(b)] = m * per;
  f[static_cast<int>(DmxBuf::kFrame)] = m * s.frame_rs;
  f[static_cast<int>(DmxBuf::kUp1)] = R >= 2 ? m * s.up1_rs : 0;
  f[static_cast<int>(DmxBuf::kUp2)] = R >= 4 ? m * s.up2_rs : 0;
  f[static_cast<int>(DmxBuf::kScale)] = m;
  f[static_cast<int>(DmxBuf::kConv)] = m * s.conv_rs;
  f[static_cast<int>(DmxBuf::kElast)] = m * s.elast_rs;
  f[static_cast<int>(DmxBuf::kHseq)] = static_cast<size_t>(Lc) * m * s.seq_rs;
  f[static_cast<int>(DmxBuf::kCseq)] = static_cast<size_t>(Lc) * m * s.seq_rs;
  f[static_cast<int>(DmxBuf::kDx0)] = m * s.dx_rs;
  f[static_cast<int>(DmxBuf::kDx1)] = m * s.dx_rs;
  f[static_cast<int>(DmxBuf::kDpw)] = m * s.dpw_rs;
  f[static_cast<int>(DmxBuf::kBlk)] = m * s.blk_rs;
  f[static_cast<int>(DmxBuf::kPo)] = m * s.po_rs;
  f[static_cast<int>(DmxBuf::kDown1)] = R >= 2 ? m * s.down1_rs : 0;
  f[static_cast<int>(DmxBuf::kDown2)] = R >= 4 ? m * s.down2_rs : 0;
  f[static_cast<int>(DmxBuf::kZ)] = m * 4 * static_cast<size_t>(C);
  f[static_cast<int>(DmxBuf::kSkipD)] = s.skip_slot > 0 ? m * s.skipd_rs : 0;
  if (R == 1) {
    s.out_buf = DmxBuf::kPo;
    s.out_stride = s.po_rs;
  } else if (R == 2) {
    s.out_buf = DmxBuf::kDown1;
    s.out_stride = s.down1_rs;
  } else {
    s.out_buf = DmxBuf::kDown2;
    s.out_stride = s.down2_rs;
  }
  s.out_offset = static_cast<size_t>(s.rb / R);
  return s;
}

std::vector<DmxOp> DmxSchedule::Hop(int rows, bool split_lstm) const {
  std::vector<DmxOp> ops;
  const int K = kernel;
  const int thr = options.max_threads;
  const unsigned cap = static_cast<unsigned>(std::max(1, options.grid_cap));
  auto grid1 = [&](long long work, int threads) {
    const long long b = (work + threads - 1) / threads;
    return static_cast<unsigned>(std::max<long long>(1, std::min<long long>(b, cap)));
  };
  auto add = [&](const char* name, unsigned grid, int block, std::vector<DmxArg> args) {
    DmxOp op;
    op.kind = DmxOp::kKernel;
    op.program = "demucs.cu";
    op.kernel = name;
    op.grid_x = grid;
    op.block = static_cast<unsigned>(block);
    op.args = std::move(args);
    ops.push_back(std::move(op));
  };
  // A dense launch over rows x steps virtual rows.
  struct DenseIo {
    DmxArg x;
    int x_mode, x_rs, x_ps, x_ts, x_reuse_off;
    DmxArg x2;
    int x2_mode, x2_rs, x2_ps, x2_ts;
    DmxArg y;
    int y_mode, y_rs, y_ps, y_ts, reuse_below, reuse_shift;
  };
  auto dense = [&](int steps, size_t w, DmxArg bias, int inputs, int wunits, int c, int use_glu,
                   int act, const DenseIo& io, int accumulate = 0) {
    const long long nv = static_cast<long long>(rows) * steps;
    std::vector<DmxArg> args = {
        P(DmxBuf::kCtl), I(rows), I(steps), P(DmxBuf::kWeights, w), bias, I(inputs), I(wunits),
        I(c), I(use_glu), I(act), I(math), io.x, I(io.x_mode), I(io.x_rs), I(io.x_ps), I(io.x_ts),
        I(io.x_reuse_off), io.x2, I(io.x2_mode), I(io.x2_rs), I(io.x2_ps), I(io.x2_ts), io.y,
        I(io.y_mode), I(io.y_rs), I(io.y_ps), I(io.y_ts), I(io.reuse_below), I(io.reuse_shift),
        I(accumulate)};
    if (nv <= options.splitk_max_virtual_rows) {  // few rows: slices split the dot products
      const long long tiles = (nv + 3) / 4 * ((c + 31) / 32);
      add("demucs_dense_sk_f32",
          static_cast<unsigned>(std::max<long long>(1, std::min<long long>(tiles, cap))), thr,
          std::move(args));
      return;
    }
    const int ts = nv >= options.tile16_min_virtual_rows ? 16 : 4;
    int threads = 32;
    while (threads < c && threads < thr) threads *= 2;
    const long long tiles = (nv + ts - 1) / ts * ((c + threads - 1) / threads);
    add(ts == 16 ? "demucs_dense_f32_t16" : "demucs_dense_f32_t4",
        static_cast<unsigned>(std::max<long long>(1, std::min<long long>(tiles, cap))), threads,
        std::move(args));
  };
  const int S = stride, R = resample, C = channels, T = lstm_steps;
  const int g = glu ? 2 : 1;
  const int act_pw = glu ? 0 : 3;  // identity (GLU after) or ReLU

  {
    DmxOp in;
    in.kind = DmxOp::kCopyIn;
    ops.push_back(in);
  }
  add("demucs_input_f32", grid1(rows, 1), thr,
         {P(DmxBuf::kCtl), P(DmxBuf::kPcmIn), I(hop), P(DmxBuf::kWin), I(window), I(total_length),
          I(rb), P(DmxBuf::kVar), P(DmxBuf::kRin), P(DmxBuf::kFrame), I(frame_rs),
          P(DmxBuf::kScale), I(normalize ? 1 : 0), F(floor), I(norm_frames), I(rows)});
  DmxBuf net_in = DmxBuf::kFrame;
  int net_in_rs = static_cast<int>(frame_rs);
  const int flen = rb + total_length;
  if (R >= 2) {
    add("demucs_upsample2_f32", grid1(static_cast<long long>(rows) * flen, thr), thr,
           {P(DmxBuf::kCtl), P(DmxBuf::kFrame), I(frame_rs), I(flen), P(DmxBuf::kWeights, sinc),
            I(sinc_taps), P(DmxBuf::kUp1), I(up1_rs), I(rows)});
    net_in = DmxBuf::kUp1;
    net_in_rs = static_cast<int>(up1_rs);
  }
  if (R == 4) {
    add("demucs_upsample2_f32", grid1(static_cast<long long>(rows) * 2 * flen, thr), thr,
           {P(DmxBuf::kCtl), P(DmxBuf::kUp1), I(up1_rs), I(2 * flen), P(DmxBuf::kWeights, sinc),
            I(sinc_taps), P(DmxBuf::kUp2), I(up2_rs), I(rows)});
    net_in = DmxBuf::kUp2;
    net_in_rs = static_cast<int>(up2_rs);
  }
  // Encoder.
  const int enc_rs = static_cast<int>(enc_slot);
  for (int i = 0; i < depth; ++i) {
    const LevelW& w = lw[i];
    const bool last = i == depth - 1;
    const int tlo = last ? 0 : enc_len[i] - enc_new[i];
    DenseIo c{};
    if (i == 0) {
      c.x = P(net_in, static_cast<size_t>(R) * rb);
      c.x_mode = 0;
      c.x_rs = net_in_rs;
    } else {
      c.x = P(DmxBuf::kEnc, enc_off[i - 1]);
      c.x_mode = 1;
      c.x_rs = enc_rs;
      c.x_ps = enc_len[i - 1] * cout[i - 1];
    }
    c.x_ts = S * cin[i];
    c.x_reuse_off = x_reuse_off[i];
    c.x2 = Null();
    c.y = P(DmxBuf::kConv);
    c.y_mode = 0;
    c.y_rs = static_cast<int>(conv_rs);
    c.y_ts = cout[i];
    c.reuse_below = tlo;
    dense(enc_len[i], w.conv_w, w.conv_bias ? P(DmxBuf::kWeights, w.conv_b) : Null(),
          K * cin[i], cout[i], cout[i], 0, 3, c);
    DenseIo p{};
    p.x = P(DmxBuf::kConv);
    p.x_rs = static_cast<int>(conv_rs);
    p.x_ts = cout[i];
    p.x2 = Null();
    if (last) {
      p.y = P(DmxBuf::kElast);
      p.y_mode = 0;
      p.y_rs = static_cast<int>(elast_rs);
    } else {
      p.y = P(DmxBuf::kEnc, enc_off[i]);
      p.y_mode = 1;
      p.y_rs = enc_rs;
      p.y_ps = enc_len[i] * cout[i];
    }
    p.y_ts = cout[i];
    p.reuse_below = tlo;
    p.reuse_shift = enc_new[i];
    dense(enc_len[i], w.epw_w, w.epw_bias ? P(DmxBuf::kWeights, w.epw_b) : Null(), cout[i],
          g * cout[i], cout[i], glu ? 1 : 0, act_pw, p);
  }
  // LSTM.
  const long long layer_stride = static_cast<long long>(options.max_sessions) * static_cast<long long>(seq_rs);
  const int lstate_work = lstm_layers * 2 * C;
  add("demucs_lstm_state_f32", grid1(static_cast<long long>(rows) * lstate_work, thr), thr,
         {P(DmxBuf::kCtl), I(rows), I(lstm_layers), I(C), P(DmxBuf::kLstate), P(DmxBuf::kHseq),
          P(DmxBuf::kCseq), L(layer_stride), I(seq_rs), I(0), I(0)});
  for (int k = 0; k < lstm_layers; ++k) {
    const LstmW& w = lstmw[k];
    const size_t hs = static_cast<size_t>(k) * layer_stride;
    for (int t = 0; t < T; ++t) {
      DmxArg x = k == 0 ? P(DmxBuf::kElast, static_cast<size_t>(t) * C)
                        : P(DmxBuf::kHseq, static_cast<size_t>(k - 1) * layer_stride + static_cast<size_t>(t + 1) * C);
      const int xs = k == 0 ? static_cast<int>(elast_rs) : static_cast<int>(seq_rs);
      DmxArg b = w.bias ? P(DmxBuf::kWeights, w.b) : Null();
      if (split_lstm) {
        DmxOp op;
        op.kind = DmxOp::kKernel;
        op.program = "dtln.cu";
        op.kernel = "dtln_lstm_split_f32";
        op.grid_x = static_cast<unsigned>((C + kSplitUnits - 1) / kSplitUnits);
        op.grid_y = static_cast<unsigned>(std::max(1, std::min(rows, 65535)));
        op.block = kSplitThreads;
        op.args = {P(DmxBuf::kWeights, w.w), P(DmxBuf::kWeights, w.r), b, I(C), I(C), I(math), x,
                   I(xs), P(DmxBuf::kHseq, hs + static_cast<size_t>(t) * C),
                   P(DmxBuf::kCseq, hs + static_cast<size_t>(t) * C),
                   P(DmxBuf::kHseq, hs + static_cast<size_t>(t + 1) * C),
                   P(DmxBuf::kCseq, hs + static_cast<size_t>(t + 1) * C), I(seq_rs), I(rows)};
        ops.push_back(std::move(op));
      } else {
        // Large buckets: z = x·W + b, z += h·R (dense tiles: weights reused over rows), cell.
        DenseIo zx{};
        zx.x = x;
        zx.x_rs = xs;
        zx.x2 = Null();
        zx.y = P(DmxBuf::kZ);
        zx.y_rs = 4 * C;
        dense(1, w.w, b, C, 4 * C, 4 * C, 0, 0, zx);
        DenseIo zh = zx;
        zh.x = P(DmxBuf::kHseq, hs + static_cast<size_t>(t) * C);
        zh.x_rs = static_cast<int>(seq_rs);
        dense(1, w.r, Null(), C, 4 * C, 4 * C, 0, 0, zh, /*accumulate=*/1);
        add("demucs_lstm_cell_f32", grid1(static_cast<long long>(rows) * C, thr), thr,
            {P(DmxBuf::kCtl), I(rows), P(DmxBuf::kZ), I(4 * C), I(C), I(math), P(DmxBuf::kHseq, hs),
             P(DmxBuf::kCseq, hs), I(seq_rs), I(t)});
      }
    }
  }
  add("demucs_lstm_state_f32", grid1(static_cast<long long>(rows) * lstate_work, thr), thr,
         {P(DmxBuf::kCtl), I(rows), I(lstm_layers), I(C), P(DmxBuf::kLstate), P(DmxBuf::kHseq),
          P(DmxBuf::kCseq), L(layer_stride), I(seq_rs), I(T), I(1)});
  // Decoder.
  const int tail_rs = static_cast<int>(tail_slot);
  for (int j = 0; j < depth; ++j) {
    const int li = depth - 1 - j;
    const LevelW& w = lw[li];
    const int tx = dec_x[j], te = dec_e[j], steps = tx + te;
    const int co = cout[li], ci = cin[li];
    DenseIo p{};
    if (j == 0) {
      p.x = P(DmxBuf::kHseq, static_cast<size_t>(lstm_layers - 1) * layer_stride + C);
      p.x_rs = static_cast<int>(seq_rs);
    } else {
      p.x = P((j - 1) % 2 == 0 ? DmxBuf::kDx0 : DmxBuf::kDx1);
      p.x_rs = static_cast<int>(dx_rs);
    }
    p.x_ts = co;
    if (li == depth - 1) {
      p.x2 = P(DmxBuf::kElast);
      p.x2_mode = 0;
      p.x2_rs = static_cast<int>(elast_rs);
    } else {
      p.x2 = P(DmxBuf::kEnc, enc_off[li]);
      p.x2_mode = 1;
      p.x2_rs = enc_rs;
      p.x2_ps = enc_len[li] * co;
    }
    if (skip_k[li] > 0) {
      // The skip skip_k steps late: the history moves on and the delayed window goes to kSkipD.
      const int k = skip_k[li];
      const bool full = li == depth - 1;
      const int h = k + (full ? enc_len[li] : 0);
      add("demucs_skip_delay_f32", grid1(static_cast<long long>(rows) * (h + steps) * co, thr), thr,
          {P(DmxBuf::kCtl), I(rows), P(DmxBuf::kSkipH, skip_off[li]), I(static_cast<int>(skip_slot)),
           I(h * co), I(k), I(enc_new[li]), I(co), I(full ? 1 : 0), p.x2, I(p.x2_mode), I(p.x2_rs),
           I(p.x2_ps), P(DmxBuf::kSkipD), I(static_cast<int>(skipd_rs)), I(steps)});
      p.x2 = P(DmxBuf::kSkipD);
      p.x2_mode = 0;
      p.x2_rs = static_cast<int>(skipd_rs);
      p.x2_ps = 0;
    }
    p.x2_ts = co;
    p.y = P(DmxBuf::kDpw);
    p.y_rs = static_cast<int>(dpw_rs);
    p.y_ts = co;
    dense(steps, w.dpw_w, w.dpw_bias ? P(DmxBuf::kWeights, w.dpw_b) : Null(), co, g * co, co,
          glu ? 1 : 0, act_pw, p);
    DenseIo b{};
    b.x = P(DmxBuf::kDpw);
    b.x_rs = static_cast<int>(dpw_rs);
    b.x_ts = co;
    b.x2 = Null();
    b.y = P(DmxBuf::kBlk);
    b.y_rs = static_cast<int>(blk_rs);
    b.y_ts = K * ci;
    dense(steps, w.ct_w, Null(), co, K * ci, K * ci, 0, 0, b);
    const bool last = j == depth - 1;
    const int e_len = te > 0 ? te * S + S : S;
    const long long work = static_cast<long long>(rows) * (tx * S + S + e_len) * ci;
    add("demucs_dec_ola_f32", grid1(work, thr), thr,
           {P(DmxBuf::kCtl), I(rows), P(DmxBuf::kBlk), I(blk_rs), P(DmxBuf::kWeights, w.ct_b),
            I(ci), I(S), I(tx), I(te), P(DmxBuf::kTail, tail_off[j]), I(tail_rs),
            last ? P(DmxBuf::kPo, static_cast<size_t>(rb)) : P(j % 2 == 0 ? DmxBuf::kDx0 : DmxBuf::kDx1),
            I(last ? po_rs : dx_rs), I(last ? 0 : 1)});
  }
  add("demucs_out_history_f32", grid1(static_cast<long long>(rows) * rb, thr), thr,
         {P(DmxBuf::kCtl), I(rows), P(DmxBuf::kPo), I(po_rs), P(DmxBuf::kRout), I(rb), I(out_x)});
  const int po_len = rb + out_x + out_e;
  if (R >= 2) {
    add("demucs_downsample2_f32", grid1(static_cast<long long>(rows) * ((po_len + 1) / 2), thr),
           thr,
           {P(DmxBuf::kCtl), P(DmxBuf::kPo), I(po_rs), I(po_len), P(DmxBuf::kWeights, sinc),
            I(sinc_taps), P(DmxBuf::kDown1), I(down1_rs), I(rows)});
  }
  if (R == 4) {
    const int n1 = (po_len + 1) / 2;
    add("demucs_downsample2_f32", grid1(static_cast<long long>(rows) * ((n1 + 1) / 2), thr), thr,
           {P(DmxBuf::kCtl), P(DmxBuf::kDown1), I(down1_rs), I(n1), P(DmxBuf::kWeights, sinc),
            I(sinc_taps), P(DmxBuf::kDown2), I(down2_rs), I(rows)});
  }
  add("demucs_finish_f32", grid1(static_cast<long long>(rows) * hop, thr), thr,
         {P(DmxBuf::kCtl), I(rows), P(out_buf), I(out_stride), I(out_offset), P(DmxBuf::kScale),
          I(normalize ? 1 : 0), P(DmxBuf::kWin), I(window), I(hop), P(DmxBuf::kPcmOut),
          output_delay > 0 ? P(DmxBuf::kDry) : Null(), I(output_delay)});
  {
    DmxOp out;
    out.kind = DmxOp::kCopyOut;
    ops.push_back(out);
  }
  return ops;
}

}  // namespace ghostnv::models::demucs
