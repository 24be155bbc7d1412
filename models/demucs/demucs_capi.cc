// models/demucs/demucs_capi.cc — a C shim over the Demucs family for the Python conformance
// tests and the benchmark (tools/convert/tests/demucs_*.py). Loaded with ctypes; not installed,
// not a public ABI.
//
//   void* h = gnv_demucs_open("demucs.gnvm", err, sizeof err);
//   int info[4]; gnv_demucs_info(h, info);        // hop, latency, sample rate, frame size
//   gnv_demucs_offline(h, in, n, out);             // Demucs.forward on the whole signal
//   gnv_demucs_stream(h, in, out, hops, 1.0f);     // ProcessHop on a fresh channel, hop by hop
//   double s = gnv_demucs_bench(h, hops, &wall);   // thread-CPU (and wall) s per ProcessHop
//   gnv_demucs_close(h);

#include <time.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "models/demucs/demucs_family.h"
#include "models/model_loader.h"

namespace {

struct Handle {
  std::shared_ptr<const ghostnv::models::Model> model;
  ghostnv::models::demucs::Networks net;
  std::unique_ptr<ghostnv::models::Family> family;
};

}  // namespace

extern "C" {

__attribute__((visibility("default"))) void* gnv_demucs_open(const char* path, char* err,
                                                             int errlen) {
  auto fail = [&](const std::string& msg) -> void* {
    if (err != nullptr && errlen > 0)
      std::snprintf(err, static_cast<size_t>(errlen), "%s", msg.c_str());
    return nullptr;
  };
  auto m = ghostnv::models::LoadModel(path);
  if (!m.ok()) return fail(std::string(m.status().message()));
  auto net = ghostnv::models::demucs::BuildNetworks(**m);
  if (!net.ok()) return fail(std::string(net.status().message()));
  auto fam = ghostnv::models::demucs::CreateDemucsFamily(*m);
  if (!fam.ok()) return fail(std::string(fam.status().message()));
  auto h = std::make_unique<Handle>();
  h->model = *m;
  h->net = *net;
  h->family = std::move(*fam);
  return h.release();
}

__attribute__((visibility("default"))) void gnv_demucs_close(void* p) {
  delete static_cast<Handle*>(p);
}

__attribute__((visibility("default"))) void gnv_demucs_info(void* p, int* info) {
  const auto& m = static_cast<Handle*>(p)->model;
  info[0] = m->hop_size;
  info[1] = m->algorithmic_latency;
  info[2] = m->sample_rate;
  info[3] = m->frame_size;
}

__attribute__((visibility("default"))) int gnv_demucs_offline(void* p, const float* in, long n,
                                                              float* out) {
  if (n < 0) return -1;
  auto st = ghostnv::models::demucs::ProcessOffline(static_cast<Handle*>(p)->net, in,
                                                    static_cast<size_t>(n), out);
  if (!st.ok()) {
    std::fprintf(stderr, "gnv_demucs_offline: %s\n", std::string(st.message()).c_str());
    return -2;
  }
  return 0;
}

__attribute__((visibility("default"))) int gnv_demucs_stream(void* p, const float* in,
                                                             float* out, long hops,
                                                             float strength) {
  Handle* h = static_cast<Handle*>(p);
  auto ch = h->family->NewChannel();
  const int hop = h->family->hop_size();
  for (long k = 0; k < hops; ++k)
    h->family->ProcessHop(*ch, in + k * hop, out + k * hop, strength);
  return 0;
}

__attribute__((visibility("default"))) double gnv_demucs_bench(void* p, long hops,
                                                               double* wall) {
  Handle* h = static_cast<Handle*>(p);
  auto ch = h->family->NewChannel();
  const int hop = h->family->hop_size();
  std::vector<float> in(static_cast<size_t>(hop)), out(static_cast<size_t>(hop));
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.f, 0.1f);
  for (float& v : in) v = nd(rng);
  // Warm up past the first (full) frame, then time steady-state hops.
  const long warm = h->model->frame_size / hop + 2;
  for (long k = 0; k < warm; ++k) h->family->ProcessHop(*ch, in.data(), out.data(), 1.f);
  timespec c0{}, c1{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
  const auto t0 = std::chrono::steady_clock::now();
  for (long k = 0; k < hops; ++k) h->family->ProcessHop(*ch, in.data(), out.data(), 1.f);
  const auto t1 = std::chrono::steady_clock::now();
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
  if (wall != nullptr)
    *wall = std::chrono::duration<double>(t1 - t0).count() / static_cast<double>(hops);
  const double cpu = static_cast<double>(c1.tv_sec - c0.tv_sec) +
                     1e-9 * static_cast<double>(c1.tv_nsec - c0.tv_nsec);
  return cpu / static_cast<double>(hops);
}

}  // extern "C"
