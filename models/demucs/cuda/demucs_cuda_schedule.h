// models/demucs/cuda/demucs_cuda_schedule.h — one causal Demucs hop as a list of kernel
// launches with their exact arguments, shared by the GPU plan (demucs_cuda_plan.cc captures it
// into a CUDA graph) and the host test (demucs_cuda_host_test.cc runs the same launches, with the
// same argument lists, on host threads). Nothing here touches a device.
//
// Buffers are named (DmxBuf) and sized for max_sessions; an argument that is a pointer says
// which buffer and at which float offset. Weights of every layer live in one packed blob
// (DmxBuf::kWeights, built by BuildDemucsSchedule). The geometry follows models/demucs's
// streaming plan (DemucsStreamer, num_frames = 1) for any depth, channels, kernel = 2 * stride,
// resample 1/2/4, LSTM layers and sizes, hop and lookahead the family accepts.
//
//   absl::StatusOr<DmxSchedule> s = BuildDemucsSchedule(net, {.max_sessions = 64});
//   std::vector<DmxOp> hop = s->Hop(/*rows=*/8, /*split_lstm=*/true);
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "models/demucs/demucs_family.h"

namespace ghostnv::models::demucs {

enum class DmxBuf : int {
  kWeights,  // packed layer weights (read-only)
  kCtl,      // int32 control block: DMX_CTL_HEAD + DMX_CTL_ROW * rows
  kPcmIn,    // [rows][hop]
  kPcmOut,   // [rows][hop]
  // Per slot (state):
  kWin,      // [slot][2][W] input window
  kVar,      // [slot] running variance
  kRin,      // [slot][2][RB] resampler input history
  kRout,     // [slot][2][RB] resampler output history
  kEnc,      // [slot][levels < depth-1][2][len * cout] encoder outputs
  kTail,     // [slot][levels][2][S * cin] transposed-conv partial sums
  kLstate,   // [slot][L][2][C] LSTM h, c
  kDry,      // [slot][2][D] the dry signal's extra delay (D = output_delay > 0)
  kSkipH,    // [slot][levels][2][H * cout] skip delay histories (skip_delay > 0; H = skip_k,
             // the deepest level skip_k + its window)
  // Per row (work):
  kFrame, kUp1, kUp2, kScale, kConv, kElast, kHseq, kCseq, kDx0, kDx1, kDpw, kBlk, kPo,
  kDown1, kDown2,
  kZ,        // [rows][4C] LSTM gate pre-activations (large buckets)
  kSkipD,    // [rows][steps * cout] the decoder level's delayed skip (skip_delay > 0)
  kCount
};

struct DmxArg {
  enum Kind { kPtr, kInt, kFloat, kInt64 } kind = kInt;
  DmxBuf buf = DmxBuf::kWeights;  // kPtr: buffer and float offset; a null pointer when !valid
  size_t offset = 0;
  bool valid = true;
  int i = 0;
  float f = 0.f;
  long long l = 0;
};

struct DmxOp {
  enum Kind { kCopyIn, kKernel, kCopyOut } kind = kKernel;
  std::string program;  // "demucs.cu", "dtln.cu" (split LSTM)
  std::string kernel;
  unsigned grid_x = 1, grid_y = 1, block = 1, shared_bytes = 0;
  std::vector<DmxArg> args;
};

struct DmxScheduleOptions {
  int max_sessions = 1;
  int max_threads = 256;          // block size cap (power of two, 32..256); host tests use less
  int grid_cap = 4096;            // 1-D grids are capped (kernels loop)
  int tile16_min_virtual_rows = 1024;  // dense tiles of 16 virtual rows from here, else 4
  int splitk_max_virtual_rows = 32;    // the split-K dense kernel up to here
};

struct DmxSchedule {
  // Geometry (as models/demucs's streaming plan).
  int hop = 0, total_length = 0, rb = 0, window = 0, resample = 1, kernel = 0, stride = 0;
  int depth = 0, channels = 0, lstm_layers = 0, lstm_steps = 0, first_valid_hop = 0;
  int output_delay = 0;  // metadata.demucs.output_delay: the dry signal's extra delay
  int skip_delay = 0;    // metadata.demucs.skip_delay: the skips' delay (samples)
  int norm_frames = 0;   // Networks::norm_frames: the running variance's memory (frames)
  std::vector<int> skip_k;  // per level: the skip's delay in steps (Networks::skip_frames)
  std::vector<int> enc_len, enc_new, cin, cout;
  std::vector<int> dec_x, dec_e;
  int out_x = 0, out_e = 0;
  bool normalize = true, glu = true;
  float floor = 0.f;
  int math = 0;
  DmxScheduleOptions options;
  std::vector<float> weights;               // the packed blob
  std::array<size_t, static_cast<int>(DmxBuf::kCount)> floats{};  // buffer sizes
  // Per-slot buffers (zeroed when a slot is released) and their floats per slot.
  std::vector<std::pair<DmxBuf, size_t>> slot_buffers;
  // Probes: where the last hop's row r of the final network output (before the strength mix)
  // lives: buffer kDown2/kDown1/kPo, offset, row stride, count = hop.
  DmxBuf out_buf = DmxBuf::kPo;
  size_t out_offset = 0, out_stride = 0;

  // One hop for a bucket of `rows` rows (<= max_sessions): H2D, kernels, D2H.
  std::vector<DmxOp> Hop(int rows, bool split_lstm) const;

  // Internal layout (filled by BuildDemucsSchedule).
  struct LevelW {
    size_t conv_w, conv_b, epw_w, epw_b, dpw_w, dpw_b, ct_w, ct_b;
    bool epw_bias, dpw_bias, conv_bias;
  };
  std::vector<LevelW> lw;
  struct LstmW {
    size_t w, r, b;
    bool bias;
  };
  std::vector<LstmW> lstmw;
  size_t sinc = 0;
  int sinc_taps = 0;
  std::vector<int> x_reuse_off;                 // per level: window shift of the new steps
  std::vector<size_t> enc_off, tail_off;        // per level: offsets within a slot
  std::vector<size_t> skip_off;                 // per level: kSkipH offset within a slot
  size_t enc_slot = 0, tail_slot = 0, lstate_slot = 0, skip_slot = 0, skipd_rs = 0;
  size_t frame_rs = 0, up1_rs = 0, up2_rs = 0, conv_rs = 0, elast_rs = 0, seq_rs = 0, dx_rs = 0,
         dpw_rs = 0, blk_rs = 0, po_rs = 0, down1_rs = 0, down2_rs = 0;
};

// InvalidArgument when the network's geometry is outside what the streaming plan supports (the
// same checks as the CPU family) or options are out of range.
absl::StatusOr<DmxSchedule> BuildDemucsSchedule(const Networks& net,
                                                const DmxScheduleOptions& options);

// The control block's layout (kernels/demucs.cu: DMX_CTL_HEAD, DMX_CTL_ROW).
inline constexpr int kDmxCtlHead = 4;
inline constexpr int kDmxCtlRow = 4;

}  // namespace ghostnv::models::demucs
