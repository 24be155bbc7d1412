// models/family.h — a model family: the DSP around a network and the wiring of its layers.
//
// A Family is built once from an immutable Model (setup path, may allocate, returns Status).
// Each audio channel then gets its own ChannelState from NewChannel() (allocates everything the
// channel will ever need). ProcessHop() is the real-time step: it consumes exactly hop_size()
// new samples at the model's rate and produces hop_size() output samples, delayed by
// algorithmic_latency() samples. It never allocates, locks, logs or blocks, and is safe to call
// concurrently for different ChannelStates of the same Family.
//
//   auto fam = CreateFamily(model);                 // StatusOr<std::unique_ptr<Family>>
//   auto ch  = (*fam)->NewChannel();
//   (*fam)->ProcessHop(*ch, in480, out480, 1.0f);   // strength 1 = full suppression
#pragma once

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/ir.h"

namespace ghostnv::models {

class ChannelState {
 public:
  virtual ~ChannelState() = default;
  // Zero the recurrent state and every buffer that held audio (secure wipe on release too).
  virtual void Reset() = 0;
};

struct HopInfo {
  float vad = 0.0f;       // voice probability from the network (0 when not computed)
  bool silent = false;    // the frame was below the silence floor; network not run
};

class Family {
 public:
  virtual ~Family() = default;
  virtual const Model& model() const = 0;
  int hop_size() const { return model().hop_size; }
  int sample_rate() const { return model().sample_rate; }
  int algorithmic_latency() const { return model().algorithmic_latency; }

  // Whether ProcessHop's HopInfo::vad is a voice probability from the network (rnnoise, ultra,
  // dfn3). The others report 0 there, which would close a VAD gate for good. Wrappers of a
  // family (backends, taps) answer for the family they run.
  virtual bool computes_vad() const { return false; }

  virtual std::unique_ptr<ChannelState> NewChannel() const = 0;
  // in/out: hop_size() samples, float in [-1, 1] nominal; in must be finite (callers sanitise).
  // strength in [0, 1]: 1 = the model's output, 0 = the input delayed by the latency.
  virtual HopInfo ProcessHop(ChannelState& state, const float* in, float* out,
                             float strength) const = 0;
};

// Validates that the model's layers fit its family and builds the family object.
absl::StatusOr<std::unique_ptr<Family>> CreateFamily(std::shared_ptr<const Model> model);

// The network of a gain family (rnnoise, ultra) alone over `frames` rows of `features_per_row`
// features -> `bands` gains (+ VAD when vad != nullptr), through the family's own kernels and one
// fresh channel, no DSP around it (training and tests). Fam: the concrete family class created
// by `family`, with RunNetwork(Ch&, const float* features, float* gains, float* vad).
template <class Fam, class Ch>
absl::Status RunFamilyNetwork(const absl::StatusOr<std::unique_ptr<Family>>& family,
                              const float* features, long frames, int features_per_row, int bands,
                              float* gains, float* vad) {
  if (!family.ok()) return family.status();
  const auto& fam = static_cast<const Fam&>(**family);
  std::unique_ptr<ChannelState> state = fam.NewChannel();
  Ch& ch = static_cast<Ch&>(*state);
  for (long t = 0; t < frames; ++t) {
    float v = 0;
    fam.RunNetwork(ch, features + t * features_per_row, gains + t * bands, &v);
    if (vad != nullptr) vad[t] = v;
  }
  return absl::OkStatus();
}

}  // namespace ghostnv::models
