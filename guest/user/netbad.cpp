// netbad: a hostile virtio-net driver for the device's tests. Each case
// brings the device up, writes one malformed transmit ring, notifies, and
// checks that the device reports DEVICE_NEEDS_RESET (status bit 0x40) within
// WAIT_MS; then it resets the device (Status = 0). Last, a correct driver
// (user/net) brings it up again and transmits an ARP request, proving the
// device still works after the resets.
//
// Output: "netbad: CASE needs_reset=yes|no" per case, "netbad: transmit
// sent=yes|no reply=yes|no" (reply: an ARP answer came back; informational),
// "netbad: done ok=N bad=M" (N + M = cases + 1, the transmit counting as one).
// Exit code 0 if bad = 0. Arguments: ip=A.B.C.D (10.77.0.2), gw=A.B.C.D (the
// ARP target; default: ip with last byte 1). Needs the device's capabilities
// in SLOT_DEV_REGS/SLOT_DEV_IRQ (init passes them).
#include "user/net/addr.h"
#include "user/net/arp.h"
#include "user/net/ether.h"
#include "user/net/interface.h"
#include "user/net/virtqueue.h"
#include "user/ulib.h"

namespace {

using namespace net;

constexpr u64 WAIT_MS = 500;
constexpr uint16_t N = 16;         // queue entries
constexpr u32 HDR = 12, FRAME = 60;
constexpr u64 OUTSIDE = 1ull << 38;  // 256 GiB: no RAM there (and below any MAXPHYADDR)

Mmio m;
Dma dma;  // pages [0, 2) rx queue, [2, 4) tx queue, [4, 8) 8 transmit buffers, [8, 12) 8 receive buffers
Virtqueue rxq, txq;
constexpr u64 BUFS = 2 * Virtqueue::PAGES * 4096, RX_BUFS = BUFS + 4 * 4096;
u64 ram_end;
u32 my_ip;
u8 my_mac[6] = {0x02, 0x48, 0x53, 0, 0, 1};

u64 buf_pa(unsigned i) { return dma.pa(BUFS + u64(i % 8) * 2048); }

// Resets the device and brings it up with a transmit queue at `tx_desc_pa`
// (0: the real one) and 8 receive buffers. False if the device would not come up.
bool setup(u64 tx_desc_pa = 0) {
  u64 got;
  if (!reset(m) || !negotiate(m, 1ull << F_VERSION_1, 1ull << F_VERSION_1, got)) return false;
  rxq.init(dma, 0, N);
  txq.init(dma, Virtqueue::PAGES * 4096, N);
  if (tx_desc_pa) txq.desc_pa = tx_desc_pa;
  for (uint16_t i = 0; i < 8; i++) {
    rxq.desc[i] = VirtqDesc{dma.pa(RX_BUFS + u64(i) * 2048), 2048, DESC_F_WRITE, 0};
    rxq.publish(i);
  }
  // A harmless frame in every buffer (a broadcast ARP request), should the device send one.
  for (unsigned i = 0; i < 8; i++) {
    u8* b = dma.at(BUFS + u64(i) * 2048);
    memset(b, 0, HDR + FRAME);
    u8* f = b + HDR;
    eth_header(f, MAC_BROADCAST, my_mac, ETH_ARP);
    const u8 arp[8] = {0, 1, 8, 0, 6, 4, 0, 1};
    memcpy(f + 14, arp, 8);
    memcpy(f + 22, my_mac, 6);
    put32(f + 28, my_ip);
    put32(f + 38, my_ip);
  }
  txq.set_interrupts(false);
  if (!rxq.attach(m, 0) || !txq.attach(m, 1)) return false;
  m.write(STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
  return true;
}

// Waits up to WAIT_MS for DEVICE_NEEDS_RESET.
bool needs_reset() {
  u64 end = u::rdtsc() + WAIT_MS * 1000 * u::tsc_per_us;
  for (;;) {
    if (m.read(STATUS) & S_NEEDS_RESET) return true;
    if (i64(u::rdtsc() - end) > 0) return false;
    if (u::wait(sys::SLOT_DEV_IRQ, 10000) == 0) {
      u32 isr = m.read(INTERRUPT_STATUS);
      if (isr) m.write(INTERRUPT_ACK, isr);
    }
  }
}

// --- the malformed rings (transmit queue; one chain at descriptor 0 unless said) ---
void desc_outside_ram() { txq.desc[0] = VirtqDesc{OUTSIDE, HDR + FRAME, 0, 0}; }
void desc_crosses_ram_end() { txq.desc[0] = VirtqDesc{ram_end - 2048, 8192, 0, 0}; }
void huge_length() { txq.desc[0] = VirtqDesc{buf_pa(0), 0xffffffff, 0, 0}; }
void next_loop() {
  txq.desc[0] = VirtqDesc{buf_pa(0), HDR, DESC_F_NEXT, 1};
  txq.desc[1] = VirtqDesc{buf_pa(1) + HDR, FRAME, DESC_F_NEXT, 0};
}
void chain_too_long() {  // every descriptor chained, the last back to the first: longer than the queue
  for (uint16_t i = 0; i < N; i++) txq.desc[i] = VirtqDesc{buf_pa(i) + HDR, 8, DESC_F_NEXT, uint16_t((i + 1) % N)};
  txq.desc[0] = VirtqDesc{buf_pa(0), HDR, DESC_F_NEXT, 1};
}
void avail_jump() {
  txq.desc[0] = VirtqDesc{buf_pa(0), HDR + FRAME, 0, 0};
  for (uint16_t i = 0; i < N; i++) txq.avail->ring[i] = 0;
  __atomic_store_n(&txq.avail->idx, uint16_t(N + 1), __ATOMIC_RELEASE);
}
void queue_outside_ram() {}  // the table address itself (setup); the ring names descriptor 0

struct Case {
  const char* name;
  void (*write)();
  bool publish;       // publish descriptor 0 (else the case wrote avail itself)
  u64 tx_desc_pa;     // queue address override
};

const Case cases[] = {
    {"desc_outside_ram", desc_outside_ram, true, 0},
    {"desc_crosses_ram_end", desc_crosses_ram_end, true, 0},
    {"huge_length", huge_length, true, 0},
    {"next_loop", next_loop, true, 0},
    {"chain_too_long", chain_too_long, true, 0},
    {"avail_jump", avail_jump, false, 0},
    {"queue_outside_ram", queue_outside_ram, true, OUTSIDE},
};

// A correct driver on the same device: bring-up, one ARP request, its transmit completion.
bool transmit(u32 gw, bool& reply) {
  static VirtioNet dev;
  static Interface ifc;
  reply = false;
  if (!dev.open(sys::SLOT_DEV_REGS, sys::SLOT_DEV_IRQ)) return false;
  ifc.init(&dev, my_ip);
  if (!arp_request(ifc, gw)) return false;
  u64 end = u::rdtsc() + 1000 * 1000 * u::tsc_per_us;
  while (dev.tx_in_flight() && i64(u::rdtsc() - end) < 0) u::sleep_us(1000);
  bool sent = !dev.tx_in_flight() && !dev.needs_reset(true);
  u8 mac[6];
  while (!reply && i64(u::rdtsc() - end) < 0) {
    ifc.run_once(0, 20000);
    reply = ifc.arp.lookup(gw, mac);
  }
  return sent;
}

}  // namespace

int main(int argc, const char* const* argv) {
  char text[32] = "10.77.0.2";
  u::arg_str(argc, argv, "ip", text, sizeof text);
  if (!parse_ipv4(text, my_ip)) {
    u::print("netbad: bad ip=%s\n", text);
    return 2;
  }
  u32 gw = (my_ip & ~0xffu) | 1;
  if (u::arg_str(argc, argv, "gw", text, sizeof text) && !parse_ipv4(text, gw)) {
    u::print("netbad: bad gw=%s\n", text);
    return 2;
  }
  if (u::passed < 2) {
    u::print("netbad: no network device was passed to me\n");
    return 1;
  }
  ram_end = u64(u::info(sys::INFO_RAM_END));
  if (!mmio_open(sys::SLOT_DEV_REGS, VIRTIO_ID_NET, m) || !dma.create(2 * Virtqueue::PAGES + 8)) return 1;
  my_mac[5] = u8(my_ip);
  unsigned ok = 0, bad = 0;
  for (const Case& c : cases) {
    bool up = setup(c.tx_desc_pa);
    c.write();
    if (c.publish) txq.publish(0);
    txq.notify(m);
    bool yes = needs_reset();
    u::print("netbad: %s needs_reset=%s%s\n", c.name, yes ? "yes" : "no", up ? "" : " (device did not come up)");
    (yes ? ok : bad)++;
    reset(m);
  }
  bool reply;
  bool sent = transmit(gw, reply);
  u::print("netbad: transmit sent=%s reply=%s\n", sent ? "yes" : "no", reply ? "yes" : "no");
  (sent ? ok : bad)++;
  u::print("netbad: done ok=%u bad=%u\n", ok, bad);
  return bad ? 1 : 0;
}
