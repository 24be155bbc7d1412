// kernels/ultra_layout.cuh — data layout shared by kernels/ultra_persistent.cu (NVRTC) and its
// host side (runtime/sched/persistent/ultra_plan.cc, C++): the ultra family's sizes, the mailbox
// in mapped pinned memory, the per-slot state, the constant tables and the network descriptor.
// Plain C types only, so both compilers see the same layout.
//
//   UltraNet net;  // host fills it, uploads it; the kernel reads it once
//   mailbox[ULTRA_MB_IN + i] = sample i; ...; mailbox[ULTRA_MB_REQ] = ++seq;   // host
#ifndef GHOSTNV_KERNELS_ULTRA_LAYOUT_CUH_
#define GHOSTNV_KERNELS_ULTRA_LAYOUT_CUH_

#define ULTRA_HOP 96
#define ULTRA_WINDOW 384
#define ULTRA_BINS 193
#define ULTRA_BANDS 32
#define ULTRA_TAIL 192  // first sample of the synthesis window's non-zero tail

// Network limits of the fused kernel (the host checks a model against them).
#define ULTRA_MAX_UNITS 256   // any layer's units
#define ULTRA_MAX_INPUTS 512  // any layer's inputs
#define ULTRA_THREADS 1024    // threads of the one block

// Mailbox: 32-bit words in mapped pinned host memory (persistent mode) or in device buffers
// (graph mode: the request part goes up, the answer part comes down).
#define ULTRA_MB_REQ 0        // request sequence number; the host writes it last
#define ULTRA_MB_CMD 1        // ULTRA_CMD_*
#define ULTRA_MB_SLOT 2       // slot of the request
#define ULTRA_MB_STRENGTH 3   // float bits
#define ULTRA_MB_IN 32        // ULTRA_HOP input samples (128-byte aligned)
#define ULTRA_MB_REQ_WORDS 128
#define ULTRA_MB_DONE 128     // answered sequence number; the device writes it last
#define ULTRA_MB_STATUS 129   // 0 ok, 1 bad slot
#define ULTRA_MB_VAD 130      // float bits
#define ULTRA_MB_CYCLES 136   // persistent mode: SM cycles of the last hop's stages (6 words:
                              // input read, analysis, network, synthesis, output+fence, total)
#define ULTRA_MB_FINE 142     // cluster kernel, block 0: SM cycles from the end of the input read
#define ULTRA_MB_FINE_WORDS 7 // to: DFT done, features done, request sent, gru1's state in, gru2's
                              // state in, output layers done, synthesis done
#define ULTRA_MB_KERNEL_NS 150 // the hop's GPU time in ns (%globaltimer, block 0: from the
                              // request seen / kernel entry to just before the answer is
                              // published; telemetry's "kernels" stage; 0 in the host test)
#define ULTRA_MB_RANK1 151    // persistent cluster kernel, rank 1's own SM cycles (plain words, may
#define ULTRA_MB_RANK1_WORDS 6 // lag a hop): from the features in to: input_dense done, gru1's state
                              // sent, all of gru1's state in, gru2's state sent; then how long the
                              // GRU states were there before the features, and the hop's total
#define ULTRA_MB_OUT 160      // ULTRA_HOP output samples
#define ULTRA_MB_WORDS 256
// The LL mailbox (persistent cluster kernel, UltraPlanOptions::ll_mailbox): request and answer
// as 64-bit words {low half: the value's bits, high half: the request's sequence number}, each
// valid on its own, so the kernel's poll reads the input with the sequence (one PCIe round trip,
// no separate input read) and the answer needs no system fence and no separate done word (the
// host waits until every word it needs carries the sequence). Offsets in 32-bit words.
#define ULTRA_LL_REQ 256        // request: cmd, slot, strength bits, 0, then ULTRA_HOP samples
#define ULTRA_LL_ANS 512        // answer: status, vad bits, kernel ns, 0, then ULTRA_HOP samples
#define ULTRA_LL_HEAD 4         // header words of both (a command other than a hop: only these)
#define ULTRA_LL_WORDS (ULTRA_LL_HEAD + ULTRA_HOP)  // 64-bit words of each
#define ULTRA_MB_LL_WORDS 768   // 32-bit words of a mailbox with the LL areas
// Flags of the persistent cluster kernel (its last argument).
#define ULTRA_FLAG_LL 1         // the LL mailbox
#define ULTRA_FLAG_EARLY 2      // rank 0 sends the GRU states before its DFT, the features after
                                // it; ranks 1.. run gru1's recurrent half in between
#define ULTRA_FLAG_PRE2 4       // with ULTRA_FLAG_EARLY: ranks 1.. also run gru2's recurrent half
                                // before the features arrive (session 7)
