#include "vmm/net/tap.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "vmm/core/error.h"

namespace hsls::net {

Tap::Tap(const std::string& name) : name_(name) {
  if (name.empty() || name.size() >= IFNAMSIZ) throw Error("net.tap: '" + name + "' is not a valid interface name");
  int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw Error(errno_text("net.tap: cannot open /dev/net/tun"));
  fd_ = Fd(fd);
  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (::ioctl(fd, TUNSETIFF, &ifr) != 0)
    throw Error(errno_text("net.tap: cannot attach to tap '" + name + "' (is it a tap device in this network namespace?)"));
}

size_t Tap::read(uint8_t* buf, size_t cap) {
  for (;;) {
    ssize_t n = ::read(fd_.get(), buf, cap);
    if (n >= 0) return size_t(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    throw Error(errno_text("tap " + name_ + ": read"));
  }
}

bool Tap::write(const uint8_t* frame, size_t len) {
  for (;;) {
    ssize_t n = ::write(fd_.get(), frame, len);
    if (n == ssize_t(len)) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

}  // namespace hsls::net
