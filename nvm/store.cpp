#include "nvm/store.h"

#include <algorithm>

#include <chrono>

#include "vmm/core/error.h"
#include "vmm/core/log.h"

namespace hsls::nvm {

Store::Store(const std::string& path, uint64_t memory_bytes, uint32_t vcpus, bool fresh, bool adr)
    : layout_(compute_layout(memory_bytes)), persist_(adr) {
  region_ = std::make_unique<Region>(path, layout_.file_bytes, fresh ? Region::Mode::discard : Region::Mode::keep);
  journal_ = std::make_unique<Journal>(region_->base(), layout_, persist_);
  // A fresh mapping of a page-cache file: recovery restores through the file, not by faulting pages in.
  if (region_->newly_mapped() && !region_->is_pmem()) persist_.attach_file(region_->fd(), region_->base(), region_->size());
  if (fresh || region_->created()) {
    format(vcpus);
    return;
  }
  std::string why = check_superblock(superblock(), layout_);
  if (!why.empty()) throw Error("NVM file " + path + " " + why + "; refusing to touch it (pass --fresh to start over)");
  uint64_t committed = journal_->committed();
  if (committed > kMaxVersion)
    throw Error("NVM file " + path + " has committed version " + std::to_string(committed) +
                ", more than any real run reaches (allowed: at most 2^62): it is corrupt; refusing to touch it (pass --fresh to start over)");
}

// Writes a new, empty machine: areas zeroed (the file was just sized), then
// the superblock last, so a half-written format has no valid superblock.
void Store::format(uint32_t vcpus) {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  Superblock sb = make_superblock(layout_, vcpus, uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count()));
  persist_.write(region_->base(), &sb, sizeof sb);
  persist_.persist(region_->base(), sizeof sb);
  formatted_ = true;
  log::get("nvm")->info("formatted {}: {} MiB guest memory, {} MiB file", region_->path(), layout_.memory_bytes >> 20,
                        layout_.file_bytes >> 20);
}

void Store::clear_for_boot() {
  static const uint8_t zeros[1 << 16] = {};
  auto clear = [&](uint8_t* at, uint64_t bytes) {
    for (uint64_t off = 0; off < bytes; off += sizeof zeros)
      persist_.write(at + off, zeros, std::min<uint64_t>(sizeof zeros, bytes - off));
    persist_.persist(at, bytes);
  };
  clear(file() + layout_.tags, layout_.pages * 2 * 8);
  clear(ram(), layout_.memory_bytes);
}

}  // namespace hsls::nvm
