// kernels/rnnoise_layout.cuh — the per-session state layout of the RNNoise pipeline on the GPU,
// shared by kernels/rnnoise_*.cu (NVRTC) and the host code that owns the buffers
// (runtime/sched/cuda_plan.cc). Plain macros so that both compilers read the same numbers.
//
// One state row per session slot, RNN_ST_GRU + (GRU units) floats, zeroed on acquire/release:
//   [RNN_ST_HP, +2)            high-pass biquad memory (transposed direct form II)
//   RNN_ST_LAST_GAIN           pitch gain of the previous hop (RemoveDoubling's prev_gain)
//   RNN_ST_MEMID (int bits)    next cepstral memory row
//   RNN_ST_LAST_PERIOD (int)   pitch period of the previous hop
//   RNN_ST_PERIOD (int)        this hop's pitch period (frontend -> features)
//   RNN_ST_PITCH_HEAD (int)    ring position of the pitch history's oldest sample
//   [RNN_ST_ANALYSIS, +480)    previous high-passed hop (analysis window's first half)
//   [RNN_ST_PITCH, +1728)      high-passed history for the pitch search, a ring: sample i of the
//                              history (0 = oldest) at RNN_ST_PITCH + (head + i) % RNN_PITCH_BUF;
//                              a hop overwrites the 480 oldest and advances head by 480
//   [RNN_ST_CEPS, +8*22)       cepstral memory
//   [RNN_ST_SYNTH, +480)       overlap-add tail
//   [RNN_ST_HISTORY, +480)     previous raw input hop (the dry signal for strength < 1)
//   [RNN_ST_LASTG, +22)        last band gains (gain smoothing)
//   [RNN_ST_GRU, ...)          vad, noise, denoise GRU states (sizes from the model)
#ifndef GHOSTNV_KERNELS_RNNOISE_LAYOUT_CUH_
#define GHOSTNV_KERNELS_RNNOISE_LAYOUT_CUH_

#define RNN_HOP 480
#define RNN_WINDOW 960
#define RNN_BINS 481
#define RNN_BANDS 22
#define RNN_FEATURES 42
#define RNN_CEPS_MEM 8
#define RNN_DELTA_CEPS 6
#define RNN_PITCH_MIN 60
#define RNN_PITCH_MAX 768
#define RNN_PITCH_FRAME 960
#define RNN_PITCH_BUF 1728
// A spectrum row: RNN_BINS interleaved complex values, padded.
#define RNN_SPEC_STRIDE 964

#define RNN_ST_HP 0
#define RNN_ST_LAST_GAIN 2
#define RNN_ST_MEMID 3
#define RNN_ST_LAST_PERIOD 4
#define RNN_ST_PERIOD 5
#define RNN_ST_PITCH_HEAD 6
#define RNN_ST_ANALYSIS 8
#define RNN_ST_PITCH (RNN_ST_ANALYSIS + RNN_HOP)
#define RNN_ST_CEPS (RNN_ST_PITCH + RNN_PITCH_BUF)
#define RNN_ST_SYNTH (RNN_ST_CEPS + RNN_CEPS_MEM * RNN_BANDS)
#define RNN_ST_HISTORY (RNN_ST_SYNTH + RNN_HOP)
#define RNN_ST_LASTG (RNN_ST_HISTORY + RNN_HOP)
#define RNN_ST_GRU (RNN_ST_LASTG + 24)

// Control block header (ctl[0, 16) of every launch; rows' slots from ctl[16]): ctl[0] rows used,
// ctl[1] the frontend's row counter, ctl[RNN_CTL_FLAGS] the model's DSP switches
// (metadata.rnnoise, models/rnnoise/rnnoise_family.h; 0 = RNNoise exactly):
//   RNN_CTL_NO_HIGHPASS  the input hop is used as is (no DC high-pass; its state is unused)
//   RNN_CTL_PF_CUSTOM    the pitch filter takes its strength (float bits at ctl[RNN_CTL_PF_STRENGTH];
//                        0 = no pitch filter at all) and gain slope (ctl[RNN_CTL_PF_SLOPE]; 0 = off)
#define RNN_CTL_FLAGS 2
#define RNN_CTL_PF_STRENGTH 3
#define RNN_CTL_PF_SLOPE 4
// ctl[RNN_CTL_LOW_CUT]: metadata.rnnoise.low_cut_hz as bins (DspOptions::low_cut_bins): the
// postprocess zeroes the output spectrum's bins below it in every hop, silent ones included.
#define RNN_CTL_LOW_CUT 5
// ctl[RNN_CTL_ROWS2]: the chained frontend's second row counter (rnn_frontend_tail; zeroed by
// the host with ctl[1] every hop).
#define RNN_CTL_ROWS2 6
// The chained frontend's scratch row (kernels/rnnoise_pitch.cu, rnn_frontend_lp_* ->
// rnn_lpc_lanes -> rnn_frontend_tail): the low-passed pitch signal (RNN_PITCH_BUF / 2 floats),
// then the 5 whitening-filter taps; a multiple of 4 floats (16-byte aligned rows).
#define RNN_LPS_STRIDE (RNN_PITCH_BUF / 2 + 8)
#define RNN_CTL_NO_HIGHPASS 1
#define RNN_CTL_PF_CUSTOM 2

// Per-row band data written by the features kernel for the postprocess kernel.
#define RNN_BD_EX 0
#define RNN_BD_EP RNN_BANDS
#define RNN_BD_EXP (2 * RNN_BANDS)
#define RNN_BD_STRIDE (3 * RNN_BANDS + 2)

#endif  // GHOSTNV_KERNELS_RNNOISE_LAYOUT_CUH_
