// models/gnvm_test.cc — .gnvm round trips, precision bounds, and corrupt input of every kind.

#include "models/gnvm.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "models/test_util.h"
#include "nlohmann/json.hpp"

// GCC 12 reports false -Wrestrict warnings for std::string assignments inlined into lambdas
// (GCC bug 105651).
#pragma GCC diagnostic ignored "-Wrestrict"

namespace ghostnv::models {
namespace {

using ::ghostnv::models::testing::BiasCount;
using ::ghostnv::models::testing::ExpectBitIdentical;
using ::ghostnv::models::testing::ExpectSameStructure;
using ::ghostnv::models::testing::OwnedModel;
using ::ghostnv::models::testing::RandomModel;
using ::ghostnv::models::testing::RecurrentCount;
using ::ghostnv::models::testing::TinyModel;
using ::ghostnv::models::testing::WeightsCount;
using Json = nlohmann::json;

// Independent FNV-1a 64 (the published constants, written out again here).
uint64_t RefFnv(const std::string& s) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

uint32_t U32At(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}
uint64_t U64At(const std::string& s, size_t at) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}
void PutU64(std::string& s, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) s[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
void FixChecksum(std::string& s) {
  if (s.size() < 8) return;
  PutU64(s, s.size() - 8, RefFnv(s.substr(0, s.size() - 8)));
}

// A second, independent .gnvm assembler for hand-made headers: magic, version, header length,
// header, zero padding to 64, `data`, checksum.
std::string Assemble(const std::string& header, const std::string& data, uint32_t version = 1) {
  std::string out = "GNVM";
  for (int i = 0; i < 4; ++i) out += static_cast<char>((version >> (8 * i)) & 0xff);
  const uint64_t h = header.size();
  for (int i = 0; i < 8; ++i) out += static_cast<char>((h >> (8 * i)) & 0xff);
  out += header;
  while (out.size() % 64 != 0) out += '\0';
  out += data;
  out.append(8, '\0');
  FixChecksum(out);
  return out;
}

std::string TempPath(const std::string& leaf) {
  return ::testing::TempDir() + "/gnvm_test_" + std::to_string(::getpid()) + "_" + leaf;
}

absl::StatusOr<std::shared_ptr<const Model>> LoadBytes(const std::string& b) {
  return LoadGnvmMemory(b.data(), b.size(), /*copy=*/true, "test.gnvm");
}

// ---------------------------------------------------------------------------------------------

TEST(GnvmTest, RoundTripF32IsBitIdenticalThroughEveryPath) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    OwnedModel om = RandomModel(seed);
    absl::StatusOr<std::string> bytes = SerializeGnvm(*om.model, Precision::kF32);
    ASSERT_TRUE(bytes.ok()) << bytes.status();

    // Memory, copied.
    auto copied = LoadGnvmMemory(bytes->data(), bytes->size(), /*copy=*/true);
    ASSERT_TRUE(copied.ok()) << copied.status();
    ExpectBitIdentical(*om.model, **copied);
    EXPECT_EQ(Json::parse((*copied)->metadata_json), Json::parse(om.model->metadata_json));

    // Memory, borrowed: f32 tensors point straight into the caller's (aligned) bytes.
    std::vector<uint64_t> aligned((bytes->size() + 7) / 8);
    std::memcpy(aligned.data(), bytes->data(), bytes->size());
    const char* base = reinterpret_cast<const char*>(aligned.data());
    auto borrowed = LoadGnvmMemory(base, bytes->size(), /*copy=*/false);
    ASSERT_TRUE(borrowed.ok()) << borrowed.status();
    ExpectBitIdentical(*om.model, **borrowed);
    for (const Layer& l : (*borrowed)->layers) {
      const char* w = reinterpret_cast<const char*>(l.weights);
      EXPECT_TRUE(w >= base && w < base + bytes->size()) << l.name << " was copied";
    }

    // File, mmap'd.
    const std::string path = TempPath("rt.gnvm");
    ASSERT_TRUE(WriteGnvmFile(*om.model, path).ok());
    auto mapped = LoadGnvmFile(path);
    ASSERT_TRUE(mapped.ok()) << mapped.status();
    ExpectBitIdentical(*om.model, **mapped);
    std::ifstream f(path, std::ios::binary);
    const std::string on_disk((std::istreambuf_iterator<char>(f)),
                              std::istreambuf_iterator<char>());
    EXPECT_EQ(on_disk, *bytes);
    std::remove(path.c_str());
    EXPECT_NE(access((path + ".tmp").c_str(), F_OK), 0) << "temporary file left behind";
  }
}

TEST(GnvmTest, ModelOutlivesItsSourceBytes) {
  std::shared_ptr<const Model> m;
  std::vector<float> first;
  {
    OwnedModel om = RandomModel(7);
    first.assign(om.model->layers[1].recurrent,
                 om.model->layers[1].recurrent + RecurrentCount(om.model->layers[1]));
    std::string bytes = *SerializeGnvm(*om.model);
    auto loaded = LoadGnvmMemory(bytes.data(), bytes.size(), /*copy=*/true);
    ASSERT_TRUE(loaded.ok());
    m = *loaded;
    std::fill(bytes.begin(), bytes.end(), '\xff');  // the copy must not depend on these
  }
  EXPECT_EQ(std::memcmp(m->layers[1].recurrent, first.data(), first.size() * 4), 0);

  const std::string path = TempPath("outlive.gnvm");
  OwnedModel om = RandomModel(8);
  ASSERT_TRUE(WriteGnvmFile(*om.model, path).ok());
  auto mapped = LoadGnvmFile(path);
  ASSERT_TRUE(mapped.ok());
  std::remove(path.c_str());  // the mapping stays valid after unlink
  ExpectBitIdentical(*om.model, **mapped);
}

