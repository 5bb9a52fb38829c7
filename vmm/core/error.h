// One-line errors: every refusal the user can see is an Error whose message
// names what is wrong; main() prints it as "vmm: error: <message>".
#pragma once
#include <stdexcept>
#include <string>

namespace hsls {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Builds "<what>: <strerror(errno)>" for a failed system call.
std::string errno_text(const std::string& what);

}  // namespace hsls
