// models/demucs/demucs_family_test.cc — resamplers vs naive double references, model checks,
// streaming invariants on a random in-memory model. (Conformance against onnxruntime and
// DemucsStreamer: tools/convert/tests/demucs_conformance.py.)

#include "models/demucs/demucs_family.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernels/cpu.h"
#include "models/demucs/dense_rows.h"

// Counts every allocation made through operator new in this binary (the real-time check).
static std::atomic<long> g_allocations{0};
void* operator new(size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  void* p = std::malloc(n ? n : 1);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
namespace {
__attribute__((noinline)) void FreeCounted(void* p) { std::free(p); }
}  // namespace
void operator delete(void* p) noexcept { FreeCounted(p); }
void operator delete(void* p, size_t) noexcept { FreeCounted(p); }

namespace ghostnv::models::demucs {
namespace {

std::vector<float> Random(size_t n, unsigned seed, float scale = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = nd(rng);
  return v;
}

// denoiser/resample.py written out directly in double.
std::vector<double> NaiveUp(const std::vector<float>& x, const std::vector<float>& k) {
  const int n = static_cast<int>(x.size()), z = static_cast<int>(k.size()) / 2;
  std::vector<double> y(2 * x.size());
  for (int t = 0; t < n; ++t) {
    double acc = 0;
    for (int j = 0; j < 2 * z; ++j) {
      const int i = t + 1 + j - z;
      if (i >= 0 && i < n) acc += static_cast<double>(x[i]) * k[j];
    }
    y[2 * t] = x[t];
    y[2 * t + 1] = acc;
  }
  return y;
}

std::vector<double> NaiveDown(std::vector<float> x, const std::vector<float>& k) {
  if (x.size() % 2) x.push_back(0.f);
  const int half = static_cast<int>(x.size()) / 2, z = static_cast<int>(k.size()) / 2;
  std::vector<double> y(half);
  for (int t = 0; t < half; ++t) {
    double acc = 0;
    for (int j = 0; j < 2 * z; ++j) {
      const int q = t + j - z;
      if (q >= 0 && q < half) acc += static_cast<double>(x[2 * q + 1]) * k[j];
    }
    y[t] = 0.5 * (x[2 * t] + acc);
  }
  return y;
}

TEST(DemucsResample, MatchesNaiveAtOddSizes) {
  for (int taps : {2, 8, 112}) {
    const std::vector<float> k = Random(taps, 3 + taps, 0.3f);
    for (int n : {0, 1, 7, 113, 513}) {
      const std::vector<float> x = Random(n, 10 + n);
      std::vector<float> up(2 * n + 1, 0.f), down((n + 1) / 2 + 1, 0.f);
      Upsample2(x.data(), n, k.data(), taps, up.data());
      Downsample2(x.data(), n, k.data(), taps, down.data());
      const std::vector<double> ru = NaiveUp(x, k), rd = NaiveDown(x, k);
      for (int i = 0; i < 2 * n; ++i) ASSERT_NEAR(up[i], ru[i], 1e-5) << n << " " << i;
      for (int i = 0; i < (n + 1) / 2; ++i) ASSERT_NEAR(down[i], rd[i], 1e-5) << n << " " << i;
    }
  }
}

TEST(DemucsDenseRows, MatchesDoubleReferenceAtOddSizes) {
  for (int units : {0, 1, 7, 16, 17, 113}) {
    for (int inputs : {0, 1, 9, 64}) {
      for (int rows : {0, 1, 3, 4, 9}) {
        const size_t xs = static_cast<size_t>(inputs > 2 ? inputs / 2 : 1);  // overlapping rows
        const std::vector<float> w = Random(static_cast<size_t>(inputs) * units, 1 + units);
        const std::vector<float> b = Random(units, 2 + inputs);
        const std::vector<float> x = Random(xs * rows + inputs + 1, 3 + rows);
        kernels::DenseParams p{.inputs = inputs, .units = units, .weights = w.data(),
                               .bias = b.data(), .activation = kernels::Activation::kRelu};
        const size_t ys = static_cast<size_t>(units) + 3;
        std::vector<float> y(ys * rows + 1, -7.f), yr(ys * rows + 1, -7.f);
        DenseRows(p, x.data(), xs, rows, y.data(), ys);
        DenseRows_ref(p, x.data(), xs, rows, yr.data(), ys);
        for (int r = 0; r < rows; ++r)
          for (int u = 0; u < units; ++u) {
            double acc = b[u];
            for (int j = 0; j < inputs; ++j)
              acc += static_cast<double>(x[r * xs + j]) * w[static_cast<size_t>(j) * units + u];
            acc = acc > 0 ? acc : 0;
            const double tol = 1e-5 * (1 + inputs);
            ASSERT_NEAR(y[r * ys + u], acc, tol) << units << " " << inputs << " " << rows;
            ASSERT_NEAR(yr[r * ys + u], acc, tol);
          }
        for (int r = 0; r < rows; ++r)  // the gap between rows is never written
          for (size_t u = units; u < ys; ++u) ASSERT_EQ(y[r * ys + u], -7.f);
      }
    }
  }
}

// A random causal Demucs in memory: depth 3, K 8, S 4, resample 4, hidden 4 (hop 16).
struct TestModel {
  std::vector<std::vector<float>> store;
  std::shared_ptr<Model> model = std::make_shared<Model>();

  const float* Keep(std::vector<float> v) {
    store.push_back(std::move(v));
    return store.back().data();
  }
  void Dense(const std::string& name, int in, int units, kernels::Activation act, float scale,
             bool bias = true, bool zero_weights = false) {
    Layer l;
    l.name = name;
    l.inputs = in;
    l.units = units;
    l.activation = act;
    l.weights = Keep(zero_weights ? std::vector<float>(static_cast<size_t>(in) * units, 0.f)
                                  : Random(static_cast<size_t>(in) * units,
                                           static_cast<unsigned>(store.size() + 1), scale));
    if (bias) l.bias = Keep(Random(units, static_cast<unsigned>(store.size() + 100), 0.1f));
    model->layers.push_back(l);
  }

  // output_delay >= 0 writes metadata.demucs.output_delay (and adds it to the latency); -1
  // leaves the key out, as in files written before session 10. skip_delay >= 0 writes
  // metadata.demucs.skip_delay (-1: absent, as before session 11); resample 1, 2 or 4.
  explicit TestModel(int depth = 3, int hidden = 4, int output_delay = -1, int R = 4,
                     bool normalize = true, int skip_delay = -1) {
    store.reserve(64);
    const int K = 8, S = 4;
    using kernels::Activation;
    Dense("resample.kernel", 1, 112, Activation::kIdentity, 0.f, true, true);
    int cin = 1, h = hidden;
    std::vector<std::pair<int, int>> ch;
    for (int i = 0; i < depth; ++i) {
      Dense(absl::StrCat("encoder", i, ".conv"), K * cin, h, Activation::kRelu,
            1.f / std::sqrt(K * cin));
      Dense(absl::StrCat("encoder", i, ".pw"), h, 2 * h, Activation::kIdentity,
            1.f / std::sqrt(h));
      ch.push_back({cin, h});
      cin = h;
      h *= 2;
    }
    Dense("lstm0", 2 * cin, 4 * cin, Activation::kIdentity, 0.3f);
    Dense("lstm1", 2 * cin, 4 * cin, Activation::kIdentity, 0.3f);
    for (int j = 0; j < depth; ++j) {
      const auto [ci, co] = ch[depth - 1 - j];
      Dense(absl::StrCat("decoder", j, ".pw"), co, 2 * co, Activation::kIdentity,
            1.f / std::sqrt(co));
      Dense(absl::StrCat("decoder", j, ".convtr"), co, K * ci, Activation::kIdentity,
            1.f / std::sqrt(co), false);
      Dense(absl::StrCat("decoder", j, ".convtr_bias"), 1, ci, Activation::kIdentity, 0.f,
            true, true);
    }
    model->family = "demucs";
    model->name = "test-demucs";
    model->sample_rate = 16000;
    int total = 1;
    for (int i = 0; i < depth; ++i) total *= S;
    Networks tmp;
    tmp.depth = depth;
    tmp.kernel = K;
    tmp.stride = S;
    tmp.resample = R;
    const int hop = total / R;
    const int tl = static_cast<int>(tmp.ValidLength(1)) + 64;
    model->hop_size = hop;
    model->frame_size = tl;
    model->algorithmic_latency = ((tl + hop - 1) / hop - 1) * hop + std::max(0, output_delay);
    model->metadata_json = absl::StrCat(
        R"({"demucs": {"depth": )", depth,
        R"(, "kernel_size": 8, "stride": 4, "resample": )", R,
        R"(, "lstm_layers": 2, "glu": true, "normalize": )", normalize ? "true" : "false",
        R"(, "floor": 0.001, "resample_lookahead": 64, "resample_buffer": )",
        std::min(hop, 256),
        output_delay >= 0 ? absl::StrCat(R"(, "output_delay": )", output_delay) : "",
        skip_delay >= 0 ? absl::StrCat(R"(, "skip_delay": )", skip_delay) : "", "}}");
    // A plausible interpolation kernel (windowed sinc), as the converter stores it.
    std::vector<float>& kern = store[0 + 1];  // resample.kernel's bias
    for (int j = 0; j < 112; ++j) {
      const double t = (j - 55.5) * M_PI;
      const double w = 0.5 - 0.5 * std::cos(2 * M_PI * (2 * j + 1) / 224.0);
      kern[j] = static_cast<float>(std::sin(t) / t * w);
    }
  }
};

TEST(DemucsFamily, BuildsAndRejectsBadModels) {
  TestModel tm;
  ASSERT_TRUE(BuildNetworks(*tm.model).ok()) << BuildNetworks(*tm.model).status();
  TestModel bad;
  bad.model->layers[3].inputs += 1;  // encoder0.pw
  EXPECT_FALSE(BuildNetworks(*bad.model).ok());
  TestModel bad2;
  bad2.model->metadata_json = "{}";
  EXPECT_FALSE(BuildNetworks(*bad2.model).ok());
  TestModel bad3;
  bad3.model->algorithmic_latency += 1;
  EXPECT_FALSE(BuildNetworks(*bad3.model).ok());
  // metadata.demucs.output_delay: absent or 0 -> the streaming latency alone; D -> D more.
  TestModel zero(3, 4, 0), delayed(3, 4, 37);
  absl::StatusOr<Networks> nz = BuildNetworks(*zero.model), nd = BuildNetworks(*delayed.model);
  ASSERT_TRUE(nz.ok()) << nz.status();
  ASSERT_TRUE(nd.ok()) << nd.status();
  EXPECT_EQ(nz->output_delay, 0);
  EXPECT_EQ(nd->output_delay, 37);
  EXPECT_EQ(nd->StreamingLatency(), nz->StreamingLatency());
  EXPECT_EQ(delayed.model->algorithmic_latency, tm.model->algorithmic_latency + 37);
  EXPECT_EQ(zero.model->algorithmic_latency, tm.model->algorithmic_latency);
  TestModel stale(3, 4, 37);   // the delay in the metadata but not in the latency
  stale.model->algorithmic_latency -= 37;
  absl::StatusOr<Networks> ns = BuildNetworks(*stale.model);
  ASSERT_FALSE(ns.ok());
  EXPECT_NE(std::string(ns.status().message()).find("output_delay"), std::string::npos)
      << ns.status();
  for (const char* v : {"-1", "2.5", "\"256\"", "100000"}) {
    TestModel b(3, 4, 0);
    const std::string key = R"("output_delay": 0)";
    b.model->metadata_json.replace(b.model->metadata_json.find(key), key.size(),
                                   absl::StrCat(R"("output_delay": )", v));
    EXPECT_FALSE(BuildNetworks(*b.model).ok()) << v;
  }
}

// A model trained on a target delayed by D samples: the same computation, D more samples of
// reported latency, and the dry signal (strength < 1) delayed by the whole latency so that it
// lines up with the network's output. D = 37 is not a multiple of the hop (16).
TEST(DemucsFamily, OutputDelayAddsLatencyAndDelaysTheDrySignal) {
  TestModel plain, delayed(3, 4, 37);
  auto fp = CreateDemucsFamily(plain.model);
  auto fd = CreateDemucsFamily(delayed.model);
  ASSERT_TRUE(fp.ok()) << fp.status();
  ASSERT_TRUE(fd.ok()) << fd.status();
  const int hop = (*fd)->hop_size(), lat = (*fd)->algorithmic_latency();
  ASSERT_EQ(lat, (*fp)->algorithmic_latency() + 37);
  const int hops = 41;
  const std::vector<float> x = Random(static_cast<size_t>(hop) * hops, 19, 0.1f);
  auto run = [&](const Family& fam, float strength) {
    auto ch = fam.NewChannel();
    std::vector<float> y(x.size());
    for (int k = 0; k < hops; ++k)
      fam.ProcessHop(*ch, x.data() + k * hop, y.data() + k * hop, strength);
    return y;
  };
  // The network part is untouched: full strength gives the plain model's output exactly.
  EXPECT_EQ(run(**fd, 1.f), run(**fp, 1.f));
  const std::vector<float> dry = run(**fd, 0.f);
  for (int i = 0; i < lat && i < static_cast<int>(dry.size()); ++i) ASSERT_EQ(dry[i], 0.f) << i;
  for (size_t i = 0; i + lat < x.size(); ++i) ASSERT_FLOAT_EQ(dry[i + lat], x[i]) << i;
  const std::vector<float> wet = run(**fd, 1.f), mix = run(**fd, 0.6f);
  for (size_t i = 0; i < x.size(); ++i)
    ASSERT_NEAR(mix[i], 0.6f * wet[i] + 0.4f * dry[i], 1e-6f) << i;
  // Reset clears the delay line: a second pass over the same channel repeats the first.
  auto ch = (*fd)->NewChannel();
  std::vector<float> a(x.size()), b(x.size());
  for (int k = 0; k < hops; ++k) (*fd)->ProcessHop(*ch, x.data() + k * hop, a.data() + k * hop, 0.3f);
  ch->Reset();
  for (int k = 0; k < hops; ++k) (*fd)->ProcessHop(*ch, x.data() + k * hop, b.data() + k * hop, 0.3f);
  EXPECT_EQ(a, b);
}

std::vector<float> Stream(const Family& fam, const std::vector<float>& x, float strength = 1.f,
                          ChannelState* ch = nullptr) {
  std::unique_ptr<ChannelState> own;
  if (ch == nullptr) {
    own = fam.NewChannel();
    ch = own.get();
  }
  const size_t hop = static_cast<size_t>(fam.hop_size());
  std::vector<float> y(x.size() / hop * hop);
  for (size_t k = 0; k < y.size(); k += hop)
    fam.ProcessHop(*ch, x.data() + k, y.data() + k, strength);
  return y;
}

// metadata.demucs.skip_delay: absent or 0 -> no delay lines; D > 0 must be a multiple of the hop
// and equal output_delay; the per-level delays are D * resample / stride^(i+1) steps.
TEST(DemucsFamily, SkipDelayMetadataIsChecked) {
  TestModel none(3, 4, -1, 4, true, -1), zero(3, 4, -1, 4, true, 0);
  TestModel d1(3, 4, 48, 4, true, 48), d4(3, 3, 128, 1, true, 128), d1r1(3, 4, 64, 1, true, 64);
  for (TestModel* t : {&none, &zero, &d1, &d4, &d1r1}) {
    absl::StatusOr<Networks> n = BuildNetworks(*t->model);
    ASSERT_TRUE(n.ok()) << n.status();
  }
  EXPECT_EQ(BuildNetworks(*none.model)->skip_frames, (std::vector<int>{0, 0, 0}));
  EXPECT_EQ(BuildNetworks(*zero.model)->skip_frames, (std::vector<int>{0, 0, 0}));
  // hop 16 at resample 4: 48 samples = 3 deepest steps; 48 * 4 / 4^(i+1)
  EXPECT_EQ(BuildNetworks(*d1.model)->skip_frames, (std::vector<int>{48, 12, 3}));
  EXPECT_EQ(BuildNetworks(*d4.model)->skip_frames, (std::vector<int>{32, 8, 2}));
  EXPECT_EQ(BuildNetworks(*d4.model)->skip_delay, 128);   // hop 64 at depth 3, resample 1
  EXPECT_EQ(BuildNetworks(*d1r1.model)->skip_frames, (std::vector<int>{16, 4, 1}));
  // the latency check still applies (streaming + output_delay)
  EXPECT_EQ(d1.model->algorithmic_latency, none.model->algorithmic_latency + 48);
  auto bad = [](TestModel& t, const char* want) {
    absl::StatusOr<Networks> n = BuildNetworks(*t.model);
    ASSERT_FALSE(n.ok()) << t.model->metadata_json;
    EXPECT_NE(std::string(n.status().message()).find(want), std::string::npos) << n.status();
    EXPECT_FALSE(CreateDemucsFamily(t.model).ok());
  };
  TestModel odd(3, 4, 40, 4, true, 40);      // not a multiple of the hop (16)
  bad(odd, "skip_delay");
  TestModel mismatch(3, 4, 32, 4, true, 48);  // output_delay != skip_delay
  bad(mismatch, "output_delay");
  TestModel no_out(3, 4, -1, 4, true, 16);    // output_delay absent (0)
  no_out.model->algorithmic_latency += 16;
  bad(no_out, "output_delay");
  for (const char* v : {"-16", "16.0", "\"16\"", "true", "131072"}) {
    TestModel b(3, 4, 16, 4, true, 16);
    const std::string key = R"("skip_delay": 16)";
    b.model->metadata_json.replace(b.model->metadata_json.find(key), key.size(),
                                   absl::StrCat(R"("skip_delay": )", v));
    bad(b, "skip_delay");
  }
}

// metadata.demucs.norm_memory_frames: absent -> kDefaultNormMemorySeconds of frames; 0 and
// positive integers taken; anything else refused.
TEST(DemucsFamily, NormMemoryMetadataIsChecked) {
  auto with = [](const std::string& v) {
    TestModel t;
    t.model->metadata_json.insert(t.model->metadata_json.rfind("}}"),
                                  absl::StrCat(R"(, "norm_memory_frames": )", v));
    return t;
  };
  TestModel none;
  absl::StatusOr<Networks> n = BuildNetworks(*none.model);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(n->norm_frames, 3000);  // 3 s at 16 kHz, hop 16
  for (const auto& [v, want] : std::vector<std::pair<std::string, int>>{{"0", 0}, {"8", 8}}) {
    TestModel t = with(v);
    absl::StatusOr<Networks> m = BuildNetworks(*t.model);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->norm_frames, want);
  }
  for (const char* v : {"-1", "2.5", "\"8\"", "true", "33554432"}) {
    TestModel t = with(v);
    absl::StatusOr<Networks> m = BuildNetworks(*t.model);
    ASSERT_FALSE(m.ok()) << v;
    EXPECT_NE(std::string(m.status().message()).find("norm_memory_frames"), std::string::npos)
        << m.status();
  }
}

// A stream whose level changes: a long quiet lead-in, then a loud signal S. With a memory of N
// frames the running variance forgets the lead-in, and after many N frames of S the output is
// the output of a fresh stream fed S alone; without it (0, DemucsStreamer's cumulative mean)
// the lead-in keeps the variance low and the network sees S too loud for ever after.
TEST(DemucsFamily, RunningVarianceForgetsAQuietLeadIn) {
  auto run = [](const std::string& mem) {
    TestModel t;
    t.model->metadata_json.insert(t.model->metadata_json.rfind("}}"),
                                  absl::StrCat(R"(, "norm_memory_frames": )", mem));
    absl::StatusOr<std::unique_ptr<Family>> f = CreateDemucsFamily(t.model);
    EXPECT_TRUE(f.ok()) << f.status();
    const int hop = (*f)->hop_size(), lead = 600, hops = 400;
    const std::vector<float> quiet = Random(static_cast<size_t>(hop) * lead, 5, 0.002f);
    const std::vector<float> s = Random(static_cast<size_t>(hop) * hops, 6, 0.2f);
    std::vector<float> a(s.size()), b(s.size()), tmp(hop);
    auto ca = (*f)->NewChannel(), cb = (*f)->NewChannel();
    for (int k = 0; k < lead; ++k) (*f)->ProcessHop(*ca, quiet.data() + k * hop, tmp.data(), 1.f);
    for (int k = 0; k < hops; ++k) {
      (*f)->ProcessHop(*ca, s.data() + k * hop, a.data() + k * hop, 1.f);
      (*f)->ProcessHop(*cb, s.data() + k * hop, b.data() + k * hop, 1.f);
    }
    // the last quarter of S (after 300 hops of it: 37 memories of 8 frames)
    double e = 0, d = 0;
    for (size_t i = s.size() * 3 / 4; i < s.size(); ++i) {
      e += double(b[i]) * b[i];
      d += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    }
    return 10 * std::log10(e / std::max(d, 1e-30));
  };
  const double forgets = run("8"), never = run("0");
  std::printf("  after a quiet lead-in vs a fresh stream: memory 8 frames %.1f dB, "
              "never forgetting %.1f dB\n", forgets, never);
  EXPECT_GE(forgets, 60.0);
  EXPECT_LE(never, 40.0);
}

// The skip-delayed streaming engine vs the whole-signal forward with delayed skips
// (ProcessOffline: the skips shifted by k steps; a different implementation from the streaming
// delay lines). With resample 1 and no normalisation the streaming algorithm computes the
// whole-signal forward exactly (no resampler frame edges, no running variance), so the two
// agree to float rounding. Odd channel counts; delays shorter and longer than a level's window
// (level 0 of depth 3 has 36 steps per frame; D = 192 delays it by 48).
TEST(DemucsFamily, SkipDelayStreamingMatchesTheDelayedOfflineForward) {
  struct Case { int depth, hidden, delay; };
  for (const Case c : {Case{3, 3, 0}, Case{3, 3, 64}, Case{3, 5, 192}, Case{4, 3, 256},
                       Case{4, 2, 512}}) {
    TestModel tm(c.depth, c.hidden, c.delay, 1, false, c.delay);
    auto fam = CreateDemucsFamily(tm.model);
    ASSERT_TRUE(fam.ok()) << fam.status();
    absl::StatusOr<Networks> net = BuildNetworks(*tm.model);
    ASSERT_TRUE(net.ok());
    const int hop = (*fam)->hop_size(), lat = (*fam)->algorithmic_latency();
    const int stream_lat = net->StreamingLatency();
    ASSERT_EQ(lat, stream_lat + c.delay);
    const size_t n = static_cast<size_t>(hop) * 23;
    const std::vector<float> x = Random(n, 31 + c.delay, 0.3f);
    const std::vector<float> y = Stream(**fam, x);
    std::vector<float> ref(n);
    ASSERT_TRUE(ProcessOffline(*net, x.data(), n, ref.data()).ok());
    double peak = 0, worst = 0;
    for (size_t t = 0; t + stream_lat < n; ++t) peak = std::max(peak, std::fabs(double(ref[t])));
    for (size_t t = 0; t + stream_lat < n; ++t)
      worst = std::max(worst, std::fabs(double(y[t + stream_lat]) - ref[t]));
    EXPECT_GT(peak, 1e-3) << c.depth << " " << c.delay;
    EXPECT_LT(worst, 1e-5 * peak) << "depth " << c.depth << " delay " << c.delay << ": max |diff| "
                                  << worst << " of " << peak;
    if (c.delay > 0) {   // the delay lines matter: the undelayed model's output is far off
      TestModel plain(c.depth, c.hidden, -1, 1, false, -1);
      absl::StatusOr<Networks> pn = BuildNetworks(*plain.model);
      ASSERT_TRUE(pn.ok());
      std::vector<float> r0(n);
      ASSERT_TRUE(ProcessOffline(*pn, x.data(), n, r0.data()).ok());
      double diff = 0;
      for (size_t t = 0; t + stream_lat < n; ++t)
        diff = std::max(diff, std::fabs(double(y[t + stream_lat]) - r0[t]));
      EXPECT_GT(diff, 0.05 * peak) << c.delay;
    }
  }
}

// skip_delay 0 written out is the model without the key, bit for bit (streaming and offline).
TEST(DemucsFamily, SkipDelayZeroIsTheUndelayedModel) {
  TestModel none(3, 3, -1, 4, true, -1), zero(3, 3, -1, 4, true, 0);
  auto fa = CreateDemucsFamily(none.model);
  auto fb = CreateDemucsFamily(zero.model);
  ASSERT_TRUE(fa.ok() && fb.ok());
  const std::vector<float> x = Random(16 * 37, 8, 0.2f);
  EXPECT_EQ(Stream(**fa, x, 0.8f), Stream(**fb, x, 0.8f));
  std::vector<float> a(x.size()), b(x.size());
  ASSERT_TRUE(ProcessOffline(*BuildNetworks(*none.model), x.data(), x.size(), a.data()).ok());
  ASSERT_TRUE(ProcessOffline(*BuildNetworks(*zero.model), x.data(), x.size(), b.data()).ok());
  EXPECT_EQ(a, b);
}

// With normalisation and resample 4 (the streaming output is not the offline one there):
// Reset clears the delay lines (a second pass repeats the first), the dry signal is delayed by
// the whole latency, and ProcessHop allocates nothing.
TEST(DemucsFamily, SkipDelayStreamingResetsDelaysTheDrySignalAndDoesNotAllocate) {
  TestModel tm(4, 3, 80, 4, true, 80);   // hop 64 at depth 4: D = 80 is not a multiple
  EXPECT_FALSE(CreateDemucsFamily(tm.model).ok());
  TestModel ok(4, 3, 192, 4, true, 192);  // 3 steps at the deepest level, 192 at level 0
  auto fam = CreateDemucsFamily(ok.model);
  ASSERT_TRUE(fam.ok()) << fam.status();
  const int hop = (*fam)->hop_size(), lat = (*fam)->algorithmic_latency();
  const std::vector<float> x = Random(static_cast<size_t>(hop) * 29, 12, 0.1f);
  auto ch = (*fam)->NewChannel();
  const std::vector<float> a = Stream(**fam, x, 1.f, ch.get());
  ch->Reset();
  const std::vector<float> b = Stream(**fam, x, 1.f, ch.get());
  EXPECT_EQ(a, b);
  for (float v : a) ASSERT_TRUE(std::isfinite(v));
  const std::vector<float> dry = Stream(**fam, x, 0.f);
  for (size_t i = 0; i + lat < x.size(); ++i) ASSERT_FLOAT_EQ(dry[i + lat], x[i]) << i;
  std::vector<float> y(static_cast<size_t>(hop));
  const long before = g_allocations.load();
  float vad_max = 0;
  for (int k = 0; k < 12; ++k)
    vad_max = std::max(vad_max, (*fam)->ProcessHop(*ch, x.data() + k * hop, y.data(), 0.7f).vad);
  EXPECT_EQ(g_allocations.load() - before, 0);
  // no voice probability: the API refuses a VAD gate for this family
  EXPECT_FALSE((*fam)->computes_vad());
  EXPECT_EQ(vad_max, 0.f);
}

TEST(DemucsFamily, OfflineHandlesAnyLength) {
  TestModel tm;
  auto net = BuildNetworks(*tm.model);
  ASSERT_TRUE(net.ok());
  for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{113}, size_t{513}}) {
    std::vector<float> x = Random(n, 5, 0.1f), y(n, 1e9f);
    ASSERT_TRUE(ProcessOffline(*net, x.data(), n, y.data()).ok()) << n;
    for (float v : y) ASSERT_TRUE(std::isfinite(v) && std::fabs(v) < 1e3f) << n;
  }
}

