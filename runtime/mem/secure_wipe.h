// runtime/mem/secure_wipe.h — zero memory that held audio, in a way the compiler cannot drop.
//
// A plain memset before free() is a dead store the optimiser may remove. SecureWipe uses glibc's
// explicit_bzero (a call the compiler must assume reads the bytes afterwards) and, as a second
// guard, a compiler barrier on the buffer. Every pool, arena and ring in runtime/mem/ calls it on
// release; other code that frees audio buffers should call it too (instead of its own
// explicit_bzero wrapper).
//
//   std::vector<float> frame(480);
//   ...
//   ghostnv::mem::SecureWipe(frame.data(), frame.size() * sizeof(float));
//   ghostnv::mem::SecureWipe(frame);          // the same for any contiguous container
//
// Real-time safe: no allocation, no lock, no system call; cost is a memset of `bytes`.
// `p` may be null when `bytes` is 0.
#pragma once

#include <cstddef>
#include <type_traits>

namespace ghostnv::mem {

void SecureWipe(void* p, size_t bytes) noexcept;

// Wipes the elements of a contiguous container of trivially copyable values (vector, array, span).
template <typename C>
void SecureWipe(C& container) noexcept {
  using T = std::remove_reference_t<decltype(*container.data())>;
  static_assert(std::is_trivially_copyable_v<T>, "SecureWipe: element type must be trivially copyable");
  SecureWipe(const_cast<std::remove_const_t<T>*>(container.data()), container.size() * sizeof(T));
}

}  // namespace ghostnv::mem
