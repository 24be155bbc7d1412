// runtime/sched/persistent/ultra_plan.h — the ultra family (models/ultra, 96-sample hops at
// 48 kHz) on the GPU's real-time path: one fused kernel per hop, batch 1, lowest latency.
//
// The whole hop — analysis window, 384-point DFT, band energies, features, the network (dense,
// two GRUs, gain and VAD outputs), gain interpolation, inverse DFT, synthesis window, overlap-add
// and strength mix — runs in one kernel (kernels/ultra_persistent.cu): on sm_90+ on a
// thread-block cluster of 8 blocks (block 0: the DSP and the output layers; blocks 1..7: a slice
// of each GRU's units each, weights resident in their shared memory, one warp per unit, states
// handed over as {value, sequence} words through distributed shared memory, no cluster barrier),
// elsewhere (or with UltraPlanOptions::cluster = false) in ONE thread block. Two ways to drive it
// (UltraPlanMode), both behind the CudaPlan interface so the CUDA backend's RealtimeCudaFamily
// (cuda_backend.h: CPU fallback, telemetry) runs it unchanged:
//   kPersistent  the kernel is launched once at Create and stays resident (1 or 8 SMs), weights
//                in shared memory (what fits; the rest stays in L2). Per hop the host writes the
//                96 samples, slot and strength into a mailbox in mapped pinned memory and bumps a
//                sequence number; the kernel polls it, runs the hop, writes the 96 samples and the
//                VAD back, fences (__threadfence_system) and publishes the answered sequence,
//                which Query() reads. No driver call per hop. On the cluster kernel, by default
//                (UltraPlanOptions::ll_mailbox), every request and answer word is a 64-bit
//                {value, sequence} word instead: the kernel's poll brings the input with the
//                sequence (no second PCIe round trip), and the answer needs no system fence and
//                no done word (Query() waits until every answer word carries the sequence).
//   kGraph       one replayed CUDA graph per hop: H2D of the request, the kernel, D2H of the
//                answer, then an event.
// Measured on an H200 (PCM in → PCM out, batch 1, docs/perf/gpu.md): 2026-11-29, cluster
// persistent with the LL mailbox and early states 13.0 µs p50 / 17.9 µs p99 (the 2026-11-28
// kernel 15.25 / 19.8 in the same run), cluster graph 28.5 / 42.9 µs; one block 29.4 / 30.4 and
// 44.0 / 54.4 µs (the RNNoise CudaPlan graph: 129.9 µs). Session 7 (warp-shuffle FFT, work off
// rank 0's critical path): 12.08-12.64 µs p50, 13.2-15.9 µs p99 (session 6's kernel 14.1 in the
// same runs); the default of these options as shipped was not measured before the report.
// Which mode is the default (session 8): the persistent kernel (UltraPlanMode::kAuto in the CUDA
// backend): 11.58 / 13.03 µs p50 / p99 PCM -> PCM against 26.58 / 34.31 µs for graph replay in
// the same process (H200, 2026-11-29 session 8). But while it runs, driver calls that wait for
// the whole device never return. The probe of session 8 (ultra_plan_benchmark,
// GHOSTNV_BENCH_COEXISTENCE=1: each call raw on a thread, rescued by a park) measured:
// cuMemFree, cuMemFreeHost, cuModuleLoadData, cuModuleUnload and cuCtxSynchronize block (each
// returned 0.13-0.21 ms after the park); cuMemAlloc, cuMemHostAlloc, synchronous cuMemsetD8,
// stream / event create-sync-destroy, graph capture-instantiate-launch-destroy,
// cuMemAllocAsync / cuMemFreeAsync, cuMemGetInfo and the legacy stream's sync return. Until
// session 7 that kept graph replay the default: any other plan's creation or teardown would
// hang. Now every such call this library makes passes through runtime/park_gate.h: a persistent
// plan is a member of the gate; around the call the gate posts a stop command (the kernel
// finishes its hop and exits; every slot's state lives in device memory), and relaunches it
// after. A hop submitted meanwhile waits in the mailbox and is answered by the relaunched
// kernel: nothing is lost or reordered and the output is bit-identical to an uninterrupted run
// (the audio thread sees one slower hop). Graph replay remains: as kAuto's fallback when the
// persistent kernel cannot start or MaxPersistentUltraPlans() persistent plans already live, and
// forced by GHOSTNV_ULTRA_GPU_MODE=graph — needed in a process where OTHER CUDA code (another
// library, PyTorch's caching allocator) frees device memory, since its calls bypass the gate.
// Output equals models/ultra's ProcessHop for the same input history to float rounding (>= 100 dB
// SNR of the difference, both kernels; ultra_plan_test.cc).
//
//   CudaPlanOptions o; o.max_sessions = 2; o.realtime = true;
//   absl::StatusOr<std::unique_ptr<CudaPlan>> plan = CreateUltraPlan(model, o);   // setup
//   int slot = *(*plan)->AcquireSlot();
//   std::copy(pcm96, pcm96 + 96, (*plan)->input_rows());          // real-time path
//   float s = 1.f;
//   if ((*plan)->Submit(&slot, &s, 1) != cu::kSuccess) fall back;
//   while ((*plan)->Query() == cu::kErrorNotReady) spin;            // ~15-27 µs on an H200
//   std::copy((*plan)->output_rows(), (*plan)->output_rows() + 96, out);
//
// Telemetry (stage_times()): "kernels" = the hop kernel's own time from the GPU's %globaltimer
// (written with the answer; it ticks every 1.024 µs on the H200), "end_to_end" = Submit -> the
// answer seen by Query()/Wait(), "outside_kernels" = their difference per hop (persistent: PCIe
// both ways and the polls; graph: the launch, the two copies, the done event). No driver call.
// Contract differences from CudaPlan::Create's plan: Submit takes n = 0 or 1 (one hop in flight;
// the batched scheduler uses CudaPlan); pcm16 is not supported (InvalidArgument). Query() also
// notices a kernel that died (every few thousand polls it asks the stream) and returns that
// error; Wait() spins with the watchdog (UltraPlanOptions::watchdog) and returns
// kUltraWatchdogExpired when it fires. After any failure the plan stays failed. The destructor
// stops the kernel (a stop command, bounded wait), and every buffer that held audio is wiped:
// slot state on release (a zero command) and on destruction, the mailbox on destruction.
// Threads: as CudaPlan (setup vs one real-time thread).
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "models/ir.h"
#include "runtime/sched/cuda_plan.h"

