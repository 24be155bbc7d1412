// Built with find_package(ghostnv) against the install tree: RAII, modes, errors.
#include <ghostnv/ghostnv.hpp>

#include <cstdio>
#include <vector>

int main() {
  ghostnv::Options opt;
  opt.set_mode(ghostnv::Mode::kMaximum);
  try {
    ghostnv::Denoiser d(opt);
    std::puts("unexpected: maximum mode was created");
    return 1;
  } catch (const ghostnv::Error& e) {
    std::printf("maximum: %s (%d)\n", e.what(), e.code());
    if (e.code() != GHOSTNV_ERROR_NOT_AVAILABLE) return 1;
  }
  opt.set_mode(ghostnv::Mode::kBasic);
  ghostnv::Denoiser d(opt);
  std::vector<float> buf(4800, 0.01f);
  if (d.process(buf.data(), buf.data(), buf.size()) != GHOSTNV_OK) return 1;
  ghostnv::Denoiser moved = std::move(d);
  std::printf("cpp: latency=%lld OK\n", static_cast<long long>(moved.latency_frames()));
  return moved.latency_frames() == 959 ? 0 : 1;
}
