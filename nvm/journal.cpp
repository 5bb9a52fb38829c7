#include "nvm/journal.h"

#include <cstddef>

namespace hsls::nvm {

void seal(CheckpointRecord& rec) { rec.checksum = checksum(&rec, offsetof(CheckpointRecord, checksum)); }

bool intact(const CheckpointRecord& rec) {
  return rec.version != 0 && rec.checksum == checksum(&rec, offsetof(CheckpointRecord, checksum));
}

Journal::Journal(uint8_t* file, const Layout& layout, Persist& persist)
    : file_(file), layout_(layout), persist_(persist) {}

CheckpointRecord* Journal::slot(uint64_t version) const {
  return reinterpret_cast<CheckpointRecord*>(file_ + layout_.journal) + (version % kJournalRecords);
}

void Journal::append(CheckpointRecord rec) {
  seal(rec);
  CheckpointRecord* dst = slot(rec.version);
  persist_.write(dst, &rec, sizeof rec);
  persist_.persist(dst, sizeof rec);
  persist_.point(CrashPoint::journal_written);
}

std::optional<CheckpointRecord> Journal::find(uint64_t version) const {
  CheckpointRecord rec = *slot(version);
  if (!intact(rec) || rec.version != version) return std::nullopt;
  return rec;
}

uint64_t Journal::committed() const {
  return __atomic_load_n(reinterpret_cast<const uint64_t*>(file_ + layout_.commit), __ATOMIC_ACQUIRE);
}

void Journal::commit(uint64_t version) {
  auto* word = reinterpret_cast<uint64_t*>(file_ + layout_.commit);
  persist_.store64(word, version);
  persist_.persist(word, sizeof *word);
  persist_.point(CrashPoint::committed);
}

}  // namespace hsls::nvm
