// The guest's object-tree descriptor: one 4 KiB page at guest-physical
// DESC_PHYS (0x7000), written by the guest kernel, read by the VMM (monitor
// `info guest`). Plain structs: compiles freestanding and in hosted C++20.
// Layout and protocol: docs/guest-descriptor.md.
//
// Reading protocol (seqlock): read `seq`; if odd, retry; copy the page; read
// `seq` again; if it changed, retry. The per-CPU `ticks`/`current_tid` fields
// are single aligned 64-bit stores outside the seqlock (they may be one tick
// newer than the rest).
#pragma once
#include <stdint.h>

namespace hsls_desc {

constexpr uint64_t DESC_PHYS = 0x7000;
constexpr char DESC_MAGIC[8] = {'H', 'S', 'L', 'S', 'D', 'E', 'S', 'C'};
constexpr uint32_t DESC_VERSION = 1;
constexpr uint32_t DESC_MAX_CPUS = 8;
constexpr uint32_t DESC_MAX_PROCS = 40;

// Object kinds (index into Descriptor::counts).
enum ObjKind : uint32_t {
  OBJ_CAPGROUP = 0,
  OBJ_THREAD = 1,
  OBJ_VMSPACE = 2,
  OBJ_PMO = 3,
  OBJ_CONNECTION = 4,
  OBJ_NOTIFICATION = 5,
  OBJ_IRQNOTIFICATION = 6,
  OBJ_KINDS = 7,
};

// Process states (ProcSummary::state).
enum ProcState : uint32_t {
  PROC_FREE = 0,      // slot unused
  PROC_RUNNING = 1,   // has live threads
  PROC_EXITED = 2,    // exited (exit_code valid); the CapGroup is kept while its parent holds a capability
  PROC_KILLED = 3,    // killed by a fault (exit_code = 128 + vector)
};

struct CpuSummary {
  uint64_t ticks;        // LAPIC timer interrupts taken
  uint32_t current_tid;  // thread running (0: idle)
  uint32_t online;       // 1 if the CPU is up
};
static_assert(sizeof(CpuSummary) == 16);

struct ProcSummary {
  uint32_t pid;              // 1 = init (the root CapGroup)
  uint32_t state;            // ProcState
  int32_t exit_code;
  uint32_t threads;          // live threads
  uint32_t mapped_pages;     // pages covered by the VMSpace's regions
  uint32_t committed_pages;  // pages present in its page tables
  uint32_t caps;             // capabilities in its table
  uint32_t parent_pid;       // 0 for the root
  char name[16];             // NUL-terminated program name
  uint64_t capgroup_kaddr;   // kernel virtual address of the CapGroup object
  uint64_t capgroup_paddr;   // its guest-physical address
};
static_assert(sizeof(ProcSummary) == 64);

struct Descriptor {
  char magic[8];                   // "HSLSDESC"
  uint32_t version;                // DESC_VERSION
  uint32_t size;                   // sizeof(Descriptor)
  volatile uint64_t seq;           // seqlock: odd while the kernel updates
  uint64_t root_kaddr;             // root CapGroup (init), kernel virtual address (0 before init exists)
  uint64_t root_paddr;             // ... guest-physical address
  uint64_t phys_base;              // direct map: kernel virtual = phys_base + guest-physical
  uint64_t tsc_hz;                 // measured TSC frequency
  uint32_t counts[OBJ_KINDS];      // live objects of each kind
  uint32_t ncpus;                  // CPUs online
  uint64_t pages_free;             // free physical pages (4 KiB)
  uint64_t pages_total;            // physical pages the allocator manages
  uint64_t kernel_zeroed_pages;    // pages the kernel had to zero itself (should stay 0)
  uint32_t nprocs;                 // entries used in procs[] (including exited ones)
  uint32_t reserved;
  CpuSummary cpus[DESC_MAX_CPUS];
  ProcSummary procs[DESC_MAX_PROCS];
};
static_assert(sizeof(Descriptor) <= 4096);
static_assert(sizeof(Descriptor) == 120 + 8 * 16 + DESC_MAX_PROCS * 64);

}  // namespace hsls_desc
