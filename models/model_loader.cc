// models/model_loader.cc — format sniffing in front of the .gnvm and .rnnn loaders.

#include "models/model_loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "models/gnvm.h"
#include "models/rnnn.h"

namespace ghostnv::models {

absl::StatusOr<std::shared_ptr<const Model>> LoadModel(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    std::string msg = absl::StrCat(path, ": cannot open: ", std::strerror(err));
    if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(msg);
    if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
    return absl::UnavailableError(msg);
  }
  struct stat st;
  const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  char head[64];
  size_t got = 0;
  while (regular && got < sizeof(head)) {
    const ssize_t n = ::read(fd, head + got, sizeof(head) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  if (!regular) return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));

  const std::string_view bytes(head, got);
  if (bytes.substr(0, 4) == "GNVM") return LoadGnvmFile(path);
  if (bytes.substr(0, kRnnnHeader.size()) == kRnnnHeader) return LoadRnnnFile(path);
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": not a model file (expected .gnvm or RNNoise .rnnn)"));
}

}  // namespace ghostnv::models
