#include "nvm/region.h"

#include <fcntl.h>
#include <libpmem.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "vmm/core/error.h"
#include "vmm/core/log.h"

namespace hsls::nvm {

Region::Region(const std::string& path, uint64_t size, Mode mode) : path_(path), size_(size) {
  const std::string what = "NVM file " + path;
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    created_ = fd >= 0;
  }
  if (fd < 0) throw Error(errno_text(what + " cannot be opened or created"));
  auto give_up = [&](const std::string& why) {
    if (created_) ::unlink(path.c_str());
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
  if (mode == Mode::discard && ::ftruncate(fd, 0) != 0) throw give_up(errno_text("cannot be cleared"));
  if (created_ || mode == Mode::discard) {
    if (::ftruncate(fd, off_t(size)) != 0) throw give_up(errno_text("cannot be sized to " + std::to_string(size) + " bytes"));
  } else if (uint64_t(st.st_size) < size) {
    throw give_up("is too small (" + std::to_string(st.st_size) + " bytes, need " + std::to_string(size) +
                  "); pass --fresh to recreate it");
  }
  size_t mapped = 0;
  int is_pmem = 0;
  void* base = pmem_map_file(path.c_str(), 0, 0, 0, &mapped, &is_pmem);
  if (!base) throw give_up(std::string("cannot be mapped: ") + pmem_errormsg());
  if (mapped < size) {
    pmem_unmap(base, mapped);
    throw give_up("mapped smaller than expected");
  }
  base_ = static_cast<uint8_t*>(base);
  size_ = mapped;
  is_pmem_ = is_pmem != 0;
  lock_fd_ = fd;
  log::get("nvm")->info("mapped {} ({} MiB{}{})", path, mapped >> 20, is_pmem_ ? ", pmem" : "",
                        created_ ? ", new" : "");
}

Region::~Region() {
  if (base_) pmem_unmap(base_, size_);
  if (created_ && !keep_) ::unlink(path_.c_str());
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

}  // namespace hsls::nvm
