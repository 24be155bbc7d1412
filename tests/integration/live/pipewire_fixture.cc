// tests/integration/live/pipewire_fixture.cc — see pipewire_fixture.h.
#include "tests/integration/live/pipewire_fixture.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "tests/integration/live/live_test_util.h"

namespace ghostnv::live_test {
namespace {

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

bool Exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

// The full path of `name` on PATH, or "".
std::string Which(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  size_t pos = 0;
  while (pos <= p.size()) {
    const size_t colon = p.find(':', pos);
    const std::string dir = p.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos);
    const std::string full = dir + "/" + name;
    if (!dir.empty() && ::access(full.c_str(), X_OK) == 0) return full;
    if (colon == std::string::npos) break;
    pos = colon + 1;
  }
  return "";
}

bool Alive(pid_t pid) {
  int status;
  return ::waitpid(pid, &status, WNOHANG) == 0;
}

}  // namespace

PipeWireLoop::~PipeWireLoop() {
  Stop();
  if (!dir_.empty()) std::system(("rm -rf " + Quote(dir_)).c_str());
}

pid_t PipeWireLoop::Spawn(const std::vector<std::string>& argv_s, const std::string& log) {
  const std::map<std::string, std::string> env = Env();
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(1);  // the test died before prctl took effect
    ::setpgid(0, 0);
    const int in = ::open("/dev/null", O_RDONLY);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    ::setenv("XDG_CONFIG_HOME", (dir_ + "/config").c_str(), 1);
    ::setenv("XDG_STATE_HOME", (dir_ + "/state").c_str(), 1);
    ::setenv("XDG_DATA_HOME", (dir_ + "/data").c_str(), 1);
    ::setenv("HOME", dir_.c_str(), 1);
    ::unsetenv("PIPEWIRE_REMOTE");
    ::unsetenv("PIPEWIRE_RUNTIME_DIR");
    std::vector<std::string> a = argv_s;
    std::vector<char*> argv;
    for (std::string& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (pid > 0) pids_.push_back(pid);
  return pid;
}

bool PipeWireLoop::Start(std::string* why) {
  const std::string dbus = Which("dbus-daemon"), pw = Which("pipewire"), wp = Which("wireplumber"),
                    wpctl = Which("wpctl"), pwcli = Which("pw-cli");
  for (const auto& [name, path] : std::vector<std::pair<std::string, std::string>>{
           {"dbus-daemon", dbus}, {"pipewire", pw}, {"wireplumber", wp}, {"wpctl", wpctl},
           {"pw-cli", pwcli}}) {
    if (path.empty()) {
      *why = absl::StrCat(name, " not found (apt-get install pipewire pipewire-alsa wireplumber "
                                "dbus-daemon)");
      return false;
    }
  }
  char tmpl[] = "/tmp/ghostnv_pw_XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    *why = "mkdtemp failed";
    return false;
  }
  dir_ = tmpl;
  ::mkdir((dir_ + "/run").c_str(), 0700);
  for (const char* d : {"/config", "/config/pipewire", "/config/pipewire/pipewire.conf.d", "/state",
                        "/data"})
    ::mkdir((dir_ + d).c_str(), 0755);
  WriteText(dir_ + "/config/pipewire/pipewire.conf.d/loopback.conf",
            "context.modules = [ { name = libpipewire-module-loopback args = {\n"
            "  node.description = \"Test loopback\" audio.position = [ MONO ]\n"
            "  capture.props  = { node.name = \"loop_sink\" media.class = \"Audio/Sink\" "
            "audio.position = [ MONO ] }\n"
            "  playback.props = { node.name = \"loop_source\" media.class = \"Audio/Source\" "
            "audio.position = [ MONO ] } } } ]\n");
  WriteText(dir_ + "/asound.conf",
            "pcm.pw_loop_play { type pipewire playback_node \"loop_sink\" }\n"
            "pcm.pw_loop_cap { type pipewire capture_node \"loop_source\" }\n");

  auto wait_for = [&](auto ready, double seconds) {
    const double end = Now() + seconds;
    while (Now() < end) {
      if (ready()) return true;
      ::usleep(20000);
    }
    return ready();
  };
  Spawn({dbus, "--session", "--address=unix:path=" + dir_ + "/run/bus", "--nofork", "--nopidfile"},
        dir_ + "/dbus.log");
  if (!wait_for([&] { return Exists(dir_ + "/run/bus"); }, 5)) {
    *why = "dbus-daemon did not create its socket";
    Stop();
    return false;
  }
  pipewire_pid_ = Spawn({pw}, dir_ + "/pipewire.log");
  if (!wait_for([&] { return Exists(dir_ + "/run/pipewire-0"); }, 5)) {
    *why = absl::StrCat("pipewire did not start: ",
                        std::string(reinterpret_cast<const char*>(
                                        ReadBytes(dir_ + "/pipewire.log").data()),
                                    ReadBytes(dir_ + "/pipewire.log").size()));
    Stop();
    return false;
  }
  Spawn({wp}, dir_ + "/wireplumber.log");
  const bool ready = wait_for(
      [&] {
        const ToolResult r = RunTool(wpctl, {"status"}, Env(), 5);
        return r.exit_code == 0 && r.out.find("Test loopback") != std::string::npos;
      },
      10);
  if (!ready) {
    *why = "wireplumber/loopback did not come up (see " + dir_ + "/*.log)";
    Stop();
    return false;
  }
  for (pid_t p : pids_) {
    if (!Alive(p)) {
      *why = "a daemon exited right after starting";
      Stop();
      return false;
    }
  }
  return true;
}

