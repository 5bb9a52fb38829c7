// Reads an ELF64 x86-64 guest image that follows the PVH direct-boot
// convention, checks it against guest RAM and the boot area, and loads it.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "vmm/core/guest_memory.h"

namespace hsls::boot {

// One PT_LOAD segment to place in guest memory.
struct Segment {
  uint64_t paddr;
  uint64_t file_offset;
  uint64_t file_size;
  uint64_t mem_size;
};

// What loading the image means: its segments and the 32-bit PVH entry.
struct LoadPlan {
  uint32_t pvh_entry = 0;
  std::vector<Segment> segments;
};

// Parses and checks the image bytes; `ram` says where guest RAM is.
// Throws Error with a one-line reason ("guest image X: ...").
LoadPlan plan_load(std::span<const uint8_t> image, const std::vector<RamRange>& ram, const std::string& name);

// Copies the planned segments into guest memory (zero-filling the bss).
void apply_load(const LoadPlan& plan, std::span<const uint8_t> image, GuestMemory& mem);

// A guest image's bytes. A regular file is mapped read-only, so that a
// resume, which reads only the headers, touches a few pages instead of
// copying the whole image (each first touch costs ~10-20 us on a PVM
// guest); a device or a pipe is read whole. Throws Error if the file is
// missing or unreadable.
class ImageFile {
 public:
  explicit ImageFile(const std::string& path);
  ~ImageFile();
  ImageFile(const ImageFile&) = delete;
  ImageFile& operator=(const ImageFile&) = delete;

  std::span<const uint8_t> bytes() const { return {data_, size_}; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  void* map_ = nullptr;         // the mapping of a regular file
  std::vector<uint8_t> read_;   // the bytes of anything else
};

}  // namespace hsls::boot
