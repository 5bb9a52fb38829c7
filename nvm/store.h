// The NVM file as the checkpoint manager sees it: the mapped, locked region
// with a validated superblock and layout, the persistence API and the
// journal. Opening refuses a corrupt, foreign or mismatching file unless
// the user asked for a fresh start.
#pragma once
#include <memory>
#include <string>

#include "nvm/journal.h"
#include "nvm/layout.h"
#include "nvm/persist.h"
#include "nvm/region.h"

namespace hsls::nvm {

class Store {
 public:
  // Opens (creating and formatting when new or `fresh`) the NVM file for a
  // guest of `memory_bytes` and `vcpus`. Throws Error with one line.
  Store(const std::string& path, uint64_t memory_bytes, uint32_t vcpus, bool fresh, bool adr);

  const Layout& layout() const { return layout_; }
  Persist& persist() { return persist_; }
  const Persist& persist() const { return persist_; }
  Journal& journal() { return *journal_; }
  const Superblock& superblock() const { return *reinterpret_cast<const Superblock*>(region_->base()); }
  const std::string& path() const { return region_->path(); }
  // True if this open formatted the file (nothing to recover).
  bool formatted() const { return formatted_; }
  // No checkpoint to resume on a used file: makes it what formatting makes
  // (zeroed RAM, no backup tags), so that the boot starts from a new
  // machine's memory and no tag of a checkpoint that never committed
  // survives into the new run's numbering.
  void clear_for_boot();
  // The machine came up; keep a file this open created.
  void keep() { region_->keep(); }
  // The mapping shows something else than the file in places (Region::forbid_reuse).
  void forbid_mapping_reuse() { region_->forbid_reuse(); }

  uint8_t* file() const { return region_->base(); }
  uint8_t* ram() const { return file() + layout_.ram; }
  uint8_t* backup(uint64_t page, unsigned slot) const { return file() + layout_.backup(page, slot); }
  uint64_t* tag(uint64_t page, unsigned slot) const { return reinterpret_cast<uint64_t*>(file() + layout_.tag(page, slot)); }
  // The same by backup number (Layout::backup_number).
  uint8_t* backup_by_number(uint64_t n) const { return file() + layout_.backups + n * kPage; }
  uint64_t* tag_by_number(uint64_t n) const { return reinterpret_cast<uint64_t*>(file() + layout_.tags + n * 8); }
  uint8_t* state_slot(unsigned slot) const { return file() + layout_.state[slot]; }

 private:
  void format(uint32_t vcpus);

  Layout layout_;
  Persist persist_;
  std::unique_ptr<Region> region_;
  std::unique_ptr<Journal> journal_;
  bool formatted_ = false;
};

}  // namespace hsls::nvm