void PipeWireLoop::Stop() {
  if (pipewire_pid_ > 0) ::kill(pipewire_pid_, SIGCONT);
  // Reverse start order: wireplumber, pipewire, dbus-daemon.
  for (auto it = pids_.rbegin(); it != pids_.rend(); ++it) {
    const pid_t pid = *it;
    ::kill(pid, SIGTERM);
    const double end = Now() + 2.0;
    int status;
    bool gone = false;
    while (Now() < end) {
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        gone = true;
        break;
      }
      ::usleep(10000);
    }
    if (!gone) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
    }
  }
  pids_.clear();
  pipewire_pid_ = -1;
}

std::map<std::string, std::string> PipeWireLoop::Env() const {
  return {{"XDG_RUNTIME_DIR", dir_ + "/run"},
          {"DBUS_SESSION_BUS_ADDRESS", "unix:path=" + dir_ + "/run/bus"},
          {"ALSA_CONFIG_PATH", dir_ + "/asound.conf"}};
}

nlohmann::json PipeWireLoop::Dump() const {
  const ToolResult r = RunTool(Which("pw-dump"), {}, Env(), 10);
  try {
    return nlohmann::json::parse(r.out);
  } catch (...) {
    return nlohmann::json::array();
  }
}

std::vector<int> PipeWireLoop::StreamNodes(const std::string& app, bool capture) const {
  std::vector<int> ids;
  const nlohmann::json d = Dump();
  if (!d.is_array()) return ids;
  for (const nlohmann::json& o : d) {
    if (o.value("type", "").find("Interface:Node") == std::string::npos) continue;
    const nlohmann::json props = o["info"].value("props", nlohmann::json::object());
    const std::string name = props.value("application.name", "");
    const std::string cls = props.value("media.class", "");
    if (name.find(app) == std::string::npos) continue;
    if (cls == (capture ? "Stream/Input/Audio" : "Stream/Output/Audio")) ids.push_back(o["id"]);
  }
  return ids;
}

bool PipeWireLoop::PwCli(const std::vector<std::string>& args) const {
  return RunTool(Which("pw-cli"), args, Env(), 10).exit_code == 0;
}

void PipeWireLoop::PauseServer(bool pause) {
  if (pipewire_pid_ > 0) ::kill(pipewire_pid_, pause ? SIGSTOP : SIGCONT);
}

}  // namespace ghostnv::live_test
