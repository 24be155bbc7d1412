// runtime/sched/network_tc.h — the RNNoise network of one model as ONE tensor-core kernel
// (kernels/network_tc.cu): fp16 weights and activations, fp32 accumulation, biases, gates and
// state. The batched network stage of CudaPlan with CudaPlanOptions::network = kFp16.
//
//   absl::StatusOr<TcNetwork> net = TcNetwork::Create(ctx, stream, cache, *model);   // setup
//   GnvTcIo io{};  io.features = feat; io.features_stride = 42; io.vad_state = ...;   // setup
//   CUresult r = net->Run(io, /*count=*/0, batch, stream);                            // per tick
//
// Same wiring and layer order as models/rnnoise's RunNetwork: input_dense (x = 42 features),
// vad_gru, vad_output, noise_gru (x = dense | vad | features), denoise_gru (x = vad | noise |
// features), denoise_output. States are read and updated in place; GnvTcIo
// (kernels/network_tc_layout.cuh) says where every operand lives (any row strides).
//
// Precision (fp16 bound): weights and every matmul input are rounded to fp16 (11-bit
// significand, relative error <= 2^-11), products are summed in fp32; biases, activations, the
// gate math and the fp32 state update are fp32. Against the CPU's fp32 network the SNR of the
// difference is >= 35 dB (measured: runtime/sched/network_tc_test.cc prints it; docs/perf/gpu.md).
// The host emulation RunTcNetworkOnHost computes the same roundings on the CPU (tests, no GPU).
// Split (fp32-grade, Create(..., split = true); CudaPlan's NetworkPrecision::kFp16x3): every
// operand is hi + lo (22-bit significand), three mma per product; the host emulation does the
// same (runtime/sched/network_tc_host_test.cc measures it against the CPU's fp32 network:
// 134-146 dB; on the H200 >= 131.6 dB per layer, 126.9 dB worst session end to end).
//
// Weights are packed once at Create (PackTcNetwork: fragment order, see the layout header);
// each block of variants 0-2 keeps all of them in shared memory (default model: 187 KiB), so
// models whose packed weights do not fit are InvalidArgument at Create; variants 3-8 read them
// from global memory (see TcVariant).
// Threads: Create is the setup path; Run is real-time safe (no allocation, lock or Status) and
// may be captured in a CUDA graph; one Run at a time per TcNetwork is not required (it keeps no
// mutable device state of its own).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/network_tc_layout.cuh"
#include "models/ir.h"
#include "runtime/context.h"
#include "runtime/cubin_cache.h"
#include "runtime/memory.h"
#include "runtime/module.h"
#include "runtime/stream.h"

