// A non-blocking eventfd: a counter one thread signals and another drains
// (device notifications; KVM can also signal or watch one: ioeventfd, irqfd).
#pragma once
#include <cstdint>

#include "vmm/core/fd.h"

namespace hsls {

class EventFd {
 public:
  EventFd();  // non-blocking; throws Error
  int fd() const { return fd_.get(); }
  void signal();
  // Resets the counter; returns what it was.
  uint64_t drain();

 private:
  Fd fd_;
};

}  // namespace hsls
