// runtime/stream.cc — Stream and Event.
#include "runtime/stream.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace ghostnv::runtime {

absl::StatusOr<Stream> Stream::Create(const Context& ctx, StreamPriority priority) {
  if (absl::Status st = ctx.MakeCurrent(); !st.ok()) return st;
  const DriverApi& a = ctx.api();
  const int p = priority == StreamPriority::kRealtime ? ctx.priorities().greatest
                                                      : ctx.priorities().least;
  cu::CUstream s = nullptr;
  if (cu::CUresult r = a.StreamCreateWithPriority(&s, cu::kStreamNonBlocking, p); r != cu::kSuccess) {
    return CuError(a, r, "cuStreamCreateWithPriority",
                   absl::StrCat("creating a ",
                                priority == StreamPriority::kRealtime ? "real-time" : "batch",
                                " stream (priority ", p, ") on ", ctx.device().Describe()));
  }
  return Stream(&a, s, p);
}

Stream::Stream(Stream&& other) noexcept
    : api_(std::exchange(other.api_, nullptr)),
      stream_(std::exchange(other.stream_, nullptr)),
      priority_(other.priority_) {}

Stream& Stream::operator=(Stream&& other) noexcept {
  if (this != &other) {
    if (stream_ != nullptr) api_->StreamDestroy(stream_);
    api_ = std::exchange(other.api_, nullptr);
    stream_ = std::exchange(other.stream_, nullptr);
    priority_ = other.priority_;
  }
  return *this;
}

Stream::~Stream() {
  if (stream_ != nullptr) api_->StreamDestroy(stream_);
}

absl::Status Stream::Synchronize() const {
  if (cu::CUresult r = api_->StreamSynchronize(stream_); r != cu::kSuccess)
    return CuError(*api_, r, "cuStreamSynchronize", absl::StrCat("waiting for a stream (priority ", priority_, ")"));
  return absl::OkStatus();
}

absl::StatusOr<Event> Event::Create(const Context& ctx, EventTiming timing) {
  if (absl::Status st = ctx.MakeCurrent(); !st.ok()) return st;
  const DriverApi& a = ctx.api();
  cu::CUevent e = nullptr;
  const unsigned flags = timing == EventTiming::kEnabled ? cu::kEventDefault : cu::kEventDisableTiming;
  if (cu::CUresult r = a.EventCreate(&e, flags); r != cu::kSuccess)
    return CuError(a, r, "cuEventCreate", absl::StrCat("creating an event on ", ctx.device().Describe()));
  return Event(&a, e);
}

Event::Event(Event&& other) noexcept
    : api_(std::exchange(other.api_, nullptr)), event_(std::exchange(other.event_, nullptr)) {}

Event& Event::operator=(Event&& other) noexcept {
  if (this != &other) {
    if (event_ != nullptr) api_->EventDestroy(event_);
    api_ = std::exchange(other.api_, nullptr);
    event_ = std::exchange(other.event_, nullptr);
  }
  return *this;
}

Event::~Event() {
  if (event_ != nullptr) api_->EventDestroy(event_);
}

absl::Status Event::Synchronize() const {
  if (cu::CUresult r = api_->EventSynchronize(event_); r != cu::kSuccess)
    return CuError(*api_, r, "cuEventSynchronize", "waiting for an event");
  return absl::OkStatus();
}

absl::StatusOr<float> Event::ElapsedMs(const Event& start, const Event& end) {
  float ms = 0;
  if (cu::CUresult r = start.api_->EventElapsedTime(&ms, start.event_, end.event_); r != cu::kSuccess)
    return CuError(*start.api_, r, "cuEventElapsedTime", "timing two events");
  return ms;
}

}  // namespace ghostnv::runtime
