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
    discard,  // start over with `size` zero bytes; an existing file is replaced only at keep()
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
  // The mapped file's descriptor (open as long as the Region).
  int fd() const { return lock_fd_; }
  // False if this Region took over a mapping kept from the last one
  // (reuse_mappings), whose pages are already mapped.
  bool newly_mapped() const { return !took_over_; }
  // True if this open created the file (a brand-new machine).
  bool created() const { return created_; }
  // The machine came up: keep a file this open created. Until then the
  // destructor removes it, so a refused start leaves nothing behind. In
  // discard mode an existing file is not touched before this: the mapping
  // is a new, unnamed file in the same folder (locked like the old one),
  // which keep() renames over it; without keep() it just goes away. Throws
  // Error if the file cannot be replaced.
  void keep();

  // The crash explorer rebuilds a machine on the same file after every power
  // failure. A new mapping costs a page fault per page at first touch (tens
  // of ms for 32 MiB on this host), so with this on the last mapping of a
  // kept file stays mapped when its Region goes, and the next Region of that
  // same file (same inode, kept content) takes it over: the same shared
  // mapping of the same file, so the same bytes. Off by default; turning it
  // off unmaps what is kept (do so before removing the file).
  static void reuse_mappings(bool on);
  // This mapping may not be reused: pages of it were replaced (a store
  // after a power failure lands in scratch memory instead of the file).
  void forbid_reuse() { reusable_ = false; }

 private:
  std::string path_;
  uint64_t size_ = 0;
  uint8_t* base_ = nullptr;
  int lock_fd_ = -1;      // the mapped file's (locked)
  bool took_over_ = false;  // the mapping was kept from the last Region of this file
  int old_fd_ = -1;       // discard mode: the existing file, locked and untouched until keep()
  std::string map_path_;  // what was mapped: path_, or the new file (/proc/self/fd/N or a temporary name)
  std::string target_;    // discard mode: the file keep() replaces (path_ with symlinks resolved)
  bool anonymous_ = false;  // the new file has no name yet (O_TMPFILE)
  bool is_pmem_ = false;
  bool created_ = false;
  bool keep_ = false;
  bool reusable_ = true;
};

}  // namespace hsls::nvm
