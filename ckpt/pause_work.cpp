#include "ckpt/pause_work.h"

#include <sys/mman.h>

#include <algorithm>
#include <limits>
#include <new>

#include "vmm/core/error.h"
#include "vmm/core/log.h"

namespace hsls::ckpt {
namespace {

constexpr uint64_t kPage = 4096;
constexpr size_t kCopyChunk = 8;  // pages per claim: few enough claims, small enough to balance
constexpr size_t kClosed = std::numeric_limits<size_t>::max() / 2;

}  // namespace

struct PauseWork::Shared {
  std::atomic<uint64_t> gen{0};
  std::atomic<size_t> next_range{kClosed}, next_page{kClosed};
  std::atomic<size_t> pages_done{0}, ranges_done{0};
  std::atomic<bool> failed{false};
  size_t range_count = 0, page_count = 0;
  uint64_t backups[];  // by number (nvm::Layout::backup_number); one per guest page at most
};

PauseWork::PauseWork(nvm::Store& store, PageProtection& protection) : store_(store), protection_(protection) {
  shared_bytes_ = sizeof(Shared) + store.layout().pages * sizeof(uint64_t);
  void* p = ::mmap(nullptr, shared_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw Error(errno_text("mmap of the pause's shared work list"));
  s_ = new (p) Shared();
}

PauseWork::~PauseWork() {
  s_->~Shared();
  ::munmap(s_, shared_bytes_);
}

// Items are claimed by bumping a cursor; a closed cursor (while the next
// pause's work is being laid out) makes every claim fail, so a late helper
// never pairs one pause's index with another's lists.
void PauseWork::publish(uint64_t gen, const std::vector<Range>& protect, const std::vector<uint64_t>& backups) {
  s_->next_range.store(kClosed);
  s_->next_page.store(kClosed);
  ranges_ = protect.data();
  s_->range_count = protect.size();
  s_->page_count = std::min<size_t>(backups.size(), store_.layout().pages);
  std::copy_n(backups.begin(), s_->page_count, s_->backups);
  s_->pages_done.store(0);
  s_->ranges_done.store(0);
  s_->failed.store(false);
  s_->next_range.store(0, std::memory_order_release);
  s_->next_page.store(0, std::memory_order_release);
  s_->gen.store(gen, std::memory_order_release);
}

uint64_t PauseWork::published_gen() const { return s_->gen.load(std::memory_order_acquire); }

bool PauseWork::help(uint64_t gen, Role role) {
  if (!published(gen)) return false;
  bool did = false;
  switch (role) {
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

// Copies listed pages [begin, end) to their backups, uncounted and unfenced.
void PauseWork::copy_listed(size_t begin, size_t end) {
  auto& p = store_.persist();
  for (size_t k = begin; k < end; ++k) {
    uint64_t page = nvm::Layout::page_of_backup(s_->backups[k]);
    p.copy(store_.backup_by_number(s_->backups[k]), store_.ram() + page * kPage, kPage, false);
  }
}

// Copies chunks of pages until none is left; fences its own non-temporal
// stores before counting them done (they are ordered per CPU only).
bool PauseWork::take_copies() {
  auto& p = store_.persist();
  size_t did = 0;
  for (;;) {
    size_t i = s_->next_page.fetch_add(kCopyChunk, std::memory_order_acq_rel);
    if (i >= s_->page_count) break;
    size_t end = std::min(s_->page_count, i + kCopyChunk);
    copy_listed(i, end);
    did += end - i;
  }
  if (!did) return false;
  p.count_bytes(did * kPage);
  p.fence();
  s_->pages_done.fetch_add(did, std::memory_order_acq_rel);
  return true;
}

// Write-protects ranges one at a time until none is left.
bool PauseWork::take_protects() {
  size_t did = 0;
  for (;;) {
    size_t i = s_->next_range.fetch_add(1, std::memory_order_acq_rel);
    if (i >= s_->range_count) break;
    try {
      protection_.protect(ranges_[i].first, ranges_[i].second);
    } catch (const std::exception& e) {
      log::get("ckpt")->error("{}", e.what());
      s_->failed.store(true);
    }
    ++did;
  }
  if (!did) return false;
  s_->ranges_done.fetch_add(did, std::memory_order_acq_rel);
  return true;
}

void PauseWork::copy(const std::function<bool()>& helper_alive) {
  take_copies();
  // A helper dead in the middle of a chunk would leave it unfinished: after
  // a while with nothing counted, ask, and if so copy the list again.
  unsigned spins = 0;
  size_t seen = 0;
  while (s_->pages_done.load(std::memory_order_acquire) < s_->page_count) {
    __builtin_ia32_pause();
    if (!helper_alive || ++spins < 20000) continue;
    spins = 0;
    size_t done = s_->pages_done.load();
    if (done == seen && !helper_alive()) {
      log::get("ckpt")->warn("the pause copier died during a checkpoint; copying its pages here");
      copy_all_again();
      return;
    }
    seen = done;
  }
}

// Copies every listed page (whoever had it) and counts them all done.
void PauseWork::copy_all_again() {
  auto& p = store_.persist();
  copy_listed(0, s_->page_count);
  p.count_bytes(s_->page_count * kPage);
  p.fence();
  s_->pages_done.store(s_->page_count, std::memory_order_release);
}

void PauseWork::protect() {
  take_protects();
  wait_protects();
}

void PauseWork::wait_protects() const {
  while (s_->ranges_done.load(std::memory_order_acquire) < s_->range_count) __builtin_ia32_pause();
}

void PauseWork::finish() {
  drain();
  if (s_->failed.load()) throw Error("write-protecting pages for copy-on-write failed");
}

void PauseWork::drain() noexcept {
  // Copies still claimed by a helper are its to finish; past them nothing is taken.
  take_copies();
  take_protects();
  while (s_->pages_done.load(std::memory_order_acquire) < s_->page_count) __builtin_ia32_pause();
  wait_protects();
  s_->gen.store(0, std::memory_order_release);
}

}  // namespace hsls::ckpt
