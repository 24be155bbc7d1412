// models/dtln/dtln_capi.cc — a C shim over the DTLN family for the Python conformance test and
// the benchmark (tools/convert/tests/). Loaded with ctypes; not installed, not a public ABI.
//
// States cross this interface in the ONNX graphs' layout, [1, layer, unit, h/c] (2 x units x 2
// floats), so that the test can hand the same states to onnxruntime and to us.
//
//   void* n = gnv_dtln_open("dtln.gnvm", err, sizeof err);
//   gnv_dtln_stage1(n, mag257, state_in, mask257, state_out);
//   gnv_dtln_stage2(n, frame512, state_in, out512, state_out);
//   gnv_dtln_process(n, in, out, hops);   // the whole family on one channel, 128 per hop
//   gnv_dtln_run_networks(n, mags, frames, masks, outs, count);   // benchmark loop
//   gnv_dtln_close(n);

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "models/dtln/dtln_family.h"
#include "models/model_loader.h"

namespace {

using ghostnv::models::dtln::Networks;

struct Handle {
  std::shared_ptr<const ghostnv::models::Model> model;
  Networks net;
  std::unique_ptr<ghostnv::models::Family> family;
  std::unique_ptr<ghostnv::models::ChannelState> channel;
  std::vector<float> scratch, state;
};

// ONNX [layer][unit][h/c] <-> ours [h0 | c0 | h1 | c1].
void FromOnnx(const float* onnx, int units, float* ours) {
  for (int l = 0; l < 2; ++l)
    for (int u = 0; u < units; ++u) {
      ours[(2 * l) * units + u] = onnx[(l * units + u) * 2 + 0];
      ours[(2 * l + 1) * units + u] = onnx[(l * units + u) * 2 + 1];
    }
}
void ToOnnx(const float* ours, int units, float* onnx) {
  for (int l = 0; l < 2; ++l)
    for (int u = 0; u < units; ++u) {
      onnx[(l * units + u) * 2 + 0] = ours[(2 * l) * units + u];
      onnx[(l * units + u) * 2 + 1] = ours[(2 * l + 1) * units + u];
    }
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) void* gnv_dtln_open(const char* path, char* err,
                                                           int errlen) {
  auto fail = [&](const std::string& msg) -> void* {
    if (err != nullptr && errlen > 0) std::snprintf(err, static_cast<size_t>(errlen), "%s", msg.c_str());
    return nullptr;
  };
  auto m = ghostnv::models::LoadModel(path);
  if (!m.ok()) return fail(std::string(m.status().message()));
  auto net = ghostnv::models::dtln::BuildNetworks(**m);
  if (!net.ok()) return fail(std::string(net.status().message()));
  auto fam = ghostnv::models::dtln::CreateDtlnFamily(*m);
  if (!fam.ok()) return fail(std::string(fam.status().message()));
  auto h = std::make_unique<Handle>();
  h->model = *m;
  h->net = *net;
  h->family = std::move(*fam);
  h->channel = h->family->NewChannel();
  h->scratch.assign(h->net.ScratchFloats(), 0.f);
  h->state.assign(std::max(h->net.StateFloats(1), h->net.StateFloats(2)), 0.f);
  return h.release();
}

__attribute__((visibility("default"))) void gnv_dtln_close(void* p) {
  delete static_cast<Handle*>(p);
}

// units of stage 1 and 2 (for the state sizes); features of stage 2.
__attribute__((visibility("default"))) int gnv_dtln_units(void* p, int stage) {
  const Handle& h = *static_cast<Handle*>(p);
  if (stage == 1) return h.net.stage1.lstm[0].units;
  if (stage == 2) return h.net.stage2.lstm[0].units;
  return h.net.features;
}

__attribute__((visibility("default"))) void gnv_dtln_stage1(void* p, const float* mag,
                                                            const float* state_in, float* mask,
                                                            float* state_out) {
  Handle& h = *static_cast<Handle*>(p);
  const int u = h.net.stage1.lstm[0].units;
  FromOnnx(state_in, u, h.state.data());
  h.net.RunStage1(mag, mask, h.state.data(), h.scratch.data());
  ToOnnx(h.state.data(), u, state_out);
}

__attribute__((visibility("default"))) void gnv_dtln_stage2(void* p, const float* frame,
                                                            const float* state_in, float* out,
                                                            float* state_out) {
  Handle& h = *static_cast<Handle*>(p);
  const int u = h.net.stage2.lstm[0].units;
  FromOnnx(state_in, u, h.state.data());
  h.net.RunStage2(frame, out, h.state.data(), h.scratch.data());
  ToOnnx(h.state.data(), u, state_out);
}

// Runs the whole family (one channel, state kept in the handle) over `hops` hops.
__attribute__((visibility("default"))) void gnv_dtln_process(void* p, const float* in, float* out,
                                                             long hops) {
  Handle& h = *static_cast<Handle*>(p);
  const int hop = h.family->hop_size();
  for (long i = 0; i < hops; ++i) h.family->ProcessHop(*h.channel, in + i * hop, out + i * hop, 1.f);
}

// Runs both networks `n` times back to back on the given inputs (mags [n][257], frames
// [n][512]), states carried inside from zero; writes masks [n][257] and outs [n][512].
// For benchmarks: one call, no per-block crossing of the ctypes boundary. The streaming path
// (look-ahead carries, as the family runs it).
__attribute__((visibility("default"))) void gnv_dtln_run_networks(void* p, const float* mags,
                                                                  const float* frames,
                                                                  float* masks, float* outs,
                                                                  long n) {
  Handle& h = *static_cast<Handle*>(p);
  std::vector<float> s1(h.net.StateFloats(1), 0.f), s2(h.net.StateFloats(2), 0.f);
  Networks::Carries carries = h.net.NewCarries();
  for (long i = 0; i < n; ++i) {
    h.net.RunStage1(mags + i * 257, masks + i * 257, s1.data(), h.scratch.data(), carries);
    h.net.RunStage2(frames + i * 512, outs + i * 512, s2.data(), h.scratch.data(), carries);
  }
}

}  // extern "C"
