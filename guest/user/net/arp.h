// ARP (RFC 826) for IPv4 over Ethernet: answers requests for our address,
// learns senders into a small cache, and asks for addresses.
#pragma once
#include "user/ulib.h"

namespace net {

class Interface;

class ArpCache {
 public:
  static constexpr unsigned SIZE = 16;

  // Records ip -> mac (replacing the oldest entry when full).
  void learn(u32 ip, const u8* mac);

  // Copies the MAC of `ip` into `mac`; false if unknown.
  bool lookup(u32 ip, u8* mac) const;

 private:
  struct Entry {
    u32 ip;
    u8 mac[6];
    bool used;
  };
  Entry entries_[SIZE] = {};
  unsigned next_ = 0;
};

// Handles an ARP frame (Ethernet header included).
void arp_input(Interface& ifc, const u8* frame, u32 len);

// Broadcasts a request for `ip`; false if no transmit buffer was free.
bool arp_request(Interface& ifc, u32 ip);

}  // namespace net
