// The parts of the software CPU's state Unicorn's register API cannot set:
// segment registers with their hidden parts, the privilege level and mode
// flags (QEMU's `hflags`), CR2, the interrupt shadow, the pending error
// code and QEMU's "exception in progress" marker. Unicorn 2.1.1 saves the
// CPU as a byte copy of QEMU's CPUX86State (uc_context_save); we read and
// write those bytes at the offsets of that pinned version, and check them
// at build time with probes (uc_probe.h; a wrong library build is refused by name,
// never guessed at). Everything else goes through the register API.
#pragma once
#include <unicorn/unicorn.h>

#include <cstdint>
#include <cstring>

#include "vmm/accel/cpu_state.h"

namespace hsls::accel::tcg {

// Offsets in the CPU bytes of a uc_context (Unicorn 2.1.1, x86-64).
struct UcLayout {
  size_t data = 20;          // offsetof(uc_context, data)
  size_t regs = 0;           // target_ulong regs[16], hardware order
  size_t eip = 128;
  size_t eflags = 136;       // without the lazily computed arithmetic flags
  size_t hflags = 176;
  size_t segs = 184;         // SegmentCache segs[6]: ES, CS, SS, DS, FS, GS; 24 bytes each
  size_t ldt = 328, tr = 352, gdt = 376, idt = 400;
  size_t cr = 424;           // target_ulong cr[5]
  size_t efer = 560;
  size_t error_code = 0;     // found by probe_layout()
  size_t exception_is_int = 0;
  size_t old_exception = 0;
  size_t size = 0;           // the CPU bytes
};

// The layout of this process's Unicorn, checked once (throws Error naming
// the mismatch if the library is not the build hypersls knows).
const UcLayout& uc_layout();

// The exact linear address of the access a TLB-fill hook refused last
// (the hook sees only its page; Unicorn keeps the address in a private
// field, found by a probe at build time: throws Error on a library that
// does not keep it there). Valid right after uc_emu_start returned
// UC_ERR_EXCEPTION for a refused fill.
uint64_t uc_refused_address(uc_engine* uc);

// QEMU's hflags bits we set.
namespace hf {
inline constexpr uint32_t cpl = 3, inhibit_irq = 1u << 3, cs32 = 1u << 4, ss32 = 1u << 5, addseg = 1u << 6,
                          pe = 1u << 7, lma = 1u << 14, cs64 = 1u << 15;
}

// The engine's own CPU bytes (QEMU's CPUX86State, laid out as a saved
// context's), to read and change the loaded CPU in place: an interrupt
// delivery then copies no 5.5 KiB each way. Null where this library does not
// keep them where the probe found them in Unicorn 2.1.1 (then callers save
// and restore a copy instead). Valid while `uc` is open.
uint8_t* uc_live_cpu(uc_engine* uc);

// Makes uc_emu_stop from another thread exact, if this library allows it
// (probed at build time; false, logged, where not): Unicorn then checks
// for a stop only at a block's start, as QEMU does, not also after each
// memory access inside a block, where a stop would resume at the block's
// start with part of it done. Call before the engine translates anything.
// A stop asked for before uc_emu_start has begun is still lost: callers ask again.
bool uc_enable_async_stop(uc_engine* uc);
// After uc_emu_start returned: whether it ended at a hlt (QEMU's `halted`),
// not at a stop. `live_cpu` is the engine's uc_live_cpu; only with
// uc_enable_async_stop in force.
bool uc_halted(const uint8_t* live_cpu);

// Typed access to CPU bytes in QEMU's layout: a saved copy or the engine's own.
class CpuBytes {
 public:
  explicit CpuBytes(uint8_t* bytes) : p_(bytes) {}

  template <typename T>
  T get(size_t off) const {
    T v;
    std::memcpy(&v, p_ + off, sizeof v);
    return v;
  }
  template <typename T>
  void set(size_t off, T v) {
    std::memcpy(p_ + off, &v, sizeof v);
  }

  // Segment i (QEMU's order: 0 ES, 1 CS, 2 SS, 3 DS, 4 FS, 5 GS) or a
  // system segment at `off`, in neutral form.
  Segment segment_at(size_t off) const;
  void set_segment_at(size_t off, const Segment& s);
  // Recomputes the mode bits of hflags from CS, SS, CR0, EFER (as QEMU's
  // segment loads do): CPL = SS.DPL, 16/32/64-bit code and stack, LMA.
  void update_mode_flags(uint64_t cr0, uint64_t efer, uint64_t rflags);

  uint8_t* bytes() const { return p_; }

 protected:
  uint8_t* p_;
};

// One vCPU's CPU bytes, saved from the engine with uc_context_save and put
// back with uc_context_restore (vCPUs take turns on one engine: this is
// where a parked vCPU's CPU lives).
class UcCpu : public CpuBytes {
 public:
  explicit UcCpu(uc_engine* uc);
  ~UcCpu();
  UcCpu(const UcCpu&) = delete;
  UcCpu& operator=(const UcCpu&) = delete;

  void save();     // engine -> bytes
  void restore();  // bytes -> engine

 private:
  uc_engine* uc_;
  uc_context* ctx_ = nullptr;
};

// QEMU's segment order in segs[].
enum UcSeg : unsigned { uc_es, uc_cs, uc_ss, uc_ds, uc_fs, uc_gs };

// The register API, one register or MSR at a time (an error leaves 0 / the
// register as it was: every register asked for exists on x86-64).
inline uint64_t reg_read(uc_engine* uc, int reg) {
  uint64_t v = 0;
  uc_reg_read(uc, reg, &v);
  return v;
}

inline void reg_write(uc_engine* uc, int reg, uint64_t v) { uc_reg_write(uc, reg, &v); }

inline uint64_t msr_read(uc_engine* uc, uint32_t index) {
  uc_x86_msr m{index, 0};
  uc_reg_read(uc, UC_X86_REG_MSR, &m);
  return m.value;
}

inline void msr_write(uc_engine* uc, uint32_t index, uint64_t value) {
  uc_x86_msr m{index, value};
  uc_reg_write(uc, UC_X86_REG_MSR, &m);
}

}  // namespace hsls::accel::tcg
