// The checkpointer's pages: which ones the policy copies in the pause and
// which it leaves writable, the write protection of the rest, precopies,
// and the fault thread that serves copy-on-write (checkpointer.h).
#include "ckpt/checkpointer.h"

#include <pthread.h>
#include <sys/prctl.h>

#include <algorithm>
#include <iterator>

#include "ckpt/backup_slots.h"
#include "vmm/core/log.h"

namespace hsls::ckpt {
namespace {

constexpr uint64_t kPage = 4096;

// Calls fn(first, count) for each run of consecutive page numbers in a sorted list.
template <typename Fn>
void for_each_run(const std::vector<uint64_t>& sorted, Fn fn) {
  size_t i = 0;
  while (i < sorted.size()) {
    size_t j = i + 1;
    while (j < sorted.size() && sorted[j] == sorted[j - 1] + 1) ++j;
    fn(sorted[i], uint64_t(j - i));
    i = j;
  }
}


}  // namespace

// Whether this pause's policy asks which pages are hot: hybrid copies
// them, and hot leases (where the dirty log can untrack pages) take them.
bool Checkpointer::wants_hotness(const Settings& s) const {
  return s.policy == Policy::hybrid || (s.policy != Policy::cow && s.tuning.hot_lease && dirty_log_->can_untrack());
}

// The pages the policy copies during the pause (sorted).
void Checkpointer::choose_pages(const std::vector<uint64_t>& dirty, std::vector<uint64_t>& out) const {
  out.clear();
  switch (pause_settings_.policy) {
    case Policy::stop_and_copy:
    case Policy::precopy:
      out = dirty;
      break;
    case Policy::cow:
      break;
    case Policy::hybrid:
      out = hotness_.hot_pages();
      break;
  }
}

// Where each chosen page's backup for `version` goes (to_tag_, by backup
// number) and which of them the pause copies (to_copy_): a page
// precopied and not written since is only tagged; so is a hot page whose
// newer backup already holds its content (hybrid); the rest are copied
// into backup_slot().
void Checkpointer::plan_backups(uint64_t version) {
  to_tag_.clear();
  to_copy_.clear();
  retagged_ = 0;
  const bool precopied = !precopied_.empty();
  const bool retag = !precopied && pause_settings_.policy == Policy::hybrid;
  for (uint64_t page : chosen_) {
    std::optional<unsigned> held = retag ? current_backup(page, version) : std::nullopt;
    uint64_t backup = nvm::Layout::backup_number(page, held ? *held : backup_slot(page, version));
    to_tag_.push_back(backup);
    if (held) {
      ++retagged_;
      continue;
    }
    if (precopied && std::binary_search(precopied_.begin(), precopied_.end(), page) &&
        !std::binary_search(late_.begin(), late_.end(), page))
      continue;  // precopied (into the same slot) and not written since
    to_copy_.push_back(backup);
  }
  if (precopied) precopy_pacer_.checkpoint_after_precopy(precopied_.size(), chosen_.size() - to_copy_.size());
}

// The slot that receives `page`'s backup for checkpoint `version`
// (backup_slots::for_version: never the one holding the committed
// checkpoint's backup).
unsigned Checkpointer::backup_slot(uint64_t page, uint64_t version) const {
  return backup_slots::for_version(*store_.tag(page, 0), *store_.tag(page, 1), version, committed_.load());
}

// A slot whose backup already holds `page`'s content for `version`: the
// newer of its two, if the guest has not written the page since that
// backup's checkpoint. A backup is copied at its tag's checkpoint or at the
// page's first write after it; a precopy may refill a slot without a tag,
// but never the newer one (the page is writable, so the newer one is the
// committed checkpoint's, which backup_slot avoids). The history answers
// only for the epochs it recorded, and a recovery or a policy switch starts
// it afresh.
std::optional<unsigned> Checkpointer::current_backup(uint64_t page, uint64_t version) const {
  auto held = backup_slots::newer(*store_.tag(page, 0), *store_.tag(page, 1), version);
  if (!held.tag || !hotness_.unwritten_for(page, version - held.tag)) return std::nullopt;
  return held.slot;
}

// Plans the write-protection that leaves exactly `keep` (sorted) writable:
// the ranges to protect (in protect_ranges_) and the kept pages to
// unprotect afterwards (in unprotect_); counts the pages it protects.
void Checkpointer::plan_protection(const std::vector<uint64_t>& keep, CheckpointStats& st) {
  protect_ranges_.clear();
  unprotect_.clear();
  if (protect_all_) {
    protect_ranges_.emplace_back(0, store_.layout().pages);
    unprotect_ = keep;
    st.pages_protected = store_.layout().pages - keep.size();
    return;
  }
  to_protect_.clear();
  page_sorter_.sort_unique(writable_list_);
  std::set_difference(writable_list_.begin(), writable_list_.end(), keep.begin(), keep.end(),
                      std::back_inserter(to_protect_));
  for (uint64_t page : keep)
    if (!writable_[page]) unprotect_.push_back(page);
  // Fewer, wider ranges: each call costs far more (KVM invalidation) than
  // re-protecting a few pages that are protected already; never a kept page.
  constexpr uint64_t kMaxGap = 32;
  size_t i = 0;
  while (i < to_protect_.size()) {
    uint64_t first = to_protect_[i], last = first;
    size_t j = i + 1;
    while (j < to_protect_.size() && to_protect_[j] - last <= kMaxGap) {
      auto k = std::upper_bound(keep.begin(), keep.end(), last);
      if (k != keep.end() && *k < to_protect_[j]) break;
      last = to_protect_[j++];
    }
    protect_ranges_.emplace_back(first, last - first + 1);
    i = j;
  }
  st.pages_protected = to_protect_.size();
}

// After the planned ranges are protected and the kept pages' backups
// tagged: unprotects the kept pages that were protected and records the
// new writable set.
void Checkpointer::finish_protection(const std::vector<uint64_t>& keep) {
  for_each_run(unprotect_, [&](uint64_t first, uint64_t n) { protection_->unprotect(first, n); });
  protect_all_ = false;
  for (uint64_t page : writable_list_) writable_[page] = 0;
  writable_list_ = keep;
  for (uint64_t page : keep) writable_[page] = 1;
}

// Mid-epoch (precopy policy): fetch the dirty log so far and copy the pages
// the last epoch wrote, which will likely be written again, to the backup
// slot of the coming checkpoint; the pause then re-copies only those
// written after this fetch. Their tags are written by the checkpoint.
void Checkpointer::precopy() {
  std::lock_guard lock(mu_);
  if (stw_active() || store_.persist().power_lost()) return;
  if (!precopy_pacer_.take_precopy()) return;  // the last ones did not pay
  std::vector<uint64_t> now;
  if (!dirty_log_->collect_while_running(now)) {
    ++precopies_declined_;
    return;  // the pause harvests and copies it all, as without a precopy
  }
  early_dirty_.insert(early_dirty_.end(), now.begin(), now.end());
  std::sort(early_dirty_.begin(), early_dirty_.end());
  early_dirty_.erase(std::unique(early_dirty_.begin(), early_dirty_.end()), early_dirty_.end());
  precopied_ = writable_list_;  // pages kept writable at the last checkpoint: last epoch's dirty set
  std::sort(precopied_.begin(), precopied_.end());
  const uint64_t version = committed_.load() + 1;
  auto& p = store_.persist();
  for (uint64_t page : precopied_)
    p.copy(store_.backup(page, backup_slot(page, version)), store_.ram() + page * kPage, kPage, false);
  p.count_bytes(precopied_.size() * kPage);
  p.fence();
  ++precopies_;
}

// The fault thread: serves userfaultfd's write faults (the write guard's
// writers back pages up themselves) and starts precopies on time.
void Checkpointer::fault_loop() {
  pthread_setname_np(pthread_self(), "ckpt-cow");
  prctl(PR_SET_TIMERSLACK, 1UL);  // a precopy at 0.5 ms intervals is due every 0.5 ms: not the default 50 us late
  try {
    for (;;) {
      // A switch to precopy (`set ckpt-policy`) is seen within 100 ms even
      // where no fault ever wakes this thread (the write guard). Not on a
      // deterministic machine: its precopies come from the VM's alarm.
      int64_t timeout_ns = deterministic_ ? -1 : 100'000'000;
      if (settings().policy == Policy::precopy && !deterministic_) {
        uint64_t due = precopy_due_ns_.load(), t = now_ns();
        if (due && t >= due) {
          precopy_due_ns_ = 0;
          precopy();
          t = now_ns();
        }
        due = precopy_due_ns_.load();
        // The next precopy is due half an epoch after the coming checkpoint
        // begins (lead() sets it then): sleep until then, not a wake-up per
        // checkpoint. A checkpoint that is late is looked for again soon.
        uint64_t half = uint64_t(settings().interval_ms * 1e6) / 2;
        uint64_t wake = due ? due : next_due_ns_.load() + half;
        timeout_ns = wake > t ? int64_t(wake - t) : int64_t(half / 4);
      }
      auto fault = protection_->next_fault(stop_fd_.get(), timeout_ns);
      if (!fault) break;
      if (*fault == PageProtection::kTimedOut) continue;
      copy_on_write(*fault);
    }
  } catch (const std::exception& e) {
    log::get("ckpt")->error("copy-on-write failed: {}", e.what());
    machine_.fail(std::string("copy-on-write failed: ") + e.what());
  }
}

// Copy-on-write: back up a page (and neighbours) at its first write after
// a checkpoint, tag it with the committed version, then let the write go.
// A power failure (at a crash point here, or elsewhere meanwhile) leaves
// the page protected: a writer blocked by the kernel stays blocked, one
// asking the write guard is told not to write.
bool Checkpointer::copy_on_write(uint64_t page) {
  auto& p = store_.persist();
  uint64_t t0 = now_ns();
  std::lock_guard lock(mu_);
  if (p.power_lost()) return false;
  if (writable_[page]) {
    protection_->wake(page);
    return true;
  }
  const uint64_t pages = store_.layout().pages;
  uint64_t version = committed_.load();
  uint64_t end = std::min(pages, page + 1 + settings().tuning.neighbours);
  uint64_t run = 0;  // pages from `page` on that become writable
  copied_.clear();
  try {
    for (uint64_t q = page; q < end && !writable_[q]; ++q, ++run) {
      // Protected since a recovery, a page may hold the committed
      // checkpoint's backup already (its content is unchanged since): no
      // copy, and never a second backup of one version (a later checkpoint
      // could overwrite the one recovery prefers).
      uint64_t tag0 = *store_.tag(q, 0), tag1 = *store_.tag(q, 1);
      if (backup_slots::holding(tag0, tag1, version)) continue;
      unsigned slot = backup_slots::for_version(tag0, tag1, version, version);
      p.copy(store_.backup(q, slot), store_.ram() + q * kPage, kPage, false);
      copied_.push_back(nvm::Layout::backup_number(q, slot));
    }
    p.count_bytes(copied_.size() * kPage);
    p.fence();
    p.point(nvm::CrashPoint::cow_copied);
    bool durable = true;
    for (uint64_t backup : copied_) {
      uint64_t* tag = store_.tag_by_number(backup);
      durable = p.store64(tag, version) && durable;
      p.flush(tag, 8);
    }
    p.fence();
    p.point(nvm::CrashPoint::cow_tagged);
    // Only a page whose backup tag really reached NVM may be written.
    if (!durable) return false;
  } catch (const nvm::PowerFailure&) {
    return false;  // the machine is being torn down
  }
  for (uint64_t q = page; q < page + run; ++q) {
    writable_[q] = 1;
    writable_list_.push_back(q);
  }
  protection_->unprotect(page, run);
  uint64_t dt = now_ns() - t0;
  ++epoch_faults_;
  epoch_fault_ns_ += dt;
  epoch_fault_max_ns_ = std::max(epoch_fault_max_ns_, dt);
  return true;
}

void Checkpointer::dirty_log_full() { dirty_log_->drain_full(); }

void Checkpointer::release_faults() {
  try {
    protection_->wake_all();
  } catch (const std::exception& e) {
    log::get("ckpt")->warn("power failure: cannot release write faults: {}", e.what());
  }
}

}  // namespace hsls::ckpt
