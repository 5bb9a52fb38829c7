// System-call ABI shared by the kernel and user programs.
//
// Gate: `int3` from ring 3 (vector 3, a DPL-3 trap gate): it enters ring 0 on
// every x86 host, including PVM hosts where SYSCALL does not. Number in rax,
// arguments in rdi, rsi, rdx, r10, r8, r9; result in rax (negative = error).
// IPC calls also return message words in rsi, rdx, r10, r8 (see ipc_*).
// Every other register is preserved.
#pragma once
#include <stdint.h>

namespace sys {

enum Number : uint64_t {
  PUTS = 0,           // (buf, len): write to the console
  EXIT = 1,           // (code): end the whole process
  THREAD_EXIT = 2,    // (): end the calling thread (the process ends with its last thread, code 0)
  YIELD = 3,          // ()
  SLEEP = 4,          // (us): block for at least `us` microseconds (10 ms granularity)
  THREAD_CREATE = 5,  // (entry, stack_top, arg, cpu or -1) -> thread slot; entry(arg) in rdi
  CAP_COPY = 6,       // (slot, dest_group_slot or -1 for self, rights) -> new slot in dest (derived child)
  CAP_REVOKE = 7,     // (slot): delete every capability derived from it
  CAP_DELETE = 8,     // (slot)
  CAP_INFO = 9,       // (slot) -> kind << 32 | rights
  PMO_CREATE = 10,    // (pages, kind) -> pmo slot
  VM_MAP = 11,        // (pmo slot, va, prot) : map the whole PMO at va in the caller's VMSpace
  VM_UNMAP = 12,      // (va): remove the region that starts at va
  PMO_PADDR = 13,     // (pmo slot, page index) -> guest-physical address (commits the page); DMA/device PMOs only;
                      //   a virtio device PMO's page 0 answers the register window's address (window offset included)
  NOTIF_CREATE = 14,  // () -> notification slot
  SIGNAL = 15,        // (slot)
  WAIT = 16,          // (slot, timeout_us or 0 = forever) -> 0, or -ETIMEDOUT; also IrqNotifications
  CONN_CREATE = 17,   // () -> connection slot
  IPC_CALL = 18,      // (slot, m0, m1, m2, m3) -> status; reply words in rsi, rdx, r10, r8
  IPC_RECV = 19,      // (slot) -> 0; message in rsi, rdx, r10, r8 (blocks until a call)
  IPC_REPLY = 20,     // (slot, r0, r1, r2, r3): answer the call received last
  SPAWN = 21,         // (name, args, ctl_conn_slot or -1, exit_notif_slot or -1, cpu or -1, pass) -> capgroup slot
                      //   pass: byte k (k = 0..7) names a caller slot (needs R_GRANT) copied, same rights, into the
                      //   child's slot SLOT_PASSED + k before it runs; the list ends at the first 0xff byte (-1: none)
  PROC_STATUS = 22,   // (capgroup slot) -> state << 32 | (u32)exit_code
  IO_PERMIT = 23,     // (irqnotification slot): let this thread use the device's I/O ports (-EPERM if it has none)
  POWEROFF = 24,      // (code): root CapGroup only
  INFO = 25,          // (what): INFO_* below
  TEST_DONE = 26,     // (passed, failed): selftest mode, root only: print the verdict and power off
  PMO_PAGES = 27,     // (pmo slot) -> number of pages
};

enum Info : uint64_t {
  INFO_TSC_HZ = 0, INFO_CPUS = 1, INFO_CPU = 2, INFO_PID = 3, INFO_TICKS = 4, INFO_FREE_PAGES = 5,
  INFO_RAM_END = 6,  // end (exclusive) of the highest RAM range of the memory map
};

// Errors (returned negated).
enum Error : int64_t {
  EOK = 0, EINVAL = 1, ENOCAP = 2, EPERM = 3, ENOMEM = 4, ENOENT = 5, EBUSY = 6, ETIMEDOUT = 7, EDEAD = 8,
  EFULL = 9, EFAULT = 10, ENOSYS = 11,
};

// Capability rights.
enum Rights : uint32_t {
  R_READ = 1,    // wait / receive / status / read mapping
  R_WRITE = 2,   // signal / call / write mapping / control
  R_MAP = 4,     // PMO: may be mapped
  R_GRANT = 8,   // may be copied to another CapGroup or derived
  R_ALL = 15,
};

// PMO kinds.
enum PmoKind : uint64_t { PMO_ANON = 0, PMO_DMA = 1 };

// Mapping protections.
enum Prot : uint64_t { PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4 };

// Capability slots every process starts with.
enum Slot : int64_t {
  SLOT_SELF = 0,     // own CapGroup (read)
  SLOT_VMSPACE = 1,  // own VMSpace
  SLOT_THREAD = 2,   // main thread
  SLOT_CONTROL = 3,  // control Connection (receive side), if the spawner gave one
  SLOT_COM1 = 4,     // init only: COM1 IrqNotification (IRQ 4, ports 0x3f8-0x3ff)
  SLOT_PASSED = 5,   // first of StartInfo::passed capabilities handed over at spawn (see SPAWN)
};

// Capabilities passed at spawn, by convention:
//  - init (from the kernel): for each virtio_mmio.device= entry i of the command line,
//    SLOT_PASSED + 2i = device PMO over the register window's page(s) (R_READ|R_WRITE|R_MAP|R_GRANT;
//    mapped uncached; PMO_PADDR(slot, 0) = the window's physical address, so the window
//    starts at (that & 0xfff) in the mapping) and SLOT_PASSED + 2i + 1 = its IrqNotification
//    (edge-triggered IOAPIC pin, no I/O ports; R_ALL).
//  - a device driver (from init): SLOT_DEV_REGS and SLOT_DEV_IRQ, the same pair for its device.
constexpr int64_t SLOT_DEV_REGS = SLOT_PASSED;
constexpr int64_t SLOT_DEV_IRQ = SLOT_PASSED + 1;
constexpr unsigned MAX_PASSED = 8;

// Handed to a program's entry point in rdi (lives at the top of its stack).
struct StartInfo {
  uint64_t tsc_hz;
  uint32_t ncpus;
  uint32_t pid;
  uint32_t argc;
  uint32_t passed;  // capabilities passed at spawn, in slots SLOT_PASSED ... SLOT_PASSED + passed - 1
  const char* argv[15];  // argv[0] = program name
};

// User address-space layout (lower half).
constexpr uint64_t USER_IMAGE_BASE = 0x400000;        // program ELF mapped read-only here
constexpr uint64_t USER_STACK_TOP = 0x7ffffff00000;   // main stack top
constexpr uint64_t USER_STACK_PAGES = 16;
constexpr uint64_t USER_LIMIT = 0x800000000000;

}  // namespace sys
