// runtime/stream.h — CUDA streams with an explicit priority, and events.
//
// Every stream is created non-blocking (it never waits for the legacy default stream) with a
// named priority: kRealtime gets the greatest priority the context offers, so a real-time
// session's kernels are scheduled ahead of batch work; kBatch gets the least.
//
//   absl::StatusOr<Stream> rt = Stream::Create(ctx, StreamPriority::kRealtime);
//   absl::StatusOr<Event> done = Event::Create(ctx, EventTiming::kDisabled);
//   ... enqueue work on rt->get() ...
//   done->Record(*rt);                         // real-time safe
//   if (done->Query() == cu::kErrorNotReady)   // poll against the period's budget
//
// Move-only; destructors destroy the handle (pending work still completes). Create from a
// thread that can make the context current (they do it themselves); Record/Query/
// WaitFor/Launch-style calls return the raw CUresult and are real-time safe: no allocation,
// no Status. Synchronize() blocks and is for setup, teardown and tests only.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/context.h"
#include "runtime/cuda_abi.h"

namespace ghostnv::runtime {

enum class StreamPriority {
  kRealtime,  // the greatest priority the device offers
  kBatch,     // the least (the default streams' priority)
};

class Stream {
 public:
  static absl::StatusOr<Stream> Create(const Context& ctx, StreamPriority priority);

  Stream(Stream&& other) noexcept;
  Stream& operator=(Stream&& other) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream();

  cu::CUstream get() const { return stream_; }
  int priority() const { return priority_; }  // the driver's number (lower runs first)
  const DriverApi& api() const { return *api_; }

  cu::CUresult Query() const { return api_->StreamQuery(stream_); }  // kSuccess when idle
  absl::Status Synchronize() const;  // blocks; not for the real-time path

 private:
  Stream(const DriverApi* api, cu::CUstream s, int priority)
      : api_(api), stream_(s), priority_(priority) {}
  const DriverApi* api_ = nullptr;
  cu::CUstream stream_ = nullptr;
  int priority_ = 0;
};

enum class EventTiming {
  kDisabled,  // cheapest: only completion (use for synchronisation)
  kEnabled,   // can be used with ElapsedMs
};

class Event {
 public:
  static absl::StatusOr<Event> Create(const Context& ctx, EventTiming timing);

  Event(Event&& other) noexcept;
  Event& operator=(Event&& other) noexcept;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event();

  cu::CUevent get() const { return event_; }
  cu::CUresult Record(const Stream& stream) const { return api_->EventRecord(event_, stream.get()); }
  cu::CUresult Query() const { return api_->EventQuery(event_); }  // kSuccess, kErrorNotReady
  // Makes `stream` wait for this event's last recorded work (no host blocking).
  cu::CUresult MakeWait(const Stream& stream) const {
    return api_->StreamWaitEvent(stream.get(), event_, 0);
  }
  absl::Status Synchronize() const;  // blocks; not for the real-time path

  // Milliseconds between two completed events recorded with timing enabled.
  static absl::StatusOr<float> ElapsedMs(const Event& start, const Event& end);

 private:
  Event(const DriverApi* api, cu::CUevent e) : api_(api), event_(e) {}
  const DriverApi* api_ = nullptr;
  cu::CUevent event_ = nullptr;
};

}  // namespace ghostnv::runtime
