// An address bus (port I/O or MMIO): maps non-overlapping ranges to devices.
// Registration happens before vCPUs start, so lookups need no lock.
#pragma once
#include <cstdint>
#include <map>

#include "vmm/devices/device.h"

namespace hsls {

class Bus {
 public:
  // Adds [base, base+size) owned by `dev`; throws Error on overlap.
  void add(uint64_t base, uint64_t size, Device* dev);
  // Finds the device owning [addr, addr+len); sets `offset`; null if none.
  Device* find(uint64_t addr, unsigned len, uint64_t& offset) const;

 private:
  struct Range {
    uint64_t size;
    Device* dev;
  };
  std::map<uint64_t, Range> ranges_;  // by base
};

}  // namespace hsls
