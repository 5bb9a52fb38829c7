#include "vmm/boot/elf_loader.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <cstring>
#include <numeric>

#include "vmm/boot/pvh.h"
#include "vmm/core/error.h"
#include "vmm/core/fd.h"

namespace hsls::boot {
namespace {

constexpr uint32_t kXenElfnotePhys32Entry = 18;
constexpr uint64_t kMinLoadAddress = 0x100000;

// True if [off, off+len) lies inside a buffer of `size` bytes.
bool in_file(uint64_t off, uint64_t len, uint64_t size) { return off <= size && len <= size - off; }

// Reads a POD value at `off`; the caller has bounds-checked.
template <typename T>
T read_at(std::span<const uint8_t> image, uint64_t off) {
  T value;
  std::memcpy(&value, image.data() + off, sizeof(T));
  return value;
}

// Scans a note area for the Xen PHYS32_ENTRY note; returns true if found.
bool find_pvh_note(std::span<const uint8_t> image, uint64_t off, uint64_t len, uint32_t& entry) {
  uint64_t end = off + len;
  while (off + sizeof(Elf64_Nhdr) <= end) {
    auto nh = read_at<Elf64_Nhdr>(image, off);
    uint64_t name_off = off + sizeof(Elf64_Nhdr);
    uint64_t desc_off = name_off + ((uint64_t(nh.n_namesz) + 3) & ~3ull);
    uint64_t next = desc_off + ((uint64_t(nh.n_descsz) + 3) & ~3ull);
    if (next > end || next <= off) return false;
    bool is_xen = nh.n_namesz == 4 && std::memcmp(image.data() + name_off, "Xen", 4) == 0;
    if (is_xen && nh.n_type == kXenElfnotePhys32Entry && nh.n_descsz >= 4) {
      uint64_t value = nh.n_descsz >= 8 ? read_at<uint64_t>(image, desc_off) : read_at<uint32_t>(image, desc_off);
      if (value > 0xffffffffull) return false;
      entry = uint32_t(value);
      return true;
    }
    off = next;
  }
  return false;
}

// True if [gpa, gpa+len) lies inside one RAM range.
bool in_ram(uint64_t gpa, uint64_t len, const std::vector<RamRange>& ram) {
  for (const auto& r : ram)
    if (gpa >= r.gpa && gpa - r.gpa <= r.size && len <= r.size - (gpa - r.gpa)) return true;
  return false;
}

}  // namespace

LoadPlan plan_load(std::span<const uint8_t> image, const std::vector<RamRange>& ram, const std::string& name) {
  auto fail = [&](const std::string& why) { return Error("guest image " + name + ": " + why); };
  if (image.size() < sizeof(Elf64_Ehdr)) throw fail("not an ELF file (too short)");
  auto eh = read_at<Elf64_Ehdr>(image, 0);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) throw fail("not an ELF file (bad magic)");
  if (eh.e_ident[EI_CLASS] != ELFCLASS64) throw fail("not ELF64 (allowed: ELF64 x86-64)");
  if (eh.e_ident[EI_DATA] != ELFDATA2LSB) throw fail("not little-endian (allowed: ELF64 x86-64)");
  if (eh.e_machine != EM_X86_64) throw fail("machine " + std::to_string(eh.e_machine) + " is not x86-64");
  if (eh.e_type != ET_EXEC) throw fail("not an executable (ET_EXEC)");
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
      !in_file(eh.e_phoff, uint64_t(eh.e_phnum) * sizeof(Elf64_Phdr), image.size()))
    throw fail("program header table is missing or outside the file");

  LoadPlan plan;
  std::vector<unsigned> phdr_index;  // of each planned segment, for messages
  bool have_entry = false;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    auto ph = read_at<Elf64_Phdr>(image, eh.e_phoff + uint64_t(i) * sizeof(Elf64_Phdr));
    if (ph.p_type == PT_NOTE) {
      if (!in_file(ph.p_offset, ph.p_filesz, image.size())) throw fail("note segment outside the file");
      if (!have_entry) have_entry = find_pvh_note(image, ph.p_offset, ph.p_filesz, plan.pvh_entry);
      continue;
    }
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
    std::string seg = "segment " + std::to_string(i);
    if (!in_file(ph.p_offset, ph.p_filesz, image.size())) throw fail(seg + " lies outside the file");
    if (ph.p_filesz > ph.p_memsz) throw fail(seg + " has file size larger than memory size");
    if (ph.p_paddr + ph.p_memsz < ph.p_paddr) throw fail(seg + " wraps around the address space");
    if (ph.p_paddr < kMinLoadAddress) {
      bool over_boot = ph.p_paddr < kBootAreaEnd && ph.p_paddr + ph.p_memsz > kBootAreaStart;
      throw fail(seg + (over_boot ? " overlaps the boot area" : " lies below 1 MiB") +
                 " (allowed: load addresses at or above 0x100000)");
    }
    if (!in_ram(ph.p_paddr, ph.p_memsz, ram)) throw fail(seg + " lies outside guest memory");
    plan.segments.push_back({ph.p_paddr, ph.p_offset, ph.p_filesz, ph.p_memsz});
    phdr_index.push_back(i);
  }
  // Overlaps, in O(n log n): sorted by start, two segments overlap only if
  // some two neighbours do (a segment overlapping a later one also overlaps
  // the one right after it). Named by the later program header of the pair.
  std::vector<size_t> by_start(plan.segments.size());
  std::iota(by_start.begin(), by_start.end(), size_t(0));
  std::sort(by_start.begin(), by_start.end(), [&](size_t a, size_t b) {
    return plan.segments[a].paddr != plan.segments[b].paddr ? plan.segments[a].paddr < plan.segments[b].paddr : a < b;
  });
  for (size_t k = 1; k < by_start.size(); ++k) {
    const Segment& lo = plan.segments[by_start[k - 1]];
    const Segment& hi = plan.segments[by_start[k]];
    if (hi.paddr < lo.paddr + lo.mem_size)  // no wrap: checked per segment above
      throw fail("segment " + std::to_string(std::max(phdr_index[by_start[k - 1]], phdr_index[by_start[k]])) +
                 " overlaps another segment");
  }
  // Some linkers keep notes only as sections; look there too.
  if (!have_entry && eh.e_shoff && eh.e_shentsize == sizeof(Elf64_Shdr) &&
      in_file(eh.e_shoff, uint64_t(eh.e_shnum) * sizeof(Elf64_Shdr), image.size())) {
    for (unsigned i = 0; i < eh.e_shnum && !have_entry; ++i) {
      auto sh = read_at<Elf64_Shdr>(image, eh.e_shoff + uint64_t(i) * sizeof(Elf64_Shdr));
      if (sh.sh_type == SHT_NOTE && in_file(sh.sh_offset, sh.sh_size, image.size()))
        have_entry = find_pvh_note(image, sh.sh_offset, sh.sh_size, plan.pvh_entry);
    }
  }
  if (plan.segments.empty()) throw fail("has no loadable segment");
  if (!have_entry) throw fail("has no PVH entry note (Xen ELF note type 18, XEN_ELFNOTE_PHYS32_ENTRY)");
  bool entry_loaded = false;
  for (const auto& s : plan.segments)
    if (plan.pvh_entry >= s.paddr && plan.pvh_entry < s.paddr + s.file_size) entry_loaded = true;
  if (!entry_loaded) throw fail("PVH entry point is not inside a loaded segment");
  return plan;
}