TEST(GnvmTest, LayoutMatchesTheSpecification) {
  OwnedModel om = RandomModel(4);
  const std::string b = *SerializeGnvm(*om.model, Precision::kF32);
  ASSERT_GE(b.size(), 24u);
  EXPECT_EQ(b.substr(0, 4), "GNVM");
  EXPECT_EQ(U32At(b, 4), 1u);
  const uint64_t hlen = U64At(b, 8);
  const size_t data_start = (16 + hlen + 63) / 64 * 64;
  for (size_t i = 16 + hlen; i < data_start; ++i) EXPECT_EQ(b[i], '\0');
  EXPECT_EQ(U64At(b, b.size() - 8), RefFnv(b.substr(0, b.size() - 8)));

  const Json h = Json::parse(b.substr(16, hlen));
  EXPECT_EQ(h["family"], "test-family");
  EXPECT_EQ(h["math"], "exact");
  EXPECT_EQ(h["sample_rate"], 16000);
  ASSERT_EQ(h["layers"].size(), om.model->layers.size());
  EXPECT_EQ(h["layers"][1]["kind"], "gru");
  EXPECT_EQ(h["layers"][1]["reset_after"], true);
  EXPECT_EQ(h["layers"][2]["activation"], "relu");
  std::map<std::string, Json> table;
  for (const Json& t : h["tensors"]) table[t["name"]] = t;
  // Every tensor's bytes sit at data_start + offset, 64-aligned, in f32 little-endian.
  for (const Layer& l : om.model->layers) {
    auto check = [&](const std::string& role, const float* v, size_t n,
                     const std::vector<int64_t>& shape) {
      const std::string name = l.name + "." + role;
      if (v == nullptr) {
        EXPECT_EQ(table.count(name), 0u) << name;
        return;
      }
      ASSERT_EQ(table.count(name), 1u) << name;
      const Json& t = table[name];
      EXPECT_EQ(t["dtype"], "f32");
      EXPECT_EQ(t["shape"].get<std::vector<int64_t>>(), shape) << name;
      const uint64_t off = t["offset"];
      EXPECT_EQ(off % 64, 0u);
      EXPECT_EQ(t["nbytes"].get<uint64_t>(), n * 4);
      ASSERT_LE(data_start + off + n * 4, b.size() - 8);
      EXPECT_EQ(std::memcmp(b.data() + data_start + off, v, n * 4), 0) << name;
    };
    const int64_t g = l.kind == LayerKind::kGru ? 3 : 1;
    check("weights", l.weights, WeightsCount(l), {l.inputs, g * l.units});
    check("bias", l.bias, BiasCount(l), {g * l.units});
    if (l.kind == LayerKind::kGru) {
      check("recurrent", l.recurrent, RecurrentCount(l), {l.units, g * l.units});
      check("recurrent_bias", l.recurrent_bias, BiasCount(l), {g * l.units});
    }
  }
}

// Exhaustive over all 65536 halves: HalfToFloat against ldexp, and FloatToHalf inverts it.
TEST(GnvmTest, HalfConversionIsExactForEveryHalf) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const int sign = (h >> 15) ? -1 : 1;
    const int e = (h >> 10) & 31;
    const int m = h & 1023;
    const float f = HalfToFloat(static_cast<uint16_t>(h));
    if (e == 31) {
      EXPECT_TRUE(m == 0 ? std::isinf(f) : std::isnan(f)) << h;
      if (m != 0) {
        EXPECT_EQ(FloatToHalf(f) & 0x7c00, 0x7c00) << h;
      } else {
        EXPECT_EQ(FloatToHalf(f), h);
      }
      continue;
    }
    const double ref = sign * (e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25));
    EXPECT_EQ(static_cast<double>(f), ref) << h;
    EXPECT_EQ(std::signbit(f), sign < 0) << h;
    EXPECT_EQ(FloatToHalf(f), h) << h;
  }
}

