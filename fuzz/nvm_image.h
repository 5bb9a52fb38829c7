// NVM file images for the fuzz targets that open one (fuzz_nvm,
// fuzz_recover): a file as a real run leaves it, made by the real Store and
// Journal, held in memory, mutated there, and written to a memfd that the
// code under test opens by path (/proc/self/fd/N) like any NVM file.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "nvm/layout.h"

namespace hsls::fuzz {

// A memfd, and the path under which Store opens it.
class MemFile {
 public:
  MemFile();
  ~MemFile();
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  const std::string& path() const { return path_; }
  // Makes the file `image` (only its non-zero pages are written), cut to
  // `size` bytes if that is smaller.
  void write(const std::vector<uint8_t>& image, uint64_t size = UINT64_MAX);
  // The file's bytes now, into `out` (reusing its memory).
  void read(std::vector<uint8_t>& out) const;

 private:
  int fd_ = -1;
  std::string path_;
};

// A valid saved machine state of checkpoint `g` with `vcpus` vCPUs (in
// their power-on states) and `devices` as the devices' variable-size state.
std::vector<uint8_t> valid_state(unsigned vcpus, uint64_t g, std::span<const uint8_t> devices = {});

// The NVM file of a machine with `pages` pages of RAM and `vcpus` vCPUs, with
// checkpoint `g` committed (0: freshly formatted, nothing committed) whose
// saved state is `state`. RAM and backup pages carry recognisable content;
// tags name checkpoint g (slot g%2), g-1 (the other slot) and an uncommitted
// g+1 (the other slot), so that recovery has something to restore and clear.
std::vector<uint8_t> make_image(uint64_t pages, unsigned vcpus, uint64_t g, std::span<const uint8_t> state);

// Recomputes the superblock's checksum.
void reseal_superblock(std::vector<uint8_t>& image);
// Recomputes the checksum of the journal record in the slot of `version`
// (first its state checksum, if `state_too` and its state area is in the file).
void reseal_record(std::vector<uint8_t>& image, const nvm::Layout& l, uint64_t version, bool state_too);

// No log output (the code under test logs every open).
void silence_logs();

}  // namespace hsls::fuzz
