// tests/integration/live/live_test_util.cc — see live_test_util.h.
#include "tests/integration/live/live_test_util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <numbers>
#include <random>
#include <sstream>

#ifndef GHOSTNV_DENOISE_BIN
#error "GHOSTNV_DENOISE_BIN must name the ghostnv-denoise binary"
#endif

namespace ghostnv::live_test {

nlohmann::json ToolResult::Find(const std::string& type) const {
  nlohmann::json found;
  for (const nlohmann::json& j : lines)
    if (j.is_object() && j.value("type", "") == type) found = j;
  return found;
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/ghostnv_live_XXXXXX";
  if (::mkdtemp(tmpl) != nullptr) path_ = tmpl;
}

TempDir::~TempDir() {
  if (!path_.empty()) std::system(("rm -rf " + Quote(path_)).c_str());
}

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), {});
}

bool WriteBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(f);
}

bool WriteText(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  return static_cast<bool>(f);
}

namespace {

std::string Slurp(int fd) {
  std::string s;
  char buf[4096];
  ::lseek(fd, 0, SEEK_SET);
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) s.append(buf, static_cast<size_t>(n));
  return s;
}

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

}  // namespace

ToolProcess::~ToolProcess() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status_, 0);
  }
  if (out_fd_ >= 0) ::close(out_fd_);
  if (err_fd_ >= 0) ::close(err_fd_);
}

bool ToolProcess::Start(const std::string& binary, const std::vector<std::string>& args,
                        const std::map<std::string, std::string>& env) {
  char out_name[] = "/tmp/ghostnv_live_out_XXXXXX";
  char err_name[] = "/tmp/ghostnv_live_err_XXXXXX";
  out_fd_ = ::mkstemp(out_name);
  err_fd_ = ::mkstemp(err_name);
  if (out_fd_ < 0 || err_fd_ < 0) return false;
  ::unlink(out_name);
  ::unlink(err_name);
  std::vector<std::string> argv_s = {binary};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  pid_ = ::fork();
  if (pid_ == 0) {
    const int in = ::open("/dev/null", O_RDONLY);
    ::dup2(in, 0);
    ::dup2(out_fd_, 1);
    ::dup2(err_fd_, 2);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> argv;
    for (std::string& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  return pid_ > 0;
}

bool ToolProcess::Running() {
  if (pid_ <= 0 || reaped_) return false;
  if (::waitpid(pid_, &status_, WNOHANG) == pid_) reaped_ = true;
  return !reaped_;
}

void ToolProcess::Signal(int sig) {
  if (Running()) ::kill(pid_, sig);
}

ToolResult ToolProcess::Wait(double timeout_s) {
  ToolResult r;
  if (pid_ <= 0) return r;
  const double deadline = Now() + timeout_s;
  while (Running()) {
    if (Now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status_, 0);
      reaped_ = true;
      break;
    }
    ::usleep(5000);
  }
  r.exit_code = WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
  r.out = Slurp(out_fd_);
  r.err = Slurp(err_fd_);
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '{') continue;
    try {
      r.lines.push_back(nlohmann::json::parse(line));
    } catch (...) {
    }
  }
  return r;
}

ToolResult RunTool(const std::string& binary, const std::vector<std::string>& args,
                   const std::map<std::string, std::string>& env, double timeout_s) {
  ToolProcess p;
  if (!p.Start(binary, args, env)) return ToolResult{};
  return p.Wait(timeout_s);
}

const std::string& DenoiseBinary() {
  static const std::string bin = GHOSTNV_DENOISE_BIN;
  return bin;
}

std::vector<float> VoicePlusNoise(int rate, int channels, size_t frames, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  std::vector<float> x(frames * static_cast<size_t>(channels));
  for (int c = 0; c < channels; ++c) {
    double phase = 0;
    const double f0 = 110.0 + 60.0 * c;
    for (size_t i = 0; i < frames; ++i) {
      const double t = static_cast<double>(i) / rate;
      const double f = f0 * (1.0 + 0.2 * std::sin(2 * std::numbers::pi * 0.7 * t));
      phase += 2 * std::numbers::pi * f / rate;
      const double env = 0.5 + 0.5 * std::sin(2 * std::numbers::pi * 4.0 * t);
      double v = 0;
      for (int h = 1; h <= 12; ++h) {
        if (f * h > 0.45 * rate) break;
        v += std::sin(h * phase) / h;
      }
      x[i * static_cast<size_t>(channels) + static_cast<size_t>(c)] =
          static_cast<float>(0.25 * env * v + 0.05 * g(rng));
    }
  }
  return x;
}

std::vector<uint8_t> WavData(const std::string& path) {
  const std::vector<uint8_t> b = ReadBytes(path);
  size_t pos = 12;
  while (pos + 8 <= b.size()) {
    const uint32_t len = b[pos + 4] | (b[pos + 5] << 8) | (b[pos + 6] << 16) |
                         (uint32_t{b[pos + 7]} << 24);
    if (std::memcmp(&b[pos], "data", 4) == 0) {
      const size_t end = std::min(b.size(), pos + 8 + static_cast<size_t>(len));
      return std::vector<uint8_t>(b.begin() + static_cast<ptrdiff_t>(pos + 8),
                                  b.begin() + static_cast<ptrdiff_t>(end));
    }
    pos += 8 + len + (len & 1);
  }
  return {};
}

}  // namespace ghostnv::live_test