// Round to nearest even, checked against a brute-force nearest-half search in double.
TEST(GnvmTest, FloatToHalfRoundsToNearestEven) {
  std::vector<double> halves;  // all finite non-negative half values in order
  for (uint32_t h = 0; h < 0x7c00; ++h) halves.push_back(HalfToFloat(static_cast<uint16_t>(h)));
  auto reference = [&](float f) -> uint16_t {
    const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
    const double a = std::fabs(static_cast<double>(f));
    if (a >= 65520.0) return sign | 0x7c00;
    auto it = std::lower_bound(halves.begin(), halves.end(), a);
    size_t hi = static_cast<size_t>(it - halves.begin());
    if (hi == halves.size()) return sign | static_cast<uint16_t>(hi - 1);
    if (hi < halves.size() && halves[hi] == a) return sign | static_cast<uint16_t>(hi);
    const size_t lo = hi - 1;
    const double dlo = a - halves[lo], dhi = halves[hi] - a;
    if (dlo < dhi) return sign | static_cast<uint16_t>(lo);
    if (dhi < dlo) return sign | static_cast<uint16_t>(hi);
    return sign | static_cast<uint16_t>((lo % 2 == 0) ? lo : hi);
  };
  std::mt19937 rng(11);
  std::uniform_int_distribution<uint32_t> bits;
  std::vector<float> cases = {0.0f, -0.0f, 1.0f, 65504.0f, 65519.99f, 65520.0f, 1e-8f,
                              2.9802322e-8f /* 2^-25 */, 2.9802326e-8f, 5.9604645e-8f,
                              6.1035156e-5f, 6.1035149e-5f, 1.00048828125f /* tie, even */,
                              1.00146484375f /* tie, odd */, -3.1415927f};
  for (int i = 0; i < 200000; ++i) {
    float f;
    uint32_t u = bits(rng);
    // Focus on the half range: exponents 2^-26 .. 2^17.
    u = (u & 0x807fffffu) | ((101u + (u >> 23) % 43u) << 23);
    std::memcpy(&f, &u, 4);
    cases.push_back(f);
  }
  for (float f : cases) EXPECT_EQ(FloatToHalf(f), reference(f)) << f;
}

TEST(GnvmTest, F16RoundTripWithinHalfPrecision) {
  OwnedModel om = RandomModel(5);
  auto bytes = SerializeGnvm(*om.model, Precision::kF16);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_LT(bytes->size(), SerializeGnvm(*om.model, Precision::kF32)->size());
  auto m = LoadBytes(*bytes);
  ASSERT_TRUE(m.ok()) << m.status();
  ExpectSameStructure(*om.model, **m);
  for (size_t i = 0; i < om.model->layers.size(); ++i) {
    const Layer& a = om.model->layers[i];
    const Layer& b = (*m)->layers[i];
    auto near = [](const float* x, const float* y, size_t n) {
      for (size_t k = 0; k < n; ++k) {
        const double err = std::fabs(static_cast<double>(x[k]) - y[k]);
        // Half has an 11-bit significand: relative error <= 2^-11, absolute 2^-25 near zero.
        if (err > std::fabs(x[k]) * std::ldexp(1.0, -11) + std::ldexp(1.0, -25)) return false;
      }
      return true;
    };
    EXPECT_TRUE(near(a.weights, b.weights, WeightsCount(a))) << a.name;
    // Vectors stay f32.
    EXPECT_TRUE(testing::SameBits(a.bias, b.bias, BiasCount(a)));
    if (a.kind == LayerKind::kGru) {
      EXPECT_TRUE(near(a.recurrent, b.recurrent, RecurrentCount(a)));
      EXPECT_TRUE(testing::SameBits(a.recurrent_bias, b.recurrent_bias, BiasCount(a)));
    }
  }
}

TEST(GnvmTest, I8RoundTripWithinHalfAStepPerColumn) {
  OwnedModel om = RandomModel(6);
  // Give one column of one matrix a much larger range, and one column all zeros.
  Layer& in = om.model->layers[0];
  float* w = const_cast<float*>(in.weights);
  for (int r = 0; r < in.inputs; ++r) {
    w[r * in.units + 2] *= 100.0f;
    w[r * in.units + 4] = 0.0f;
  }
  auto bytes = SerializeGnvm(*om.model, Precision::kI8);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto m = LoadBytes(*bytes);
  ASSERT_TRUE(m.ok()) << m.status();
  ExpectSameStructure(*om.model, **m);
  auto check = [](const float* x, const float* y, size_t rows, size_t cols, const char* what) {
    for (size_t c = 0; c < cols; ++c) {
      double maxabs = 0;
      for (size_t r = 0; r < rows; ++r)
        maxabs = std::max(maxabs, std::fabs(double{x[r * cols + c]}));
      const double step = maxabs / 127.0;
      for (size_t r = 0; r < rows; ++r) {
        const double err = std::fabs(double{x[r * cols + c]} - y[r * cols + c]);
        ASSERT_LE(err, step * 0.5 * (1 + 1e-5) + 1e-30) << what << " r" << r << " c" << c;
      }
    }
  };
  for (size_t i = 0; i < om.model->layers.size(); ++i) {
    const Layer& a = om.model->layers[i];
    const Layer& b = (*m)->layers[i];
    const size_t g = a.kind == LayerKind::kGru ? 3 : 1;
    check(a.weights, b.weights, a.inputs, g * a.units, a.name.c_str());
    if (a.kind == LayerKind::kGru) check(a.recurrent, b.recurrent, a.units, g * a.units, "rec");
    EXPECT_TRUE(testing::SameBits(a.bias, b.bias, BiasCount(a)));
  }
  // The zero column comes back as exact zeros; the extreme of each column is exact up to
  // float rounding of q*scale.
  const Layer& b0 = (*m)->layers[0];
  for (int r = 0; r < in.inputs; ++r) EXPECT_EQ(b0.weights[r * in.units + 4], 0.0f);
  // The header holds one scale per output column.
  const Json h = Json::parse(bytes->substr(16, U64At(*bytes, 8)));
  for (const Json& t : h["tensors"]) {
    if (t["shape"].size() >= 2) {
      EXPECT_EQ(t["dtype"], "i8");
      EXPECT_EQ(t["scales"].size(), t["shape"].back().get<size_t>());
    } else {
      EXPECT_EQ(t["dtype"], "f32");
    }
  }
}

