// models/gnvm.cc — the .gnvm reader and writer. Format: models/README.md, "File formats".

#include "models/gnvm.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <new>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace ghostnv::models {
namespace {

static_assert(std::endian::native == std::endian::little,
              ".gnvm tensors are little-endian and used in place; big-endian hosts need a swap");

#define GNVM_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(*tmp)
#define GNVM_CONCAT_INNER(a, b) a##b
#define GNVM_CONCAT(a, b) GNVM_CONCAT_INNER(a, b)
#define GNVM_ASSIGN_OR_RETURN(lhs, expr) \
  GNVM_ASSIGN_OR_RETURN_IMPL(GNVM_CONCAT(status_or_, __LINE__), lhs, expr)
#define GNVM_RETURN_IF_ERROR(expr)   \
  do {                               \
    absl::Status s_ = (expr);        \
    if (!s_.ok()) return s_;         \
  } while (0)

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

constexpr char kMagic[4] = {'G', 'N', 'V', 'M'};
constexpr size_t kPreambleBytes = 16;  // magic, version, header length
constexpr size_t kChecksumBytes = 8;
constexpr int64_t kMaxDim = int64_t{1} << 24;

enum class DType : uint8_t { kF32, kF16, kI8 };

const char* DTypeName(DType d) {
  switch (d) {
    case DType::kF32: return "f32";
    case DType::kF16: return "f16";
    case DType::kI8: return "i8";
  }
  return "?";
}

size_t DTypeSize(DType d) {
  switch (d) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kI8: return 1;
  }
  return 0;
}

uint64_t AlignUp(uint64_t x) { return (x + (kGnvmAlignment - 1)) & ~uint64_t{kGnvmAlignment - 1}; }

