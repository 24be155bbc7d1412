// CPU-side test (label unit, no GPU) of kernels/demucs.cu and of the hop schedule that the GPU
// plan captures (demucs_cuda_schedule.h): every launch of a hop, with the exact argument list the
// plan passes to the driver (argument kinds checked against each kernel's signature), runs here
// on host threads (runtime/sched/cuda_host_shim.h: the .cu sources compiled as C++; the
// small-batch LSTM is kernels/dtln.cu's split kernel, the large-batch one dense launches +
// demucs_lstm_cell_f32). Random causal Demucs models of several shapes (depth, hidden,
// kernel/stride, resample 1/2/4, LSTM layers, GLU or not, normalisation or not), sessions on
// scattered slots, rows shuffled every hop, buckets larger than the batch with garbage rows,
// staggered starts (rows still filling their first frame next to live ones), a slot released and
// reused, strengths < 1; every session's output against models/demucs's ProcessHop.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "runtime/sched/cuda_host_shim.h"
inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, sizeof(f));
  return f;
}
#include "kernels/demucs.cu"
#include "kernels/dtln.cu"

#include "models/demucs/cuda/demucs_cuda_schedule.h"
#include "models/demucs/cuda/demucs_test_model.h"
#include "models/demucs/demucs_family.h"
#include "models/family.h"