TEST(GnvmTest, UnalignedBorrowedMemoryIsCopiedNotMisread) {
  OwnedModel om = RandomModel(9);
  const std::string b = *SerializeGnvm(*om.model);
  std::vector<uint64_t> buf(b.size() / 8 + 2);
  char* odd = reinterpret_cast<char*>(buf.data()) + 1;
  std::memcpy(odd, b.data(), b.size());
  auto m = LoadGnvmMemory(odd, b.size(), /*copy=*/false);
  ASSERT_TRUE(m.ok()) << m.status();
  ExpectBitIdentical(*om.model, **m);
  for (const Layer& l : (*m)->layers)
    EXPECT_EQ(reinterpret_cast<uintptr_t>(l.weights) % alignof(float), 0u);
}

// ---------------------------------------------------------------------------------------------
// Corruption: none of these may crash (run under ASan/UBSan too), all must be errors.

TEST(GnvmTest, EveryTruncationIsAnError) {
  const std::string b = *SerializeGnvm(*TinyModel(1).model);
  ASSERT_TRUE(LoadBytes(b).ok());
  for (size_t n = 0; n < b.size(); ++n) {
    auto m = LoadGnvmMemory(b.data(), n, /*copy=*/true, "cut.gnvm");
    ASSERT_FALSE(m.ok()) << "truncated to " << n << " bytes loaded";
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(m.status().message().substr(0, 10), "cut.gnvm: ") << m.status();
  }
  EXPECT_FALSE(LoadGnvmMemory(nullptr, 0, false).ok());
  EXPECT_FALSE(LoadBytes(b + std::string(1, '\0')).ok());
  EXPECT_FALSE(LoadBytes(b + b).ok());
}

TEST(GnvmTest, EverySingleByteFlipIsAnError) {
  const std::string b = *SerializeGnvm(*TinyModel(2).model);
  std::mt19937 rng(3);
  for (size_t i = 0; i < b.size(); ++i) {
    std::string c = b;
    c[i] = static_cast<char>(c[i] ^ (1 + rng() % 255));
    auto m = LoadBytes(c);
    ASSERT_FALSE(m.ok()) << "flip at " << i << " loaded";
  }
  std::string c = b;
  c[b.size() / 2] ^= 0x10;
  EXPECT_NE(LoadBytes(c).status().message().find("checksum mismatch"), std::string::npos)
      << LoadBytes(c).status();
}

// With the checksum recomputed, random corruption reaches the parser. Anything may come back,
// but no crash, and a model that loads must be self-consistent.
TEST(GnvmTest, RandomCorruptionWithValidChecksumNeverCrashes) {
  for (Precision p : {Precision::kF32, Precision::kF16, Precision::kI8}) {
    const std::string b = *SerializeGnvm(*TinyModel(4).model, p);
    const size_t hlen = U64At(b, 8);
    std::mt19937 rng(static_cast<uint32_t>(p) + 17);
    int loaded = 0;
    for (int iter = 0; iter < 3000; ++iter) {
      std::string c = b;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int k = 0; k < flips; ++k) {
        // Mostly the header (where the parser lives), sometimes anywhere.
        const size_t at = (rng() % 4 != 0) ? 16 + rng() % hlen : rng() % (c.size() - 8);
        const char choices[] = "0123456789\"{}[],:-.eE \x01\xff";
        c[at] = (rng() % 2) ? choices[rng() % (sizeof(choices) - 1)] : static_cast<char>(rng());
      }
      FixChecksum(c);
      auto m = LoadBytes(c);
      if (!m.ok()) {
        EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << m.status();
        continue;
      }
      ++loaded;
      for (const Layer& l : (*m)->layers) {
        ASSERT_GE(l.inputs, 1);
        ASSERT_GE(l.units, 1);
        ASSERT_NE(l.weights, nullptr);
        for (size_t k = 0; k < WeightsCount(l); ++k) ASSERT_TRUE(std::isfinite(l.weights[k]));
      }
    }
    SUCCEED() << loaded << " corrupted images still loaded";
  }
}

// Hand-made headers, each breaking one rule.
class GnvmHeaderTest : public ::testing::Test {
 protected:
  // A valid dense 2 -> 3 model with bias and a GRU 3 -> 1 with recurrent weights.
  void SetUp() override {
    header_ = {
        {"family", "rnnoise"},
        {"name", "hand made"},
        {"sample_rate", 48000},
        {"frame_size", 960},
        {"hop_size", 480},
        {"algorithmic_latency", 480},
        {"math", "rnnoise_approx"},
        {"metadata", {{"k", "v"}}},
        {"layers",
         {{{"name", "d"},
           {"kind", "dense"},
           {"inputs", 2},
           {"units", 3},
           {"activation", "tanh"},
           {"tensors", {{"weights", "d.w"}, {"bias", "d.b"}}}},
          {{"name", "g"},
           {"kind", "gru"},
           {"inputs", 3},
           {"units", 1},
           {"activation", "tanh"},
           {"reset_after", false},
           {"tensors", {{"weights", "g.w"}, {"recurrent", "g.r"}}}}}},
        {"tensors",
         {{{"name", "d.w"}, {"dtype", "f32"}, {"shape", {2, 3}}, {"offset", 0}, {"nbytes", 24}},
          {{"name", "d.b"}, {"dtype", "f32"}, {"shape", {3}}, {"offset", 64}, {"nbytes", 12}},
          {{"name", "g.w"}, {"dtype", "f32"}, {"shape", {3, 3}}, {"offset", 128}, {"nbytes", 36}},
          {{"name", "g.r"}, {"dtype", "f32"}, {"shape", {1, 3}}, {"offset", 192}, {"nbytes", 12}}}},
    };
    data_.assign(256, '\0');
    auto put = [&](size_t off, const std::vector<float>& v) {
      std::memcpy(&data_[off], v.data(), v.size() * 4);
    };
    put(0, {0.5f, -1, 2, 3, 4, 5});
    put(64, {0.25f, 0, -0.25f});
    put(128, {1, 2, 3, 4, 5, 6, 7, 8, 9});
    put(192, {-1, -2, -3});
  }

