// The backup-slot rule (ckpt/backup_slots.h): which slot recovery reads,
// which slot a checkpoint or a copy-on-write writes, which backup may be
// re-tagged; and one page's life under that rule, with power failures at
// every step of a checkpoint, a precopy and a copy-on-write, against the
// content each checkpoint saw.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "ckpt/backup_slots.h"

using namespace hsls::ckpt;

TEST_CASE("backup slots: recovery reads the slot tagged G, G's parity first") {
  CHECK(backup_slots::holding(6, 5, 6) == 0u);
  CHECK(backup_slots::holding(6, 5, 5) == 1u);
  CHECK(backup_slots::holding(5, 4, 5) == 0u);  // a re-tagged backup: G in the other slot
  CHECK(backup_slots::holding(4, 7, 7) == 1u);
  CHECK_FALSE(backup_slots::holding(4, 3, 5).has_value());
  CHECK_FALSE(backup_slots::holding(0, 0, 1).has_value());
  CHECK(backup_slots::holding(7, 7, 7) == 1u);  // never written so; the parity slot wins
  CHECK(backup_slots::holding(8, 8, 8) == 0u);
}

TEST_CASE("backup slots: a checkpoint's backup never overwrites the committed one's") {
  // Checkpoint 8, 7 committed: slot 0 (8's parity) unless slot 0 holds 7.
  CHECK(backup_slots::for_version(6, 7, 8, 7) == 0u);
  CHECK(backup_slots::for_version(7, 6, 8, 7) == 1u);
  CHECK(backup_slots::for_version(0, 0, 8, 7) == 0u);
  CHECK(backup_slots::for_version(5, 3, 9, 8) == 1u);
  CHECK(backup_slots::for_version(5, 8, 9, 8) == 0u);
  // Copy-on-write backs up the committed checkpoint itself: its parity.
  CHECK(backup_slots::for_version(3, 2, 7, 7) == 1u);
  CHECK(backup_slots::for_version(2, 3, 8, 8) == 0u);
  for (uint64_t committed = 1; committed < 12; ++committed)
    for (uint64_t a = 0; a <= committed; ++a)
      for (uint64_t b = 0; b <= committed; ++b) {
        if (a == committed && b == committed) continue;  // never so: at most one slot holds a version
        unsigned s = backup_slots::for_version(a, b, committed + 1, committed);
        CHECK((s == 0 ? a : b) != committed);
      }
}

TEST_CASE("backup slots: the newer backup below a version") {
  auto n = backup_slots::newer(4, 6, 7);
  CHECK(n.slot == 1);
  CHECK(n.tag == 6);
  n = backup_slots::newer(6, 4, 7);
  CHECK(n.slot == 0);
  CHECK(n.tag == 6);
  n = backup_slots::newer(5, 8, 7);  // 8: left by a checkpoint that never committed
  CHECK(n.slot == 0);
  CHECK(n.tag == 5);
  n = backup_slots::newer(0, 0, 3);
  CHECK(n.tag == 0);
  n = backup_slots::newer(7, 9, 7);
  CHECK(n.tag == 0);
}

namespace {

// One guest page on the NVM: runtime content, two backups and their tags,
// write-protected or not. Contents are numbers: each write makes a new one.
struct Page {
  uint64_t ram = 1;
  uint64_t backup[2] = {0, 0};
  uint64_t tag[2] = {0, 0};
  bool writable = true;  // nothing is protected before the first checkpoint
  uint64_t last_write = 0;  // the epoch of the last write (epoch V: after checkpoint V-1)
};

constexpr uint64_t kTorn = ~0ull;  // what a copy cut short by a power failure leaves

}  // namespace

