// runtime/api/installed_models.cc — the model search path.
#include "runtime/api/installed_models.h"

#include <sys/stat.h>

#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

#ifndef GHOSTNV_INSTALL_MODEL_DIR
#define GHOSTNV_INSTALL_MODEL_DIR "/usr/local/share/ghostnv/models"
#endif

namespace ghostnv::api {
namespace {

bool IsRegularFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

const char* HowToInstall(std::string_view name) {
  if (name == "enhanced") {
    return "convert DTLN with `ghostnv-convert -o DIR/dtln.gnvm model_1.onnx model_2.onnx` "
           "(tools/convert/README.md)";
  }
  return "convert DeepFilterNet3 with `ghostnv-convert -o DIR/dfn3.gnvm enc.onnx erb_dec.onnx "
         "df_dec.onnx` (tools/convert/README.md)";
}

}  // namespace

std::vector<std::string> InstalledModelFiles(std::string_view name) {
  if (name == "enhanced") return {"enhanced.gnvm", "dtln.gnvm"};
  if (name == "maximum") return {"maximum.gnvm", "dfn3.gnvm"};
  return {};
}

std::vector<std::string> ModelSearchPath() {
  std::vector<std::string> dirs;
  if (const char* p = std::getenv("GHOSTNV_MODEL_PATH"); p != nullptr) {
    for (absl::string_view d : absl::StrSplit(p, ':', absl::SkipEmpty())) dirs.emplace_back(d);
  }
  const char* xdg = std::getenv("XDG_DATA_HOME");
  const char* home = std::getenv("HOME");
  if (xdg != nullptr && xdg[0] == '/') {
    dirs.push_back(absl::StrCat(xdg, "/ghostnv/models"));
  } else if (home != nullptr && home[0] != '\0') {
    dirs.push_back(absl::StrCat(home, "/.local/share/ghostnv/models"));
  }
  dirs.emplace_back(GHOSTNV_INSTALL_MODEL_DIR);
  return dirs;
}

absl::StatusOr<std::string> FindInstalledModel(std::string_view name) {
  const std::vector<std::string> files = InstalledModelFiles(name);
  if (files.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", std::string(name), "' is not an installed model name (enhanced, maximum)"));
  }
  std::vector<std::string> tried;
  for (const std::string& dir : ModelSearchPath()) {
    for (const std::string& f : files) {
      std::string path = absl::StrCat(dir, "/", f);
      if (IsRegularFile(path)) return path;
      tried.push_back(std::move(path));
    }
  }
  return absl::NotFoundError(absl::StrCat(
      "model '", std::string(name), "' is not installed (tried ", absl::StrJoin(tried, ", "),
      "); ", HowToInstall(name), ", DIR being one of those folders or one named by "
      "GHOSTNV_MODEL_PATH"));
}

}  // namespace ghostnv::api
