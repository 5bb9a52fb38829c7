// The deterministic machine's input log (--record-input / --replay-input):
// everything that came from outside (serial input, a power failure from the
// monitor) with the point of the schedule it was applied at: which power-on
// of the process, the block count and the guest time. A later run with the
// same image, config and seed applies each entry at the same point, so an
// interactive session replays exactly. One entry per line:
//   POWER_ON BLOCK GUEST_NS serial HEX_BYTES
//   POWER_ON BLOCK GUEST_NS powerfail restart|halt
#pragma once
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "vmm/core/fd.h"

namespace hsls {

class InputLog {
 public:
  struct Entry {
    unsigned power_on = 0;
    uint64_t block = 0, guest_ns = 0;
    std::string kind;  // "serial" or "powerfail"
    std::string data;  // serial: the bytes; powerfail: "restart" or "halt"
  };

  // Opens `path` for appending entries (creating it).
  explicit InputLog(const std::string& path);
  void append(const Entry& e);

  // Every entry of a log; a malformed line is one Error naming it.
  static std::vector<Entry> read(const std::string& path);

 private:
  std::mutex mu_;
  Fd fd_;
};

}  // namespace hsls
