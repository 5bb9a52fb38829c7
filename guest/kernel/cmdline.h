// Kernel command line: space-separated keys; the last value of a key wins.
//   cpus=N              number of CPUs to bring up (1..MAX_CPUS; absent: 1)
//   selftest            run the self-tests and power off
//   crash=triplefault   triple-fault after the banner (test hook); any other value cancels it
//   init=SPEC           programs init starts (see README.md: PROG[:ARGS][;PROG[:ARGS]]...)
//   init.poweroff=WHEN  after:N (seconds, code 0) | when-done (code 0 if all exited 0, else 1) | never
//   virtio_mmio.device=SIZE@ADDR:IRQ[:ID]  a virtio-mmio register window (Linux syntax; repeatable):
//                       SIZE with an optional K/M suffix (4K, 512, 0x200), ADDR hex (0x...) or decimal,
//                       IRQ the IOAPIC input; :ID is ignored. Up to MAX_VIRTIO entries; duplicates ignored.
#pragma once
#include "kernel/types.h"

// A virtio-mmio device named on the command line.
struct VirtioMmio {
  Paddr base = 0;  // register window (need not be page aligned)
  u32 size = 0;    // bytes
  u32 irq = 0;     // IOAPIC input
};

struct Options {
  static constexpr unsigned MAX_VIRTIO = 4;

  unsigned cpus = 1;
  bool selftest = false;
  bool crash_triplefault = false;
  bool cpus_invalid = false;  // a cpus= value was out of range or not a number
  const char* init = "";      // init= value (points into the line; not NUL-terminated)
  unsigned init_len = 0;
  const char* poweroff = "";  // init.poweroff= value
  unsigned poweroff_len = 0;
  VirtioMmio virtio[MAX_VIRTIO];
  unsigned nvirtio = 0;
  bool virtio_invalid = false;  // an entry did not parse or did not fit
};

class Cmdline {
 public:
  // Parses a command line into options (pure: no side effects).
  static Options parse(const char* line);

  // Parses the boot command line into the global options.
  static void init(const char* line) { options_ = parse(line); }

  // The boot options.
  static const Options& options() { return options_; }

 private:
  static Options options_;
};
