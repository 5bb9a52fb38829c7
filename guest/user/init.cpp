// init: the root process. Starts the programs named on the kernel command
// line (init=PROG[:ARGS][;PROG[:ARGS]]...), reports their exits, powers the
// machine off when asked (init.poweroff=after:N | when-done), and serves the
// serial console: it owns COM1 through an IrqNotification and routes a line
// "NAME CMD" to the running program NAME over its control Connection.
// It holds the virtio-mmio devices the kernel passed and hands each to the
// program that drives it. In selftest mode it runs the user-mode kernel tests
// (utest) instead.
#include "user/net/virtio_mmio.h"
#include "user/ulib.h"

namespace {

constexpr unsigned MAX_CHILDREN = 16;

struct Child {
  char name[16];
  char args[24];  // for selftest bookkeeping
  i64 group = -1;  // CapGroup slot
  i64 conn = -1;   // control Connection slot (call side)
  bool done = false;
  u32 state = 0;
  int code = 0;
};

Child children[MAX_CHILDREN];
unsigned nchildren;
i64 exits = -1;  // Notification every child signals at exit
u::Lock children_lock;

// --- devices: the kernel passed device i's register PMO in SLOT_PASSED + 2i
// and its IrqNotification in SLOT_PASSED + 2i + 1 ---
constexpr unsigned MAX_DEVICES = sys::MAX_PASSED / 2;

struct Device {
  u32 id = 0;      // virtio DeviceID (0: not a virtio-mmio device)
  int owner = -1;  // index of the child driving it
  net::Mmio regs;
};
Device devices[MAX_DEVICES];
unsigned ndevices;

// Programs that drive a device: each gets the first free device with that
// DeviceID in its SLOT_DEV_REGS / SLOT_DEV_IRQ, until it exits.
const struct {
  const char* prog;
  u32 device_id;
} drivers[] = {{"kvd", net::VIRTIO_ID_NET}, {"netbad", net::VIRTIO_ID_NET}};

// Maps each passed device's registers and reads its DeviceID.
void probe_devices() {
  ndevices = u::passed / 2 < MAX_DEVICES ? u::passed / 2 : MAX_DEVICES;
  for (unsigned i = 0; i < ndevices; i++) {
    i64 slot = sys::SLOT_PASSED + 2 * i;
    i64 pa = u::sc(sys::PMO_PADDR, u64(slot), 0), pages = u::sc(sys::PMO_PAGES, u64(slot));
    auto* regs = static_cast<volatile u8*>(pa > 0 && pages > 0 ? u::map_pmo(slot, u64(pages)) : nullptr);
    if (!regs) continue;
    devices[i].regs.base = regs + (u64(pa) & 0xfff);
    if (devices[i].regs.read(net::MAGIC) == net::VIRTIO_MAGIC) devices[i].id = devices[i].regs.read(net::DEVICE_ID);
  }
}

// The `pass` argument of SPAWN for program `name`: a free device it drives, or none.
u64 device_for(const char* name, unsigned child) {
  for (const auto& d : drivers) {
    if (strcmp(d.prog, name)) continue;
    for (unsigned i = 0; i < ndevices; i++) {
      if (devices[i].id != d.device_id || devices[i].owner >= 0) continue;
      devices[i].owner = int(child);
      u64 regs = u64(sys::SLOT_PASSED + 2 * i);
      return ~0ull << 16 | (regs + 1) << 8 | regs;
    }
    u::print("init: no free virtio device (id %u) for %s\n", d.device_id, name);
  }
  return ~0ull;
}

// Frees the devices child `k` drove, resetting them (Status = 0) so that they
// stop using its DMA memory (which the kernel freed when it exited: there is
// no IOMMU, so until here a device could still write into those pages).
void release_devices(unsigned k) {
  for (unsigned i = 0; i < ndevices; i++) {
    if (devices[i].owner != int(k)) continue;
    devices[i].regs.write(net::STATUS, 0);
    devices[i].owner = -1;
  }
}

inline void outb(uint16_t port, u8 v) { asm volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
inline u8 inb(uint16_t port) {
  u8 v;
  asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}

// Starts `name` with `args`; returns its index or -1.
int start(const char* name, unsigned name_len, const char* args, unsigned args_len, int cpu = -1) {
  if (nchildren >= MAX_CHILDREN) {
    u::print("init: too many programs\n");
    return -1;
  }
  Child& c = children[nchildren];
  c = Child{};
  for (unsigned i = 0; i < name_len && i < 15; i++) c.name[i] = name[i];
  char a[200];
  unsigned n = 0;
  for (unsigned i = 0; i < args_len && n < sizeof a - 1; i++) a[n++] = args[i];
  a[n] = 0;
  for (unsigned i = 0; i < n && i < sizeof c.args - 1; i++) c.args[i] = a[i];
  c.conn = u::conn_create();
  c.group = u::spawn(c.name, a, c.conn, exits, cpu, device_for(c.name, nchildren));
  if (c.group < 0) {
    u::print("init: cannot start %s (error %ld)\n", c.name, -c.group);
    u::cap_delete(c.conn);
    release_devices(nchildren);
    return -1;
  }
  children_lock.lock();
  nchildren++;
  children_lock.unlock();
  return int(nchildren - 1);
}

// Collects exits; prints them (unless quiet). Returns the number still running.
unsigned reap(bool quiet) {
  unsigned running = 0;
  for (unsigned i = 0; i < nchildren; i++) {
    Child& c = children[i];
    if (c.done) continue;
    i64 st = u::proc_status(c.group);
    u32 state = u32(u64(st) >> 32);
    if (st < 0 || state == hsls_desc::PROC_RUNNING) {
      running++;
      continue;
    }
    c.done = true;
    c.state = state;
    c.code = int(int32_t(u32(st)));
    if (!quiet)
      u::print("init: %s exited with %d%s\n", c.name, c.code, state == hsls_desc::PROC_KILLED ? " (killed)" : "");
    // Drop our capabilities: the CapGroup and the Connection go with them.
    u::cap_delete(c.conn);
    u::cap_delete(c.group);
    release_devices(i);
  }
  return running;
}

// --- serial console ---
void route(char* line, unsigned len) {
  while (len && (line[len - 1] == ' ' || line[len - 1] == '\r')) len--;
  unsigned i = 0;
  while (i < len && line[i] == ' ') i++;
  const char* name = line + i;
  while (i < len && line[i] != ' ') i++;
  unsigned name_len = unsigned(line + i - name);
  while (i < len && line[i] == ' ') i++;
  if (!name_len) return;
  line[len] = 0;
  for (unsigned k = 0; k < nchildren; k++) {
    Child& c = children[k];
    if (c.done || strlen(c.name) != name_len || __builtin_memcmp(c.name, name, name_len)) continue;
    u::Msg m;
    u::msg_set_text(m, line + i, len - i);
    i64 r = u::ipc_call(c.conn, m);
    if (r < 0) u::print("init: %s did not take the command (error %ld)\n", c.name, -r);
    return;
  }
  char n[32];
  unsigned k = 0;
  for (; k < name_len && k < sizeof n - 1; k++) n[k] = name[k];
  n[k] = 0;
  u::print("init: no running program called %s\n", n);
}

void console(void*) {
  if (u::sc(sys::IO_PERMIT, sys::SLOT_COM1) < 0) {
    u::print("init: no access to COM1; serial commands disabled\n");
    return;
  }
  outb(0x3f9, 0x01);  // IER: interrupt when a byte arrives
  char line[128];
  unsigned len = 0;
  for (;;) {
    while (inb(0x3fd) & 1) {
      char ch = char(inb(0x3f8));
      if (ch == '\n' || ch == '\r') {
        if (len) route(line, len);
        len = 0;
      } else if (len < sizeof line - 1) {
        line[len++] = ch;
      }
    }
    u::wait(sys::SLOT_COM1);
  }
}

// --- selftest mode: the user-mode kernel tests ---
[[noreturn]] void selftest() {
  struct Case {
    const char* args;
    bool killed;  // expected to be killed by a fault
  };
  const Case first[] = {{"ipc", false}, {"notify", false}, {"sched", false}, {"caps", false}, {"fault", true}};
  const Case second[] = {{"alive", false}, {"perf", false}};
  unsigned passed = 0, failed = 0;
  auto run = [&](const Case* cases, unsigned n) {
    unsigned base = nchildren;
    for (unsigned i = 0; i < n; i++) start("utest", 5, cases[i].args, unsigned(strlen(cases[i].args)));
    while (reap(true)) u::wait(exits, 1000000);
    for (unsigned i = 0; i < n; i++) {
      const Child& c = children[base + i];
      bool ok = cases[i].killed ? (c.state == hsls_desc::PROC_KILLED && c.code == 128 + 14)
                                : (c.state == hsls_desc::PROC_EXITED && c.code == 0);
      if (ok) {
        passed++;
      } else {
        failed++;
        u::print("selftest: FAIL user %s: state %u code %d\n", cases[i].args, c.state, c.code);
      }
    }
  };
  run(first, sizeof first / sizeof first[0]);
  run(second, sizeof second / sizeof second[0]);
  u::sc(sys::TEST_DONE, passed, failed);
  for (;;) u::wait(exits);
}

}  // namespace

int main(int argc, const char* const* argv) {
  exits = u::notif_create();
  if (u::arg_has(argc, argv, "selftest")) selftest();
  probe_devices();

  const char* spec = "";
  const char* poweroff = "";
  for (int i = 1; i < argc; i++) {
    if (!__builtin_memcmp(argv[i], "run=", 4)) spec = argv[i] + 4;
    if (!__builtin_memcmp(argv[i], "poweroff=", 9)) poweroff = argv[i] + 9;
  }
  // Program list: PROG[:ARGS] separated by ';'.
  for (const char* p = spec; *p;) {
    const char* e = p;
    while (*e && *e != ';') e++;
    const char* colon = p;
    while (colon < e && *colon != ':') colon++;
    if (colon > p) start(p, unsigned(colon - p), colon < e ? colon + 1 : colon, colon < e ? unsigned(e - colon - 1) : 0);
    p = *e ? e + 1 : e;
  }
  u::thread_start(console, nullptr, 0);

  bool when_done = !strcmp(poweroff, "when-done");
  u64 after = 0;
  bool timed = !__builtin_memcmp(poweroff, "after:", 6) && u::parse_num(poweroff + 6, after);
  u64 deadline = u::rdtsc() + after * u::tsc_hz;
  for (;;) {
    unsigned running = reap(false);
    if (when_done && !running) {
      bool ok = true;
      for (unsigned i = 0; i < nchildren; i++) ok = ok && children[i].state == hsls_desc::PROC_EXITED && !children[i].code;
      u::print("init: all programs done; powering off with %d\n", ok ? 0 : 1);
      u::poweroff(ok ? 0 : 1);
    }
    u64 timeout = 0;
    if (timed) {
      i64 left = i64(deadline - u::rdtsc());
      if (left <= 0) {
        u::print("init: powering off after %lu s\n", after);
        u::poweroff(0);
      }
      timeout = u64(left) / u::tsc_per_us + 1;
    }
    u::wait(exits, timeout);
  }
}
