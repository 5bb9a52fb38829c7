#include "vmm/boot/pvh.h"

#include "vmm/core/error.h"

namespace hsls::boot {

std::string guest_cmdline(const std::string& user, unsigned vcpus) {
  std::string out = user;
  if (!out.empty()) out += ' ';
  out += "cpus=" + std::to_string(vcpus);
  return out;
}

std::vector<HvmMemmapEntry> memory_map(const std::vector<RamRange>& ram) {
  std::vector<HvmMemmapEntry> map;
  map.push_back({0, kBootAreaStart, kE820Ram, 0});
  map.push_back({kBootAreaStart, kBootAreaEnd - kBootAreaStart, kE820Reserved, 0});
  map.push_back({kBootAreaEnd, kLowMemEnd - kBootAreaEnd, kE820Ram, 0});
  for (const auto& r : ram) {
    uint64_t start = r.gpa == 0 ? 0x100000 : r.gpa;
    uint64_t end = r.gpa + r.size;
    if (end > start) map.push_back({start, end - start, kE820Ram, 0});
  }
  return map;
}

void write_boot_info(GuestMemory& mem, const std::string& cmdline) {
  if (cmdline.size() > kCmdlineMax)
    throw Error("guest.cmdline: " + std::to_string(cmdline.size()) + " bytes do not fit the boot area (allowed: at most " +
                std::to_string(kCmdlineMax) + ")");
  auto map = memory_map(mem.ranges());
  if (kMemmapAddr + map.size() * sizeof(HvmMemmapEntry) > kCmdlineAddr) throw Error("memory map does not fit the boot area");

  HvmStartInfo info{};
  info.magic = kStartInfoMagic;
  info.version = 1;
  info.cmdline_paddr = kCmdlineAddr;
  info.memmap_paddr = kMemmapAddr;
  info.memmap_entries = uint32_t(map.size());
  uint8_t* area = mem.host(kBootAreaStart, kBootAreaEnd - kBootAreaStart);
  if (!area) throw Error("guest memory does not cover the boot area");
  std::fill(area, area + (kBootAreaEnd - kBootAreaStart), uint8_t(0));
  mem.write(kStartInfoAddr, &info, sizeof info);
  mem.write(kMemmapAddr, map.data(), map.size() * sizeof(HvmMemmapEntry));
  mem.write(kCmdlineAddr, cmdline.c_str(), cmdline.size() + 1);
}

}  // namespace hsls::boot
