// kernels/network_tc_layout.cuh — the descriptor of the fused tensor-core RNNoise network
// (kernels/network_tc.cu), shared by NVRTC and the host code that packs the weights
// (runtime/sched/network_tc.cc). Plain structs of ints so both compilers lay them out the same.
//
// Weights: fp16, packed at plan creation into 256-byte "fragment blocks": block (n-tile nt,
// k-tile kt) of a matrix B [K][N] (K padded to 16, N to 8) holds, for lane l = 4g + t of a warp,
// the two 32-bit registers of the mma.sync m16n8k16 B operand: word 2l = (B[16kt + 2t][8nt + g],
// B[16kt + 2t + 1][8nt + g]) and word 2l + 1 = the same 8 rows further (low half first). Blocks
// of one matrix are ordered n-tile major: block = first + nt * (K / 16) + kt.
// GRU matrices have N = 3 * upad (gates z | r | h, each padded to upad = units rounded up to 8).
// The x3 kernels (network_tc.cu, SPLIT) also read the lo parts (lo_block below) and keep a lo
// copy of the activation tile right after the hi one(s).
//
// Activations live in shared memory as fp16 rows of GNV_TC row_halves halves:
//   [dense out | vad state | features | noise state | denoise state | r∘s scratch], each
// region padded to 16 columns (pads stay 0), so every layer's input is one contiguous range:
//   input_dense: features;  vad_gru: dense out (state: vad);  vad_output: vad state;
//   noise_gru: dense out | vad | features (state: noise);
//   denoise_gru: vad | features | noise (state: denoise);  denoise_output: denoise state.
// The host maps the CPU's input order (models/rnnoise) onto these columns when packing.
#ifndef GHOSTNV_KERNELS_NETWORK_TC_LAYOUT_CUH_
#define GHOSTNV_KERNELS_NETWORK_TC_LAYOUT_CUH_

#define GNV_TC_INPUT_DENSE 0
#define GNV_TC_VAD_GRU 1
#define GNV_TC_VAD_OUTPUT 2
#define GNV_TC_NOISE_GRU 3
#define GNV_TC_DENOISE_GRU 4
#define GNV_TC_DENOISE_OUTPUT 5
#define GNV_TC_LAYERS 6
#define GNV_TC_WARPS 16   // threads per block = 32 * GNV_TC_WARPS
#define GNV_TC_MAXIT 2    // GRU (m-tile, 8-unit group) items per warp, at most
#define GNV_TC_BLOCK_WORDS 64  // 32-bit words per fragment block (256 bytes)

struct GnvTcLayer {
  int gru;          // 0 dense, 1 GRU
  int units, upad;  // real units; padded to 8 (GRU: per gate)
  int x_col, kx;    // input columns [x_col, x_col + kx) of the activation row; kx % 16 == 0
  int s_col, ks;    // GRU: state columns and K (= units padded to 16). Dense: output columns
                    // (s_col < 0: the output is not kept in shared memory), ks unused
  int w_block, r_block;  // first fragment block of W (and of R for a GRU)
  int bias;         // offset (floats) of the layer's biases: dense [upad];
                    // GRU [z: b+rb | r: b+rb | h: reset_after ? b : b+rb | rb_h or 0], upad each
  int act;          // GNV_ACT_* (dense activation; GRU candidate activation)
  int reset_after;
};

struct GnvTcNet {
  struct GnvTcLayer layer[GNV_TC_LAYERS];
  int weight_blocks;  // fragment blocks in all (shared memory: weight_blocks * 256 bytes)
  int lo_block;       // 0, or (fp32-grade x3 kernels) the first of the weight_blocks blocks of
                      // the weights' lo parts, fp16((w - fp16(w)) * 2048), block i + lo_block
                      // being block i's (not counted in weight_blocks)
  int row_halves;     // activation row stride in shared memory, halves (≡ 8 mod 16)
  int feat_col;       // the features' columns
  int features;       // 42
  int rs_col, rs_width;  // r∘s scratch
  int math;           // GNV_MATH_*
};

// Where the network reads and writes in global memory (device addresses; strides in floats).
// States are read and updated in place. dense_out and vad_copy may be 0 (not written).
struct GnvTcIo {
  unsigned long long features, dense_out, vad_state, vad_copy, noise_state, denoise_state, gains,
      vad;
  int features_stride, dense_stride, vad_stride, vad_copy_stride, noise_stride, denoise_stride,
      gains_stride, vad_out_stride;
};

#endif  // GHOSTNV_KERNELS_NETWORK_TC_LAYOUT_CUH_
