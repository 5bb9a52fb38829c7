#include "vmm/core/error.h"

#include <cerrno>
#include <cstring>

namespace hsls {

std::string errno_text(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

}  // namespace hsls
