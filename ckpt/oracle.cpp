#include "ckpt/oracle.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstring>

#include <fmt/format.h>

#include "vmm/core/error.h"

namespace hsls::ckpt {

uint64_t page_digest(const uint8_t* page) { return XXH3_64bits(page, 4096); }
uint64_t bytes_digest(const void* data, uint64_t len) { return XXH3_64bits(data, len); }

DigestOracle::DigestOracle(const std::string& nvm_path, const uint8_t* ram, uint64_t pages)
    : ram_(ram), pages_(pages), current_(pages, 0) {
  std::string path = nvm_path + ".digests";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) throw Error(errno_text("verify: cannot open " + path));
  fd_ = Fd(fd);
  map_size_ = 4096 + 2 * pages * 8;
  if (::ftruncate(fd, off_t(map_size_)) != 0) throw Error(errno_text("verify: cannot size " + path));
  void* m = ::mmap(nullptr, map_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) throw Error(errno_text("verify: cannot map " + path));
  map_ = static_cast<uint8_t*>(m);
}

DigestOracle::~DigestOracle() {
  if (map_) ::munmap(map_, map_size_);
}

DigestOracle::Header* DigestOracle::header(unsigned slot) const {
  return reinterpret_cast<Header*>(map_ + slot * 64);
}

uint64_t* DigestOracle::digests(unsigned slot) const {
  return reinterpret_cast<uint64_t*>(map_ + 4096 + slot * pages_ * 8);
}

void DigestOracle::update(const std::vector<uint64_t>& pages) {
  if (!all_hashed_) {
    for (uint64_t p = 0; p < pages_; ++p) current_[p] = page_digest(ram_ + p * 4096);
    all_hashed_ = true;
    return;
  }
  for (uint64_t p : pages)
    if (p < pages_) current_[p] = page_digest(ram_ + p * 4096);
}

uint64_t DigestOracle::memory_digest() const { return bytes_digest(current_.data(), current_.size() * 8); }

void DigestOracle::record(uint64_t version, uint64_t state_digest) {
  unsigned slot = unsigned(version % 2);
  std::memcpy(digests(slot), current_.data(), pages_ * 8);
  Header h{version, state_digest, 0};
  h.checksum = bytes_digest(&h, 16) ^ bytes_digest(digests(slot), pages_ * 8);
  std::memcpy(header(slot), &h, sizeof h);  // the header last: a torn record never matches
}

std::string DigestOracle::verify(uint64_t version, uint64_t state_digest) {
  unsigned slot = unsigned(version % 2);
  Header h = *header(slot);
  if (h.version != version)
    return fmt::format("no digests recorded for checkpoint {} (the side file has {})", version, h.version);
  if (h.checksum != (bytes_digest(&h, 16) ^ bytes_digest(digests(slot), pages_ * 8)))
    return fmt::format("the recorded digests of checkpoint {} are torn", version);
  std::string report;
  uint64_t bad = 0;
  const uint64_t* want = digests(slot);
  for (uint64_t p = 0; p < pages_; ++p) {
    if (page_digest(ram_ + p * 4096) == want[p]) continue;
    if (++bad <= 16) report += fmt::format(" {:#x}", p * 4096);
  }
  std::string out;
  if (bad) out = fmt::format("{} page(s) differ from checkpoint {}, at RAM offsets{}{}", bad, version, report, bad > 16 ? " ..." : "");
  if (h.state_digest != state_digest)
    out += (out.empty() ? "" : "; ") + fmt::format("saved volatile state differs from checkpoint {}", version);
  if (out.empty()) std::memcpy(current_.data(), want, pages_ * 8), all_hashed_ = true;
  return out;
}

}  // namespace hsls::ckpt