  absl::Status Load() { return LoadBytes(Assemble(header_.dump(), data_)).status(); }

  void ExpectError(const std::string& needle) {
    absl::Status s = Load();
    ASSERT_FALSE(s.ok()) << "expected an error containing \"" << needle << "\"";
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find(needle), std::string::npos) << s;
    EXPECT_EQ(s.message().substr(0, 11), "test.gnvm: ") << s;
  }

  Json header_;
  std::string data_;
};

TEST_F(GnvmHeaderTest, BaselineLoads) {
  auto m = LoadBytes(Assemble(header_.dump(), data_));
  ASSERT_TRUE(m.ok()) << m.status();
  const Model& model = **m;
  EXPECT_EQ(model.family, "rnnoise");
  EXPECT_EQ(model.math, kernels::MathMode::kRnnoiseApprox);
  EXPECT_EQ(Json::parse(model.metadata_json), Json({{"k", "v"}}));
  ASSERT_EQ(model.layers.size(), 2u);
  EXPECT_EQ(model.layers[0].weights[1], -1.0f);
  EXPECT_EQ(model.layers[0].bias[2], -0.25f);
  EXPECT_EQ(model.layers[1].recurrent[2], -3.0f);
  EXPECT_EQ(model.layers[1].bias, nullptr);
  EXPECT_EQ(model.layers[1].recurrent_bias, nullptr);
  EXPECT_EQ(model.ParameterCount(), 6u + 3u + 9u + 3u);
}

TEST_F(GnvmHeaderTest, MetadataIsOptional) {
  header_.erase("metadata");
  auto m = LoadBytes(Assemble(header_.dump(), data_));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->metadata_json, "{}");
}

TEST_F(GnvmHeaderTest, PreambleErrors) {
  std::string good = Assemble(header_.dump(), data_);
  std::string bad = good;
  bad[0] = 'X';
  FixChecksum(bad);
  EXPECT_NE(LoadBytes(bad).status().message().find("bad magic"), std::string::npos);
  EXPECT_NE(LoadBytes(Assemble(header_.dump(), data_, 2)).status().message().find(
                "unsupported format version 2"),
            std::string::npos);
  bad = good;
  PutU64(bad, 8, uint64_t{1} << 62);
  FixChecksum(bad);
  EXPECT_NE(LoadBytes(bad).status().message().find("header length"), std::string::npos);
  bad = good;
  PutU64(bad, 8, 0);
  FixChecksum(bad);
  EXPECT_FALSE(LoadBytes(bad).ok());
  bad = good;
  PutU64(bad, 8, U64At(good, 8) + 64 * 100);  // header longer than the file
  FixChecksum(bad);
  EXPECT_NE(LoadBytes(bad).status().message().find("truncated"), std::string::npos);
  // Non-zero padding.
  const std::string h = header_.dump();
  ASSERT_NE((16 + h.size()) % 64, 0u);
  bad = good;
  bad[16 + h.size()] = 1;
  FixChecksum(bad);
  EXPECT_NE(LoadBytes(bad).status().message().find("padding"), std::string::npos);
  // Not JSON / not an object / too deep.
  EXPECT_NE(LoadBytes(Assemble("{\"family\":", data_)).status().message().find("does not parse"),
            std::string::npos);
  EXPECT_NE(LoadBytes(Assemble("[1,2]", data_)).status().message().find("not an object"),
            std::string::npos);
  EXPECT_FALSE(LoadBytes(Assemble("{\"x\":\"\xff\xfe\"}", data_)).ok());  // invalid UTF-8
  std::string deep(100000, '[');
  EXPECT_NE(LoadBytes(Assemble(deep, data_)).status().message().find("nests deeper"),
            std::string::npos);
  header_["metadata"] = Json::object();
  Json* j = &header_["metadata"];
  for (int i = 0; i < 70; ++i) j = &((*j)["a"] = Json::object());
  ExpectError("nests deeper");
}

// Each mutation of the baseline header must give an error mentioning `needle`.
struct Mutation {
  const char* what;
  std::function<void(Json&)> apply;
  const char* needle;
};