TEST(DemucsFamily, StreamingIsDeterministicResettableAndDelaysTheDrySignal) {
  TestModel tm;
  auto fam = CreateDemucsFamily(tm.model);
  ASSERT_TRUE(fam.ok()) << fam.status();
  const int hop = (*fam)->hop_size(), lat = (*fam)->algorithmic_latency();
  const int hops = 40;
  const std::vector<float> x = Random(static_cast<size_t>(hop) * hops, 9, 0.1f);
  auto run = [&](models::ChannelState& ch, float strength) {
    std::vector<float> y(x.size());
    for (int k = 0; k < hops; ++k)
      (*fam)->ProcessHop(ch, x.data() + k * hop, y.data() + k * hop, strength);
    return y;
  };
  auto ch = (*fam)->NewChannel();
  const std::vector<float> a = run(*ch, 1.f);
  ch->Reset();
  const std::vector<float> b = run(*ch, 1.f);
  EXPECT_EQ(a, b);
  double energy = 0;
  for (int i = 0; i < lat; ++i) EXPECT_EQ(a[i], 0.f);
  for (size_t i = lat; i < a.size(); ++i) energy += a[i] * a[i];
  EXPECT_GT(energy, 0.0);
  auto ch2 = (*fam)->NewChannel();
  const std::vector<float> dry = run(*ch2, 0.f);
  for (size_t i = 0; i + lat < x.size(); ++i) ASSERT_FLOAT_EQ(dry[i + lat], x[i]) << i;
}

TEST(DemucsFamily, ProcessHopDoesNotAllocate) {
  TestModel tm(4, 4, 300);   // with an output delay line longer than the hop
  auto fam = CreateDemucsFamily(tm.model);
  ASSERT_TRUE(fam.ok()) << fam.status();
  auto ch = (*fam)->NewChannel();
  const int hop = (*fam)->hop_size();
  const std::vector<float> x = Random(static_cast<size_t>(hop), 4, 0.1f);
  std::vector<float> y(static_cast<size_t>(hop));
  const long before = g_allocations.load();
  // 20 hops: the first (full) frame and steady-state ones.
  for (int k = 0; k < 20; ++k) (*fam)->ProcessHop(*ch, x.data(), y.data(), 0.7f);
  EXPECT_EQ(g_allocations.load() - before, 0);
}

}  // namespace
}  // namespace ghostnv::models::demucs
