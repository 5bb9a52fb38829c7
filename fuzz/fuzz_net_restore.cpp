// The virtio-net device's saved state (VirtioNet::restore: NetState, the
// transport's registers and queues, then the held frames through
// HoldQueue::deserialize) on arbitrary bytes, as a checkpoint in the NVM
// file holds them. Refused with an Error, or accepted; an accepted state
// must save back to bytes that restore to themselves, and a device restored
// from them must run (one pass of its I/O loop over the restored rings).
#include <cstdio>
#include <cstdlib>
#include <span>

#include "fuzz/net_device.h"
#include "vmm/core/error.h"
#include "vmm/core/log.h"

using namespace hsls;

namespace {

[[noreturn]] void broken(const std::string& what) {
  std::fprintf(stderr, "fuzz_net_restore: %s\n", what.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool quiet = log::set_level("off");
  (void)quiet;
  fuzz::Guest guest(64 * 1024);
  auto cfg = fuzz::net_config(true, 256);
  auto net = fuzz::make_net(guest, cfg, 8);
  try {
    std::lock_guard lock(net->transport().mutex());
    net->restore(std::span<const uint8_t>(data, size));
  } catch (const Error&) {
    return 0;  // refused: fine
  }
  std::vector<uint8_t> saved, again;
  {
    std::lock_guard lock(net->transport().mutex());
    net->save(saved);
  }
  auto net2 = fuzz::make_net(guest, cfg, 8);
  try {
    std::lock_guard lock(net2->transport().mutex());
    net2->restore(saved);
    net2->save(again);
  } catch (const Error& e) {
    broken(std::string("a state saved right after a restore is refused: ") + e.what());
  }
  if (again != saved) broken("restore(save()) is not stable");
  fuzz::io_pass(*net);
  net->committed(8);
  fuzz::io_pass(*net);
  net->info();
  fuzz::tap_wire().tx.clear();
  return 0;
}
