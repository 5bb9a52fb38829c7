#include "vmm/accel/tcg/uc_probe.h"

#include <malloc.h>
#include <sys/uio.h>
#include <unistd.h>

#include <vector>

#include "vmm/core/error.h"

namespace hsls::accel::tcg {
namespace {

void check(uc_err err, const char* what) {
  if (err != UC_ERR_OK) throw Error(std::string("Unicorn: ") + what + ": " + uc_strerror(err));
}

// Where each probe's code sits in the scratch engine's one mapped page.
constexpr uint64_t kCodePage = 0x1000, kInt3At = 0x1000, kMovDsAt = 0x1010, kLoadAAt = 0x1020, kLoadBAt = 0x1040,
                   kStoreThenHltAt = 0x1080, kStoreThenLoopAt = 0x10c0;
// Data pages of the async-stop probe: a store's fill there asks for a stop.
constexpr uint64_t kStopPageA = 0x3000, kStopPageB = 0x4000;

// The probes' TLB fill: the code page and the stop pages map to themselves
// (a store's fill on a stop page calls uc_emu_stop, as another thread's
// stop would land mid-block), everything else is refused.
bool probe_fill(uc_engine* uc, uint64_t vaddr, uc_mem_type type, uc_tlb_entry* e, void*) {
  uint64_t page = vaddr & ~uint64_t(0xfff);
  if (page != kCodePage && page != kStopPageA && page != kStopPageB) return false;
  if (page != kCodePage && type == UC_MEM_WRITE) uc_emu_stop(uc);
  e->paddr = vaddr;
  e->perms = UC_PROT_ALL;
  return true;
}

// Saves the CPU bytes at the first exception and stops.
struct ExceptionBytes {
  std::vector<uint8_t> bytes;
  bool seen = false;
};
void probe_intr(uc_engine* uc, uint32_t, void* user) {
  auto* p = static_cast<ExceptionBytes*>(user);
  if (p->seen) return;
  uc_context* ctx = nullptr;
  uc_context_alloc(uc, &ctx);
  uc_context_save(uc, ctx);
  size_t n = uc_context_size(uc);
  p->bytes.assign(reinterpret_cast<uint8_t*>(ctx), reinterpret_cast<uint8_t*>(ctx) + n);
  uc_context_free(ctx);
  p->seen = true;
  uc_emu_stop(uc);
}

// One throwaway engine for every probe: a 4 KiB code page reached through a
// VMM-filled TLB, as in the VMM's own engine. One engine, because each new
// engine costs 2-4 ms of first-touch page faults on this host and the
// probes run at every start, recovery included. (Lending the VMM's own
// engine instead was tried: putting it back as it was needs a whole
// translation-cache flush, ~100 ms.)
class ProbeEngine {
 public:
  ProbeEngine() {
    check(uc_open(UC_ARCH_X86, UC_MODE_64, &uc_), "uc_open");
    try {
      check(uc_ctl_tlb_mode(uc_, UC_TLB_VIRTUAL), "the TLB mode");
      // As the VMM's engine: no "until" address, whose invalidation at the
      // end of a run would ask for (and refuse) one more fill.
      check(uc_ctl_exits_enable(uc_), "disabling exit addresses");
      check(uc_mem_map(uc_, 0, 0x10000, UC_PROT_ALL), "uc_mem_map");
      uc_hook h;
      check(uc_hook_add(uc_, &h, UC_HOOK_TLB_FILL, reinterpret_cast<void*>(probe_fill), nullptr, 1, 0), "hook");
    } catch (...) {
      uc_close(uc_);
      throw;
    }
  }
  ~ProbeEngine() { uc_close(uc_); }
  ProbeEngine(const ProbeEngine&) = delete;
  ProbeEngine& operator=(const ProbeEngine&) = delete;

