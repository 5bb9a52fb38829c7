#include "user/net/interface.h"

#include "user/net/ether.h"
#include "user/net/ipv4.h"

namespace net {

void Interface::init(VirtioNet* dev, u32 ip) {
  dev_ = dev;
  ip_ = ip;
}

bool Interface::bind(uint16_t port, UdpHandler handler, void* ctx) {
  if (nbindings_ >= MAX_BINDINGS) return false;
  bindings_[nbindings_++] = Binding{port, handler, ctx};
  return true;
}

const Interface::Binding* Interface::binding(uint16_t port) const {
  for (unsigned i = 0; i < nbindings_; i++)
    if (bindings_[i].port == port) return &bindings_[i];
  return nullptr;
}

void Interface::input(const u8* frame, u32 len) {
  if (len < ETH_HLEN) {
    counters.bad++;
    return;
  }
  if (!mac_equal(frame, mac()) && !mac_equal(frame, MAC_BROADCAST)) {
    counters.ignored++;
    return;
  }
  switch (get16(frame + 12)) {
    case ETH_ARP: arp_input(*this, frame, len); break;
    case ETH_IPV4: ipv4_input(*this, frame, len); break;
    default: counters.ignored++;
  }
}

unsigned Interface::poll() {
  unsigned n = 0;
  VirtioNet::Frame f;
  while (dev_->rx_next(f)) {
    input(f.data, f.len);
    dev_->rx_done(f.id);
    n++;
  }
  return n;
}

unsigned Interface::run_once(u64 poll_us, u64 timeout_us) {
  dev_->wait(poll_us, timeout_us);
  if (dev_->needs_reset()) {
    u::print("%s: virtio-net device needs a reset; restarting it\n", u::prog);
    if (!dev_->restart()) u::print("%s: virtio-net restart failed\n", u::prog);
  }
  return poll();
}

}  // namespace net
