// Kernel entry points: bsp_main (from boot.S) and ap_main (from the trampoline).
#include "arch/x86/cpu.h"
#include "arch/x86/idt.h"
#include "arch/x86/ioapic.h"
#include "arch/x86/lapic.h"
#include "arch/x86/memory.h"
#include "arch/x86/pic.h"
#include "arch/x86/serial.h"
#include "kernel/boot_info.h"
#include "kernel/clock.h"
#include "kernel/cmdline.h"
#include "kernel/console.h"
#include "kernel/page_alloc.h"
#include "kernel/paging.h"
#include "kernel/percpu.h"
#include "kernel/power.h"
#include "kernel/selftest.h"
#include "kernel/smp.h"

extern "C" char __kernel_end[];  // linker.ld

// Boots the kernel on CPU 0: descriptor tables, console, boot info, memory,
// interrupt controllers and timer, the other CPUs; then the banner, and the
// self-tests, the crash hook or idling.
extern "C" [[noreturn]] void bsp_main(u32 start_info) {
  Idt::init();
  cpus[0].init_local(0);
  Serial::init();

  bool have_info = BootInfo::parse(start_info);
  Cmdline::init(BootInfo::cmdline());
  if (!have_info) kprintf("boot: no valid hvm_start_info at 0x%x; no memory map, empty command line\n", start_info);
  if (Cmdline::options().cpus_invalid)
    kprintf("cmdline: invalid cpus= value ignored (allowed: 1-%u)\n", unsigned(MAX_CPUS));

  PageTable::init_kernel();
  PageAlloc::init(image_to_phys(__kernel_end));

  Pic::disable();
  Ioapic::init();
  Lapic::init(true);
  Clock::calibrate();
  if (!Clock::measured()) kprintf("clock: PIT did not count; assuming a 1 GHz LAPIC timer and TSC\n");
  Lapic::start_timer(Clock::tick_count());
  cpus[0].online = 1;
  asm volatile("sti");

  Smp::boot_aps(Cmdline::options().cpus);

  kprintf("hypersls guest: cpus=%u memory=%lu MiB\n", Smp::online(), BootInfo::ram_bytes() >> 20);
  if (Cmdline::options().crash_triplefault) Power::triple_fault();
  if (Cmdline::options().selftest) Selftest::run();
  kprintf("hypersls guest: idle\n");
  idle();
}

// Sets up an AP (id = its APIC ID): descriptor tables, LAPIC and timer;
// reports in and idles.
extern "C" [[noreturn]] void ap_main(unsigned id) {
  cpus[id].init_local(id);
  Lapic::init(false);
  Lapic::start_timer(Clock::tick_count());
  Smp::ap_arrived();
  idle();
}