uint32_t LoadU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
uint64_t LoadU64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
void AppendU32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }
void AppendU64(std::string& out, uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

// Deepest nesting of [ and { in a JSON text (strings skipped). nlohmann's serializer recurses,
// so the reader refuses headers that nest deeper than kGnvmMaxJsonDepth before parsing them.
int JsonDepth(absl::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

// Storage behind a loaded Model: the file bytes (mapping or copy; null when borrowed) and the
// floats produced by converting f16/i8 (or unaligned f32) tensors.
struct GnvmStorage {
  std::shared_ptr<const void> bytes;
  std::vector<std::vector<float>> owned;
};

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t offset = 0;
  uint64_t nbytes = 0;
  size_t count = 0;
  std::vector<float> scales;       // i8 only, one per element of the last axis
  const float* floats = nullptr;   // set once materialised
};

// ---------------------------------------------------------------------------------------------
// Reader

class Reader {
 public:
  Reader(const uint8_t* base, size_t size, absl::string_view name,
         std::shared_ptr<const void> bytes)
      : base_(base), size_(size), name_(name), storage_(std::make_shared<GnvmStorage>()) {
    storage_->bytes = std::move(bytes);
  }

  absl::StatusOr<std::shared_ptr<const Model>> Read() {
    try {
      return ReadImpl();
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError(absl::StrCat(name_, ": out of memory while loading"));
    } catch (const std::exception& e) {
      return Error(absl::StrCat("malformed header (", e.what(), ")"));
    }
  }

 private:
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(name_, ": ", what));
  }

  absl::StatusOr<std::shared_ptr<const Model>> ReadImpl() {
    if (size_ == 0) return Error("empty file (not a .gnvm model)");
    if (size_ < sizeof(kMagic) || std::memcmp(base_, kMagic, sizeof(kMagic)) != 0) {
      if (size_ < sizeof(kMagic) && std::memcmp(base_, kMagic, size_) == 0)
        return Error(absl::StrCat("truncated (", size_, " bytes)"));
      return Error("not a .gnvm file (bad magic; expected \"GNVM\")");
    }
    if (size_ < kPreambleBytes + kChecksumBytes)
      return Error(absl::StrCat("truncated (", size_, " bytes)"));
    const uint32_t version = LoadU32(base_ + 4);
    if (version != kGnvmVersion)
      return Error(absl::StrCat("unsupported format version ", version, " (this build reads ",
                                kGnvmVersion, ")"));
    const uint64_t header_len = LoadU64(base_ + 8);
    if (header_len == 0) return Error("empty JSON header");
    if (header_len > kGnvmMaxHeaderBytes)
      return Error(absl::StrCat("header length ", header_len, " exceeds the limit of ",
                                kGnvmMaxHeaderBytes, " bytes"));
    const uint64_t data_start = AlignUp(kPreambleBytes + header_len);
    if (data_start + kChecksumBytes > size_)
      return Error(absl::StrCat("truncated (", size_, " bytes; the header alone needs ",
                                data_start + kChecksumBytes, ")"));
    const uint64_t stored = LoadU64(base_ + size_ - kChecksumBytes);
    if (Fnv1a64(base_, size_ - kChecksumBytes) != stored)
      return Error("checksum mismatch (file corrupt?)");
    for (uint64_t i = kPreambleBytes + header_len; i < data_start; ++i)
      if (base_[i] != 0) return Error("non-zero byte in the padding after the header");
    data_ = base_ + data_start;
    data_size_ = size_ - kChecksumBytes - data_start;

    const absl::string_view text(reinterpret_cast<const char*>(base_ + kPreambleBytes),
                                header_len);
    if (JsonDepth(text) > kGnvmMaxJsonDepth)
      return Error(absl::StrCat("JSON header nests deeper than ", kGnvmMaxJsonDepth, " levels"));
    Json header = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (header.is_discarded()) return Error("JSON header does not parse");
    if (!header.is_object()) return Error("JSON header is not an object");

    auto model = std::make_shared<Model>();
    GNVM_RETURN_IF_ERROR(ReadModelFields(header, *model));
    GNVM_RETURN_IF_ERROR(ReadTensorTable(header));
    GNVM_RETURN_IF_ERROR(ReadLayers(header, *model));
    model->storage = storage_;
    return std::shared_ptr<const Model>(std::move(model));
  }

  // --- checked JSON access -------------------------------------------------------------------

  absl::StatusOr<const Json*> Field(const Json& obj, const char* key, absl::string_view ctx,
                                    bool required = true) const {
    auto it = obj.find(key);
    if (it == obj.end()) {
      if (!required) return static_cast<const Json*>(nullptr);
      return Error(absl::StrCat(ctx, "missing field \"", key, "\""));
    }
    return &*it;
  }

  absl::StatusOr<int64_t> Int(const Json& obj, const char* key, absl::string_view ctx,
                              int64_t lo, int64_t hi) const {
    GNVM_ASSIGN_OR_RETURN(const Json* v, Field(obj, key, ctx));
    return IntValue(*v, key, ctx, lo, hi);
  }

  absl::StatusOr<int64_t> IntValue(const Json& v, absl::string_view what, absl::string_view ctx,
                                   int64_t lo, int64_t hi) const {
    int64_t x = 0;
    if (v.is_number_unsigned()) {
      const uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(hi))
        return Error(absl::StrCat(ctx, "\"", what, "\" = ", u, " is out of range [", lo, ", ",
                                  hi, "]"));
      x = static_cast<int64_t>(u);
    } else if (v.is_number_integer()) {
      x = v.get<int64_t>();
    } else {
      return Error(absl::StrCat(ctx, "\"", what, "\" must be an integer"));
    }
    if (x < lo || x > hi)
      return Error(absl::StrCat(ctx, "\"", what, "\" = ", x, " is out of range [", lo, ", ", hi,
                                "]"));
    return x;
  }

  absl::StatusOr<std::string> String(const Json& obj, const char* key, absl::string_view ctx,
                                     size_t max_len = kGnvmMaxNameLength) const {
    GNVM_ASSIGN_OR_RETURN(const Json* v, Field(obj, key, ctx));
    if (!v->is_string()) return Error(absl::StrCat(ctx, "\"", key, "\" must be a string"));
    const std::string& s = v->get_ref<const std::string&>();
    if (s.size() > max_len)
      return Error(absl::StrCat(ctx, "\"", key, "\" is longer than ", max_len, " bytes"));
    if (s.find('\0') != std::string::npos)
      return Error(absl::StrCat(ctx, "\"", key, "\" contains a NUL character"));
    return s;
  }

  // --- model fields --------------------------------------------------------------------------

  absl::Status ReadModelFields(const Json& h, Model& m) {
    GNVM_ASSIGN_OR_RETURN(m.family, String(h, "family", "", 64));
    if (m.family.empty()) return Error("\"family\" is empty");
    for (char c : m.family)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'))
        return Error(absl::StrCat("\"family\" \"", m.family,
                                  "\" has characters outside [A-Za-z0-9_.-]"));
    GNVM_ASSIGN_OR_RETURN(m.name, String(h, "name", ""));
    GNVM_ASSIGN_OR_RETURN(m.sample_rate, Int(h, "sample_rate", "", 1000, 768000));
    GNVM_ASSIGN_OR_RETURN(m.frame_size, Int(h, "frame_size", "", 1, 1 << 20));
    GNVM_ASSIGN_OR_RETURN(m.hop_size, Int(h, "hop_size", "", 1, 1 << 20));
    GNVM_ASSIGN_OR_RETURN(m.algorithmic_latency, Int(h, "algorithmic_latency", "", 0, 1 << 24));
    GNVM_ASSIGN_OR_RETURN(std::string math, String(h, "math", ""));
    if (!kernels::ParseMathMode(math.c_str(), &m.math))
      return Error(absl::StrCat("unknown \"math\" \"", math,
                                "\" (expected exact or rnnoise_approx)"));
    GNVM_ASSIGN_OR_RETURN(const Json* meta, Field(h, "metadata", "", /*required=*/false));
    if (meta != nullptr) {
      if (!meta->is_object()) return Error("\"metadata\" must be a JSON object");
      m.metadata_json = meta->dump();
    } else {
      m.metadata_json = "{}";
    }
    return absl::OkStatus();
  }

  // --- tensor table --------------------------------------------------------------------------

  absl::Status ReadTensorTable(const Json& h) {
    GNVM_ASSIGN_OR_RETURN(const Json* list, Field(h, "tensors", ""));
    if (!list->is_array()) return Error("\"tensors\" must be an array");
    if (list->size() > kGnvmMaxTensors)
      return Error(absl::StrCat("too many tensors (", list->size(), " > ", kGnvmMaxTensors, ")"));
    for (size_t i = 0; i < list->size(); ++i) {
      const Json& t = (*list)[i];
      std::string ctx = absl::StrCat("tensor ", i, ": ");
      if (!t.is_object()) return Error(absl::StrCat(ctx, "not an object"));
      TensorInfo info;
      GNVM_ASSIGN_OR_RETURN(info.name, String(t, "name", ctx));
      if (info.name.empty()) return Error(absl::StrCat(ctx, "empty name"));
      ctx = absl::StrCat("tensor '", info.name, "': ");
      if (tensors_.count(info.name)) return Error(absl::StrCat(ctx, "defined twice"));

      GNVM_ASSIGN_OR_RETURN(std::string dtype, String(t, "dtype", ctx));
      if (dtype == "f32") info.dtype = DType::kF32;
      else if (dtype == "f16") info.dtype = DType::kF16;
      else if (dtype == "i8") info.dtype = DType::kI8;
      else
        return Error(absl::StrCat(ctx, "unknown dtype \"", dtype,
                                  "\" (expected f32, f16 or i8)"));

      GNVM_ASSIGN_OR_RETURN(const Json* shape, Field(t, "shape", ctx));
      if (!shape->is_array() || shape->empty() || shape->size() > kGnvmMaxRank)
        return Error(absl::StrCat(ctx, "\"shape\" must be an array of 1 to ", kGnvmMaxRank,
                                  " dimensions"));
      uint64_t count = 1;
      for (const Json& d : *shape) {
        GNVM_ASSIGN_OR_RETURN(int64_t dim, IntValue(d, "shape", ctx, 1, kMaxDim));
        info.shape.push_back(dim);
        if (count > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(dim))
          return Error(absl::StrCat(ctx, "shape too large"));
        count *= static_cast<uint64_t>(dim);
      }
      GNVM_ASSIGN_OR_RETURN(int64_t offset,
                            Int(t, "offset", ctx, 0, std::numeric_limits<int64_t>::max()));
      GNVM_ASSIGN_OR_RETURN(int64_t nbytes,
                            Int(t, "nbytes", ctx, 1, std::numeric_limits<int64_t>::max()));
      info.offset = static_cast<uint64_t>(offset);
      info.nbytes = static_cast<uint64_t>(nbytes);
      if (info.offset % kGnvmAlignment != 0)
        return Error(absl::StrCat(ctx, "offset ", info.offset, " is not a multiple of ",
                                  kGnvmAlignment));
      const uint64_t elem = DTypeSize(info.dtype);
      if (count > info.nbytes / elem || count * elem != info.nbytes)
        return Error(absl::StrCat(ctx, "nbytes ", info.nbytes, " does not match shape ",
                                  ShapeString(info.shape), " of ", DTypeName(info.dtype)));
      if (info.offset > data_size_ || info.nbytes > data_size_ - info.offset)
        return Error(absl::StrCat(ctx, "data [", info.offset, ", ", info.offset + info.nbytes,
                                  ") runs past the end of the tensor data (", data_size_,
                                  " bytes)"));
      info.count = static_cast<size_t>(count);

      GNVM_ASSIGN_OR_RETURN(const Json* scales, Field(t, "scales", ctx, /*required=*/false));
      if (info.dtype == DType::kI8) {
        if (scales == nullptr) return Error(absl::StrCat(ctx, "i8 tensor without \"scales\""));
        if (!scales->is_array() || scales->size() != static_cast<size_t>(info.shape.back()))
          return Error(absl::StrCat(ctx, "\"scales\" must be an array of ", info.shape.back(),
                                    " numbers (one per element of the last axis)"));
        info.scales.reserve(scales->size());
        for (const Json& s : *scales) {
          if (!s.is_number()) return Error(absl::StrCat(ctx, "\"scales\" holds a non-number"));
          const double d = s.get<double>();
          const float f = static_cast<float>(d);
          if (!std::isfinite(d) || !std::isfinite(f) || f < 0.0f)
            return Error(absl::StrCat(ctx, "scale ", d, " is not a finite non-negative float"));
          info.scales.push_back(f);
        }
      } else if (scales != nullptr) {
        return Error(absl::StrCat(ctx, "\"scales\" given for a ", DTypeName(info.dtype),
                                  " tensor"));
      }
      tensors_.emplace(info.name, std::move(info));
    }
    return absl::OkStatus();
  }

  // Converts a tensor to float (or points at it in place) once, and checks every value.
  absl::StatusOr<const float*> Materialize(TensorInfo& t) {
    if (t.floats != nullptr) return t.floats;
    const uint8_t* p = data_ + t.offset;
    const float* out = nullptr;
    if (t.dtype == DType::kF32 && reinterpret_cast<uintptr_t>(p) % alignof(float) == 0) {
      out = reinterpret_cast<const float*>(p);
    } else {
      std::vector<float>& v = storage_->owned.emplace_back(t.count);
      switch (t.dtype) {
        case DType::kF32:
          std::memcpy(v.data(), p, t.count * sizeof(float));
          break;
        case DType::kF16:
          for (size_t i = 0; i < t.count; ++i) {
            uint16_t h;
            std::memcpy(&h, p + 2 * i, 2);
            v[i] = HalfToFloat(h);
          }
          break;
        case DType::kI8: {
          const size_t cols = t.scales.size();
          for (size_t i = 0; i < t.count; ++i)
            v[i] = static_cast<float>(static_cast<int8_t>(p[i])) * t.scales[i % cols];
          break;
        }
      }
      out = v.data();
    }
    for (size_t i = 0; i < t.count; ++i)
      if (!std::isfinite(out[i]))
        return Error(absl::StrCat("tensor '", t.name, "': element ", i, " is NaN or Inf"));
    t.floats = out;
    return out;
  }

  // --- layers --------------------------------------------------------------------------------

  absl::StatusOr<const float*> LayerTensor(const Json& refs, const char* role, bool required,
                                           const std::vector<int64_t>& expected,
                                           absl::string_view ctx) {
    auto it = refs.find(role);
    if (it == refs.end()) {
      if (required) return Error(absl::StrCat(ctx, "no \"", role, "\" tensor"));
      return static_cast<const float*>(nullptr);
    }
    if (!it->is_string())
      return Error(absl::StrCat(ctx, "tensor reference \"", role, "\" must be a string"));
    const std::string& tname = it->get_ref<const std::string&>();
    auto t = tensors_.find(tname);
    if (t == tensors_.end())
      return Error(absl::StrCat(ctx, "\"", role, "\" names tensor '", tname,
                                "', which is not in the tensor table"));
    if (t->second.shape != expected)
      return Error(absl::StrCat(ctx, "\"", role, "\" tensor '", tname, "' has shape ",
                                ShapeString(t->second.shape), ", expected ",
                                ShapeString(expected)));
    return Materialize(t->second);
  }

  absl::Status ReadLayers(const Json& h, Model& m) {
    GNVM_ASSIGN_OR_RETURN(const Json* list, Field(h, "layers", ""));
    if (!list->is_array()) return Error("\"layers\" must be an array");
    if (list->empty()) return Error("the model has no layers");
    if (list->size() > kGnvmMaxLayers)
      return Error(absl::StrCat("too many layers (", list->size(), " > ", kGnvmMaxLayers, ")"));
    std::set<std::string> names;
    for (size_t i = 0; i < list->size(); ++i) {
      const Json& j = (*list)[i];
      std::string ctx = absl::StrCat("layer ", i, ": ");
      if (!j.is_object()) return Error(absl::StrCat(ctx, "not an object"));
      Layer l;
      GNVM_ASSIGN_OR_RETURN(l.name, String(j, "name", ctx));
      if (l.name.empty()) return Error(absl::StrCat(ctx, "empty name"));
      ctx = absl::StrCat("layer '", l.name, "': ");
      if (!names.insert(l.name).second) return Error(absl::StrCat(ctx, "defined twice"));
      GNVM_ASSIGN_OR_RETURN(std::string kind, String(j, "kind", ctx));
      if (kind == "dense") l.kind = LayerKind::kDense;
      else if (kind == "gru") l.kind = LayerKind::kGru;
      else return Error(absl::StrCat(ctx, "unknown kind \"", kind, "\" (expected dense or gru)"));
      GNVM_ASSIGN_OR_RETURN(l.inputs, Int(j, "inputs", ctx, 1, kGnvmMaxUnits));
      GNVM_ASSIGN_OR_RETURN(l.units, Int(j, "units", ctx, 1, kGnvmMaxUnits));
      GNVM_ASSIGN_OR_RETURN(std::string act, String(j, "activation", ctx));
      if (!kernels::ParseActivation(act.c_str(), &l.activation))
        return Error(absl::StrCat(ctx, "unknown activation \"", act,
                                  "\" (expected identity, tanh, sigmoid or relu)"));
      GNVM_ASSIGN_OR_RETURN(const Json* ra, Field(j, "reset_after", ctx, /*required=*/false));
      if (ra != nullptr) {
        if (!ra->is_boolean()) return Error(absl::StrCat(ctx, "\"reset_after\" must be a boolean"));
        l.reset_after = ra->get<bool>();
      }
      GNVM_ASSIGN_OR_RETURN(const Json* refs, Field(j, "tensors", ctx));
      if (!refs->is_object()) return Error(absl::StrCat(ctx, "\"tensors\" must be an object"));
      const bool gru = l.kind == LayerKind::kGru;
      for (auto it = refs->begin(); it != refs->end(); ++it) {
        const std::string& key = it.key();
        const bool known = key == "weights" || key == "bias" ||
                           (gru && (key == "recurrent" || key == "recurrent_bias"));
        if (!known)
          return Error(absl::StrCat(ctx, "unexpected tensor role \"", key, "\" for a ", kind,
                                    " layer"));
      }
      const int64_t g = gru ? 3 : 1;
      const int64_t in = l.inputs, u = l.units;
      GNVM_ASSIGN_OR_RETURN(l.weights, LayerTensor(*refs, "weights", true, {in, g * u}, ctx));
      GNVM_ASSIGN_OR_RETURN(l.bias, LayerTensor(*refs, "bias", false, {g * u}, ctx));
      if (gru) {
        GNVM_ASSIGN_OR_RETURN(l.recurrent, LayerTensor(*refs, "recurrent", true, {u, g * u}, ctx));
        GNVM_ASSIGN_OR_RETURN(l.recurrent_bias,
                              LayerTensor(*refs, "recurrent_bias", false, {g * u}, ctx));
      }
      m.layers.push_back(std::move(l));
    }
    return absl::OkStatus();
  }

  const uint8_t* base_;
  size_t size_;
  std::string name_;
  std::shared_ptr<GnvmStorage> storage_;
  const uint8_t* data_ = nullptr;
  uint64_t data_size_ = 0;
  std::map<std::string, TensorInfo> tensors_;
};

