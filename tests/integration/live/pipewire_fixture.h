// tests/integration/live/pipewire_fixture.h — a private, headless PipeWire with a loopback.
//
// Starts dbus-daemon, pipewire and wireplumber as children of the test, in private directories
// (XDG_RUNTIME_DIR, XDG_CONFIG_HOME, XDG_STATE_HOME under a temp dir), with a loopback module
// (sink "loop_sink" -> source "loop_source", mono), and writes an ALSA configuration with
// pcm.pw_loop_play / pcm.pw_loop_cap on it. Stop() (and the destructor) ends exactly the
// processes it started: SIGTERM, then SIGKILL after a grace period; each child also gets
// PR_SET_PDEATHSIG so that a crashing test never leaves daemons behind.
//
//   PipeWireLoop pw;
//   if (std::string why; !pw.Start(&why)) GTEST_SKIP() << why;
//   RunTool(bin, {"--capture", "pw_loop_cap", "--playback", "pw_loop_play"}, pw.Env());
//
// Not thread-safe; one instance per test suite is plenty (about 1 s to start).
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace ghostnv::live_test {

class PipeWireLoop {
 public:
  PipeWireLoop() = default;
  ~PipeWireLoop();
  PipeWireLoop(const PipeWireLoop&) = delete;
  PipeWireLoop& operator=(const PipeWireLoop&) = delete;

  // False (with the reason) when a piece is missing or does not come up in time.
  bool Start(std::string* why);
  void Stop();
  bool running() const { return !pids_.empty(); }

  // The environment a client needs: XDG_RUNTIME_DIR, DBUS_SESSION_BUS_ADDRESS, ALSA_CONFIG_PATH.
  std::map<std::string, std::string> Env() const;
  const std::string& dir() const { return dir_; }

  // pw-dump's objects (empty on failure).
  nlohmann::json Dump() const;
  // Node ids of the streams a client whose application name contains `app` has open:
  // media.class "Stream/Input/Audio" (capture) or "Stream/Output/Audio" (playback).
  std::vector<int> StreamNodes(const std::string& app, bool capture) const;
  // Runs pw-cli with the private environment; true on exit status 0.
  bool PwCli(const std::vector<std::string>& args) const;
  // SIGSTOP / SIGCONT the pipewire daemon (a stalled sound server).
  void PauseServer(bool pause);

 private:
  pid_t Spawn(const std::vector<std::string>& argv, const std::string& log);

  std::string dir_;
  std::vector<pid_t> pids_;  // dbus-daemon, pipewire, wireplumber (start order)
  pid_t pipewire_pid_ = -1;
};

}  // namespace ghostnv::live_test
