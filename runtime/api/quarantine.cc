// runtime/api/quarantine.cc — a fixed ring of retired shells.
#include "runtime/api/quarantine.h"

#include <array>
#include <mutex>

namespace ghostnv::api {
namespace {

struct Entry {
  void* shell = nullptr;
  void (*free_shell)(void*) = nullptr;
};

struct Ring {
  std::mutex mu;
  std::array<Entry, kQuarantineSize> entries;
  size_t next = 0;
};

Ring& TheRing() {
  static Ring* ring = new Ring();  // never destroyed: late calls during exit stay detectable
  return *ring;
}

}  // namespace

void Quarantine(void* shell, void (*free_shell)(void*)) {
  if (shell == nullptr) return;
  Entry evicted;
  {
    Ring& r = TheRing();
    std::lock_guard<std::mutex> lock(r.mu);
    evicted = r.entries[r.next];
    r.entries[r.next] = Entry{shell, free_shell};
    r.next = (r.next + 1) % kQuarantineSize;
  }
  if (evicted.shell != nullptr && evicted.free_shell != nullptr) evicted.free_shell(evicted.shell);
}

}  // namespace ghostnv::api
