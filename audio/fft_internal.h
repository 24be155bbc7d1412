// audio/fft_internal.h — shared by fft.cc and fft_avx2.cc only; not part of audio/'s API.
#pragma once

namespace ghostnv::audio {

// Arguments shared by every stage: source and destination (split), twiddles for this stage.
struct StageArgs {
  const float* sr;
  const float* si;
  float* dr;
  float* di;
  const float* wr;  // [(r - 1) * ns + k]
  const float* wi;
  int n;
  int ns;
};

}  // namespace ghostnv::audio
