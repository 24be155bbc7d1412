// audio/framer.cc — see framer.h.
#include "audio/framer.h"

#include <algorithm>
#include <stdexcept>

namespace ghostnv::audio {

Framer::Framer(int hop, size_t capacity) : hop_(hop), buf_(capacity) {
  if (hop <= 0 || capacity < static_cast<size_t>(hop))
    throw std::invalid_argument("Framer: capacity must hold at least one hop");
}

size_t Framer::Push(const float* x, size_t n) {
  const size_t cap = buf_.size();
  n = std::min(n, cap - size_);
  size_t tail = (head_ + size_) % cap;
  for (size_t done = 0; done < n;) {
    const size_t chunk = std::min(n - done, cap - tail);
    std::copy(x + done, x + done + chunk, buf_.begin() + tail);
    done += chunk;
    tail = (tail + chunk) % cap;
  }
  size_ += n;
  return n;
}

bool Framer::PopHop(float* out) {
  const size_t cap = buf_.size(), hop = static_cast<size_t>(hop_);
  if (size_ < hop) return false;
  const size_t first = std::min(hop, cap - head_);
  std::copy(buf_.begin() + head_, buf_.begin() + head_ + first, out);
  std::copy(buf_.begin(), buf_.begin() + (hop - first), out + first);
  head_ = (head_ + hop) % cap;
  size_ -= hop;
  return true;
}

void Framer::Clear() {
  std::fill(buf_.begin(), buf_.end(), 0.f);
  head_ = size_ = 0;
}

}  // namespace ghostnv::audio
