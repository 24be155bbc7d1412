// runtime/sched/cuda_plan_test.cc — the RNNoise pipeline on the GPU against its CPU twins
// (label gpu; skips with "no GPU: ..." without a driver or device).
//
//  - Frontend: kernels/rnnoise_pitch.cu against audio/filters + audio/pitch, hop by hop, for 7
//    streams at once on speech-like and random signals, in both CPU summation orders (AVX2 and
//    scalar): the high-passed frames and the pitch period and gain must be bit-identical.
//  - Whole model: N sessions (1, 3, 37) of noisy speech (../shared/data when present, else a
//    synthetic speech-like mix) through CudaPlan and through models::CreateFamily(...)
//    ->ProcessHop on the CPU (and 2500 sessions for a few hops), rows in a shuffled order,
//    sessions acquired and released mid-run,
//    mixed strengths: SNR of the difference >= 60 dB for every session (or the difference >= 100 dB
//    below the session's input, see RunWholeModel), same silence decisions.
#include "runtime/sched/cuda_plan.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "audio/filters.h"
#include "audio/pitch.h"
#include "gtest/gtest.h"
#include "kernels/cpu.h"
#include "kernels/rnnoise_layout.cuh"
#include "models/family.h"
#include "models/model_loader.h"
#include "models/rnnoise/rnnoise_family.h"
#include "runtime/gpu_test_util.h"
#include "runtime/sched/frontend_test_util.h"
#include "runtime/sched/network_tc_test_util.h"
#include "runtime/sched/rnnoise_kernels.h"