namespace ghostnv::sched {

namespace cu = ::ghostnv::runtime::cu;

// The weights of one model in the kernel's layout (host side).
struct TcPackedNetwork {
  GnvTcNet desc{};
  std::vector<uint32_t> words;  // desc.weight_blocks * GNV_TC_BLOCK_WORDS packed fp16 pairs
  std::vector<float> bias;      // fp32, offsets in desc.layer[i].bias
  double flop_per_row = 0;      // 2 * sum of the real (unpadded) multiply-adds of all layers
};

// Checks the six RNNoise layers (as models::CreateFamily does) and packs them. split: the lo
// parts too (desc.lo_block; the fp32-grade x3 kernels).
absl::StatusOr<TcPackedNetwork> PackTcNetwork(const models::Model& model, bool split = false);

// IEEE binary16 round-to-nearest-even (what cvt.rn.f16.f32 does) and back.
uint16_t FloatToHalf(float x);
float HalfToFloat(uint16_t h);
// The lo part of x for the split (x3) kernels: FloatToHalf((x - HalfToFloat(FloatToHalf(x))) *
// kTcLoScale), 0 where FloatToHalf(x) is inf or NaN (kernels/network_tc.cu's GNV_TC_LO_SCALE
// and gnv_tc_put).
inline constexpr float kTcLoScale = 2048.f;
uint16_t LoHalf(float x);

// Host emulation of the kernel on `batch` rows: io holds HOST addresses (reinterpret_cast to
// unsigned long long). Same packed operands, same fp16 roundings, fp32 sums in k order (the
// tensor cores' order inside a k-tile is unspecified, so the GPU differs by fp32 rounding).
void RunTcNetworkOnHost(const TcPackedNetwork& net, const GnvTcIo& io, int batch);

// Shared memory a block needs for `groups` tiles of 16 * mt rows (global_weights: the
// activation tiles only; else the weights too; split: hi and lo activation tiles).
size_t TcSharedBytes(const GnvTcNet& desc, int mt, int groups = 1, bool global_weights = false, bool split = false);

// The kernel variants of kernels/network_tc.cu: tiles of 16 * mt rows, `groups` groups of
// `warps` warps per block, each group on its own tiles (sharing the block's weights).
// Variant 0 = 16-row tiles and 1 = 32-row tiles of one 16-warp group (the original kernels).
// Variants 3-5 (global_weights, gpuspec 2026-11-29): the weight fragments are read from global
// memory (L1/L2) instead of a 187 KiB shared-memory copy per block; one tile per block, grid =
// tiles, ~12 KiB of shared memory and 64-124 registers per thread, so the blocks share a
// multiprocessor with other kernels (the chunk pipeline's other streams).
// Variants 6-8 (split, gpuspec2 2026-11-29): fp32-grade operands on tensor cores, each fp16
// operand a hi + lo pair (lo = the rounding error scaled by kTcLoScale, fp16), three mma per
// product (hi*hi into the accumulator, hi*lo + lo*hi into a second one), fp32 accumulation;
// global weights as variants 3-5 (plus their lo blocks), twice their activation tile. Only a
// TcNetwork created with split = true runs them (and only them).
struct TcVariant {
  const char* kernel;
  int mt, groups, warps;
  bool global_weights = false;
  bool split = false;
};
inline constexpr int kTcVariants = 9;
inline constexpr int kTcFirstSplitVariant = 6;
const TcVariant& TcVariantAt(int i);

class TcNetwork {
 public:
  // InvalidArgument: layers missing/inconsistent, or too large for the kernel (shared memory,
  // GNV_TC_MAXIT). Unavailable / Internal from the driver or NVRTC.
  // split: the fp32-grade x3 kernels (variants 6-8) instead of the fp16 ones.
  static absl::StatusOr<TcNetwork> Create(const runtime::Context& ctx, const runtime::Stream& stream,
                                          const runtime::CubinCache& cache, const models::Model& model,
                                          bool split = false);
  TcNetwork(TcNetwork&&) = default;
  TcNetwork& operator=(TcNetwork&&) = default;

  // One step for rows [0, min(batch, *count)) (count: a device int, or 0 = batch).
  // tile_rows: 0 = automatic, else 16 or 32 (if it fits). kErrorInvalidValue for bad arguments.
  // (tile_rows 16 = variant 0, 32 = variant 1, 0 = AutoVariant(batch); split networks: 16 =
  // variant 6, 32 = variant 8.)
  cu::CUresult Run(const GnvTcIo& io, cu::CUdeviceptr count, int batch, const runtime::Stream& stream,
                   int tile_rows = 0) const;
  // The same with a given kernel variant (TcVariantAt); kErrorInvalidValue if unavailable.
  cu::CUresult RunVariant(const GnvTcIo& io, cu::CUdeviceptr count, int batch, const runtime::Stream& stream,
                          int variant) const;
  // The automatic choice: the global-weights variant 4 from 4096 rows on (co-resident with
  // other kernels), else 32- or 16-row tiles of the shared-memory kernels. GHOSTNV_TC_VARIANT=
  // <index> at Create overrides it (measuring).
  int AutoVariant(int batch) const;
  int AutoTileRows(int batch) const { return 16 * TcVariantAt(AutoVariant(batch)).mt; }
  bool has_variant(int v) const { return v >= 0 && v < kTcVariants && usable_[v]; }
  bool split() const { return split_; }
  int max_tile_rows() const { return max_mt_ * 16; }
  const TcPackedNetwork& packed() const { return packed_; }
  // The loaded module (benchmark: its ceiling probes gnv_probe_copy/_fma/_mma).
  const runtime::Module& module() const { return *module_; }

 private:
  TcNetwork() = default;
  TcPackedNetwork packed_;
  std::optional<runtime::Module> module_;
  runtime::Kernel kernel_[kTcVariants];
  bool usable_[kTcVariants] = {};
  int forced_variant_ = -1;
  bool split_ = false;
  runtime::DeviceBlock weights_, bias_;
  int max_mt_ = 1;
  int multiprocessors_ = 1;
};

}  // namespace ghostnv::sched
