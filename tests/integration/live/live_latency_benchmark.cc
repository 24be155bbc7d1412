// The live-latency benchmark (label "long"; not in the default CI run): for each --latency setting
// at 48 kHz mono, through a private headless PipeWire loopback,
//   1. a denoising run (strength 1) of GHOSTNV_BENCH_SECONDS (default 5) seconds: processing time
//      per period (p50/p99/max), deadline misses, xruns;
//   2. an impulse run (--measure_latency): the measured round trip, in frames and ms;
// and prints a Markdown table against the targets (< 10 / < 20 / < 50 ms). With
// GHOSTNV_LATENCY_REPORT=path the table is also written there (docs/perf/latency.md is made from
// it). Not a pass/fail test of speed: it fails only when a run itself fails. Skipped unless
// GHOSTNV_RUN_LONG=1.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tests/integration/live/live_test_util.h"
#include "tests/integration/live/pipewire_fixture.h"

namespace ghostnv::live_test {
namespace {

TEST(LiveLatencyBenchmark, EachSettingAt48k) {
  const char* run_long = std::getenv("GHOSTNV_RUN_LONG");
  if (run_long == nullptr || std::string(run_long) != "1")
    GTEST_SKIP() << "a benchmark: runs with GHOSTNV_RUN_LONG=1 (about 30 s)";
  PipeWireLoop pw;
  std::string why;
  if (!pw.Start(&why)) GTEST_SKIP() << "no private PipeWire: " << why;
  const char* sec_env = std::getenv("GHOSTNV_BENCH_SECONDS");
  const double seconds = sec_env ? std::atof(sec_env) : 5.0;
  struct Row {
    const char* setting;
    double target_ms;
  };
  const Row rows[] = {{"ultra", 10}, {"realtime", 20}, {"quality", 50}};
  std::string table =
      "| setting | period / buffer | nominal budget | measured round trip | of which library "
      "(buffering + algorithmic) | of which device I/O | target | met | processing per period "
      "p50 / p99 / max | period | deadline misses | xruns (denoise run) |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const Row& row : rows) {
    const std::vector<std::string> base = {"--capture", "pw_loop_cap", "--playback",
                                           "pw_loop_play", "--latency", row.setting,
                                           "--rate", "48000", "--report", "json", "--duration",
                                           absl::StrCat(seconds)};
    const ToolResult run = RunTool(DenoiseBinary(), base, pw.Env(), seconds + 30);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    const nlohmann::json d = run.Find("summary");
    std::vector<std::string> probe_args = base;
    probe_args.push_back("--measure_latency");
    const ToolResult probe = RunTool(DenoiseBinary(), probe_args, pw.Env(), seconds + 30);
    ASSERT_EQ(probe.exit_code, 0) << probe.err;
    const nlohmann::json m = probe.Find("summary");
    ASSERT_TRUE(d.is_object() && m.is_object());
    const int64_t lib = d["library_latency_frames"];
    const int64_t nominal = d["latency"]["frames"]["total"];
    const bool have = !m["measured_round_trip_frames"].is_null();
    const int64_t rt = have ? m["measured_round_trip_frames"].get<int64_t>() : -1;
    const double rt_ms = rt * 1000.0 / 48000;
    auto ms = [](int64_t f) { return f * 1000.0 / 48000; };
    absl::StrAppend(
        &table,
        absl::StrFormat(
            "| %s | %d / %d | %d (%.2f ms) | %s | %d (%.2f ms) | %s | < %.0f ms | %s | %.1f / %.1f "
            "/ %.1f us | %.0f us | %d | %d capture, %d playback |\n",
            row.setting, d["capture"]["period_frames"].get<int>(),
            d["capture"]["buffer_frames"].get<int>(), nominal, ms(nominal),
            have ? absl::StrFormat("**%d (%.2f ms)**", rt, rt_ms) : std::string("n/a"), lib,
            ms(lib), have ? absl::StrFormat("%d (%.2f ms)", rt - lib, ms(rt - lib)) : "n/a",
            row.target_ms, have && rt_ms < row.target_ms ? "yes" : "**no**",
            d["processing_us"]["p50"].get<double>(), d["processing_us"]["p99"].get<double>(),
            d["processing_us"]["max"].get<double>(), d["period_us"].get<double>(),
            d["deadline_misses"].get<int64_t>(), d["xruns"]["capture"].get<int64_t>(),
            d["xruns"]["playback"].get<int64_t>()));
  }
  std::cout << table;
  if (const char* path = std::getenv("GHOSTNV_LATENCY_REPORT")) {
    std::ofstream f(path);
    f << table;
  }
}

}  // namespace
}  // namespace ghostnv::live_test
