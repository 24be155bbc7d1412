// audio/sanitizer.h — whether this translation unit is built with AddressSanitizer (the
// GHOSTNV_SANITIZE build: GCC's __SANITIZE_ADDRESS__, clang's __has_feature). Such a build is
// not a real-time build: the audio path runs several times slower and its shadow memory is too
// large to lock. Defines GHOSTNV_ASAN (for #if) and ghostnv::audio::kAsanBuild.
#ifndef GHOSTNV_AUDIO_SANITIZER_H_
#define GHOSTNV_AUDIO_SANITIZER_H_

#if defined(__SANITIZE_ADDRESS__)
#define GHOSTNV_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GHOSTNV_ASAN 1
#endif
#endif

namespace ghostnv::audio {
#if defined(GHOSTNV_ASAN)
inline constexpr bool kAsanBuild = true;
#else
inline constexpr bool kAsanBuild = false;
#endif
}  // namespace ghostnv::audio

#endif  // GHOSTNV_AUDIO_SANITIZER_H_
