// Where everything lives in the NVM file (docs/nvm-layout.md):
//
//   superblock | commit word | journal | state slot 0 | state slot 1 |
//   backup tags (2 per page) | guest RAM | backup pages (2 per page)
//
// Every area starts on a 4 KiB boundary; guest RAM on a 2 MiB boundary.
#pragma once
#include <cstdint>
#include <string>

namespace hsls::nvm {

inline constexpr uint64_t kPage = 4096;
inline constexpr char kMagic[8] = {'H', 'S', 'L', 'S', 'N', 'V', 'M', '1'};
// 2: a page's backup of checkpoint G may sit in either slot (in 1, only in
// slot G % 2, which a vmm reading 1 alone would restore).
inline constexpr uint32_t kFormatVersion = 2;
inline constexpr uint64_t kJournalRecords = 64;
inline constexpr uint64_t kStateSlotBytes = 1ull << 20;

// The file's areas, computed from the guest memory size.
struct Layout {
  uint64_t memory_bytes = 0;
  uint64_t pages = 0;
  uint64_t superblock = 0;
  uint64_t commit = 0;         // the global version word (the commit point)
  uint64_t journal = 0;        // kJournalRecords checkpoint records
  uint64_t state[2] = {0, 0};  // saved volatile state, by version parity
  uint64_t tags = 0;           // uint64 tag per (page, slot): pages * 2
  uint64_t ram = 0;            // runtime guest memory
  uint64_t backups = 0;        // backup page per (page, slot): pages * 2 * 4 KiB
  uint64_t file_bytes = 0;

  // Backups (and their tags) are numbered as they lie in the file: a
  // page's two slots side by side.
  static uint64_t backup_number(uint64_t page, unsigned slot) { return page * 2 + slot; }
  static uint64_t page_of_backup(uint64_t number) { return number / 2; }
  // Byte offset of the backup page of `page` in `slot` (0 or 1).
  uint64_t backup(uint64_t page, unsigned slot) const { return backups + backup_number(page, slot) * kPage; }
  // Byte offset of the tag of `page` in `slot`.
  uint64_t tag(uint64_t page, unsigned slot) const { return tags + backup_number(page, slot) * 8; }
};

// Computes the layout for a guest of `memory_bytes` (a multiple of 4 KiB).
Layout compute_layout(uint64_t memory_bytes);

// The superblock as stored at offset 0; `checksum` covers every byte before it.
struct Superblock {
  char magic[8];
  uint32_t format_version;
  uint32_t vcpus;              // of the machine that formatted the file
  uint64_t memory_bytes;
  uint64_t pages;
  uint64_t commit, journal, state0, state1, tags, ram, backups, file_bytes;
  uint64_t created_unix_ns;
  uint64_t checksum;
};

// Builds the superblock describing `layout`.
Superblock make_superblock(const Layout& layout, uint32_t vcpus, uint64_t now_ns);

// Checks a stored superblock against the layout the config asks for.
// Returns "" if it matches, else a one-line reason.
std::string check_superblock(const Superblock& sb, const Layout& expected);

// A 64-bit checksum of `len` bytes (xxHash64).
uint64_t checksum(const void* data, uint64_t len);

}  // namespace hsls::nvm