TEST_F(GnvmHeaderTest, EveryBrokenFieldIsAClearError) {
  const Json base = header_;
  std::vector<Mutation> cases = {
      {"no family", [](Json& h) { h.erase("family"); }, "missing field \"family\""},
      {"family not a string", [](Json& h) { h["family"] = 3; }, "\"family\" must be a string"},
      {"empty family", [](Json& h) { h["family"] = ""; }, "\"family\" is empty"},
      {"family with slash", [](Json& h) { h["family"] = "a/b"; }, "characters outside"},
      {"no name", [](Json& h) { h.erase("name"); }, "missing field \"name\""},
      {"huge name", [](Json& h) { h["name"] = std::string(5000, 'x'); }, "longer than"},
      {"NUL in name", [](Json& h) { h["name"] = std::string("a\0b", 3); }, "NUL"},
      {"rate as string", [](Json& h) { h["sample_rate"] = "48000"; }, "must be an integer"},
      {"rate as float", [](Json& h) { h["sample_rate"] = 48000.5; }, "must be an integer"},
      {"rate negative", [](Json& h) { h["sample_rate"] = -1; }, "out of range"},
      {"rate huge", [](Json& h) { h["sample_rate"] = 18446744073709551615ull; }, "out of range"},
      {"rate 1e30", [](Json& h) { h["sample_rate"] = 1e30; }, "must be an integer"},
      {"frame 0", [](Json& h) { h["frame_size"] = 0; }, "\"frame_size\" = 0 is out of range"},
      {"no hop", [](Json& h) { h.erase("hop_size"); }, "missing field \"hop_size\""},
      {"latency -5", [](Json& h) { h["algorithmic_latency"] = -5; }, "out of range"},
      {"math unknown", [](Json& h) { h["math"] = "fast"; }, "unknown \"math\""},
      {"metadata array", [](Json& h) { h["metadata"] = Json::array(); }, "\"metadata\" must be"},
      {"no layers", [](Json& h) { h.erase("layers"); }, "missing field \"layers\""},
      {"layers object", [](Json& h) { h["layers"] = Json::object(); }, "must be an array"},
      {"layers empty", [](Json& h) { h["layers"] = Json::array(); }, "no layers"},
      {"too many layers",
       [](Json& h) {
         Json l = h["layers"][0];
         h["layers"] = Json::array();
         for (int i = 0; i < 300; ++i) h["layers"].push_back(l);
       },
       "too many layers"},
      {"layer not object", [](Json& h) { h["layers"][0] = 5; }, "layer 0: not an object"},
      {"layer no name", [](Json& h) { h["layers"][1].erase("name"); }, "layer 1: missing field"},
      {"duplicate layer", [](Json& h) { h["layers"][1]["name"] = "d"; },
       "layer 'd': defined twice"},
      {"unknown kind", [](Json& h) { h["layers"][0]["kind"] = "lstm"; }, "unknown kind \"lstm\""},
      {"units 0", [](Json& h) { h["layers"][0]["units"] = 0; }, "\"units\" = 0 is out of range"},
      {"units 5000", [](Json& h) { h["layers"][0]["units"] = 5000; }, "out of range [1, 4096]"},
      {"inputs huge", [](Json& h) { h["layers"][0]["inputs"] = 1ll << 40; }, "out of range"},
      {"activation unknown", [](Json& h) { h["layers"][0]["activation"] = "gelu"; },
       "unknown activation \"gelu\""},
      {"reset_after int", [](Json& h) { h["layers"][1]["reset_after"] = 1; }, "must be a boolean"},
      {"no tensors in layer", [](Json& h) { h["layers"][0].erase("tensors"); },
       "layer 'd': missing field \"tensors\""},
      {"no weights", [](Json& h) { h["layers"][0]["tensors"].erase("weights"); },
       "no \"weights\" tensor"},
      {"gru no recurrent", [](Json& h) { h["layers"][1]["tensors"].erase("recurrent"); },
       "no \"recurrent\" tensor"},
      {"dense with recurrent", [](Json& h) { h["layers"][0]["tensors"]["recurrent"] = "g.r"; },
       "unexpected tensor role \"recurrent\""},
      {"typo role", [](Json& h) { h["layers"][0]["tensors"]["weight"] = "d.w"; },
       "unexpected tensor role"},
      {"ref not string", [](Json& h) { h["layers"][0]["tensors"]["weights"] = 0; },
       "must be a string"},
      {"unknown tensor", [](Json& h) { h["layers"][0]["tensors"]["weights"] = "zz"; },
       "not in the tensor table"},
      {"wrong shape", [](Json& h) { h["layers"][0]["inputs"] = 3; },
       "has shape [2,3], expected [3,3]"},
      {"bias as matrix", [](Json& h) { h["layers"][0]["tensors"]["bias"] = "d.w"; },
       "expected [3]"},
      {"gru wrong gates", [](Json& h) { h["layers"][1]["units"] = 3; }, "expected [3,9]"},
      {"no tensor table", [](Json& h) { h.erase("tensors"); }, "missing field \"tensors\""},
      {"tensor no name", [](Json& h) { h["tensors"][0].erase("name"); }, "tensor 0: missing"},
      {"tensor empty name", [](Json& h) { h["tensors"][0]["name"] = ""; }, "empty name"},
      {"duplicate tensor", [](Json& h) { h["tensors"][1]["name"] = "d.w"; }, "defined twice"},
      {"dtype unknown", [](Json& h) { h["tensors"][0]["dtype"] = "f64"; }, "unknown dtype"},
      {"shape empty", [](Json& h) { h["tensors"][0]["shape"] = Json::array(); }, "\"shape\""},
      {"shape rank 5", [](Json& h) { h["tensors"][0]["shape"] = {1, 1, 1, 2, 3}; }, "\"shape\""},
      {"shape 0", [](Json& h) { h["tensors"][0]["shape"] = {0, 3}; }, "out of range"},
      {"shape negative", [](Json& h) { h["tensors"][0]["shape"] = {-2, -3}; }, "out of range"},
      {"shape overflow",
       [](Json& h) { h["tensors"][0]["shape"] = {1 << 24, 1 << 24, 1 << 24, 1 << 24}; },
       "shape too large"},
      {"shape string", [](Json& h) { h["tensors"][0]["shape"] = {"2", 3}; }, "must be an integer"},
      {"offset unaligned", [](Json& h) { h["tensors"][1]["offset"] = 60; }, "not a multiple of 64"},
      {"offset past end", [](Json& h) { h["tensors"][1]["offset"] = 1 << 20; },
       "runs past the end"},
      {"offset at end", [](Json& h) { h["tensors"][3]["offset"] = 256; }, "runs past the end"},
      {"offset huge", [](Json& h) { h["tensors"][1]["offset"] = 9223372036854775744ll; },
       "runs past the end"},
      {"offset negative", [](Json& h) { h["tensors"][1]["offset"] = -64; }, "out of range"},
      {"nbytes mismatch", [](Json& h) { h["tensors"][0]["nbytes"] = 20; }, "does not match shape"},
      {"nbytes 0", [](Json& h) { h["tensors"][0]["nbytes"] = 0; }, "out of range"},
      {"nbytes runs past", [](Json& h) {
         h["tensors"][3]["shape"] = {1, 30};
         h["tensors"][3]["nbytes"] = 120;
       }, "runs past the end"},
      {"scales on f32", [](Json& h) { h["tensors"][0]["scales"] = {1, 1, 1}; },
       "\"scales\" given for a f32"},
      {"too many tensors",
       [](Json& h) {
         for (int i = 0; i < 1100; ++i) {
           Json t = h["tensors"][0];
           t["name"] = "x" + std::to_string(i);
           h["tensors"].push_back(t);
         }
       },
       "too many tensors"},
  };
  for (const Mutation& c : cases) {
    SCOPED_TRACE(c.what);
    header_ = base;
    c.apply(header_);
    ExpectError(c.needle);
  }
}