std::string ErrnoText(int err) {
  char buf[256];
  // GNU strerror_r returns the message (which may or may not be buf).
  return strerror_r(err, buf, sizeof(buf));
}

absl::Status FileError(const std::string& path, absl::string_view what, int err) {
  std::string msg = absl::StrCat(path, ": ", what, ": ", ErrnoText(err));
  if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(msg);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
  return absl::UnavailableError(msg);
}

// ---------------------------------------------------------------------------------------------
// Writer

struct OutTensor {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::string bytes;
  std::vector<float> scales;
};

absl::Status Invalid(absl::string_view what) { return absl::InvalidArgumentError(what); }

absl::StatusOr<OutTensor> EncodeTensor(std::string name, const float* v,
                                       std::vector<int64_t> shape, Precision p) {
  OutTensor t;
  t.name = std::move(name);
  t.shape = std::move(shape);
  size_t count = 1;
  for (int64_t d : t.shape) count *= static_cast<size_t>(d);
  for (size_t i = 0; i < count; ++i)
    if (!std::isfinite(v[i]))
      return Invalid(absl::StrCat("tensor '", t.name, "': element ", i, " is NaN or Inf"));
  const Precision eff = t.shape.size() >= 2 ? p : Precision::kF32;
  switch (eff) {
    case Precision::kF32:
      t.dtype = DType::kF32;
      t.bytes.assign(reinterpret_cast<const char*>(v), count * sizeof(float));
      break;
    case Precision::kF16:
      t.dtype = DType::kF16;
      t.bytes.resize(count * 2);
      for (size_t i = 0; i < count; ++i) {
        const uint16_t h = FloatToHalf(v[i]);
        if ((h & 0x7c00) == 0x7c00)
          return Invalid(absl::StrCat("tensor '", t.name, "': element ", i, " = ", v[i],
                                      " is out of f16 range"));
        std::memcpy(&t.bytes[2 * i], &h, 2);
      }
      break;
    case Precision::kI8: {
      t.dtype = DType::kI8;
      const size_t cols = static_cast<size_t>(t.shape.back());
      const size_t rows = count / cols;
      t.scales.assign(cols, 0.0f);
      for (size_t r = 0; r < rows; ++r)
        for (size_t c = 0; c < cols; ++c)
          t.scales[c] = std::max(t.scales[c], std::fabs(v[r * cols + c]));
      for (float& s : t.scales) s = s / 127.0f;
      t.bytes.resize(count);
      for (size_t r = 0; r < rows; ++r) {
        for (size_t c = 0; c < cols; ++c) {
          const float s = t.scales[c];
          float q = s > 0.0f ? std::nearbyint(v[r * cols + c] / s) : 0.0f;
          q = std::clamp(q, -127.0f, 127.0f);
          t.bytes[r * cols + c] = static_cast<char>(static_cast<int8_t>(q));
        }
      }
      break;
    }
  }
  return t;
}

