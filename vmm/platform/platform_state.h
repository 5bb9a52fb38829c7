// Backend-neutral saved state of the interrupt controllers and the timer
// (xAPIC per vCPU, IOAPIC, the 8259 pair, PIT channel 0). The software
// platform devices (vmm/platform) keep exactly these structs as their
// state; the KVM backend converts its in-kernel devices to and from them.
// Plain, versioned, fixed-size, no implicit padding: written byte for byte
// into the NVM file.
#pragma once
#include <cstdint>
#include <type_traits>

namespace hsls::platform {

// The local APIC: its 1 KiB register page in the xAPIC MMIO layout (register
// at offset R is the u32 at byte R of the page; only 0x000-0x3f0 exist) and
// the timer's position, which the page cannot show.
struct LapicState {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  // Errors detected since the last write to the ESR: the next ESR write
  // makes them readable (the ESR's write-then-read protocol).
  uint32_t esr_pending = 0;
  uint8_t regs[1024] = {};
  // Nanoseconds left until the timer's current count reaches 0 (0 = not
  // running). The current count register follows from it.
  uint64_t timer_remaining_ns = 0;
};

// The I/O APIC.
struct IoapicState {
  static constexpr uint32_t kVersion = 1;
  static constexpr unsigned kPins = 24;
  uint32_t version = kVersion;
  uint32_t id = 0;        // the ID register
  uint32_t ioregsel = 0;  // the index register
  uint32_t irr = 0;       // pin levels as last set (bit per pin)
  uint64_t redir[kPins] = {};  // redirection table (bit 14: remote IRR, bit 16: mask)
};

// One 8259.
struct PicChipState {
  uint8_t irr = 0, imr = 0xff, isr = 0;
  uint8_t vector_base = 0;     // ICW2
  uint8_t init_step = 0;       // 0 = ready; 1..3 = expecting ICW2..ICW4
  uint8_t icw4_needed = 0;
  uint8_t read_isr = 0;        // OCW3: reads of the command port return ISR
  uint8_t auto_eoi = 0;
  uint8_t last_level = 0;      // input levels (edge detection)
  uint8_t special_mask = 0;
  uint8_t priority_add = 0;    // rotation: the IRQ with the highest priority
  uint8_t rotate_on_auto_eoi = 0;
  uint8_t poll = 0;            // OCW3 poll command: the next read polls
  uint8_t level_triggered = 0; // ICW1 LTIM
  uint8_t single_mode = 0;     // ICW1 SNGL (no ICW3)
  uint8_t pad[1] = {};
};

struct PicState {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  uint32_t pad = 0;
  PicChipState master, slave;
};

// PIT (8254) channel 0 and the gate/speaker port 0x61 bits.
struct PitState {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  uint8_t mode = 0;          // 0-5
  uint8_t access = 3;        // 1 = lobyte, 2 = hibyte, 3 = lo then hi
  uint8_t bcd = 0;
  uint8_t write_hi_next = 0; // lo/hi access: the next write is the high byte
  uint8_t read_hi_next = 0;  // the next read is the high byte
  uint8_t latched = 0;       // bit 0: a latched count waits to be read;
                             // bit 1: a latched status (read-back) waits, read first
  uint8_t gate = 1;          // port 0x61 bits 0-3 (bit 0: channel 2 gate, bit 1: speaker)
  uint8_t write_lo = 0;      // lo/hi access: the low byte written, waiting for the high
  uint16_t reload = 0;       // the programmed count (0 = 65536)
  uint16_t latch = 0;        // the latched count
  // Nanoseconds from the count's load to the save (the count follows from
  // it and the reload value); the loader re-bases it on its own clock.
  uint64_t elapsed_ns = 0;
};

// The machine's clock and, on a deterministic machine, where its schedule
// stood (vmm/accel/tcg/det_schedule.h), so that a resumed run goes on
// exactly as the uninterrupted one would have.
struct ClockState {
  static constexpr uint32_t kVersion = 1;
  uint32_t version = kVersion;
  uint32_t turn = 0;            // deterministic: the vCPU whose turn it was
  uint64_t guest_ns = 0;        // the guest's clock (virtual on a deterministic machine)
  uint64_t blocks = 0;          // deterministic: blocks executed since boot
  uint64_t quantum_left = 0;    // deterministic: blocks left in that turn
  uint64_t deterministic = 0;   // 1: written by a deterministic machine
};

// The whole interrupt/timer platform of a VM except the per-vCPU APICs.
struct PlatformState {
  static constexpr uint32_t kVersion = 2;  // 2: the clock
  uint32_t version = kVersion;
  uint32_t pad = 0;
  IoapicState ioapic;
  PicState pic;
  PitState pit;
  ClockState clock;
};

// Written byte for byte: no implicit padding anywhere.
static_assert(std::has_unique_object_representations_v<LapicState>);
static_assert(std::has_unique_object_representations_v<IoapicState>);
static_assert(std::has_unique_object_representations_v<PicChipState>);
static_assert(std::has_unique_object_representations_v<PicState>);
static_assert(std::has_unique_object_representations_v<ClockState>);
static_assert(std::has_unique_object_representations_v<PitState>);
static_assert(std::has_unique_object_representations_v<PlatformState>);
static_assert(sizeof(LapicState) == 1040 && sizeof(IoapicState) == 208 && sizeof(PicState) == 40 &&
              sizeof(PitState) == 24 && sizeof(ClockState) == 40 && sizeof(PlatformState) == 320);

}  // namespace hsls::platform
