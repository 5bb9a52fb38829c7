// A Linux tap device (/dev/net/tun, IFF_TAP, no packet info): whole Ethernet
// frames in and out, non-blocking.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "vmm/core/fd.h"
#include "vmm/net/link.h"

namespace hsls::net {

class Tap : public Link {
 public:
  // Attaches to tap `name` in this network namespace (created if it does
  // not exist and we may). Throws Error naming the tap and the reason.
  explicit Tap(const std::string& name);

  int fd() const override { return fd_.get(); }
  std::string name() const override { return "tap " + name_; }
  // One frame into `buf`; its length, 0 if none is waiting. Throws on error.
  size_t read(uint8_t* buf, size_t cap) override;
  // Sends one frame; false if the kernel refused it (counted by the caller).
  bool write(const uint8_t* frame, size_t len) override;

 private:
  Fd fd_;
  std::string name_;
};

}  // namespace hsls::net