namespace ghostnv::models::demucs {
namespace {

// ---- calling a kernel with the plan's void* argument list ----
struct ArgPack {
  std::vector<uint64_t> store;  // 8 bytes per argument (ints/floats in the low bytes)
  std::vector<void*> ptrs;
};

template <class T>
T Get(void* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

template <class T>
bool KindMatches(DmxArg::Kind k) {
  if constexpr (std::is_pointer_v<T>) return k == DmxArg::kPtr;
  else if constexpr (std::is_same_v<T, int>) return k == DmxArg::kInt;
  else if constexpr (std::is_same_v<T, float>) return k == DmxArg::kFloat;
  else if constexpr (std::is_same_v<T, long long>) return k == DmxArg::kInt64;
  else return false;
}

template <class... A, size_t... I>
void CallImpl(void (*fn)(A...), const DmxOp& op, void** args, std::index_sequence<I...>) {
  bool ok = true;
  ((ok = ok && KindMatches<A>(op.args[I].kind)), ...);
  ASSERT_TRUE(ok) << op.kernel << ": argument kinds do not match the kernel's signature";
  fn(Get<A>(args[I])...);
}

template <class... A>
std::function<void(const DmxOp&, void**)> Bind(void (*fn)(A...)) {
  return [fn](const DmxOp& op, void** args) {
    ASSERT_EQ(op.args.size(), sizeof...(A)) << op.kernel << ": argument count";
    CallImpl(fn, op, args, std::index_sequence_for<A...>{});
  };
}

const std::map<std::string, std::function<void(const DmxOp&, void**)>>& Kernels() {
  static const auto* m = new std::map<std::string, std::function<void(const DmxOp&, void**)>>{
      {"demucs_input_f32", Bind(demucs_input_f32)},
      {"demucs_upsample2_f32", Bind(demucs_upsample2_f32)},
      {"demucs_downsample2_f32", Bind(demucs_downsample2_f32)},
      {"demucs_dense_f32_t4", Bind(demucs_dense_f32_t4)},
      {"demucs_dense_f32_t16", Bind(demucs_dense_f32_t16)},
      {"demucs_dec_ola_f32", Bind(demucs_dec_ola_f32)},
      {"demucs_lstm_state_f32", Bind(demucs_lstm_state_f32)},
      {"demucs_out_history_f32", Bind(demucs_out_history_f32)},
      {"demucs_finish_f32", Bind(demucs_finish_f32)},
      {"demucs_dense_sk_f32", Bind(demucs_dense_sk_f32)},
      {"demucs_lstm_cell_f32", Bind(demucs_lstm_cell_f32)},
      {"dtln_lstm_split_f32", Bind(dtln_lstm_split_f32)},
      {"demucs_skip_delay_f32", Bind(demucs_skip_delay_f32)},
  };
  return *m;
}

// The GPU plan's hop on host memory.
class HostPlan {
 public:
  HostPlan(const DmxSchedule& s) : s_(s), hops_(s.options.max_sessions, 0) {
    for (int b = 0; b < static_cast<int>(DmxBuf::kCount); ++b) {
      bufs_[b].assign(std::max<size_t>(1, s.floats[b]), 0.f);
      // Work buffers start as garbage: nothing may depend on their initial contents.
      if (b >= static_cast<int>(DmxBuf::kFrame)) std::fill(bufs_[b].begin(), bufs_[b].end(), 1e4f);
    }
    bufs_[static_cast<int>(DmxBuf::kWeights)] = s.weights;
    ctl_.assign(s.floats[static_cast<int>(DmxBuf::kCtl)], 0);
  }

  float* Ptr(DmxBuf b) { return bufs_[static_cast<int>(b)].data(); }

  void Release(int slot) {
    for (const auto& [b, per] : s_.slot_buffers)
      std::fill_n(Ptr(b) + static_cast<size_t>(slot) * per, per, 0.f);
    hops_[slot] = 0;
  }

  // rows >= n: the bucket; rows past n get garbage input and control entries past count.
  void Hop(const std::vector<int>& slots, const std::vector<float>& strengths, int bucket,
           bool split, const std::vector<std::vector<float>>& in, std::vector<std::vector<float>>* out) {
    const int n = static_cast<int>(slots.size());
    ctl_[0] = n;
    for (int i = 0; i < bucket; ++i) {
      int32_t* row = ctl_.data() + kDmxCtlHead + kDmxCtlRow * i;
      if (i < n) {
        const long h = hops_[slots[i]];
        row[0] = slots[i];
        std::memcpy(&row[1], &strengths[i], 4);
        row[2] = static_cast<int>(h - s_.first_valid_hop + 1);
        row[3] = static_cast<int>(h);
        std::copy(in[i].begin(), in[i].end(), Ptr(DmxBuf::kPcmIn) + static_cast<size_t>(i) * s_.hop);
      } else {
        row[0] = 12345;  // never read: past count
        row[2] = 7;
        for (int k = 0; k < s_.hop; ++k) Ptr(DmxBuf::kPcmIn)[static_cast<size_t>(i) * s_.hop + k] = 1e6f;
      }
    }
    for (const DmxOp& op : s_.Hop(bucket, split)) Run(op);
    out->assign(n, {});
    for (int i = 0; i < n; ++i) {
      const float* o = Ptr(DmxBuf::kPcmOut) + static_cast<size_t>(i) * s_.hop;
      (*out)[i].assign(o, o + s_.hop);
      ++hops_[slots[i]];
    }
  }

 private:
  void Run(const DmxOp& op) {
    if (op.kind == DmxOp::kCopyIn || op.kind == DmxOp::kCopyOut) return;
    ArgPack pack;
    pack.store.assign(op.args.size(), 0);
    for (size_t i = 0; i < op.args.size(); ++i) {
      const DmxArg& a = op.args[i];
      switch (a.kind) {
        case DmxArg::kPtr: {
          uint64_t p = 0;
          if (a.valid) {
            if (a.buf == DmxBuf::kCtl) {
              p = reinterpret_cast<uint64_t>(ctl_.data() + a.offset);
            } else {
              EXPECT_LT(a.offset, bufs_[static_cast<int>(a.buf)].size()) << op.kernel << " arg " << i;
              p = reinterpret_cast<uint64_t>(Ptr(a.buf) + a.offset);
            }
          }
          pack.store[i] = p;
          break;
        }
        case DmxArg::kInt: std::memcpy(&pack.store[i], &a.i, 4); break;
        case DmxArg::kFloat: std::memcpy(&pack.store[i], &a.f, 4); break;
        case DmxArg::kInt64: std::memcpy(&pack.store[i], &a.l, 8); break;
      }
    }
    for (uint64_t& v : pack.store) pack.ptrs.push_back(&v);
    auto it = Kernels().find(op.kernel);
    ASSERT_NE(it, Kernels().end()) << op.kernel;
    // Grid-stride kernels are correct for any grid: run at most 2 blocks (speed); the split
    // LSTM's blocks own units, so all of them run.
    const int blocks = op.kernel == "dtln_lstm_split_f32" ? static_cast<int>(op.grid_x)
                                                           : std::min<int>(op.grid_x, 2);
    cuda_host::LaunchGrid(blocks, static_cast<int>(op.block),
                          [&] { it->second(op, pack.ptrs.data()); });
  }

  const DmxSchedule& s_;
  std::vector<float> bufs_[static_cast<int>(DmxBuf::kCount)];
  std::vector<int32_t> ctl_;
  std::vector<long> hops_;
};

struct Case {
  const char* name;
  DemucsShape shape;
  int hops;
};

void RunCase(const Case& cs, bool split) {
  SCOPED_TRACE(std::string(cs.name) + (split ? " split" : " dense"));
  std::shared_ptr<Model> model = MakeRandomDemucs(cs.shape, 7);
  absl::StatusOr<Networks> net = BuildNetworks(*model);
  ASSERT_TRUE(net.ok()) << net.status();
  absl::StatusOr<std::unique_ptr<Family>> fam = CreateDemucsFamily(model);
  ASSERT_TRUE(fam.ok()) << fam.status();
  DmxScheduleOptions o;
  o.max_sessions = 7;
  o.max_threads = 32;
  o.tile16_min_virtual_rows = 64;  // all three dense variants run
  o.splitk_max_virtual_rows = 8;
  absl::StatusOr<DmxSchedule> sched = BuildDemucsSchedule(*net, o);
  ASSERT_TRUE(sched.ok()) << sched.status();
  HostPlan plan(*sched);
  const int H = sched->hop;
  // Sessions: slot, start hop, strength.
  struct Sess {
    int slot, start;
    float strength;
    std::unique_ptr<ChannelState> ch;
    std::vector<float> ref, got;
    std::mt19937 rng;
  };
  std::vector<Sess> ss;
  const int starts[3] = {0, 3, 0};
  const int slots[3] = {5, 0, 3};
  const float str[3] = {1.f, 1.f, 0.6f};
  for (int k = 0; k < 3; ++k)
    ss.push_back({slots[k], starts[k], str[k], (*fam)->NewChannel(), {}, {}, std::mt19937(50 + k)});
  std::mt19937 shuffle_rng(9);
  double worst_rel = 0;
  const int release_at = cs.hops / 2;  // session 1 is released and restarts on a fresh slot
  for (int hop = 0; hop < cs.hops; ++hop) {
    if (hop == release_at) {
      plan.Release(ss[1].slot);
      ss[1].slot = 6;
      ss[1].ch = (*fam)->NewChannel();
      ss[1].ref.clear();
      ss[1].got.clear();
    }
    std::vector<int> order;
    for (int k = 0; k < 3; ++k)
      if (hop >= ss[k].start) order.push_back(k);
    std::shuffle(order.begin(), order.end(), shuffle_rng);
    std::vector<int> slot_rows;
    std::vector<float> strengths;
    std::vector<std::vector<float>> in, out;
    for (int k : order) {
      Sess& s = ss[k];
      std::normal_distribution<float> nd(0.f, 0.1f);
      std::vector<float> x(H);
      for (int i = 0; i < H; ++i)
        x[i] = nd(s.rng) + 0.2f * std::sin(0.05f * static_cast<float>(hop * H + i) * (k + 1));
      std::vector<float> y(H);
      (*fam)->ProcessHop(*s.ch, x.data(), y.data(), s.strength);
      s.ref.insert(s.ref.end(), y.begin(), y.end());
      slot_rows.push_back(s.slot);
      strengths.push_back(s.strength);
      in.push_back(std::move(x));
    }
    const int n = static_cast<int>(order.size());
    const int bucket = std::min(7, n + 1 + hop % 2);
    plan.Hop(slot_rows, strengths, bucket, split, in, &out);
    for (int i = 0; i < n; ++i) {
      Sess& s = ss[order[i]];
      const size_t at = s.ref.size() - H;
      double e = 0, d = 0;
      for (int q = 0; q < H; ++q) {
        e += static_cast<double>(s.ref[at + q]) * s.ref[at + q];
        d += (static_cast<double>(s.ref[at + q]) - out[i][q]) * (s.ref[at + q] - out[i][q]);
      }
      if (e > 0) worst_rel = std::max(worst_rel, std::sqrt(d / e));
      else ASSERT_EQ(d, 0.0) << "hop " << hop << ": output where the CPU has silence";
      s.got.insert(s.got.end(), out[i].begin(), out[i].end());
    }
  }
  for (int k = 0; k < 3; ++k) {
    const double snr = SnrDb(ss[k].ref, ss[k].got);
    EXPECT_GE(snr, 90.0) << "session " << k;
    double energy = 0;
    for (float v : ss[k].ref) energy += v * v;
    EXPECT_GT(energy, 0.0);
    printf("  %s %s session %d: SNR of the difference %.1f dB\n", cs.name, split ? "split" : "dense",
           k, snr);
  }
  printf("  %s %s: worst relative L2 error per hop %.2e\n", cs.name, split ? "split" : "dense",
         worst_rel);
  EXPECT_LE(worst_rel, 1e-5);
}

std::vector<Case> Cases() {
  std::vector<Case> v;
  {
    DemucsShape s;  // the fixture's shape: depth 4, hidden 8, K 8, S 4, resample 4 (hop 64)
    s.depth = 4;
    s.hidden = 8;
    v.push_back({"d4h8r4", s, 14});
  }
  {
    DemucsShape s;  // resample 2, K 4, S 2, depth 4 (hop 8), 1 LSTM layer, odd hidden
    s.depth = 4;
    s.hidden = 5;
    s.kernel = 4;
    s.stride = 2;
    s.resample = 2;
    s.lstm_layers = 1;
    s.lookahead = 13;
    v.push_back({"d4h5k4s2r2", s, 40});
  }
  {
    DemucsShape s;  // resample 1, K 6, S 3, depth 3 (hop 27), no GLU, no normalisation, 3 LSTMs
    s.depth = 3;
    s.hidden = 3;
    s.kernel = 6;
    s.stride = 3;
    s.resample = 1;
    s.lstm_layers = 3;
    s.glu = false;
    s.normalize = false;
    s.lookahead = 5;
    v.push_back({"d3h3k6s3r1-noglu", s, 30});
  }
  {
    DemucsShape s;  // an output delay (metadata.demucs.output_delay) longer than the hop (27)
    s.depth = 3;    // and not a multiple of it: the dry signal's extra delay line
    s.hidden = 4;
    s.kernel = 6;
    s.stride = 3;
    s.resample = 1;
    s.output_delay = 61;
    v.push_back({"d3h4k6s3r1-delay61", s, 24});
  }
  {
    DemucsShape s;  // an output delay shorter than the hop (64)
    s.depth = 3;
    s.hidden = 4;
    s.output_delay = 5;
    v.push_back({"d3h4r4-delay5", s, 20});
  }
  {
    DemucsShape s;  // skip delay lines (metadata.demucs.skip_delay = output_delay = 2 hops of
    s.depth = 3;    // 16): 32, 8, 2 steps against windows of 36, 8, 1 steps
    s.hidden = 3;
    s.skip_delay = s.output_delay = 32;
    v.push_back({"d3h3r4-skip32", s, 24});
  }
  {
    DemucsShape s;  // resample 1, K 6, S 3 (hop 27), skip delay 3 hops: 27, 9, 3 steps, each
    s.depth = 3;    // longer than the level's window (21, 6, 1 steps)
    s.hidden = 4;
    s.kernel = 6;
    s.stride = 3;
    s.resample = 1;
    s.skip_delay = s.output_delay = 81;
    v.push_back({"d3h4k6s3r1-skip81", s, 30});
  }
  {
    DemucsShape s;  // the running variance forgets after 5 frames (norm_memory_frames): the
    s.depth = 3;    // kernel's exponential average past them vs the family's
    s.hidden = 4;
    s.norm_frames = 5;
    v.push_back({"d3h4r4-norm5", s, 30});
  }
  return v;
}

TEST(DemucsCudaHost, HopScheduleMatchesProcessHopSplitLstm) {
  for (const Case& c : Cases()) RunCase(c, true);
}

TEST(DemucsCudaHost, HopScheduleMatchesProcessHopDenseLstm) {
  for (const Case& c : Cases()) RunCase(c, false);
}

TEST(DemucsCudaHost, RejectsUnsupportedGeometryAndOptions) {
  DemucsShape s;
  std::shared_ptr<Model> model = MakeRandomDemucs(s, 1);
  absl::StatusOr<Networks> net = BuildNetworks(*model);
  ASSERT_TRUE(net.ok());
  DmxScheduleOptions o;
  o.max_sessions = 0;
  EXPECT_FALSE(BuildDemucsSchedule(*net, o).ok());
  o.max_sessions = 1;
  o.max_threads = 48;
  EXPECT_FALSE(BuildDemucsSchedule(*net, o).ok());
  o.max_threads = 128;
  Networks bad = *net;
  bad.kernel = 7;  // streaming needs K == 2S
  EXPECT_FALSE(BuildDemucsSchedule(bad, o).ok());
  EXPECT_TRUE(BuildDemucsSchedule(*net, o).ok());
}

// A skip-delayed model (metadata.demucs.skip_delay): the schedule sizes a history line per level
// (skip_k steps, the deepest level its window too, x2 parities) and adds one
// demucs_skip_delay_f32 launch per level; without the key, or with 0, nothing changes: the same
// buffers and the same launches as before (the skip_delay 0 path is untouched).
TEST(DemucsCudaHost, SkipDelayedModelsGetHistoryLines) {
  std::vector<std::string> plain_kernels;
  for (int delay : {-1, 0, 1, 3}) {   // in hops; -1: no key
    DemucsShape s;
    std::shared_ptr<Model> model = MakeRandomDemucs(s, 1);
    absl::StatusOr<Networks> plain = BuildNetworks(*model);
    ASSERT_TRUE(plain.ok());
    const int d = std::max(0, delay) * plain->hop;
    if (delay >= 0) {
      model->algorithmic_latency += d;
      ASSERT_EQ(model->metadata_json.compare(model->metadata_json.size() - 2, 2, "}}"), 0);
      model->metadata_json.insert(model->metadata_json.size() - 2,
                                  absl::StrCat(R"(, "output_delay": )", d, R"(, "skip_delay": )", d));
    }
    absl::StatusOr<Networks> net = BuildNetworks(*model);
    ASSERT_TRUE(net.ok()) << net.status() << " " << model->metadata_json;
    ASSERT_EQ(net->skip_delay, d);
    DmxScheduleOptions o;
    o.max_sessions = 3;
    absl::StatusOr<DmxSchedule> sch = BuildDemucsSchedule(*net, o);
    ASSERT_TRUE(sch.ok()) << sch.status();
    size_t want = 0;
    for (int i = 0; i < net->depth; ++i)
      want += 2 * static_cast<size_t>(net->skip_frames[i] +
                                      (d > 0 && i == net->depth - 1 ? sch->enc_len[i] : 0)) *
              sch->cout[i];
    EXPECT_EQ(sch->skip_slot, want);
    EXPECT_EQ(sch->floats[static_cast<int>(DmxBuf::kSkipH)], 3 * want);
    EXPECT_EQ(sch->floats[static_cast<int>(DmxBuf::kSkipD)] > 0, d > 0);
    std::vector<std::string> kernels;
    int delay_ops = 0;
    for (const DmxOp& op : sch->Hop(2, true)) {
      kernels.push_back(op.kernel);
      delay_ops += op.kernel == "demucs_skip_delay_f32";
    }
    EXPECT_EQ(delay_ops, d > 0 ? net->depth : 0);
    if (delay < 0) plain_kernels = kernels;
    if (delay == 0) {
      EXPECT_EQ(kernels, plain_kernels);
    }
  }
}

}  // namespace
}  // namespace ghostnv::models::demucs
