#include "kernel/selftest.h"

#include <stdarg.h>

#include "arch/x86/intr.h"
#include "arch/x86/memory.h"
#include "kernel/boot_info.h"
#include "kernel/clock.h"
#include "kernel/cmdline.h"
#include "kernel/console.h"
#include "kernel/page_alloc.h"
#include "kernel/paging.h"
#include "kernel/percpu.h"
#include "kernel/power.h"
#include "kernel/printf.h"
#include "kernel/smp.h"
#include "kernel/spinlock.h"
#include "lib/string.h"
#include "abi/syscall.h"
#include "kernel/cap_group.h"
#include "kernel/descriptor.h"
#include "kernel/notification.h"
#include "kernel/object.h"
#include "kernel/pmo.h"
#include "kernel/sched.h"

extern "C" char __kernel_end[];  // linker.ld

namespace {

unsigned passed, failed;
bool waiting_for_user;
u64 user_deadline;

// Records one check; prints the reason if it failed.
void check(bool ok, const char* test, const char* why, ...) __attribute__((format(printf, 3, 4)));
void check(bool ok, const char* test, const char* why, ...) {
  if (ok) {
    passed++;
    return;
  }
  failed++;
  char reason[160];
  va_list ap;
  va_start(ap, why);
  vformat(reason, sizeof reason, why, ap);
  va_end(ap);
  kprintf("selftest: FAIL %s: %s\n", test, reason);
}

// Formats and compares with the expected text.
void expect_format(const char* want, int want_len, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
void expect_format(const char* want, int want_len, const char* fmt, ...) {
  char buf[64];
  va_list ap;
  va_start(ap, fmt);
  int n = vformat(buf, sizeof buf, fmt, ap);
  va_end(ap);
  check(n == want_len && strcmp(buf, want) == 0, "printf", "format \"%s\" gave \"%s\" (%d chars), want \"%s\" (%d)",
        fmt, buf, n, want, want_len);
}

// The formatter: conversions, widths, padding, truncation.
void test_printf() {
  expect_format("-42 17", 6, "%d %i", -42, 17);
  expect_format("4294967295", 10, "%u", 4294967295u);
  expect_format("18446744073709551615", 20, "%lu", ~0ul);
  expect_format("-9223372036854775808", 20, "%lld", -9223372036854775807ll - 1);
  expect_format("beef BEEF", 9, "%x %X", 0xbeefu, 0xbeefu);
  expect_format("00001234|  ab|cd  |", 19, "%08x|%4s|%-4s|", 0x1234u, "ab", "cd");
  expect_format("ffffffffffffffff", 16, "%lx", ~0ul);
  expect_format("0x1000 z 100%", 13, "%p %c %d%%", reinterpret_cast<void*>(0x1000), 'z', 100);
  char small[4];
  int n = format(small, sizeof small, "abcdef");
  check(n == 6 && strcmp(small, "abc") == 0, "printf", "truncation gave \"%s\" (%d), want \"abc\" (6)", small, n);
}

// Command-line parsing: keys, last value wins, bad values.
void test_cmdline() {
  Options o = Cmdline::parse("selftest cpus=2 crash=triplefault cpus=3 crash=none");
  check(o.cpus == 3 && o.selftest && !o.crash_triplefault && !o.cpus_invalid, "cmdline",
        "got cpus=%u selftest=%d crash=%d invalid=%d", o.cpus, o.selftest, o.crash_triplefault, o.cpus_invalid);
  o = Cmdline::parse("  crash=triplefault   cpus=99 ");
  check(o.cpus == 1 && !o.selftest && o.crash_triplefault && o.cpus_invalid, "cmdline",
        "got cpus=%u selftest=%d crash=%d invalid=%d", o.cpus, o.selftest, o.crash_triplefault, o.cpus_invalid);
  o = Cmdline::parse("");
  check(o.cpus == 1 && !o.selftest && !o.crash_triplefault, "cmdline", "empty line gave cpus=%u", o.cpus);
  // virtio-mmio devices: repeatable, duplicates dropped, malformed entries flagged.
  o = Cmdline::parse("virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=512@0xfeb00e00:12:3 "
                     "virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0000000");
  check(o.nvirtio == 2 && o.virtio[0].base == 0xd0000000 && o.virtio[0].size == 4096 && o.virtio[0].irq == 5 &&
            o.virtio[1].base == 0xfeb00e00 && o.virtio[1].size == 512 && o.virtio[1].irq == 12 && o.virtio_invalid,
        "cmdline", "virtio_mmio.device: n=%u base0=0x%lx size0=%u irq0=%u base1=0x%lx invalid=%d", o.nvirtio,
        o.virtio[0].base, o.virtio[0].size, o.virtio[0].irq, o.virtio[1].base, o.virtio_invalid);
}

// The page allocator: distinct aligned RAM pages, reuse after free, counts,
// and growth of the direct map past the boot map.
void test_page_alloc() {
  Paddr kernel_end = image_to_phys(__kernel_end);
  u64 before = PageAlloc::free_pages();
  Paddr a = PageAlloc::alloc(), b = PageAlloc::alloc();
  check(a && b && a != b && !(a & 0xfff) && !(b & 0xfff) && a >= kernel_end && b >= kernel_end, "page_alloc",
        "alloc gave 0x%lx and 0x%lx (kernel ends at 0x%lx)", a, b, kernel_end);
  if (!a || !b) return;
  *phys_to_virt<u64>(a) = 0x1111;
  *phys_to_virt<u64>(b) = 0x2222;
  check(*phys_to_virt<u64>(a) == 0x1111 && *phys_to_virt<u64>(b) == 0x2222, "page_alloc", "pages do not hold data");
  check(PageAlloc::free_pages() == before - 2, "page_alloc", "free count %lu after 2 allocs, want %lu",
        PageAlloc::free_pages(), before - 2);
  PageAlloc::free(b);
  Paddr c = PageAlloc::alloc();
  check(c == b, "page_alloc", "alloc after free gave 0x%lx, want the freed 0x%lx", c, b);
  PageAlloc::free(c);
  PageAlloc::free(a);
  check(PageAlloc::free_pages() == before, "page_alloc", "free count %lu after freeing, want %lu",
        PageAlloc::free_pages(), before);
  Paddr z = PageAlloc::alloc_zeroed();
  check(z && phys_to_virt<u64>(z)[0] == 0 && phys_to_virt<u64>(z)[511] == 0, "page_alloc", "alloc_zeroed page not zero");
  PageAlloc::free(z);

  // Allocate (chaining pages through their first word) until one lies past the boot map.
  Paddr ram_top = 0;
  for (unsigned i = 0; i < BootInfo::range_count(); i++)
    if (BootInfo::range(i).type == BootInfo::E820_RAM && BootInfo::range(i).end > ram_top) ram_top = BootInfo::range(i).end;
  if (ram_top < BOOT_MAP_END + 0x100000) return;  // too little RAM to reach past the boot map
  Paddr chain = 0, high = 0;
  unsigned count = 0;
  while (count < 4096) {
    Paddr p = PageAlloc::alloc();
    if (!p) break;
    *phys_to_virt<Paddr>(p) = chain;
    chain = p;
    count++;
    if (p >= BOOT_MAP_END) {
      high = p;
      break;
    }
  }
  check(high != 0, "page_alloc", "no page past the boot map (0x%x) after %u allocations", unsigned(BOOT_MAP_END), count);
  if (high) {
    u64* last = phys_to_virt<u64>(high) + 511;
    *last = 0x5a5a5a5a;
    check(*last == 0x5a5a5a5a && PageAlloc::mapped_end() > high, "page_alloc",
          "page 0x%lx past the boot map is not usable (direct map ends at 0x%lx)", high, PageAlloc::mapped_end());
  }
  while (chain) {
    Paddr next = *phys_to_virt<Paddr>(chain);
    PageAlloc::free(chain);
    chain = next;
  }
}

// Paging: map a fresh page at an unused kernel address, use it, unmap it, and
// check that an access then faults (recovered through the exception table).
void test_paging() {
  constexpr Vaddr VA = 0xffffc90000000000ull;
  PageTable& pt = PageTable::kernel();
  Paddr page = PageAlloc::alloc_zeroed();
  check(page != 0, "paging", "no page to map");
  if (!page) return;
  check(pt.map(VA, page, PageTable::W), "paging", "map of 0x%lx failed", VA);
  Paddr pa = 0;
  check(pt.lookup(VA + 8, pa) && pa == page + 8, "paging", "lookup gave 0x%lx, want 0x%lx", pa, page + 8);
  *reinterpret_cast<volatile u64*>(VA + 16) = 0xc0ffee;
  check(phys_to_virt<u64>(page)[2] == 0xc0ffee, "paging", "write through the mapping not seen in the direct map");
  check(!pt.map(VA, page, PageTable::W), "paging", "mapping an already mapped page succeeded");
  u64 value = 0;
  check(probe_read64(reinterpret_cast<void*>(VA + 16), &value) && value == 0xc0ffee, "paging",
        "probe of the mapped page failed");
  Paddr old = pt.unmap(VA);
  check(old == page, "paging", "unmap returned 0x%lx, want 0x%lx", old, page);
  check(!pt.lookup(VA, pa), "paging", "page still mapped after unmap");
  check(!probe_read64(reinterpret_cast<void*>(VA + 16), &value), "paging", "read after unmap did not fault");
  check(pt.unmap(VA) == 0, "paging", "second unmap found a mapping");
  PageAlloc::free(page);
}

// Spinlock: try_lock semantics, then all CPUs incrementing a shared counter.
struct SpinTest {
  Spinlock lock;
  volatile u64 counter = 0;
};
constexpr unsigned SPIN_ROUNDS = 100;

// Increments the shared counter SPIN_ROUNDS times under the lock, non-atomically.
void spin_rounds(void* arg) {
  auto* t = static_cast<SpinTest*>(arg);
  for (unsigned i = 0; i < SPIN_ROUNDS; i++) {
    t->lock.lock();
    u64 v = t->counter;
    x86::pause();
    t->counter = v + 1;
    t->lock.unlock();
  }
}

void test_spinlock() {
  static SpinTest t;
  check(t.lock.try_lock(), "spinlock", "try_lock of a free lock failed");
  check(!t.lock.try_lock() && t.lock.locked(), "spinlock", "try_lock of a held lock succeeded");
  t.lock.unlock();
  check(!t.lock.locked() && t.lock.try_lock(), "spinlock", "lock not free after unlock");
  t.lock.unlock();

  unsigned cpus_used = 1;
  for (unsigned id = 1; id < MAX_CPUS; id++)
    if (cpus[id].online && Smp::post(id, spin_rounds, &t)) cpus_used++;
  spin_rounds(&t);
  for (unsigned id = 1; id < MAX_CPUS; id++)
    if (cpus[id].online) check(Smp::wait(id, 10000000), "spinlock", "cpu %u did not finish its rounds", id);
  check(t.counter == u64(cpus_used) * SPIN_ROUNDS, "spinlock", "counter %lu after %u cpus x %u rounds", t.counter,
        cpus_used, SPIN_ROUNDS);
}

// Every CPU that was asked for came up.
void test_cpus_online() {
  unsigned want = Cmdline::options().cpus;
  check(Smp::online() == want, "smp", "%u of %u cpus came up", Smp::online(), want);
}

// Records which CPU ran it.
void report_cpu(void* slot) { *static_cast<volatile unsigned*>(slot) = Cpu::current().id; }

// Each AP runs code on request (call IPI) and reports its own id.
void test_ap_alive() {
  for (unsigned id = 1; id < MAX_CPUS; id++) {
    if (!cpus[id].online) continue;
    volatile unsigned who = ~0u;
    bool ok = Smp::call(id, report_cpu, const_cast<unsigned*>(&who), 1000000);
    check(ok && who == id, "smp", "cpu %u: call %s, ran on cpu %d", id, ok ? "completed" : "timed out", int(who));
  }
}

// Arguments for ticks_advanced: the tick counts seen at the start.
struct TickStart {
  u64 ticks[MAX_CPUS];
};

// True once every online CPU has taken at least two more timer ticks.
bool ticks_advanced(void* arg) {
  auto* s = static_cast<TickStart*>(arg);
  for (unsigned id = 0; id < MAX_CPUS; id++)
    if (cpus[id].online && cpus[id].ticks < s->ticks[id] + 2) return false;
  return true;
}

// Every online CPU takes LAPIC timer interrupts.
void test_timer_ticks() {
  TickStart start;
  for (unsigned id = 0; id < MAX_CPUS; id++) start.ticks[id] = cpus[id].ticks;
  bool ok = wait_until(ticks_advanced, &start, 2000000);
  for (unsigned id = 0; id < MAX_CPUS; id++) {
    if (!cpus[id].online) continue;
    check(ok || cpus[id].ticks >= start.ticks[id] + 2, "timer", "cpu %u took %lu ticks in 2 s (total %lu)", id,
          cpus[id].ticks - start.ticks[id], cpus[id].ticks);
  }
}


// Live objects of a kind, from the descriptor.
u32 live(ObjType t) { return Descriptor::get()->counts[unsigned(t)]; }

// The capability derivation tree: grant with fewer rights, revoke, delete, lifetimes.
void test_caps() {
  BklGuard bkl;
  u32 groups0 = live(ObjType::CapGroup), notifs0 = live(ObjType::Notification), pmos0 = live(ObjType::Pmo);
  u64 kmem0 = Kmem::live();
  CapGroup* a = CapGroup::create("test-a", nullptr, false);
  CapGroup* b = CapGroup::create("test-b", nullptr, false);
  CapGroup* c = CapGroup::create("test-c", nullptr, false);
  if (!a || !b || !c) {
    check(false, "caps", "cannot create test CapGroups");
    return;
  }
  a->get(), b->get(), c->get();
  Notification* n = Notification::create();
  i64 sa = a->install(n, sys::R_ALL);
  check(sa >= 0 && n->refs == 1 && a->cap_count() == 1, "caps", "install gave slot %ld refs %u", sa, n->refs);

  // Grant with fewer rights; a grant can never add rights.
  i64 sb = CapGroup::derive(a->at(sa), b, sys::R_READ | sys::R_GRANT);
  Cap* cb = b->at(sb);
  check(cb && cb->rights == (sys::R_READ | sys::R_GRANT) && cb->parent == a->at(sa) && n->refs == 2, "caps",
        "derived cap: rights %u refs %u", cb ? cb->rights : 0, n->refs);
  i64 sc = CapGroup::derive(cb, c, sys::R_ALL);
  Cap* cc = c->at(sc);
  check(cc && cc->rights == (sys::R_READ | sys::R_GRANT) && cc->parent == cb, "caps",
        "re-derived cap with more rights asked got %u", cc ? cc->rights : 0);
  check(b->lookup(sb, ObjType::Notification, sys::R_WRITE) == nullptr && b->lookup(sb, ObjType::Notification, sys::R_READ),
        "caps", "lookup does not enforce rights");
  check(b->lookup(sb, ObjType::Pmo, 0) == nullptr, "caps", "lookup does not enforce the object kind");

  // Revoke removes every derived capability (b's and c's), keeps the original.
  i64 sb2 = CapGroup::derive(a->at(sa), b, sys::R_READ);
  CapGroup::revoke(a->at(sa));
  check(!b->at(sb) && !b->at(sb2) && !c->at(sc) && a->at(sa) && n->refs == 1, "caps",
        "after revoke: b %d/%d c %d a %d refs %u", b->at(sb) != nullptr, b->at(sb2) != nullptr, c->at(sc) != nullptr,
        a->at(sa) != nullptr, n->refs);
  check(b->cap_count() == 0 && c->cap_count() == 0, "caps", "cap counts %u %u after revoke", b->cap_count(), c->cap_count());

  // Delete in the middle of a chain: the child moves up to the grandparent.
  sb = CapGroup::derive(a->at(sa), b, sys::R_ALL);
  sc = CapGroup::derive(b->at(sb), c, sys::R_READ);
  CapGroup::remove(b->at(sb));
  check(c->at(sc) && c->at(sc)->parent == a->at(sa), "caps", "delete did not re-parent the child");
  CapGroup::revoke(a->at(sa));
  check(!c->at(sc), "caps", "revoke after re-parenting missed a capability");

  // Delete frees the object with its last capability.
  check(live(ObjType::Notification) == notifs0 + 1, "caps", "notifications live %u, want %u", live(ObjType::Notification),
        notifs0 + 1);
  CapGroup::remove(a->at(sa));
  check(live(ObjType::Notification) == notifs0, "caps", "notification not freed by deleting its last capability");

  // A PMO with committed pages returns them when freed.
  Pmo* p = Pmo::create(40, Pmo::ANON);
  u64 free0 = PageAlloc::free_pages_fast();
  i64 sp = a->install(p, sys::R_ALL);
  Paddr p0 = p->page(0, true), p39 = p->page(39, true);
  check(p0 && p39 && p0 != p39 && p->committed == 2 && phys_to_virt<u64>(p39)[7] == 0, "pmo",
        "commit gave 0x%lx 0x%lx committed %lu", p0, p39, p->committed);
  check(p->page(5, false) == 0, "pmo", "uncommitted page has memory");
  CapGroup::remove(a->at(sp));
  check(live(ObjType::Pmo) == pmos0 && PageAlloc::free_pages_fast() == free0, "pmo",
        "pmo not freed: live %u free pages %lu, want %lu", live(ObjType::Pmo), PageAlloc::free_pages_fast(), free0);

  // CapGroups go with their last reference; their capabilities with them.
  Notification* n2 = Notification::create();
  b->install(n2, sys::R_ALL);
  a->put(), b->put(), c->put();
  check(live(ObjType::CapGroup) == groups0 && live(ObjType::Notification) == notifs0, "caps",
        "CapGroups %u (want %u), notifications %u (want %u) after dropping the groups", live(ObjType::CapGroup), groups0,
        live(ObjType::Notification), notifs0);
  check(Kmem::live() == kmem0, "caps", "kernel objects leaked: %lu live, %lu before", Kmem::live(), kmem0);
}

}  // namespace

void Selftest::run_kernel() {
  kprintf("selftest: lapic timer %lu kHz (%s), tsc %lu kHz, tick %u Hz\n", Clock::lapic_hz() / 1000,
          Clock::measured() ? "measured" : "assumed", Clock::tsc_hz() / 1000, Clock::TICK_HZ);
  test_printf();
  test_cmdline();
  test_page_alloc();
  test_paging();
  test_spinlock();
  test_cpus_online();
  test_ap_alive();
  test_timer_ticks();
  test_caps();
  user_deadline = Clock::deadline(60000000);
  waiting_for_user = true;
  Sched::tick_everywhere(true);
}

void Selftest::finish(unsigned user_passed, unsigned user_failed) {
  waiting_for_user = false;
  passed += user_passed;
  failed += user_failed;
  kprintf("selftest: %u passed, %u failed\n", passed, failed);
  Power::off(failed ? 1 : 0);
}

void Selftest::watchdog() {
  if (!waiting_for_user || !Clock::passed(user_deadline)) return;
  check(false, "user", "the user-mode tests did not finish within 60 s");
  finish(0, 0);
}
