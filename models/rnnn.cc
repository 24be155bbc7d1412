// models/rnnn.cc — the RNNoise .rnnn text loader. Format: models/README.md, "File formats".

#include "models/rnnn.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace ghostnv::models {
namespace {

constexpr int kMaxRnnnSize = 128;             // ffmpeg's bound on every size field
constexpr size_t kMaxRnnnFileBytes = 64u << 20;
constexpr float kWeightScale = 1.0f / 256.0f;  // ffmpeg's WEIGHTS_SCALE
constexpr int kInputFeatures = 42;             // RNNoise: 22 band energies + 6 + 6 + 6 + 1 + 1
constexpr int kBands = 22;
constexpr absl::string_view kHeader(kRnnnHeader.data(), kRnnnHeader.size());

struct LayerSpec {
  const char* name;
  LayerKind kind;
};
constexpr std::array<LayerSpec, 6> kLayers = {{
    {"input_dense", LayerKind::kDense},
    {"vad_gru", LayerKind::kGru},
    {"noise_gru", LayerKind::kGru},
    {"denoise_gru", LayerKind::kGru},
    {"denoise_output", LayerKind::kDense},
    {"vad_output", LayerKind::kDense},
}};

struct RnnnStorage {
  std::vector<std::vector<float>> tensors;
};

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

std::string Quote(absl::string_view token) {
  constexpr size_t kMaxShown = 32;
  std::string shown = absl::CHexEscape(token.substr(0, kMaxShown));
  if (token.size() > kMaxShown) shown += "...";
  return absl::StrCat("\"", shown, "\"");
}

class Parser {
 public:
  Parser(absl::string_view text, absl::string_view name) : text_(text), name_(name) {}

  absl::StatusOr<std::shared_ptr<const Model>> Parse() {
    if (absl::Status s = ParseHeader(); !s.ok()) return s;
    auto storage = std::make_shared<RnnnStorage>();
    auto model = std::make_shared<Model>();
    for (const LayerSpec& spec : kLayers) {
      Layer l;
      l.name = spec.name;
      l.kind = spec.kind;
      int act = 0;
      if (absl::Status s = ReadSize(l.name, "nb_inputs", &l.inputs); !s.ok()) return s;
      if (absl::Status s = ReadSize(l.name, "nb_neurons", &l.units); !s.ok()) return s;
      if (absl::Status s = ReadSize(l.name, "activation", &act, /*allow_zero=*/true); !s.ok())
        return s;
      l.activation = act == 1   ? kernels::Activation::kSigmoid
                     : act == 2 ? kernels::Activation::kRelu
                                : kernels::Activation::kTanh;
      l.reset_after = false;
      const size_t in = static_cast<size_t>(l.inputs), u = static_cast<size_t>(l.units);
      const size_t g = spec.kind == LayerKind::kGru ? 3 : 1;
      auto read = [&](const char* what, size_t n, const float** out) -> absl::Status {
        std::vector<float>& v = storage->tensors.emplace_back(n);
        for (size_t i = 0; i < n; ++i) {
          int x = 0;
          if (absl::Status s = ReadInt(l.name, what, i, n, &x); !s.ok()) return s;
          v[i] = static_cast<float>(x) * kWeightScale;
        }
        *out = v.data();
        return absl::OkStatus();
      };
      if (absl::Status s = read("input weights", in * g * u, &l.weights); !s.ok()) return s;
      if (spec.kind == LayerKind::kGru)
        if (absl::Status s = read("recurrent weights", u * g * u, &l.recurrent); !s.ok()) return s;
      if (absl::Status s = read("biases", g * u, &l.bias); !s.ok()) return s;
      model->layers.push_back(std::move(l));
    }
    if (std::optional<absl::string_view> extra = NextToken())
      return Error(absl::StrCat("line ", token_line_, ": unexpected data after the last layer: ",
                                Quote(*extra)));
    if (absl::Status s = CheckWiring(*model); !s.ok()) return s;

    model->family = "rnnoise";
    model->name = std::string(name_);
    model->sample_rate = 48000;
    model->frame_size = 960;
    model->hop_size = 480;
    model->algorithmic_latency = 480;
    model->math = kernels::MathMode::kRnnoiseApprox;
    model->metadata_json =
        nlohmann::json{{"source_format", "rnnn"}, {"source_file", name_}}.dump(
            -1, ' ', false, nlohmann::json::error_handler_t::replace);
    model->storage = std::move(storage);
    return std::shared_ptr<const Model>(std::move(model));
  }

