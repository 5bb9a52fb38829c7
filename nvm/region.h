// The NVM region: one file mapped through libpmem, locked so that only one
// running vmm uses it. Guest memory lives inside it; later layers (layout,
// journal, backups) carve up the rest.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace hsls::nvm {

class Region {
 public:
  // How to treat the file's current content.
  enum class Mode {
    keep,     // reuse an existing file of at least `size` bytes (create if absent)
    discard,  // reuse or create, and zero all of it
  };

  // Opens (or creates) and maps `path` with `size` bytes. Throws Error with
  // one line if it cannot be created, is too small, or is locked by another
  // vmm. A file this call created is removed again if a later step fails.
  Region(const std::string& path, uint64_t size, Mode mode);
  ~Region();
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

  uint8_t* base() const { return base_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // True if libpmem says the mapping is real persistent memory.
  bool is_pmem() const { return is_pmem_; }
  // True if this open created the file (a brand-new machine).
  bool created() const { return created_; }
  // The machine came up: keep a file this open created. Until then the
  // destructor removes it, so a refused start leaves nothing behind.
  void keep() { keep_ = true; }

 private:
  std::string path_;
  uint64_t size_ = 0;
  uint8_t* base_ = nullptr;
  int lock_fd_ = -1;
  bool is_pmem_ = false;
  bool created_ = false;
  bool keep_ = false;
};

}  // namespace hsls::nvm
