// Builds small synthetic ELF64 x86-64 PVH images for the loader tests, and
// lets a test patch the headers of a built image to make one thing wrong.
#pragma once
#include <elf.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace hsls::test {

// XEN_ELFNOTE_PHYS32_ENTRY.
inline constexpr uint32_t kPvhNoteType = 18;

// One program header to emit: its type, where it goes and what it holds.
struct ElfSegmentSpec {
  uint32_t type = PT_LOAD;
  uint64_t paddr = 0;
  std::vector<uint8_t> data;  // file contents (p_filesz = data.size())
  uint64_t mem_size = 0;      // p_memsz; 0 means data.size()
};

// Bytes of one ELF note: header, name padded to 4, descriptor padded to 4.
inline std::vector<uint8_t> elf_note(const std::string& name, uint32_t type, const std::vector<uint8_t>& desc) {
  Elf64_Nhdr nh{};
  nh.n_namesz = uint32_t(name.size() + 1);
  nh.n_descsz = uint32_t(desc.size());
  nh.n_type = type;
  const size_t name_padded = (name.size() + 1 + 3) & ~size_t(3);
  const size_t desc_padded = (desc.size() + 3) & ~size_t(3);
  std::vector<uint8_t> out(sizeof nh + name_padded + desc_padded, 0);
  std::memcpy(out.data(), &nh, sizeof nh);
  std::memcpy(out.data() + sizeof nh, name.data(), name.size());
  if (!desc.empty()) std::memcpy(out.data() + sizeof nh + name_padded, desc.data(), desc.size());
  return out;
}

// The PVH entry note with a 4-byte (or, if wide, 8-byte) descriptor.
inline std::vector<uint8_t> pvh_note(uint64_t entry, bool wide = false) {
  std::vector<uint8_t> desc(wide ? 8 : 4);
  std::memcpy(desc.data(), &entry, desc.size());
  return elf_note("Xen", kPvhNoteType, desc);
}

// Bytes 0, 1, 2, ... (mod 251) offset by `seed`: recognisable content.
inline std::vector<uint8_t> pattern(size_t len, uint8_t seed) {
  std::vector<uint8_t> out(len);
  for (size_t i = 0; i < len; ++i) out[i] = uint8_t((i + seed) % 251 + 1);
  return out;
}

// A built image: bytes plus accessors for patching its headers in place.
struct ElfImage {
  std::vector<uint8_t> bytes;

  Elf64_Ehdr ehdr() const {
    Elf64_Ehdr eh;
    std::memcpy(&eh, bytes.data(), sizeof eh);
    return eh;
  }
  void set_ehdr(const Elf64_Ehdr& eh) { std::memcpy(bytes.data(), &eh, sizeof eh); }

  Elf64_Phdr phdr(unsigned i) const {
    Elf64_Phdr ph;
    std::memcpy(&ph, bytes.data() + ehdr().e_phoff + i * sizeof ph, sizeof ph);
    return ph;
  }
  void set_phdr(unsigned i, const Elf64_Phdr& ph) {
    std::memcpy(bytes.data() + ehdr().e_phoff + i * sizeof ph, &ph, sizeof ph);
  }

  template <typename F>
  ElfImage& edit_ehdr(F f) {
    auto eh = ehdr();
    f(eh);
    set_ehdr(eh);
    return *this;
  }
  template <typename F>
  ElfImage& edit_phdr(unsigned i, F f) {
    auto ph = phdr(i);
    f(ph);
    set_phdr(i, ph);
    return *this;
  }
};

// Lays out: ELF header, program headers, then each segment's data (16-byte
// aligned), then optionally one SHT_NOTE section holding `section_note`
// (with a null section header first, as linkers emit).
inline ElfImage build_elf(const std::vector<ElfSegmentSpec>& segments, uint64_t entry,
                          const std::vector<uint8_t>& section_note = {}) {
  ElfImage img;
  auto& b = img.bytes;
  const size_t ph_off = sizeof(Elf64_Ehdr);
  b.resize(ph_off + segments.size() * sizeof(Elf64_Phdr));
  std::vector<Elf64_Phdr> phdrs;
  for (const auto& s : segments) {
    while (b.size() % 16) b.push_back(0);
    Elf64_Phdr ph{};
    ph.p_type = s.type;
    ph.p_flags = PF_R | PF_X;
    ph.p_offset = b.size();
    ph.p_vaddr = s.paddr;
    ph.p_paddr = s.paddr;
    ph.p_filesz = s.data.size();
    ph.p_memsz = s.mem_size ? s.mem_size : s.data.size();
    ph.p_align = s.type == PT_NOTE ? 4 : 16;
    b.insert(b.end(), s.data.begin(), s.data.end());
    phdrs.push_back(ph);
  }
  uint64_t sh_off = 0;
  if (!section_note.empty()) {
    while (b.size() % 16) b.push_back(0);
    uint64_t note_off = b.size();
    b.insert(b.end(), section_note.begin(), section_note.end());
    while (b.size() % 16) b.push_back(0);
    sh_off = b.size();
    Elf64_Shdr sh[2]{};
    sh[1].sh_type = SHT_NOTE;
    sh[1].sh_offset = note_off;
    sh[1].sh_size = section_note.size();
    sh[1].sh_addralign = 4;
    b.resize(b.size() + sizeof sh);
    std::memcpy(b.data() + sh_off, sh, sizeof sh);
  }

  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_ident[EI_OSABI] = ELFOSABI_SYSV;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_entry = entry;
  eh.e_phoff = ph_off;
  eh.e_shoff = sh_off;
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = uint16_t(segments.size());
  eh.e_shentsize = sh_off ? sizeof(Elf64_Shdr) : 0;
  eh.e_shnum = sh_off ? 2 : 0;
  img.set_ehdr(eh);
  for (unsigned i = 0; i < phdrs.size(); ++i) img.set_phdr(i, phdrs[i]);
  return img;
}

// The reference image used by the loader tests:
//   phdr 0: PT_LOAD text at 1 MiB, 0x200 bytes, entry at kEntry inside it
//   phdr 1: PT_LOAD data at 2 MiB, 0x100 bytes of file and 0x1000 of memory (bss)
//   phdr 2: PT_NOTE with the PVH entry note
struct ValidPvh {
  static constexpr uint64_t kTextAddr = 0x100000;
  static constexpr uint64_t kTextSize = 0x200;
  static constexpr uint64_t kEntry = 0x100010;
  static constexpr uint64_t kDataAddr = 0x200000;
  static constexpr uint64_t kDataFile = 0x100;
  static constexpr uint64_t kDataMem = 0x1000;
  static constexpr unsigned kTextPh = 0, kDataPh = 1, kNotePh = 2;

  static std::vector<uint8_t> text() { return pattern(kTextSize, 7); }
  static std::vector<uint8_t> data() { return pattern(kDataFile, 99); }

  static ElfImage build(uint64_t note_entry = kEntry) {
    return build_elf({{PT_LOAD, kTextAddr, text(), 0},
                      {PT_LOAD, kDataAddr, data(), kDataMem},
                      {PT_NOTE, 0, pvh_note(note_entry), 0}},
                     0x1000000 /* e_entry: ignored by PVH boot */);
  }
};

}  // namespace hsls::test