namespace ghostnv::sched {

// kAuto (what the CUDA backend uses unless GHOSTNV_ULTRA_GPU_MODE says otherwise): the persistent
// kernel while fewer than MaxPersistentUltraPlans() persistent plans live in the process, else —
// or when it cannot start (the cluster kernel refused: too few free SMs, a MIG slice...) — graph
// replay; on sm_90+ each mode's cluster kernel before its single block.
enum class UltraPlanMode { kPersistent, kGraph, kAuto };

struct UltraPlanOptions {
  UltraPlanMode mode = UltraPlanMode::kPersistent;
  // Persistent mode: copy weights into the kernel's shared memory (false: all read from L2).
  bool weights_in_shared = true;
  // Spread the hop over a thread-block cluster of ULTRA_CLUSTER (8) blocks where the device has
  // clusters (sm_90+): block 0 runs the DSP and the output layers, the others each own a slice of
  // both GRUs (weights in their shared memory) and exchange the states through distributed
  // shared memory. Elsewhere, or when that kernel cannot be started, or false: the single-block
  // kernel. device_description() ends with "[ultra: cluster of 8 blocks]" or "[ultra: one block]",
  // then " persistent kernel" or " graph replay".
  bool cluster = true;
  // Persistent cluster kernel: the LL mailbox (kernels/ultra_layout.cuh, ULTRA_LL_*): every
  // request and answer word carries the sequence number, so the kernel's poll brings the input
  // with it and the answer needs no system fence or done word (2026-11-29; false: the mailbox
  // of 2026-11-28 — sequence word polled, then the input read, fence, done word).
  bool ll_mailbox = true;
  // Persistent cluster kernel: block 0 sends both GRU states to the other blocks before its DFT
  // (the features after it), so they run gru1's recurrent half (U h, which needs only the old
  // state) meanwhile (2026-11-29; false: states and features together after the features).
  bool early_states = true;
  // Every kernel: both DFTs as a radix-6 step plus a 32-point warp-shuffle FFT on 6 warps, with
  // the window, the per-bin gains and the real split fused into it (ULTRA_NET_FAST_FFT,
  // 2026-11-29 session 7; false: the 7-stage Stockham FFT with a barrier per stage).
  bool fast_fft = true;
  // Persistent cluster kernel, ranks 1..: with early_states, gru2's recurrent half also runs
  // before the features arrive (ULTRA_FLAG_PRE2; measured -0.9k cycles a hop), and input_dense
  // uses a half-warp per output (ULTRA_FLAG_HALF_DENSE; -0.5k). 2026-11-29 session 7; false: the
  // ranks as in session 6.
  bool gru2_early_parts = true;
  bool half_warp_dense = true;
  // Persistent cluster kernel with early_states and fast_fft: rank 0's band warps send the
  // features to ranks 1.. themselves (ULTRA_FLAG_BAND_SEND; session 7, not yet measured on a GPU;
  // false: the features through shared memory, a barrier and a send loop).
  bool band_send = true;
  // Longest a setup command (slot zeroing, stop) or Wait() may take.
  std::chrono::nanoseconds watchdog = std::chrono::seconds(2);
};

// Returned by Wait()/Query() when the watchdog fired or the persistent kernel is gone (outside
// the driver's range; runtime::CuResultName prints it as "CUDA_ERROR_-2").
inline constexpr cu::CUresult kUltraWatchdogExpired = -2;

// Family "ultra" only (what models::ultra::CreateUltraFamily accepts, with every layer's units
// <= 256 and inputs <= 512). Errors: InvalidArgument (model, options), Unavailable (no
// driver/device/NVRTC), ResourceExhausted, Internal.
absl::StatusOr<std::unique_ptr<CudaPlan>> CreateUltraPlan(std::shared_ptr<const models::Model> model,
                                                          const CudaPlanOptions& options,
                                                          const UltraPlanOptions& ultra = {});

// How many persistent plans UltraPlanMode::kAuto lets live at once on a device with this many
// SMs: GHOSTNV_ULTRA_MAX_PERSISTENT if set (0: never persistent), else max(1, SMs / 32) (a
// resident cluster kernel holds 8 SMs for as long as its plan lives).
int MaxPersistentUltraPlans(int multiprocessors);

// Tests only: stops a persistent plan's kernel behind the plan's back, as if the device had
// dropped it (the plan leaves the park gate; its next hop is never answered, and Query() reports
// the kernel gone within a few thousand polls — what the backend's CPU fallback must cover).
// FailedPrecondition for a plan that is not a persistent ultra plan or whose kernel is parked.
absl::Status StopUltraKernelForTesting(CudaPlan& plan);

// Only the model checks of CreateUltraPlan (no device work): for tests and the backend factory.
absl::Status CheckUltraModelForGpu(const models::Model& model);

// The kernel's constant tables (ULTRA_TB_FLOATS floats, layout in kernels/ultra_layout.cuh):
// windows, twiddles, band centres and per-bin fractions. For the plan and the host test.
std::vector<float> UltraKernelTables();

}  // namespace ghostnv::sched
