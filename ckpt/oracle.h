// The correctness oracle of --verify: at every commit it records a digest
// of every guest page and of the saved volatile state in a side file next
// to the NVM file (<nvm>.digests, double-buffered by version parity); after
// a recovery the restored memory and state must match the digests of the
// committed checkpoint exactly.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "vmm/core/fd.h"

namespace hsls::ckpt {

class DigestOracle {
 public:
  // Maps (creating if needed) the side file for `pages` pages of `ram`.
  DigestOracle(const std::string& nvm_path, const uint8_t* ram, uint64_t pages);
  ~DigestOracle();

  // Re-hashes the given pages (or, the first time, all pages).
  void update(const std::vector<uint64_t>& pages);
  // Makes the current digests those of checkpoint `version`.
  void record(uint64_t version, uint64_t state_digest);
  // One digest of every page's current digest (the whole memory).
  uint64_t memory_digest() const;
  // Checks RAM and a state digest against what was recorded for `version`.
  // Returns "" if they match, else a report naming mismatching pages.
  std::string verify(uint64_t version, uint64_t state_digest);

 private:
  struct Header {
    uint64_t version;
    uint64_t state_digest;
    uint64_t checksum;
  };
  Header* header(unsigned slot) const;
  uint64_t* digests(unsigned slot) const;

  const uint8_t* ram_;
  uint64_t pages_;
  std::vector<uint64_t> current_;
  bool all_hashed_ = false;
  Fd fd_;
  uint8_t* map_ = nullptr;
  uint64_t map_size_ = 0;
};

// Digest of one 4 KiB page / of any bytes.
uint64_t page_digest(const uint8_t* page);
uint64_t bytes_digest(const void* data, uint64_t len);

}  // namespace hsls::ckpt
