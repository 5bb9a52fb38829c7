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
#include "abi/syscall.h"
#include "kernel/cap_group.h"
#include "kernel/descriptor.h"
#include "kernel/irq_notification.h"
#include "kernel/loader.h"
#include "kernel/pmo.h"
#include "kernel/printf.h"
#include "kernel/sched.h"

extern "C" char __kernel_end[];  // linker.ld

namespace {

// The virtio-mmio devices of the command line as capabilities for init: a
// device PMO over each register window's page(s) and an IrqNotification for
// its IOAPIC pin (sys::SLOT_PASSED + 2i, + 2i + 1). Returns the count of entries.
unsigned virtio_caps(PassCap* pass) {
  const Options& o = Cmdline::options();
  if (o.virtio_invalid) kprintf("cmdline: a virtio_mmio.device= entry was malformed or one too many (ignored)\n");
  unsigned n = 0;
  for (unsigned i = 0; i < o.nvirtio; i++) {
    const VirtioMmio& d = o.virtio[i];
    Paddr first = d.base & ~Paddr(PAGE_SIZE - 1);
    u64 pages = (d.base + d.size - first + PAGE_SIZE - 1) / PAGE_SIZE;
    if (d.irq >= Ioapic::pins() || d.irq >= IrqNotification::MAX_PINS || d.irq == 4 || d.base < BOOT_MAP_END ||
        BootInfo::overlaps_ram(first, first + pages * PAGE_SIZE)) {
      kprintf("virtio: device at 0x%lx irq %u ignored (irq or address not usable)\n", d.base, d.irq);
      continue;
    }
    Pmo* regs = Pmo::create_phys(first, pages, false);
    IrqNotification* irq = regs ? IrqNotification::create(d.irq, 0, 0) : nullptr;
    if (!irq) {
      if (regs) Pmo::destroy(regs);
      kprintf("virtio: device at 0x%lx irq %u ignored (no memory or irq taken)\n", d.base, d.irq);
      continue;
    }
    regs->device = true;
    regs->window = u16(d.base - first);
    pass[n++] = PassCap{nullptr, regs, sys::R_READ | sys::R_WRITE | sys::R_MAP | sys::R_GRANT};
    pass[n++] = PassCap{nullptr, irq, sys::R_ALL};
  }
  return n;
}

// Starts init, the root CapGroup: with the command line's program list (or
// "selftest"), the COM1 IrqNotification in its SLOT_COM1 and the virtio-mmio
// devices from SLOT_PASSED on.
void start_init() {
  const Options& o = Cmdline::options();
  char args[BootInfo::CMDLINE_MAX + 32];
  unsigned n = 0;
  auto add = [&](const char* s, unsigned len) {
    for (unsigned i = 0; i < len && n + 1 < sizeof args; i++) args[n++] = s[i];
  };
  if (o.selftest) {
    add("selftest", 8);
  } else {
    add("run=", 4);
    add(o.init, o.init_len);
    add(" poweroff=", 10);
    add(o.poweroff, o.poweroff_len);
  }
  args[n] = 0;
  BklGuard bkl;
  PassCap pass[2 * Options::MAX_VIRTIO];
  unsigned npass = virtio_caps(pass);
  i64 err = 0;
  CapGroup* init = Loader::spawn("init", 4, args, n, nullptr, nullptr, 0, nullptr, &err, pass, npass);
  if (!init) {
    kprintf("kernel: cannot start init (error %ld)\n", err);
    return;
  }
  CapGroup::root = init;
  Descriptor::set_root(init);
  IrqNotification* com1 = IrqNotification::create(4, 0x3f8, 0x3ff);
  if (!com1 || init->install(com1, sys::R_ALL, sys::SLOT_COM1) < 0) kprintf("kernel: no COM1 IrqNotification for init\n");
}

}  // namespace

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
  Descriptor::init(PageAlloc::total_pages(), Clock::tsc_hz());
  Lapic::start_timer(Clock::tick_count());
  cpus[0].online = 1;
  asm volatile("sti");

  Smp::boot_aps(Cmdline::options().cpus);

  kprintf("hypersls guest: cpus=%u memory=%lu MiB\n", Smp::online(), BootInfo::ram_bytes() >> 20);
  if (Cmdline::options().crash_triplefault) Power::triple_fault();
  for (unsigned i = 0; i < MAX_CPUS; i++)
    if (cpus[i].online) Descriptor::cpu_online(i, Smp::online());
  if (Cmdline::options().selftest) Selftest::run_kernel();
  x86::cli();
  start_init();
  Sched::idle();
}

// Sets up an AP (id = its APIC ID): descriptor tables, LAPIC and timer;
// reports in and idles.
extern "C" [[noreturn]] void ap_main(unsigned id) {
  cpus[id].init_local(id);
  Clock::setup_cpu();
  Lapic::init(false);
  Lapic::start_timer(Clock::tick_count());
  Smp::ap_arrived();
  Sched::idle();
}
