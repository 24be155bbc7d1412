// runtime/fake_libcuda.cc — a stand-in libcuda.so.1 for driver_test.cc (test only).
//
// It exports cuGetProcAddress_v2 and answers with a few real functions (cuDriverGetVersion,
// cuInit, cuGetErrorName, cuGetErrorString) and a stub for every other name, so the loader's
// failure paths can be exercised on machines without a GPU. Behaviour from the environment:
//   FAKE_CUDA_VERSION   what cuDriverGetVersion reports (default 12040)
//   FAKE_CUDA_INIT      what cuInit returns (default 100, CUDA_ERROR_NO_DEVICE)
//   FAKE_CUDA_MISSING   one entry point name reported as not found
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace {

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::atoi(v) : fallback;
}

int FakeDriverGetVersion(int* v) {
  *v = EnvInt("FAKE_CUDA_VERSION", 12040);
  return 0;
}
int FakeInit(unsigned) { return EnvInt("FAKE_CUDA_INIT", 100); }
int FakeGetErrorName(int e, const char** s) {
  *s = e == 100 ? "CUDA_ERROR_NO_DEVICE" : e == 999 ? "CUDA_ERROR_UNKNOWN" : "CUDA_ERROR_FAKE";
  return 0;
}
int FakeGetErrorString(int, const char** s) {
  *s = "fake driver error";
  return 0;
}
int FakeUnsupported() { return 801; }

}  // namespace

extern "C" __attribute__((visibility("default"))) int cuGetProcAddress_v2(
    const char* symbol, void** pfn, int, uint64_t, int* status) {
  *pfn = nullptr;
  const char* missing = std::getenv("FAKE_CUDA_MISSING");
  if (missing != nullptr && std::strcmp(missing, symbol) == 0) {
    if (status != nullptr) *status = 1;  // CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND
    return 500;                          // CUDA_ERROR_NOT_FOUND
  }
  if (std::strcmp(symbol, "cuDriverGetVersion") == 0) *pfn = reinterpret_cast<void*>(&FakeDriverGetVersion);
  else if (std::strcmp(symbol, "cuInit") == 0) *pfn = reinterpret_cast<void*>(&FakeInit);
  else if (std::strcmp(symbol, "cuGetErrorName") == 0) *pfn = reinterpret_cast<void*>(&FakeGetErrorName);
  else if (std::strcmp(symbol, "cuGetErrorString") == 0) *pfn = reinterpret_cast<void*>(&FakeGetErrorString);
  else *pfn = reinterpret_cast<void*>(&FakeUnsupported);
  if (status != nullptr) *status = 0;
  return 0;
}
