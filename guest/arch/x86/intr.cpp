#include "arch/x86/intr.h"

#include "arch/x86/cpu.h"
#include "arch/x86/lapic.h"
#include "arch/x86/memory.h"
#include "kernel/cmdline.h"
#include "kernel/console.h"
#include "kernel/percpu.h"
#include "kernel/power.h"
#include "kernel/smp.h"
#include "abi/syscall.h"
#include "kernel/descriptor.h"
#include "kernel/irq_notification.h"
#include "kernel/object.h"
#include "kernel/thread.h"
#include "kernel/vmspace.h"

// Exception table entry: a faulting instruction and where to resume instead.
struct ExtableEntry {
  u64 insn;
  u64 fixup;
};

extern "C" const ExtableEntry __extable_start[], __extable_end[];  // linker.ld

namespace {

const char* const exception_names[32] = {
    "#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow", "#BR bound range",
    "#UD invalid opcode", "#NM device not available", "#DF double fault", "coprocessor overrun",
    "#TS invalid TSS", "#NP segment not present", "#SS stack fault", "#GP general protection",
    "#PF page fault", "reserved", "#MF x87 error", "#AC alignment check", "#MC machine check",
    "#XM SIMD error", "#VE virtualization", "#CP control protection", "reserved", "reserved",
    "reserved", "reserved", "reserved", "reserved", "#HV hypervisor injection", "#VC VMM communication",
    "#SX security", "reserved"};

// True if `rip` has an exception table entry.
bool has_fixup(u64 rip) {
  for (const ExtableEntry* e = __extable_start; e < __extable_end; e++)
    if (e->insn == rip) return true;
  return false;
}

// Resumes at the fixup if the faulting instruction has an exception table entry.
bool fixup(Frame* f) {
  for (const ExtableEntry* e = __extable_start; e < __extable_end; e++) {
    if (e->insn == f->rip) {
      f->rip = e->fixup;
      return true;
    }
  }
  return false;
}

// Prints the exception report and stops this CPU (ending the run in selftest mode).
[[noreturn]] void die(const Frame* f) {
  unsigned v = unsigned(f->vector);
  Console::panic_print(
      "exception: vector=%u (%s) error=0x%lx rip=0x%lx cr2=0x%lx cpu=%u\n"
      "  rsp=0x%lx cs=0x%lx rflags=0x%lx rax=0x%lx rbx=0x%lx rcx=0x%lx rdx=0x%lx\n"
      "  rsi=0x%lx rdi=0x%lx rbp=0x%lx\n",
      v, exception_names[v & 31], f->error, f->rip, x86::read_cr2(), Cpu::current().id, f->rsp, f->cs,
      f->rflags, f->rax, f->rbx, f->rcx, f->rdx, f->rsi, f->rdi, f->rbp);
  if (Cmdline::options().selftest) {
    Console::panic_print("selftest: aborted by an exception\n");
    Power::off(1);
  }
  Console::panic_print("cpu %u halted\n", Cpu::current().id);
  x86::halt_forever();
}

}  // namespace

extern "C" void intr_dispatch(Frame* f) {
  unsigned v = unsigned(f->vector) & 0xff;
  if (v < 32) {
    // A kernel access to user memory (copy_user) may touch a page not yet
    // committed: resolve it like a user fault (the BKL is held).
    Thread* t = Cpu::current().thread;
    if (v == 14 && t && has_fixup(f->rip) && x86::read_cr2() < sys::USER_LIMIT &&
        t->vms->fault(x86::read_cr2(), f->error & 2))
      return;
    if (fixup(f)) return;
    die(f);
  }
  if (v >= VEC_IRQ_BASE && v < VEC_IRQ_BASE + IrqNotification::MAX_PINS) {
    Lapic::eoi();
    Bkl::lock();
    IrqNotification::dispatch(v - VEC_IRQ_BASE);
    Bkl::unlock();
    return;
  }
  switch (v) {
    case VEC_TIMER:
      Cpu::current().ticks = Cpu::current().ticks + 1;
      *Cpu::current().desc_ticks = Cpu::current().ticks;
      Lapic::eoi();
      return;
    case VEC_CALL:
      Lapic::eoi();
      Smp::handle_call();
      return;
    case VEC_RESCHED:
      Lapic::eoi();
      if (Cpu::current().flush_pending) Cpu::current().flush_tlb();
      return;
    case VEC_SPURIOUS:
      return;  // no EOI for spurious interrupts
    default:
      if (v >= VEC_PIC_BASE && v < VEC_PIC_BASE + 16) return;  // masked legacy PIC, spurious
      Console::print("interrupt: unexpected vector %u on cpu %u\n", v, Cpu::current().id);
      Lapic::eoi();
      return;
  }
}
