// Recovery after a power failure, by the version rule: with committed
// version G, every page with a backup (in either slot) that carries tag G
// gets that backup back; every other page keeps its runtime content. Then
// the saved volatile state of checkpoint G is read and checked, and tags a
// failed, uncommitted checkpoint G+1 left behind are cleared (its number is
// reused).
// Restoring is idempotent, so a failure during recovery is recovered from
// the same way.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "nvm/journal.h"
#include "nvm/store.h"

namespace hsls::ckpt {

struct Recovered {
  uint64_t version = 0;
  nvm::CheckpointRecord record{};
  uint64_t pages_restored = 0;
  std::vector<uint8_t> state;  // the saved machine state (header, vCPUs, VM, devices)
  uint64_t state_digest = 0;
};

// Restores guest RAM to checkpoint G and returns its state; nullopt if the
// file holds no committed checkpoint. Throws Error if the committed
// checkpoint's record or state is missing or corrupt, or was taken with a
// different number of vCPUs.
std::optional<Recovered> recover(nvm::Store& store, unsigned vcpus);

// The pages the version rule restores for version G (for tests and tools).
std::vector<uint64_t> pages_to_restore(const nvm::Store& store, uint64_t version);

// Testing the tests: from now on every recovery in this process "forgets"
// to restore the pages it should, a bug the digest oracle must catch
// (`vmm crashtest --inject-bug`, tests/integration/test_crashtest.py).
void inject_skipped_restore(bool on);

}  // namespace hsls::ckpt