TEST_F(GnvmHeaderTest, UnreferencedTensorsAndUnknownKeysAreIgnored) {
  header_["future_field"] = {1, 2, 3};
  header_["tensors"].push_back(
      {{"name", "extra"}, {"dtype", "f32"}, {"shape", {4}}, {"offset", 0}, {"nbytes", 16}});
  EXPECT_TRUE(Load().ok()) << Load();
}

TEST_F(GnvmHeaderTest, NonFiniteWeightsAreRejected) {
  const float nan = std::nanf(""), inf = INFINITY;
  std::string saved = data_;
  for (float bad : {nan, inf, -inf}) {
    data_ = saved;
    std::memcpy(&data_[128 + 4 * 5], &bad, 4);  // g.w[5]
    ExpectError("tensor 'g.w': element 5 is NaN or Inf");
  }
  data_ = saved;
  std::memcpy(&data_[64 + 4], &nan, 4);  // bias d.b[1]
  ExpectError("tensor 'd.b': element 1 is NaN or Inf");
}

TEST_F(GnvmHeaderTest, F16AndI8Tensors) {
  // d.w as f16 at offset 0 (6 halves), g.w as i8 at offset 128 with per-column scales.
  header_["tensors"][0]["dtype"] = "f16";
  header_["tensors"][0]["nbytes"] = 12;
  const uint16_t halves[6] = {0x3c00, 0xc000, 0x3555, 0x0001, 0x8000, 0x7bff};
  std::memcpy(&data_[0], halves, sizeof(halves));
  header_["tensors"][2]["dtype"] = "i8";
  header_["tensors"][2]["nbytes"] = 9;
  header_["tensors"][2]["scales"] = {0.5, 0.25, 0.0};
  const int8_t q[9] = {1, 2, 3, -127, 127, 0, 5, -5, 100};
  std::memcpy(&data_[128], q, sizeof(q));
  auto m = LoadBytes(Assemble(header_.dump(), data_));
  ASSERT_TRUE(m.ok()) << m.status();
  const float* w = (*m)->layers[0].weights;
  EXPECT_EQ(w[0], 1.0f);
  EXPECT_EQ(w[1], -2.0f);
  EXPECT_EQ(w[2], 0.333251953125f);
  EXPECT_EQ(w[3], std::ldexp(1.0f, -24));
  EXPECT_TRUE(w[4] == 0.0f && std::signbit(w[4]));
  EXPECT_EQ(w[5], 65504.0f);
  const float* g = (*m)->layers[1].weights;
  const float expect[9] = {0.5f, 0.5f, 0.0f, -63.5f, 31.75f, 0.0f, 2.5f, -1.25f, 0.0f};
  for (int i = 0; i < 9; ++i) EXPECT_EQ(g[i], expect[i]) << i;

  // Broken variants.
  const Json base = header_;
  const std::string saved = data_;
  header_["tensors"][2].erase("scales");
  ExpectError("i8 tensor without \"scales\"");
  header_ = base;
  header_["tensors"][2]["scales"] = {0.5, 0.25};
  ExpectError("one per element of the last axis");
  header_ = base;
  header_["tensors"][2]["scales"] = {0.5, -0.25, 1};
  ExpectError("not a finite non-negative float");
  header_ = base;
  header_["tensors"][2]["scales"] = {0.5, 1e300, 1};  // overflows float
  ExpectError("not a finite non-negative float");
  header_ = base;
  header_["tensors"][2]["scales"] = {0.5, "x", 1};
  ExpectError("non-number");
  header_ = base;
  header_["tensors"][2]["scales"] = {0.5, 1e38, 1};  // finite scale, 127 * 1e38 overflows
  ExpectError("tensor 'g.w': element 4 is NaN or Inf");
  header_ = base;
  const uint16_t nan_half = 0x7e00;
  std::memcpy(&data_[2], &nan_half, 2);
  ExpectError("tensor 'd.w': element 1 is NaN or Inf");
  data_ = saved;
  header_["tensors"][0]["nbytes"] = 24;  // 6 halves are 12 bytes
  ExpectError("does not match shape");
}

