// The checkpoint manager's journal and the commit point. Committing
// checkpoint V takes two steps: (1) append a self-checksummed record
// describing V (where its saved state is and its checksum), persist it;
// (2) store V into the 8-byte commit word and persist it. A power failure
// before (2) leaves the previous checkpoint in force; a torn record fails
// its checksum and is never used.
#pragma once
#include <cstdint>
#include <optional>

#include "nvm/layout.h"
#include "nvm/persist.h"

namespace hsls::nvm {

// The largest checkpoint version a file may hold. At one checkpoint per
// 0.5 ms (the shortest interval) 2^62 checkpoints take 73 million years, so a
// larger committed version is corruption or a crafted file, not history; and
// the bound keeps version + 1 (the next checkpoint, the devices' epoch) far
// from wrapping to 0, which means "no checkpoint".
inline constexpr uint64_t kMaxVersion = 1ull << 62;

// One checkpoint, as the journal stores it (256 bytes).
struct CheckpointRecord {
  uint64_t version;
  uint64_t unix_ns;          // wall-clock time the checkpoint was taken
  uint64_t state_offset;     // file offset of its saved volatile state
  uint64_t state_bytes;
  uint64_t state_checksum;
  uint64_t pages_dirty;      // pages the epoch wrote
  uint64_t pages_copied;     // copied during the pause
  uint64_t pause_ns;
  uint8_t reserved[184];
  uint64_t checksum;         // of every byte before it
};
static_assert(sizeof(CheckpointRecord) == 256);

class Journal {
 public:
  // `file` is the start of the mapped NVM file.
  Journal(uint8_t* file, const Layout& layout, Persist& persist);

  // Writes and persists the record of `rec.version` (not yet committed).
  void append(CheckpointRecord rec);
  // The record of `version` if present and intact.
  std::optional<CheckpointRecord> find(uint64_t version) const;
  // The commit point: the last committed version (0 = none yet).
  uint64_t committed() const;
  // Makes `version` the committed checkpoint (one atomic 8-byte store).
  void commit(uint64_t version);

 private:
  CheckpointRecord* slot(uint64_t version) const;
  uint8_t* file_;
  Layout layout_;
  Persist& persist_;
};

// Fills in a record's checksum / checks it.
void seal(CheckpointRecord& rec);
bool intact(const CheckpointRecord& rec);

}  // namespace hsls::nvm
