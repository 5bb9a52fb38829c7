#include "fuzz/fuzz_tap.h"

#include <sys/eventfd.h>

#include <cstring>

#include "vmm/core/error.h"
#include "vmm/net/tap.h"

namespace hsls {

fuzz::TapWire& fuzz::tap_wire() {
  static TapWire wire;
  return wire;
}

// An eventfd stands in for the tap's file descriptor: the device only
// registers it with epoll.
net::Tap::Tap(const std::string& name) : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)), name_(name) {
  if (!fd_) throw Error(errno_text("fake tap: eventfd"));
}

size_t net::Tap::read(uint8_t* buf, size_t cap) {
  auto& rx = fuzz::tap_wire().rx;
  if (rx.empty()) return 0;
  std::vector<uint8_t> f = std::move(rx.front());
  rx.pop_front();
  size_t n = std::min(f.size(), cap);  // a real tap truncates to the buffer too
  if (n) std::memcpy(buf, f.data(), n);
  return n;
}

bool net::Tap::write(const uint8_t* frame, size_t len) {
  auto& w = fuzz::tap_wire();
  if (w.refuse_writes) return false;
  w.tx.emplace_back(frame, frame + len);
  return true;
}

}  // namespace hsls
