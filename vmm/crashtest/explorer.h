// The crash explorer (`vmm crashtest`, issue 16): on a deterministic
// machine, power fails again and again at chosen points, each followed by
// a recovery that must pass the digest oracle (--verify) and the guest's
// own check (the ledger's `verify`), all in one process.
//
// Exploration runs in segments. A segment boots a fresh machine with one
// combination of copy policy, vCPU count and persistence domain (by the
// segment's number), then chains states: a state is one power failure
// (at a crash point and its n-th arrival, at a block count, and sometimes
// once more inside the recovery itself), the recovery, and the run-on
// until the ledger answers. Every choice comes from (seed, segment, state),
// and the machine is deterministic, so the replay line printed with a
// failure (the segment and the state's number) reproduces it exactly.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "vmm/core/config.h"

namespace hsls::crashtest {

struct Options {
  Config base;                 // the machine (validated); the explorer makes it deterministic
  std::string config_path;     // for the replay line
  uint64_t seed = 1;
  uint64_t max_states = 0;     // 0: no limit
  double max_seconds = 0;      // 0: no limit
  unsigned states_per_segment = 40;
  std::optional<unsigned> only_combo;        // explore one combination (0-15)
  std::optional<uint64_t> replay_segment;    // replay: this segment ...
  std::optional<uint64_t> replay_state;      // ... up to this state, then stop
  unsigned jobs = 1;                         // worker processes
  bool inject_bug = false;                   // testing the explorer: recoveries restore nothing (ckpt::inject_skipped_restore)
};

// One combination of what the explorer varies between segments.
struct Combo {
  std::string policy;
  unsigned vcpus;
  bool adr;
  std::string name() const;
};
constexpr unsigned kCombos = 16;
Combo combo(unsigned i);

// Runs the exploration; prints a line per failure and a summary. Returns
// the process exit code (0: no failure, 1: failures, 2: could not run).
int explore(const Options& opt);

}  // namespace hsls::crashtest
