// tests/integration/library/fuzz/fuzz_driver.cc — a deterministic stand-in for libFuzzer.
//
//   api_fuzz_driver [ITERATIONS [MAX_SECONDS [SEED]]]        (defaults 400, 4, 1)
//
// Feeds LLVMFuzzerTestOneInput pseudo-random inputs from a fixed seed (so a failure reproduces
// with the same arguments), stopping after ITERATIONS inputs or MAX_SECONDS, whichever is first.
// Built with the project's compiler and its ASan/UBSan option, so it checks the library itself.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 400;
  const double max_seconds = argc > 2 ? std::atof(argv[2]) : 4.0;
  const unsigned seed = argc > 3 ? static_cast<unsigned>(std::atol(argv[3])) : 1u;
  std::mt19937 rng(seed);
  const auto t0 = std::chrono::steady_clock::now();
  long done = 0;
  for (; done < iterations; ++done) {
    // Inputs of 1..600 bytes; a third of them favour "create" (op 0) so streams exist.
    std::vector<uint8_t> input(1 + rng() % 600);
    for (uint8_t& b : input) b = static_cast<uint8_t>(rng());
    if (done % 3 == 0)
      for (size_t i = 0; i + 1 < input.size(); i += 24) input[i] = 0;
    LLVMFuzzerTestOneInput(input.data(), input.size());
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s > max_seconds) {
      ++done;
      break;
    }
  }
  std::printf("api_fuzz_driver: %ld inputs (seed %u), no failures\n", done, seed);
  return 0;
}
