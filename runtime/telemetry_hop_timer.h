// runtime/telemetry_hop_timer.h — per-hop GPU stage times (h2d, kernels, d2h, device) for a plan
// that runs each hop as one replayed CUDA graph (or as directly launched stages), read without
// ever waiting: the events of hop k are read when hop k+1 is submitted, when the caller has
// already seen hop k complete (cuEventElapsedTime on completed events does not block; an event
// not complete yet — the caller broke the one-hop-in-flight contract — is skipped).
//
//   // setup (Init of the plan):
//   runtime::HopStageTimer timer;
//   RETURN_IF_ERROR(timer.Init(ctx));                 // done_ must be a timing event too
//   // while recording the hop (graph capture: capturing = true; direct launches: false):
//   H2D copies ...;   timer.MarkUploaded(stream, capturing);
//   kernels ...;      timer.MarkComputed(stream, capturing);
//   D2H copies ...
//   // Submit (real-time path):
//   timer.Collect(*done_, stage_times_);              // the previous hop, if any
//   timer.Begin(stream, /*marks=*/true);              // before the launch
//   graph.Launch(stream); done_->Record(stream);
//
// Stages: device = begin -> end (the hop's whole GPU time: copies, kernels and the gaps between
// them); with the marks also h2d = begin -> uploaded, kernels = uploaded -> computed, d2h =
// computed -> end. Inside a graph the marks are event-record nodes (cuEventRecordWithFlags with
// CU_EVENT_RECORD_EXTERNAL during capture); a driver table without cuEventRecordWithFlags gets
// "device" only, and so does GHOSTNV_GPU_STAGE_MARKS=0 (read at Init: no event nodes in the
// graphs, for A/B timing of their cost). Marks must be recorded on the stream that carries the
// copies, after every side stream has joined it.
// Cost on the real-time path: one cuEventRecord (begin) and up to four cuEventElapsedTime per hop;
// no allocation, lock or log.
// Thread-safety: Begin/Collect from the plan's one submitting thread; the histograms they record
// into may be read from any thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "runtime/context.h"
#include "runtime/stream.h"
#include "runtime/telemetry_histogram.h"

namespace ghostnv::runtime {

class HopStageTimer {
 public:
  // Setup: the begin event, and the two marks when the driver can record them inside a graph.
  absl::Status Init(const Context& ctx) {
    api_ = &ctx.api();
    absl::StatusOr<Event> e = Event::Create(ctx, EventTiming::kEnabled);
    if (!e.ok()) return e.status();
    begin_.emplace(*std::move(e));
    if (api_->EventRecordWithFlags == nullptr) return absl::OkStatus();
    if (const char* m = std::getenv("GHOSTNV_GPU_STAGE_MARKS"); m != nullptr && m[0] == '0')
      return absl::OkStatus();
    for (std::optional<Event>* m : {&uploaded_, &computed_}) {
      absl::StatusOr<Event> me = Event::Create(ctx, EventTiming::kEnabled);
      if (!me.ok()) return me.status();
      m->emplace(*std::move(me));
    }
    return absl::OkStatus();
  }
  // Whether Mark* record anything (Init done and the driver has cuEventRecordWithFlags).
  bool has_marks() const { return uploaded_.has_value(); }

  // While recording the hop: after the uploads / after the last kernel (before the downloads).
  cu::CUresult MarkUploaded(const Stream& s, bool capturing) const { return Mark(uploaded_, s, capturing); }
  cu::CUresult MarkComputed(const Stream& s, bool capturing) const { return Mark(computed_, s, capturing); }

  // Real-time path, before the hop's launch on `s`: `marks` = the hop's recording has the marks.
  cu::CUresult Begin(const Stream& s, bool marks) noexcept {
    if (!begin_) return cu::kSuccess;
    const cu::CUresult r = begin_->Record(s);
    pending_ = r == cu::kSuccess;
    marks_ = marks && has_marks();
    return r;
  }
  // Real-time path, before the next Begin: the pending hop's times, `end` = the timing event
  // recorded after its launch (the plan's done event). Never blocks.
  void Collect(const Event& end, StageHistograms& st) noexcept {
    if (!pending_) return;
    pending_ = false;
    float ms = 0.f;
    if (api_->EventElapsedTime(&ms, begin_->get(), end.get()) != cu::kSuccess || ms < 0.f) return;
    st.Record(Stage::kDevice, Ns(ms));
    if (!marks_) return;
    float h2d = 0.f, kernels = 0.f, d2h = 0.f;
    if (api_->EventElapsedTime(&h2d, begin_->get(), uploaded_->get()) == cu::kSuccess &&
        api_->EventElapsedTime(&kernels, uploaded_->get(), computed_->get()) == cu::kSuccess &&
        api_->EventElapsedTime(&d2h, computed_->get(), end.get()) == cu::kSuccess) {
      st.Record(Stage::kH2D, Ns(h2d));
      st.Record(Stage::kKernels, Ns(kernels));
      st.Record(Stage::kD2H, Ns(d2h));
    }
  }

  static uint64_t Ns(float ms) noexcept { return static_cast<uint64_t>(std::max(0.f, ms) * 1e6f); }

 private:
  cu::CUresult Mark(const std::optional<Event>& e, const Stream& s, bool capturing) const {
    if (!e) return cu::kSuccess;
    return capturing ? api_->EventRecordWithFlags(e->get(), s.get(), cu::kEventRecordExternal) : e->Record(s);
  }

  const DriverApi* api_ = nullptr;
  std::optional<Event> begin_, uploaded_, computed_;
  bool pending_ = false, marks_ = false;
};

}  // namespace ghostnv::runtime