#define ULTRA_FLAG_HALF_DENSE 8 // ranks 1..: input_dense with a half-warp per output (session 7)
#define ULTRA_FLAG_BAND_SEND 16 // with ULTRA_FLAG_EARLY and ULTRA_NET_FAST_FFT: rank 0's band warps send
                                // the features themselves (no barrier, no send loop; session 7)
// Flags of every kernel (UltraNet::flags).
#define ULTRA_NET_FAST_FFT 1    // both DFTs as one radix-6 step and a 32-point warp-shuffle FFT on
                                // 6 warps (window / gains fused into the loads, the real split
                                // fused into the band sums): 3 barriers instead of 9 each way
                                // (2026-11-29 session 7; 0: the 7-stage Stockham FFT)
#define ULTRA_CMD_HOP 1
#define ULTRA_CMD_ZERO 2      // zero the slot's state (acquire/release wipe)
#define ULTRA_CMD_STOP 3      // the persistent kernel returns

// Per-slot state (floats, stride net.state_stride): input history, overlap tail, dry history,
// gru1 state, gru2 state.
#define ULTRA_ST_INPUT 0
#define ULTRA_ST_OVERLAP ULTRA_WINDOW
#define ULTRA_ST_DRY (ULTRA_WINDOW + ULTRA_HOP)
#define ULTRA_ST_GRU (ULTRA_WINDOW + 2 * ULTRA_HOP)

// Tables (floats): analysis window, synthesis window, cos/sin(2 pi m / 384), per bin the band
// index (as float) and the interpolation fraction, the band centres (as float).
#define ULTRA_TB_ANALYSIS 0
#define ULTRA_TB_SYNTHESIS 384
#define ULTRA_TB_COS 768
#define ULTRA_TB_SIN 1152
#define ULTRA_TB_BIN_BAND 1536
#define ULTRA_TB_BIN_FRAC 1729
#define ULTRA_TB_CENTRES 1922
#define ULTRA_TB_FLOATS 1984

struct UltraLayer {
  unsigned long long w;   // [inputs][cols] row-major (cols = units, 3 * units for a GRU)
  unsigned long long r;   // GRU: recurrent [units][3 * units]; 0 for dense
  unsigned long long b;   // bias [cols] or 0
  unsigned long long rb;  // GRU: recurrent bias [3 * units] or 0
  int inputs;
  int units;
  int act;          // GNV_ACT_* (dense: output activation; GRU: candidate activation)
  int reset_after;  // GRU convention
};

// Thread-block cluster variant (sm_90+, kernels ultra_*_cluster_f32): ULTRA_CLUSTER blocks; rank 0
// runs the frontend, the output layers and the synthesis, ranks 1.. each own a slice of every
// GRU's units (their z, r and h columns, repacked by the host into [rows][3 * units] matrices)
// and exchange the new states through distributed shared memory. Table: gru1's slices for ranks
// 0..ULTRA_CLUSTER-1, then gru2's (rank 0's have 0 units), then one entry whose w is input_dense
// and r gain_output, both transposed to [units][inputs].
#define ULTRA_CLUSTER 8

struct UltraSlice {       // unit-major: unit i's z, r, h weights are contiguous rows
  unsigned long long w;   // [units][3][inputs] (units [u0, u0 + units) of the layer)
  unsigned long long r;   // [units][3][layer units]
  unsigned long long b;   // [units][3] or 0
  unsigned long long rb;  // [units][3] or 0
  int u0;
  int units;
  int pad0, pad1;
};

// The cluster kernel's exchange area, at the start of each block's dynamic shared memory (the
// weights follow): 64-bit words {float bits, sequence} that other blocks store into.
struct UltraCl {
  UltraSlice sl[2];                // this rank's slices of gru1, gru2 (shared or global pointers)
  unsigned long long dense_t;      // input_dense, [units][inputs] (ranks 1..)
  unsigned long long gain_t;       // gain_output, [units][inputs] (rank 0)
  unsigned long long req[ULTRA_BANDS + 2 * ULTRA_MAX_UNITS];  // features, h1, h2 (ranks 1..)
  unsigned long long h1[ULTRA_MAX_UNITS];  // gru1's new state (every rank)
  unsigned long long h2[ULTRA_MAX_UNITS];  // gru2's new state (rank 0)
  float g2in[ULTRA_MAX_INPUTS];    // gru2's input: [gru1's new state | input_dense out]
  float rsx[ULTRA_MAX_UNITS];      // r * h of every unit (Keras convention)
};

struct UltraNet {
  UltraLayer dense_in, gru1, gru2, gain, vad;
  unsigned long long tables;  // ULTRA_TB_FLOATS floats
  unsigned long long state;   // max_slots * state_stride floats
  int state_stride;
  int max_slots;
  int math;         // GNV_MATH_*
  int smem_floats;  // persistent mode: dynamic shared memory for weights (0: all from L2)
  int flags;        // ULTRA_NET_*
  int pad_;
};

#endif  // GHOSTNV_KERNELS_ULTRA_LAYOUT_CUH_