absl::Status ValidateForWrite(const Model& m) {
  if (m.family.empty() || m.family.size() > 64) return Invalid("model family must be 1..64 bytes");
  if (m.name.size() > kGnvmMaxNameLength) return Invalid("model name is too long");
  if (m.layers.empty()) return Invalid("the model has no layers");
  if (m.layers.size() > kGnvmMaxLayers) return Invalid("the model has too many layers");
  if (m.sample_rate < 1000 || m.sample_rate > 768000) return Invalid("sample_rate out of range");
  if (m.frame_size < 1 || m.frame_size > (1 << 20)) return Invalid("frame_size out of range");
  if (m.hop_size < 1 || m.hop_size > (1 << 20)) return Invalid("hop_size out of range");
  if (m.algorithmic_latency < 0 || m.algorithmic_latency > (1 << 24))
    return Invalid("algorithmic_latency out of range");
  std::set<std::string> names;
  for (const Layer& l : m.layers) {
    const std::string ctx = absl::StrCat("layer '", l.name, "': ");
    if (l.name.empty() || l.name.size() > kGnvmMaxNameLength)
      return Invalid(absl::StrCat(ctx, "name must be 1..", kGnvmMaxNameLength, " bytes"));
    if (!names.insert(l.name).second) return Invalid(absl::StrCat(ctx, "defined twice"));
    if (l.inputs < 1 || l.inputs > kGnvmMaxUnits || l.units < 1 || l.units > kGnvmMaxUnits)
      return Invalid(absl::StrCat(ctx, "inputs and units must be 1..", kGnvmMaxUnits));
    if (l.weights == nullptr) return Invalid(absl::StrCat(ctx, "no weights"));
    if (l.kind == LayerKind::kGru && l.recurrent == nullptr)
      return Invalid(absl::StrCat(ctx, "GRU without recurrent weights"));
  }
  return absl::OkStatus();
}

}  // namespace

