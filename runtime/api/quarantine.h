// runtime/api/quarantine.h — keeps the shells of destroyed handles so late calls are caught.
//
// A C caller that uses a handle after freeing it would read freed memory. Instead, destroy
// functions release everything a handle owns, mark its `magic` field dead and hand the small
// shell here; the shell stays allocated (and its dead magic readable) until kQuarantineSize newer
// shells have arrived, then it is freed. A late call therefore sees the dead magic and returns
// GHOSTNV_ERROR_BAD_HANDLE instead of crashing — for a while; after eviction it is undefined
// behaviour again, as in any C library.
//
//   d->magic = kDeadMagic;
//   Quarantine(d, [](void* p) { delete static_cast<ghostnv_denoiser*>(p); });
//
// Thread-safety: Quarantine() takes a mutex (setup path only, never the audio thread).
#pragma once

#include <cstddef>

namespace ghostnv::api {

inline constexpr size_t kQuarantineSize = 256;

// Takes ownership of `shell`; frees it with `free_shell` once it is evicted (never at exit:
// the remaining shells stay reachable from a static table).
void Quarantine(void* shell, void (*free_shell)(void*));

}  // namespace ghostnv::api
