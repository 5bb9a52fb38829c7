#include "vmm/devices/bus.h"

#include "vmm/core/error.h"

namespace hsls {

void Bus::add(uint64_t base, uint64_t size, Device* dev) {
  for (const auto& [b, r] : ranges_)
    if (base < b + r.size && b < base + size)
      throw Error(std::string(dev->name()) + " overlaps " + std::string(r.dev->name()) + " on the bus");
  ranges_[base] = {size, dev};
}

Device* Bus::find(uint64_t addr, unsigned len, uint64_t& offset) const {
  auto it = ranges_.upper_bound(addr);
  if (it == ranges_.begin()) return nullptr;
  --it;
  uint64_t off = addr - it->first;
  if (off >= it->second.size || len > it->second.size - off) return nullptr;
  offset = off;
  return it->second.dev;
}

}  // namespace hsls