// ---------------------------------------------------------------------------------------------

const char* PrecisionName(Precision p) {
  switch (p) {
    case Precision::kF32: return "f32";
    case Precision::kF16: return "f16";
    case Precision::kI8: return "i8";
  }
  return "?";
}

bool ParsePrecision(std::string_view name, Precision* out) {
  if (name == "f32") *out = Precision::kF32;
  else if (name == "f16") *out = Precision::kF16;
  else if (name == "i8") *out = Precision::kI8;
  else return false;
  return true;
}

uint64_t Fnv1a64(const void* data, size_t n, uint64_t hash) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) {
    hash ^= p[i];
    hash *= kFnv1a64Prime;
  }
  return hash;
}

uint16_t FloatToHalf(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t a = x & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520 -> Inf
  if (a < 0x38800000u) {                                               // below 2^-14: subnormal
    if (a <= 0x33000000u) return static_cast<uint16_t>(sign);          // <= 2^-25 -> 0
    const uint32_t e = a >> 23;
    const uint32_t m = (a & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // 14..24: value in units of 2^-24
    uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) ++q;
    return static_cast<uint16_t>(sign | q);
  }
  uint32_t h = (((a >> 23) - 112u) << 10) | ((a >> 13) & 0x3ffu);
  const uint32_t rem = a & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu;
  const uint32_t m = h & 0x3ffu;
  if (e == 0) {
    const float v = static_cast<float>(m) * 5.9604644775390625e-8f;  // m * 2^-24, exact
    return sign ? -v : v;
  }
  if (e == 31) return std::bit_cast<float>(sign | 0x7f800000u | (m << 13));
  return std::bit_cast<float>(sign | ((e + 112u) << 23) | (m << 13));
}