 private:
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(name_, ": ", what));
  }

  absl::Status ParseHeader() {
    const size_t nl = text_.find('\n');
    absl::string_view line = text_.substr(0, nl);
    while (!line.empty() && IsSpace(line.back())) line.remove_suffix(1);
    const std::string expected = absl::StrCat(kHeader, " 1");
    if (line.substr(0, kHeader.size()) != kHeader)
      return Error(absl::StrCat("not an RNNoise model: the first line must be \"", expected,
                                "\", got ", Quote(line)));
    absl::string_view rest = line.substr(kHeader.size());
    size_t skipped = 0;
    while (skipped < rest.size() && (rest[skipped] == ' ' || rest[skipped] == '\t')) ++skipped;
    rest.remove_prefix(skipped);
    int version = 0;
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), version);
    if (skipped == 0 || ec != std::errc() || end != rest.data() + rest.size())
      return Error(absl::StrCat("bad header line ", Quote(line), " (expected \"", expected, "\")"));
    if (version != 1)
      return Error(absl::StrCat("unsupported .rnnn version ", version, " (expected 1)"));
    pos_ = nl == absl::string_view::npos ? text_.size() : nl;
    line_ = 1;
    return absl::OkStatus();
  }

  // The next whitespace-separated token, or nullopt at the end of the text.
  std::optional<absl::string_view> NextToken() {
    while (pos_ < text_.size() && IsSpace(text_[pos_])) {
      if (text_[pos_] == '\n') ++line_;
      ++pos_;
    }
    if (pos_ >= text_.size()) return std::nullopt;
    const size_t start = pos_;
    while (pos_ < text_.size() && !IsSpace(text_[pos_])) ++pos_;
    token_line_ = line_;
    return text_.substr(start, pos_ - start);
  }

  // Reads one integer (optional sign, decimal digits, fits in int), as fscanf("%d") accepts.
  absl::Status ReadInt(absl::string_view layer, absl::string_view what, size_t index, size_t count,
                       int* out) {
    std::optional<absl::string_view> tok = NextToken();
    if (!tok)
      return Error(absl::StrCat("truncated in layer '", layer, "' ", what, " (got ", index,
                                " of ", count, " values)"));
    absl::string_view t = *tok;
    if (t.size() > 1 && t[0] == '+' && t[1] != '-') t.remove_prefix(1);
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), *out);
    if (ec == std::errc::result_out_of_range)
      return Error(absl::StrCat("line ", token_line_, ": integer ", Quote(*tok),
                                " out of range in layer '", layer, "' ", what));
    if (ec != std::errc() || end != t.data() + t.size())
      return Error(absl::StrCat("line ", token_line_, ": expected an integer in layer '", layer,
                                "' ", what, ", got ", Quote(*tok)));
    return absl::OkStatus();
  }

  absl::Status ReadSize(absl::string_view layer, absl::string_view what, int* out,
                        bool allow_zero = false) {
    if (absl::Status s = ReadInt(layer, what, 0, 1, out); !s.ok()) return s;
    if (*out < 0 || *out > kMaxRnnnSize)
      return Error(absl::StrCat("line ", token_line_, ": layer '", layer, "' ", what, " = ", *out,
                                " is out of range 0..", kMaxRnnnSize));
    if (*out == 0 && !allow_zero)
      return Error(absl::StrCat("line ", token_line_, ": layer '", layer, "' ", what, " is 0"));
    return absl::OkStatus();
  }

  absl::Status CheckWiring(const Model& m) const {
    const Layer& in = m.layers[0];
    const Layer& vad = m.layers[1];
    const Layer& noise = m.layers[2];
    const Layer& den = m.layers[3];
    const Layer& out = m.layers[4];
    const Layer& vout = m.layers[5];
    auto need = [&](const Layer& l, const char* field, int have, int want,
                    absl::string_view why) -> absl::Status {
      if (have == want) return absl::OkStatus();
      return Error(absl::StrCat("layer '", l.name, "' has ", field, " = ", have, ", expected ",
                                want, " (", why, ")"));
    };
    absl::Status s;
    s.Update(need(in, "nb_inputs", in.inputs, kInputFeatures, "the 42 RNNoise features"));
    s.Update(need(vad, "nb_inputs", vad.inputs, in.units, "input_dense's output"));
    s.Update(need(noise, "nb_inputs", noise.inputs, in.units + vad.units + kInputFeatures,
                  "input_dense + vad_gru + 42 features"));
    s.Update(need(den, "nb_inputs", den.inputs, vad.units + noise.units + kInputFeatures,
                  "vad_gru + noise_gru + 42 features"));
    s.Update(need(out, "nb_inputs", out.inputs, den.units, "denoise_gru's output"));
    s.Update(need(out, "nb_neurons", out.units, kBands, "one gain per band"));
    s.Update(need(vout, "nb_inputs", vout.inputs, vad.units, "vad_gru's output"));
    s.Update(need(vout, "nb_neurons", vout.units, 1, "one voice probability"));
    return s;
  }

  absl::string_view text_;
  absl::string_view name_;
  size_t pos_ = 0;
  int line_ = 1;
  int token_line_ = 1;
};

std::string Basename(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

absl::StatusOr<std::shared_ptr<const Model>> LoadRnnnText(std::string_view text,
                                                          std::string name) {
  try {
    return Parser(absl::string_view(text.data(), text.size()), name).Parse();
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat(name, ": out of memory while loading"));
  }
}

absl::StatusOr<std::shared_ptr<const Model>> LoadRnnnFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    std::string msg = absl::StrCat(path, ": cannot open: ", std::strerror(err));
    if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(msg);
    if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
    return absl::UnavailableError(msg);
  }
  std::string text;
  struct stat st;
  absl::Status status;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    status = absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  } else if (static_cast<uint64_t>(st.st_size) > kMaxRnnnFileBytes) {
    status = absl::InvalidArgumentError(absl::StrCat(
        path, ": ", st.st_size, " bytes is too large for an RNNoise model"));
  } else {
    text.resize(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = ::read(fd, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        status = absl::UnavailableError(absl::StrCat(path, ": read error: ", std::strerror(errno)));
        break;
      }
      if (n == 0) break;  // the file shrank under us: parse what is there
      done += static_cast<size_t>(n);
    }
    text.resize(done);
  }
  ::close(fd);
  if (!status.ok()) return status;
  return LoadRnnnText(text, Basename(path));
}

}  // namespace ghostnv::models
