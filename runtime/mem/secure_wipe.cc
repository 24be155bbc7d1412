// runtime/mem/secure_wipe.cc — see secure_wipe.h.
#include "runtime/mem/secure_wipe.h"

#include <string.h>

namespace ghostnv::mem {

void SecureWipe(void* p, size_t bytes) noexcept {
  if (p == nullptr || bytes == 0) return;
  ::explicit_bzero(p, bytes);
  // The bytes are "used" after the wipe as far as the optimiser knows.
  __asm__ __volatile__("" : : "r"(p) : "memory");
}

}  // namespace ghostnv::mem