absl::StatusOr<std::shared_ptr<const Model>> LoadGnvmMemory(const void* data, size_t size,
                                                            bool copy, std::string_view name_sv) {
  const absl::string_view name(name_sv.data(), name_sv.size());
  if (data == nullptr && size != 0)
    return absl::InvalidArgumentError(absl::StrCat(name, ": null data"));
  if (!copy || size == 0) {
    static const uint8_t kEmpty = 0;
    const uint8_t* base = size == 0 ? &kEmpty : static_cast<const uint8_t*>(data);
    return Reader(base, size, name, nullptr).Read();
  }
  uint8_t* buf = nullptr;
  try {
    buf = static_cast<uint8_t*>(::operator new(size, std::align_val_t{kGnvmAlignment}));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat(name, ": cannot allocate ", size, " bytes"));
  }
  std::shared_ptr<const void> owner(buf, [](const void* p) {
    ::operator delete(const_cast<void*>(p), std::align_val_t{kGnvmAlignment});
  });
  std::memcpy(buf, data, size);
  return Reader(buf, size, name, std::move(owner)).Read();
}

absl::StatusOr<std::shared_ptr<const Model>> LoadGnvmFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FileError(path, "cannot open", errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return FileError(path, "cannot stat", err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": empty file (not a .gnvm model)"));
  }
  void* addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);
  if (addr == MAP_FAILED) return FileError(path, "cannot mmap", err);
  std::shared_ptr<const void> mapping(
      addr, [size](const void* p) { ::munmap(const_cast<void*>(p), size); });
  return Reader(static_cast<const uint8_t*>(addr), size, path, std::move(mapping)).Read();
}