TEST_CASE("backup slots: one page's life with power failures at every step recovers each committed content") {
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    std::mt19937_64 rng(seed);
    auto chance = [&](unsigned percent) { return rng() % 100 < percent; };
    Page p;
    uint64_t committed = 0, next_content = 2, failures = 0, retags = 0, copies = 0, precopies = 0;
    std::vector<uint64_t> content_at(1, 0);  // the page's content at each committed checkpoint
    // Power failure before the commit of `committed + 1`: recovery by the rule, then compare.
    auto power_failure = [&](uint64_t step) {
      ++failures;
      if (auto s = backup_slots::holding(p.tag[0], p.tag[1], committed)) p.ram = p.backup[*s];
      for (auto& t : p.tag)
        if (t > committed) t = 0;
      p.writable = !committed;  // a recovered machine starts with every page protected
      p.last_write = committed + 1;  // its history starts afresh: nothing counts as unwritten before now
      if (committed) REQUIRE_MESSAGE(p.ram == content_at[committed], "seed " << seed << " step " << step);
    };
    // The guest writes the page; a first write to a protected page is copied
    // on write (a page protected since a recovery may hold the committed
    // checkpoint's backup already). False: the power failed meanwhile.
    auto guest_write = [&](uint64_t step, uint64_t version) {
      if (!p.writable && !backup_slots::holding(p.tag[0], p.tag[1], committed)) {
        unsigned s = backup_slots::for_version(p.tag[0], p.tag[1], committed, committed);
        if (chance(5)) {  // the power fails during the copy
          p.backup[s] = kTorn;
          power_failure(step);
          return false;
        }
        p.backup[s] = p.ram;
        p.tag[s] = committed;
      }
      p.writable = true;
      p.ram = next_content++;
      p.last_write = version;
      return true;
    };
    for (uint64_t step = 0; step < 20000; ++step) {
      const uint64_t version = committed + 1;
      // The epoch: writes or not, and maybe a precopy of the writable page
      // into the coming checkpoint's slot (untagged until the pause).
      if (chance(40) && !guest_write(step, version)) continue;
      bool precopied = false;
      if (p.writable && committed && chance(25)) {
        unsigned s = backup_slots::for_version(p.tag[0], p.tag[1], version, committed);
        if (chance(5)) {  // the power fails during the precopy
          p.backup[s] = kTorn;
          power_failure(step);
          continue;
        }
        p.backup[s] = p.ram;
        precopied = true;
        ++precopies;
      }
      bool written_since_precopy = false;
      if (chance(30)) {
        if (!guest_write(step, version)) continue;
        written_since_precopy = true;
      }
      // The pause: kept writable (copied or re-tagged) or protected; the power may fail at any step.
      unsigned fail_at = chance(20) ? unsigned(rng() % 3) : 3;  // 0: during the copy, 1: before the tag, 2: before the commit
      bool failed = false;
      if (chance(70)) {
        // Precopied and not written since: only a tag. Else (no precopy this
        // epoch) a backup the guest has not written since is re-tagged.
        auto held = backup_slots::newer(p.tag[0], p.tag[1], version);
        bool current = !precopied && held.tag && p.last_write <= held.tag;
        unsigned s = current ? held.slot : backup_slots::for_version(p.tag[0], p.tag[1], version, committed);
        if (precopied && !written_since_precopy) {
          ++retags;
        } else if (!current) {
          p.backup[s] = fail_at == 0 ? kTorn : p.ram;
          ++copies;
        } else {
          ++retags;
        }
        failed = fail_at <= 1;
        if (!failed) {
          p.tag[s] = version;
          failed = fail_at == 2;
        }
        if (!failed) p.writable = true;
      } else {
        failed = fail_at != 3;
        if (!failed) p.writable = false;
      }
      CHECK_FALSE((p.tag[0] == p.tag[1] && p.tag[0] != 0));
      if (failed) {
        power_failure(step);
        continue;
      }
      committed = version;
      content_at.push_back(p.ram);
    }
    CHECK(failures > 1000);
    CHECK(retags > 1000);
    CHECK(copies > 1000);
    CHECK(precopies > 1000);
  }
}
