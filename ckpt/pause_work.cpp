#include "ckpt/pause_work.h"

#include <algorithm>
#include <limits>

#include "vmm/core/error.h"
#include "vmm/core/log.h"

namespace hsls::ckpt {
namespace {

constexpr uint64_t kPage = 4096;
constexpr size_t kCopyChunk = 8;  // pages per claim: few enough claims, small enough to balance
constexpr size_t kClosed = std::numeric_limits<size_t>::max() / 2;

}  // namespace

// Items are claimed by bumping a cursor; a closed cursor (while the next
// pause's work is being laid out) makes every claim fail, so a late helper
// never pairs one pause's index with another's lists.
void PauseWork::publish(uint64_t gen, const std::vector<Range>& protect, const std::vector<uint64_t>& copy,
                        unsigned slot) {
  next_range_.store(kClosed);
  next_page_.store(kClosed);
  ranges_ = protect.data();
  range_count_ = protect.size();
  pages_ = copy.data();
  page_count_ = copy.size();
  slot_ = slot;
  pages_done_.store(0);
  ranges_done_.store(0);
  failed_.store(false);
  next_range_.store(0, std::memory_order_release);
  next_page_.store(0, std::memory_order_release);
  gen_.store(gen, std::memory_order_release);
}

bool PauseWork::help(uint64_t gen, Role role) {
  if (gen == 0 || gen_.load(std::memory_order_acquire) != gen) return false;
  bool did = false;
  switch (role) {
    case Role::leader:
      did = take_copies();
      did = take_protects() || did;
      break;
    case Role::vcpu:
      did = take_protects();
      did = take_copies() || did;
      break;
    case Role::spare:
      did = take_copies();
      break;
  }
  return did;
}

// Copies chunks of pages until none is left; fences its own non-temporal
// stores before counting them done (they are ordered per CPU only).
bool PauseWork::take_copies() {
  auto& p = store_.persist();
  size_t did = 0;
  for (;;) {
    size_t i = next_page_.fetch_add(kCopyChunk, std::memory_order_acq_rel);
    if (i >= page_count_) break;
    size_t end = std::min(page_count_, i + kCopyChunk);
    for (size_t k = i; k < end; ++k) p.copy(store_.backup(pages_[k], slot_), store_.ram() + pages_[k] * kPage, kPage);
    did += end - i;
  }
  if (!did) return false;
  p.fence();
  pages_done_.fetch_add(did, std::memory_order_acq_rel);
  return true;
}

// Write-protects ranges one at a time until none is left.
bool PauseWork::take_protects() {
  size_t did = 0;
  for (;;) {
    size_t i = next_range_.fetch_add(1, std::memory_order_acq_rel);
    if (i >= range_count_) break;
    try {
      wp_.protect(ranges_[i].first, ranges_[i].second);
    } catch (const std::exception& e) {
      log::get("ckpt")->error("{}", e.what());
      failed_.store(true);
    }
    ++did;
  }
  if (!did) return false;
  ranges_done_.fetch_add(did, std::memory_order_acq_rel);
  return true;
}

void PauseWork::copy() {
  take_copies();
  while (pages_done_.load(std::memory_order_acquire) < page_count_) __builtin_ia32_pause();
}

void PauseWork::protect() {
  drain();
  if (failed_.load()) throw Error("write-protecting pages for copy-on-write failed");
}

void PauseWork::drain() noexcept {
  take_copies();
  take_protects();
  while (pages_done_.load(std::memory_order_acquire) < page_count_ ||
         ranges_done_.load(std::memory_order_acquire) < range_count_)
    __builtin_ia32_pause();
  gen_.store(0, std::memory_order_release);
}

}  // namespace hsls::ckpt
