#include "user/net/virtio_mmio.h"

namespace net {

bool mmio_open(i64 regs_slot, u32 device_id, Mmio& out) {
  i64 pa = u::sc(sys::PMO_PADDR, u64(regs_slot), 0);
  i64 pages = u::sc(sys::PMO_PAGES, u64(regs_slot));
  if (pa < 0 || pages <= 0) {
    u::print("%s: no virtio device capability in slot %ld (error %ld)\n", u::prog, regs_slot, pa < 0 ? -pa : -pages);
    return false;
  }
  u8* va = static_cast<u8*>(u::map_pmo(regs_slot, u64(pages)));
  if (!va) {
    u::print("%s: cannot map the virtio registers\n", u::prog);
    return false;
  }
  out.base = va + (u64(pa) & 0xfff);
  u32 magic = out.read(MAGIC), version = out.read(VERSION), id = out.read(DEVICE_ID);
  if (magic != VIRTIO_MAGIC || version != 2 || (device_id && id != device_id)) {
    u::print("%s: not a modern virtio device %u at 0x%lx (magic 0x%x version %u id %u)\n", u::prog, device_id,
             u64(pa), magic, version, id);
    return false;
  }
  return true;
}

bool reset(const Mmio& m) {
  m.write(STATUS, 0);
  u64 deadline = u::rdtsc() + u::tsc_hz / 10;
  while (m.read(STATUS)) {
    if (i64(u::rdtsc() - deadline) > 0) {
      u::print("%s: virtio device did not reset (status 0x%x)\n", u::prog, m.read(STATUS));
      return false;
    }
    u::yield();
  }
  return true;
}

bool negotiate(const Mmio& m, u64 want, u64 need, u64& got) {
  m.write(STATUS, S_ACKNOWLEDGE);
  m.write(STATUS, S_ACKNOWLEDGE | S_DRIVER);
  m.write(DEVICE_FEATURES_SEL, 0);
  u64 offered = m.read(DEVICE_FEATURES);
  m.write(DEVICE_FEATURES_SEL, 1);
  offered |= u64(m.read(DEVICE_FEATURES)) << 32;
  got = offered & want;
  if ((got & need) != need) {
    u::print("%s: virtio device lacks features 0x%lx (offers 0x%lx)\n", u::prog, need & ~got, offered);
    m.write(STATUS, S_FAILED);
    return false;
  }
  m.write(DRIVER_FEATURES_SEL, 0);
  m.write(DRIVER_FEATURES, u32(got));
  m.write(DRIVER_FEATURES_SEL, 1);
  m.write(DRIVER_FEATURES, u32(got >> 32));
  m.write(STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK);
  if (!(m.read(STATUS) & S_FEATURES_OK)) {
    u::print("%s: virtio device refused features 0x%lx\n", u::prog, got);
    m.write(STATUS, S_FAILED);
    return false;
  }
  return true;
}

}  // namespace net
