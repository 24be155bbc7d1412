// ghostnv_infra_bench — ghostnv-bench's device-layer sections as a program of their own, for the
// standalone device-layer build on the GPU machine (cmake -S runtime: no libsndfile/libsoxr, no
// Abseil flags needed). Same sections, same JSON as `ghostnv-bench --speed=false ...`.
//
//   ghostnv_infra_bench --kernels --memory [--sessions=1,1000,100000] [--nvrtc_only_arch=90]
//                       [--memory_model=PATH] [--max_host_mb=N] [--json]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tools/bench/gpu_infra_bench.h"

int main(int argc, char** argv) {
  ghostnv::bench::InfraOptions o;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&a](const char* flag) -> const char* {
      const size_t n = std::strlen(flag);
      return a.compare(0, n, flag) == 0 && a.size() > n && a[n] == '=' ? a.c_str() + n + 1 : nullptr;
    };
    if (a == "--kernels") {
      o.kernels = true;
    } else if (a == "--memory") {
      o.memory = true;
    } else if (a == "--json") {
      json = true;
    } else if (const char* v = value("--sessions")) {
      o.sessions.clear();
      for (const char* p = v; *p != '\0';) {
        char* end = nullptr;
        const long n = std::strtol(p, &end, 10);
        if (end == p || n < 1) {
          std::fprintf(stderr, "ghostnv_infra_bench: bad --sessions '%s'\n", v);
          return 2;
        }
        o.sessions.push_back(n);
        p = *end == ',' ? end + 1 : end;
      }
    } else if (const char* v2 = value("--nvrtc_only_arch")) {
      o.nvrtc_only_arch = std::atoi(v2);
    } else if (const char* v3 = value("--memory_model")) {
      o.model = v3;
    } else if (const char* v4 = value("--max_host_mb")) {
      o.max_host_mb = std::atof(v4);
    } else {
      std::fprintf(stderr,
                   "usage: ghostnv_infra_bench [--kernels] [--memory] [--sessions=1,1000,100000] "
                   "[--nvrtc_only_arch=90] [--memory_model=PATH] [--max_host_mb=N] [--json]\n");
      return 2;
    }
  }
  if (!o.kernels && !o.memory) o.kernels = o.memory = true;
  o.print = !json;
  nlohmann::json doc = nlohmann::json::object();
  const int status = ghostnv::bench::RunInfraSections(o, &doc);
  if (json) std::printf("%s\n", doc.dump(2).c_str());
  return status;
}