void apply_load(const LoadPlan& plan, std::span<const uint8_t> image, GuestMemory& mem) {
  for (const auto& s : plan.segments) {
    uint8_t* dst = mem.host(s.paddr, s.mem_size);
    if (!dst) throw Error("guest image segment at " + std::to_string(s.paddr) + " lies outside guest memory");
    std::memcpy(dst, image.data() + s.file_offset, s.file_size);
    std::memset(dst + s.file_size, 0, s.mem_size - s.file_size);
  }
}

// One read of the whole file (byte-wise stream iteration took ~1.7 ms of
// the vmm's start-up, which recovery time counts).
ImageFile::ImageFile(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw Error("guest image " + path + ": cannot be opened (missing or unreadable)");
  auto failed = [&](const char* what) { return Error("guest image " + path + ": " + what + " (" + std::strerror(errno) + ")"); };
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw failed("cannot be read");
  if (S_ISDIR(st.st_mode)) throw Error("guest image " + path + ": is a directory");
  if (S_ISREG(st.st_mode)) {
    size_ = size_t(st.st_size);
    if (size_ == 0) return;
    void* map = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd.get(), 0);
    if (map == MAP_FAILED) throw failed("cannot be mapped");
    map_ = map;
    data_ = static_cast<const uint8_t*>(map_);
    return;
  }
  uint8_t buf[65536];  // a device or a pipe: read it to its end
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw failed("cannot be read");
    if (n == 0) break;
    read_.insert(read_.end(), buf, buf + n);
  }
  data_ = read_.data();
  size_ = read_.size();
}

ImageFile::~ImageFile() {
  if (map_) ::munmap(map_, size_);
}

}  // namespace hsls::boot
