// models/dfn3/dfn3_capi.cc — a C shim over the DeepFilterNet3 family for the Python conformance
// tests and the benchmark (tools/convert/tests/dfn3_*.py). Loaded with ctypes; not installed,
// not a public ABI.
//
// Feature maps cross this interface in the ONNX graphs' per-frame layout [channel][frequency]
// (one time step of [1, C, S, F]); feat_spec as [2][96] (re plane, im plane). The recurrent
// states and histories stay inside the handle (carried from frame to frame, zero after open or
// gnv_dfn3_reset), like onnxruntime running the whole sequence.
//
//   void* n = gnv_dfn3_open("dfn3.gnvm", err, sizeof err);
//   gnv_dfn3_encoder(n, erb32, spec2x96, e0, e1, e2, e3, emb, c0, lsnr);
//   gnv_dfn3_erb_decoder(n, emb, e3, e2, e1, e0, m32);
//   gnv_dfn3_df_decoder(n, emb, c0, coefs960, alpha);
//   gnv_dfn3_process(n, in, out, hops);          // the whole family, 480 samples per hop
//   gnv_dfn3_run_networks(n, erb, spec, count);  // benchmark: the three networks, count frames
//   gnv_dfn3_close(n);

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "models/dfn3/dfn3_family.h"
#include "models/model_loader.h"

