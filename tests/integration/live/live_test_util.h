// tests/integration/live/live_test_util.h — helpers shared by the live-mode integration tests.
//
// Runs the built ghostnv-denoise with an environment of the test's choosing (ALSA_CONFIG_PATH
// pointing at a configuration the test wrote), parses its JSON-lines report, and makes signals
// and raw sample files. Nothing here touches the machine's own ALSA configuration.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace ghostnv::live_test {

struct ToolResult {
  int exit_code = -1;
  std::string out, err;
  std::vector<nlohmann::json> lines;  // stdout parsed as JSON lines (non-JSON lines skipped)
  // The line with "type": `type` (the last one), or null.
  nlohmann::json Find(const std::string& type) const;
};

// A fresh directory under /tmp, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string Quote(const std::string& s);
std::vector<uint8_t> ReadBytes(const std::string& path);
bool WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes);
bool WriteText(const std::string& path, const std::string& text);

// A child process running `binary args...` with `env` added to the environment and stdin from
// /dev/null; stdout/stderr are collected. The destructor kills it if it still runs.
class ToolProcess {
 public:
  ToolProcess() = default;
  ~ToolProcess();
  ToolProcess(const ToolProcess&) = delete;
  ToolProcess& operator=(const ToolProcess&) = delete;
  bool Start(const std::string& binary, const std::vector<std::string>& args,
             const std::map<std::string, std::string>& env);
  bool Running();
  void Signal(int sig);
  // Waits up to `timeout_s` (then SIGKILL; exit_code 137) and collects the output.
  ToolResult Wait(double timeout_s);
  int pid() const { return pid_; }

 private:
  int pid_ = -1, out_fd_ = -1, err_fd_ = -1, status_ = 0;
  bool reaped_ = false;
};

// Runs `binary args...` to completion (SIGKILL after `timeout_s`; exit_code is then 137).
ToolResult RunTool(const std::string& binary, const std::vector<std::string>& args,
                   const std::map<std::string, std::string>& env, double timeout_s = 60);

// The denoise binary (compile-time path).
const std::string& DenoiseBinary();

// A signal the denoiser really works on: a gliding harmonic "voice" with syllable bursts plus
// broadband noise; interleaved, `channels` different voices. Peak below 0.9.
std::vector<float> VoicePlusNoise(int rate, int channels, size_t frames, uint32_t seed);

// The "data" chunk of a RIFF/WAVE file, parsed without libsndfile (empty if none).
std::vector<uint8_t> WavData(const std::string& path);

}  // namespace ghostnv::live_test