  // Runs `code` at `at` with RAX = `rax` until its first exception and returns the context bytes.
  std::vector<uint8_t> run_to_exception(uint64_t at, const std::vector<uint8_t>& code, uint64_t rax) {
    check(uc_mem_write(uc_, at, code.data(), code.size()), "uc_mem_write");
    uc_x86_mmr gdtr{0, 0x2000, 0x17, 0};
    check(uc_reg_write(uc_, UC_X86_REG_GDTR, &gdtr), "GDTR");
    check(uc_reg_write(uc_, UC_X86_REG_RAX, &rax), "RAX");
    uint64_t rsp = 0x8000;
    check(uc_reg_write(uc_, UC_X86_REG_RSP, &rsp), "RSP");
    ExceptionBytes p;
    uc_hook h;
    check(uc_hook_add(uc_, &h, UC_HOOK_INTR, reinterpret_cast<void*>(probe_intr), &p, 1, 0), "hook");
    uc_emu_start(uc_, at, 0xfff0, 0, 100);
    uc_hook_del(uc_, h);
    if (!p.seen) throw Error("Unicorn: the layout probe took no exception");
    return p.bytes;
  }
  uint64_t efer() {
    uc_x86_msr efer{0xc0000080, 0};
    uc_reg_read(uc_, UC_X86_REG_MSR, &efer);
    return efer.value;
  }
  // The engine's CPU bytes now (uc_context_save), without the context header.
  std::vector<uint8_t> cpu_bytes(const UcLayout& L) {
    uc_context* ctx = nullptr;
    check(uc_context_alloc(uc_, &ctx), "uc_context_alloc");
    uc_context_save(uc_, ctx);
    const auto* b = reinterpret_cast<const uint8_t*>(ctx) + L.data;
    std::vector<uint8_t> out(b, b + L.size);
    uc_context_free(ctx);
    return out;
  }
  uc_engine* uc() { return uc_; }
  // Runs `code` at `at` from RBX = 0 until the engine stops by itself (no count, no timeout).
  void run_plain(uint64_t at, const std::vector<uint8_t>& code) {
    check(uc_mem_write(uc_, at, code.data(), code.size()), "uc_mem_write");
    uint64_t zero = 0;
    check(uc_reg_write(uc_, UC_X86_REG_RBX, &zero), "RBX");
    check(uc_emu_start(uc_, at, 0xfff0, 0, 0), "uc_emu_start");
  }
  uint64_t reg(int id) {
    uint64_t v = 0;
    uc_reg_read(uc_, id, &v);
    return v;
  }
  uint16_t cs() {
    uint16_t cs = 0;
    uc_reg_read(uc_, UC_X86_REG_CS, &cs);
    return cs;
  }

  // Loads from `addr` (movabs rax, [addr]) with code at `at`; the fill
  // refuses `addr`. Returns the offsets in the engine's struct at which
  // `addr` then sits (the struct's own allocation only: malloc_usable_size).
  std::vector<size_t> offsets_after_refusal(uint64_t at, uint64_t addr) {
    uint8_t code[10] = {0x48, 0xa1};
    std::memcpy(code + 2, &addr, 8);
    check(uc_mem_write(uc_, at, code, sizeof code), "uc_mem_write");
    if (uc_emu_start(uc_, at, 0xfff0, 0, 1) != UC_ERR_EXCEPTION)
      throw Error("Unicorn: a refused TLB fill did not end the run with UC_ERR_EXCEPTION");
    std::vector<size_t> found;
    const auto* base = reinterpret_cast<const uint8_t*>(uc_);
    size_t n = malloc_usable_size(uc_);
    for (size_t o = 0; o + 8 <= n; o += 8) {
      uint64_t v;
      std::memcpy(&v, base + o, 8);
      if (v == addr) found.push_back(o);
    }
    return found;
  }