absl::StatusOr<std::string> SerializeGnvm(const Model& m, Precision p) {
  GNVM_RETURN_IF_ERROR(ValidateForWrite(m));
  OrderedJson meta =
      OrderedJson::parse(m.metadata_json.begin(), m.metadata_json.end(), nullptr, false);
  if (meta.is_discarded() || !meta.is_object() ||
      JsonDepth(m.metadata_json) > kGnvmMaxJsonDepth - 1)
    return Invalid("metadata_json is not a JSON object (or nests too deeply)");

  std::vector<OutTensor> tensors;
  OrderedJson layers = OrderedJson::array();
  for (const Layer& l : m.layers) {
    const bool gru = l.kind == LayerKind::kGru;
    const int64_t g = gru ? 3 : 1, in = l.inputs, u = l.units;
    OrderedJson refs = OrderedJson::object();
    auto add = [&](const char* role, const float* v,
                   std::vector<int64_t> shape) -> absl::Status {
      if (v == nullptr) return absl::OkStatus();
      GNVM_ASSIGN_OR_RETURN(OutTensor t,
                            EncodeTensor(absl::StrCat(l.name, ".", role), v, std::move(shape), p));
      refs[role] = t.name;
      tensors.push_back(std::move(t));
      return absl::OkStatus();
    };
    GNVM_RETURN_IF_ERROR(add("weights", l.weights, {in, g * u}));
    if (gru) GNVM_RETURN_IF_ERROR(add("recurrent", l.recurrent, {u, g * u}));
    GNVM_RETURN_IF_ERROR(add("bias", l.bias, {g * u}));
    if (gru) GNVM_RETURN_IF_ERROR(add("recurrent_bias", l.recurrent_bias, {g * u}));
    OrderedJson lj;
    lj["name"] = l.name;
    lj["kind"] = gru ? "gru" : "dense";
    lj["inputs"] = l.inputs;
    lj["units"] = l.units;
    lj["activation"] = kernels::ActivationName(l.activation);
    if (gru) lj["reset_after"] = l.reset_after;
    lj["tensors"] = std::move(refs);
    layers.push_back(std::move(lj));
  }

  OrderedJson table = OrderedJson::array();
  std::vector<uint64_t> offsets;
  uint64_t offset = 0;
  for (const OutTensor& t : tensors) {
    offsets.push_back(offset);
    OrderedJson tj;
    tj["name"] = t.name;
    tj["dtype"] = DTypeName(t.dtype);
    tj["shape"] = t.shape;
    tj["offset"] = offset;
    tj["nbytes"] = t.bytes.size();
    if (t.dtype == DType::kI8) {
      OrderedJson s = OrderedJson::array();
      for (float f : t.scales) s.push_back(static_cast<double>(f));
      tj["scales"] = std::move(s);
    }
    table.push_back(std::move(tj));
    offset = AlignUp(offset + t.bytes.size());
  }

  OrderedJson h;
  h["family"] = m.family;
  h["name"] = m.name;
  h["sample_rate"] = m.sample_rate;
  h["frame_size"] = m.frame_size;
  h["hop_size"] = m.hop_size;
  h["algorithmic_latency"] = m.algorithmic_latency;
  h["math"] = kernels::MathModeName(m.math);
  h["metadata"] = std::move(meta);
  h["layers"] = std::move(layers);
  h["tensors"] = std::move(table);
  std::string header;
  try {
    header = h.dump();
  } catch (const std::exception& e) {
    return Invalid(absl::StrCat("cannot encode the header: ", e.what()));
  }
  if (header.size() > kGnvmMaxHeaderBytes) return Invalid("header too large");

  std::string out;
  out.append(kMagic, sizeof(kMagic));
  AppendU32(out, kGnvmVersion);
  AppendU64(out, header.size());
  out += header;
  const size_t data_start = AlignUp(out.size());
  out.resize(data_start, '\0');
  for (size_t i = 0; i < tensors.size(); ++i) {
    out.resize(data_start + offsets[i], '\0');
    out += tensors[i].bytes;
  }
  AppendU64(out, Fnv1a64(out.data(), out.size()));
  return out;
}

absl::Status WriteGnvmFile(const Model& m, const std::string& path, Precision p) {
  GNVM_ASSIGN_OR_RETURN(std::string bytes, SerializeGnvm(m, p));
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return FileError(tmp, "cannot create", errno);
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return FileError(tmp, "cannot write", err);
    }
    done += static_cast<size_t>(n);
  }
  int sync_err = ::fsync(fd) == 0 ? 0 : errno;
  if (::close(fd) != 0 && sync_err == 0) sync_err = errno;
  if (sync_err != 0) {
    ::unlink(tmp.c_str());
    return FileError(tmp, "cannot flush", sync_err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return FileError(path, "cannot rename the temporary file onto", err);
  }
  return absl::OkStatus();
}

}  // namespace ghostnv::models