namespace {

using ghostnv::models::dfn3::Networks;
namespace d = ghostnv::models::dfn3;

struct Handle {
  std::shared_ptr<const ghostnv::models::Model> model;
  Networks net;
  Networks::State state;
  Networks::Work work;
  std::unique_ptr<ghostnv::models::Family> family;
  std::unique_ptr<ghostnv::models::ChannelState> channel;
  std::vector<float> e0, e1, e2, e3, c0, emb, tmp, coefs;
};

// [F][C] <-> [C][F]
void ToCf(const float* fc, int f, int c, float* cf) {
  for (int i = 0; i < f; ++i)
    for (int j = 0; j < c; ++j) cf[j * f + i] = fc[i * c + j];
}
void ToFc(const float* cf, int f, int c, float* fc) {
  for (int i = 0; i < f; ++i)
    for (int j = 0; j < c; ++j) fc[i * c + j] = cf[j * f + i];
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) void* gnv_dfn3_open(const char* path, char* err,
                                                           int errlen) {
  auto fail = [&](const std::string& msg) -> void* {
    if (err != nullptr && errlen > 0)
      std::snprintf(err, static_cast<size_t>(errlen), "%s", msg.c_str());
    return nullptr;
  };
  auto m = ghostnv::models::LoadModel(path);
  if (!m.ok()) return fail(std::string(m.status().message()));
  auto net = d::BuildNetworks(**m);
  if (!net.ok()) return fail(std::string(net.status().message()));
  auto fam = d::CreateDfn3Family(*m);
  if (!fam.ok()) return fail(std::string(fam.status().message()));
  auto h = std::make_unique<Handle>();
  h->model = *m;
  h->net = std::move(*net);
  h->state = h->net.NewState();
  h->work = h->net.NewWork();
  h->family = std::move(*fam);
  h->channel = h->family->NewChannel();
  h->e0.assign(d::kErb * d::kCh, 0.f);
  h->e1.assign(16 * d::kCh, 0.f);
  h->e2.assign(8 * d::kCh, 0.f);
  h->e3.assign(8 * d::kCh, 0.f);
  h->c0.assign(d::kDf * d::kCh, 0.f);
  h->emb.assign(d::kEmb, 0.f);
  h->tmp.assign(d::kDf * d::kCh, 0.f);
  h->coefs.assign(d::kDf * 2 * d::kOrder, 0.f);
  return h.release();
}

__attribute__((visibility("default"))) void gnv_dfn3_close(void* p) {
  delete static_cast<Handle*>(p);
}

// Zeroes the networks' states (not the family channel's).
__attribute__((visibility("default"))) void gnv_dfn3_reset(void* p) {
  Handle& h = *static_cast<Handle*>(p);
  h.net.ResetState(h.state);
}

__attribute__((visibility("default"))) void gnv_dfn3_encoder(void* p, const float* feat_erb,
                                                             const float* feat_spec, float* e0,
                                                             float* e1, float* e2, float* e3,
                                                             float* emb, float* c0,
                                                             float* lsnr) {
  Handle& h = *static_cast<Handle*>(p);
  float spec[2 * d::kDf];
  ToFc(feat_spec, d::kDf, 2, spec);
  Networks::EncOut o{h.e0.data(), h.e1.data(), h.e2.data(), h.e3.data(),
                     h.c0.data(), emb,         lsnr};
  h.net.RunEncoder(feat_erb, spec, h.state, h.work, o);
  ToCf(h.e0.data(), d::kErb, d::kCh, e0);
  ToCf(h.e1.data(), 16, d::kCh, e1);
  ToCf(h.e2.data(), 8, d::kCh, e2);
  ToCf(h.e3.data(), 8, d::kCh, e3);
  ToCf(h.c0.data(), d::kDf, d::kCh, c0);
}

__attribute__((visibility("default"))) void gnv_dfn3_erb_decoder(void* p, const float* emb,
                                                                 const float* e3,
                                                                 const float* e2,
                                                                 const float* e1,
                                                                 const float* e0, float* m) {
  Handle& h = *static_cast<Handle*>(p);
  ToFc(e0, d::kErb, d::kCh, h.e0.data());
  ToFc(e1, 16, d::kCh, h.e1.data());
  ToFc(e2, 8, d::kCh, h.e2.data());
  ToFc(e3, 8, d::kCh, h.e3.data());
  h.net.RunErbDecoder(emb, h.e3.data(), h.e2.data(), h.e1.data(), h.e0.data(), h.state, h.work,
                      m);
}

__attribute__((visibility("default"))) void gnv_dfn3_df_decoder(void* p, const float* emb,
                                                                const float* c0, float* coefs,
                                                                float* alpha) {
  Handle& h = *static_cast<Handle*>(p);
  ToFc(c0, d::kDf, d::kCh, h.c0.data());
  h.net.RunDfDecoder(emb, h.c0.data(), h.state, h.work, coefs, alpha);
}

// Runs the whole family (one channel, state kept in the handle) over `hops` hops; returns
// nothing; vad (lsnr mapped to [0, 1]) per hop into vad when not null.
__attribute__((visibility("default"))) void gnv_dfn3_process(void* p, const float* in,
                                                             float* out, long hops,
                                                             float* vad) {
  Handle& h = *static_cast<Handle*>(p);
  for (long i = 0; i < hops; ++i) {
    const ghostnv::models::HopInfo info =
        h.family->ProcessHop(*h.channel, in + i * d::kHop, out + i * d::kHop, 1.f);
    if (vad != nullptr) vad[i] = info.vad;
  }
}

// The three networks on `count` feature frames back to back (erb [count][32], spec
// [count][96][2] interleaved as the family holds it), states carried from zero. Benchmarks.
__attribute__((visibility("default"))) void gnv_dfn3_run_networks(void* p, const float* erb,
                                                                  const float* spec,
                                                                  long count) {
  Handle& h = *static_cast<Handle*>(p);
  h.net.ResetState(h.state);
  float lsnr = 0.f, alpha = 0.f, m[d::kErb];
  Networks::EncOut o{h.e0.data(), h.e1.data(), h.e2.data(), h.e3.data(),
                     h.c0.data(), h.emb.data(), &lsnr};
  for (long i = 0; i < count; ++i) {
    h.net.RunEncoder(erb + i * d::kErb, spec + i * 2 * d::kDf, h.state, h.work, o);
    h.net.RunErbDecoder(h.emb.data(), h.e3.data(), h.e2.data(), h.e1.data(), h.e0.data(),
                        h.state, h.work, m);
    h.net.RunDfDecoder(h.emb.data(), h.c0.data(), h.state, h.work, h.coefs.data(), &alpha);
  }
}

}  // extern "C"
