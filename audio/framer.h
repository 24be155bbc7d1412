// audio/framer.h — turns a stream of arbitrary-size blocks into fixed-size hops.
//
// The host's period never has to equal the model's hop: Push() accepts any count, PopHop()
// yields hop-sized blocks as they complete. Capacity is fixed at construction; nothing
// allocates afterwards. Single-threaded (one owner), real-time safe.
//
//   Framer f(480, 480 + 4096);
//   f.Push(period, 256);
//   while (f.PopHop(hop)) process(hop);
#pragma once

#include <cstddef>
#include <vector>

namespace ghostnv::audio {

class Framer {
 public:
  Framer(int hop, size_t capacity);
  int hop() const { return hop_; }
  size_t size() const { return size_; }
  size_t capacity() const { return buf_.size(); }
  // Appends up to n samples; returns how many were taken (less than n only when full).
  size_t Push(const float* x, size_t n);
  // Copies the oldest hop() samples into out and drops them; false if fewer are buffered.
  bool PopHop(float* out);
  void Clear();  // drops and zeroes everything buffered

 private:
  int hop_;
  std::vector<float> buf_;
  size_t head_ = 0;  // index of the oldest sample
  size_t size_ = 0;
};

}  // namespace ghostnv::audio