 private:
  uc_engine* uc_ = nullptr;
};

template <typename T>
T at(const std::vector<uint8_t>& b, size_t off) {
  T v{};
  if (off + sizeof v <= b.size()) std::memcpy(&v, b.data() + off, sizeof v);
  return v;
}

// Finds and checks the offsets (see the header). Throws Error on a mismatch.
UcLayout probe_layout(ProbeEngine& engine) {
  UcLayout L;
  // 1: int3 -> exception_is_int = 1, exception_next_eip = the next byte, right after error_code.
  auto a = engine.run_to_exception(kInt3At, {0xcc}, 0);
  const uint64_t efer = engine.efer();
  const uint16_t cs = engine.cs();
  const size_t d = L.data;
  if (at<uint64_t>(a, 0) + d > a.size() || at<uint64_t>(a, 0) < 1024)
    throw Error("Unicorn: uc_context is not laid out as in 2.1.1 (install libunicorn-dev 2.1.1 from Debian trixie)");
  L.size = at<uint64_t>(a, 0);
  const std::string bad = "Unicorn: this library's CPU layout is not the one of Unicorn 2.1.1 that hypersls reads (";
  if (at<uint64_t>(a, d + L.eip) != kInt3At + 1) throw Error(bad + "eip)");
  if (at<uint64_t>(a, d + L.efer) != efer) throw Error(bad + "efer)");
  if (at<uint32_t>(a, d + L.segs + 24 * uc_cs) != cs) throw Error(bad + "segments)");
  if (!(at<uint32_t>(a, d + L.hflags) & hf::cs64)) throw Error(bad + "hflags)");
  for (size_t o = L.efer + 8; o + 8 <= L.size; o += 8)
    if (at<uint64_t>(a, d + o) == kInt3At + 1 && at<int32_t>(a, d + o - 4) == 1) {
      L.error_code = o - 8;
      L.exception_is_int = o - 4;
      break;
    }
  if (!L.error_code) throw Error(bad + "exception fields)");
  // error_code, exception_is_int, exception_next_eip, dr[8], 4 pointers, old_exception.
  L.old_exception = L.error_code + 4 + 4 + 8 + 64 + 32;
  // 2: mov ds, ax with selector 0x23 beyond a GDT limit of 0x17 -> #GP(0x20), a contributory exception.
  auto b = engine.run_to_exception(kMovDsAt, {0x8e, 0xd8}, 0x23);
  if (at<int32_t>(b, d + L.error_code) != 0x20 || at<int32_t>(b, d + L.exception_is_int) != 0 ||
      at<int32_t>(b, d + L.old_exception) != 13)
    throw Error(bad + "error code / exception in progress)");
  return L;
}

// Where Unicorn keeps the exact address of a refused fill: the one offset
// holding it after two probes with different addresses.
size_t probe_refused_address(ProbeEngine& engine) {
  auto a = engine.offsets_after_refusal(kLoadAAt, 0x0000123456789ab3ull);
  auto b = engine.offsets_after_refusal(kLoadBAt, 0x00002345abcdef15ull);
  for (size_t o : a)
    for (size_t p : b)
      if (o == p) return o;
  throw Error("Unicorn: this library does not keep a refused TLB fill's address where Unicorn 2.1.1 does");
}

// Copies n bytes at `addr` of this process, or returns false if they are
// not all mapped (a wrong guess must not crash the probe).
bool read_own_memory(const void* addr, void* out, size_t n) {
  iovec local{out, n}, remote{const_cast<void*>(addr), n};
  return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == ssize_t(n);
}

// Confirms live_cpu_at on this library: the bytes there are the engine's
// saved context, twice, with RAX changed through the register API between.
void probe_live_cpu(ProbeEngine& engine, const UcLayout& L) {
  const std::string bad = "Unicorn: this library does not keep its CPU where Unicorn 2.1.1 does";
  if (malloc_usable_size(engine.uc()) < kUcCpuField + 8) throw Error(bad);
  const uint8_t* live = live_cpu_at(engine.uc());
  std::vector<uint8_t> seen(L.size);
  for (uint64_t rax : {0x5a17c0de00000001ull, 0x5a17c0de00000002ull}) {
    check(uc_reg_write(engine.uc(), UC_X86_REG_RAX, &rax), "RAX");
    auto saved = engine.cpu_bytes(L);
    if (!read_own_memory(live, seen.data(), seen.size()) || seen != saved || at<uint64_t>(seen, L.regs) != rax)
      throw Error(bad);
  }
}

// Confirms both on this library, in a fresh part of the probe engine:
// with the flag set, a stop asked for by a store's fill mid-block lets the
// block run to its end (RBX counts its increments) and ends the run at the
// next block's start (RIP there), and `halted` tells a hlt (1) from a stop (0).
// Throws Error on any difference. Runs before the other probes (their
// instruction counts add a per-instruction hook, which changes where
// Unicorn puts the PC).
void probe_async_stop(ProbeEngine& engine) {
  const std::string bad = "Unicorn: this library's stops cannot be made exact across threads (";
  uc_engine* uc = engine.uc();
  if (malloc_usable_size(uc) < kNoExitRequestField + 1) throw Error(bad + "engine size)");
  uint8_t flag = 0xff;
  if (!read_own_memory(no_exit_request_at(uc), &flag, 1) || flag != 0) throw Error(bad + "flag not clear)");
  struct Restore {
    uc_engine* uc;
    ~Restore() { *no_exit_request_at(uc) = false; }  // the other probes see the engine as Unicorn made it
  } restore{uc};
  *no_exit_request_at(uc) = true;
  // mov [0x3000], rax; inc rbx; inc rbx; hlt
  engine.run_plain(kStoreThenHltAt, {0x48, 0x89, 0x04, 0x25, 0x00, 0x30, 0x00, 0x00, 0x48, 0xff, 0xc3, 0x48, 0xff, 0xc3, 0xf4});
  const uint8_t* live = live_cpu_at(uc);
  int32_t halted = -1;
  if (!read_own_memory(live - kHaltedBeforeCpu, &halted, 4)) throw Error(bad + "CPU)");
  if (engine.reg(UC_X86_REG_RBX) != 2) throw Error(bad + "the block did not run to its end)");
  if (halted != 1) throw Error(bad + "halted after hlt)");
  // mov [0x4000], rax; inc rbx; jmp $
  engine.run_plain(kStoreThenLoopAt, {0x48, 0x89, 0x04, 0x25, 0x00, 0x40, 0x00, 0x00, 0x48, 0xff, 0xc3, 0xeb, 0xfe});
  read_own_memory(live - kHaltedBeforeCpu, &halted, 4);
  if (engine.reg(UC_X86_REG_RBX) != 1 || engine.reg(UC_X86_REG_RIP) != kStoreThenLoopAt + 11)
    throw Error(bad + "the stop did not land at the next block)");
  if (halted != 0) throw Error(bad + "halted after a stop)");
}

}  // namespace

UcProbed run_uc_probes() {
  UcProbed p;
  try {
    ProbeEngine engine;
    try {
      probe_async_stop(engine);
    } catch (const Error& e) {
      p.async_failure = e.what();
    }
    try {
      p.layout = probe_layout(engine);
      try {
        probe_live_cpu(engine, p.layout);
      } catch (const Error& e) {
        p.live_failure = e.what();
      }
    } catch (const Error& e) {
      p.layout_failure = p.live_failure = e.what();
    }
    try {
      p.refused_offset = probe_refused_address(engine);
    } catch (const Error& e) {
      p.refused_failure = e.what();
    }
  } catch (const Error& e) {
    p.layout_failure = p.refused_failure = p.live_failure = p.async_failure = e.what();
  }
  return p;
}

std::string uc_probed_header(const UcProbed& p) {
  const UcLayout& L = p.layout;
  auto text = [](const std::string& s) { return "R\"uc(" + s + ")uc\""; };
  auto n = [](size_t v) { return std::to_string(v); };
  std::string out =
      "// Generated at build time by uc_probe (vmm/accel/tcg/uc_probe.h) from the Unicorn linked into vmm.\n"
      "#pragma once\n#include \"vmm/accel/tcg/uc_cpu.h\"\n\nnamespace hsls::accel::tcg::probed {\n\n";
  out += "inline constexpr UcLayout kLayout{.data = " + n(L.data) + ", .regs = " + n(L.regs) + ", .eip = " + n(L.eip) +
         ", .eflags = " + n(L.eflags) + ", .hflags = " + n(L.hflags) + ", .segs = " + n(L.segs) + ", .ldt = " + n(L.ldt) +
         ", .tr = " + n(L.tr) + ", .gdt = " + n(L.gdt) + ", .idt = " + n(L.idt) + ", .cr = " + n(L.cr) + ", .efer = " + n(L.efer) +
         ", .error_code = " + n(L.error_code) + ", .exception_is_int = " + n(L.exception_is_int) +
         ", .old_exception = " + n(L.old_exception) + ", .size = " + n(L.size) + "};\n";
  out += "inline constexpr size_t kRefusedOffset = " + n(p.refused_offset) + ";\n";
  out += "inline constexpr const char* kLayoutFailure = " + text(p.layout_failure) + ";\n";
  out += "inline constexpr const char* kRefusedFailure = " + text(p.refused_failure) + ";\n";
  out += "inline constexpr const char* kLiveFailure = " + text(p.live_failure) + ";\n";
  out += "inline constexpr const char* kAsyncFailure = " + text(p.async_failure) + ";\n";
  out += "\n}  // namespace hsls::accel::tcg::probed\n";
  return out;
}

}  // namespace hsls::accel::tcg