namespace ghostnv::sched {
namespace {

using runtime::DeviceBlock;
using runtime::testing::GpuEnv;
using runtime::testing::Rng;
namespace pitch = audio::pitch;

constexpr int kHop = RNN_HOP;

// ---- signals ----

// 16-bit PCM mono WAV (what ../shared/data holds); empty on any problem.
std::vector<float> ReadWav16(const std::string& path, int* rate) {
  std::ifstream f(path, std::ios::binary);
  std::vector<char> d((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto u32 = [&](size_t o) { uint32_t v; std::memcpy(&v, &d[o], 4); return v; };
  auto u16 = [&](size_t o) { uint16_t v; std::memcpy(&v, &d[o], 2); return v; };
  if (d.size() < 12 || std::memcmp(d.data(), "RIFF", 4) != 0 || std::memcmp(&d[8], "WAVE", 4) != 0) return {};
  size_t o = 12;
  int channels = 0, bits = 0;
  while (o + 8 <= d.size()) {
    const uint32_t size = u32(o + 4);
    if (std::memcmp(&d[o], "fmt ", 4) == 0 && o + 24 <= d.size()) {
      channels = u16(o + 10);
      *rate = static_cast<int>(u32(o + 12));
      bits = u16(o + 22);
    } else if (std::memcmp(&d[o], "data", 4) == 0) {
      if (channels != 1 || bits != 16) return {};
      const size_t n = std::min<size_t>(size, d.size() - o - 8) / 2;
      std::vector<float> x(n);
      for (size_t i = 0; i < n; ++i) {
        int16_t s;
        std::memcpy(&s, &d[o + 8 + 2 * i], 2);
        x[i] = s / 32768.f;
      }
      return x;
    }
    o += 8 + size + (size & 1);
  }
  return {};
}

// Concatenated 48 kHz files of a folder (sorted), up to max_samples.
std::vector<float> ReadFolder(const std::string& dir, size_t max_samples) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().extension() == ".wav") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  std::vector<float> all;
  for (const std::string& p : files) {
    int rate = 0;
    std::vector<float> x = ReadWav16(p, &rate);
    if (rate != 48000) continue;
    all.insert(all.end(), x.begin(), x.end());
    if (all.size() >= max_samples) break;
  }
  return all;
}

// Speech-like: harmonics of a gliding f0 with a syllable envelope, pauses of digital silence
// (exercising the silence gate), broadband noise.
std::vector<float> SyntheticSpeech(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g;
  std::uniform_real_distribution<double> u(0, 1);
  const double f_base = 90 + 160 * u(rng), rate = 2.5 + 3 * u(rng);
  std::vector<float> x(n);
  double phase = 0;
  for (size_t i = 0; i < n; ++i) {
    const double t = double(i) / 48000;
    const double f0 = f_base * (1 + 0.15 * std::sin(2 * M_PI * 0.7 * t));
    phase += 2 * M_PI * f0 / 48000;
    const double env = std::max(0.0, std::sin(2 * M_PI * rate * t));
    double v = 0;
    for (int h = 1; h <= 12; ++h) v += std::sin(h * phase + h) / h;
    x[i] = static_cast<float>(0.15 * env * v) + 0.01f * g(rng);
    if (std::fmod(t, 1.7) > 1.45) x[i] = 0.f;  // a pause
  }
  return x;
}

// The shared corpus mixed (speech + cafe noise), or synthetic speech; "what" says which.
const std::vector<float>& NoisySpeech(std::string* what) {
  static std::string source;
  static const std::vector<float> mix = [] {
    const char* shared = std::getenv("GHOSTNV_SHARED_DIR");
    std::vector<float> speech, noise;
    if (shared != nullptr) {
      speech = ReadFolder(std::string(shared) + "/data/speech/freeswitch_callie_en_us_48k", 48000 * 60);
      noise = ReadFolder(std::string(shared) + "/data/noise/soundpy_cafe_48k", 48000 * 30);
    }
    if (speech.size() < 48000 * 10 || noise.size() < 48000) {
      source = "synthetic speech-like signal (no ../shared/data)";
      std::vector<float> x = SyntheticSpeech(48000 * 30, 7);
      return x;
    }
    source = "shared/data: freeswitch_callie_en_us_48k + soundpy_cafe_48k";
    std::vector<float> x(speech.size());
    for (size_t i = 0; i < x.size(); ++i) x[i] = speech[i] + 0.5f * noise[i % noise.size()];
    return x;
  }();
  *what = source;
  return mix;
}

// Random weights scaled like a trained network's (std 0.5 / sqrt(fan-in), biases 0.1). With
// unscaled N(0, 0.3) weights the network itself amplifies 1-ulp differences in its inputs to
// audible ones (checked on the CPU: the GPU kernels emulated on the host, with the CPU's own
// FFT and network code, differ from ProcessHop by 9-34 dB for such models only because the band
// sums round differently; with these scaled weights they agree to 139 dB, like the default model).
// (network_tc_test_util.h: seed 11, layer widths 24/24/48/96, the RNNoise wiring.)
using tc_testing::DefaultModel;
using tc_testing::RandomModel;

// The shipped default model is in the parallel pitch order (metadata.rnnoise.pitch_order
// "parallel": its plans always run the parallel frontend, the CPU's exact twin). The tests of
// the CPU-order frontend kernels and of the relaxed frontend as an approximation of the
// sequential order run on its sequential copy: the same weights and switches, RNNoise's order.
std::shared_ptr<const models::Model> SequentialOrder(std::shared_ptr<const models::Model> m) {
  if (m == nullptr) return nullptr;
  auto c = std::make_shared<models::Model>(*m);
  const std::string from = R"("pitch_order":"parallel")";
  const size_t at = c->metadata_json.find(from);
  EXPECT_NE(at, std::string::npos) << "the shipped default model is not in the parallel order";
  if (at != std::string::npos) c->metadata_json.replace(at, from.size(), R"("pitch_order":"sequential")");
  return c;
}

// ---- the frontend kernel against audio/filters + audio/pitch ----

using testing_frontend::CpuFrontend;

class Frontend : public ::testing::TestWithParam<bool> {};

TEST_P(Frontend, MatchesTheCpuBitForBit) {
  GPU_TEST_OR_SKIP(env);
  const bool scalar = GetParam();
  if (!scalar && !kernels::CpuHasAvx2Fma()) GTEST_SKIP() << "this CPU has no AVX2/FMA";
  kernels::ForceScalar(scalar);
  absl::StatusOr<RnnoiseKernels> rk = RnnoiseKernels::Load(*env->ctx, runtime::CubinCache(env->cache_dir.path()));
  ASSERT_TRUE(rk.ok()) << rk.status();
  constexpr int kRows = 7, kStride = RNN_ST_GRU + 3;  // odd stride on purpose
  constexpr int kHops = 80;
  std::vector<std::vector<float>> sig;
  Rng rng(5);
  for (int r = 0; r < kRows; ++r) {
    if (r % 3 == 2) {
      sig.push_back(rng.Uniform(kHop * kHops, -0.5f, 0.5f));  // white noise
    } else {
      sig.push_back(SyntheticSpeech(kHop * kHops, 100 + r));
      for (float& v : sig.back()) v *= (r == 4 ? 30.f : 1.f);  // loud (clipping-range) stream
    }
  }
  const std::vector<float> w = audio::PowerComplementaryWindow(RNN_WINDOW);
  std::vector<int> ctl(16 + kRows, 0);
  ctl[0] = kRows;
  for (int b = 0; b < kRows; ++b) ctl[16 + b] = kRows - 1 - b;  // row b -> slot 6 - b
  DeviceBlock d_ctl = env->Upload(ctl), d_w = env->Upload(w);
  DeviceBlock d_state = env->Upload(std::vector<float>(kRows * kStride, 0.f));
  DeviceBlock d_in = env->Alloc(kRows * kHop), d_frames = env->Alloc(2 * kRows * RNN_WINDOW);
  std::vector<CpuFrontend> cpu(kRows);
  std::vector<float> in(kRows * kHop);
  int mismatched_periods = 0;
  for (int t = 0; t < kHops; ++t) {
    for (int b = 0; b < kRows; ++b) std::copy_n(&sig[b][t * kHop], kHop, &in[b * kHop]);
    ASSERT_EQ(d_in.CopyFromHostAsync(in.data(), in.size() * 4, *env->stream), cu::kSuccess);
    env->Poison(d_frames);
    ASSERT_EQ(rk->Frontend(d_in.ptr(), kHop, d_ctl.ptr(), d_state.ptr(), kStride, d_w.ptr(), d_frames.ptr(),
                           kRows, scalar ? 0 : 1, *env->stream),
              cu::kSuccess);
    std::vector<float> frames = env->Download(d_frames, 2 * kRows * RNN_WINDOW);
    std::vector<float> state = env->Download(d_state, kRows * kStride);
    for (int b = 0; b < kRows; ++b) {
      SCOPED_TRACE(::testing::Message() << "hop " << t << " row " << b);
      float frame[RNN_WINDOW], pframe[RNN_WINDOW], gain;
      int period;
      cpu[b].Hop(&in[b * kHop], w, frame, pframe, &period, &gain);
      const float* st = &state[(kRows - 1 - b) * kStride];
      int gpu_period;
      std::memcpy(&gpu_period, &st[RNN_ST_PERIOD], 4);
      if (gpu_period != period) ++mismatched_periods;
      ASSERT_EQ(gpu_period, period);
      ASSERT_EQ(st[RNN_ST_LAST_GAIN], gain);
      for (int i = 0; i < RNN_WINDOW; ++i) {
        ASSERT_EQ(frames[2 * b * RNN_WINDOW + i], frame[i]) << "analysis frame sample " << i;
        ASSERT_EQ(frames[(2 * b + 1) * RNN_WINDOW + i], pframe[i]) << "pitch frame sample " << i;
      }
    }
  }
  EXPECT_EQ(mismatched_periods, 0);
  kernels::ForceScalar(false);
}

INSTANTIATE_TEST_SUITE_P(SumOrder, Frontend, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "scalar" : "avx2"; });

// The relaxed-order frontend (rnn_frontend_relaxed_f32) on the device against its CPU twin,
// audio/pitch_parallel (rnnoise_kernels_host_test.cc checks the same on the host shim): bit for
// bit — analysis frame, pitch frame, period, gain, high-pass memory — on every row-hop. 8 rows
// (one block each: RemoveDoubling's speculative +-1 lags) and 3000 rows (more rows than the
// grid: blocks take rows from the atomic counter, the +-1 lags after the decision).
class RelaxedFrontend : public ::testing::TestWithParam<int> {};

TEST_P(RelaxedFrontend, IsTheParallelOrderBitForBit) {
  GPU_TEST_OR_SKIP(env);
  absl::StatusOr<RnnoiseKernels> rk = RnnoiseKernels::Load(*env->ctx, runtime::CubinCache(env->cache_dir.path()));
  ASSERT_TRUE(rk.ok()) << rk.status();
  const int kRows = GetParam(), kStride = RNN_ST_GRU + 3;
  const int kHops = kRows > 100 ? 10 : 60;
  std::vector<std::vector<float>> sig;
  Rng rng(17);
  for (int r = 0; r < kRows; ++r) {
    if (r % 5 == 2) {
      sig.push_back(rng.Uniform(kHop * kHops, -0.4f, 0.4f));  // white noise
    } else {
      sig.push_back(SyntheticSpeech(kHop * kHops, 300 + r));
      for (float& v : sig.back()) v *= (r % 7 == 4 ? 20.f : 1.f);  // loud (clipping-range) rows
    }
  }
  const std::vector<float> w = audio::PowerComplementaryWindow(RNN_WINDOW);
  std::vector<int> ctl(16 + kRows, 0);
  ctl[0] = kRows;
  for (int b = 0; b < kRows; ++b) ctl[16 + b] = kRows - 1 - b;
  DeviceBlock d_ctl = env->Alloc(ctl.size()), d_w = env->Upload(w);
  DeviceBlock d_state = env->Upload(std::vector<float>(size_t(kRows) * kStride, 0.f));
  DeviceBlock d_in = env->Alloc(size_t(kRows) * kHop), d_frames = env->Alloc(2 * size_t(kRows) * RNN_WINDOW);
  std::vector<CpuFrontend> cpu(kRows);
  for (auto& c : cpu)
    c.order = kernels::CpuHasAvx2Fma() ? CpuFrontend::Order::kParallelAvx2 : CpuFrontend::Order::kParallel;
  std::vector<float> in(size_t(kRows) * kHop);
  int mismatches = 0, row_hops = 0;
  for (int t = 0; t < kHops; ++t) {
    for (int b = 0; b < kRows; ++b) std::copy_n(&sig[b][size_t(t) * kHop], kHop, &in[size_t(b) * kHop]);
    ASSERT_EQ(d_in.CopyFromHostAsync(in.data(), in.size() * 4, *env->stream), cu::kSuccess);
    ASSERT_EQ(d_ctl.CopyFromHostAsync(ctl.data(), ctl.size() * 4, *env->stream), cu::kSuccess);  // (row counter 0)
    env->Poison(d_frames);
    ASSERT_EQ(rk->Frontend(d_in.ptr(), kHop, d_ctl.ptr(), d_state.ptr(), kStride, d_w.ptr(), d_frames.ptr(), kRows, 1,
                           *env->stream, false, true),
              cu::kSuccess);
    std::vector<float> frames = env->Download(d_frames, 2 * size_t(kRows) * RNN_WINDOW);
    std::vector<float> state = env->Download(d_state, size_t(kRows) * kStride);
    for (int b = 0; b < kRows; ++b) {
      float frame[RNN_WINDOW], pframe[RNN_WINDOW];
      cpu[b].Hop(&in[size_t(b) * kHop], w, frame, pframe);
      const float* st = &state[size_t(kRows - 1 - b) * kStride];
      int gpu_period;
      std::memcpy(&gpu_period, &st[RNN_ST_PERIOD], 4);
      const bool same = gpu_period == cpu[b].last_period && st[RNN_ST_LAST_GAIN] == cpu[b].last_gain &&
                        st[RNN_ST_HP] == cpu[b].mem[0] && st[RNN_ST_HP + 1] == cpu[b].mem[1] &&
                        std::memcmp(&frames[2 * size_t(b) * RNN_WINDOW], frame, sizeof(frame)) == 0 &&
                        std::memcmp(&frames[(2 * size_t(b) + 1) * RNN_WINDOW], pframe, sizeof(pframe)) == 0;
      ++row_hops;
      if (!same && ++mismatches <= 5)
        ADD_FAILURE() << "hop " << t << " row " << b << ": period " << gpu_period << " (cpu " << cpu[b].last_period
                      << "), gain " << st[RNN_ST_LAST_GAIN] << " (cpu " << cpu[b].last_gain << ")";
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << row_hops << " row-hops";
  std::printf("relaxed frontend on the GPU vs the parallel order: %d row-hops, %d mismatches\n", row_hops, mismatches);
}

INSTANTIATE_TEST_SUITE_P(Rows, RelaxedFrontend, ::testing::Values(8, 3000));

// ---- the whole model ----

struct Lifetime {
  int slot = -1;
  int start = 0, end = 0;  // hops [start, end)
  size_t offset = 0;       // into the signal
  float strength = 1.f;
  std::unique_ptr<models::ChannelState> ch;
  double ref_energy = 0, err_energy = 0, in_energy = 0;
  int hops = 0, silent_mismatch = 0, silent_hops = 0;
  double max_vad_diff = 0;
};

// fused: CudaPlanOptions::fused_spectra (the default) or the split kernels after the frontend.
// order: CudaPlanOptions::frontend_order. kCpu: the pitch decisions are the CPU's bit for bit;
// every session >= 60 dB, VAD within 1e-3. kRelaxed: a near-tie may flip a period on some hop
// (another pitch-delayed frame and pitch features there), so: >= 99.5 % of the sessions >= 60 dB,
// every one >= 50 dB, VAD within 0.05 (H200, 2026-11-29: worst 57.1 dB in 1 of 2500 sessions,
// 68.5 dB of 37, VAD 0.022 — the issue's >= 60 dB in every session is not met; cuda_plan.h).
void RunWholeModel(std::shared_ptr<const models::Model> model, int sessions, int hops, uint32_t seed,
                   bool fused = true, FrontendOrder order = FrontendOrder::kCpu, bool lane_hp = false) {
  std::string what;
  const std::vector<float>& signal = NoisySpeech(&what);
  std::cout << "signal: " << what << ", model: " << model->name << ", sessions: " << sessions << "\n";
  absl::StatusOr<std::unique_ptr<models::Family>> fam = models::CreateFamily(model);
  ASSERT_TRUE(fam.ok()) << fam.status();
  CudaPlanOptions o;
  o.device = "cuda:0";
  o.max_sessions = sessions + 2;
  o.kernel_cache_dir = GpuEnv()->cache_dir.path();
  o.fused_spectra = fused;
  o.frontend_order = order;
  o.lane_highpass = lane_hp;
  absl::StatusOr<std::unique_ptr<CudaPlan>> plan = CudaPlan::Create(model, o);
  ASSERT_TRUE(plan.ok()) << plan.status();
  CudaPlan& p = **plan;
  ASSERT_EQ(p.hop_size(), kHop);
  double worst_snr = 999, worst_vad = 0;
  int below60 = 0, counted = 0;
  std::cout << "device: " << p.device_description() << "\n";

  // Lifetimes: every session starts at some hop; a third of them are released mid-run and a new
  // session takes a slot (fresh state) from the next hop on.
  std::mt19937 rng(seed);
  std::vector<Lifetime> lives;
  const size_t span = signal.size() - static_cast<size_t>(hops) * kHop - 1;
  for (int s = 0; s < sessions; ++s) {
    const int start = s == 0 ? 0 : static_cast<int>(rng() % (hops / 4));
    const bool split = s % 3 == 1 && hops > 40;
    const int cut = split ? start + static_cast<int>((hops - start) / 2) : hops;
    const float strength = s % 4 == 3 ? 0.7f : 1.f;
    lives.push_back({-1, start, cut, rng() % span, strength, nullptr});
    if (split) lives.push_back({-1, cut + 1, hops, rng() % span, 1.f, nullptr});
  }
  std::vector<int> slots, rows_of;
  std::vector<float> strengths;
  std::vector<float> cpu_out(kHop);
  for (int t = 0; t < hops; ++t) {
    for (Lifetime& l : lives) {
      if (l.slot >= 0 && t == l.end) {
        p.ReleaseSlot(l.slot);
        l.slot = -2;
      }
    }
    for (Lifetime& l : lives) {
      if (l.slot == -1 && t == l.start) {
        absl::StatusOr<int> s = p.AcquireSlot();
        ASSERT_TRUE(s.ok()) << s.status();
        l.slot = *s;
        l.ch = (*fam)->NewChannel();
      }
    }
    rows_of.clear();
    for (int i = 0; i < static_cast<int>(lives.size()); ++i)
      if (lives[i].slot >= 0) rows_of.push_back(i);
    std::shuffle(rows_of.begin(), rows_of.end(), rng);
    slots.clear();
    strengths.clear();
    for (size_t b = 0; b < rows_of.size(); ++b) {
      Lifetime& l = lives[rows_of[b]];
      const float* in = &signal[l.offset + static_cast<size_t>(t - l.start) * kHop];
      std::copy_n(in, kHop, p.input_rows() + b * kHop);
      slots.push_back(l.slot);
      strengths.push_back(l.strength);
    }
    const int n = static_cast<int>(rows_of.size());
    ASSERT_EQ(p.Submit(slots.data(), strengths.data(), n), cu::kSuccess);
    ASSERT_EQ(p.Wait(), cu::kSuccess);
    for (int b = 0; b < n; ++b) {
      Lifetime& l = lives[rows_of[b]];
      const float* in = &signal[l.offset + static_cast<size_t>(t - l.start) * kHop];
      const models::HopInfo info = (*fam)->ProcessHop(*l.ch, in, cpu_out.data(), l.strength);
      const float* gpu = p.output_rows() + static_cast<size_t>(b) * kHop;
      for (int i = 0; i < kHop; ++i) {
        ASSERT_TRUE(std::isfinite(gpu[i])) << "hop " << t << " row " << b;
        const double d = static_cast<double>(gpu[i]) - cpu_out[i];
        l.err_energy += d * d;
        l.ref_energy += static_cast<double>(cpu_out[i]) * cpu_out[i];
        l.in_energy += static_cast<double>(in[i]) * in[i];
      }
      const CudaHopInfo gi = p.info()[b];
      ++l.hops;
      l.silent_hops += info.silent ? 1 : 0;
      if ((gi.silent != 0) != info.silent) ++l.silent_mismatch;
      else if (!info.silent) l.max_vad_diff = std::max(l.max_vad_diff, std::abs(double(gi.vad) - info.vad));
    }
  }
  for (size_t i = 0; i < lives.size(); ++i) {
    const Lifetime& l = lives[i];
    if (l.hops == 0) continue;
    const double snr = l.err_energy == 0 ? 999 : 10 * std::log10(l.ref_energy / l.err_energy);
    const double below_in = l.err_energy == 0 ? 999 : 10 * std::log10(l.in_energy / l.err_energy);
    // >= 60 dB SNR of the difference, or a difference >= 100 dB below the session's input: a
    // session that is digital silence except for a few samples at the end of its last hop has
    // a CPU output that is only FFT rounding residue (silent hops pass the spectrum through, and
    // the emitted half of that window is exactly zero), which the GPU's FFT rounds differently
    // (-3 dB "SNR", > 150 dB below the input; sessions 1850/2048/2301/2385 of the 2500-session
    // run before 2026-11-28 17:00; reproduced on the host by rnnoise_kernels_host_test's
    // Fft/HostBatch.*).
    const bool relaxed = order == FrontendOrder::kRelaxed;
    const bool ok = snr >= (relaxed ? 50.0 : 60.0) || below_in >= 100.0;
    below60 += snr < 60.0 && below_in < 100.0;
    ++counted;
    if (i < 4 || snr < 60 || l.silent_mismatch > 0)
      std::printf("session %zu: %d hops (%d silent), strength %.1f, SNR of the difference %.1f dB "
                  "(%.1f dB below the input), max |vad diff| %.2g, silence mismatches %d\n",
                  i, l.hops, l.silent_hops, l.strength, snr, below_in, l.max_vad_diff, l.silent_mismatch);
    EXPECT_TRUE(ok) << "session " << i << ": SNR of the difference " << snr << " dB, " << below_in
                    << " dB below the input";
    EXPECT_EQ(l.silent_mismatch, 0) << "session " << i;
    EXPECT_LT(l.max_vad_diff, order == FrontendOrder::kRelaxed ? 0.05 : 1e-3) << "session " << i;
    if (below_in < 100.0) worst_snr = std::min(worst_snr, snr);
    worst_vad = std::max(worst_vad, l.max_vad_diff);
  }
  absl::StatusOr<models::rnnoise::DspOptions> dsp = models::rnnoise::DspOptionsOf(*model);
  const char* order_name = (dsp.ok() && dsp->parallel_pitch) ? "parallel-order model (parallel)"
                           : order == FrontendOrder::kRelaxed ? "relaxed"
                                                               : "cpu-order";
  std::printf("%s frontend, %d sessions (%d lifetimes): worst session %.1f dB, %d below 60 dB, max |vad diff| %.2g\n",
              order_name, sessions, counted, worst_snr, below60,
              worst_vad);
  EXPECT_LE(below60, counted / 200) << "sessions below 60 dB";
  for (Lifetime& l : lives)
    if (l.slot >= 0) p.ReleaseSlot(l.slot);
}

class WholeModel : public ::testing::TestWithParam<int> {};

TEST_P(WholeModel, DefaultModelMatchesTheCpuFamily) {
  GPU_TEST_OR_SKIP(env);
  std::shared_ptr<const models::Model> m = SequentialOrder(DefaultModel());
  if (m == nullptr) GTEST_SKIP() << "models/weights/default.gnvm not found (GHOSTNV_SOURCE_DIR)";
  // 2500 sessions: more rows than the kernels' grids have blocks (16 per SM), so blocks loop.
  const int hops = GetParam() > 1000 ? 24 : (GetParam() > 8 ? 300 : 600);
  RunWholeModel(m, GetParam(), hops, 17 + GetParam());
}

INSTANTIATE_TEST_SUITE_P(Sessions, WholeModel, ::testing::Values(1, 3, 37, 2500));

// The relaxed-order frontend (CudaPlanOptions::frontend_order = kRelaxed) against the CPU family
// (RunWholeModel's kRelaxed bounds; the CPU-order frontend keeps the bit-for-bit pitch decisions:
// Frontend.*).
class RelaxedWholeModel : public ::testing::TestWithParam<int> {};

TEST_P(RelaxedWholeModel, DefaultModelMatchesTheCpuFamily) {
  GPU_TEST_OR_SKIP(env);
  std::shared_ptr<const models::Model> m = SequentialOrder(DefaultModel());
  if (m == nullptr) GTEST_SKIP() << "models/weights/default.gnvm not found (GHOSTNV_SOURCE_DIR)";
  const int n = GetParam(), hops = n > 1000 ? 24 : (n > 8 ? 300 : 600);
  RunWholeModel(m, n, hops, 57 + n, true, FrontendOrder::kRelaxed);
}

INSTANTIATE_TEST_SUITE_P(Sessions, RelaxedWholeModel, ::testing::Values(1, 37, 2500));

// kRelaxed with lane_highpass: the CPU's high-pass chain (rnn_highpass_*, batches of >= 128 rows)
// and rnn_frontend_relaxed_hp (not yet run on the H200: written after session 12's device call).
TEST(RelaxedWholeModelLaneHighpass, DefaultModelMatchesTheCpuFamily) {
  GPU_TEST_OR_SKIP(env);
  std::shared_ptr<const models::Model> m = SequentialOrder(DefaultModel());
  if (m == nullptr) GTEST_SKIP() << "models/weights/default.gnvm not found (GHOSTNV_SOURCE_DIR)";
  RunWholeModel(m, 2500, 24, 57 + 2500, true, FrontendOrder::kRelaxed, true);
}

// The shipped default model as it is (the parallel pitch order): whatever frontend_order asks,
// the plan runs rnn_frontend_relaxed_*, the exact twin of the CPU family's order, so every
// session must meet the strict bounds (>= 60 dB, VAD within 1e-3) at every plan size — the
// batched mode's fast frontend without the 1-in-2500 near-tie flips of the sequential order.
class ParallelOrderWholeModel : public ::testing::TestWithParam<int> {};

TEST_P(ParallelOrderWholeModel, DefaultModelMatchesTheCpuFamily) {
  GPU_TEST_OR_SKIP(env);
  std::shared_ptr<const models::Model> m = DefaultModel();
  if (m == nullptr) GTEST_SKIP() << "models/weights/default.gnvm not found (GHOSTNV_SOURCE_DIR)";
  ASSERT_NE(m->metadata_json.find(R"("pitch_order":"parallel")"), std::string::npos);
  const int n = GetParam();
  const int hops = n >= 1000 ? 24 : 300;
  RunWholeModel(m, n, hops, 77 + n, true, FrontendOrder::kCpu);   // (the model's order wins)
  if (n >= 1000) RunWholeModel(m, n, hops, 78 + n, true, FrontendOrder::kAuto);
}

INSTANTIATE_TEST_SUITE_P(Sessions, ParallelOrderWholeModel, ::testing::Values(1, 37, 2500));

TEST(CudaPlanGpu, FrontendOrderAutoIsRelaxedForBigPlans) {
  EXPECT_EQ(ResolveFrontendOrder(FrontendOrder::kAuto, kAutoTcMinSessions), FrontendOrder::kRelaxed);
  EXPECT_EQ(ResolveFrontendOrder(FrontendOrder::kAuto, kAutoTcMinSessions - 1), FrontendOrder::kCpu);
  EXPECT_EQ(ResolveFrontendOrder(FrontendOrder::kCpu, 1 << 16), FrontendOrder::kCpu);
  EXPECT_EQ(ResolveFrontendOrder(FrontendOrder::kRelaxed, 1), FrontendOrder::kRelaxed);
}

// Both kernel sets after the frontend (CudaPlanOptions::fused_spectra: rnn_spec_features_f32 +
// rnn_post_synthesis_*, or the FFTs, features, postprocess and synthesis apart) against the CPU
// family at odd session counts (GHOSTNV_CUDA_PLAN_FUSED must not be set: it overrides the option).
class FusedSpectra : public ::testing::TestWithParam<int> {};

TEST_P(FusedSpectra, SplitAndFusedMatchTheCpuFamily) {
  GPU_TEST_OR_SKIP(env);
  std::shared_ptr<const models::Model> m = DefaultModel();
  if (m == nullptr) m = RandomModel(false, kernels::MathMode::kExact);
  const int n = GetParam(), hops = n >= 500 ? 16 : (n >= 100 ? 40 : 150);
  for (bool fused : {true, false}) {
    SCOPED_TRACE(fused ? "fused" : "split");
    std::printf("%s kernels after the frontend:\n", fused ? "fused" : "split");
    RunWholeModel(m, n, hops, 31 + n, fused);
  }
}

INSTANTIATE_TEST_SUITE_P(Sessions, FusedSpectra, ::testing::Values(1, 7, 113, 513));

// Our own models' DSP switches (metadata.rnnoise, models/rnnoise/rnnoise_family.h): no input
// high-pass; the pitch filter at half strength with a gain slope; neither. The plan reads them
// from the model and must match the CPU family built from the same model (>= 60 dB per session,
// as the default model).
TEST(WholeModelDsp, SwitchesMatchTheCpuFamily) {
  GPU_TEST_OR_SKIP(env);
  std::shared_ptr<const models::Model> base = DefaultModel();
  if (base == nullptr) base = RandomModel(false, kernels::MathMode::kExact);
  for (const char* meta : {R"({"rnnoise": {"highpass": false}})",
                           R"({"rnnoise": {"pitch_filter": 0.5, "pitch_filter_gain_slope": 3}})",
                           R"({"rnnoise": {"highpass": false, "pitch_filter": false}})"}) {
    SCOPED_TRACE(meta);
    auto m = std::make_shared<models::Model>(*base);
    m->metadata_json = meta;
    RunWholeModel(m, 5, 200, 11);
    RunWholeModel(m, 300, 16, 12);
  }
  // A malformed switch fails the plan as it fails the CPU family.
  auto bad = std::make_shared<models::Model>(*base);
  bad->metadata_json = R"({"rnnoise": {"highpass": 1}})";
  CudaPlanOptions o;
  o.kernel_cache_dir = GpuEnv()->cache_dir.path();
  EXPECT_EQ(CudaPlan::Create(bad, o).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(WholeModelRandom, BothGruVariantsAndMathModes) {
  GPU_TEST_OR_SKIP(env);
  for (bool reset_after : {false, true})
    for (auto math : {kernels::MathMode::kExact, kernels::MathMode::kRnnoiseApprox}) {
      SCOPED_TRACE(::testing::Message() << "reset_after " << reset_after << " math " << int(math));
      RunWholeModel(RandomModel(reset_after, math), 5, 150, 3);
    }
}

TEST(CudaPlanGpu, SlotsAndArguments) {
  GPU_TEST_OR_SKIP(env);
  std::shared_ptr<const models::Model> m = RandomModel(false, kernels::MathMode::kExact);
  CudaPlanOptions o;
  o.max_sessions = 3;
  o.realtime = true;
  o.kernel_cache_dir = env->cache_dir.path();
  absl::StatusOr<std::unique_ptr<CudaPlan>> plan = CudaPlan::Create(m, o);
  ASSERT_TRUE(plan.ok()) << plan.status();
  CudaPlan& p = **plan;
  std::vector<int> s;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<int> a = p.AcquireSlot();
    ASSERT_TRUE(a.ok());
    s.push_back(*a);
  }
  EXPECT_TRUE(absl::IsResourceExhausted(p.AcquireSlot().status()));
  const float ones[3] = {1, 1, 1};
  const int dup[2] = {s[0], s[0]};
  EXPECT_EQ(p.Submit(dup, ones, 2), cu::kErrorInvalidValue);
  const int bad[1] = {7};
  EXPECT_EQ(p.Submit(bad, ones, 1), cu::kErrorInvalidValue);
  EXPECT_EQ(p.Submit(s.data(), ones, 4), cu::kErrorInvalidValue);
  EXPECT_EQ(p.Submit(s.data(), ones, 0), cu::kSuccess);
  EXPECT_EQ(p.Wait(), cu::kSuccess);
  p.ReleaseSlot(s[1]);
  const int released[1] = {s[1]};
  EXPECT_EQ(p.Submit(released, ones, 1), cu::kErrorInvalidValue);
  // Strength 0: the output is the input delayed by one hop.
  std::vector<float> x = SyntheticSpeech(kHop * 3, 9);
  const int one[1] = {s[0]};
  const float zero[1] = {0.f};
  for (int t = 0; t < 3; ++t) {
    std::copy_n(&x[t * kHop], kHop, p.input_rows());
    ASSERT_EQ(p.Submit(one, zero, 1), cu::kSuccess);
    ASSERT_EQ(p.Wait(), cu::kSuccess);
    EXPECT_EQ(p.Query(), cu::kSuccess);
    for (int i = 0; i < kHop; ++i) ASSERT_EQ(p.output_rows()[i], t == 0 ? 0.f : x[(t - 1) * kHop + i]);
  }
}

// 16-bit PCM rows: a pcm16 plan fed int16 x and a float plan fed x / 32768 compute the same
// floats, so the int16 output is exactly the float output * 32768 rounded to the nearest (ties to
// even) and clamped; loud rows clip.
// The default network precision (kAuto): a plan of >= kAutoTcMinSessions slots runs the split
// fp16 tensor-core network (fp16x3), within 100 dB of the fp32 network's output; a small plan
// runs the fp32 network itself (bit-identical to an explicit kFp32 plan). Same noisy rows in
// both plans, rows reshuffled every hop, batches of the whole bucket down to 700 rows.
TEST(CudaPlanGpu, AutoNetworkIsFp32GradeAndFp32ForSmallPlans) {
  GPU_TEST_OR_SKIP(env);
  std::shared_ptr<const models::Model> m = DefaultModel();
  if (m == nullptr) m = RandomModel(false, kernels::MathMode::kExact);
  EXPECT_EQ(ResolveNetworkPrecision(NetworkPrecision::kAuto, kAutoTcMinSessions), NetworkPrecision::kFp16x3);
  for (const int sessions : {kAutoTcMinSessions + 404, 64}) {
    CudaPlanOptions o;
    o.max_sessions = sessions;
    o.kernel_cache_dir = env->cache_dir.path();
    absl::StatusOr<std::unique_ptr<CudaPlan>> aut = CudaPlan::Create(m, o);  // o.network = kAuto
    ASSERT_TRUE(aut.ok()) << aut.status();
    o.network = NetworkPrecision::kFp32;
    absl::StatusOr<std::unique_ptr<CudaPlan>> f32 = CudaPlan::Create(m, o);
    ASSERT_TRUE(f32.ok()) << f32.status();
    std::vector<int> slots;
    for (int i = 0; i < sessions; ++i) {
      absl::StatusOr<int> a = (*aut)->AcquireSlot(), b = (*f32)->AcquireSlot();
      ASSERT_TRUE(a.ok() && b.ok());
      ASSERT_EQ(*a, *b);
      slots.push_back(*a);
    }
    const std::vector<float> sig = SyntheticSpeech(kHop * (12 + 400), 91);
    const std::vector<float> strengths(sessions, 1.f);
    std::mt19937 rng(9);
    long long identical = 0, total = 0;
    double err = 0, ref = 0;
    for (int t = 0; t < 12; ++t) {
      const int n = t % 3 == 2 ? std::min(sessions, 700) : sessions;
      std::shuffle(slots.begin(), slots.end(), rng);
      for (int b = 0; b < n; ++b) {
        const float* x = &sig[(static_cast<size_t>(slots[b]) * 37 % 400 + t) * kHop];
        std::copy(x, x + kHop, (*aut)->input_rows() + static_cast<size_t>(b) * kHop);
        std::copy(x, x + kHop, (*f32)->input_rows() + static_cast<size_t>(b) * kHop);
      }
      ASSERT_EQ((*aut)->Submit(slots.data(), strengths.data(), n), cu::kSuccess);
      ASSERT_EQ((*f32)->Submit(slots.data(), strengths.data(), n), cu::kSuccess);
      ASSERT_EQ((*aut)->Wait(), cu::kSuccess);
      ASSERT_EQ((*f32)->Wait(), cu::kSuccess);
      for (size_t i = 0; i < static_cast<size_t>(n) * kHop; ++i) {
        const double a = (*f32)->output_rows()[i], c = (*aut)->output_rows()[i];
        ASSERT_TRUE(std::isfinite(c)) << "hop " << t << " sample " << i;
        identical += a == c ? 1 : 0;
        ++total;
        err += (a - c) * (a - c);
        ref += a * a;
      }
      for (int b = 0; b < n; ++b) {
        ASSERT_EQ((*aut)->info()[b].silent, (*f32)->info()[b].silent) << "hop " << t << " row " << b;
        EXPECT_NEAR((*aut)->info()[b].vad, (*f32)->info()[b].vad, 1e-3) << "hop " << t << " row " << b;
      }
    }
    const double snr = err == 0 ? 999 : 10 * std::log10(ref / err);
    std::printf("auto network, %d sessions: %lld of %lld samples bit-identical to the fp32 plan, SNR of the "
                "difference %.1f dB\n", sessions, identical, total, snr);
    EXPECT_GT(ref, 0.0);
    if (sessions >= kAutoTcMinSessions) {
      EXPECT_GE(snr, 100.0);
      EXPECT_LT(identical, total);  // the tensor-core network did run
    } else {
      EXPECT_EQ(identical, total);
    }
  }
}

TEST(CudaPlanGpu, Pcm16MatchesTheFloatPlan) {
  GPU_TEST_OR_SKIP(env);
  std::shared_ptr<const models::Model> m = DefaultModel();
  if (m == nullptr) m = RandomModel(false, kernels::MathMode::kExact);
  constexpr int kSessions = 5, kHops = 60;
  CudaPlanOptions o;
  o.max_sessions = kSessions;
  o.kernel_cache_dir = env->cache_dir.path();
  absl::StatusOr<std::unique_ptr<CudaPlan>> pf = CudaPlan::Create(m, o);
  ASSERT_TRUE(pf.ok()) << pf.status();
  o.pcm16 = true;
  absl::StatusOr<std::unique_ptr<CudaPlan>> ps = CudaPlan::Create(m, o);
  ASSERT_TRUE(ps.ok()) << ps.status();
  EXPECT_EQ((*ps)->input_rows(), nullptr);
  EXPECT_EQ((*pf)->input_rows16(), nullptr);
  ASSERT_NE((*ps)->input_rows16(), nullptr);
  std::vector<int> slots;
  for (int i = 0; i < kSessions; ++i) {
    absl::StatusOr<int> a = (*pf)->AcquireSlot(), b = (*ps)->AcquireSlot();
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(*a, *b);
    slots.push_back(*a);
  }
  std::vector<std::vector<float>> sig;
  for (int s = 0; s < kSessions; ++s) sig.push_back(SyntheticSpeech(kHop * kHops, 40 + s));
  const std::vector<float> strengths = {1.f, 1.f, .7f, 1.f, 1.f};
  int clipped = 0;
  for (int t = 0; t < kHops; ++t) {
    for (int b = 0; b < kSessions; ++b)
      for (int i = 0; i < kHop; ++i) {
        const float v = sig[b][t * kHop + i] * (b == 3 ? 12.f : 1.f);  // session 3 clips
        const auto q = static_cast<int16_t>(std::clamp(std::lrint(v * 32768.f), -32768L, 32767L));
        (*ps)->input_rows16()[b * kHop + i] = q;
        (*pf)->input_rows()[b * kHop + i] = q / 32768.f;
      }
    ASSERT_EQ((*pf)->Submit(slots.data(), strengths.data(), kSessions), cu::kSuccess);
    ASSERT_EQ((*ps)->Submit(slots.data(), strengths.data(), kSessions), cu::kSuccess);
    ASSERT_EQ((*pf)->Wait(), cu::kSuccess);
    ASSERT_EQ((*ps)->Wait(), cu::kSuccess);
    for (int i = 0; i < kSessions * kHop; ++i) {
      const double q = std::nearbyint(static_cast<double>((*pf)->output_rows()[i]) * 32768.0);
      clipped += std::abs(q) > 32767 ? 1 : 0;
      ASSERT_EQ((*ps)->output_rows16()[i], static_cast<int16_t>(std::clamp(q, -32768.0, 32767.0)))
          << "hop " << t << " sample " << i;
    }
    for (int b = 0; b < kSessions; ++b) {
      EXPECT_EQ((*ps)->info()[b].silent, (*pf)->info()[b].silent);
      EXPECT_EQ((*ps)->info()[b].vad, (*pf)->info()[b].vad);
    }
  }
  std::printf("pcm16 plan: %d hops x %d sessions bit-identical to the float plan (%d output samples clipped)\n",
              kHops, kSessions, clipped);
}

// The copy/compute pipeline (CudaPlanOptions::batch_chunks): a plan that splits its buckets into
// row chunks on several streams gives exactly the output of a plan that does not (same kernels
// per row; only the grids, streams and copies differ). Batches smaller than the bucket leave
// chunks empty or partly used; rows are reshuffled every hop; float and 16-bit PCM rows.
class Chunked : public ::testing::TestWithParam<bool> {};

TEST_P(Chunked, PipelineMatchesOneChunk) {
  GPU_TEST_OR_SKIP(env);
  const bool pcm16 = GetParam();
  std::shared_ptr<const models::Model> m = DefaultModel();
  if (m == nullptr) m = RandomModel(false, kernels::MathMode::kExact);
  constexpr int kSessions = 4500, kHops = 10;
  CudaPlanOptions o;
  o.max_sessions = kSessions;
  o.pcm16 = pcm16;
  o.kernel_cache_dir = env->cache_dir.path();
  o.network = NetworkPrecision::kFp32;  // the chunking alone (kAuto would pick fp16x3 here)
  o.batch_chunks = 1;
  absl::StatusOr<std::unique_ptr<CudaPlan>> one = CudaPlan::Create(m, o);
  ASSERT_TRUE(one.ok()) << one.status();
  o.batch_chunks = 4;
  absl::StatusOr<std::unique_ptr<CudaPlan>> four = CudaPlan::Create(m, o);
  ASSERT_TRUE(four.ok()) << four.status();
  o.batch_chunks = 17;
  EXPECT_EQ(CudaPlan::Create(m, o).status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<int> slots;
  for (int i = 0; i < kSessions; ++i) {
    absl::StatusOr<int> a = (*one)->AcquireSlot(), b = (*four)->AcquireSlot();
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(*a, *b);
    slots.push_back(*a);
  }
  const std::vector<float> sig = SyntheticSpeech(kHop * (kHops + 400), 77);
  std::mt19937 rng(5);
  std::vector<float> strengths(kSessions);
  for (int i = 0; i < kSessions; ++i) strengths[i] = i % 5 == 4 ? .6f : 1.f;
  // Batches: the whole bucket (4 chunks), part of it, one chunk's worth plus one row, 1 chunk.
  const int batches[] = {kSessions, 3000, 2049, 700, kSessions};
  long long identical = 0, total = 0;
  double err = 0, ref = 0;
  for (int t = 0; t < kHops; ++t) {
    const int n = batches[t % 5];
    std::shuffle(slots.begin(), slots.end(), rng);  // rows -> slots; the first n run this hop
    for (int b = 0; b < n; ++b) {
      const float* x = &sig[(static_cast<size_t>(slots[b]) * 37 % 400 + t) * kHop];
      for (int i = 0; i < kHop; ++i) {
        if (pcm16) {
          const auto q = static_cast<int16_t>(std::clamp(std::lrint(x[i] * 32768.f), -32768L, 32767L));
          (*one)->input_rows16()[static_cast<size_t>(b) * kHop + i] = q;
          (*four)->input_rows16()[static_cast<size_t>(b) * kHop + i] = q;
        } else {
          (*one)->input_rows()[static_cast<size_t>(b) * kHop + i] = x[i];
          (*four)->input_rows()[static_cast<size_t>(b) * kHop + i] = x[i];
        }
      }
    }
    ASSERT_EQ((*one)->Submit(slots.data(), strengths.data(), n), cu::kSuccess);
    ASSERT_EQ((*four)->Submit(slots.data(), strengths.data(), n), cu::kSuccess);
    ASSERT_EQ((*one)->Wait(), cu::kSuccess);
    ASSERT_EQ((*four)->Wait(), cu::kSuccess);
    for (size_t i = 0; i < static_cast<size_t>(n) * kHop; ++i) {
      const double a = pcm16 ? (*one)->output_rows16()[i] : (*one)->output_rows()[i];
      const double c = pcm16 ? (*four)->output_rows16()[i] : (*four)->output_rows()[i];
      ASSERT_TRUE(std::isfinite(c)) << "hop " << t << " sample " << i;
      identical += a == c ? 1 : 0;
      ++total;
      err += (a - c) * (a - c);
      ref += a * a;
    }
    for (int b = 0; b < n; ++b) {
      ASSERT_EQ((*four)->info()[b].silent, (*one)->info()[b].silent) << "hop " << t << " row " << b;
      EXPECT_NEAR((*four)->info()[b].vad, (*one)->info()[b].vad, 1e-6) << "hop " << t << " row " << b;
    }
  }
  const double snr = err == 0 ? 999 : 10 * std::log10(ref / err);
  std::printf("chunked plan (%s rows): %lld of %lld output samples bit-identical to the one-chunk plan, SNR of "
              "the difference %.1f dB\n",
              pcm16 ? "int16" : "float", identical, total, snr);
  // Bit-identical unless the network kernels pick another tiling for a chunk's row count.
  EXPECT_GE(snr, 100.0);
  EXPECT_GT(ref, 0.0);
}

// CudaPlanOptions::lane_chains (the frontend as rnn_frontend_lp_* -> rnn_lpc_lanes ->
// rnn_frontend_tail through a per-row scratch; float rows: after the fused high-pass, 16-bit PCM
// rows: with lane_highpass too) against the default fused frontend: the same operations, so
// every output sample, period decision and VAD is bit-identical. Chunked plans (4 chunks on
// several streams, each chunk its own scratch rows); batches of the whole bucket down to 100 rows
// (< 128: the fused frontend either way); rows reshuffled every hop.
TEST_P(Chunked, LaneChainsMatchTheFusedFrontendBitForBit) {
  GPU_TEST_OR_SKIP(env);
  const bool pcm16 = GetParam();
  std::shared_ptr<const models::Model> m = SequentialOrder(DefaultModel());  // (the CPU-order kernels)
  if (m == nullptr) m = RandomModel(false, kernels::MathMode::kExact);
  constexpr int kSessions = 4500, kHops = 12;
  CudaPlanOptions o;
  o.max_sessions = kSessions;
  o.pcm16 = pcm16;
  o.kernel_cache_dir = env->cache_dir.path();
  o.batch_chunks = 4;
  o.frontend_order = FrontendOrder::kCpu;  // (kAuto would take the relaxed frontend for both plans)
  absl::StatusOr<std::unique_ptr<CudaPlan>> base = CudaPlan::Create(m, o);
  ASSERT_TRUE(base.ok()) << base.status();
  o.lane_chains = true;
  o.lane_highpass = pcm16;
  absl::StatusOr<std::unique_ptr<CudaPlan>> chain = CudaPlan::Create(m, o);
  ASSERT_TRUE(chain.ok()) << chain.status();
  std::vector<int> slots;
  for (int i = 0; i < kSessions; ++i) {
    absl::StatusOr<int> a = (*base)->AcquireSlot(), b = (*chain)->AcquireSlot();
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(*a, *b);
    slots.push_back(*a);
  }
  const std::vector<float> sig = SyntheticSpeech(kHop * (kHops + 400), 91);
  std::mt19937 rng(7);
  std::normal_distribution<float> noise(0.f, 0.02f);
  std::vector<float> strengths(kSessions, 1.f);
  const int batches[] = {kSessions, 3001, 2049, 100, kSessions, 129};
  long long total = 0;
  double ref = 0;
  for (int t = 0; t < kHops; ++t) {
    const int n = batches[t % 6];
    std::shuffle(slots.begin(), slots.end(), rng);
    for (int b = 0; b < n; ++b) {
      const float* x = &sig[(static_cast<size_t>(slots[b]) * 37 % 400 + t) * kHop];
      for (int i = 0; i < kHop; ++i) {
        const float v = x[i] + (slots[b] % 3 == 0 ? noise(rng) : 0.f);
        if (pcm16) {
          const auto q = static_cast<int16_t>(std::clamp(std::lrint(v * 32768.f), -32768L, 32767L));
          (*base)->input_rows16()[static_cast<size_t>(b) * kHop + i] = q;
          (*chain)->input_rows16()[static_cast<size_t>(b) * kHop + i] = q;
        } else {
          (*base)->input_rows()[static_cast<size_t>(b) * kHop + i] = v;
          (*chain)->input_rows()[static_cast<size_t>(b) * kHop + i] = v;
        }
      }
    }
    ASSERT_EQ((*base)->Submit(slots.data(), strengths.data(), n), cu::kSuccess);
    ASSERT_EQ((*chain)->Submit(slots.data(), strengths.data(), n), cu::kSuccess);
    ASSERT_EQ((*base)->Wait(), cu::kSuccess);
    ASSERT_EQ((*chain)->Wait(), cu::kSuccess);
    for (size_t i = 0; i < static_cast<size_t>(n) * kHop; ++i) {
      const double a = pcm16 ? (*base)->output_rows16()[i] : (*base)->output_rows()[i];
      const double c = pcm16 ? (*chain)->output_rows16()[i] : (*chain)->output_rows()[i];
      ASSERT_EQ(a, c) << "hop " << t << " sample " << i;
      ref += a * a;
      ++total;
    }
    for (int b = 0; b < n; ++b) {
      ASSERT_EQ((*chain)->info()[b].silent, (*base)->info()[b].silent) << "hop " << t << " row " << b;
      ASSERT_EQ((*chain)->info()[b].vad, (*base)->info()[b].vad) << "hop " << t << " row " << b;
    }
  }
  std::printf("lane_chains plan (%s rows): %lld output samples bit-identical to the fused frontend's\n",
              pcm16 ? "int16" : "float", total);
  EXPECT_GT(ref, 0.0);
}

INSTANTIATE_TEST_SUITE_P(Rows, Chunked, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "pcm16" : "float"; });

// CudaPlanOptions::fused_spectra against the split kernels, both on the device, on noisy
// speech-like rows: not bit-identical (another FFT, chunked band sums) but the same output to
// >= 90 dB and the same silence decisions; batches of the whole bucket down to 1 row, float and
// 16-bit PCM rows, 4 chunks like the benchmark's plans.
TEST_P(Chunked, FusedSpectraMatchTheSplitKernels) {
  GPU_TEST_OR_SKIP(env);
  const bool pcm16 = GetParam();
  std::shared_ptr<const models::Model> m = DefaultModel();
  if (m == nullptr) m = RandomModel(false, kernels::MathMode::kExact);
  constexpr int kSessions = 4500, kHops = 12;
  CudaPlanOptions o;
  o.max_sessions = kSessions;
  o.pcm16 = pcm16;
  o.kernel_cache_dir = env->cache_dir.path();
  o.batch_chunks = 4;
  o.fused_spectra = false;
  absl::StatusOr<std::unique_ptr<CudaPlan>> split = CudaPlan::Create(m, o);
  ASSERT_TRUE(split.ok()) << split.status();
  o.fused_spectra = true;
  absl::StatusOr<std::unique_ptr<CudaPlan>> fused = CudaPlan::Create(m, o);
  ASSERT_TRUE(fused.ok()) << fused.status();
  std::vector<int> slots;
  for (int i = 0; i < kSessions; ++i) {
    absl::StatusOr<int> a = (*split)->AcquireSlot(), b = (*fused)->AcquireSlot();
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(*a, *b);
    slots.push_back(*a);
  }
  const std::vector<float> sig = SyntheticSpeech(kHop * (kHops + 400), 78);
  std::mt19937 rng(6);
  std::normal_distribution<float> g;
  std::vector<float> strengths(kSessions);
  for (int i = 0; i < kSessions; ++i) strengths[i] = i % 5 == 4 ? .6f : 1.f;
  const int batches[] = {kSessions, 3001, 1001, 113, 7, 1};
  double err = 0, ref = 0;
  int silent = 0;
  for (int t = 0; t < kHops; ++t) {
    const int n = batches[t % 6];
    std::shuffle(slots.begin(), slots.end(), rng);
    for (int b = 0; b < n; ++b) {
      const float* x = &sig[(static_cast<size_t>(slots[b]) * 37 % 400 + t) * kHop];
      const float noise = slots[b] % 7 == 0 ? 0.f : 0.02f;  // every 7th slot: the clean signal
      for (int i = 0; i < kHop; ++i) {
        const float v = x[i] + noise * g(rng);
        if (pcm16) {
          const auto q = static_cast<int16_t>(std::clamp(std::lrint(v * 32768.f), -32768L, 32767L));
          (*split)->input_rows16()[static_cast<size_t>(b) * kHop + i] = q;
          (*fused)->input_rows16()[static_cast<size_t>(b) * kHop + i] = q;
        } else {
          (*split)->input_rows()[static_cast<size_t>(b) * kHop + i] = v;
          (*fused)->input_rows()[static_cast<size_t>(b) * kHop + i] = v;
        }
      }
    }
    ASSERT_EQ((*split)->Submit(slots.data(), strengths.data(), n), cu::kSuccess);
    ASSERT_EQ((*fused)->Submit(slots.data(), strengths.data(), n), cu::kSuccess);
    ASSERT_EQ((*split)->Wait(), cu::kSuccess);
    ASSERT_EQ((*fused)->Wait(), cu::kSuccess);
    for (size_t i = 0; i < static_cast<size_t>(n) * kHop; ++i) {
      const double a = pcm16 ? (*split)->output_rows16()[i] : (*split)->output_rows()[i];
      const double c = pcm16 ? (*fused)->output_rows16()[i] : (*fused)->output_rows()[i];
      ASSERT_TRUE(std::isfinite(c)) << "hop " << t << " sample " << i;
      err += (a - c) * (a - c);
      ref += a * a;
    }
    for (int b = 0; b < n; ++b) {
      ASSERT_EQ((*fused)->info()[b].silent, (*split)->info()[b].silent) << "hop " << t << " row " << b;
      silent += (*split)->info()[b].silent;
      EXPECT_NEAR((*fused)->info()[b].vad, (*split)->info()[b].vad, 1e-3) << "hop " << t << " row " << b;
    }
  }
  const double snr = err == 0 ? 999 : 10 * std::log10(ref / err);
  std::printf("fused plan (%s rows) vs the split kernels: SNR of the difference %.1f dB (%d silent row-hops)\n",
              pcm16 ? "int16" : "float", snr, silent);
  EXPECT_GE(snr, pcm16 ? 60.0 : 90.0);  // int16: the difference is mostly +-1 LSB roundings
  EXPECT_GT(ref, 0.0);
}

}  // namespace
}  // namespace ghostnv::sched