// ---------------------------------------------------------------------------------------------
// Files and the writer.

TEST(GnvmFileTest, FileErrorsNameTheFile) {
  auto missing = LoadGnvmFile("/nonexistent/dir/model.gnvm");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("/nonexistent/dir/model.gnvm"), std::string::npos);
  EXPECT_FALSE(LoadGnvmFile(::testing::TempDir()).ok());  // a directory
  const std::string empty = TempPath("empty.gnvm");
  { std::ofstream(empty, std::ios::binary); }
  auto e = LoadGnvmFile(empty);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("empty file"), std::string::npos) << e.status();
  std::remove(empty.c_str());

  const std::string corrupt = TempPath("model.gnvm");
  std::string b = *SerializeGnvm(*TinyModel(3).model);
  b[b.size() - 20] ^= 1;
  { std::ofstream(corrupt, std::ios::binary) << b; }
  auto c = LoadGnvmFile(corrupt);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), corrupt + ": checksum mismatch (file corrupt?)");
  std::remove(corrupt.c_str());
  EXPECT_FALSE(WriteGnvmFile(*TinyModel(3).model, "/nonexistent/dir/x.gnvm").ok());
}

TEST(GnvmWriterTest, RejectsModelsTheReaderWouldReject) {
  {
    OwnedModel om = TinyModel(1);
    const_cast<float*>(om.model->layers[1].recurrent)[0] = std::nanf("");
    auto s = SerializeGnvm(*om.model);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.status().message().find("g.recurrent"), std::string::npos) << s.status();
  }
  {
    OwnedModel om = TinyModel(1);
    const_cast<float*>(om.model->layers[0].weights)[3] = 1e5f;
    EXPECT_TRUE(SerializeGnvm(*om.model, Precision::kF32).ok());
    EXPECT_TRUE(SerializeGnvm(*om.model, Precision::kI8).ok());
    auto s = SerializeGnvm(*om.model, Precision::kF16);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.status().message().find("out of f16 range"), std::string::npos) << s.status();
  }
  auto broken = [](std::function<void(Model&)> f) {
    OwnedModel om = TinyModel(1);
    f(*om.model);
    return SerializeGnvm(*om.model).status();
  };
  EXPECT_FALSE(broken([](Model& m) { m.metadata_json = "[1]"; }).ok());
  EXPECT_FALSE(broken([](Model& m) { m.metadata_json = "{"; }).ok());
  EXPECT_FALSE(broken([](Model& m) { m.family = ""; }).ok());
  EXPECT_FALSE(broken([](Model& m) { m.layers.clear(); }).ok());
  EXPECT_FALSE(broken([](Model& m) { m.layers[1].recurrent = nullptr; }).ok());
  EXPECT_FALSE(broken([](Model& m) { m.layers[0].weights = nullptr; }).ok());
  EXPECT_FALSE(broken([](Model& m) { m.layers[1].name = "d"; }).ok());
  EXPECT_FALSE(broken([](Model& m) { m.layers[0].units = 0; }).ok());
  EXPECT_FALSE(broken([](Model& m) { m.hop_size = 0; }).ok());
  EXPECT_TRUE(broken([](Model&) {}).ok());
}

TEST(GnvmWriterTest, PrecisionNames) {
  for (Precision p : {Precision::kF32, Precision::kF16, Precision::kI8}) {
    Precision q;
    ASSERT_TRUE(ParsePrecision(PrecisionName(p), &q));
    EXPECT_EQ(p, q);
  }
  Precision q;
  EXPECT_FALSE(ParsePrecision("f64", &q));
  EXPECT_FALSE(ParsePrecision("", &q));
}

TEST(GnvmWriterTest, Fnv1aKnownValues) {
  // Published FNV-1a 64 test vectors.
  EXPECT_EQ(Fnv1a64("", 0), 0xcbf29ce484222325ull);
  EXPECT_EQ(Fnv1a64("a", 1), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(Fnv1a64("foobar", 6), 0x85944171f73967e8ull);
}

}  // namespace
}  // namespace ghostnv::models
