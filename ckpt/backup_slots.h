// Which of a page's two backup slots holds what (docs/nvm-layout.md): the
// version rule's three questions, on the page's two tags alone, so that
// the checkpointer and recovery answer them the same way.
#pragma once
#include <cstdint>
#include <optional>

namespace hsls::ckpt::backup_slots {

// The slot whose tag is `g`, if one is: g's parity first (a sound file
// never has both). Recovery restores a page from it.
inline std::optional<unsigned> holding(uint64_t tag0, uint64_t tag1, uint64_t g) {
  const unsigned first = unsigned(g % 2);
  if ((first == 0 ? tag0 : tag1) == g) return first;
  if ((first == 0 ? tag1 : tag0) == g) return 1 - first;
  return std::nullopt;
}

// The slot that receives the page's backup for checkpoint `version` while
// `committed` is the last committed one: version's parity, unless that slot
// holds the committed checkpoint's backup, which a power failure before
// `version` commits still needs. (Copy-on-write backs up the committed
// checkpoint itself, version == committed: a protected page has no backup
// of it yet.)
inline unsigned for_version(uint64_t tag0, uint64_t tag1, uint64_t version, uint64_t committed) {
  unsigned slot = unsigned(version % 2);
  if (version > committed && (slot == 0 ? tag0 : tag1) == committed) slot ^= 1;
  return slot;
}

struct Newer {
  unsigned slot = 0;
  uint64_t tag = 0;  // 0: the page has no backup below `version`
};

// The page's newer backup below `version` (tags at or above it are left by
// a checkpoint that never committed).
inline Newer newer(uint64_t tag0, uint64_t tag1, uint64_t version) {
  if (tag0 >= version) tag0 = 0;
  if (tag1 >= version) tag1 = 0;
  return tag1 > tag0 ? Newer{1, tag1} : Newer{0, tag0};
}

}  // namespace hsls::ckpt::backup_slots
