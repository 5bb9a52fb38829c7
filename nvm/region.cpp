#include "nvm/region.h"

#include <fcntl.h>
#include <libpmem.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "vmm/core/error.h"
#include "vmm/core/log.h"

namespace hsls::nvm {
namespace {

// A name next to `target` for the new file of a fresh start, until it is
// renamed over `target`.
std::string fresh_name(const std::string& target) {
  static std::atomic<unsigned> seq{0};
  return target + ".fresh-" + std::to_string(::getpid()) + "-" + std::to_string(seq++);
}

// The mapping a Region left behind for the next one (reuse_mappings).
struct WarmMapping {
  bool on = false;
  uint8_t* base = nullptr;
  uint64_t size = 0;
  dev_t dev = 0;
  ino_t ino = 0;
  bool is_pmem = false;
  void drop() {
    if (base) pmem_unmap(base, size);
    base = nullptr;
  }
};
WarmMapping g_warm;

}  // namespace

void Region::reuse_mappings(bool on) {
  g_warm.on = on;
  if (!on) g_warm.drop();
}

Region::Region(const std::string& path, uint64_t size, Mode mode) : path_(path), size_(size), map_path_(path) {
  const std::string what = "NVM file " + path;
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    created_ = fd >= 0;
  }
  if (fd < 0) throw Error(errno_text(what + " cannot be opened or created"));
  int new_fd = -1;   // discard mode on an existing file: the file that replaces it at keep()
  std::string temp;  // ... when it has a name until then
  auto give_up = [&](const std::string& why) {
    if (created_) ::unlink(path.c_str());
    if (!temp.empty()) ::unlink(temp.c_str());
    if (new_fd >= 0) ::close(new_fd);
    ::close(fd);
    return Error(what + ": " + why);
  };
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) throw give_up("is in use by another running vmm (locked)");
    throw give_up(errno_text("cannot be locked"));
  }
  struct stat st{};
  if (::fstat(fd, &st) != 0) throw give_up(errno_text("cannot be inspected"));
  if (!S_ISREG(st.st_mode)) throw give_up("is not a regular file");
  if (mode == Mode::discard && !created_) {
    // Starting over must not touch the file before the start has passed
    // every check (keep()): build the new machine in a new file next to it.
    char* real = ::realpath(path.c_str(), nullptr);
    if (!real) throw give_up(errno_text("cannot be resolved"));
    target_ = real;
    std::free(real);
    const mode_t perm = st.st_mode & 0777;
    const std::string dir = std::filesystem::path(target_).parent_path().string();
    new_fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, perm);
    if (new_fd >= 0) {
      anonymous_ = true;  // vanishes by itself if this process dies first
      map_path_ = "/proc/self/fd/" + std::to_string(new_fd);
    } else {
      temp = fresh_name(target_);
      new_fd = ::open(temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, perm);
      if (new_fd < 0) {
        temp.clear();
        throw give_up(errno_text("cannot start over (no new file can be made in " + dir + ")"));
      }
      map_path_ = temp;
    }
    if (::fchmod(new_fd, perm) != 0) throw give_up(errno_text("cannot start over (mode of the new file)"));
    if (::flock(new_fd, LOCK_EX | LOCK_NB) != 0) throw give_up(errno_text("cannot start over (locking the new file)"));
    if (::ftruncate(new_fd, off_t(size)) != 0)
      throw give_up(errno_text("cannot start over (sizing a new file to " + std::to_string(size) + " bytes)"));
  } else if (created_) {
    if (::ftruncate(fd, off_t(size)) != 0) throw give_up(errno_text("cannot be sized to " + std::to_string(size) + " bytes"));
  } else if (uint64_t(st.st_size) < size) {
    throw give_up("is too small (" + std::to_string(st.st_size) + " bytes, need " + std::to_string(size) +
                  "); pass --fresh to recreate it");
  }
  if (g_warm.base && new_fd < 0 && !created_ && g_warm.dev == st.st_dev && g_warm.ino == st.st_ino &&
      g_warm.size == uint64_t(st.st_size) && g_warm.size >= size) {
    // The same file, mapped by the machine before: take its mapping over
    // (a power failure left it read-only).
    if (::mprotect(g_warm.base, g_warm.size, PROT_READ | PROT_WRITE) != 0) throw give_up(errno_text("cannot be remapped"));
    base_ = g_warm.base;
    size_ = g_warm.size;
    is_pmem_ = g_warm.is_pmem;
    took_over_ = true;
    g_warm.base = nullptr;
    lock_fd_ = fd;
    return;
  }
  g_warm.drop();
  size_t mapped = 0;
  int is_pmem = 0;
  void* base = pmem_map_file(map_path_.c_str(), 0, 0, 0, &mapped, &is_pmem);
  if (!base) throw give_up(std::string("cannot be mapped: ") + pmem_errormsg());
  if (mapped < size) {
    pmem_unmap(base, mapped);
    throw give_up("mapped smaller than expected");
  }
  base_ = static_cast<uint8_t*>(base);
  size_ = mapped;
  is_pmem_ = is_pmem != 0;
  if (new_fd >= 0) {
    lock_fd_ = new_fd;
    old_fd_ = fd;
  } else {
    lock_fd_ = fd;
  }
  log::get("nvm")->info("mapped {} ({} MiB{}{})", path, mapped >> 20, is_pmem_ ? ", pmem" : "",
                        created_ ? ", new" : new_fd >= 0 ? ", starting over: replaces the file once the machine is up" : "");
}

void Region::keep() {
  if (keep_) return;
  if (old_fd_ >= 0) {
    std::string named = map_path_;
    if (anonymous_) {
      named = fresh_name(target_);
      if (::linkat(AT_FDCWD, map_path_.c_str(), AT_FDCWD, named.c_str(), AT_SYMLINK_FOLLOW) != 0)
        throw Error(errno_text("NVM file " + path_ + ": cannot name the new file"));
      anonymous_ = false;
      map_path_ = named;  // from here on the destructor removes it unless renamed
    }
    if (::rename(named.c_str(), target_.c_str()) != 0) throw Error(errno_text("NVM file " + path_ + ": cannot be replaced"));
    map_path_ = target_;
    ::close(old_fd_);  // the old file goes, and its lock with it; lock_fd_ locks the new one
    old_fd_ = -1;
  }
  keep_ = true;
}

Region::~Region() {
  struct stat st{};
  if (base_ && g_warm.on && keep_ && reusable_ && old_fd_ < 0 && ::fstat(lock_fd_, &st) == 0) {
    g_warm.drop();
    g_warm = WarmMapping{true, base_, size_, st.st_dev, st.st_ino, is_pmem_};
  } else if (base_) {
    pmem_unmap(base_, size_);
  }
  if (created_ && !keep_) ::unlink(path_.c_str());
  if (old_fd_ >= 0) {  // a fresh start that never came up: the old file stays as it was
    if (!anonymous_) ::unlink(map_path_.c_str());
    ::close(old_fd_);
  }
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

}  // namespace hsls::nvm
